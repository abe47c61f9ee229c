#include "loaders/redis/redis_loader.h"

#include <arrow/api.h>
#include <arrow/util/ubsan.h>
#include <hiredis/hiredis.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "loaders/common/names.h"
#include "loaders/redis/redis_client.h"
#include "loaders/redis/redis_codec.h"

namespace amp {
namespace redis {
namespace {

constexpr const char* kLoaderName = "redis";
constexpr const char* kBlockStart = "_amp_block_start";
constexpr const char* kBlockEnd = "_amp_block_end";
// Keys per type-check script call and per pipelined read in ReadRows.
constexpr size_t kCheckChunk = 1000;
constexpr size_t kReadChunk = 1000;
constexpr size_t kTruncateChunk = 1000;

// Deletes the rows of one table whose block span intersects [ARGV[4], ARGV[5]] ("inf":
// unbounded), found through the block index, never by scanning the keyspace. The index
// `idx` scores each member with the row's last block; `idxs` holds the first block of the
// members whose span has more than one block. ARGV[6] > 0 limits the members visited (the
// chunked Truncate, with an unbounded end only).
constexpr const char* kUndoScript = R"lua(
local idx, idxs, kind = ARGV[1], ARGV[2], ARGV[3]
local b_inf = ARGV[5] == 'inf'
local b = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local has_starts = redis.call('EXISTS', idxs) == 1
local upper = '+inf'
if (not b_inf) and (not has_starts) then upper = ARGV[5] end
local res
if limit > 0 then
  res = redis.call('ZRANGEBYSCORE', idx, ARGV[4], upper, 'WITHSCORES', 'LIMIT', 0, limit)
else
  res = redis.call('ZRANGEBYSCORE', idx, ARGV[4], upper, 'WITHSCORES')
end
local n = 0
for i = 1, #res, 2 do
  local m = res[i]
  local drop = true
  if (not b_inf) and has_starts then
    local s = redis.call('ZSCORE', idxs, m)
    if not s then s = res[i + 1] end
    drop = tonumber(s) <= b
  end
  if drop then
    if kind == 'hash' or kind == 'string' then
      redis.call('DEL', m)
    else
      local colon = string.find(m, ':', 1, true)
      local len = tonumber(string.sub(m, 1, colon - 1))
      local key = string.sub(m, colon + 1, colon + len)
      local elem = string.sub(m, colon + len + 1)
      if kind == 'set' then redis.call('SREM', key, elem)
      elseif kind == 'sorted_set' then redis.call('ZREM', key, elem)
      elseif kind == 'list' then redis.call('LREM', key, 1, elem)
      elseif kind == 'stream' then redis.call('XDEL', key, elem) end
    end
    redis.call('ZREM', idx, m)
    if has_starts then redis.call('ZREM', idxs, m) end
    n = n + 1
  end
end
return n
)lua";

// XADD with a server-made id, and the index entry for it, in one step.
// ARGV: stream key, idx, idxs ('' when the span is one block), last block, first block,
// field, value, ...
constexpr const char* kXaddScript = R"lua(
local id = redis.call('XADD', ARGV[1], '*', unpack(ARGV, 6))
local m = string.len(ARGV[1]) .. ':' .. ARGV[1] .. id
redis.call('ZADD', ARGV[2], ARGV[4], m)
if ARGV[3] ~= '' then redis.call('ZADD', ARGV[3], ARGV[5], m) end
return id
)lua";

// Returns {key, type} for the first key (ARGV[2..]) holding a type other than ARGV[1].
constexpr const char* kTypeCheckScript = R"lua(
for i = 2, #ARGV do
  local t = redis.call('TYPE', ARGV[i])['ok']
  if t ~= 'none' and t ~= ARGV[1] then return {ARGV[i], t} end
end
return false
)lua";

// After a unit that undid rows of a table and added none: does the table still hold rows
// (its block index is not empty)? KEYS: the description, the block index.
constexpr const char* kRowsFlagScript =
    "redis.call('HSET', KEYS[1], 'rows', redis.call('ZCARD', KEYS[2]) > 0 and '1' or '0') "
    "return 1";

std::string NewTableId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

enum class Structure { kHash, kString, kStream, kSet, kSortedSet, kList };

const char* StructureName(Structure s) {
  switch (s) {
    case Structure::kHash: return "hash";
    case Structure::kString: return "string";
    case Structure::kStream: return "stream";
    case Structure::kSet: return "set";
    case Structure::kSortedSet: return "sorted_set";
    case Structure::kList: return "list";
  }
  return "?";
}

// The Redis TYPE of the keys holding rows (or collections of rows).
const char* RedisType(Structure s) {
  switch (s) {
    case Structure::kHash: return "hash";
    case Structure::kString: return "string";
    case Structure::kStream: return "stream";
    case Structure::kSet: return "set";
    case Structure::kSortedSet: return "zset";
    case Structure::kList: return "list";
  }
  return "?";
}

Result<Structure> StructureFromName(const std::string& name) {
  for (Structure s : {Structure::kHash, Structure::kString, Structure::kStream, Structure::kSet,
                      Structure::kSortedSet, Structure::kList}) {
    if (name == StructureName(s)) return s;
  }
  return FatalError("[redis] option 'data_structure' must be one of hash, string, stream, set, "
                    "sorted_set, list; got \"" + name + "\"",
                    "config");
}

bool KeyPerRow(Structure s) { return s == Structure::kHash || s == Structure::kString; }

struct Settings {
  ConnectOptions connect;
  std::string prefix;
  Structure structure = Structure::kHash;
  std::string key_pattern;  // empty: the default for the structure and mode
  int64_t ttl = 0;
  int pipeline = 1000;
  std::string score_column;
};

std::string Option(const LoaderConfig& config, const std::string& name) {
  if (auto it = config.find(name); it != config.end()) return it->second;
  for (const auto& spec : RedisOptions()) {
    if (spec.name == name) return spec.default_value;
  }
  return "";
}

Result<int64_t> IntOption(const LoaderConfig& config, const std::string& name, int64_t min,
                          int64_t max) {
  const std::string text = Option(config, name);
  int64_t value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || value < min || value > max) {
    return FatalError("[redis] option '" + name + "' must be an integer in [" +
                          std::to_string(min) + ", " + std::to_string(max) + "], got \"" + text +
                          "\"",
                      "config");
  }
  return value;
}

Result<Settings> SettingsFromConfig(const LoaderConfig& config) {
  Settings s;
  s.connect.host = Option(config, "host");
  if (s.connect.host.empty()) return FatalError("[redis] option 'host' is empty", "config");
  AMP_ASSIGN_OR_RETURN(int64_t port, IntOption(config, "port", 1, 65535));
  s.connect.port = static_cast<int>(port);
  AMP_ASSIGN_OR_RETURN(int64_t db, IntOption(config, "db", 0, 1 << 20));
  s.connect.db = static_cast<int>(db);
  s.connect.user = Option(config, "user");
  // "env:" references were resolved by the registry (loaders/common/secrets.h).
  s.connect.password = Option(config, "password");
  s.connect.client_name = Option(config, "client_name");
  for (char c : s.connect.client_name) {
    if (c <= ' ' || c > '~') {
      return FatalError("[redis] option 'client_name' must not contain spaces", "config");
    }
  }
  AMP_ASSIGN_OR_RETURN(int64_t ct, IntOption(config, "connect_timeout", 1, 3600));
  s.connect.connect_timeout = std::chrono::seconds(ct);
  AMP_ASSIGN_OR_RETURN(int64_t st, IntOption(config, "socket_timeout", 0, 86400));
  s.connect.socket_timeout = std::chrono::seconds(st);
  s.prefix = Option(config, "prefix");
  AMP_ASSIGN_OR_RETURN(s.structure, StructureFromName(Option(config, "data_structure")));
  s.key_pattern = Option(config, "key_pattern");
  AMP_ASSIGN_OR_RETURN(s.ttl, IntOption(config, "ttl", 0, int64_t{1} << 40));
  AMP_ASSIGN_OR_RETURN(int64_t pipeline, IntOption(config, "pipeline", 1, 1'000'000));
  s.pipeline = static_cast<int>(pipeline);
  s.score_column = Option(config, "score_column");
  return s;
}

