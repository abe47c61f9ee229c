#include "loaders/postgres/postgres_loader.h"

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "loaders/common/connection_uri.h"
#include "loaders/common/names.h"
#include "loaders/common/options.h"
#include "loaders/common/table_spec.h"
#include "loaders/common/unit_session.h"
#include "loaders/postgres/pg_connection.h"
#include "loaders/postgres/pg_copy_reader.h"
#include "loaders/postgres/pg_copy_writer.h"
#include "loaders/postgres/pg_error.h"
#include "loaders/postgres/pg_types.h"

namespace amp {
namespace postgres {
namespace {

constexpr const char* kLoaderName = "postgresql";
constexpr const char* kStateTable = "amp_client_state";
// One row per destination table: whether it held rows after our last commit to it (and its
// OID then), so that a checkpoint of a table that has since been dropped, recreated or
// emptied is noticed (see CheckProgress).
constexpr const char* kTablesTable = "amp_client_tables";
constexpr const char* kBlockStart = "_amp_block_start";
constexpr const char* kBlockEnd = "_amp_block_end";
// PQputCopyData chunk: large enough to amortise the call, small enough to stream.
constexpr size_t kCopyChunkBytes = 1 << 20;
constexpr uint64_t kMaxBigint = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// The password(s) written in a URI's userinfo or a key=value string, raw and decoded, so
// they can be redacted even from libpq's messages about a string it failed to parse.
std::vector<std::string> PasswordsInConnectionString(const std::string& text) {
  std::vector<std::string> out;
  if (size_t scheme = text.find("://"); scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = text.find_first_of("/?", start);
    std::string authority = text.substr(start, end == std::string::npos ? end : end - start);
    size_t at = authority.rfind('@');
    if (at != std::string::npos) {
      std::string userinfo = authority.substr(0, at);
      size_t colon = userinfo.find(':');
      if (colon != std::string::npos && colon + 1 < userinfo.size()) {
        out.push_back(userinfo.substr(colon + 1));
        // A malformed escape is libpq's to report; the raw text is redacted either way.
        if (auto decoded = loaders::PercentDecode(out.back(), "the password"); decoded.ok()) {
          out.push_back(std::move(*decoded));
        }
      }
    }
  }
  for (size_t pos = text.find("password"); pos != std::string::npos;
       pos = text.find("password", pos + 8)) {
    size_t v = text.find_first_not_of(" =", pos + 8);
    if (v == std::string::npos || text.find('=', pos + 8) > v) continue;
    size_t e = text.find_first_of(" &", v);
    std::string value = text.substr(v, e == std::string::npos ? e : e - v);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    if (!value.empty()) out.push_back(value);
  }
  return out;
}

std::string Prefix(std::string_view text) { return std::string(kErrorPrefix) + std::string(text); }

// ---------------------------------------------------------------------------------------
// Configuration.

const char* const kSslModes[] = {"disable", "allow", "prefer", "require", "verify-ca",
                                 "verify-full"};

struct Settings {
  ConnectParams connect;
  std::string schema;
  int max_connections = 8;
  bool pool_size_configured = false;  // max_connections given, not left at its default
  std::chrono::milliseconds pool_timeout{60000};
};

Result<Settings> SettingsFromConfig(const LoaderConfig& config) {
  Settings s;
  const loaders::OptionValues options(kLoaderName, PostgresOptions(), config);
  auto get = [&](const char* name) { return options.GetString(name); };
  auto get_int = [&](const char* name, int min, int max) -> Result<int> {
    AMP_ASSIGN_OR_RETURN(int64_t value, options.GetInt(name, min, max));
    return static_cast<int>(value);
  };
  // "env:" references (whole values and inside the URI) were resolved by the registry
  // (loaders/common/secrets.h), the one place every loader's secrets are read.
  const std::string uri = get("uri");
  const std::string password = get("password");
  std::vector<std::string>& secrets = s.connect.secrets;
  if (!password.empty()) secrets.push_back(password);

  // What the URI says, for validation, the secret list and the message target.
  std::map<std::string, std::string> parsed;
  if (!uri.empty()) {
    secrets.push_back(uri);
    for (std::string& secret : PasswordsInConnectionString(uri)) secrets.push_back(secret);
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(uri.c_str(), &err);
    if (opts == nullptr) {
      std::string why = err ? err : "cannot parse";
      PQfreemem(err);
      // libpq may quote the offending part of the URI: never show the URI itself.
      return FatalError(Redact(Prefix("option 'uri' is not a valid connection URI: " + why),
                               secrets),
                        "config");
    }
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (o->val != nullptr) parsed[o->keyword] = o->val;
    }
    PQconninfoFree(opts);
    if (auto it = parsed.find("password"); it != parsed.end() && !it->second.empty()) {
      secrets.push_back(it->second);
    }
    s.connect.keywords.emplace_back("dbname", uri);  // expanded by libpq (expand_dbname)
  }
  auto add = [&](const char* keyword, const std::string& value) {
    if (value.empty()) return;
    s.connect.keywords.emplace_back(keyword, value);
    parsed[keyword] = value;
  };
  add("host", get("host"));
  if (!get("port").empty()) {
    AMP_ASSIGN_OR_RETURN(int port, get_int("port", 1, 65535));
    add("port", std::to_string(port));
  }
  add("dbname", get("database"));
  add("user", get("user"));
  add("password", password);
  // A URI's own sslmode / application_name / connect_timeout win over our *defaults*
  // (the registry fills those in, so "not given" looks like "default"): never weaken a
  // URI's sslmode=require to the default prefer.
  auto uri_or = [&](const char* option, const char* keyword) {
    std::string value = get(option);
    auto it = parsed.find(keyword);
    if (it != parsed.end() && options.IsDefault(option)) return it->second;
    return value;
  };
  std::string sslmode = uri_or("sslmode", "sslmode");
  if (!sslmode.empty() &&
      std::find(std::begin(kSslModes), std::end(kSslModes), sslmode) == std::end(kSslModes)) {
    return FatalError(Prefix("option 'sslmode' must be one of disable, allow, prefer, "
                             "require, verify-ca, verify-full; got \"" + sslmode + "\""),
                      "config");
  }
  add("sslmode", sslmode);
  add("application_name", uri_or("application_name", "application_name"));
  s.connect.keywords.emplace_back("client_encoding", "UTF8");

