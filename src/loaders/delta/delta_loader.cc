#include "loaders/delta/delta_loader.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <arrow/util/align_util.h>
#include <arrow/util/ubsan.h>
#include <fcntl.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/arrow/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "loaders/common/names.h"
#include "loaders/delta/delta_log.h"
#include "loaders/delta/delta_types.h"

namespace amp {
namespace delta {
namespace fs = std::filesystem;
namespace {

constexpr char kStartColumn[] = "_amp_block_start";
constexpr char kEndColumn[] = "_amp_block_end";
constexpr char kDomainPrefix[] = "amp.checkpoint.";
// Whether the table held rows after our last commit to it, and its metaData id then:
// {"rows": bool, "table_id": "..."}. Lets a checkpoint notice a table emptied (or
// replaced) by another writer since; see DeltaLoaderImpl::CheckProgress.
constexpr char kTableDomain[] = "amp.table";

std::string TableDomainJson(bool rows, const nlohmann::json& metadata) {
  nlohmann::json config{{"rows", rows}};
  if (metadata.is_object() && metadata.contains("id") && metadata["id"].is_string()) {
    config["table_id"] = metadata["id"];
  }
  return config.dump();
}

Status Err(const Status& status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "delta", code);
}
Status Fatal(const Status& status, const char* code = "FATAL") {
  return Err(status, ErrorClass::kFatal, code);
}
// I/O failures of the local file system: retrying the unit is the best we can do (a full
// disk may be freed); configuration problems are caught as kFatal before any write.
Status IoErr(const Status& status) { return Err(status, ErrorClass::kRetryCommit, "IO"); }

std::string RandomHex(int digits = 16) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          (static_cast<uint64_t>(getpid()) << 20) ^
                                          std::hash<std::thread::id>()(std::this_thread::get_id()));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  while (static_cast<int>(out.size()) < digits) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && static_cast<int>(out.size()) < digits; ++i, v >>= 4) out.push_back(kHex[v & 15]);
  }
  return out;
}

std::string Uuid() {
  std::string h = RandomHex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) +
         "-" + h.substr(20, 12);
}

struct Options {
  std::string root;
  parquet::Compression::type compression = parquet::Compression::ZSTD;
  std::string compression_name = "zstd";
  int compression_level = 0;  // 0: the codec's default
  int64_t target_file_rows = 1'000'000;
  int64_t row_group_rows = 64 * 1024;
  int64_t checkpoint_interval = 10;
  bool optimize_after_load = false;
  bool schema_evolution = false;
  bool write_threads = true;
  int max_commit_attempts = 200;
  std::vector<std::string> partition_by;
};

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

Result<Options> ParseOptions(const LoaderConfig& config) {
  Options o;
  auto get = [&](const char* key) -> std::string {
    auto it = config.find(key);
    return it == config.end() ? std::string() : it->second;
  };
  auto get_int = [&](const char* key, int64_t fallback, int64_t min) -> Result<int64_t> {
    const std::string v = get(key);
    if (v.empty()) return fallback;
    try {
      size_t used = 0;
      const long long n = std::stoll(v, &used);
      if (used != v.size() || n < min) throw std::invalid_argument(v);
      return static_cast<int64_t>(n);
    } catch (...) {
      return Fatal(Status::Invalid("delta option ", key, "=", v, ": expected an integer >= ", min),
                   "BAD_OPTION");
    }
  };
  o.root = get("root");
  if (o.root.empty() || o.root[0] != '/') {
    return Fatal(Status::Invalid("delta option root must be an absolute path (delta:///abs/path), got '",
                                 o.root, "'"),
                 "BAD_OPTION");
  }
  while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  std::string compression = get("compression");
  if (compression.empty()) compression = "zstd";
  for (auto& c : compression) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (compression == "zstd") {
    o.compression = parquet::Compression::ZSTD;
  } else if (compression == "snappy") {
    o.compression = parquet::Compression::SNAPPY;
  } else if (compression == "gzip") {
    o.compression = parquet::Compression::GZIP;
  } else if (compression == "lz4") {
    o.compression = parquet::Compression::LZ4;
  } else if (compression == "none" || compression == "uncompressed") {
    o.compression = parquet::Compression::UNCOMPRESSED;
    compression = "uncompressed";
  } else {
    return Fatal(Status::Invalid("delta option compression=", compression,
                                 ": expected zstd, snappy, gzip, lz4 or none"),
                 "BAD_OPTION");
  }
  o.compression_name = compression;
  AMP_ASSIGN_OR_RETURN(int64_t level, get_int("compression_level", 0, 0));
  o.compression_level = static_cast<int>(level);
  AMP_ASSIGN_OR_RETURN(o.target_file_rows, get_int("target_file_rows", o.target_file_rows, 1));
  AMP_ASSIGN_OR_RETURN(o.row_group_rows, get_int("row_group_rows", o.row_group_rows, 1));
  AMP_ASSIGN_OR_RETURN(o.checkpoint_interval, get_int("checkpoint_interval", 10, 1));
  AMP_ASSIGN_OR_RETURN(int64_t attempts, get_int("max_commit_attempts", 200, 1));
  o.max_commit_attempts = static_cast<int>(attempts);
  auto get_bool = [&](const char* key, bool fallback) -> Result<bool> {
    const std::string v = get(key);
    if (v.empty()) return fallback;
    auto parsed = ParseBoolOption(v);
    if (!parsed.ok()) return Fatal(parsed.status(), "BAD_OPTION");
    return *parsed;
  };
  AMP_ASSIGN_OR_RETURN(o.optimize_after_load, get_bool("optimize_after_load", false));
  AMP_ASSIGN_OR_RETURN(o.schema_evolution, get_bool("schema_evolution", false));
  AMP_ASSIGN_OR_RETURN(o.write_threads, get_bool("write_threads", true));
  o.partition_by = SplitList(get("partition_by"));
  return o;
}

// --- Reading Parquet files. ---

void CollectLeaves(const parquet::arrow::SchemaField& field, std::vector<int>& out) {
  if (field.is_leaf()) {
    out.push_back(field.column_index);
    return;
  }
  for (const auto& child : field.children) CollectLeaves(child, out);
}