std::string Decimal(uint64_t v) { return std::to_string(v); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The `format` of a table description: how its hash/stream fields encode binaries. Tables
// created before format 2 (no field, or "1") keep hex, so a table never mixes the two.
constexpr const char* kCurrentFormat = "2";

Result<BinaryForm> BinaryFormOf(const std::map<std::string, std::string>& meta,
                                const std::string& table) {
  auto it = meta.find("format");
  if (it == meta.end() || it->second == "1") return BinaryForm::kHex;
  if (it->second == "2") return BinaryForm::kRaw;
  return FatalError("[redis] table '" + table + "' has description format " + it->second +
                        ", which this ampsync does not know (it reads formats 1 and 2)",
                    "schema");
}

// --- What EnsureTable learned about a table (shared read-only with sessions). ---

struct TableInfo {
  TableSpec spec;
  Structure structure = Structure::kHash;
  KeyPattern pattern;
  int score_column = -1;  // sorted_set: column giving the score; -1: the first block
  // Binaries in hash/stream fields: the table's stored `format` (1: hex, 2: raw bytes).
  BinaryForm binary = BinaryForm::kRaw;
  // Keys.
  std::string meta, idx, idxs, seq, streams_of_table;
  // The `id` field of the description: random, written when the table is created, so a
  // checkpoint can tell its table from a dropped and recreated one of the same name.
  std::string id;
};

struct Shared {
  explicit Shared(Settings s) : settings(std::move(s)) {}
  const Settings settings;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const TableInfo>> tables;  // guarded by mu
  std::string undo_sha, xadd_sha, typecheck_sha;                   // guarded by mu

  std::string Key(const std::string& suffix) const { return settings.prefix + suffix; }
  std::string MetaKey(const std::string& t) const { return Key("amp:table:" + t); }
  std::string IdxKey(const std::string& t) const { return Key("amp:idx:" + t); }
  std::string IdxsKey(const std::string& t) const { return Key("amp:idxs:" + t); }
  std::string SeqKey(const std::string& t) const { return Key("amp:seq:" + t); }
  std::string TableStreamsKey(const std::string& t) const { return Key("amp:table_streams:" + t); }
  std::string StateKey(const std::string& sid) const { return Key("amp:state:" + sid); }
  /// Hash: table -> the table's `id` when the stream's checkpoint last wrote it.
  std::string StateTablesKey(const std::string& sid) const { return Key("amp:state_tables:" + sid); }
  std::string StreamsKey() const { return Key("amp:streams"); }
  std::string TablesKey() const { return Key("amp:tables"); }
  std::string Target() const { return settings.connect.Target(); }

  std::shared_ptr<const TableInfo> Find(const std::string& table) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tables.find(table);
    return it == tables.end() ? nullptr : it->second;
  }
};

// Loads the scripts on `conn` (idempotent) and remembers their SHA1s.
Status LoadScripts(Shared& shared, RedisConnection& conn) {
  std::string buf;
  AppendCommand(&buf, {"SCRIPT", "LOAD", kUndoScript});
  AppendCommand(&buf, {"SCRIPT", "LOAD", kXaddScript});
  AppendCommand(&buf, {"SCRIPT", "LOAD", kTypeCheckScript});
  AMP_RETURN_NOT_OK(conn.AppendRaw(buf));
  std::string shas[3];
  for (auto& sha : shas) {
    AMP_ASSIGN_OR_RETURN(auto reply, conn.ReadReply("SCRIPT LOAD"));
    if (IsError(*reply)) return conn.ServerError(ReplyText(*reply), "SCRIPT LOAD");
    sha = std::string(ReplyText(*reply));
  }
  std::lock_guard<std::mutex> lock(shared.mu);
  shared.undo_sha = shas[0];
  shared.xadd_sha = shas[1];
  shared.typecheck_sha = shas[2];
  return Status::OK();
}

Result<std::unique_ptr<RedisConnection>> Connect(Shared& shared) {
  AMP_ASSIGN_OR_RETURN(auto conn, RedisConnection::Connect(shared.settings.connect));
  AMP_RETURN_NOT_OK(LoadScripts(shared, *conn));
  return conn;
}

// The columns of a table as stored in its description: [{"name":..,"type":..}, ...].
std::string ColumnsJson(const arrow::Schema& schema) {
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& f : schema.fields()) {
    cols.push_back({{"name", f->name()}, {"type", f->type()->ToString()}});
  }
  return cols.dump();
}

Result<std::map<std::string, std::string>> HashToMap(const redisReply& reply) {
  std::map<std::string, std::string> out;
  if (reply.type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < reply.elements; i += 2) {
    out[std::string(ReplyText(*reply.element[i]))] = std::string(ReplyText(*reply.element[i + 1]));
  }
  return out;
}

Status IncompatibleTable(const Shared& shared, const std::string& table, const std::string& why) {
  return FatalError("[redis] table '" + table + "' at " + shared.Target() +
                        " exists and is incompatible with the query: " + why +
                        "; nothing was changed",
                    "schema");
}

// Compares the stored description with `spec`; an error names the first differing column.
Status CheckExisting(const Shared& shared, const TableSpec& spec,
                     const std::map<std::string, std::string>& meta, Structure structure) {
  auto it = meta.find("data_structure");
  if (it != meta.end() && it->second != StructureName(structure)) {
    return IncompatibleTable(shared, spec.name,
                             "it is stored as data_structure=" + it->second +
                                 ", the loader is configured for " + StructureName(structure));
  }
  it = meta.find("columns");
  if (it == meta.end()) return IncompatibleTable(shared, spec.name, "its description has no columns");
  auto cols = nlohmann::json::parse(it->second, nullptr, false);
  if (cols.is_discarded() || !cols.is_array()) {
    return IncompatibleTable(shared, spec.name, "its description is unreadable");
  }
  std::map<std::string, std::string> stored;
  for (const auto& c : cols) {
    if (!c.is_object() || !c.contains("name") || !c.contains("type")) continue;
    stored[c["name"].get<std::string>()] = c["type"].get<std::string>();
  }
  std::set<std::string> seen;
  for (const auto& f : spec.schema->fields()) {
    seen.insert(f->name());
    auto s = stored.find(f->name());
    if (s == stored.end()) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + f->name() + "' (" + f->type()->ToString() +
                                   ") is not in the existing table");
    }
    if (s->second != f->type()->ToString()) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + f->name() + "' is stored as " + s->second +
                                   ", the query has " + f->type()->ToString());
    }
  }
  for (const auto& [name, type] : stored) {
    if (!seen.count(name)) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + name + "' (" + type + ") of the existing table is "
                               "not produced by the query");
    }
  }
  return Status::OK();
}

Status ValidateSpec(const Settings& settings, const TableSpec& spec, TableInfo* info) {
  auto fatal = [&](const std::string& why) {
    return FatalError("[redis] table '" + spec.name + "': " + why, "spec");
  };
  // The shared name rule (loaders/common/names.h): empty, control characters, our
  // reserved columns, duplicates.
  AMP_RETURN_NOT_OK(loaders::CheckNames(loaders::RedisNameRules(), spec));
  if (spec.schema == nullptr) return fatal("no schema");
  std::set<std::string> names;
  for (const auto& f : spec.schema->fields()) {
    names.insert(f->name());
    Status st = CheckSupportedType(*f->type());
    if (!st.ok()) return fatal("column '" + f->name() + "': " + st.message());
  }
  if (!spec.block_column.empty()) {
    auto f = spec.schema->GetFieldByName(spec.block_column);
    if (f == nullptr) return fatal("block column '" + spec.block_column + "' is not a column");
    const auto id = f->type()->id();
    if (id != arrow::Type::UINT64 && id != arrow::Type::INT64 && id != arrow::Type::UINT32 &&
        id != arrow::Type::INT32) {
      return fatal("block column '" + spec.block_column + "' has type " + f->type()->ToString() +
                   ", expected UInt64 (or Int64/UInt32/Int32)");
    }
  }
  info->structure = settings.structure;
  const bool upsert = spec.mode == LoadMode::kUpsert;
  if (upsert) {
    if (!KeyPerRow(settings.structure)) {
      return fatal(std::string("mode upsert needs data_structure hash or string (rows of a ") +
                   StructureName(settings.structure) + " have no key of their own)");
    }
    if (spec.key_columns.empty()) return fatal("mode upsert needs key_columns");
    for (const auto& k : spec.key_columns) {
      if (!names.count(k)) return fatal("key column '" + k + "' is not a column");
    }
  }
  std::string pattern = settings.key_pattern;
  if (pattern.empty()) {
    if (!KeyPerRow(settings.structure)) {
      pattern = "{table}";
    } else if (upsert) {
      pattern = "{table}";
      for (const auto& k : spec.key_columns) pattern += ":{" + k + "}";
    } else {
      pattern = "{table}:{_amp_block_start}:{_amp_seq}";
    }
  }
  auto parsed = KeyPattern::Parse(pattern, *spec.schema, spec.name);
  if (!parsed.ok()) return fatal(parsed.status().message());
  info->pattern = std::move(*parsed);
  if (upsert) {
    for (const auto& k : spec.key_columns) {
      if (!info->pattern.UsesColumn(k)) {
        return fatal("key_pattern '" + pattern + "' must contain every upsert key column; {" + k +
                     "} is missing");
      }
    }
    if (info->pattern.Uses(KeyPattern::Source::kSeq)) {
      return fatal("key_pattern '" + pattern + "' uses {_amp_seq}, which never repeats: upserts "
                   "need a key made of the key columns");
    }
  }
  if (settings.structure == Structure::kSortedSet && !settings.score_column.empty()) {
    const int i = spec.schema->GetFieldIndex(settings.score_column);
    if (i < 0) return fatal("score_column '" + settings.score_column + "' is not a column");
    const auto& t = *spec.schema->field(i)->type();
    if (!arrow::is_integer(t.id()) && !arrow::is_floating(t.id())) {
      return fatal("score_column '" + settings.score_column + "' has type " + t.ToString() +
                   ", expected an integer or floating-point column");
    }
    info->score_column = i;
  }
  return Status::OK();
}

