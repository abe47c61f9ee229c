// The devnet's SQL: the subset of Amp's DataFusion SQL that our users and our own client
// send, parsed into an AST and planned onto Arrow compute.
//
// Supported: SELECT of columns, `*`, expressions with aliases; FROM dataset.table or the
// quoted "_/dataset@1.0.0".table form; WHERE with comparisons, AND/OR/NOT, parentheses,
// IN, BETWEEN, IS [NOT] NULL, hex literals (0x… or '0x…') against binary columns;
// MIN/MAX/COUNT (batch queries only); LIMIT (batch only); a CTE or subquery wrapping
// another query; `SETTINGS stream = true`. Anything else is Invalid naming the construct.
//
// A plan reads one source table; the executor consumes that table's full rows (as made by
// devnet/tables.h) in block order and emits output rows.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "amp/status.h"

namespace amp::devnet::sql {

/// A table reference as written: dataset (e.g. "eth_firehose", from "_/eth_firehose@1.0.0"
/// too) and table name.
struct TableRef {
  std::string dataset;
  std::string table;
};

/// Resolves table references to schemas. KeyError (-> gRPC NOT_FOUND) for unknown ones.
class Catalog {
 public:
  virtual ~Catalog() = default;
  virtual Result<std::shared_ptr<arrow::Schema>> TableSchema(const TableRef& ref) const = 0;
};

/// Inclusive bounds on `_block_num`/`block_num` implied by the query's filters, used to
/// avoid generating rows that cannot match. Conservative: rows outside never match.
struct BlockBounds {
  uint64_t min = 0;
  uint64_t max = UINT64_MAX;
};

/// Incremental executor of one plan. Not thread-safe; one per DoGet.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Feeds source rows (full source-table schema, block order); returns output rows
  /// (possibly 0 rows). Aggregating plans return nothing until Finish().
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Consume(
      const std::shared_ptr<arrow::RecordBatch>& source_rows) = 0;
  /// Ends the input; returns the aggregate row(s) or a 0-row batch.
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Finish() = 0;
  /// True once a LIMIT is satisfied: no further input can change the output.
  virtual bool done() const = 0;
};

/// A planned query.
class Plan {
 public:
  virtual ~Plan() = default;
  virtual const std::shared_ptr<arrow::Schema>& output_schema() const = 0;
  virtual const TableRef& source_table() const = 0;
  /// `SETTINGS stream = true` (boolean literal true, key case-insensitive).
  virtual bool streaming_setting() const = 0;
  /// Aggregates or LIMIT: not incrementalizable, rejected for streaming.
  virtual bool is_incremental() const = 0;
  virtual BlockBounds block_bounds() const = 0;
  virtual Result<std::unique_ptr<Executor>> MakeExecutor() const = 0;
};

/// Parses and plans `sql`. Invalid (-> INVALID_ARGUMENT) for syntax errors and
/// unsupported constructs, with a message naming them; KeyError for unknown tables
/// or columns as the catalog reports them.
Result<std::unique_ptr<Plan>> PlanQuery(std::string_view sql, const Catalog& catalog);

}  // namespace amp::devnet::sql