// Reads the named top-level columns of a Parquet file (all when `columns` is null); columns
// the file lacks are left out.
Result<std::shared_ptr<arrow::Table>> ReadParquet(const std::string& path,
                                                  const std::vector<std::string>* columns) {
  AMP_ASSIGN_OR_RETURN(auto file, arrow::io::ReadableFile::Open(path));
  AMP_ASSIGN_OR_RETURN(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Table> table;
  if (columns == nullptr) {
    AMP_ASSIGN_OR_RETURN(table, reader->ReadTable());
  } else {
    std::vector<int> leaves;
    const auto& fields = reader->manifest().schema_fields;
    for (const auto& name : *columns) {
      for (const auto& f : fields) {
        if (f.field->name() == name) CollectLeaves(f, leaves);
      }
    }
    AMP_ASSIGN_OR_RETURN(table, reader->ReadTable(leaves));
  }
  return table->CombineChunks();
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

// The int64 values of column `name` of a (single-chunk) table.
const arrow::Int64Array* Int64Column(const arrow::Table& table, const std::string& name) {
  auto column = table.GetColumnByName(name);
  if (column == nullptr || column->num_chunks() != 1 || column->type()->id() != arrow::Type::INT64) {
    return nullptr;
  }
  return static_cast<const arrow::Int64Array*>(column->chunk(0).get());
}

// One key per row: the text of each key column's value, length-prefixed.
Result<std::vector<std::string>> RowKeys(const std::vector<std::shared_ptr<arrow::Array>>& columns,
                                         int64_t rows) {
  std::vector<std::string> keys(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    std::string key;
    for (const auto& column : columns) {
      AMP_ASSIGN_OR_RETURN(auto scalar, column->GetScalar(row));
      const std::string text = scalar->is_valid ? scalar->ToString() : std::string("\x01null");
      key += std::to_string(text.size()) + ":" + text + ";";
    }
    keys[static_cast<size_t>(row)] = std::move(key);
  }
  return keys;
}

// --- Writing Parquet files. ---

struct WrittenFile {
  AddFile add;
  std::string abs_path;
};

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

// Streams storage-typed batches (data columns without partition columns, then the two
// _amp_ columns) into one Parquet file and tracks the _amp_ stats.
class FileSink {
 public:
  static Result<std::unique_ptr<FileSink>> Open(const Options& options, const std::string& table_dir,
                                                const std::string& partition_dir,
                                                std::map<std::string, std::optional<std::string>> partition_values,
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
    auto writer = parquet::arrow::FileWriter::Open(*schema, DeltaMemoryPool(), sink->out_,
                                                   props.build(), arrow_props.build());
    if (!writer.ok()) return IoErr(writer.status());
    sink->writer_ = std::move(*writer);
    return sink;
  }

  ~FileSink() {
    if (writer_ != nullptr) {
      (void)writer_->Close();
      (void)out_->Close();
      ::unlink(file_.abs_path.c_str());
    }
  }

  Status Write(const arrow::RecordBatch& batch) {
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

  int64_t rows() const { return rows_; }

  Result<WrittenFile> Close() {
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

 private:
  FileSink() = default;
  WrittenFile file_;
  std::shared_ptr<arrow::io::FileOutputStream> out_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  int64_t rows_ = 0;
  int64_t min_start_ = INT64_MAX, max_start_ = INT64_MIN, min_end_ = INT64_MAX, max_end_ = INT64_MIN;
};

// --- Table layout: the query's schema, its storage form, partitioning. ---

struct TableLayout {
  TableSpec spec;
  std::shared_ptr<arrow::Schema> storage;       ///< spec.schema in storage types.
  std::vector<std::string> partition_columns;   ///< Subset of the spec's columns.
  std::shared_ptr<arrow::Schema> file_schema;   ///< storage minus partitions + _amp_ columns.
  std::vector<int> file_column_indices;         ///< Indices into storage of file columns.
};

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

// The Delta schemaString fields of a layout (storage + _amp_ columns).
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

bool Partitionable(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::BOOL:
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::STRING:
    case arrow::Type::DATE32:
    case arrow::Type::DECIMAL128:
      return true;
    default:
      return false;
  }
}

std::string EscapePartitionValue(const std::string& value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The value of a partition column as Delta serialises it (null -> nullopt).
Result<std::optional<std::string>> PartitionValue(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return std::nullopt;
  if (array.type_id() == arrow::Type::STRING) {
    return std::optional<std::string>(static_cast<const arrow::StringArray&>(array).GetString(row));
  }
  AMP_ASSIGN_OR_RETURN(auto scalar, array.GetScalar(row));
  return std::optional<std::string>(scalar->ToString());
}

// A constant column from a partition value (read back).
Result<std::shared_ptr<arrow::Array>> PartitionColumn(const std::optional<std::string>& value,
                                                      const std::shared_ptr<arrow::DataType>& storage,
                                                      int64_t rows) {
  if (!value) return arrow::MakeArrayOfNull(storage, rows);
  AMP_ASSIGN_OR_RETURN(auto text, arrow::MakeArrayFromScalar(arrow::StringScalar(*value), rows));
  AMP_ASSIGN_OR_RETURN(auto datum, arrow::compute::Cast(text, storage));
  return datum.make_array();
}

// --- Shared per-table state inside one loader. ---

struct TableState {
  std::mutex mu;  // Serialises this process's refresh/plan/commit of the table.
  std::string dir;
  Snapshot snapshot;
};

// A unit operation, applied in order at Commit.
struct UnitOp {
  enum class Kind { kUndo, kUpsertKeys, kFiles } kind;
  BlockInterval blocks;
  std::shared_ptr<std::unordered_set<std::string>> keys;
  std::vector<WrittenFile> files;
};

// A live file during planning: committed (from the snapshot) or written by this unit.
struct LiveFile {
  AddFile add;
  bool committed = false;
  std::string abs_path;
};

}  // namespace

class DeltaLoaderImpl;

// --- The session. ---

class DeltaSession final : public LoaderSession {
 public:
  explicit DeltaSession(DeltaLoaderImpl* loader) : loader_(loader) {}
  ~DeltaSession() override {
    if (open_) Abort();
  }

  Status Begin() override {
    if (open_) return Fatal(Status::Invalid("Begin() while a unit is open"), "MISUSE");
    open_ = true;
    table_.clear();
    ops_.clear();
    sinks_.clear();
    return Status::OK();
  }

  Status Undo(const std::string& table, const BlockInterval& blocks) override;
  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) override;
  Status Commit(const StreamCheckpoint* checkpoint) override;
  void Abort() override;
  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override;
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override;

 private:
  Status RequireOpen(const char* what) {
    if (!open_) return Fatal(Status::Invalid(what, "() outside a unit (call Begin first)"), "MISUSE");
    return Status::OK();
  }
  Status UseTable(const std::string& table);
  Status FlushSinks();
  void DiscardFiles();

  DeltaLoaderImpl* loader_;
  bool open_ = false;
  std::string table_;  // The one table this unit writes.
  std::shared_ptr<TableLayout> layout_;
  std::vector<UnitOp> ops_;
  std::map<std::string, std::unique_ptr<FileSink>> sinks_;  // By partition directory.
};

// --- The loader. ---

class DeltaLoaderImpl final : public DeltaLoader {
 public:
  explicit DeltaLoaderImpl(Options options) : options_(std::move(options)) {
    capabilities_.atomic_commit = true;
    capabilities_.supports_undo = true;
    capabilities_.concurrent_sessions = true;
    capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert};
  }

  ~DeltaLoaderImpl() override {
    if (!options_.optimize_after_load) return;
    std::set<std::string> tables;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tables = written_tables_;
    }
    for (const auto& t : tables) {
      Status st = Optimize(t);
      if (!st.ok()) std::cerr << "delta: optimize of " << t << " after the load failed: " << st.ToString() << "\n";
    }
  }

  std::string name() const override { return "delta"; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }
  const std::string& root() const override { return options_.root; }
  const Options& options() const { return options_; }

  std::string TableDir(const std::string& table) const { return options_.root + "/" + table; }
  std::string Where(const std::string& table) const {
    return "delta destination " + TableDir(table);
  }

  void FailNextCommitsForTesting(int n) override { fail_commits_.store(n); }
  bool ConsumeInjectedFailure() {
    int n = fail_commits_.load();
    while (n > 0) {
      if (fail_commits_.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }

  std::shared_ptr<TableState> State(const std::string& table) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = states_[table];
    if (!slot) {
      slot = std::make_shared<TableState>();
      slot->dir = TableDir(table);
    }
    return slot;
  }

  std::shared_ptr<TableLayout> Layout(const std::string& table) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = layouts_.find(table);
    return it == layouts_.end() ? nullptr : it->second;
  }

  void NoteStreamTable(const std::string& stream_id, const std::string& table) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_tables_[stream_id] = table;
  }
  void NoteWrittenTable(const std::string& table) {
    std::lock_guard<std::mutex> lock(mu_);
    written_tables_.insert(table);
  }

  std::string StreamTable(const std::string& stream_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = stream_tables_.find(stream_id);
    if (it != stream_tables_.end()) return it->second;
    return last_ensured_;
  }

  // The shared name rule (loaders/common/names.h): a table is one directory name under
  // the root that the deltalake package can open.
  Status CheckTableName(const std::string& table) const {
    return loaders::CheckTableName(loaders::DeltaNameRules(), table);
  }

  Status EnsureRoot() {
    std::error_code ec;
    fs::create_directories(options_.root, ec);
    if (ec || !fs::is_directory(options_.root, ec)) {
      return Fatal(Status::IOError("delta destination ", options_.root,
                                   ": cannot create the root directory: ",
                                   ec ? ec.message() : "not a directory"),
                   "UNWRITABLE");
    }
    // Probe writability (access() says yes to root even on read-only mounts).
    const std::string probe = options_.root + "/.amp-probe-" + RandomHex(8);
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Fatal(Status::IOError("delta destination ", options_.root, " is not writable: ",
                                   std::strerror(errno)),
                   "UNWRITABLE");
    }
    ::close(fd);
    ::unlink(probe.c_str());
    return Status::OK();
  }

  Status EnsureTable(const TableSpec& spec) override {
    // Names first, before anything is created (the root included).
    AMP_RETURN_NOT_OK(loaders::CheckNames(loaders::DeltaNameRules(), spec));
    const std::string where = Where(spec.name);
    if (spec.schema == nullptr) return Fatal(Status::Invalid(where, ": no schema"), "SCHEMA_MISMATCH");
    if (!spec.block_column.empty()) {
      auto f = spec.schema->GetFieldByName(spec.block_column);
      if (f == nullptr || f->type()->id() != arrow::Type::UINT64) {
        return Fatal(Status::Invalid(where, ": block column '", spec.block_column, "' is not a UInt64 column"),
                     "SCHEMA_MISMATCH");
      }
    }
    if (spec.mode == LoadMode::kUpsert) {
      if (spec.key_columns.empty()) {
        return Fatal(Status::Invalid(where, ": upsert needs key columns"), "SCHEMA_MISMATCH");
      }
      for (const auto& k : spec.key_columns) {
        if (spec.schema->GetFieldByName(k) == nullptr) {
          return Fatal(Status::Invalid(where, ": upsert key column '", k, "' is not a column of the query"),
                       "SCHEMA_MISMATCH");
        }
      }
    }
    auto layout_result = MakeLayout(spec, options_.partition_by);
    if (!layout_result.ok()) {
      return Fatal(Status::Invalid(where, ": ", layout_result.status().message()), "SCHEMA_MISMATCH");
    }
    auto layout = std::make_shared<TableLayout>(std::move(*layout_result));
    for (const auto& p : options_.partition_by) {
      const int i = layout->storage->GetFieldIndex(p);
      if (i < 0) {
        return Fatal(Status::Invalid(where, ": partition_by column '", p, "' is not a column of the query"),
                     "SCHEMA_MISMATCH");
      }
      if (!Partitionable(layout->storage->field(i)->type()->id())) {
        return Fatal(Status::Invalid(where, ": partition_by column '", p, "' of type ",
                                     spec.schema->field(i)->type()->ToString(),
                                     " cannot be a partition column (use an integer, string, date, "
                                     "boolean or decimal column)"),
                     "SCHEMA_MISMATCH");
      }
    }
    AMP_RETURN_NOT_OK(EnsureRoot());
    const std::string dir = TableDir(spec.name);
    std::error_code ec;
    if (fs::exists(dir, ec)) {
      if (!fs::is_directory(dir, ec)) {
        return Fatal(Status::Invalid(where, " exists and is not a directory (not a Delta table)"),
                     "NOT_DELTA");
      }
      if (!HasLog(dir)) {
        bool empty = true;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
          if (entry.path().filename() == "_delta_log" && fs::is_empty(entry.path(), ec)) continue;
          empty = false;
          break;
        }
        if (!empty) {
          return Fatal(Status::Invalid(where, " exists but is not a Delta table (no _delta_log "
                                              "version files); choose another table name or root"),
                       "NOT_DELTA");
        }
      }
    }
    auto state = State(spec.name);
    std::lock_guard<std::mutex> lock(state->mu);
    for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
      Status st = Refresh(dir, state->snapshot);
      if (!st.ok()) return Fatal(Status::IOError(where, ": cannot read the Delta log: ", st.message()), "BAD_LOG");
      if (state->snapshot.version >= 0) {
        AMP_ASSIGN_OR_RETURN(bool committed, CheckOrEvolve(*state, *layout));
        if (!committed) continue;  // Lost a race for the metaData update: re-check.
        break;
      }
      // Create: version 0 with protocol and metaData.
      AMP_ASSIGN_OR_RETURN(auto schema_json, DeltaSchemaJson(*layout));
      nlohmann::json lines = nlohmann::json::array();
      lines.push_back({{"commitInfo",
                        {{"timestamp", NowMillis()}, {"operation", "CREATE TABLE"},
                         {"operationParameters", {{"mode", "ErrorIfExists"}}},
                         {"engineInfo", "ampsync"}}}});
      lines.push_back(ProtocolAction());
      lines.push_back({{"metaData",
                        {{"id", Uuid()},
                         {"name", spec.name},
                         {"format", {{"provider", "parquet"}, {"options", nlohmann::json::object()}}},
                         {"schemaString", schema_json.dump()},
                         {"partitionColumns", options_.partition_by},
                         {"configuration", nlohmann::json::object()},
                         {"createdTime", NowMillis()}}}});
      std::string text;
      for (const auto& l : lines) text += l.dump() + "\n";
      auto won = TryCommit(dir, 0, text);
      if (!won.ok()) {
        return Fatal(Status::IOError(where, ": cannot create the table: ", won.status().message()),
                     "UNWRITABLE");
      }
      if (*won) {
        AMP_RETURN_NOT_OK(ApplyCommit(state->snapshot, text));
        state->snapshot.version = 0;
        break;
      }
    }
    std::lock_guard<std::mutex> guard(mu_);
    layouts_[spec.name] = layout;
    last_ensured_ = spec.name;
    return Status::OK();
  }

  static nlohmann::json ProtocolAction() {
    return {{"protocol",
             {{"minReaderVersion", 1}, {"minWriterVersion", 7}, {"writerFeatures", {"domainMetadata"}}}}};
  }

  // Compares an existing table with `layout`; adds nullable columns when schema_evolution
  // allows. Returns false when a metaData commit lost a race (caller re-checks).
  Result<bool> CheckOrEvolve(TableState& state, const TableLayout& layout) {
    const std::string where = Where(layout.spec.name);
    AMP_ASSIGN_OR_RETURN(auto schema, state.snapshot.Schema());
    if (!schema.is_object() || !schema.contains("fields")) {
      return Fatal(Status::Invalid(where, ": the Delta table has no schema"), "SCHEMA_MISMATCH");
    }
    std::map<std::string, nlohmann::json> existing;
    for (const auto& f : schema["fields"]) existing[f.value("name", "")] = f;
    std::vector<nlohmann::json> added;
    for (int i = 0; i < layout.storage->num_fields(); ++i) {
      const auto& f = layout.storage->field(i);
      AMP_ASSIGN_OR_RETURN(auto type, DeltaTypeJson(*f->type()));
      auto it = existing.find(f->name());
      if (it == existing.end()) {
        if (!options_.schema_evolution || !f->nullable()) {
          return Fatal(Status::Invalid(where, ": column '", f->name(), "' (", layout.spec.schema->field(i)->type()->ToString(),
                                       ") is not in the existing Delta table",
                                       options_.schema_evolution ? " and is not nullable"
                                                                 : " (schema_evolution=true adds nullable columns)"),
                       "SCHEMA_MISMATCH");
        }
        AMP_ASSIGN_OR_RETURN(auto field, DeltaFieldJson(*f, layout.spec.schema->field(i)->type()->ToString()));
        added.push_back(field);
        continue;
      }
      if (it->second.at("type") != type) {
        return Fatal(Status::Invalid(where, ": column '", f->name(), "' is ", it->second.at("type").dump(),
                                     " in the Delta table, the query's ",
                                     layout.spec.schema->field(i)->type()->ToString(), " needs ", type.dump()),
                     "SCHEMA_MISMATCH");
      }
    }
    for (const char* amp : {kStartColumn, kEndColumn}) {
      auto it = existing.find(amp);
      if (it == existing.end() || it->second.at("type") != "long") {
        return Fatal(Status::Invalid(where, " is a Delta table not written by ampsync: column ", amp,
                                     " is missing or not long"),
                     "SCHEMA_MISMATCH");
      }
    }
    for (const auto& [name, f] : existing) {
      if (name == kStartColumn || name == kEndColumn) continue;
      if (layout.storage->GetFieldIndex(name) < 0 && !f.value("nullable", true)) {
        return Fatal(Status::Invalid(where, ": the Delta table's non-nullable column '", name,
                                     "' is not in the query"),
                     "SCHEMA_MISMATCH");
      }
    }
    const auto partitions = state.snapshot.PartitionColumns();
    if (partitions != layout.partition_columns) {
      std::string have;
      for (const auto& p : partitions) have += (have.empty() ? "" : ",") + p;
      std::string want;
      for (const auto& p : layout.partition_columns) want += (want.empty() ? "" : ",") + p;
      return Fatal(Status::Invalid(where, " is partitioned by [", have, "], partition_by is [", want, "]"),
                   "SCHEMA_MISMATCH");
    }
    if (added.empty()) return true;
    // Schema evolution: one metaData update with the added nullable columns.
    nlohmann::json fields = schema["fields"];
    for (auto& f : added) fields.push_back(f);
    // Keep _amp_ columns last.
    std::stable_partition(fields.begin(), fields.end(), [](const nlohmann::json& f) {
      const std::string n = f.value("name", "");
      return n != kStartColumn && n != kEndColumn;
    });
    nlohmann::json metadata = state.snapshot.metadata;
    metadata["schemaString"] = nlohmann::json{{"type", "struct"}, {"fields", fields}}.dump();
    const std::string text =
        nlohmann::json{{"commitInfo",
                        {{"timestamp", NowMillis()}, {"operation", "ADD COLUMNS"}, {"engineInfo", "ampsync"}}}}
            .dump() +
        "\n" + nlohmann::json{{"metaData", metadata}}.dump() + "\n";
    auto won = TryCommit(state.dir, state.snapshot.version + 1, text);
    if (!won.ok()) return Fatal(Status::IOError(where, ": cannot update the schema: ", won.status().message()), "UNWRITABLE");
    if (!*won) return false;
    AMP_RETURN_NOT_OK(ApplyCommit(state.snapshot, text));
    ++state.snapshot.version;
    return true;
  }

  // Commits `text` built by `make` (given the refreshed snapshot) with retry on conflict.
  // `make` returns nullopt for "nothing to commit".
  template <typename MakeFn>
  Status CommitWithRetry(TableState& state, const std::string& table, MakeFn make,
                         bool* committed = nullptr) {
    if (committed) *committed = false;
    for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
      Status st = Refresh(state.dir, state.snapshot);
      if (!st.ok()) return IoErr(Status::IOError(Where(table), ": cannot read the Delta log: ", st.message()));
      if (state.snapshot.version < 0) {
        return Fatal(Status::Invalid(Where(table), " does not exist (dropped?)"), "NO_TABLE");
      }
      AMP_ASSIGN_OR_RETURN(std::optional<std::string> text, make(state.snapshot));
      if (!text) return Status::OK();
      auto won = TryCommit(state.dir, state.snapshot.version + 1, *text);
      if (!won.ok()) return IoErr(Status::IOError(Where(table), ": ", won.status().message()));
      if (*won) {
        AMP_RETURN_NOT_OK(ApplyCommit(state.snapshot, *text));
        ++state.snapshot.version;
        if (committed) *committed = true;
        MaybeCheckpoint(state);
        return Status::OK();
      }
      // Another writer took the version: back off a little and re-plan.
      std::this_thread::sleep_for(std::chrono::microseconds(100 + (attempt * 97) % 2000));
    }
    return Err(Status::IOError(Where(table), ": gave up after ", options_.max_commit_attempts,
                               " conflicting commit attempts"),
               ErrorClass::kRetryCommit, "CONFLICT");
  }

  void MaybeCheckpoint(TableState& state) {
    if (state.snapshot.version > 0 && state.snapshot.version % options_.checkpoint_interval == 0) {
      Status st = WriteCheckpoint(state.dir, state.snapshot);
      // A missing checkpoint costs only replay time; never fail the commit for it.
      if (!st.ok()) std::cerr << "delta: checkpoint of " << state.dir << " failed: " << st.ToString() << "\n";
    }
  }

  Status Truncate(const std::string& table) override {
    AMP_RETURN_NOT_OK(CheckTableName(table));
    if (!HasLog(TableDir(table))) {
      return Fatal(Status::KeyError(Where(table), " does not exist"), "NO_TABLE");
    }
    auto state = State(table);
    std::lock_guard<std::mutex> lock(state->mu);
    return CommitWithRetry(*state, table, [&](const Snapshot& snap) -> Result<std::optional<std::string>> {
      std::string text = nlohmann::json{{"commitInfo",
                                         {{"timestamp", NowMillis()},
                                          {"operation", "DELETE"},
                                          {"operationParameters", {{"predicate", "true"}}},
                                          {"engineInfo", "ampsync"}}}}
                             .dump() +
                         "\n";
      const int64_t now = NowMillis();
      for (const auto& [path, file] : snap.files) {
        text += RemoveAction(file, now).dump() + "\n";
      }
      for (const auto& [domain, config] : snap.domains) {
        if (domain.rfind(kDomainPrefix, 0) != 0) continue;
        text += nlohmann::json{{"domainMetadata", {{"domain", domain}, {"configuration", config}, {"removed", true}}}}
                    .dump() +
                "\n";
      }
      text += TableStateAction(false, snap);
      return std::optional<std::string>(text);
    });
  }

  static std::string TableStateAction(bool rows, const Snapshot& snap) {
    return nlohmann::json{{"domainMetadata", {{"domain", kTableDomain},
                                              {"configuration", TableDomainJson(rows, snap.metadata)},
                                              {"removed", false}}}}
               .dump() +
           "\n";
  }

  // Refuses the checkpoint of `stream_id` stored in `table` when the table held rows after
  // our last commit to it and holds no live file now (another writer deleted or overwrote
  // its rows), or when its metaData id changed (the table was replaced). A table whose log
  // has no amp.table domain (written by an earlier release) is accepted; the next commit
  // records it. Dropping the table directory drops its checkpoints with it.
  Status CheckProgress(const std::string& table, const std::string& stream_id) {
    auto state = State(table);
    std::string recorded;
    bool empty = true;
    nlohmann::json metadata;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      auto it = state->snapshot.domains.find(kTableDomain);
      if (it == state->snapshot.domains.end()) return Status::OK();
      recorded = it->second;
      empty = state->snapshot.files.empty();
      metadata = state->snapshot.metadata;
    }
    auto config = nlohmann::json::parse(recorded, nullptr, false);
    if (!config.is_object()) return Status::OK();
    std::string what;
    const bool rows = config.value("rows", false);
    if (config.contains("table_id") && metadata.is_object() && metadata.contains("id") &&
        metadata["id"] != config["table_id"]) {
      what = "that table was replaced since (its metaData id changed)";
    } else if (rows && empty) {
      what = "that table has no rows now (another writer removed its files)";
    } else {
      return Status::OK();
    }
    return Fatal(Status::Invalid("[delta] progress outlives its table: the checkpoint of stream ", stream_id,
                                 " says rows were committed to ", Where(table), ", but ", what,
                                 "; nothing was loaded. To load everything again, rerun with --reset, or "
                                 "clear the progress with `ampsync reset --to URI --table ", table, "`"),
                 kStaleProgressCode);
  }

  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id, bool truncate) override {
    AMP_RETURN_NOT_OK(CheckTableName(table));
    if (!HasLog(TableDir(table))) return 0;  // the checkpoints live in the table's log
    auto state = State(table);
    std::lock_guard<std::mutex> lock(state->mu);
    std::set<std::string> forgotten_ids;
    AMP_RETURN_NOT_OK(CommitWithRetry(*state, table, [&](const Snapshot& snap) -> Result<std::optional<std::string>> {
      // The job's own checkpoints ("<job>", "<job>/..."), or every one in this table when
      // no job is named or its rows go, and the plans of those jobs.
      const std::string prefix = kDomainPrefix;
      std::set<std::string> gone;
      for (const auto& [domain, config] : snap.domains) {
        if (domain.rfind(prefix, 0) != 0) continue;
        const std::string sid = domain.substr(prefix.size());
        const bool of_job = !job_id.empty() && (sid == job_id || sid.rfind(job_id + "/", 0) == 0);
        if (of_job || job_id.empty() || truncate) gone.insert(sid);
      }
      std::set<std::string> plans;
      for (const auto& sid : gone) plans.insert(sid.substr(0, sid.find('/')) + "/plan");
      for (const auto& plan : plans) {
        if (snap.domains.count(prefix + plan)) gone.insert(plan);
      }
      forgotten_ids = gone;
      if (gone.empty() && (!truncate || snap.files.empty())) return std::optional<std::string>();
      const int64_t now = NowMillis();
      std::string text = nlohmann::json{{"commitInfo",
                                         {{"timestamp", now},
                                          {"operation", truncate ? "DELETE" : "SET TBLPROPERTIES"},
                                          {"operationParameters", {{"predicate", truncate ? "true" : ""}}},
                                          {"engineInfo", "ampsync reset"}}}}
                             .dump() +
                         "\n";
      if (truncate) {
        for (const auto& [path, file] : snap.files) text += RemoveAction(file, now).dump() + "\n";
        text += TableStateAction(false, snap);
      }
      for (const auto& sid : gone) {
        text += nlohmann::json{{"domainMetadata",
                                {{"domain", prefix + sid}, {"configuration", snap.domains.at(prefix + sid)}, {"removed", true}}}}
                    .dump() +
                "\n";
      }
      return std::optional<std::string>(text);
    }));
    std::lock_guard<std::mutex> guard(mu_);
    for (auto it = stream_tables_.begin(); it != stream_tables_.end();) {
      it = it->second == table && forgotten_ids.count(it->first) ? stream_tables_.erase(it) : std::next(it);
    }
    return static_cast<int64_t>(forgotten_ids.size());
  }

  static nlohmann::json RemoveAction(const AddFile& file, int64_t now, bool data_change = true) {
    auto add = file.ToJson();
    nlohmann::json remove{{"path", add["path"]},
                          {"deletionTimestamp", now},
                          {"dataChange", data_change},
                          {"extendedFileMetadata", true},
                          {"partitionValues", add["partitionValues"]},
                          {"size", file.size}};
    return {{"remove", remove}};
  }

  Result<bool> TableExists(const std::string& table) override {
    AMP_RETURN_NOT_OK(CheckTableName(table));
    return HasLog(TableDir(table));
  }

  Status DropTable(const std::string& table) override {
    AMP_RETURN_NOT_OK(CheckTableName(table));
    const std::string dir = TableDir(table);
    std::error_code ec;
    if (!fs::exists(dir, ec)) return Status::OK();
    if (!HasLog(dir)) {
      return Fatal(Status::Invalid(Where(table), " is not a Delta table; not dropping it"), "NOT_DELTA");
    }
    auto state = State(table);
    std::lock_guard<std::mutex> lock(state->mu);
    // Rename first so readers never see half a table, then delete.
    const std::string graveyard = options_.root + "/.amp-dropped-" + table + "-" + RandomHex(8);
    fs::rename(dir, graveyard, ec);
    if (ec) return IoErr(Status::IOError(Where(table), ": cannot drop: ", ec.message()));
    fs::remove_all(graveyard, ec);
    state->snapshot = Snapshot{};
    std::lock_guard<std::mutex> guard(mu_);
    layouts_.erase(table);
    for (auto it = stream_tables_.begin(); it != stream_tables_.end();) {
      it = it->second == table ? stream_tables_.erase(it) : std::next(it);
    }
    return Status::OK();
  }

  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    return std::unique_ptr<LoaderSession>(std::make_unique<DeltaSession>(this));
  }

  // The Delta tables under the root (directories with a log).
  std::vector<std::string> Tables() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.root, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.' || !entry.is_directory(ec)) continue;
      if (HasLog(entry.path().string())) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Every amp checkpoint stored in any table, newest transaction per stream id.
  Result<std::map<std::string, std::pair<StreamCheckpoint, std::string>>> AllCheckpoints(
      const std::string& prefix) {
    std::map<std::string, std::pair<StreamCheckpoint, std::string>> out;
    for (const auto& table : Tables()) {
      auto state = State(table);
      std::map<std::string, std::string> domains;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        Status st = Refresh(state->dir, state->snapshot);
        if (!st.ok()) return IoErr(Status::IOError(Where(table), ": cannot read the Delta log: ", st.message()));
        domains = state->snapshot.domains;
      }
      const std::string want = kDomainPrefix + prefix;
      for (const auto& [domain, config] : domains) {
        if (domain.rfind(want, 0) != 0) continue;
        auto cp = StreamCheckpoint::FromJson(config);
        if (!cp.ok()) continue;
        auto it = out.find(cp->stream_id);
        if (it == out.end() || it->second.first.transaction_id < cp->transaction_id) {
          out[cp->stream_id] = {*cp, table};
        }
      }
    }
    return out;
  }

  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec, const BlockInterval& blocks) override;
  Status Optimize(const std::string& table) override;

 private:
  Options options_;
  LoaderCapabilities capabilities_;
  std::atomic<int> fail_commits_{0};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<TableState>> states_;
  std::map<std::string, std::shared_ptr<TableLayout>> layouts_;
  std::map<std::string, std::string> stream_tables_;
  std::set<std::string> written_tables_;
  std::string last_ensured_;
};

