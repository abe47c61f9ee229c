#include "loaders/delta/delta_files.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/arrow/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_types.h"

namespace amp::delta {
namespace fs = std::filesystem;
namespace {

std::string StatsJson(int64_t rows, int64_t min_start, int64_t max_start, int64_t min_end,
                      int64_t max_end) {
  nlohmann::json stats{{"numRecords", rows}};
  if (rows > 0) {
    stats["minValues"] = {{kStartColumn, min_start}, {kEndColumn, min_end}};
    stats["maxValues"] = {{kStartColumn, max_start}, {kEndColumn, max_end}};
    stats["nullCount"] = {{kStartColumn, 0}, {kEndColumn, 0}};
  }
  return stats.dump();
}

void CollectLeaves(const parquet::arrow::SchemaField& field, std::vector<int>& out) {
  if (field.is_leaf()) {
    out.push_back(field.column_index);
    return;
  }
  for (const auto& child : field.children) CollectLeaves(child, out);
}

// The named top-level columns of a Parquet file; columns the file lacks are left out.
Result<std::shared_ptr<arrow::Table>> ReadParquet(const std::string& path,
                                                  const std::vector<std::string>& columns) {
  AMP_ASSIGN_OR_RETURN(auto file, arrow::io::ReadableFile::Open(path));
  AMP_ASSIGN_OR_RETURN(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
  std::vector<int> leaves;
  const auto& fields = reader->manifest().schema_fields;
  for (const auto& name : columns) {
    for (const auto& f : fields) {
      if (f.field->name() == name) CollectLeaves(f, leaves);
    }
  }
  std::shared_ptr<arrow::Table> table;
  AMP_ASSIGN_OR_RETURN(table, reader->ReadTable(leaves));
  return table->CombineChunks();
}

// The int64 values of column `name` of a (single-chunk) table.
const arrow::Int64Array* Int64Column(const arrow::Table& table, const std::string& name) {
  auto column = table.GetColumnByName(name);
  if (column == nullptr || column->num_chunks() != 1 || column->type()->id() != arrow::Type::INT64) {
    return nullptr;
  }
  return static_cast<const arrow::Int64Array*>(column->chunk(0).get());
}

// Column `name` of `file`, in `field`'s type: read, from the partition value, or nulls.
Result<std::shared_ptr<arrow::Array>> LiveColumn(const arrow::Table& file, const AddFile& add,
                                                 const TableLayout& layout, const arrow::Field& field) {
  const std::string& name = field.name();
  auto column = file.GetColumnByName(name);
  if (column != nullptr) {
    std::shared_ptr<arrow::Array> array = column->num_chunks() == 1 ? column->chunk(0) : nullptr;
    if (array == nullptr) {
      AMP_ASSIGN_OR_RETURN(array, arrow::Concatenate(column->chunks()));
    }
    if (array->type()->Equals(*field.type())) return array;
    AMP_ASSIGN_OR_RETURN(auto cast, arrow::compute::Cast(array, field.type()));
    return cast.make_array();
  }
  const auto& partitions = layout.partition_columns;
  if (std::find(partitions.begin(), partitions.end(), name) != partitions.end()) {
    auto it = add.partition_values.find(name);
    return PartitionColumn(it == add.partition_values.end() ? std::nullopt : it->second, field.type(),
                           file.num_rows());
  }
  return arrow::MakeArrayOfNull(field.type(), file.num_rows());
}

}  // namespace

Result<std::unique_ptr<FileSink>> FileSink::Open(const Options& options, const std::string& table_dir,
                                                 const std::string& partition_dir,
                                                 PartitionValues partition_values,
                                                 const std::shared_ptr<arrow::Schema>& schema) {
  auto sink = std::unique_ptr<FileSink>(new FileSink());
  std::string rel = partition_dir;
  if (!rel.empty()) rel += "/";
  rel += "part-" + RandomHex(16) + "-" + RandomHex(16) + "-c000." + options.compression_name + ".parquet";
  sink->file_.add.path = rel;
  sink->file_.add.partition_values = std::move(partition_values);
  sink->file_.abs_path = table_dir + "/" + rel;
  if (!partition_dir.empty()) {
    std::error_code ec;
    fs::create_directories(table_dir + "/" + partition_dir, ec);
    if (ec) return IoErr(Status::IOError("cannot create ", table_dir, "/", partition_dir, ": ", ec.message()));
  }
  auto opened = arrow::io::FileOutputStream::Open(sink->file_.abs_path);
  if (!opened.ok()) return IoErr(opened.status());
  sink->out_ = *opened;
  parquet::WriterProperties::Builder props;
  props.compression(options.compression);
  if (options.compression_level > 0) props.compression_level(options.compression_level);
  props.max_row_group_length(options.row_group_rows);
  props.created_by("ampsync delta loader");
  props.memory_pool(DeltaMemoryPool());
  parquet::ArrowWriterProperties::Builder arrow_props;
  arrow_props.set_use_threads(options.write_threads);
  auto writer = parquet::arrow::FileWriter::Open(*schema, DeltaMemoryPool(), sink->out_, props.build(),
                                                 arrow_props.build());
  if (!writer.ok()) return IoErr(writer.status());
  sink->writer_ = std::move(*writer);
  return sink;
}

FileSink::~FileSink() {
  if (writer_ != nullptr) {
    (void)writer_->Close();
    (void)out_->Close();
    ::unlink(file_.abs_path.c_str());
  }
}

Status FileSink::Write(const arrow::RecordBatch& batch) {
  if (batch.num_rows() == 0) return Status::OK();
  const auto& starts = static_cast<const arrow::Int64Array&>(*batch.GetColumnByName(kStartColumn));
  const auto& ends = static_cast<const arrow::Int64Array&>(*batch.GetColumnByName(kEndColumn));
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    const int64_t s = starts.Value(i), e = ends.Value(i);
    min_start_ = std::min(min_start_, s);
    max_start_ = std::max(max_start_, s);
    min_end_ = std::min(min_end_, e);
    max_end_ = std::max(max_end_, e);
  }
  rows_ += batch.num_rows();
  Status st = writer_->WriteRecordBatch(batch);
  if (!st.ok()) return IoErr(st);
  return Status::OK();
}

Result<WrittenFile> FileSink::Close() {
  Status st = writer_->Close();
  if (st.ok()) st = out_->Close();
  writer_.reset();
  if (!st.ok()) {
    ::unlink(file_.abs_path.c_str());
    return IoErr(st);
  }
  struct stat info {};
  if (::stat(file_.abs_path.c_str(), &info) != 0) {
    return IoErr(Status::IOError("cannot stat ", file_.abs_path, ": ", std::strerror(errno)));
  }
  file_.add.size = info.st_size;
  file_.add.modification_time = NowMillis();
  file_.add.data_change = true;
  file_.add.stats = StatsJson(rows_, min_start_, max_start_, min_end_, max_end_);
  auto parsed = AddFile::FromJson(file_.add.ToJson());
  if (parsed.ok()) file_.add.parsed = parsed->parsed;
  return file_;
}

Result<std::vector<WrittenFile>> WriteTableFiles(const Options& options, const std::string& table_dir,
                                                 const TableLayout& layout,
                                                 const std::shared_ptr<arrow::Table>& table,
                                                 const PartitionValues& partition_values, bool data_change) {
  std::vector<WrittenFile> out;
  if (table->num_rows() == 0) return out;
  arrow::ArrayVector columns;
  for (const auto& f : layout.file_schema->fields()) {
    auto column = table->GetColumnByName(f->name());
    if (column == nullptr) return Status::Invalid("missing column ", f->name(), " in a rewrite");
    AMP_ASSIGN_OR_RETURN(auto array, arrow::Concatenate(column->chunks()));
    columns.push_back(array);
  }
  const std::string partition_dir = PartitionDir(layout.partition_columns, partition_values);
  auto batch = arrow::RecordBatch::Make(layout.file_schema, table->num_rows(), columns);
  int64_t offset = 0;
  while (offset < batch->num_rows()) {
    const int64_t n = std::min(options.target_file_rows, batch->num_rows() - offset);
    AMP_ASSIGN_OR_RETURN(auto sink, FileSink::Open(options, table_dir, partition_dir, partition_values,
                                                   layout.file_schema));
    AMP_RETURN_NOT_OK(sink->Write(*batch->Slice(offset, n)));
    AMP_ASSIGN_OR_RETURN(auto written, sink->Close());
    written.add.data_change = data_change;
    out.push_back(std::move(written));
    offset += n;
  }
  return out;
}

Result<std::shared_ptr<arrow::Table>> ReadLiveFile(const std::string& table_dir, const AddFile& add,
                                                   const TableLayout& layout,
                                                   const std::vector<std::string>* only) {
  arrow::FieldVector want;
  for (const auto& f : layout.storage->fields()) {
    if (only == nullptr || std::find(only->begin(), only->end(), f->name()) != only->end()) {
      want.push_back(f);
    }
  }
  want.push_back(arrow::field(kStartColumn, arrow::int64(), false));
  want.push_back(arrow::field(kEndColumn, arrow::int64(), false));
  std::vector<std::string> names;
  for (const auto& f : want) names.push_back(f->name());
  AMP_ASSIGN_OR_RETURN(auto file, ReadParquet(table_dir + "/" + add.path, names));
  arrow::ArrayVector columns;
  for (const auto& field : want) {
    AMP_ASSIGN_OR_RETURN(auto array, LiveColumn(*file, add, layout, *field));
    columns.push_back(std::move(array));
  }
  return arrow::Table::Make(arrow::schema(want), columns, file->num_rows());
}

Overlap FileOverlap(const AddFile& add, const BlockInterval& blocks) {
  const auto& s = add.parsed;
  if (s.num_records == 0) return Overlap::kAll;  // Empty file: drop it.
  if (!s.min_start || !s.max_start || !s.min_end || !s.max_end) return Overlap::kSome;
  const auto lo = static_cast<uint64_t>(std::max<int64_t>(0, *s.min_start));
  const auto hi_end = static_cast<uint64_t>(std::max<int64_t>(0, *s.max_end));
  // A row intersects iff start <= blocks.end && end >= blocks.start.
  if (lo > blocks.end || hi_end < blocks.start) return Overlap::kNone;
  const auto hi_start = static_cast<uint64_t>(std::max<int64_t>(0, *s.max_start));
  const auto lo_end = static_cast<uint64_t>(std::max<int64_t>(0, *s.min_end));
  if (hi_start <= blocks.end && lo_end >= blocks.start) return Overlap::kAll;
  return Overlap::kSome;
}

Result<std::vector<bool>> RowsInBlocks(const arrow::Table& rows, const std::string& path,
                                       const BlockInterval& blocks) {
  const auto* s = Int64Column(rows, kStartColumn);
  const auto* e = Int64Column(rows, kEndColumn);
  if (s == nullptr || e == nullptr) return Status::Invalid("file ", path, " lacks the _amp_ columns");
  std::vector<bool> in(static_cast<size_t>(rows.num_rows()));
  for (int64_t i = 0; i < rows.num_rows(); ++i) {
    in[static_cast<size_t>(i)] = static_cast<uint64_t>(s->Value(i)) <= blocks.end &&
                                 static_cast<uint64_t>(e->Value(i)) >= blocks.start;
  }
  return in;
}

Result<std::shared_ptr<arrow::Table>> FilterTable(const std::shared_ptr<arrow::Table>& table,
                                                  const std::vector<bool>& keep) {
  arrow::BooleanBuilder mask;
  AMP_RETURN_NOT_OK(mask.Reserve(static_cast<int64_t>(keep.size())));
  for (bool k : keep) mask.UnsafeAppend(k);
  AMP_ASSIGN_OR_RETURN(auto mask_array, mask.Finish());
  AMP_ASSIGN_OR_RETURN(auto datum, arrow::compute::Filter(table, mask_array));
  return datum.table();
}

}  // namespace amp::delta