// Block number of row `i` of an integer column, or an error for null/negative.
Result<uint64_t> BlockAt(const arrow::Array& column, int64_t i, const std::string& name) {
  if (column.IsNull(i)) {
    return FatalError("[redis] block column '" + name + "' is null in row " + std::to_string(i),
                      "null_block");
  }
  switch (column.type_id()) {
    case arrow::Type::UINT64:
      return arrow::util::SafeLoad(static_cast<const arrow::UInt64Array&>(column).raw_values() + i);
    case arrow::Type::UINT32:
      return arrow::util::SafeLoad(static_cast<const arrow::UInt32Array&>(column).raw_values() + i);
    case arrow::Type::INT64: {
      int64_t v = arrow::util::SafeLoad(static_cast<const arrow::Int64Array&>(column).raw_values() + i);
      if (v < 0) return FatalError("[redis] negative block number in '" + name + "'", "block");
      return static_cast<uint64_t>(v);
    }
    case arrow::Type::INT32: {
      int32_t v = arrow::util::SafeLoad(static_cast<const arrow::Int32Array&>(column).raw_values() + i);
      if (v < 0) return FatalError("[redis] negative block number in '" + name + "'", "block");
      return static_cast<uint64_t>(v);
    }
    default:
      return FatalError("[redis] block column '" + name + "' is not an integer column", "block");
  }
}

double ScoreAt(const arrow::Array& column, int64_t i) {
  switch (column.type_id()) {
    case arrow::Type::INT8: return static_cast<const arrow::Int8Array&>(column).Value(i);
    case arrow::Type::INT16: return static_cast<const arrow::Int16Array&>(column).Value(i);
    case arrow::Type::INT32: return static_cast<const arrow::Int32Array&>(column).Value(i);
    case arrow::Type::INT64: return static_cast<double>(static_cast<const arrow::Int64Array&>(column).Value(i));
    case arrow::Type::UINT8: return static_cast<const arrow::UInt8Array&>(column).Value(i);
    case arrow::Type::UINT16: return static_cast<const arrow::UInt16Array&>(column).Value(i);
    case arrow::Type::UINT32: return static_cast<const arrow::UInt32Array&>(column).Value(i);
    case arrow::Type::UINT64: return static_cast<double>(static_cast<const arrow::UInt64Array&>(column).Value(i));
    case arrow::Type::FLOAT: return static_cast<const arrow::FloatArray&>(column).Value(i);
    case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(column).Value(i);
    default: return 0;
  }
}