namespace {

// Reads a live file as a storage-typed table with the layout's file columns (columns the
// file lacks, from before a schema evolution, become nulls) and its partition columns.
Result<std::shared_ptr<arrow::Table>> ReadLiveFile(const std::string& table_dir, const AddFile& add,
                                                   const TableLayout& layout,
                                                   const std::vector<std::string>* only = nullptr) {
  std::vector<std::string> want;
  for (const auto& f : layout.storage->fields()) {
    if (only == nullptr || std::find(only->begin(), only->end(), f->name()) != only->end()) {
      want.push_back(f->name());
    }
  }
  want.push_back(kStartColumn);
  want.push_back(kEndColumn);
  AMP_ASSIGN_OR_RETURN(auto file, ReadParquet(table_dir + "/" + add.path, &want));
  const int64_t rows = file->num_rows();
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (const auto& name : want) {
    std::shared_ptr<arrow::Field> field;
    if (name == kStartColumn || name == kEndColumn) {
      field = arrow::field(name, arrow::int64(), false);
    } else {
      field = layout.storage->GetFieldByName(name);
    }
    std::shared_ptr<arrow::Array> array;
    auto column = file->GetColumnByName(name);
    if (column != nullptr) {
      array = column->num_chunks() == 1 ? column->chunk(0) : nullptr;
      if (array == nullptr) {
        AMP_ASSIGN_OR_RETURN(array, arrow::Concatenate(column->chunks()));
      }
      if (!array->type()->Equals(*field->type())) {
        auto cast = arrow::compute::Cast(array, field->type());
        if (!cast.ok()) return cast.status();
        array = cast->make_array();
      }
    } else if (std::find(layout.partition_columns.begin(), layout.partition_columns.end(), name) !=
               layout.partition_columns.end()) {
      auto it = add.partition_values.find(name);
      AMP_ASSIGN_OR_RETURN(array, PartitionColumn(it == add.partition_values.end() ? std::nullopt : it->second,
                                                  field->type(), rows));
    } else {
      AMP_ASSIGN_OR_RETURN(array, arrow::MakeArrayOfNull(field->type(), rows));
    }
    fields.push_back(field);
    columns.push_back(array);
  }
  return arrow::Table::Make(arrow::schema(fields), columns, rows);
}

// How a file relates to an undone interval, from its stats.
enum class Overlap { kNone, kAll, kSome };
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

// Writes the file-layout rows of `table` (storage-typed, with partition columns and _amp_
// columns) as new files, one per partition.
Result<std::vector<WrittenFile>> WriteTableFiles(const Options& options, const std::string& table_dir,
                                                 const TableLayout& layout,
                                                 const std::shared_ptr<arrow::Table>& table,
                                                 const std::map<std::string, std::optional<std::string>>& partition_values,
                                                 bool data_change) {
  std::vector<WrittenFile> out;
  if (table->num_rows() == 0) return out;
  arrow::ArrayVector columns;
  for (const auto& f : layout.file_schema->fields()) {
    auto column = table->GetColumnByName(f->name());
    if (column == nullptr) return Status::Invalid("missing column ", f->name(), " in a rewrite");
    AMP_ASSIGN_OR_RETURN(auto array, arrow::Concatenate(column->chunks()));
    columns.push_back(array);
  }
  std::string partition_dir;
  for (const auto& p : layout.partition_columns) {
    auto it = partition_values.find(p);
    const std::optional<std::string> v = it == partition_values.end() ? std::nullopt : it->second;
    partition_dir += (partition_dir.empty() ? "" : "/") + p + "=" +
                     (v ? EscapePartitionValue(*v) : std::string("__HIVE_DEFAULT_PARTITION__"));
  }
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

}  // namespace

// --- Session implementation. ---

Status DeltaSession::UseTable(const std::string& table) {
  if (!table_.empty() && table_ != table) {
    return Fatal(Status::Invalid("a delta unit writes one table; this one writes '", table_,
                                 "' and was asked to write '", table, "'"),
                 "MISUSE");
  }
  if (layout_ == nullptr || table_ != table) {
    layout_ = loader_->Layout(table);
    if (layout_ == nullptr) {
      return Fatal(Status::KeyError(loader_->Where(table), " is not set up (EnsureTable first)"), "NO_TABLE");
    }
  }
  table_ = table;
  return Status::OK();
}

Status DeltaSession::FlushSinks() {
  if (sinks_.empty()) return Status::OK();
  UnitOp op{UnitOp::Kind::kFiles, {}, nullptr, {}};
  for (auto& [dir, sink] : sinks_) {
    AMP_ASSIGN_OR_RETURN(auto written, sink->Close());
    op.files.push_back(std::move(written));
  }
  sinks_.clear();
  ops_.push_back(std::move(op));
  return Status::OK();
}

void DeltaSession::DiscardFiles() {
  sinks_.clear();  // FileSink's destructor deletes unfinished files.
  for (const auto& op : ops_) {
    for (const auto& f : op.files) ::unlink(f.abs_path.c_str());
  }
  ops_.clear();
}

Status DeltaSession::Undo(const std::string& table, const BlockInterval& blocks) {
  AMP_RETURN_NOT_OK(RequireOpen("Undo"));
  AMP_RETURN_NOT_OK(UseTable(table));
  AMP_RETURN_NOT_OK(FlushSinks());
  ops_.push_back(UnitOp{UnitOp::Kind::kUndo, blocks, nullptr, {}});
  return Status::OK();
}

Status DeltaSession::Append(const std::string& table, const arrow::RecordBatch& input,
                            const BlockRange& microbatch) {
  AMP_RETURN_NOT_OK(RequireOpen("Append"));
  AMP_RETURN_NOT_OK(UseTable(table));
  const TableLayout& layout = *layout_;
  const auto& spec = layout.spec;
  const std::string where = loader_->Where(table);
  // Names and types must match in order; nullability and metadata are not compared.
  const auto& schema = *input.schema();
  if (schema.num_fields() != spec.schema->num_fields()) {
    return Fatal(Status::Invalid(where, ": the batch has ", schema.num_fields(), " columns, the table ",
                                 spec.schema->num_fields()),
                 "SCHEMA_MISMATCH");
  }
  for (int i = 0; i < schema.num_fields(); ++i) {
    const auto& a = *schema.field(i);
    const auto& e = *spec.schema->field(i);
    if (a.name() != e.name() || !a.type()->Equals(*e.type())) {
      return Fatal(Status::Invalid(where, ": batch column ", i, " is '", a.name(), "' ", a.type()->ToString(),
                                   ", the table has '", e.name(), "' ", e.type()->ToString()),
                   "SCHEMA_MISMATCH");
    }
  }
  if (input.num_rows() == 0) return Status::OK();
  // Flight buffers need not be aligned; the kernels below read typed values.
  AMP_ASSIGN_OR_RETURN(auto batch, arrow::util::EnsureAlignment(
                                       arrow::RecordBatch::Make(input.schema(), input.num_rows(), input.columns()),
                                       arrow::util::kValueAlignment, DeltaMemoryPool()));
  const int64_t n = batch->num_rows();
  // Block tags.
  arrow::Int64Builder starts(DeltaMemoryPool()), ends(DeltaMemoryPool());
  AMP_RETURN_NOT_OK(starts.Reserve(n));
  AMP_RETURN_NOT_OK(ends.Reserve(n));
  if (!spec.block_column.empty()) {
    const auto& blocks = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(spec.block_column));
    for (int64_t i = 0; i < n; ++i) {
      if (blocks.IsNull(i)) {
        return Fatal(Status::Invalid(where, ": block column ", spec.block_column, " is null in row ", i),
                     "NULL_BLOCK");
      }
      const uint64_t b = blocks.Value(i);
      if (b > static_cast<uint64_t>(INT64_MAX)) {
        return Fatal(Status::Invalid(where, ": block number ", b, " exceeds the long range"), "BAD_BLOCK");
      }
      starts.UnsafeAppend(static_cast<int64_t>(b));
      ends.UnsafeAppend(static_cast<int64_t>(b));
    }
  } else {
    if (microbatch.end > static_cast<uint64_t>(INT64_MAX)) {
      return Fatal(Status::Invalid(where, ": block number ", microbatch.end, " exceeds the long range"), "BAD_BLOCK");
    }
    for (int64_t i = 0; i < n; ++i) {
      starts.UnsafeAppend(static_cast<int64_t>(microbatch.start));
      ends.UnsafeAppend(static_cast<int64_t>(microbatch.end));
    }
  }
  AMP_ASSIGN_OR_RETURN(auto start_array, starts.Finish());
  AMP_ASSIGN_OR_RETURN(auto end_array, ends.Finish());
  // Storage columns.
  arrow::ArrayVector storage(static_cast<size_t>(layout.storage->num_fields()));
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    auto converted = ToStorage(batch->column(i), layout.storage->field(i)->type());
    if (!converted.ok()) {
      return Fatal(Status::Invalid(where, ": column '", layout.storage->field(i)->name(), "': ",
                                   converted.status().message()),
                   "BAD_VALUE");
    }
    storage[static_cast<size_t>(i)] = *converted;
  }
  // Upsert: the last row of a key wins within the batch; the key set removes older rows.
  std::vector<int64_t> selected;  // Row indices to write (all unless upsert dedups).
  std::shared_ptr<std::unordered_set<std::string>> keys;
  if (spec.mode == LoadMode::kUpsert) {
    std::vector<std::shared_ptr<arrow::Array>> key_columns;
    for (const auto& k : spec.key_columns) key_columns.push_back(storage[static_cast<size_t>(layout.storage->GetFieldIndex(k))]);
    AMP_ASSIGN_OR_RETURN(auto row_keys, RowKeys(key_columns, n));
    std::unordered_map<std::string, int64_t> last;
    for (int64_t i = 0; i < n; ++i) last[row_keys[static_cast<size_t>(i)]] = i;
    keys = std::make_shared<std::unordered_set<std::string>>();
    for (int64_t i = 0; i < n; ++i) {
      if (last[row_keys[static_cast<size_t>(i)]] == i) selected.push_back(i);
    }
    for (auto& [k, i] : last) keys->insert(k);
    AMP_RETURN_NOT_OK(FlushSinks());
    ops_.push_back(UnitOp{UnitOp::Kind::kUpsertKeys, {}, keys, {}});
  }
  arrow::FieldVector all_fields = layout.storage->fields();
  all_fields.push_back(arrow::field(kStartColumn, arrow::int64(), false));
  all_fields.push_back(arrow::field(kEndColumn, arrow::int64(), false));
  arrow::ArrayVector all_columns = storage;
  all_columns.push_back(start_array);
  all_columns.push_back(end_array);
  auto full = arrow::RecordBatch::Make(arrow::schema(all_fields), n, all_columns);
  if (!selected.empty() && static_cast<int64_t>(selected.size()) != n) {
    arrow::Int64Builder idx;
    AMP_RETURN_NOT_OK(idx.AppendValues(selected));
    AMP_ASSIGN_OR_RETURN(auto idx_array, idx.Finish());
    AMP_ASSIGN_OR_RETURN(auto taken, arrow::compute::Take(full, idx_array));
    full = taken.record_batch();
  }
  // Split by partition (one group when unpartitioned).
  std::map<std::string, std::pair<std::map<std::string, std::optional<std::string>>, std::vector<int64_t>>> groups;
  if (layout.partition_columns.empty()) {
    groups[""].second.clear();
  } else {
    for (int64_t i = 0; i < full->num_rows(); ++i) {
      std::map<std::string, std::optional<std::string>> values;
      std::string dir;
      for (const auto& p : layout.partition_columns) {
        AMP_ASSIGN_OR_RETURN(auto v, PartitionValue(*full->GetColumnByName(p), i));
        dir += (dir.empty() ? "" : "/") + p + "=" +
               (v ? EscapePartitionValue(*v) : std::string("__HIVE_DEFAULT_PARTITION__"));
        values[p] = v;
      }
      auto& g = groups[dir];
      g.first = std::move(values);
      g.second.push_back(i);
    }
  }
  const std::string table_dir = loader_->TableDir(table);
  for (auto& [dir, group] : groups) {
    std::shared_ptr<arrow::RecordBatch> part = full;
    if (!layout.partition_columns.empty()) {
      arrow::Int64Builder idx;
      AMP_RETURN_NOT_OK(idx.AppendValues(group.second));
      AMP_ASSIGN_OR_RETURN(auto idx_array, idx.Finish());
      AMP_ASSIGN_OR_RETURN(auto taken, arrow::compute::Take(full, idx_array));
      part = taken.record_batch();
    }
    std::vector<std::shared_ptr<arrow::Array>> file_columns;
    for (int i : layout.file_column_indices) file_columns.push_back(part->column(i));
    file_columns.push_back(part->GetColumnByName(kStartColumn));
    file_columns.push_back(part->GetColumnByName(kEndColumn));
    auto file_batch = arrow::RecordBatch::Make(layout.file_schema, part->num_rows(), file_columns);
    auto& sink = sinks_[dir];
    if (sink == nullptr) {
      AMP_ASSIGN_OR_RETURN(sink, FileSink::Open(loader_->options(), table_dir, dir, group.first, layout.file_schema));
    }
    AMP_RETURN_NOT_OK(sink->Write(*file_batch));
    if (sink->rows() >= loader_->options().target_file_rows) {
      // Keep files near the target size; ops stay ordered (files before later undos).
      AMP_ASSIGN_OR_RETURN(auto written, sink->Close());
      sinks_.erase(dir);
      ops_.push_back(UnitOp{UnitOp::Kind::kFiles, {}, nullptr, {std::move(written)}});
    }
  }
  if (spec.mode == LoadMode::kUpsert) AMP_RETURN_NOT_OK(FlushSinks());
  return Status::OK();
}

