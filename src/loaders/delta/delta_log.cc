#include "loaders/delta/delta_log.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <fcntl.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "loaders/common/connection_uri.h"
#include "loaders/common/secrets.h"

namespace amp::delta {
namespace fs = std::filesystem;
namespace {

std::string LogDir(const std::string& table_dir) { return table_dir + "/_delta_log"; }

std::string Pad20(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(v));
  return buf;
}

Result<std::string> ReadFile(const std::string& path, bool* missing = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (missing != nullptr && errno == ENOENT) {
      *missing = true;
      return std::string();
    }
    return Status::IOError("cannot read ", path, ": ", std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Paths in actions are percent-encoded; one that is not validly encoded is taken as written.
std::string UrlDecode(const std::string& s) {
  auto decoded = loaders::PercentDecode(s, "a file path");
  return decoded.ok() ? *decoded : s;
}

// Every '%' that PercentEncode writes starts an escape, so "%2F" matches escapes only.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// Paths in actions keep their directory separators and Hive "column=value" parts readable.
std::string UrlEncodePath(const std::string& s) {
  return ReplaceAll(ReplaceAll(loaders::PercentEncode(s), "%2F", "/"), "%3D", "=");
}

FileStats ParseStats(const std::string& text) {
  FileStats stats;
  if (text.empty()) return stats;
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return stats;
  if (j.contains("numRecords") && j["numRecords"].is_number_integer()) {
    stats.num_records = j["numRecords"].get<int64_t>();
  }
  auto get = [&](const char* group, const char* column) -> std::optional<int64_t> {
    if (!j.contains(group) || !j[group].is_object()) return std::nullopt;
    const auto& g = j[group];
    if (!g.contains(column) || !g[column].is_number_integer()) return std::nullopt;
    return g[column].get<int64_t>();
  };
  stats.min_start = get("minValues", "_amp_block_start");
  stats.max_start = get("maxValues", "_amp_block_start");
  stats.min_end = get("minValues", "_amp_block_end");
  stats.max_end = get("maxValues", "_amp_block_end");
  return stats;
}

Status ApplyAction(Snapshot& snapshot, const nlohmann::json& action) {
  if (!action.is_object()) return Status::Invalid("Delta log action is not an object");
  if (action.contains("add") && action["add"].is_object()) {
    AMP_ASSIGN_OR_RETURN(auto add, AddFile::FromJson(action["add"]));
    snapshot.files[add.path] = std::move(add);
  } else if (action.contains("remove") && action["remove"].is_object()) {
    snapshot.files.erase(UrlDecode(action["remove"].value("path", "")));
  } else if (action.contains("metaData") && action["metaData"].is_object()) {
    snapshot.metadata = action["metaData"];
  } else if (action.contains("protocol") && action["protocol"].is_object()) {
    snapshot.protocol = action["protocol"];
  } else if (action.contains("txn") && action["txn"].is_object()) {
    const auto& txn = action["txn"];
    snapshot.txns[txn.value("appId", "")] = txn.value("version", int64_t{0});
  } else if (action.contains("domainMetadata") && action["domainMetadata"].is_object()) {
    const auto& d = action["domainMetadata"];
    const std::string domain = d.value("domain", "");
    if (d.value("removed", false)) {
      snapshot.domains.erase(domain);
    } else {
      snapshot.domains[domain] = d.value("configuration", "");
    }
  }
  return Status::OK();
}

// --- Checkpoint schema (a subset of the spec's columns; readers ignore absent ones). ---

std::shared_ptr<arrow::DataType> StringMap() {
  return arrow::map(arrow::utf8(), arrow::field("value", arrow::utf8(), true));
}

std::shared_ptr<arrow::Schema> CheckpointSchema() {
  using arrow::field;
  auto strings = arrow::list(field("element", arrow::utf8(), false));
  return arrow::schema({
      field("txn", arrow::struct_({field("appId", arrow::utf8(), false),
                                   field("version", arrow::int64(), false),
                                   field("lastUpdated", arrow::int64(), true)})),
      field("add", arrow::struct_({field("path", arrow::utf8(), false),
                                   field("partitionValues", StringMap(), false),
                                   field("size", arrow::int64(), false),
                                   field("modificationTime", arrow::int64(), false),
                                   field("dataChange", arrow::boolean(), false),
                                   field("stats", arrow::utf8(), true)})),
      field("remove", arrow::struct_({field("path", arrow::utf8(), false),
                                      field("deletionTimestamp", arrow::int64(), true),
                                      field("dataChange", arrow::boolean(), false)})),
      field("metaData",
            arrow::struct_({field("id", arrow::utf8(), false), field("name", arrow::utf8(), true),
                            field("description", arrow::utf8(), true),
                            field("format", arrow::struct_({field("provider", arrow::utf8(), false),
                                                            field("options", StringMap(), false)}),
                                  false),
                            field("schemaString", arrow::utf8(), false),
                            field("partitionColumns", strings, false),
                            field("createdTime", arrow::int64(), true),
                            field("configuration", StringMap(), false)})),
      field("protocol", arrow::struct_({field("minReaderVersion", arrow::int32(), false),
                                        field("minWriterVersion", arrow::int32(), false),
                                        field("readerFeatures", strings, true),
                                        field("writerFeatures", strings, true)})),
      field("domainMetadata", arrow::struct_({field("domain", arrow::utf8(), false),
                                              field("configuration", arrow::utf8(), false),
                                              field("removed", arrow::boolean(), false)})),
  });
}

// Appends JSON `value` to `builder` of `type` (null/absent -> null, or an empty value for
// a non-nullable slot).
Status AppendJson(arrow::ArrayBuilder& builder, const arrow::DataType& type,
                  const nlohmann::json* value, bool nullable) {
  if (value == nullptr || value->is_null()) {
    if (!nullable && type.id() == arrow::Type::MAP) {
      return static_cast<arrow::MapBuilder&>(builder).Append();  // empty map
    }
    if (!nullable && type.id() == arrow::Type::LIST) {
      return static_cast<arrow::ListBuilder&>(builder).Append();
    }
    if (!nullable && type.id() == arrow::Type::STRUCT) {
      auto& sb = static_cast<arrow::StructBuilder&>(builder);
      AMP_RETURN_NOT_OK(sb.Append());
      for (int i = 0; i < type.num_fields(); ++i) {
        AMP_RETURN_NOT_OK(AppendJson(*sb.field_builder(i), *type.field(i)->type(), nullptr,
                                     type.field(i)->nullable()));
      }
      return Status::OK();
    }
    if (!nullable) return builder.AppendEmptyValue();
    return builder.AppendNull();
  }
  switch (type.id()) {
    case arrow::Type::STRING:
      return static_cast<arrow::StringBuilder&>(builder).Append(
          value->is_string() ? value->get<std::string>() : value->dump());
    case arrow::Type::INT64:
      return static_cast<arrow::Int64Builder&>(builder).Append(value->get<int64_t>());
    case arrow::Type::INT32:
      return static_cast<arrow::Int32Builder&>(builder).Append(value->get<int32_t>());
    case arrow::Type::BOOL:
      return static_cast<arrow::BooleanBuilder&>(builder).Append(value->get<bool>());
    case arrow::Type::LIST: {
      auto& lb = static_cast<arrow::ListBuilder&>(builder);
      AMP_RETURN_NOT_OK(lb.Append());
      for (const auto& item : *value) {
        AMP_RETURN_NOT_OK(AppendJson(*lb.value_builder(), *type.field(0)->type(), &item,
                                     type.field(0)->nullable()));
      }
      return Status::OK();
    }
    case arrow::Type::MAP: {
      auto& mb = static_cast<arrow::MapBuilder&>(builder);
      AMP_RETURN_NOT_OK(mb.Append());
      for (const auto& [k, v] : value->items()) {
        AMP_RETURN_NOT_OK(static_cast<arrow::StringBuilder&>(*mb.key_builder()).Append(k));
        if (v.is_null()) {
          AMP_RETURN_NOT_OK(mb.item_builder()->AppendNull());
        } else {
          AMP_RETURN_NOT_OK(static_cast<arrow::StringBuilder&>(*mb.item_builder())
                                .Append(v.is_string() ? v.get<std::string>() : v.dump()));
        }
      }
      return Status::OK();
    }
    case arrow::Type::STRUCT: {
      auto& sb = static_cast<arrow::StructBuilder&>(builder);
      AMP_RETURN_NOT_OK(sb.Append());
      for (int i = 0; i < type.num_fields(); ++i) {
        const auto& f = type.field(i);
        const nlohmann::json* child = value->contains(f->name()) ? &(*value)[f->name()] : nullptr;
        AMP_RETURN_NOT_OK(AppendJson(*sb.field_builder(i), *f->type(), child, f->nullable()));
      }
      return Status::OK();
    }
    default:
      return Status::NotImplemented("checkpoint column type ", type.ToString());
  }
}

// The JSON of row `i` of `array` (the inverse of AppendJson).
nlohmann::json ValueToJson(const arrow::Array& array, int64_t i) {
  if (array.IsNull(i)) return nullptr;
  switch (array.type_id()) {
    case arrow::Type::STRING:
      return static_cast<const arrow::StringArray&>(array).GetString(i);
    case arrow::Type::LARGE_STRING:
      return static_cast<const arrow::LargeStringArray&>(array).GetString(i);
    case arrow::Type::INT64:
      return static_cast<const arrow::Int64Array&>(array).Value(i);
    case arrow::Type::INT32:
      return static_cast<const arrow::Int32Array&>(array).Value(i);
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanArray&>(array).Value(i);
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(array);
      nlohmann::json out = nlohmann::json::array();
      for (int64_t j = list.value_offset(i); j < list.value_offset(i + 1); ++j) {
        out.push_back(ValueToJson(*list.values(), j));
      }
      return out;
    }
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapArray&>(array);
      nlohmann::json out = nlohmann::json::object();
      for (int64_t j = map.value_offset(i); j < map.value_offset(i + 1); ++j) {
        auto key = ValueToJson(*map.keys(), j);
        if (key.is_string()) out[key.get<std::string>()] = ValueToJson(*map.items(), j);
      }
      return out;
    }
    case arrow::Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(array);
      nlohmann::json out = nlohmann::json::object();
      for (int f = 0; f < st.num_fields(); ++f) {
        auto child = st.field(f);
        out[st.type()->field(f)->name()] = ValueToJson(*child, i);
      }
      return out;
    }
    default:
      return nullptr;
  }
}

