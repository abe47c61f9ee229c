// ReadRows of the "delta" loader: the live rows of a block interval, in the query's types
// (delta_types.h FromStorage), with _amp_block_start as the block of each row.
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_files.h"
#include "loaders/delta/delta_loader_impl.h"
#include "loaders/delta/delta_types.h"

namespace amp::delta {
namespace {

// The layout to read `spec`'s columns (the _amp_ ones excluded) with, each checked
// against the table's schema.
Result<TableLayout> ReadLayout(const TableSpec& spec, const Snapshot& snap, const std::string& where) {
  arrow::FieldVector wanted;
  for (const auto& f : spec.schema->fields()) {
    if (f->name() != kStartColumn && f->name() != kEndColumn) wanted.push_back(f);
  }
  TableSpec read_spec = spec;
  read_spec.schema = arrow::schema(wanted);
  AMP_ASSIGN_OR_RETURN(auto layout, MakeLayout(read_spec, snap.PartitionColumns()));
  AMP_ASSIGN_OR_RETURN(auto schema_json, snap.Schema());
  std::map<std::string, nlohmann::json> existing;
  if (schema_json.is_object()) {
    for (const auto& f : schema_json["fields"]) existing[f.value("name", "")] = f;
  }
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    const auto& f = layout.storage->field(i);
    auto it = existing.find(f->name());
    AMP_ASSIGN_OR_RETURN(auto type, DeltaTypeJson(*f->type()));
    if (it == existing.end() || it->second.at("type") != type) {
      return Fatal(Status::Invalid("ReadRows of ", where, ": column '", f->name(), "' ",
                                   it == existing.end() ? std::string("does not exist")
                                                        : "is " + it->second.at("type").dump() + ", not " + type.dump()),
                   "SCHEMA_MISMATCH");
    }
  }
  return layout;
}

// The rows of one live file inside `blocks`, as `out_schema` (null when none).
Result<std::shared_ptr<arrow::RecordBatch>> ReadFileRows(const std::string& table_dir, const std::string& path,
                                                         const AddFile& add, const TableLayout& layout,
                                                         const BlockInterval& blocks,
                                                         const std::shared_ptr<arrow::Schema>& out_schema) {
  AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(table_dir, add, layout));
  if (rows->num_rows() == 0) return nullptr;
  AMP_ASSIGN_OR_RETURN(auto keep, RowsInBlocks(*rows, path, blocks));
  if (std::find(keep.begin(), keep.end(), false) != keep.end()) {
    AMP_ASSIGN_OR_RETURN(rows, FilterTable(rows, keep));
  }
  if (rows->num_rows() == 0) return nullptr;
  AMP_ASSIGN_OR_RETURN(rows, rows->CombineChunks());
  arrow::ArrayVector columns;
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    AMP_ASSIGN_OR_RETURN(auto array, arrow::Concatenate(rows->column(i)->chunks()));
    AMP_ASSIGN_OR_RETURN(auto back, FromStorage(array, layout.spec.schema->field(i)->type()));
    columns.push_back(back);
  }
  AMP_ASSIGN_OR_RETURN(auto start, arrow::Concatenate(rows->GetColumnByName(kStartColumn)->chunks()));
  AMP_ASSIGN_OR_RETURN(auto start_u64, arrow::compute::Cast(start, arrow::uint64()));
  columns.push_back(start_u64.make_array());
  return arrow::RecordBatch::Make(out_schema, rows->num_rows(), columns);
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> DeltaLoaderImpl::ReadRows(const TableSpec& spec, const BlockInterval& blocks) {
  AMP_RETURN_NOT_OK(CheckTableName(spec.name));
  const std::string where = Where(spec.name);
  if (spec.schema == nullptr) return Fatal(Status::Invalid("ReadRows of ", where, ": no schema"), "SCHEMA_MISMATCH");
  if (!HasLog(TableDir(spec.name))) return Fatal(Status::KeyError(where, " does not exist"), "NO_TABLE");
  AMP_ASSIGN_OR_RETURN(const Snapshot snap, RefreshedSnapshot(spec.name));
  AMP_ASSIGN_OR_RETURN(const TableLayout layout, ReadLayout(spec, snap, where));
  arrow::FieldVector out_fields = layout.spec.schema->fields();
  out_fields.push_back(arrow::field(kStartColumn, arrow::uint64(), false));
  auto out_schema = arrow::schema(out_fields);
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  const std::string table_dir = TableDir(spec.name);
  for (const auto& [path, add] : snap.files) {
    if (FileOverlap(add, blocks) == Overlap::kNone && add.parsed.num_records != 0) continue;
    AMP_ASSIGN_OR_RETURN(auto batch, ReadFileRows(table_dir, path, add, layout, blocks, out_schema));
    if (batch != nullptr) out.push_back(std::move(batch));
  }
  return arrow::Table::FromRecordBatches(out_schema, out);
}

}  // namespace amp::delta