std::string ScoreText(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// ---------------------------------------------------------------------------------------
// Session.

class RedisSession final : public LoaderSession {
 public:
  RedisSession(std::shared_ptr<Shared> shared, std::unique_ptr<RedisConnection> conn)
      : shared_(std::move(shared)), conn_(std::move(conn)) {}

  Status Begin() override {
    if (in_unit_) {
      return FatalError("[redis] Begin() while a unit is open: Commit() or Abort() it first", "usage");
    }
    AMP_RETURN_NOT_OK(EnsureConnection());
    Reset();
    in_unit_ = true;
    return Status::OK();
  }

  Status Undo(const std::string& table, const BlockInterval& blocks) override {
    AMP_RETURN_NOT_OK(CheckUnit());
    AMP_ASSIGN_OR_RETURN(auto info, Lookup(table));
    AMP_RETURN_NOT_OK(TouchTable(*info));
    if (blocks.start > blocks.end) return Status::OK();
    // Scores are doubles: exact for block numbers below 2^53.
    constexpr uint64_t kExact = uint64_t{1} << 53;
    const std::string end = blocks.end >= kExact ? "inf" : Decimal(blocks.end);
    std::string sha;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      sha = shared_->undo_sha;
    }
    AppendCommand(&body_, {"EVALSHA", sha, "0", info->idx, info->idxs,
                           StructureName(info->structure), Decimal(blocks.start), end, "0"});
    Count();
    return Status::OK();
  }

  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) override {
    AMP_RETURN_NOT_OK(CheckUnit());
    AMP_ASSIGN_OR_RETURN(auto info, Lookup(table));
    AMP_RETURN_NOT_OK(TouchTable(*info));
    AMP_RETURN_NOT_OK(QueueStatus());
    const int64_t n = batch.num_rows();
    if (n == 0) return Status::OK();
    rows_tables_.insert(table);
    const auto& schema = *info->spec.schema;

    // The batch's columns by the spec's index (a batch may carry a subset, in any order).
    std::vector<const arrow::Array*> columns(static_cast<size_t>(schema.num_fields()), nullptr);
    for (int i = 0; i < batch.num_columns(); ++i) {
      const auto& field = batch.schema()->field(i);
      const int s = schema.GetFieldIndex(field->name());
      if (s < 0) {
        return FatalError("[redis] append to table '" + table + "': column '" + field->name() +
                              "' is not in the table",
                          "schema");
      }
      if (!schema.field(s)->type()->Equals(*field->type())) {
        return FatalError("[redis] append to table '" + table + "': column '" + field->name() +
                              "' has type " + field->type()->ToString() + ", the table has " +
                              schema.field(s)->type()->ToString(),
                          "schema");
      }
      columns[static_cast<size_t>(s)] = batch.column(i).get();
    }
    const arrow::Array* block_column = nullptr;
    if (!info->spec.block_column.empty()) {
      block_column = columns[static_cast<size_t>(schema.GetFieldIndex(info->spec.block_column))];
      if (block_column == nullptr) {
        return FatalError("[redis] append to table '" + table + "': the batch lacks the block "
                          "column '" + info->spec.block_column + "'",
                          "schema");
      }
    }

    // Unique ids for {_amp_seq} (and list members), reserved outside the transaction:
    // a counter that only grows, so an aborted unit leaves a harmless gap.
    uint64_t seq_base = 0;
    if (info->pattern.Uses(KeyPattern::Source::kSeq) || info->structure == Structure::kList) {
      AMP_ASSIGN_OR_RETURN(auto reply, OutsideCommand({"INCRBY", info->seq, std::to_string(n)},
                                                      "reserve row ids for table '" + table + "'"));
      if (reply->type != REDIS_REPLY_INTEGER) {
        return FatalError("[redis] INCRBY " + info->seq + " did not return an integer", "protocol");
      }
      seq_base = static_cast<uint64_t>(reply->integer - n + 1);
    }

    const Structure structure = info->structure;
    const bool may_exist = info->spec.mode == LoadMode::kUpsert || !shared_->settings.key_pattern.empty();
    const int64_t ttl = shared_->settings.ttl;
    const std::string ttl_text = std::to_string(ttl);
    std::string key, value, member, start_text, end_text, text;
    std::vector<int> null_columns;
    std::string xadd_sha;
    if (structure == Structure::kStream) {
      std::lock_guard<std::mutex> lock(shared_->mu);
      xadd_sha = shared_->xadd_sha;
    }
    // Keys made with {_amp_seq} are new by construction (the counter never repeats): only
    // keys a pattern can repeat are type-checked.
    std::vector<std::string> ignored_checks;
    auto& checks = info->pattern.Uses(KeyPattern::Source::kSeq) ? ignored_checks
                                                                 : checks_[RedisType(structure)];

    for (int64_t row = 0; row < n; ++row) {
      uint64_t start = microbatch.start, end = microbatch.end;
      if (block_column != nullptr) {
        AMP_ASSIGN_OR_RETURN(start, BlockAt(*block_column, row, info->spec.block_column));
        end = start;
      }
      start_text = Decimal(start);
      end_text = Decimal(end);
      const uint64_t seq = seq_base + static_cast<uint64_t>(row);

      // The row's key (hash/string) or collection key.
      key = shared_->settings.prefix;
      for (const auto& part : info->pattern.parts()) {
        switch (part.source) {
          case KeyPattern::Source::kLiteral: key += part.text; break;
          case KeyPattern::Source::kTable: AppendEscapedKeyText(table, &key); break;
          case KeyPattern::Source::kBlockStart: key += start_text; break;
          case KeyPattern::Source::kBlockEnd: key += end_text; break;
          case KeyPattern::Source::kSeq: key += Decimal(seq); break;
          case KeyPattern::Source::kColumn: {
            const arrow::Array* col = columns[static_cast<size_t>(part.column)];
            if (col == nullptr) {
              key += "%N";
            } else {
              AppendKeyComponent(*col, row, &key);
            }
            break;
          }
        }
      }

      if (structure == Structure::kHash || structure == Structure::kStream) {
        // Field/value pairs; nulls are left out (a missing field reads back as null).
        size_t fields = 0;
        null_columns.clear();
        value.clear();
        for (size_t c = 0; c < columns.size(); ++c) {
          const arrow::Array* col = columns[c];
          if (col == nullptr || col->IsNull(row)) {
            null_columns.push_back(static_cast<int>(c));
            continue;
          }
          AppendBulk(&value, schema.field(static_cast<int>(c))->name());
          text.clear();
          AppendField(*col, row, info->binary, &text);
          AppendBulk(&value, text);
          ++fields;
        }
        AppendBulk(&value, kBlockStart);
        AppendBulk(&value, start_text);
        AppendBulk(&value, kBlockEnd);
        AppendBulk(&value, end_text);
        fields += 2;
        if (structure == Structure::kHash) {
          if (may_exist && !null_columns.empty()) {
            // The key may hold an older version of the row: drop its now-null fields.
            AppendArrayHeader(&body_, 2 + null_columns.size());
            AppendBulk(&body_, "HDEL");
            AppendBulk(&body_, key);
            for (int c : null_columns) AppendBulk(&body_, schema.field(c)->name());
            Count();
          }
          AppendArrayHeader(&body_, 2 + 2 * fields);
          AppendBulk(&body_, "HSET");
          AppendBulk(&body_, key);
          body_ += value;
          Count();
          AddIndex(*info, key, start, end, start_text, end_text);
          if (ttl > 0) {
            AppendCommand(&body_, {"EXPIRE", key, ttl_text});
            Count();
          }
          checks.push_back(key);
        } else {
          AppendArrayHeader(&body_, 8 + 2 * fields);
          AppendBulk(&body_, "EVALSHA");
          AppendBulk(&body_, xadd_sha);
          AppendBulk(&body_, "0");
          AppendBulk(&body_, key);
          AppendBulk(&body_, info->idx);
          AppendBulk(&body_, start != end ? info->idxs : "");
          AppendBulk(&body_, end_text);
          AppendBulk(&body_, start_text);
          body_ += value;
          Count();
          AddContainer(key);
          checks_["zset"].push_back(info->idx);
        }
        continue;
      }

      // A JSON document of the row.
      value.clear();
      value.push_back('{');
      for (size_t c = 0; c < columns.size(); ++c) {
        if (c > 0) value.push_back(',');
        AppendJsonString(schema.field(static_cast<int>(c))->name(), &value);
        value.push_back(':');
        const arrow::Array* col = columns[c];
        if (col == nullptr) {
          value += "null";
        } else {
          AppendJson(*col, row, &value);
        }
      }
      if (!columns.empty()) value.push_back(',');
      value += "\"_amp_block_start\":" + start_text + ",\"_amp_block_end\":" + end_text;
      if (structure == Structure::kList) value += ",\"_amp_seq\":" + Decimal(seq);
      value.push_back('}');

      if (structure == Structure::kString) {
        if (ttl > 0) {
          AppendCommand(&body_, {"SET", key, value, "EX", ttl_text});
        } else {
          AppendCommand(&body_, {"SET", key, value});
        }
        Count();
        AddIndex(*info, key, start, end, start_text, end_text);
        checks.push_back(key);
        continue;
      }
      // Collections: the index member names the collection and the element.
      if (structure == Structure::kSet) {
        AppendCommand(&body_, {"SADD", key, value});
      } else if (structure == Structure::kSortedSet) {
        double score = static_cast<double>(start);
        if (info->score_column >= 0) {
          const arrow::Array* col = columns[static_cast<size_t>(info->score_column)];
          if (col != nullptr && !col->IsNull(row)) score = ScoreAt(*col, row);
        }
        AppendCommand(&body_, {"ZADD", key, ScoreText(score), value});
      } else {
        AppendCommand(&body_, {"RPUSH", key, value});
      }
      Count();
      member = std::to_string(key.size()) + ":" + key + value;
      AddIndex(*info, member, start, end, start_text, end_text);
      AddContainer(key);
    }
    return QueueStatus();
  }

  Status Commit(const StreamCheckpoint* checkpoint) override {
    AMP_RETURN_NOT_OK(CheckUnit());
    Status st = CommitImpl(checkpoint);
    in_unit_ = false;
    Reset();
    return st;
  }

  void Abort() override {
    // Buffered: nothing was sent. Streaming: the server drops the open MULTI with the
    // connection (cheaper and surer than DISCARD after an error of unknown state).
    if (multi_sent_) conn_.reset();
    in_unit_ = false;
    Reset();
  }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    AMP_ASSIGN_OR_RETURN(auto reply, OutsideCommand({"GET", shared_->StateKey(stream_id)},
                                                    "load checkpoint of stream " + stream_id));
    if (IsNil(*reply)) return std::nullopt;
    AMP_ASSIGN_OR_RETURN(auto cp, ParseCheckpoint(stream_id, ReplyText(*reply)));
    if (!in_unit_) AMP_RETURN_NOT_OK(CheckProgress({stream_id}));
    return std::optional<StreamCheckpoint>(std::move(cp));
  }

  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    std::vector<StreamCheckpoint> out;
    AMP_ASSIGN_OR_RETURN(auto ids, OutsideCommand({"ZRANGEBYLEX", shared_->StreamsKey(),
                                                   "[" + prefix, "+"},
                                                  "list the checkpoints of streams " + prefix + "*"));
    std::vector<std::string> keys = {"MGET"};
    std::vector<std::string> names;
    for (size_t i = 0; i < ids->elements; ++i) {
      std::string id(ReplyText(*ids->element[i]));
      if (id.compare(0, prefix.size(), prefix) != 0) break;  // sorted: past the prefix
      keys.push_back(shared_->StateKey(id));
      names.push_back(std::move(id));
    }
    if (names.empty()) return out;
    AMP_ASSIGN_OR_RETURN(auto values, OutsideCommand(keys, "load checkpoints of streams " + prefix + "*"));
    for (size_t i = 0; i < values->elements && i < names.size(); ++i) {
      if (IsNil(*values->element[i])) continue;
      AMP_ASSIGN_OR_RETURN(auto cp, ParseCheckpoint(names[i], ReplyText(*values->element[i])));
      out.push_back(std::move(cp));
    }
    if (!in_unit_) AMP_RETURN_NOT_OK(CheckProgress(names));
    return out;
  }

 private:
  // Refuses checkpoints whose table is not the one they wrote (its description is gone or
  // has another id: dropped, or dropped and recreated) or that held rows after our last
  // commit and has none now (its rows and block index deleted). Checkpoints written before
  // amp:state_tables existed have no entry there and are accepted; their next commit
  // records it.
  Status CheckProgress(const std::vector<std::string>& stream_ids) {
    std::map<std::string, std::pair<std::string, std::string>> tables;  // table -> (sid, id)
    for (const auto& sid : stream_ids) {
      AMP_ASSIGN_OR_RETURN(auto reply, OutsideCommand({"HGETALL", shared_->StateTablesKey(sid)},
                                                      "read the tables of stream " + sid));
      AMP_ASSIGN_OR_RETURN(auto map, HashToMap(*reply));
      for (auto& [table, id] : map) tables.emplace(table, std::make_pair(sid, id));
    }
    for (const auto& [table, written] : tables) {
      const auto& [sid, id] = written;
      AMP_ASSIGN_OR_RETURN(auto meta, OutsideCommand({"HMGET", shared_->MetaKey(table), "id", "rows"},
                                                     "read the description of table '" + table + "'"));
      AMP_ASSIGN_OR_RETURN(auto count, OutsideCommand({"ZCARD", shared_->IdxKey(table)},
                                                      "count the rows of table '" + table + "'"));
      const bool has_id = meta->elements > 0 && !IsNil(*meta->element[0]);
      const std::string now_id = has_id ? std::string(ReplyText(*meta->element[0])) : "";
      const bool rows = meta->elements > 1 && !IsNil(*meta->element[1]) &&
                        ReplyText(*meta->element[1]) == "1";
      std::string what;
      if (!has_id) {
        what = "that table no longer exists";
      } else if (now_id != id) {
        what = "that table was dropped and recreated since";
      } else if (rows && count->integer == 0) {
        what = "that table is empty now (its rows and block index were deleted)";
      } else {
        continue;
      }
      return FatalError("[redis] progress outlives its table: the checkpoint of stream " + sid +
                            " says rows were committed to table '" + table + "' at " +
                            shared_->Target() + ", but " + what +
                            "; nothing was loaded. To load everything again, rerun with --reset, "
                            "or clear the progress with `ampsync reset --to URI --table " + table + "`",
                        kStaleProgressCode);
    }
    return Status::OK();
  }

  static Result<StreamCheckpoint> ParseCheckpoint(const std::string& stream_id, std::string_view json) {
    auto parsed = StreamCheckpoint::FromJson(std::string(json));
    if (!parsed.ok()) {
      return FatalError("[redis] stored checkpoint of stream " + stream_id + " is unreadable: " +
                            parsed.status().message(),
                        "state");
    }
    return std::move(*parsed);
  }

  Status EnsureConnection() {
    if (conn_ != nullptr && !conn_->broken()) return Status::OK();
    conn_.reset();
    AMP_ASSIGN_OR_RETURN(conn_, Connect(*shared_));
    return Status::OK();
  }

  // A connection for commands that must not join the unit's transaction (row id
  // reservations, checkpoint reads): the session's own unless a MULTI is open on it.
  Result<RedisConnection*> OutsideConnection() {
    if (!multi_sent_) {
      AMP_RETURN_NOT_OK(EnsureConnection());
      return conn_.get();
    }
    if (side_ == nullptr || side_->broken()) {
      side_.reset();
      AMP_ASSIGN_OR_RETURN(side_, Connect(*shared_));
    }
    return side_.get();
  }

  // One command outside the transaction; a connection found dead (killed, server
  // restarted) is replaced and the command sent once more (all such commands are
  // idempotent or, for INCRBY, harmless to repeat).
  Result<ReplyPtr> OutsideCommand(const std::vector<std::string>& args, const std::string& context) {
    for (int attempt = 0;; ++attempt) {
      AMP_ASSIGN_OR_RETURN(RedisConnection * conn, OutsideConnection());
      auto reply = conn->Command(args, context);
      if (reply.ok() || !conn->broken() || attempt > 0) return reply;
    }
  }

  // The first error a queued command got (OOM, ...): the EXEC would abort, so stop early.
  Status QueueStatus() {
    if (multi_sent_ && (conn_ == nullptr || conn_->broken())) {
      return WithErrorInfo(Status::IOError("[redis] queue the unit for ", JoinTables(), " (",
                                           shared_->Target(), "): the connection was lost"),
                           ErrorClass::kRetryCommit, kErrorSource, "io");
    }
    if (queue_error_.empty()) return Status::OK();
    return conn_->ServerError(queue_error_, "queue the unit for " + JoinTables());
  }

  // Whether a unit touching `info` can go out as it is built: every key it writes can be
  // type-checked before the MULTI (row keys made with {_amp_seq} are new by construction;
  // a collection key without per-row placeholders is known up front).
  bool Streamable(const TableInfo& info) const {
    if (KeyPerRow(info.structure)) return info.pattern.Uses(KeyPattern::Source::kSeq);
    for (const auto& part : info.pattern.parts()) {
      if (part.source != KeyPattern::Source::kLiteral && part.source != KeyPattern::Source::kTable) {
        return false;
      }
    }
    return true;
  }

  std::string ConstantKey(const TableInfo& info) const {
    std::string key = shared_->settings.prefix;
    for (const auto& part : info.pattern.parts()) {
      if (part.source == KeyPattern::Source::kLiteral) key += part.text;
      if (part.source == KeyPattern::Source::kTable) AppendEscapedKeyText(info.spec.name, &key);
    }
    return key;
  }

  // Streaming unit: scripts and type checks of every loader-owned key of the known tables
  // (and the collection keys), then MULTI; from here on commands are sent as they are
  // made, `pipeline` at a time, overlapping encoding with the server's queueing.
  Status StartStreaming() {
    std::vector<std::shared_ptr<const TableInfo>> tables;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      for (const auto& [name, info] : shared_->tables) tables.push_back(info);
    }
    std::map<std::string, std::vector<std::string>> checks;
    checks["zset"].push_back(shared_->StreamsKey());
    for (const auto& info : tables) {
      checks["zset"].push_back(info->idx);
      checks["zset"].push_back(info->idxs);
      checks["set"].push_back(info->streams_of_table);
      if (!KeyPerRow(info->structure) && Streamable(*info)) {
        checks[RedisType(info->structure)].push_back(ConstantKey(*info));
      }
    }
    AMP_RETURN_NOT_OK(CheckTypes(checks));
    std::string multi;
    AppendCommand(&multi, {"MULTI"});
    AMP_RETURN_NOT_OK(conn_->AppendRaw(multi));
    multi_sent_ = true;
    ++in_flight_;
    return Status::OK();
  }

  // Sends what body_ holds and reads replies beyond the pipeline depth.
  Status SendBody() {
    if (body_.empty()) return Status::OK();
    AMP_RETURN_NOT_OK(conn_->AppendRaw(body_));
    in_flight_ += body_commands_ - sent_commands_;
    sent_commands_ = body_commands_;
    body_.clear();
    cuts_.clear();
    const size_t depth = static_cast<size_t>(shared_->settings.pipeline);
    if (in_flight_ <= depth) return Status::OK();
    const std::string context = "queue the unit for " + JoinTables();
    while (in_flight_ > depth) {
      AMP_ASSIGN_OR_RETURN(auto reply, conn_->ReadReply(context));
      --in_flight_;
      if (IsError(*reply) && queue_error_.empty()) queue_error_ = std::string(ReplyText(*reply));
    }
    return Status::OK();
  }

  Status CheckUnit() {
    if (!in_unit_) return FatalError("[redis] no unit is open: call Begin() first", "usage");
    return Status::OK();
  }

  Result<std::shared_ptr<const TableInfo>> Lookup(const std::string& table) {
    auto info = shared_->Find(table);
    if (info == nullptr) {
      return FatalError("[redis] table '" + table + "' is unknown to this loader: call "
                        "EnsureTable() first",
                        "usage");
    }
    return info;
  }

  // One more command in body_; every `pipeline` commands mark a cut for Pipeline().
  void Count() {
    ++body_commands_;
    if (body_commands_ % static_cast<size_t>(shared_->settings.pipeline) == 0) {
      cuts_.push_back(body_.size());
      if (streaming_) {
        // An I/O error surfaces at the next call (the connection is then broken).
        (void)SendBody();
      }
    }
  }

  void Reset() {
    streaming_ = false;
    multi_sent_ = false;
    in_flight_ = 0;
    sent_commands_ = 0;
    queue_error_.clear();
    cuts_.clear();
    body_.clear();
    body_commands_ = 0;
    checks_.clear();
    tables_.clear();
    rows_tables_.clear();
    containers_.clear();
  }

  Status TouchTable(const TableInfo& info) {
    if (!tables_.insert(info.spec.name).second) return Status::OK();
    if (tables_.size() == 1 && body_commands_ == 0 && Streamable(info)) {
      // The first table of the unit decides; StartStreaming checks every known table's
      // loader keys, so a second table needs nothing more (its row keys are fresh too,
      // or its unit is buffered: see Streamable).
      streaming_ = true;
      return StartStreaming();
    }
    if (!streaming_) {
      checks_["zset"].push_back(info.idx);
      checks_["zset"].push_back(info.idxs);
    }
    return Status::OK();
  }

  void AddIndex(const TableInfo& info, const std::string& member, uint64_t start, uint64_t end,
                const std::string& start_text, const std::string& end_text) {
    AppendCommand(&body_, {"ZADD", info.idx, end_text, member});
    Count();
    if (start != end) {
      AppendCommand(&body_, {"ZADD", info.idxs, start_text, member});
      Count();
    }
  }

  void AddContainer(const std::string& key) {
    if (containers_.insert(key).second) {
      checks_[RedisType(shared_->settings.structure)].push_back(key);
    }
  }

  // Scripts (a restarted server has forgotten them) and type checks of `checks` (Redis
  // type -> keys), one Lua call per kCheckChunk keys: a key holding another type is a
  // kFatal WRONGTYPE error before anything of the unit was written.
  Status CheckTypes(const std::map<std::string, std::vector<std::string>>& checks) {
    std::string prelude;
    size_t prelude_commands = 3;
    AppendCommand(&prelude, {"SCRIPT", "LOAD", kUndoScript});
    AppendCommand(&prelude, {"SCRIPT", "LOAD", kXaddScript});
    AppendCommand(&prelude, {"SCRIPT", "LOAD", kTypeCheckScript});
    std::string typecheck_sha;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      typecheck_sha = shared_->typecheck_sha;
    }
    for (const auto& [type, keys] : checks) {
      for (size_t i = 0; i < keys.size(); i += kCheckChunk) {
        const size_t m = std::min(kCheckChunk, keys.size() - i);
        AppendArrayHeader(&prelude, 4 + m);
        AppendBulk(&prelude, "EVALSHA");
        AppendBulk(&prelude, typecheck_sha);
        AppendBulk(&prelude, "0");
        AppendBulk(&prelude, type);
        for (size_t k = i; k < i + m; ++k) AppendBulk(&prelude, keys[k]);
        ++prelude_commands;
      }
    }
    AMP_RETURN_NOT_OK(conn_->AppendRaw(prelude));
    Status first_error;
    std::string mismatch;
    for (size_t i = 0; i < prelude_commands; ++i) {
      AMP_ASSIGN_OR_RETURN(auto r, conn_->ReadReply("check key types"));
      if (IsError(*r)) {
        if (first_error.ok()) first_error = conn_->ServerError(ReplyText(*r), "check key types");
      } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && mismatch.empty()) {
        mismatch = "key '" + std::string(ReplyText(*r->element[0])) + "' holds a " +
                   std::string(ReplyText(*r->element[1]));
      }
    }
    AMP_RETURN_NOT_OK(first_error);
    if (!mismatch.empty()) {
      return FatalError("[redis] refusing to write to " + shared_->Target() + ": " + mismatch +
                            ", a type the loader does not write there (WRONGTYPE); nothing of "
                            "the unit was written. Remove or rename that key (or use another "
                            "prefix / key_pattern) and rerun",
                        "WRONGTYPE");
    }
    return Status::OK();
  }

  // Handles one reply of the transaction: queued replies (errors remembered), then EXEC's.
  Status OnTransactionReply(const redisReply& r, bool is_exec) {
    if (!is_exec) {
      if (IsError(r) && queue_error_.empty()) queue_error_ = std::string(ReplyText(r));
      return Status::OK();
    }
    if (IsError(r)) {
      const std::string text(ReplyText(r));
      return conn_->ServerError(queue_error_.empty() ? text : queue_error_, "commit to " + JoinTables());
    }
    if (IsNil(r)) {
      return WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                           "): the transaction was aborted"),
                           ErrorClass::kRetryCommit, kErrorSource, "aborted");
    }
    for (size_t k = 0; r.type == REDIS_REPLY_ARRAY && k < r.elements; ++k) {
      if (IsError(*r.element[k])) {
        return conn_->ServerError(std::string(ReplyText(*r.element[k])) +
                                      " (inside EXEC: earlier commands of the unit were applied)",
                                  "commit to " + JoinTables());
      }
    }
    return Status::OK();
  }

  Status CommitImpl(const StreamCheckpoint* checkpoint) {
    t_commit_ = std::chrono::steady_clock::now();
    if (conn_ == nullptr || conn_->broken()) {
      return WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                           "): the connection was lost during the unit"),
                           ErrorClass::kRetryCommit, kErrorSource, "io");
    }
    std::string tail;
    size_t tail_commands = 0;
    std::map<std::string, std::vector<std::string>> tail_checks;
    if (checkpoint != nullptr) {
      if (checkpoint->stream_id.empty()) {
        return FatalError("[redis] checkpoint without a stream_id", "usage");
      }
      const std::string& sid = checkpoint->stream_id;
      // SET replaces a value of any type: the state key needs no check.
      AppendCommand(&tail, {"SET", shared_->StateKey(sid), checkpoint->ToJson()});
      AppendCommand(&tail, {"ZADD", shared_->StreamsKey(), "0", sid});
      tail_commands += 2;
      tail_checks["zset"].push_back(shared_->StreamsKey());
      for (const auto& t : tables_) {
        AppendCommand(&tail, {"SADD", shared_->TableStreamsKey(t), sid});
        ++tail_commands;
        tail_checks["set"].push_back(shared_->TableStreamsKey(t));
        // Which table (by id) this checkpoint describes: a recreated table has another id.
        if (auto info = shared_->Find(t); info != nullptr && !info->id.empty()) {
          AppendCommand(&tail, {"HSET", shared_->StateTablesKey(sid), t, info->id});
          ++tail_commands;
        }
      }
    }
    // Whether each touched table holds rows after this unit, so that a table emptied
    // behind our back (its rows and index deleted) is noticed (CheckProgress).
    for (const auto& t : tables_) {
      auto info = shared_->Find(t);
      if (info == nullptr) continue;
      if (rows_tables_.count(t)) {
        AppendCommand(&tail, {"HSET", info->meta, "rows", "1"});
      } else {
        AppendCommand(&tail, {"EVAL", kRowsFlagScript, "2", info->meta, info->idx});
      }
      ++tail_commands;
    }
    if (shared_->settings.ttl > 0 && !KeyPerRow(shared_->settings.structure)) {
      for (const auto& c : containers_) {
        AppendCommand(&tail, {"EXPIRE", c, std::to_string(shared_->settings.ttl)});
        ++tail_commands;
      }
    }
    const size_t depth = static_cast<size_t>(shared_->settings.pipeline);
    std::vector<std::pair<std::string_view, size_t>> pieces;
    std::string multi, exec;
    AppendCommand(&multi, {"MULTI"});
    AppendCommand(&exec, {"EXEC"});
    if (!multi_sent_) {
      if (body_commands_ == 0 && tail_commands == 0) return Status::OK();
      // Buffered unit: check every key first, then send it all.
      for (auto& [type, keys] : tail_checks) {
        auto& all = checks_[type];
        all.insert(all.end(), keys.begin(), keys.end());
      }
      AMP_RETURN_NOT_OK(CheckTypes(checks_));
      pieces.emplace_back(multi, 1);
      size_t from = 0;
      for (size_t cut : cuts_) {
        pieces.emplace_back(std::string_view(body_).substr(from, cut - from), depth);
        from = cut;
      }
      pieces.emplace_back(std::string_view(body_).substr(from), body_commands_ - cuts_.size() * depth);
    } else {
      // Streaming unit: the checkpoint keys were checked before the MULTI (StartStreaming);
      // the rest of the body follows.
      AMP_RETURN_NOT_OK(QueueStatus());
      pieces.emplace_back(std::string_view(body_), body_commands_ - sent_commands_);
    }
    const auto t_checked = std::chrono::steady_clock::now();
    pieces.emplace_back(tail, tail_commands);
    pieces.emplace_back(exec, 1);

    Status result;
    bool exec_seen = false;
    const std::string commit_context = "commit to " + JoinTables();
    auto read_one = [&]() -> Status {
      AMP_ASSIGN_OR_RETURN(auto reply, conn_->ReadReply(commit_context));
      --in_flight_;
      const bool is_exec = exec_seen = in_flight_ == 0 && pieces_done_;
      if (is_exec) t_last_reply_ = std::chrono::steady_clock::now();
      Status st = OnTransactionReply(*reply, is_exec);
      if (!st.ok() && result.ok()) result = st;
      return Status::OK();
    };
    pieces_done_ = false;
    Status io;
    for (size_t p = 0; p < pieces.size() && io.ok(); ++p) {
      io = conn_->AppendRaw(pieces[p].first);
      in_flight_ += pieces[p].second;
      if (p + 1 == pieces.size()) pieces_done_ = true;
      while (io.ok() && in_flight_ > (pieces_done_ ? 0 : depth)) io = read_one();
    }
    pieces_done_ = false;
    if (std::getenv("AMP_REDIS_TRACE") != nullptr) {
      auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
      const auto t_end = std::chrono::steady_clock::now();
      std::fprintf(stderr, "[redis trace] commit %zu cmds (%s): before send %.1f ms, send..exec %.1f ms\n",
                   body_commands_, multi_sent_ ? "streamed" : "buffered", ms(t_checked - t_commit_),
                   ms(t_end - t_checked));
    }
    if (!io.ok() || !exec_seen) {
      // The outcome is unknown (the EXEC may or may not have run): drop the connection;
      // the engine reads the checkpoint to find out.
      conn_.reset();
      return io.ok() ? WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                                     "): no reply to EXEC"),
                                     ErrorClass::kRetryCommit, kErrorSource, "io")
                     : io;
    }
    return result;
  }

  std::string JoinTables() const {
    std::string out;
    for (const auto& t : tables_) out += (out.empty() ? "table '" : ", '") + t + "'";
    return out.empty() ? "checkpoint" : out;
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<RedisConnection> conn_;
  std::unique_ptr<RedisConnection> side_;  // outside the transaction (see OutsideConnection)
  std::chrono::steady_clock::time_point t_commit_, t_last_reply_;  // AMP_REDIS_TRACE
  bool in_unit_ = false;
  bool streaming_ = false;     // the unit goes out as it is built
  bool multi_sent_ = false;    // MULTI is open on conn_
  size_t in_flight_ = 0;       // replies not read yet
  size_t sent_commands_ = 0;   // body commands already sent
  std::string queue_error_;    // first error reply to a queued command
  bool pieces_done_ = false;   // CommitImpl: EXEC has been queued for sending
  std::string body_;
  size_t body_commands_ = 0;
  std::vector<size_t> cuts_;  // body_ offsets after every `pipeline` commands
  std::map<std::string, std::vector<std::string>> checks_;  // Redis type -> keys
  std::set<std::string> tables_;
  std::set<std::string> rows_tables_;  // tables this unit added rows to
  std::set<std::string> containers_;
};