Status DeltaSession::Commit(const StreamCheckpoint* checkpoint) {
  AMP_RETURN_NOT_OK(RequireOpen("Commit"));
  AMP_RETURN_NOT_OK(FlushSinks());
  if (loader_->ConsumeInjectedFailure()) {
    return Err(Status::IOError("[delta] injected commit failure (before the version file)"),
               ErrorClass::kRetryCommit, "INJECTED");
  }
  std::string table = table_;
  if (table.empty()) {
    if (checkpoint == nullptr) {
      open_ = false;
      return Status::OK();
    }
    table = loader_->StreamTable(checkpoint->stream_id);
    if (table.empty()) {
      // Which table holds this stream's checkpoint? Look it up.
      AMP_ASSIGN_OR_RETURN(auto all, loader_->AllCheckpoints(checkpoint->stream_id));
      auto it = all.find(checkpoint->stream_id);
      if (it != all.end()) table = it->second.second;
    }
    if (table.empty()) {
      return Fatal(Status::Invalid("delta: no table to store the checkpoint of stream ", checkpoint->stream_id,
                                   " in (EnsureTable first)"),
                   "NO_TABLE");
    }
    if (layout_ == nullptr) layout_ = loader_->Layout(table);
  }
  auto state = loader_->State(table);
  const std::string table_dir = loader_->TableDir(table);
  const std::string domain = checkpoint ? kDomainPrefix + checkpoint->stream_id : std::string();
  const std::string checkpoint_json = checkpoint ? checkpoint->ToJson() : std::string();
  std::vector<std::string> attempt_outputs;  // Rewrites of the current attempt.
  std::set<std::string> kept_pending;        // Unit files referenced by the winning commit.
  bool noop = false;
  auto cleanup_attempt = [&] {
    for (const auto& p : attempt_outputs) ::unlink(p.c_str());
    attempt_outputs.clear();
  };

  auto make = [&](const Snapshot& snap) -> Result<std::optional<std::string>> {
    cleanup_attempt();
    kept_pending.clear();
    // A replay of a committed unit changes nothing.
    if (checkpoint != nullptr) {
      auto it = snap.domains.find(domain);
      if (it != snap.domains.end()) {
        auto stored = StreamCheckpoint::FromJson(it->second);
        if (stored.ok() && stored->transaction_id >= checkpoint->transaction_id) {
          noop = true;
          return std::optional<std::string>();
        }
      }
    }
    // Plan: replay the unit's ops over the live files.
    std::map<std::string, LiveFile> live;
    for (const auto& [path, add] : snap.files) live[path] = LiveFile{add, true, table_dir + "/" + path};
    std::map<std::string, LiveFile> removed_committed;
    auto drop = [&](const std::string& path) {
      auto it = live.find(path);
      if (it->second.committed) removed_committed[path] = it->second;
      live.erase(it);
    };
    for (const auto& op : ops_) {
      if (op.kind == UnitOp::Kind::kFiles) {
        for (const auto& f : op.files) live[f.add.path] = LiveFile{f.add, false, f.abs_path};
        continue;
      }
      std::vector<std::string> paths;
      for (const auto& [path, lf] : live) paths.push_back(path);
      for (const auto& path : paths) {
        const LiveFile lf = live.at(path);
        std::shared_ptr<arrow::Table> rows;
        std::vector<bool> keep;
        if (op.kind == UnitOp::Kind::kUndo) {
          const Overlap overlap = FileOverlap(lf.add, op.blocks);
          if (overlap == Overlap::kNone) continue;
          if (overlap == Overlap::kAll) {
            drop(path);
            continue;
          }
          AMP_ASSIGN_OR_RETURN(rows, ReadLiveFile(table_dir, lf.add, *layout_));
          const auto* s = Int64Column(*rows, kStartColumn);
          const auto* e = Int64Column(*rows, kEndColumn);
          if (s == nullptr || e == nullptr) return Status::Invalid("file ", path, " lacks the _amp_ columns");
          keep.resize(static_cast<size_t>(rows->num_rows()));
          for (int64_t i = 0; i < rows->num_rows(); ++i) {
            const bool hit = static_cast<uint64_t>(s->Value(i)) <= op.blocks.end &&
                             static_cast<uint64_t>(e->Value(i)) >= op.blocks.start;
            keep[static_cast<size_t>(i)] = !hit;
          }
        } else {
          // Upsert: rows of the same key in other files go. This op's own files come
          // after it, so they are not yet live.
          std::vector<std::string> key_names = layout_->spec.key_columns;
          AMP_ASSIGN_OR_RETURN(auto key_rows, ReadLiveFile(table_dir, lf.add, *layout_, &key_names));
          std::vector<std::shared_ptr<arrow::Array>> key_columns;
          for (const auto& k : key_names) {
            AMP_ASSIGN_OR_RETURN(auto a, arrow::Concatenate(key_rows->GetColumnByName(k)->chunks()));
            key_columns.push_back(a);
          }
          AMP_ASSIGN_OR_RETURN(auto row_keys, RowKeys(key_columns, key_rows->num_rows()));
          keep.resize(row_keys.size());
          bool any = false;
          for (size_t i = 0; i < row_keys.size(); ++i) {
            keep[i] = op.keys->count(row_keys[i]) == 0;
            any |= !keep[i];
          }
          if (!any) continue;
          AMP_ASSIGN_OR_RETURN(rows, ReadLiveFile(table_dir, lf.add, *layout_));
        }
        const int64_t kept = std::count(keep.begin(), keep.end(), true);
        if (kept == rows->num_rows()) continue;
        drop(path);
        if (kept == 0) continue;
        AMP_ASSIGN_OR_RETURN(auto filtered, FilterTable(rows, keep));
        AMP_ASSIGN_OR_RETURN(auto written, WriteTableFiles(loader_->options(), table_dir, *layout_, filtered,
                                                           lf.add.partition_values, true));
        for (auto& w : written) {
          attempt_outputs.push_back(w.abs_path);
          live[w.add.path] = LiveFile{w.add, false, w.abs_path};
        }
      }
    }
    // Actions.
    std::vector<const LiveFile*> adds;
    for (const auto& [path, lf] : live) {
      if (!lf.committed) {
        adds.push_back(&lf);
        kept_pending.insert(lf.abs_path);
      }
    }
    const bool checkpoint_changes =
        checkpoint != nullptr &&
        (snap.domains.count(domain) == 0 || snap.domains.at(domain) != checkpoint_json);
    // Recorded only when it changes (the first rows, an undo that emptied the table).
    const std::string table_state = TableDomainJson(!live.empty(), snap.metadata);
    const bool table_state_changes =
        snap.domains.count(kTableDomain) == 0 || snap.domains.at(kTableDomain) != table_state;
    if (adds.empty() && removed_committed.empty() && !checkpoint_changes) {
      noop = true;
      return std::optional<std::string>();
    }
    const int64_t now = NowMillis();
    nlohmann::json info{{"timestamp", now},
                        {"operation", removed_committed.empty() ? "WRITE" : "MERGE"},
                        {"operationParameters", {{"mode", "Append"}}},
                        {"engineInfo", "ampsync"},
                        {"isBlindAppend", removed_committed.empty()}};
    if (checkpoint != nullptr) {
      info["amp"] = {{"stream_id", checkpoint->stream_id}, {"transaction_id", checkpoint->transaction_id}};
    }
    std::string text = nlohmann::json{{"commitInfo", info}}.dump() + "\n";
    if (checkpoint != nullptr) {
      text += nlohmann::json{{"txn",
                              {{"appId", checkpoint->stream_id},
                               {"version", static_cast<int64_t>(checkpoint->transaction_id)},
                               {"lastUpdated", now}}}}
                  .dump() +
              "\n";
      text += nlohmann::json{{"domainMetadata", {{"domain", domain}, {"configuration", checkpoint_json}, {"removed", false}}}}
                  .dump() +
              "\n";
    }
    if (table_state_changes) {
      text += nlohmann::json{{"domainMetadata",
                              {{"domain", kTableDomain}, {"configuration", table_state}, {"removed", false}}}}
                  .dump() +
              "\n";
    }
    for (const auto& [path, lf] : removed_committed) {
      text += DeltaLoaderImpl::RemoveAction(lf.add, now).dump() + "\n";
    }
    for (const auto* lf : adds) text += nlohmann::json{{"add", lf->add.ToJson()}}.dump() + "\n";
    return std::optional<std::string>(text);
  };

  bool committed = false;
  Status st;
  {
    // Sessions of this process take turns on the table; other processes race through
    // TryCommit's link().
    std::lock_guard<std::mutex> lock(state->mu);
    st = loader_->CommitWithRetry(*state, table, make, &committed);
  }
  if (!st.ok()) {
    cleanup_attempt();
    return st;  // The unit stays open for Abort(), which deletes its files.
  }
  // Files of the unit that did not make it into the version (undone within the unit, or
  // the whole unit was a replay) are deleted; the committed ones now belong to the table.
  for (const auto& op : ops_) {
    for (const auto& f : op.files) {
      if (!committed || kept_pending.count(f.abs_path) == 0) ::unlink(f.abs_path.c_str());
    }
  }
  if (!committed) {
    cleanup_attempt();
  } else {
    // Rewrites that a later op of the unit replaced again never made it into the version.
    for (const auto& p : attempt_outputs) {
      if (kept_pending.count(p) == 0) ::unlink(p.c_str());
    }
  }
  (void)noop;
  ops_.clear();
  open_ = false;
  if (committed) loader_->NoteWrittenTable(table);
  if (checkpoint != nullptr) loader_->NoteStreamTable(checkpoint->stream_id, table);
  return Status::OK();
}