Status LoadCheckpoint(const std::string& table_dir, int64_t version, Snapshot& snapshot) {
  const std::string path = LogDir(table_dir) + "/" + Pad20(version) + ".checkpoint.parquet";
  AMP_ASSIGN_OR_RETURN(auto file, arrow::io::ReadableFile::Open(path));
  AMP_ASSIGN_OR_RETURN(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
  AMP_ASSIGN_OR_RETURN(auto table, reader->ReadTable());
  AMP_ASSIGN_OR_RETURN(table, table->CombineChunks());
  for (int c = 0; c < table->num_columns(); ++c) {
    const std::string name = table->schema()->field(c)->name();
    if (name != "add" && name != "metaData" && name != "protocol" && name != "txn" &&
        name != "domainMetadata") {
      continue;
    }
    for (const auto& chunk : table->column(c)->chunks()) {
      for (int64_t i = 0; i < chunk->length(); ++i) {
        if (chunk->IsNull(i)) continue;
        AMP_RETURN_NOT_OK(ApplyAction(snapshot, nlohmann::json{{name, ValueToJson(*chunk, i)}}));
      }
    }
  }
  snapshot.version = version;
  snapshot.last_checkpoint = version;
  return Status::OK();
}

std::string RandomSuffix() { return RandomHex(16); }

Status WriteWhole(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IOError("cannot write ", path, ": ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("cannot fsync ", path, ": ", std::strerror(err));
  }
  ::close(fd);
  return Status::OK();
}

}  // namespace