// ---------------------------------------------------------------------------------------
// Loader.

class RedisLoader final : public Loader {
 public:
  explicit RedisLoader(Settings settings) : shared_(std::make_shared<Shared>(std::move(settings))) {
    capabilities_.atomic_commit = true;
    capabilities_.supports_undo = true;
    capabilities_.concurrent_sessions = true;
    // Upserts need a key per row: hash and string only.
    capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite};
    if (KeyPerRow(shared_->settings.structure)) capabilities_.modes.push_back(LoadMode::kUpsert);
  }

  std::string name() const override { return kLoaderName; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }

  Status EnsureTable(const TableSpec& spec) override {
    auto info = std::make_shared<TableInfo>();
    info->spec = spec;
    AMP_RETURN_NOT_OK(ValidateSpec(shared_->settings, spec, info.get()));
    info->meta = shared_->MetaKey(spec.name);
    info->idx = shared_->IdxKey(spec.name);
    info->idxs = shared_->IdxsKey(spec.name);
    info->seq = shared_->SeqKey(spec.name);
    info->streams_of_table = shared_->TableStreamsKey(spec.name);
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    AMP_ASSIGN_OR_RETURN(auto reply, conn->Command({"HGETALL", info->meta},
                                                   "read the description of table '" + spec.name + "'"));
    AMP_ASSIGN_OR_RETURN(auto meta, HashToMap(*reply));
    if (!meta.empty()) {
      AMP_RETURN_NOT_OK(CheckExisting(*shared_, spec, meta, info->structure));
      AMP_ASSIGN_OR_RETURN(info->binary, BinaryFormOf(meta, spec.name));
      if (auto it = meta.find("id"); it != meta.end()) {
        info->id = it->second;
      } else {
        // A table created by a release that did not give tables an id: give it one now
        // (HSETNX: a concurrent EnsureTable may have just done so; read back the winner).
        const std::string context = "give table '" + spec.name + "' an id";
        AMP_RETURN_NOT_OK(conn->Command({"HSETNX", info->meta, "id", NewTableId()}, context).status());
        AMP_ASSIGN_OR_RETURN(auto id, conn->Command({"HGET", info->meta, "id"}, context));
        info->id = std::string(ReplyText(*id));
      }
    } else {
      info->binary = BinaryForm::kRaw;
      info->id = NewTableId();
      std::string buf;
      AppendCommand(&buf, {"MULTI"});
      AppendCommand(&buf, {"HSET", info->meta, "columns", ColumnsJson(*spec.schema),
                           "data_structure", StructureName(info->structure), "key_pattern",
                           info->pattern.text(), "block_column", spec.block_column,
                           "format", kCurrentFormat, "id", info->id});
      AppendCommand(&buf, {"SADD", shared_->TablesKey(), spec.name});
      AppendCommand(&buf, {"EXEC"});
      AMP_RETURN_NOT_OK(conn->AppendRaw(buf));
      for (int i = 0; i < 4; ++i) {
        AMP_ASSIGN_OR_RETURN(auto r, conn->ReadReply("create table '" + spec.name + "'"));
        if (IsError(*r)) return conn->ServerError(ReplyText(*r), "create table '" + spec.name + "'");
      }
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->tables[spec.name] = std::move(info);
    return Status::OK();
  }

  Status Truncate(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return TruncateOn(*conn, table);
  }

  Result<bool> TableExists(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    AMP_ASSIGN_OR_RETURN(auto reply, conn->Command({"EXISTS", shared_->MetaKey(table)},
                                                   "look up table '" + table + "'"));
    return reply->integer > 0;
  }

  Status DropTable(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    AMP_RETURN_NOT_OK(TruncateOn(*conn, table));
    AMP_RETURN_NOT_OK(conn->Command({"DEL", shared_->MetaKey(table), shared_->IdxKey(table),
                                     shared_->IdxsKey(table), shared_->SeqKey(table)},
                                    "drop table '" + table + "'")
                          .status());
    AMP_RETURN_NOT_OK(conn->Command({"SREM", shared_->TablesKey(), table},
                                    "drop table '" + table + "'")
                          .status());
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->tables.erase(table);
    return Status::OK();
  }

  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return std::unique_ptr<LoaderSession>(new RedisSession(shared_, std::move(conn)));
  }

  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                 const BlockInterval& blocks) override {
    if (spec.schema == nullptr) return FatalError("[redis] ReadRows of '" + spec.name + "': no schema");
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    const std::string context = "read table '" + spec.name + "'";
    AMP_ASSIGN_OR_RETURN(auto meta_reply, conn->Command({"HGETALL", shared_->MetaKey(spec.name)}, context));
    AMP_ASSIGN_OR_RETURN(auto meta, HashToMap(*meta_reply));
    if (meta.empty()) {
      return WithErrorInfo(Status::KeyError("[redis] table '", spec.name, "' does not exist at ",
                                            shared_->Target()),
                           ErrorClass::kFatal, kErrorSource, "no_table");
    }
    AMP_ASSIGN_OR_RETURN(Structure structure, StructureFromName(meta["data_structure"]));
    AMP_ASSIGN_OR_RETURN(const BinaryForm binary, BinaryFormOf(meta, spec.name));
    // The requested columns must be stored with the same types.
    TableSpec stored = spec;
    arrow::FieldVector fields;
    for (const auto& f : spec.schema->fields()) {
      if (f->name() == kBlockStart || f->name() == kBlockEnd) continue;
      fields.push_back(f);
    }
    stored.schema = arrow::schema(fields);
    {
      auto cols = nlohmann::json::parse(meta["columns"], nullptr, false);
      std::map<std::string, std::string> types;
      if (cols.is_array()) {
        for (const auto& c : cols) types[c.value("name", "")] = c.value("type", "");
      }
      for (const auto& f : fields) {
        auto it = types.find(f->name());
        if (it == types.end() || it->second != f->type()->ToString()) {
          return FatalError("[redis] ReadRows of '" + spec.name + "': column '" + f->name() +
                                "' " +
                                (it == types.end() ? std::string("does not exist")
                                                   : "is " + it->second + ", not " +
                                                         f->type()->ToString()),
                            "schema");
        }
      }
    }

    // Index members whose last block is >= blocks.start (first blocks checked below).
    constexpr uint64_t kExact = uint64_t{1} << 53;
    AMP_ASSIGN_OR_RETURN(auto members,
                         conn->Command({"ZRANGEBYSCORE", shared_->IdxKey(spec.name),
                                        Decimal(std::min(blocks.start, kExact)), "+inf"},
                                       context));
    std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
    for (const auto& f : fields) {
      AMP_ASSIGN_OR_RETURN(auto b, arrow::MakeBuilder(f->type()));
      builders.push_back(std::move(b));
    }
    arrow::UInt64Builder starts;

    // Appends one row given a lookup of its stored values; skips rows outside `blocks`.
    auto add_row = [&](const std::map<std::string, std::string>* text,
                       const nlohmann::json* json, const std::string& where) -> Status {
      uint64_t s = 0, e = 0;
      if (text != nullptr) {
        auto si = text->find(kBlockStart), ei = text->find(kBlockEnd);
        if (si == text->end() || ei == text->end()) {
          return FatalError("[redis] " + where + " has no " + kBlockStart + "/" + kBlockEnd, "data");
        }
        s = std::strtoull(si->second.c_str(), nullptr, 10);
        e = std::strtoull(ei->second.c_str(), nullptr, 10);
      } else {
        if (!json->is_object() || !json->contains(kBlockStart) || !json->contains(kBlockEnd)) {
          return FatalError("[redis] " + where + " is not a row document of the loader", "data");
        }
        s = (*json)[kBlockStart].get<uint64_t>();
        e = (*json)[kBlockEnd].get<uint64_t>();
      }
      if (!(s <= blocks.end && e >= blocks.start)) return Status::OK();
      for (size_t c = 0; c < fields.size(); ++c) {
        const auto& f = fields[c];
        Status st;
        if (text != nullptr) {
          auto it = text->find(f->name());
          st = it == text->end() ? builders[c]->AppendNull()
                                 : AppendFromField(builders[c].get(), *f->type(), it->second, binary);
        } else {
          auto it = json->find(f->name());
          static const nlohmann::json kNull;
          st = AppendFromJson(builders[c].get(), *f->type(), it == json->end() ? kNull : *it);
        }
        if (!st.ok()) {
          return FatalError("[redis] " + where + ", column '" + f->name() +
                                "': cannot decode the stored value: " + st.message(),
                            "data");
        }
      }
      return starts.Append(s);
    };

    std::vector<std::string> names;
    for (size_t i = 0; i < members->elements; ++i) names.emplace_back(ReplyText(*members->element[i]));
    for (size_t base = 0; base < names.size(); base += kReadChunk) {
      const size_t m = std::min(kReadChunk, names.size() - base);
      if (structure == Structure::kSet || structure == Structure::kSortedSet ||
          structure == Structure::kList) {
        for (size_t k = base; k < base + m; ++k) {
          const std::string& member = names[k];
          const size_t colon = member.find(':');
          const size_t len = std::strtoull(member.c_str(), nullptr, 10);
          if (colon == std::string::npos || colon + 1 + len > member.size()) {
            return FatalError("[redis] malformed index member in " + shared_->IdxKey(spec.name), "data");
          }
          auto doc = nlohmann::json::parse(member.substr(colon + 1 + len), nullptr, false);
          if (doc.is_discarded()) {
            return FatalError("[redis] unreadable row in " + member.substr(colon + 1, len), "data");
          }
          AMP_RETURN_NOT_OK(add_row(nullptr, &doc, "a row of " + member.substr(colon + 1, len)));
        }
        continue;
      }
      std::string buf;
      for (size_t k = base; k < base + m; ++k) {
        const std::string& member = names[k];
        if (structure == Structure::kHash) {
          AppendCommand(&buf, {"HGETALL", member});
        } else if (structure == Structure::kString) {
          AppendCommand(&buf, {"GET", member});
        } else {
          const size_t colon = member.find(':');
          const size_t len = std::strtoull(member.c_str(), nullptr, 10);
          const std::string key = member.substr(colon + 1, len);
          const std::string id = member.substr(colon + 1 + len);
          AppendCommand(&buf, {"XRANGE", key, id, id});
        }
      }
      AMP_RETURN_NOT_OK(conn->AppendRaw(buf));
      for (size_t k = base; k < base + m; ++k) {
        AMP_ASSIGN_OR_RETURN(auto r, conn->ReadReply(context));
        if (IsError(*r)) return conn->ServerError(ReplyText(*r), context + ": " + names[k]);
        if (structure == Structure::kHash) {
          if (r->elements == 0) continue;  // expired (ttl) or deleted behind our back
          AMP_ASSIGN_OR_RETURN(auto values, HashToMap(*r));
          AMP_RETURN_NOT_OK(add_row(&values, nullptr, "key '" + names[k] + "'"));
        } else if (structure == Structure::kString) {
          if (IsNil(*r)) continue;
          auto doc = nlohmann::json::parse(ReplyText(*r), nullptr, false);
          if (doc.is_discarded()) return FatalError("[redis] key '" + names[k] + "' is not JSON", "data");
          AMP_RETURN_NOT_OK(add_row(nullptr, &doc, "key '" + names[k] + "'"));
        } else {
          if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) continue;
          const redisReply& entry = *r->element[0];
          if (entry.elements < 2) continue;
          AMP_ASSIGN_OR_RETURN(auto values, HashToMap(*entry.element[1]));
          AMP_RETURN_NOT_OK(add_row(&values, nullptr, "stream entry " + names[k]));
        }
      }
    }
    arrow::ArrayVector arrays;
    for (auto& b : builders) {
      AMP_ASSIGN_OR_RETURN(auto a, b->Finish());
      arrays.push_back(std::move(a));
    }
    AMP_ASSIGN_OR_RETURN(auto start_array, starts.Finish());
    const int64_t rows = start_array->length();
    arrays.push_back(std::move(start_array));
    fields.push_back(arrow::field(kBlockStart, arrow::uint64(), false));
    return arrow::Table::Make(arrow::schema(fields), arrays, rows);
  }

 private:
  // Deletes every row of `table` through its index, 1000 at a time (each chunk atomic;
  // a crash in between leaves a prefix deleted, and a rerun finishes it). Returns whether
  // the table has a description.
  Result<bool> DeleteRows(RedisConnection& conn, const std::string& table, const std::string& context) {
    AMP_ASSIGN_OR_RETURN(auto kind_reply, conn.Command({"HGET", shared_->MetaKey(table), "data_structure"},
                                                       context));
    std::string undo_sha;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      undo_sha = shared_->undo_sha;
    }
    if (IsNil(*kind_reply)) return false;
    const std::string kind(ReplyText(*kind_reply));
    while (true) {
      AMP_ASSIGN_OR_RETURN(auto n, conn.Command({"EVALSHA", undo_sha, "0", shared_->IdxKey(table),
                                                 shared_->IdxsKey(table), kind, "-inf", "inf",
                                                 std::to_string(kTruncateChunk)},
                                                context));
      if (n->type != REDIS_REPLY_INTEGER || n->integer == 0) break;
    }
    return true;
  }

  // One MULTI/EXEC: forgets the checkpoints `sids`; with `emptied`, also what said `table`
  // held rows (its multi-block index and its `rows` flag, when it has a description).
  Status ForgetStreams(RedisConnection& conn, const std::string& table,
                       const std::vector<std::string>& sids, bool emptied, bool has_meta,
                       const std::string& context) {
    std::string buf;
    size_t count = 0;
    AppendCommand(&buf, {"MULTI"});
    for (const std::string& sid : sids) {
      AppendCommand(&buf, {"DEL", shared_->StateKey(sid), shared_->StateTablesKey(sid)});
      AppendCommand(&buf, {"ZREM", shared_->StreamsKey(), sid});
      AppendCommand(&buf, {"SREM", shared_->TableStreamsKey(table), sid});
      count += 3;
    }
    if (emptied) {
      AppendCommand(&buf, {"DEL", shared_->IdxsKey(table)});
      ++count;
      if (has_meta) {
        AppendCommand(&buf, {"HSET", shared_->MetaKey(table), "rows", "0"});
        ++count;
      }
    }
    AppendCommand(&buf, {"EXEC"});
    count += 2;
    AMP_RETURN_NOT_OK(conn.AppendRaw(buf));
    for (size_t i = 0; i < count; ++i) {
      AMP_ASSIGN_OR_RETURN(auto r, conn.ReadReply(context));
      if (IsError(*r)) return conn.ServerError(ReplyText(*r), context);
      if (i + 1 == count && r->type == REDIS_REPLY_ARRAY) {
        for (size_t k = 0; k < r->elements; ++k) {
          if (IsError(*r->element[k])) return conn.ServerError(ReplyText(*r->element[k]), context);
        }
      }
    }
    return Status::OK();
  }

  // Deletes every row of `table`, then forgets its streams' checkpoints in one transaction.
  Status TruncateOn(RedisConnection& conn, const std::string& table) {
    const std::string context = "truncate table '" + table + "'";
    AMP_ASSIGN_OR_RETURN(bool has_meta, DeleteRows(conn, table, context));
    AMP_ASSIGN_OR_RETURN(auto sids, conn.Command({"SMEMBERS", shared_->TableStreamsKey(table)}, context));
    std::vector<std::string> ids;
    for (size_t i = 0; i < sids->elements; ++i) ids.emplace_back(ReplyText(*sids->element[i]));
    AMP_RETURN_NOT_OK(ForgetStreams(conn, table, ids, true, has_meta, context));
    return conn.Command({"DEL", shared_->TableStreamsKey(table)}, context).status();
  }

 public:
  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id,
                                bool truncate) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    const std::string context = "reset the progress into table '" + table + "'";
    // Which checkpoints go: the job's own ("<job>", "<job>/..."); every one that wrote the
    // table when no job is named or when its rows are deleted; and those jobs' plans (a
    // plan commit touches no table, only its id ties it to the job).
    AMP_ASSIGN_OR_RETURN(auto all, conn->Command({"ZRANGE", shared_->StreamsKey(), "0", "-1"}, context));
    AMP_ASSIGN_OR_RETURN(auto of_table, conn->Command({"SMEMBERS", shared_->TableStreamsKey(table)}, context));
    std::set<std::string> wrote;
    for (size_t i = 0; i < of_table->elements; ++i) wrote.emplace(ReplyText(*of_table->element[i]));
    std::set<std::string> gone;
    for (size_t i = 0; i < all->elements; ++i) {
      const std::string sid(ReplyText(*all->element[i]));
      const bool of_job = !job_id.empty() && (sid == job_id || sid.rfind(job_id + "/", 0) == 0);
      AMP_ASSIGN_OR_RETURN(auto written, conn->Command({"HEXISTS", shared_->StateTablesKey(sid), table}, context));
      const bool of_this_table = wrote.count(sid) > 0 || written->integer > 0;
      if (of_job || ((job_id.empty() || truncate) && of_this_table)) gone.insert(sid);
    }
    std::set<std::string> plans;
    for (const auto& sid : gone) plans.insert(sid.substr(0, sid.find('/')) + "/plan");
    for (size_t i = 0; i < all->elements; ++i) {
      const std::string sid(ReplyText(*all->element[i]));
      if (plans.count(sid)) gone.insert(sid);
    }
    bool has_meta = false;
    if (truncate) {
      AMP_ASSIGN_OR_RETURN(has_meta, DeleteRows(*conn, table, context));
    }
    std::vector<std::string> ids(gone.begin(), gone.end());
    AMP_RETURN_NOT_OK(ForgetStreams(*conn, table, ids, truncate, has_meta, context));
    return static_cast<int64_t>(ids.size());
  }

 private:
  std::shared_ptr<Shared> shared_;
  LoaderCapabilities capabilities_;
};