void DeltaSession::Abort() {
  DiscardFiles();
  open_ = false;
  table_.clear();
}

Result<std::optional<StreamCheckpoint>> DeltaSession::LoadCheckpoint(const std::string& stream_id) {
  AMP_ASSIGN_OR_RETURN(auto all, loader_->AllCheckpoints(stream_id));
  auto it = all.find(stream_id);
  if (it == all.end()) return std::optional<StreamCheckpoint>();
  if (!open_) AMP_RETURN_NOT_OK(loader_->CheckProgress(it->second.second, stream_id));
  loader_->NoteStreamTable(stream_id, it->second.second);
  return std::optional<StreamCheckpoint>(it->second.first);
}

Result<std::vector<StreamCheckpoint>> DeltaSession::LoadCheckpoints(const std::string& prefix) {
  AMP_ASSIGN_OR_RETURN(auto all, loader_->AllCheckpoints(prefix));
  std::vector<StreamCheckpoint> out;
  std::set<std::string> checked;
  for (auto& [id, cp] : all) {
    if (!open_ && checked.insert(cp.second).second) {
      AMP_RETURN_NOT_OK(loader_->CheckProgress(cp.second, id));
    }
    out.push_back(cp.first);
  }
  return out;
}

// --- ReadRows and Optimize. ---