  AMP_ASSIGN_OR_RETURN(int64_t timeout,
                       loaders::ParseIntOption(kLoaderName, "connect_timeout",
                                               uri_or("connect_timeout", "connect_timeout"), 0, 86400));
  s.connect.connect_timeout = std::chrono::seconds(timeout);
  AMP_ASSIGN_OR_RETURN(s.max_connections, get_int("max_connections", 1, 10000));
  s.pool_size_configured = !options.IsDefault("max_connections");
  AMP_ASSIGN_OR_RETURN(int64_t pool_timeout, options.GetInt("pool_timeout", 0, 86400));
  s.pool_timeout = std::chrono::seconds(pool_timeout);

  s.schema = get("schema");
  if (s.schema.empty() || s.schema.size() > kMaxIdentifierBytes) {
    return FatalError(Prefix("option 'schema' must be 1 to 63 bytes"), "config");
  }

  auto part = [&](const char* k, const char* fallback) {
    auto it = parsed.find(k);
    return it != parsed.end() && !it->second.empty() ? it->second : std::string(fallback);
  };
  s.connect.target = part("user", "(default user)") + "@" + part("host", "localhost") + ":" +
                     part("port", "5432") + "/" + part("dbname", "(default database)");
  s.connect.target = Redact(s.connect.target, secrets);
  return s;
}

// ---------------------------------------------------------------------------------------
// Tables.

// A stable, short hash for index names (FNV-1a).
std::string ShortHash(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", h);
  return buf;
}

// `name` cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string Utf8Prefix(const std::string& name, size_t max_bytes) {
  if (name.size() <= max_bytes) return name;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
  return name.substr(0, n);
}

// A relation name derived from a table name, unique per (schema, table), <= 63 bytes.
std::string DerivedName(const std::string& schema, const std::string& table,
                        const char* suffix) {
  return Utf8Prefix(table, 40) + "_" + ShortHash(schema + "." + table) + suffix;
}

// A text[] literal for a parameter: {"a","b"} with quotes and backslashes escaped.
std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string JoinQuoted(const std::vector<std::string>& names, const std::string& prefix = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.append(", ");
    out.append(prefix).append(QuoteIdent(names[i]));
  }
  return out;
}

/// What EnsureTable learned about a table, shared read-only with the sessions.
struct TableInfo {
  TableSpec spec;
  std::string qualified;                     // "schema"."table"
  std::vector<PgType> types;                 // per spec.schema field
  std::unordered_map<std::string, int> by_name;
  std::string undo_sql;
  // kUpsert only: the per-unit staging table and the statements around it.
  std::string stage;
  std::string create_stage_sql;
  std::string merge_sql;
  std::string clear_stage_sql;
};

// State shared by the loader and its sessions (sessions may outlive neither the process
// nor this, but they may outlive the Loader object: they hold it by shared_ptr).
struct Shared {
  explicit Shared(const Settings& settings)
      : pool(settings.connect, settings.max_connections, settings.pool_timeout),
        schema(settings.schema),
        state_table(QualifiedName(settings.schema, kStateTable)),
        tables_table(QualifiedName(settings.schema, kTablesTable)) {}

  ConnectionPool pool;
  const std::string schema;
  const std::string state_table;
  const std::string tables_table;

  std::mutex mu;
  std::map<std::string, std::shared_ptr<const TableInfo>> tables;  // guarded by mu

  std::shared_ptr<const TableInfo> Find(const std::string& table) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tables.find(table);
    return it == tables.end() ? nullptr : it->second;
  }
};

Result<std::shared_ptr<const TableInfo>> Lookup(Shared& shared, const std::string& table) {
  auto info = shared.Find(table);
  if (info == nullptr) {
    return FatalError(Prefix("table " + QualifiedName(shared.schema, table) +
                             " is unknown to this loader: call EnsureTable() first"),
                      "usage");
  }
  return info;
}

// Runs `fn` on a pooled connection; when the connection turns out to be dead (server
// restarted since it was pooled) `fn` runs once more on a fresh one. `fn` must be
// idempotent and transactional (a dead connection rolled its work back).
Status WithConnection(ConnectionPool& pool, const std::function<Status(PgConnection&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    AMP_ASSIGN_OR_RETURN(auto conn, pool.Acquire());
    Status st = fn(*conn);
    const bool broken = conn->broken();
    if (!st.ok() && !broken && !conn->idle()) {
      (void)conn->Exec("ROLLBACK", "ROLLBACK");
    }
    pool.Release(std::move(conn));
    if (st.ok() || !broken || attempt > 0) return st;
  }
}

Result<bool> RelationExists(PgConnection& conn, const std::string& qualified) {
  AMP_ASSIGN_OR_RETURN(auto res, conn.Query("SELECT to_regclass($1) IS NOT NULL", {qualified},
                                            "look up " + qualified));
  return std::string_view(PQgetvalue(res.get(), 0, 0)) == "t";
}

// The refusal of a checkpoint whose table no longer holds the rows it says were committed.
Status StaleProgress(const std::string& stream_id, const std::string& table,
                     const std::string& qualified, const std::string& what) {
  return FatalError(
      Prefix("progress outlives its table: the checkpoint of stream " + stream_id +
             " says rows were committed to " + qualified + ", but " + what +
             "; nothing was loaded. To load everything again, rerun with --reset, or clear "
             "the progress with `ampsync reset --to URI --table " + table + "`"),
      kStaleProgressCode);
}