std::string RandomHex(int digits) {
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

std::string EncodePartitionValue(const std::string& value) {
  return ReplaceAll(loaders::PercentEncode(value), "~", "%7E");
}

CommitInfo MakeCommitInfo(std::string operation, nlohmann::json operation_parameters) {
  CommitInfo info;
  info.operation = std::move(operation);
  info.operation_parameters = std::move(operation_parameters);
  info.timestamp = NowMillis();
  return info;
}

nlohmann::json WriterProtocol() {
  return {{"minReaderVersion", 1}, {"minWriterVersion", 7}, {"writerFeatures", {"domainMetadata"}}};
}

std::string DeltaTransaction::ToText() const {
  std::string text;
  auto line = [&](const char* kind, nlohmann::json body) {
    text += nlohmann::json{{kind, std::move(body)}}.dump();
    text += '\n';
  };
  nlohmann::json info{{"timestamp", commit_info.timestamp},
                      {"operation", commit_info.operation},
                      {"engineInfo", commit_info.engine_info}};
  if (!commit_info.operation_parameters.is_null()) {
    info["operationParameters"] = commit_info.operation_parameters;
  }
  if (commit_info.is_blind_append) info["isBlindAppend"] = *commit_info.is_blind_append;
  if (!commit_info.amp.is_null()) info["amp"] = commit_info.amp;
  line("commitInfo", std::move(info));
  if (!protocol.is_null()) line("protocol", protocol);
  if (!metadata.is_null()) line("metaData", metadata);
  if (txn) {
    nlohmann::json body{{"appId", txn->app_id}, {"version", txn->version}};
    if (txn->last_updated) body["lastUpdated"] = *txn->last_updated;
    line("txn", std::move(body));
  }
  for (const auto& d : domains) {
    line("domainMetadata", {{"domain", d.domain}, {"configuration", d.configuration}, {"removed", d.removed}});
  }
  for (const auto& r : removes) {
    auto add = r.file.ToJson();
    line("remove", {{"path", add["path"]},
                    {"deletionTimestamp", r.deletion_timestamp},
                    {"dataChange", r.data_change},
                    {"extendedFileMetadata", true},
                    {"partitionValues", add["partitionValues"]},
                    {"size", r.file.size}});
  }
  for (const auto& a : adds) line("add", a.ToJson());
  return text;
}

void ApplyTransaction(Snapshot& snapshot, const DeltaTransaction& transaction) {
  if (!transaction.protocol.is_null()) snapshot.protocol = transaction.protocol;
  if (!transaction.metadata.is_null()) snapshot.metadata = transaction.metadata;
  if (transaction.txn) snapshot.txns[transaction.txn->app_id] = transaction.txn->version;
  for (const auto& d : transaction.domains) {
    if (d.removed) {
      snapshot.domains.erase(d.domain);
    } else {
      snapshot.domains[d.domain] = d.configuration;
    }
  }
  for (const auto& r : transaction.removes) snapshot.files.erase(r.file.path);
  for (const auto& a : transaction.adds) snapshot.files[a.path] = a;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json AddFile::ToJson() const {
  nlohmann::json pv = nlohmann::json::object();
  for (const auto& [k, v] : partition_values) {
    pv[k] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  }
  nlohmann::json add{{"path", UrlEncodePath(path)},
                     {"partitionValues", pv},
                     {"size", size},
                     {"modificationTime", modification_time},
                     {"dataChange", data_change}};
  if (!stats.empty()) add["stats"] = stats;
  return add;
}

Result<AddFile> AddFile::FromJson(const nlohmann::json& add) {
  AddFile file;
  if (!add.contains("path") || !add["path"].is_string()) {
    return Status::Invalid("add action without a path");
  }
  file.path = UrlDecode(add["path"].get<std::string>());
  if (add.contains("partitionValues") && add["partitionValues"].is_object()) {
    for (const auto& [k, v] : add["partitionValues"].items()) {
      file.partition_values[k] =
          v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
    }
  }
  if (add.contains("size") && add["size"].is_number_integer()) file.size = add["size"].get<int64_t>();
  if (add.contains("modificationTime") && add["modificationTime"].is_number_integer()) {
    file.modification_time = add["modificationTime"].get<int64_t>();
  }
  if (add.contains("dataChange") && add["dataChange"].is_boolean()) {
    file.data_change = add["dataChange"].get<bool>();
  }
  if (add.contains("stats") && add["stats"].is_string()) {
    file.stats = add["stats"].get<std::string>();
    file.parsed = ParseStats(file.stats);
  }
  return file;
}

Result<nlohmann::json> Snapshot::Schema() const {
  if (!metadata.is_object() || !metadata.contains("schemaString")) return nlohmann::json();
  auto schema = nlohmann::json::parse(metadata["schemaString"].get<std::string>(), nullptr, false);
  if (schema.is_discarded()) return Status::Invalid("the table's schemaString is not JSON");
  return schema;
}

std::vector<std::string> Snapshot::PartitionColumns() const {
  std::vector<std::string> out;
  if (metadata.is_object() && metadata.contains("partitionColumns")) {
    for (const auto& c : metadata["partitionColumns"]) out.push_back(c.get<std::string>());
  }
  return out;
}

std::string VersionPath(const std::string& log_dir, int64_t v) {
  return log_dir + "/" + Pad20(v) + ".json";
}

Status ApplyCommit(Snapshot& snapshot, const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto action = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (action.is_discarded()) return Status::Invalid("a Delta log line is not JSON: ", line.substr(0, 200));
    AMP_RETURN_NOT_OK(ApplyAction(snapshot, action));
  }
  return Status::OK();
}

bool HasLog(const std::string& table_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(LogDir(table_dir), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= 25 && name.find_first_not_of("0123456789") == 20 &&
        (name.substr(20) == ".json" || name.find(".checkpoint") == 20)) {
      return true;
    }
  }
  return false;
}