Result<std::shared_ptr<arrow::Table>> DeltaLoaderImpl::ReadRows(const TableSpec& spec, const BlockInterval& blocks) {
  AMP_RETURN_NOT_OK(CheckTableName(spec.name));
  const std::string where = Where(spec.name);
  if (spec.schema == nullptr) return Fatal(Status::Invalid("ReadRows of ", where, ": no schema"), "SCHEMA_MISMATCH");
  if (!HasLog(TableDir(spec.name))) return Fatal(Status::KeyError(where, " does not exist"), "NO_TABLE");
  auto state = State(spec.name);
  Snapshot snap;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    Status st = Refresh(state->dir, state->snapshot);
    if (!st.ok()) return IoErr(Status::IOError(where, ": cannot read the Delta log: ", st.message()));
    snap = state->snapshot;
  }
  // The query's columns (the _amp_ ones excluded), checked against the table.
  arrow::FieldVector out_fields;
  arrow::FieldVector wanted;
  for (const auto& f : spec.schema->fields()) {
    if (f->name() == kStartColumn || f->name() == kEndColumn) continue;
    out_fields.push_back(f);
    wanted.push_back(f);
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
  out_fields.push_back(arrow::field(kStartColumn, arrow::uint64(), false));
  auto out_schema = arrow::schema(out_fields);
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (const auto& [path, add] : snap.files) {
    if (FileOverlap(add, blocks) == Overlap::kNone && add.parsed.num_records != 0) continue;
    AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(state->dir, add, layout));
    if (rows->num_rows() == 0) continue;
    const auto* s = Int64Column(*rows, kStartColumn);
    const auto* e = Int64Column(*rows, kEndColumn);
    if (s == nullptr || e == nullptr) return Status::Invalid("file ", path, " lacks the _amp_ columns");
    std::vector<bool> keep(static_cast<size_t>(rows->num_rows()));
    bool all = true;
    for (int64_t i = 0; i < rows->num_rows(); ++i) {
      keep[static_cast<size_t>(i)] = static_cast<uint64_t>(s->Value(i)) <= blocks.end &&
                                     static_cast<uint64_t>(e->Value(i)) >= blocks.start;
      all &= keep[static_cast<size_t>(i)];
    }
    if (!all) {
      AMP_ASSIGN_OR_RETURN(rows, FilterTable(rows, keep));
    }
    if (rows->num_rows() == 0) continue;
    AMP_ASSIGN_OR_RETURN(rows, rows->CombineChunks());
    arrow::ArrayVector columns;
    for (int i = 0; i < layout.storage->num_fields(); ++i) {
      AMP_ASSIGN_OR_RETURN(auto array, arrow::Concatenate(rows->column(i)->chunks()));
      AMP_ASSIGN_OR_RETURN(auto back, FromStorage(array, read_spec.schema->field(i)->type()));
      columns.push_back(back);
    }
    AMP_ASSIGN_OR_RETURN(auto start, arrow::Concatenate(rows->GetColumnByName(kStartColumn)->chunks()));
    AMP_ASSIGN_OR_RETURN(auto start_u64, arrow::compute::Cast(start, arrow::uint64()));
    columns.push_back(start_u64.make_array());
    out.push_back(arrow::RecordBatch::Make(out_schema, rows->num_rows(), columns));
  }
  return arrow::Table::FromRecordBatches(out_schema, out);
}