// Refuses the checkpoints selected by `where` (over amp_client_state s, with `params`)
// when a table they wrote held rows after our last commit to it and is now gone or empty.
// Emptiness rather than the OID or relfilenode decides: VACUUM FULL, CLUSTER or a dump
// and restore keep the rows (and are accepted) although they change relfilenode or OID; a
// drop (our EnsureTable then recreates the table empty), a TRUNCATE or a DELETE of every
// row leaves none. The OID only tells the message which of these happened.
Status CheckProgress(PgConnection& conn, const std::string& schema, const std::string& state_table,
                     const std::string& tables_table, const std::string& where,
                     const std::vector<std::string>& params) {
  AMP_ASSIGN_OR_RETURN(bool has_tables, RelationExists(conn, tables_table));
  if (!has_tables) return Status::OK();  // written by a release that did not record it
  std::vector<std::optional<std::string>> args(params.begin(), params.end());
  args.push_back(schema);
  const std::string n = std::to_string(args.size());
  AMP_ASSIGN_OR_RETURN(
      auto res,
      conn.Query("SELECT DISTINCT ON (t.table_name) s.stream_id, t.table_name,"
                 " t.table_oid::text, to_regclass(quote_ident($" + n +
                     ") || '.' || quote_ident(t.table_name))::oid::text"
                     " FROM " + state_table + " s JOIN " + tables_table +
                     " t ON t.table_name = ANY(s.table_names) WHERE t.has_rows AND (" + where +
                     ") ORDER BY t.table_name, s.stream_id",
                 args, "check the tables of the checkpoints"));
  for (int row = 0; row < PQntuples(res.get()); ++row) {
    const std::string stream_id = PQgetvalue(res.get(), row, 0);
    const std::string table = PQgetvalue(res.get(), row, 1);
    const std::string qualified = QualifiedName(schema, table);
    if (PQgetisnull(res.get(), row, 3)) {
      return StaleProgress(stream_id, table, qualified, "that table no longer exists");
    }
    AMP_ASSIGN_OR_RETURN(auto any, conn.Query("SELECT EXISTS (SELECT 1 FROM " + qualified + ")",
                                              {}, "look for rows in " + qualified));
    if (std::string_view(PQgetvalue(any.get(), 0, 0)) == "t") continue;
    const bool recreated = std::string_view(PQgetvalue(res.get(), row, 2)) !=
                           std::string_view(PQgetvalue(res.get(), row, 3));
    return StaleProgress(stream_id, table, qualified,
                         recreated ? "that table was dropped and recreated since (it is empty)"
                                   : "that table is empty now (truncated, or its rows deleted)");
  }
  return Status::OK();
}

// The shared checks (loaders/common/table_spec.h) with PostgreSQL's name rules (63 bytes,
// our state table); block numbers of any integer type are cast to bigint.
Status ValidateSpec(const TableSpec& spec) {
  static const loaders::StoreLimits kLimits{.destination = "postgres",
                                            .names = &loaders::PostgresNameRules(),
                                            .block_column_types = loaders::IntegerBlockTypes()};
  return loaders::ValidateTableSpec(spec, kLimits);
}

std::shared_ptr<TableInfo> BuildTableInfo(const TableSpec& spec, std::vector<PgType> types,
                                          const std::string& schema) {
  auto info = std::make_shared<TableInfo>();
  info->spec = spec;
  info->qualified = QualifiedName(schema, spec.name);
  info->types = std::move(types);
  for (int i = 0; i < spec.schema->num_fields(); ++i) {
    info->by_name[spec.schema->field(i)->name()] = i;
  }
  info->undo_sql = "DELETE FROM " + info->qualified + " WHERE " + QuoteIdent(kBlockEnd) +
                   " >= $1 AND " + QuoteIdent(kBlockStart) + " <= $2";
  if (spec.mode == LoadMode::kUpsert) {
    info->stage = QuoteIdent(DerivedName(schema, spec.name, "_amp_stage"));
    info->create_stage_sql = "CREATE TEMP TABLE IF NOT EXISTS " + info->stage + " (LIKE " +
                             info->qualified + " INCLUDING DEFAULTS) ON COMMIT DROP";
    std::vector<std::string> all;
    for (const auto& field : spec.schema->fields()) all.push_back(field->name());
    all.push_back(kBlockStart);
    all.push_back(kBlockEnd);
    std::set<std::string> keys(spec.key_columns.begin(), spec.key_columns.end());
    std::string sets;
    for (const auto& c : all) {
      if (keys.count(c)) continue;
      if (!sets.empty()) sets.append(", ");
      sets.append(QuoteIdent(c)).append(" = EXCLUDED.").append(QuoteIdent(c));
    }
    const std::string key_list = JoinQuoted(spec.key_columns);
    // DISTINCT ON keeps the last row of a key within the batch (COPY fills the fresh
    // staging heap in order, so ctid order is arrival order): ON CONFLICT DO UPDATE
    // cannot touch one row twice in a statement.
    info->merge_sql = "INSERT INTO " + info->qualified + " (" + JoinQuoted(all) +
                      ") SELECT DISTINCT ON (" + key_list + ") " + JoinQuoted(all) +
                      " FROM " + info->stage + " ORDER BY " + key_list +
                      ", ctid DESC ON CONFLICT (" + key_list + ") DO UPDATE SET " + sets;
    info->clear_stage_sql = "TRUNCATE " + info->stage;
  }
  return info;
}

// ---------------------------------------------------------------------------------------
// Session.

// After a failed statement PostgreSQL rejects everything until ROLLBACK: the session
// Poison()s the unit with the original error (and its class), which later calls return
// rather than "current transaction is aborted".
class PostgresSession final : public loaders::UnitSession {
 public:
  PostgresSession(std::shared_ptr<Shared> shared, std::unique_ptr<PgConnection> conn)
      : UnitSession("postgres"), shared_(std::move(shared)), conn_(std::move(conn)) {}

