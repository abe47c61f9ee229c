// How an Amp table is laid out in a Delta table: the query's columns in their storage types
// (delta_types.h), the partition columns (directories, not file columns), the two columns
// every row carries, and the domains the loader keeps in the log.
//
//   _amp_block_start, _amp_block_end   long, not null: the blocks a row belongs to (the
//       block column's value twice, or the microbatch's range); Undo() finds the files
//       to touch from their min/max stats without reading them.
//   domain amp.checkpoint.<stream_id>   the StreamCheckpoint JSON of that stream.
//   domain amp.table                    {"rows": bool, "table_id": metaData id} after our
//       last commit, which lets a checkpoint notice a table emptied or replaced since.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>
#include <nlohmann/json.hpp>

#include "amp/loader.h"
#include "loaders/delta/delta_log.h"

namespace amp::delta {

inline constexpr char kStartColumn[] = "_amp_block_start";
inline constexpr char kEndColumn[] = "_amp_block_end";
inline constexpr char kDomainPrefix[] = "amp.checkpoint.";
inline constexpr char kTableDomain[] = "amp.table";

/// The configuration of the amp.table domain for a table that holds rows (or not).
std::string TableDomainJson(bool rows, const nlohmann::json& metadata);
/// The amp.table domain action recording `rows` against `snapshot`'s metaData.
DomainMetadata TableStateDomain(bool rows, const Snapshot& snapshot);

using PartitionValues = std::map<std::string, std::optional<std::string>>;

struct TableLayout {
  TableSpec spec;
  std::shared_ptr<arrow::Schema> storage;      ///< spec.schema in storage types.
  std::vector<std::string> partition_columns;  ///< Subset of the spec's columns.
  std::shared_ptr<arrow::Schema> file_schema;  ///< storage minus partitions + _amp_ columns.
  std::vector<int> file_column_indices;        ///< Indices into storage of file columns.
};

/// kFatal SCHEMA_MISMATCH when a column has no storage type.
Result<TableLayout> MakeLayout(const TableSpec& spec, const std::vector<std::string>& partitions);

/// The layout of an existing table from its own schemaString (every column, storage types).
Result<TableLayout> LayoutOfTable(const std::string& table, const Snapshot& snapshot);

/// Checks partition_by against `layout`: present, of a type Delta partitions by.
Status CheckPartitionColumns(const TableLayout& layout, const std::string& where);

/// The Delta schemaString fields of a layout (storage + _amp_ columns).
Result<nlohmann::json> DeltaSchemaJson(const TableLayout& layout);

/// "p=1/q=x" (Hive style, values escaped; null is __HIVE_DEFAULT_PARTITION__).
std::string PartitionDir(const std::vector<std::string>& columns, const PartitionValues& values);

/// The value of a partition column as Delta serialises it (null -> nullopt).
Result<std::optional<std::string>> PartitionValue(const arrow::Array& array, int64_t row);

/// A constant column of `rows` rows from a partition value (reading back).
Result<std::shared_ptr<arrow::Array>> PartitionColumn(const std::optional<std::string>& value,
                                                      const std::shared_ptr<arrow::DataType>& storage,
                                                      int64_t rows);

}  // namespace amp::delta