Status DeltaLoaderImpl::Optimize(const std::string& table) {
  AMP_RETURN_NOT_OK(CheckTableName(table));
  const std::string where = Where(table);
  if (!HasLog(TableDir(table))) return Fatal(Status::KeyError(where, " does not exist"), "NO_TABLE");
  auto state = State(table);
  std::lock_guard<std::mutex> lock(state->mu);
  std::vector<std::string> outputs;
  auto cleanup = [&] {
    for (const auto& p : outputs) ::unlink(p.c_str());
    outputs.clear();
  };
  bool committed = false;
  Status st = CommitWithRetry(*state, table, [&](const Snapshot& snap) -> Result<std::optional<std::string>> {
    cleanup();
    // The table's own layout, from its schemaString (every column, storage types).
    AMP_ASSIGN_OR_RETURN(auto schema_json, snap.Schema());
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
    AMP_ASSIGN_OR_RETURN(auto layout, MakeLayout(spec, snap.PartitionColumns()));
    // Small files per partition, in block order.
    std::map<std::string, std::vector<const AddFile*>> groups;
    for (const auto& [path, add] : snap.files) {
      if (add.parsed.num_records >= 0 && add.parsed.num_records >= options_.target_file_rows / 2) continue;
      std::string key;
      for (const auto& [k, v] : add.partition_values) key += k + "=" + (v ? *v : "\x01") + "/";
      groups[key].push_back(&add);
    }
    std::string actions;
    const int64_t now = NowMillis();
    for (auto& [key, files] : groups) {
      if (files.size() < 2) continue;
      std::sort(files.begin(), files.end(), [](const AddFile* a, const AddFile* b) {
        return a->parsed.min_start.value_or(0) < b->parsed.min_start.value_or(0);
      });
      std::vector<std::shared_ptr<arrow::Table>> tables;
      for (const auto* add : files) {
        AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(state->dir, *add, layout));
        tables.push_back(rows);
        actions += RemoveAction(*add, now, /*data_change=*/false).dump() + "\n";
      }
      AMP_ASSIGN_OR_RETURN(auto merged, arrow::ConcatenateTables(tables));
      AMP_ASSIGN_OR_RETURN(auto written, WriteTableFiles(options_, state->dir, layout, merged,
                                                         files.front()->partition_values, false));
      for (auto& w : written) {
        outputs.push_back(w.abs_path);
        actions += nlohmann::json{{"add", w.add.ToJson()}}.dump() + "\n";
      }
    }
    if (actions.empty()) return std::optional<std::string>();
    return std::optional<std::string>(
        nlohmann::json{{"commitInfo",
                        {{"timestamp", now}, {"operation", "OPTIMIZE"}, {"engineInfo", "ampsync"},
                         {"operationParameters", {{"targetSize", options_.target_file_rows}}}}}}
            .dump() +
        "\n" + actions);
  }, &committed);
  if (!st.ok()) {
    cleanup();
    return st;
  }
  if (committed) {
    Status cp = WriteCheckpoint(state->dir, state->snapshot);
    if (!cp.ok()) std::cerr << "delta: checkpoint after optimize failed: " << cp.ToString() << "\n";
  }
  return Status::OK();
}