  ~PostgresSession() override {
    AbortOpenUnit();
    shared_->pool.Release(std::move(conn_));
  }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    return ReadWithinOrOutsideUnit("LoadCheckpoint", [&] { return ReadCheckpoint(stream_id); });
  }

  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    return ReadWithinOrOutsideUnit("LoadCheckpoints", [&] { return ReadCheckpoints(prefix); });
  }

 protected:
  Status BeginImpl() override {
    for (int attempt = 0;; ++attempt) {
      AMP_RETURN_NOT_OK(EnsureConnection());
      Status st = conn_->Exec("BEGIN", "BEGIN");
      if (st.ok()) break;
      // A pooled connection whose server restarted only notices on first use.
      if (!conn_->broken() || attempt > 0) return st;
    }
    touched_.clear();
    appended_.clear();
    return Status::OK();
  }

  Status UndoImpl(const std::string& table, const BlockInterval& blocks) override {
    AMP_ASSIGN_OR_RETURN(auto info, Lookup(*shared_, table));
    touched_.insert(table);
    if (blocks.start > blocks.end || blocks.start > kMaxBigint) return Status::OK();
    AMP_RETURN_NOT_OK(FinishCopy());  // the delete must see the rows appended before it
    const uint64_t end = std::min(blocks.end, kMaxBigint);  // kMaxBlock = "to the end"
    auto res = conn_->Query(info->undo_sql, {std::to_string(blocks.start), std::to_string(end)},
                            "undo blocks [" + std::to_string(blocks.start) + ", " +
                                std::to_string(blocks.end) + "] in " + info->qualified);
    return Poison(res.status());
  }

  Status AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                    const BlockRange& microbatch) override {
    AMP_ASSIGN_OR_RETURN(auto info, Lookup(*shared_, table));
    touched_.insert(table);
    if (batch.num_rows() == 0) return Status::OK();
    appended_.insert(table);

    // The batch's columns by name (they may be a subset, in any order).
    std::vector<CopyColumn> columns;
    std::vector<std::string> names;
    for (int i = 0; i < batch.num_columns(); ++i) {
      const auto& field = batch.schema()->field(i);
      auto it = info->by_name.find(field->name());
      if (it == info->by_name.end()) {
        return Poison(FatalError(Prefix("append to " + info->qualified + ": column " +
                                       QuoteIdent(field->name()) +
                                       " is not in the table spec"),
                                "schema"));
      }
      const PgType& want = info->types[it->second];
      auto have = MapArrowType(*field->type());
      if (!have.ok() || have->sql != want.sql) {
        return Poison(FatalError(
            Prefix("append to " + info->qualified + ": column " + QuoteIdent(field->name()) +
                   " has Arrow type " + field->type()->ToString() + ", the table column is " +
                   want.sql),
            "schema"));
      }
      columns.push_back({i, want});
      names.push_back(field->name());
    }
    BlockTags tags;
    if (!info->spec.block_column.empty()) {
      int idx = batch.schema()->GetFieldIndex(info->spec.block_column);
      if (idx < 0) {
        return Poison(FatalError(Prefix("append to " + info->qualified + ": the batch lacks "
                                       "the block column " +
                                       QuoteIdent(info->spec.block_column)),
                                "schema"));
      }
      tags.per_row = batch.column(idx).get();
    } else {
      tags.start = microbatch.start;
      tags.end = microbatch.end;
    }
    names.push_back(kBlockStart);
    names.push_back(kBlockEnd);

    const bool upsert = info->spec.mode == LoadMode::kUpsert;
    const std::string& target = upsert ? info->stage : info->qualified;
    std::string copy_sql = "COPY " + target + " (" + JoinQuoted(names) +
                           ") FROM STDIN WITH (FORMAT binary)";
    // Consecutive appends to the same table (same columns) share one COPY: the server
    // keeps inserting while the next batch is read and encoded, and pays the statement's
    // set-up once per unit rather than once per batch.
    if (!copy_ || copy_->sql != copy_sql) {
      AMP_RETURN_NOT_OK(FinishCopy());
      const std::string context = "COPY into " + info->qualified;
      if (upsert) {
        AMP_RETURN_NOT_OK(Poison(conn_->Exec(info->create_stage_sql, "stage for " + context)));
      }
      AMP_RETURN_NOT_OK(Poison(conn_->StartCopy(copy_sql, context)));
      copy_ = OpenCopy{std::move(copy_sql), info};
      buffer_.Clear();
      AppendCopyHeader(&buffer_);
    }

    bool send_failed = false;
    Status enc = WriteCopyRows(batch, columns, tags, kCopyChunkBytes, &buffer_,
                               [&](std::string_view chunk) -> Status {
                                 Status st = conn_->PutCopyData(chunk);
                                 send_failed = !st.ok();
                                 return st;
                               });
    if (enc.ok()) {
      // Everything of this batch on the socket: the server never waits for our next one.
      enc = conn_->FlushCopy();
      send_failed = !enc.ok();
    }
    if (enc.ok()) return Status::OK();
    buffer_.Clear();
    copy_.reset();
    if (send_failed) {
      // The connection failed (or the server hung up): its reason, e.g. the error that
      // made it end the COPY, comes with the COPY's result.
      Status st = conn_->EndCopy();
      return Poison(st.ok() ? ResultError(nullptr, conn_->get(),
                                         "COPY into " + info->qualified)
                           : st);
    }
    // An encoding failure (the value, not the server): fatal, names column and row. The
    // server discards the whole COPY (earlier batches of this unit too); the unit fails.
    conn_->AbortCopy("aborted by the client: encoding failed");
    return Poison(FatalError(Prefix("COPY into " + info->qualified + " (" +
                                   microbatch.ToString() + "): " + enc.message()),
                            "encode"));
  }

  Status CommitImpl(const StreamCheckpoint* checkpoint) override {
    Status st = WriteAndCommit(checkpoint);
    if (!st.ok()) {
      AbortImpl();  // rolls back whatever is left; the unit is over either way
      CloseUnit();
    }
    return st;
  }

  void AbortImpl() override {
    if (copy_) {
      copy_.reset();
      buffer_.Clear();
      if (conn_ != nullptr) conn_->AbortCopy("aborted by the client");
    }
    if (conn_ != nullptr && !conn_->broken() && !conn_->idle()) {
      (void)conn_->Exec("ROLLBACK", "ROLLBACK");
    }
  }

 private:
  // Inside a unit a read shares its transaction (and poisons it on failure, as PostgreSQL
  // does); outside one a pooled connection whose server restarted gets one reconnect.
  template <typename Read>
  auto ReadWithinOrOutsideUnit(const char* call, Read read) -> decltype(read()) {
    if (unit_open()) {
      AMP_RETURN_NOT_OK(CheckUnit(call));
      AMP_RETURN_NOT_OK(FinishCopy());
      auto r = read();
      if (!r.ok()) (void)Poison(r.status());
      return r;
    }
    for (int attempt = 0;; ++attempt) {
      AMP_RETURN_NOT_OK(EnsureConnection());
      auto r = read();
      if (r.ok() || !conn_->broken() || attempt > 0) return r;
    }
  }

  Status EnsureConnection() {
    if (conn_ != nullptr && !conn_->broken()) return Status::OK();
    shared_->pool.Release(std::move(conn_));
    AMP_ASSIGN_OR_RETURN(conn_, shared_->pool.Acquire());
    return Status::OK();
  }

  // Ends the COPY the last appends streamed into, so that another statement can run: its
  // rows are then in the table (merged from the stage for upserts), or the unit failed
  // with the server's reason (a value it rejected arrives here, not at the Append).
  Status FinishCopy() {
    if (!copy_) return Status::OK();
    std::shared_ptr<const TableInfo> info = std::move(copy_->info);
    copy_.reset();
    buffer_.Clear();
    AppendCopyTrailer(&buffer_);
    (void)conn_->PutCopyData(buffer_.view());  // a failed send: EndCopy says why
    buffer_.Clear();
    AMP_RETURN_NOT_OK(Poison(conn_->EndCopy()));
    if (info->spec.mode == LoadMode::kUpsert) {
      AMP_RETURN_NOT_OK(Poison(conn_->Exec(info->merge_sql, "upsert into " + info->qualified)));
      AMP_RETURN_NOT_OK(Poison(conn_->Exec(info->clear_stage_sql, "clear stage")));
    }
    return Status::OK();
  }

  // Records, in the unit's transaction, whether each table it touched holds rows and its
  // OID. Written only when that changes (the first rows, an undo that emptied the table, a
  // recreated table): an unconditional upsert would lock the one row per table and make
  // parallel workers commit one after the other.
  Status RecordTables() {
    for (const std::string& table : touched_) {
      const std::string qualified = QualifiedName(shared_->schema, table);
      bool has_rows = appended_.count(table) > 0;
      if (!has_rows) {
        AMP_ASSIGN_OR_RETURN(auto any, conn_->Query("SELECT EXISTS (SELECT 1 FROM " + qualified + ")",
                                                    {}, "look for rows in " + qualified));
        has_rows = std::string_view(PQgetvalue(any.get(), 0, 0)) == "t";
      }
      AMP_ASSIGN_OR_RETURN(
          auto now, conn_->Query("SELECT to_regclass($1)::oid::text, (SELECT table_oid::text || ','"
                                 " || has_rows::text FROM " + shared_->tables_table +
                                     " WHERE table_name = $2)",
                                 {qualified, table}, "read the state of " + qualified));
      const std::string oid = PQgetvalue(now.get(), 0, 0);
      const std::string want = oid + "," + (has_rows ? "true" : "false");
      if (!PQgetisnull(now.get(), 0, 1) && PQgetvalue(now.get(), 0, 1) == want) continue;
      AMP_RETURN_NOT_OK(conn_->Query("INSERT INTO " + shared_->tables_table +
                                         " (table_name, table_oid, has_rows, updated_at)"
                                         " VALUES ($1, $2::oid, $3::boolean, now())"
                                         " ON CONFLICT (table_name) DO UPDATE SET"
                                         " table_oid = EXCLUDED.table_oid,"
                                         " has_rows = EXCLUDED.has_rows, updated_at = now()",
                                     {table, oid, has_rows ? "true" : "false"},
                                     "record the state of " + qualified)
                            .status());
    }
    return Status::OK();
  }

  Status WriteAndCommit(const StreamCheckpoint* checkpoint) {
    AMP_RETURN_NOT_OK(FinishCopy());
    AMP_RETURN_NOT_OK(RecordTables());
    if (checkpoint != nullptr) {
      if (checkpoint->stream_id.empty()) {
        return FatalError(Prefix("checkpoint without a stream_id"), "usage");
      }
      if (checkpoint->transaction_id > kMaxBigint) {
        return FatalError(Prefix("checkpoint transaction_id exceeds 2^63-1"), "usage");
      }
      std::vector<std::string> tables(touched_.begin(), touched_.end());
      const std::string sql =
          "INSERT INTO " + shared_->state_table +
          " AS s (stream_id, checkpoint, transaction_id, table_names, updated_at)"
          " VALUES ($1, $2::jsonb, $3::bigint, $4::text[], now())"
          " ON CONFLICT (stream_id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint,"
          " transaction_id = EXCLUDED.transaction_id,"
          " table_names = ARRAY(SELECT DISTINCT t FROM"
          " unnest(s.table_names || EXCLUDED.table_names) AS t ORDER BY t),"
          " updated_at = EXCLUDED.updated_at";
      auto res = conn_->Query(sql,
                              {checkpoint->stream_id, checkpoint->ToJson(),
                               std::to_string(checkpoint->transaction_id),
                               TextArrayLiteral(tables)},
                              "save checkpoint of stream " + checkpoint->stream_id);
      AMP_RETURN_NOT_OK(res.status());
    }
    PgResult res(PQexec(conn_->get(), "COMMIT"));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return ResultError(res.get(), conn_->get(), "COMMIT");
    }
    // COMMIT of a transaction that had failed answers "ROLLBACK".
    if (std::string_view(PQcmdStatus(res.get())) != "COMMIT") {
      return WithErrorInfo(Status::IOError(Prefix("COMMIT: the transaction was rolled back")),
                           ErrorClass::kRetryCommit, kErrorSource, "rollback");
    }
    return Status::OK();
  }

  Result<std::optional<StreamCheckpoint>> ReadCheckpoint(const std::string& stream_id) {
    AMP_ASSIGN_OR_RETURN(bool exists, RelationExists(*conn_, shared_->state_table));
    if (!exists) return std::nullopt;
    AMP_ASSIGN_OR_RETURN(
        auto res, conn_->Query("SELECT checkpoint::text FROM " + shared_->state_table +
                                   " WHERE stream_id = $1",
                               {stream_id}, "load checkpoint of stream " + stream_id));
    if (PQntuples(res.get()) == 0) return std::nullopt;
    if (!unit_open()) {
      AMP_RETURN_NOT_OK(CheckProgress(*conn_, shared_->schema, shared_->state_table,
                                      shared_->tables_table, "s.stream_id = $1", {stream_id}));
    }
    auto parsed = StreamCheckpoint::FromJson(PQgetvalue(res.get(), 0, 0));
    if (!parsed.ok()) {
      return FatalError(Prefix("stored checkpoint of stream " + stream_id +
                               " is unreadable: " + parsed.status().message()),
                        "state");
    }
    return std::optional<StreamCheckpoint>(std::move(*parsed));
  }

  Result<std::vector<StreamCheckpoint>> ReadCheckpoints(const std::string& prefix) {
    std::vector<StreamCheckpoint> out;
    AMP_ASSIGN_OR_RETURN(bool exists, RelationExists(*conn_, shared_->state_table));
    if (!exists) return out;
    // A prefix comparison rather than LIKE: stream ids may contain '%' or '_'.
    AMP_ASSIGN_OR_RETURN(
        auto res, conn_->Query("SELECT stream_id, checkpoint::text FROM " + shared_->state_table +
                                   " WHERE left(stream_id, length($1)) = $1 ORDER BY stream_id",
                               {prefix}, "load checkpoints of streams " + prefix + "*"));
    if (!unit_open() && PQntuples(res.get()) > 0) {
      AMP_RETURN_NOT_OK(CheckProgress(*conn_, shared_->schema, shared_->state_table,
                                      shared_->tables_table,
                                      "left(s.stream_id, length($1)) = $1", {prefix}));
    }
    for (int row = 0; row < PQntuples(res.get()); ++row) {
      auto parsed = StreamCheckpoint::FromJson(PQgetvalue(res.get(), row, 1));
      if (!parsed.ok()) {
        return FatalError(Prefix(std::string("stored checkpoint of stream ") +
                                 PQgetvalue(res.get(), row, 0) +
                                 " is unreadable: " + parsed.status().message()),
                          "state");
      }
      out.push_back(std::move(*parsed));
    }
    return out;
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<PgConnection> conn_;  // null after a failed reconnect
  std::set<std::string> touched_;
  std::set<std::string> appended_;  // tables this unit added rows to
  CopyBuffer buffer_;  // COPY data not yet handed to libpq; reused across batches
  // The COPY left open by the last Append (nullopt: none), ended by FinishCopy() before
  // any other statement.
  struct OpenCopy {
    std::string sql;
    std::shared_ptr<const TableInfo> info;
  };
  std::optional<OpenCopy> copy_;
};