Status Refresh(const std::string& table_dir, Snapshot& snapshot) {
  const std::string log_dir = LogDir(table_dir);
  if (snapshot.version >= 0) {
    // The table was dropped (and maybe re-created) behind our back: start over.
    struct stat info {};
    if (::stat(VersionPath(log_dir, snapshot.version).c_str(), &info) != 0 &&
        ::stat((log_dir + "/" + Pad20(snapshot.version) + ".checkpoint.parquet").c_str(), &info) != 0) {
      snapshot = Snapshot{};
    }
  }
  if (snapshot.version < 0) {
    // Start from the newest checkpoint: _last_checkpoint, else a directory listing (a
    // crash may have written the checkpoint but not yet _last_checkpoint).
    int64_t cp = -1;
    bool missing = false;
    AMP_ASSIGN_OR_RETURN(auto last, ReadFile(log_dir + "/_last_checkpoint", &missing));
    if (!missing) {
      auto j = nlohmann::json::parse(last, nullptr, false);
      if (j.is_object() && j.contains("version") && j["version"].is_number_integer()) {
        cp = j["version"].get<int64_t>();
      }
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() == 20 + 19 && name.substr(20) == ".checkpoint.parquet" &&
          name.find_first_not_of("0123456789") == 20) {
        cp = std::max<int64_t>(cp, std::stoll(name.substr(0, 20)));
      }
    }
    if (cp >= 0) {
      Snapshot from_cp;
      if (LoadCheckpoint(table_dir, cp, from_cp).ok()) snapshot = std::move(from_cp);
    }
  }
  while (true) {
    bool missing = false;
    AMP_ASSIGN_OR_RETURN(auto text, ReadFile(VersionPath(log_dir, snapshot.version + 1), &missing));
    if (missing) break;
    AMP_RETURN_NOT_OK(ApplyCommit(snapshot, text));
    ++snapshot.version;
  }
  return Status::OK();
}