// --- Registration. ---

std::vector<OptionSpec> DeltaOptions() {
  return {
      {"root", OptionSpec::Type::kString, "", "Absolute directory holding one Delta table per destination table (<root>/<table>)", true},
      {"compression", OptionSpec::Type::kString, "zstd", "Parquet codec: zstd, snappy, gzip, lz4 or none", false},
      {"compression_level", OptionSpec::Type::kInt, "0", "Codec level (0: the codec's default; zstd's is 1)", false},
      {"target_file_rows", OptionSpec::Type::kInt, "1000000", "Rows per Parquet file before a new one starts; Optimize() merges files below half of it", false},
      {"row_group_rows", OptionSpec::Type::kInt, "65536", "Rows per Parquet row group (bounds the writer's memory)", false},
      {"partition_by", OptionSpec::Type::kString, "", "Comma-separated partition columns (integer, string, date, boolean or decimal); fixed at table creation", false},
      {"checkpoint_interval", OptionSpec::Type::kInt, "10", "Write a Delta checkpoint every N versions", false},
      {"optimize_after_load", OptionSpec::Type::kBool, "false", "Compact the tables this loader wrote once, when the loader closes (never per batch)", false},
      {"schema_evolution", OptionSpec::Type::kBool, "false", "Add the query's new nullable columns to an existing table (metaData update) instead of failing", false},
      {"write_threads", OptionSpec::Type::kBool, "true", "Encode a row group's columns in parallel (Arrow's writer threads)", false},
      {"max_commit_attempts", OptionSpec::Type::kInt, "200", "Optimistic-concurrency attempts per commit before a retryable error", false},
  };
}

Result<std::unique_ptr<DeltaLoader>> MakeDeltaLoader(const LoaderConfig& config) {
  AMP_ASSIGN_OR_RETURN(auto options, ParseOptions(config));
  return std::unique_ptr<DeltaLoader>(std::make_unique<DeltaLoaderImpl>(std::move(options)));
}

Result<LoaderConfig> ConfigFromUri(const std::string& uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) return Fatal(Status::Invalid("not a delta URI: ", uri), "BAD_URI");
  std::string rest = uri.substr(scheme_end + 3);
  LoaderConfig config;
  const size_t q = rest.find('?');
  std::string path = rest.substr(0, q);
  if (q != std::string::npos) {
    const std::string query = rest.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      if (amp == std::string::npos) amp = query.size();
      const std::string pair = query.substr(pos, amp - pos);
      if (!pair.empty()) {
        const size_t eq = pair.find('=');
        config[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
      }
      pos = amp + 1;
    }
  }
  // delta:///abs/path (empty host) or delta://localhost/abs/path.
  if (path.rfind("localhost/", 0) == 0) path = path.substr(9);
  if (path.empty() || path[0] != '/') {
    return Fatal(Status::Invalid("delta URI '", uri, "' must name an absolute local path: delta:///absolute/root"),
                 "BAD_URI");
  }
  config["root"] = path;
  return config;
}

}  // namespace delta

void RegisterDeltaLoader(LoaderRegistry& registry) {
  LoaderRegistry::Entry entry;
  entry.name = "delta";
  entry.description =
      "Delta Lake tables on the local file system (<root>/<table>): Parquet files from Arrow's "
      "writer and a Delta log written by ampsync; each commit is one Delta version carrying the "
      "resume checkpoint (txn + domainMetadata), undo rewrites only the affected files.";
  entry.options = delta::DeltaOptions();
  entry.factory = [](const LoaderConfig& config) -> Result<std::unique_ptr<Loader>> {
    AMP_ASSIGN_OR_RETURN(auto loader, delta::MakeDeltaLoader(config));
    return std::unique_ptr<Loader>(std::move(loader));
  };
  entry.uri_schemes = {"delta", "deltalake"};
  entry.from_uri = delta::ConfigFromUri;
  registry.Register(std::move(entry));
}

}  // namespace amp