// ---------------------------------------------------------------------------------------
// Loader.

class PostgresLoader final : public Loader {
 public:
  explicit PostgresLoader(const Settings& settings)
      : shared_(std::make_shared<Shared>(settings)),
        pool_size_configured_(settings.pool_size_configured) {
    capabilities_.atomic_commit = true;
    capabilities_.supports_undo = true;
    capabilities_.concurrent_sessions = true;
    capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert};
  }

  std::string name() const override { return kLoaderName; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }

  // A pool left at its default size grows to what a parallel load holds; a size the user
  // chose is kept (the caller warns that workers will wait).
  int ReserveSessions(int sessions) override {
    return pool_size_configured_ ? shared_->pool.max_size() : shared_->pool.Grow(sessions);
  }

  Status EnsureTable(const TableSpec& spec) override {
    std::vector<PgType> types;
    if (spec.schema != nullptr) {
      for (const auto& field : spec.schema->fields()) {
        auto t = MapArrowType(*field->type());
        if (!t.ok()) {
          return FatalError(Prefix("table " + QualifiedName(shared_->schema, spec.name) +
                                   ", column " + QuoteIdent(field->name()) + ": " +
                                   t.status().message()),
                            "type");
        }
        types.push_back(std::move(*t));
      }
    }
    AMP_RETURN_NOT_OK(ValidateSpec(spec));
    auto info = BuildTableInfo(spec, std::move(types), shared_->schema);
    AMP_RETURN_NOT_OK(WithConnection(shared_->pool, [&](PgConnection& conn) {
      return EnsureTableOn(conn, *info);
    }));
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->tables[spec.name] = std::move(info);
    return Status::OK();
  }

  Status Truncate(const std::string& table) override {
    const std::string qualified = QualifiedName(shared_->schema, table);
    return WithConnection(shared_->pool, [&](PgConnection& conn) -> Status {
      AMP_RETURN_NOT_OK(conn.Exec("BEGIN", "BEGIN"));
      AMP_ASSIGN_OR_RETURN(bool exists, RelationExists(conn, qualified));
      if (exists) AMP_RETURN_NOT_OK(conn.Exec("TRUNCATE " + qualified, "TRUNCATE " + qualified));
      AMP_RETURN_NOT_OK(ForgetCheckpointsAndState(conn, table));
      return conn.Exec("COMMIT", "COMMIT after TRUNCATE " + qualified);
    });
  }

  Result<bool> TableExists(const std::string& table) override {
    const std::string qualified = QualifiedName(shared_->schema, table);
    bool exists = false;
    AMP_RETURN_NOT_OK(WithConnection(shared_->pool, [&](PgConnection& conn) -> Status {
      AMP_ASSIGN_OR_RETURN(exists, RelationExists(conn, qualified));
      return Status::OK();
    }));
    return exists;
  }

  Status DropTable(const std::string& table) override {
    const std::string qualified = QualifiedName(shared_->schema, table);
    return WithConnection(shared_->pool, [&](PgConnection& conn) -> Status {
      AMP_RETURN_NOT_OK(conn.Exec("BEGIN", "BEGIN"));
      AMP_RETURN_NOT_OK(conn.Exec("DROP TABLE IF EXISTS " + qualified, "DROP TABLE " + qualified));
      AMP_RETURN_NOT_OK(ForgetCheckpointsAndState(conn, table));
      return conn.Exec("COMMIT", "COMMIT after DROP TABLE " + qualified);
    });
  }

  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id,
                                bool truncate) override {
    const std::string qualified = QualifiedName(shared_->schema, table);
    int64_t forgotten = 0;
    AMP_RETURN_NOT_OK(WithConnection(shared_->pool, [&](PgConnection& conn) -> Status {
      forgotten = 0;
      AMP_RETURN_NOT_OK(conn.Exec("BEGIN", "BEGIN"));
      AMP_ASSIGN_OR_RETURN(bool exists, RelationExists(conn, qualified));
      if (truncate && exists) {
        AMP_RETURN_NOT_OK(conn.Exec("TRUNCATE " + qualified, "TRUNCATE " + qualified));
      }
      AMP_ASSIGN_OR_RETURN(bool has_state, RelationExists(conn, shared_->state_table));
      if (has_state) {
        // The job's own checkpoints ("<job>", "<job>/range/...", "<job>/plan"); every
        // checkpoint of the table when no job is named or when its rows are deleted
        // (no job's progress survives a truncation); and the plans of those jobs (a plan
        // commit touches no table, so only its id ties it to them).
        AMP_ASSIGN_OR_RETURN(
            auto res,
            conn.Query("WITH gone AS (SELECT stream_id FROM " + shared_->state_table +
                           " WHERE ($2 <> '' AND (stream_id = $2 OR left(stream_id, length($2) + 1)"
                           " = $2 || '/')) OR (($2 = '' OR $3::boolean) AND $1 = ANY(table_names)))"
                           " DELETE FROM " + shared_->state_table +
                           " WHERE stream_id IN (SELECT stream_id FROM gone) OR stream_id IN"
                           " (SELECT split_part(stream_id, '/', 1) || '/plan' FROM gone)"
                           " RETURNING stream_id",
                       {table, job_id, truncate ? "true" : "false"},
                       "forget the progress into " + qualified));
        forgotten = PQntuples(res.get());
      }
      // The table's record stays true unless its rows went.
      if (truncate) AMP_RETURN_NOT_OK(ForgetTable(conn, table));
      return conn.Exec("COMMIT", "COMMIT after resetting the progress into " + qualified);
    }));
    return forgotten;
  }

  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    AMP_ASSIGN_OR_RETURN(auto conn, shared_->pool.Acquire());
    return std::unique_ptr<LoaderSession>(new PostgresSession(shared_, std::move(conn)));
  }

  // For `ampsync audit`: one binary COPY out of the rows, decoded by pg_copy_reader.h.
  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                 const BlockInterval& blocks) override {
    std::shared_ptr<arrow::Table> rows;
    AMP_RETURN_NOT_OK(WithConnection(shared_->pool, [&](PgConnection& conn) -> Status {
      AMP_ASSIGN_OR_RETURN(rows, ReadTableRows(conn, shared_->schema, spec, blocks));
      return Status::OK();
    }));
    return rows;
  }

 private:
  // Every checkpoint that wrote `table`, and what we recorded about the table itself.
  Status ForgetCheckpointsAndState(PgConnection& conn, const std::string& table) {
    AMP_ASSIGN_OR_RETURN(bool has_state, RelationExists(conn, shared_->state_table));
    if (has_state) {
      AMP_RETURN_NOT_OK(conn.Query("DELETE FROM " + shared_->state_table +
                                       " WHERE $1 = ANY(table_names)",
                                   {table}, "forget the checkpoints of " +
                                                QualifiedName(shared_->schema, table))
                            .status());
    }
    return ForgetTable(conn, table);
  }

  Status ForgetTable(PgConnection& conn, const std::string& table) {
    AMP_ASSIGN_OR_RETURN(bool has_tables, RelationExists(conn, shared_->tables_table));
    if (!has_tables) return Status::OK();
    return conn.Query("DELETE FROM " + shared_->tables_table + " WHERE table_name = $1", {table},
                      "forget the state of " + QualifiedName(shared_->schema, table))
        .status();
  }

  Status EnsureTableOn(PgConnection& conn, const TableInfo& info) {
    const std::string& q = info.qualified;
    AMP_RETURN_NOT_OK(conn.Exec("BEGIN", "BEGIN"));
    // Serialise concurrent EnsureTable calls (other processes too): CREATE ... IF NOT
    // EXISTS alone races on the catalog.
    AMP_RETURN_NOT_OK(conn.Query("SELECT pg_advisory_xact_lock(hashtext($1))",
                                 {shared_->state_table}, "lock " + shared_->state_table)
                          .status());
    AMP_RETURN_NOT_OK(
        conn.Query("SELECT pg_advisory_xact_lock(hashtext($1))", {q}, "lock " + q).status());
    AMP_RETURN_NOT_OK(EnsureStateTable(conn));

    AMP_ASSIGN_OR_RETURN(
        auto rel, conn.Query("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
                             {q}, "look up " + q));
    const std::string block_index =
        QuoteIdent(DerivedName(shared_->schema, info.spec.name, "_amp_blocks"));
    const std::string index_sql = "CREATE INDEX IF NOT EXISTS " + block_index + " ON " + q +
                                  " (" + QuoteIdent(kBlockEnd) + ", " +
                                  QuoteIdent(kBlockStart) + ")";
    if (PQntuples(rel.get()) == 0) {
      std::string ddl = "CREATE TABLE " + q + " (";
      for (int i = 0; i < info.spec.schema->num_fields(); ++i) {
        const auto& field = info.spec.schema->field(i);
        ddl += QuoteIdent(field->name()) + " " + info.types[i].sql +
               (field->nullable() ? "" : " NOT NULL") + ", ";
      }
      ddl += QuoteIdent(kBlockStart) + " bigint NOT NULL, " + QuoteIdent(kBlockEnd) +
             " bigint NOT NULL)";
      AMP_RETURN_NOT_OK(conn.Exec(ddl, "CREATE TABLE " + q));
      AMP_RETURN_NOT_OK(conn.Exec(index_sql, "CREATE INDEX on " + q));
    } else {
      const std::string kind = PQgetvalue(rel.get(), 0, 0);
      if (kind != "r" && kind != "p") {
        return FatalError(Prefix(q + " exists but is not a table (relkind " + kind + ")"),
                          "schema");
      }
      AMP_RETURN_NOT_OK(CheckExistingColumns(conn, info));
      AMP_RETURN_NOT_OK(conn.Exec(index_sql, "CREATE INDEX on " + q));
    }
    if (info.spec.mode == LoadMode::kUpsert) AMP_RETURN_NOT_OK(EnsureKeyIndex(conn, info));
    return conn.Exec("COMMIT", "COMMIT after creating " + q);
  }

  Status EnsureStateTable(PgConnection& conn) {
    const std::string& st = shared_->state_table;
    AMP_RETURN_NOT_OK(conn.Exec(
        "CREATE TABLE IF NOT EXISTS " + st +
            " (stream_id text PRIMARY KEY, checkpoint jsonb NOT NULL,"
            " transaction_id bigint NOT NULL, table_names text[] NOT NULL DEFAULT '{}',"
            " updated_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE " + st));
    AMP_RETURN_NOT_OK(conn.Exec("CREATE TABLE IF NOT EXISTS " + shared_->tables_table +
                                    " (table_name text PRIMARY KEY, table_oid oid NOT NULL,"
                                    " has_rows boolean NOT NULL,"
                                    " updated_at timestamptz NOT NULL DEFAULT now())",
                                "CREATE TABLE " + shared_->tables_table));
    AMP_ASSIGN_OR_RETURN(
        auto res, conn.Query("SELECT string_agg(attname::text, ',') FROM pg_attribute WHERE "
                             "attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped "
                             "AND attname IN ('stream_id', 'checkpoint', 'transaction_id', "
                             "'table_names')",
                             {st}, "inspect " + st));
    std::string have = PQgetvalue(res.get(), 0, 0);
    for (const char* col : {"stream_id", "checkpoint", "transaction_id", "table_names"}) {
      if (("," + have + ",").find(std::string(",") + col + ",") == std::string::npos) {
        return FatalError(Prefix(st + " exists with another layout (no column \"" + col +
                                 "\"; another client's state table?): use another schema"),
                          "schema");
      }
    }
    return Status::OK();
  }

  Status CheckExistingColumns(PgConnection& conn, const TableInfo& info) {
    const std::string& q = info.qualified;
    AMP_ASSIGN_OR_RETURN(
        auto res,
        conn.Query("SELECT attname::text, format_type(atttypid, atttypmod), attnotnull,"
                   " atthasdef OR attidentity <> '' OR attgenerated <> ''"
                   " FROM pg_attribute WHERE attrelid = to_regclass($1)"
                   " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                   {q}, "inspect " + q));
    struct Existing {
      std::string type;
      bool not_null_without_default;
    };
    std::map<std::string, Existing> existing;
    for (int r = 0; r < PQntuples(res.get()); ++r) {
      existing[PQgetvalue(res.get(), r, 0)] = {
          PQgetvalue(res.get(), r, 1),
          std::string_view(PQgetvalue(res.get(), r, 2)) == "t" &&
              std::string_view(PQgetvalue(res.get(), r, 3)) == "f"};
    }
    auto incompatible = [&](const std::string& why) {
      return FatalError(Prefix("table " + q + " exists and is incompatible with the query: " +
                               why + "; nothing was changed"),
                        "schema");
    };
    std::set<std::string> expected;
    auto check = [&](const std::string& name, const std::string& type,
                     const std::string& arrow) -> Status {
      expected.insert(name);
      auto it = existing.find(name);
      if (it == existing.end()) {
        return incompatible("column " + QuoteIdent(name) + " (" + type + arrow +
                            ") is missing");
      }
      if (it->second.type != type) {
        return incompatible("column " + QuoteIdent(name) + " has type " + it->second.type +
                            ", the query needs " + type + arrow);
      }
      return Status::OK();
    };
    for (int i = 0; i < info.spec.schema->num_fields(); ++i) {
      const auto& field = info.spec.schema->field(i);
      AMP_RETURN_NOT_OK(check(field->name(), info.types[i].sql,
                              " for Arrow " + field->type()->ToString()));
    }
    AMP_RETURN_NOT_OK(check(kBlockStart, "bigint", ""));
    AMP_RETURN_NOT_OK(check(kBlockEnd, "bigint", ""));
    for (const auto& [name, col] : existing) {
      if (!expected.count(name) && col.not_null_without_default) {
        return incompatible("column " + QuoteIdent(name) +
                            " is NOT NULL without a default and the query does not produce it");
      }
    }
    return Status::OK();
  }

  Status EnsureKeyIndex(PgConnection& conn, const TableInfo& info) {
    std::vector<std::string> sorted = info.spec.key_columns;
    std::sort(sorted.begin(), sorted.end());
    // ON CONFLICT (keys) needs a plain unique index on exactly these columns (any order).
    AMP_ASSIGN_OR_RETURN(
        auto res,
        conn.Query("SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1)"
                   " AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL"
                   " AND ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) k"
                   " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k"
                   " ORDER BY 1) = $2::text[]",
                   {info.qualified, TextArrayLiteral(sorted)}, "inspect " + info.qualified));
    if (PQntuples(res.get()) > 0) return Status::OK();
    const std::string name = QuoteIdent(DerivedName(shared_->schema, info.spec.name, "_amp_key"));
    return conn.Exec("CREATE UNIQUE INDEX " + name + " ON " + info.qualified + " (" +
                         JoinQuoted(info.spec.key_columns) + ")",
                     "create the upsert key index on " + info.qualified);
  }

  std::shared_ptr<Shared> shared_;
  const bool pool_size_configured_;
  LoaderCapabilities capabilities_;
};

}  // namespace