Result<bool> TryCommit(const std::string& table_dir, int64_t version,
                       const DeltaTransaction& transaction) {
  const std::string log_dir = LogDir(table_dir);
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) return Status::IOError("cannot create ", log_dir, ": ", ec.message());
  const std::string tmp = log_dir + "/.tmp-" + Pad20(version) + "-" + RandomSuffix() + ".json";
  AMP_RETURN_NOT_OK(WriteWhole(tmp, transaction.ToText()));
  const std::string target = VersionPath(log_dir, version);
  // link() never replaces: exactly one writer gets each version.
  const int rc = ::link(tmp.c_str(), target.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return false;
    return Status::IOError("cannot create ", target, ": ", std::strerror(err));
  }
  // Make the new directory entry durable.
  const int dfd = ::open(log_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

Status WriteCheckpoint(const std::string& table_dir, const Snapshot& snapshot) {
  if (snapshot.version < 0) return Status::OK();
  auto schema = CheckpointSchema();
  std::unique_ptr<arrow::RecordBatchBuilder> builder;
  AMP_ASSIGN_OR_RETURN(builder, arrow::RecordBatchBuilder::Make(schema, arrow::default_memory_pool()));
  int64_t rows = 0;
  auto add_row = [&](const std::string& column, const nlohmann::json& value) -> Status {
    for (int c = 0; c < schema->num_fields(); ++c) {
      const auto& f = schema->field(c);
      const nlohmann::json* v = f->name() == column ? &value : nullptr;
      AMP_RETURN_NOT_OK(AppendJson(*builder->GetField(c), *f->type(), v, /*nullable=*/true));
    }
    ++rows;
    return Status::OK();
  };
  AMP_RETURN_NOT_OK(add_row("protocol", snapshot.protocol));
  AMP_RETURN_NOT_OK(add_row("metaData", snapshot.metadata));
  for (const auto& [app, version] : snapshot.txns) {
    AMP_RETURN_NOT_OK(add_row("txn", nlohmann::json{{"appId", app}, {"version", version}}));
  }
  for (const auto& [domain, config] : snapshot.domains) {
    AMP_RETURN_NOT_OK(add_row("domainMetadata", nlohmann::json{{"domain", domain},
                                                               {"configuration", config},
                                                               {"removed", false}}));
  }
  for (const auto& [path, file] : snapshot.files) {
    auto add = file.ToJson();
    add["dataChange"] = false;
    AMP_RETURN_NOT_OK(add_row("add", add));
  }
  AMP_ASSIGN_OR_RETURN(auto batch, builder->Flush());
  const std::string log_dir = LogDir(table_dir);
  const std::string final_path = log_dir + "/" + Pad20(snapshot.version) + ".checkpoint.parquet";
  const std::string tmp = log_dir + "/.tmp-cp-" + RandomSuffix() + ".parquet";
  {
    AMP_ASSIGN_OR_RETURN(auto out, arrow::io::FileOutputStream::Open(tmp));
    auto props = parquet::WriterProperties::Builder().compression(parquet::Compression::SNAPPY)->build();
    AMP_ASSIGN_OR_RETURN(auto writer, parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(),
                                                                       out, props));
    AMP_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    AMP_RETURN_NOT_OK(writer->Close());
    AMP_RETURN_NOT_OK(out->Close());
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::IOError("cannot create ", final_path, ": ", std::strerror(err));
  }
  const nlohmann::json last{{"version", snapshot.version}, {"size", rows}};
  const std::string last_tmp = log_dir + "/.tmp-lc-" + RandomSuffix();
  AMP_RETURN_NOT_OK(WriteWhole(last_tmp, last.dump()));
  if (::rename(last_tmp.c_str(), (log_dir + "/_last_checkpoint").c_str()) != 0) {
    const int err = errno;
    ::unlink(last_tmp.c_str());
    return Status::IOError("cannot update _last_checkpoint: ", std::strerror(err));
  }
  return Status::OK();
}

}  // namespace amp::delta