std::string PercentDecode(const std::string& text) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<OptionSpec> RedisOptions() {
  using T = OptionSpec::Type;
  return {
      {"host", T::kString, "127.0.0.1", "Server host name or IP address."},
      {"port", T::kInt, "6379", "Server port."},
      {"db", T::kInt, "0", "Database number (SELECT)."},
      {"user", T::kString, "", "ACL user name (Redis 6+); empty: the default user."},
      {"password", T::kSecret, "",
       "Password (AUTH); \"env:VAR\" reads it from an environment variable. Never logged."},
      {"prefix", T::kString, "",
       "Prepended to every key the loader writes (rows, index, descriptions, checkpoints)."},
      {"data_structure", T::kString, "hash",
       "How rows are stored: hash (one hash per row), string (one JSON document per row), "
       "stream (XADD entries), set, sorted_set or list (JSON documents in one collection per "
       "key_pattern)."},
      {"key_pattern", T::kString, "",
       "Key of each row (hash, string) or collection: text with {column} placeholders and "
       "{table}, {_amp_block_start}, {_amp_block_end}, {_amp_seq}. Empty: "
       "{table}:{_amp_block_start}:{_amp_seq} (unique per row), {table}:{k1}:{k2}... for "
       "upserts, {table} for collections."},
      {"ttl", T::kInt, "0", "Seconds until written keys expire (EXPIRE); 0: never."},
      {"pipeline", T::kInt, "1000", "Commands in flight before the loader waits for replies."},
      {"score_column", T::kString, "",
       "sorted_set: the numeric column giving each member's score; empty: the row's block."},
      {"client_name", T::kString, "ampsync", "CLIENT SETNAME of the loader's connections."},
      {"connect_timeout", T::kInt, "5", "Seconds to connect; a timeout is retryable."},
      {"socket_timeout", T::kInt, "60",
       "Seconds to wait for a reply (0: no limit); a timeout drops the connection and the "
       "unit is retried."},
  };
}