std::vector<OptionSpec> PostgresOptions() {
  using T = OptionSpec::Type;
  return {
      {"uri", T::kSecret, "",
       "Connection URI (postgresql://user:password@host:port/database?param=value) or "
       "libpq key=value string; \"env:VAR\" reads it from an environment variable. The "
       "options below override its parts."},
      {"host", T::kString, "", "Server host name, IP address or unix socket directory."},
      {"port", T::kInt, "", "Server port (libpq default 5432)."},
      {"database", T::kString, "", "Database name."},
      {"user", T::kString, "", "User name."},
      {"password", T::kSecret, "",
       "Password; \"env:VAR\" reads it from an environment variable. Never logged."},
      {"schema", T::kString, "public",
       "Schema of the destination tables and of the amp_client_state table."},
      {"max_connections", T::kInt, "8",
       "Connection pool size: sessions hold one connection each, DDL borrows one."},
      {"connect_timeout", T::kInt, "10",
       "Seconds to establish a connection (0: no limit); a timeout is retryable."},
      {"pool_timeout", T::kInt, "60",
       "Seconds to wait for a free pooled connection before failing (retryable)."},
      {"sslmode", T::kString, "prefer",
       "libpq sslmode: disable, allow, prefer, require, verify-ca or verify-full."},
      {"application_name", T::kString, "ampsync",
       "application_name reported to the server (pg_stat_activity)."},
  };
}

