#include "loaders/delta/delta_layout.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include <algorithm>

#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_types.h"

namespace amp::delta {
namespace {

// The storage types Delta readers accept as partition columns (unsigned columns are
// stored as signed or decimal, so those are covered).
bool Partitionable(arrow::Type::type id) {
  return arrow::is_signed_integer(id) || id == arrow::Type::BOOL || id == arrow::Type::STRING ||
         id == arrow::Type::DATE32 || id == arrow::Type::DECIMAL128;
}

}  // namespace

std::string TableDomainJson(bool rows, const nlohmann::json& metadata) {
  nlohmann::json config{{"rows", rows}};
  if (metadata.is_object() && metadata.contains("id") && metadata["id"].is_string()) {
    config["table_id"] = metadata["id"];
  }
  return config.dump();
}

DomainMetadata TableStateDomain(bool rows, const Snapshot& snapshot) {
  return {kTableDomain, TableDomainJson(rows, snapshot.metadata), false};
}

Result<TableLayout> MakeLayout(const TableSpec& spec, const std::vector<std::string>& partitions) {
  TableLayout layout;
  layout.spec = spec;
  auto storage = StorageSchema(*spec.schema);
  if (!storage.ok()) {
    return Fatal(Status::Invalid("table '", spec.name, "': ", storage.status().message()), "SCHEMA_MISMATCH");
  }
  layout.storage = *storage;
  layout.partition_columns = partitions;
  arrow::FieldVector fields;
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    const auto& f = layout.storage->field(i);
    if (std::find(partitions.begin(), partitions.end(), f->name()) != partitions.end()) continue;
    fields.push_back(f);
    layout.file_column_indices.push_back(i);
  }
  fields.push_back(arrow::field(kStartColumn, arrow::int64(), false));
  fields.push_back(arrow::field(kEndColumn, arrow::int64(), false));
  layout.file_schema = arrow::schema(fields);
  return layout;
}

Result<TableLayout> LayoutOfTable(const std::string& table, const Snapshot& snapshot) {
  AMP_ASSIGN_OR_RETURN(auto schema_json, snapshot.Schema());
  arrow::FieldVector fields;
  for (const auto& f : schema_json["fields"]) {
    const std::string name = f.value("name", "");
    if (name == kStartColumn || name == kEndColumn) continue;
    AMP_ASSIGN_OR_RETURN(auto type, TypeFromDeltaJson(f["type"]));
    fields.push_back(arrow::field(name, type, f.value("nullable", true)));
  }
  TableSpec spec;
  spec.name = table;
  spec.schema = arrow::schema(fields);
  return MakeLayout(spec, snapshot.PartitionColumns());
}

Status CheckPartitionColumns(const TableLayout& layout, const std::string& where) {
  for (const auto& p : layout.partition_columns) {
    const int i = layout.storage->GetFieldIndex(p);
    if (i < 0) {
      return Fatal(Status::Invalid(where, ": partition_by column '", p, "' is not a column of the query"),
                   "SCHEMA_MISMATCH");
    }
    if (!Partitionable(layout.storage->field(i)->type()->id())) {
      return Fatal(Status::Invalid(where, ": partition_by column '", p, "' of type ",
                                   layout.spec.schema->field(i)->type()->ToString(),
                                   " cannot be a partition column (use an integer, string, date, "
                                   "boolean or decimal column)"),
                   "SCHEMA_MISMATCH");
    }
  }
  return Status::OK();
}

Result<nlohmann::json> DeltaSchemaJson(const TableLayout& layout) {
  nlohmann::json fields = nlohmann::json::array();
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    AMP_ASSIGN_OR_RETURN(auto f, DeltaFieldJson(*layout.storage->field(i),
                                                layout.spec.schema->field(i)->type()->ToString()));
    fields.push_back(f);
  }
  for (const char* name : {kStartColumn, kEndColumn}) {
    AMP_ASSIGN_OR_RETURN(auto f, DeltaFieldJson(*arrow::field(name, arrow::int64(), false), "uint64"));
    fields.push_back(f);
  }
  return nlohmann::json{{"type", "struct"}, {"fields", fields}};
}

std::string PartitionDir(const std::vector<std::string>& columns, const PartitionValues& values) {
  std::string dir;
  for (const auto& p : columns) {
    auto it = values.find(p);
    const std::optional<std::string> v = it == values.end() ? std::nullopt : it->second;
    dir += (dir.empty() ? "" : "/") + p + "=" +
           (v ? EncodePartitionValue(*v) : std::string("__HIVE_DEFAULT_PARTITION__"));
  }
  return dir;
}

Result<std::optional<std::string>> PartitionValue(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return std::nullopt;
  if (array.type_id() == arrow::Type::STRING) {
    return std::optional<std::string>(static_cast<const arrow::StringArray&>(array).GetString(row));
  }
  AMP_ASSIGN_OR_RETURN(auto scalar, array.GetScalar(row));
  return std::optional<std::string>(scalar->ToString());
}

Result<std::shared_ptr<arrow::Array>> PartitionColumn(const std::optional<std::string>& value,
                                                      const std::shared_ptr<arrow::DataType>& storage,
                                                      int64_t rows) {
  if (!value) return arrow::MakeArrayOfNull(storage, rows);
  AMP_ASSIGN_OR_RETURN(auto text, arrow::MakeArrayFromScalar(arrow::StringScalar(*value), rows));
  AMP_ASSIGN_OR_RETURN(auto datum, arrow::compute::Cast(text, storage));
  return datum.make_array();
}

}  // namespace amp::delta