Result<LoaderConfig> ConfigFromUri(const std::string& uri) {
  LoaderConfig config;
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return FatalError("[redis] not a redis:// URI", "config");
  const std::string s = Lower(uri.substr(0, scheme));
  if (s != "redis") {
    return FatalError("[redis] URI scheme '" + s + "' is not supported (redis:// only; no TLS)",
                      "config");
  }
  std::string rest = uri.substr(scheme + 3);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string authority = rest, path;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    const std::string user = PercentDecode(userinfo.substr(0, colon));
    if (!user.empty()) config["user"] = user;
    if (colon != std::string::npos) config["password"] = PercentDecode(userinfo.substr(colon + 1));
  }
  if (!authority.empty()) {
    std::string host = authority;
    if (authority.front() == '[') {  // [ipv6]:port
      const size_t close = authority.find(']');
      host = authority.substr(1, close - 1);
      if (close + 1 < authority.size() && authority[close + 1] == ':') {
        config["port"] = authority.substr(close + 2);
      }
    } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
      host = authority.substr(0, colon);
      config["port"] = authority.substr(colon + 1);
    }
    if (!host.empty()) config["host"] = PercentDecode(host);
  }
  if (!path.empty()) config["db"] = path;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string item = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    config[PercentDecode(item.substr(0, eq))] =
        eq == std::string::npos ? "" : PercentDecode(item.substr(eq + 1));
  }
  return config;
}

Result<std::unique_ptr<Loader>> MakeRedisLoader(const LoaderConfig& config) {
  AMP_ASSIGN_OR_RETURN(Settings settings, SettingsFromConfig(config));
  return std::unique_ptr<Loader>(new RedisLoader(std::move(settings)));
}

}  // namespace redis

void RegisterRedisLoader(LoaderRegistry& registry) {
  LoaderRegistry::Entry entry;
  entry.name = redis::kLoaderName;
  entry.description =
      "Redis via hiredis: hashes, JSON strings, streams, sets, sorted sets or lists; each "
      "commit is one MULTI/EXEC holding the undo, the rows and the checkpoint";
  entry.options = redis::RedisOptions();
  entry.factory = redis::MakeRedisLoader;
  entry.uri_schemes = {"redis"};
  entry.from_uri = redis::ConfigFromUri;
  registry.Register(std::move(entry));
}

}  // namespace amp