Result<LoaderConfig> ConfigFromUri(const std::string& text) {
  // libpq parses the URI itself (it knows every connection parameter); only the loader's
  // own options are taken out of the query string, as libpq would reject them. The rest
  // stays as written, escapes included, for libpq to decode.
  static const std::set<std::string> kOwn = {"schema", "max_connections", "pool_timeout"};
  AMP_ASSIGN_OR_RETURN(auto uri, loaders::ParseUri(text));
  LoaderConfig config;
  std::string passed_on;
  for (const auto& item : uri.query) {
    if (kOwn.count(item.key)) {
      config[item.key] = item.value;
    } else {
      passed_on += (passed_on.empty() ? "" : "&") + item.raw;
    }
  }
  config["uri"] = uri.WithoutQuery() + (passed_on.empty() ? "" : "?" + passed_on);
  return config;
}

Result<std::unique_ptr<Loader>> MakePostgresLoader(const LoaderConfig& config) {
  AMP_ASSIGN_OR_RETURN(Settings settings, SettingsFromConfig(config));
  return std::unique_ptr<Loader>(new PostgresLoader(settings));
}

}  // namespace postgres

void RegisterPostgresLoader(LoaderRegistry& registry) {
  registry.Register({
      .name = postgres::kLoaderName,
      .description = "PostgreSQL via libpq binary COPY; undo, upserts and the checkpoint commit "
                     "atomically with the rows",
      .options = postgres::PostgresOptions(),
      .factory = postgres::MakePostgresLoader,
      .uri_schemes = {"postgresql", "postgres"},
      .from_uri = postgres::ConfigFromUri,
  });
}

}  // namespace amp
