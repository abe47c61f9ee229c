// The "delta" loader's tables: creating one (version 0), checking an existing one against
// the query and evolving its schema, truncate, drop, the progress stored in each table's
// log and its reset, and the commit loop every writer of this loader goes through.
#include "loaders/delta/delta_loader.h"

#include <arrow/api.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "loaders/common/connection_uri.h"
#include "loaders/common/names.h"
#include "loaders/common/table_spec.h"
#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_loader_impl.h"
#include "loaders/delta/delta_types.h"

namespace amp {
namespace delta {
namespace fs = std::filesystem;
namespace {

std::string Uuid() {
  std::string h = RandomHex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) +
         "-" + h.substr(20, 12);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

RemoveFile RemoveOf(const AddFile& file, int64_t now) { return RemoveFile{file, now, true}; }

// Compares an existing table's columns with the query's layout. Returns the nullable
// columns schema evolution is to add (empty when the table already fits).
Result<std::vector<nlohmann::json>> CompareSchema(const nlohmann::json& schema, const TableLayout& layout,
                                                  bool schema_evolution, const std::string& where) {
  std::map<std::string, nlohmann::json> existing;
  for (const auto& f : schema["fields"]) existing[f.value("name", "")] = f;
  std::vector<nlohmann::json> added;
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    const auto& f = layout.storage->field(i);
    const std::string query_type = layout.spec.schema->field(i)->type()->ToString();
    AMP_ASSIGN_OR_RETURN(auto type, DeltaTypeJson(*f->type()));
    auto it = existing.find(f->name());
    if (it == existing.end()) {
      if (!schema_evolution || !f->nullable()) {
        return Fatal(Status::Invalid(where, ": column '", f->name(), "' (", query_type,
                                     ") is not in the existing Delta table",
                                     schema_evolution ? " and is not nullable"
                                                      : " (schema_evolution=true adds nullable columns)"),
                     "SCHEMA_MISMATCH");
      }
      AMP_ASSIGN_OR_RETURN(auto field, DeltaFieldJson(*f, query_type));
      added.push_back(field);
      continue;
    }
    if (it->second.at("type") != type) {
      return Fatal(Status::Invalid(where, ": column '", f->name(), "' is ", it->second.at("type").dump(),
                                   " in the Delta table, the query's ", query_type, " needs ", type.dump()),
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
      return Fatal(Status::Invalid(where, ": the Delta table's non-nullable column '", name, "' is not in the query"),
                   "SCHEMA_MISMATCH");
    }
  }
  return added;
}

// The metaData of `snapshot` with `added` columns in its schema, the _amp_ columns kept last.
nlohmann::json EvolvedMetadata(const Snapshot& snapshot, const nlohmann::json& schema,
                               const std::vector<nlohmann::json>& added) {
  nlohmann::json fields = schema["fields"];
  for (const auto& f : added) fields.push_back(f);
  std::stable_partition(fields.begin(), fields.end(), [](const nlohmann::json& f) {
    const std::string n = f.value("name", "");
    return n != kStartColumn && n != kEndColumn;
  });
  nlohmann::json metadata = snapshot.metadata;
  metadata["schemaString"] = nlohmann::json{{"type", "struct"}, {"fields", fields}}.dump();
  return metadata;
}

// The stream ids whose checkpoints ResetProgress forgets: the job's own ("<job>",
// "<job>/..."), or every one in the table when no job is named or its rows go, and the
// plans of those jobs.
std::set<std::string> ForgottenStreams(const Snapshot& snap, const std::string& job_id, bool truncate) {
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
  return gone;
}

}  // namespace

DeltaLoaderImpl::DeltaLoaderImpl(Options options) : options_(std::move(options)) {
  capabilities_.atomic_commit = true;
  capabilities_.supports_undo = true;
  capabilities_.concurrent_sessions = true;
  capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert};
}

DeltaLoaderImpl::~DeltaLoaderImpl() {
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

bool DeltaLoaderImpl::ConsumeInjectedFailure() {
  int n = fail_commits_.load();
  while (n > 0) {
    if (fail_commits_.compare_exchange_weak(n, n - 1)) return true;
  }
  return false;
}

std::shared_ptr<TableState> DeltaLoaderImpl::State(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = states_[table];
  if (!slot) {
    slot = std::make_shared<TableState>();
    slot->dir = TableDir(table);
  }
  return slot;
}

std::shared_ptr<TableLayout> DeltaLoaderImpl::Layout(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = layouts_.find(table);
  return it == layouts_.end() ? nullptr : it->second;
}

void DeltaLoaderImpl::NoteStreamTable(const std::string& stream_id, const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  stream_tables_[stream_id] = table;
}

void DeltaLoaderImpl::NoteWrittenTable(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  written_tables_.insert(table);
}

std::string DeltaLoaderImpl::StreamTable(const std::string& stream_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stream_tables_.find(stream_id);
  if (it != stream_tables_.end()) return it->second;
  return last_ensured_;
}

// The shared name rule (loaders/common/names.h): a table is one directory name under the
// root that the deltalake package can open.
Status DeltaLoaderImpl::CheckTableName(const std::string& table) const {
  return loaders::CheckTableName(loaders::DeltaNameRules(), table);
}

Status DeltaLoaderImpl::EnsureRoot() {
  std::error_code ec;
  fs::create_directories(options_.root, ec);
  if (ec || !fs::is_directory(options_.root, ec)) {
    return Fatal(Status::IOError("delta destination ", options_.root, ": cannot create the root directory: ",
                                 ec ? ec.message() : "not a directory"),
                 "UNWRITABLE");
  }
  // Probe writability (access() says yes to root even on read-only mounts).
  const std::string probe = options_.root + "/.amp-probe-" + RandomHex(8);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fatal(Status::IOError("delta destination ", options_.root, " is not writable: ", std::strerror(errno)),
                 "UNWRITABLE");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::OK();
}

// A table directory that exists must be a Delta table, or empty.
Status DeltaLoaderImpl::CheckDirectory(const std::string& table) {
  const std::string dir = TableDir(table);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::OK();
  if (!fs::is_directory(dir, ec)) {
    return Fatal(Status::Invalid(Where(table), " exists and is not a directory (not a Delta table)"), "NOT_DELTA");
  }
  if (HasLog(dir)) return Status::OK();
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename() == "_delta_log" && fs::is_empty(entry.path(), ec)) continue;
    return Fatal(Status::Invalid(Where(table), " exists but is not a Delta table (no _delta_log "
                                               "version files); choose another table name or root"),
                 "NOT_DELTA");
  }
  return Status::OK();
}

Status DeltaLoaderImpl::EnsureTable(const TableSpec& spec) {
  // Names first, before anything is created (the root included).
  static const loaders::StoreLimits kLimits{.destination = "delta", .names = &loaders::DeltaNameRules()};
  AMP_RETURN_NOT_OK(loaders::ValidateTableSpec(spec, kLimits));
  const std::string where = Where(spec.name);
  auto layout_result = MakeLayout(spec, options_.partition_by);
  if (!layout_result.ok()) {
    return Fatal(Status::Invalid(where, ": ", layout_result.status().message()), "SCHEMA_MISMATCH");
  }
  auto layout = std::make_shared<TableLayout>(std::move(*layout_result));
  AMP_RETURN_NOT_OK(CheckPartitionColumns(*layout, where));
  AMP_RETURN_NOT_OK(EnsureRoot());
  AMP_RETURN_NOT_OK(CheckDirectory(spec.name));
  auto state = State(spec.name);
  std::lock_guard<std::mutex> lock(state->mu);
  for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
    Status st = Refresh(state->dir, state->snapshot);
    if (!st.ok()) return Fatal(Status::IOError(where, ": cannot read the Delta log: ", st.message()), "BAD_LOG");
    bool done = false;
    if (state->snapshot.version >= 0) {
      // False: lost a race for the metaData update; check again.
      AMP_ASSIGN_OR_RETURN(done, CheckOrEvolve(*state, *layout));
    } else {
      AMP_RETURN_NOT_OK(CreateTable(*state, *layout, &done));
    }
    if (done) break;
  }
  std::lock_guard<std::mutex> guard(mu_);
  layouts_[spec.name] = layout;
  last_ensured_ = spec.name;
  return Status::OK();
}

// Version 0: protocol and metaData. `created` is false when another writer created it first.
Status DeltaLoaderImpl::CreateTable(TableState& state, const TableLayout& layout, bool* created) {
  AMP_ASSIGN_OR_RETURN(auto schema_json, DeltaSchemaJson(layout));
  DeltaTransaction tx;
  tx.commit_info = MakeCommitInfo("CREATE TABLE", {{"mode", "ErrorIfExists"}});
  tx.protocol = WriterProtocol();
  tx.metadata = {{"id", Uuid()},
                 {"name", layout.spec.name},
                 {"format", {{"provider", "parquet"}, {"options", nlohmann::json::object()}}},
                 {"schemaString", schema_json.dump()},
                 {"partitionColumns", options_.partition_by},
                 {"configuration", nlohmann::json::object()},
                 {"createdTime", NowMillis()}};
  auto won = TryCommit(state.dir, 0, tx);
  if (!won.ok()) {
    return Fatal(Status::IOError(Where(layout.spec.name), ": cannot create the table: ", won.status().message()),
                 "UNWRITABLE");
  }
  *created = *won;
  if (*won) {
    ApplyTransaction(state.snapshot, tx);
    state.snapshot.version = 0;
  }
  return Status::OK();
}

// Compares an existing table with `layout`; adds nullable columns when schema_evolution
// allows. Returns false when a metaData commit lost a race (caller re-checks).
Result<bool> DeltaLoaderImpl::CheckOrEvolve(TableState& state, const TableLayout& layout) {
  const std::string where = Where(layout.spec.name);
  AMP_ASSIGN_OR_RETURN(auto schema, state.snapshot.Schema());
  if (!schema.is_object() || !schema.contains("fields")) {
    return Fatal(Status::Invalid(where, ": the Delta table has no schema"), "SCHEMA_MISMATCH");
  }
  AMP_ASSIGN_OR_RETURN(auto added, CompareSchema(schema, layout, options_.schema_evolution, where));
  const auto partitions = state.snapshot.PartitionColumns();
  if (partitions != layout.partition_columns) {
    return Fatal(Status::Invalid(where, " is partitioned by [", JoinNames(partitions), "], partition_by is [",
                                 JoinNames(layout.partition_columns), "]"),
                 "SCHEMA_MISMATCH");
  }
  if (added.empty()) return true;
  // Schema evolution: one metaData update with the added nullable columns.
  DeltaTransaction tx;
  tx.commit_info = MakeCommitInfo("ADD COLUMNS");
  tx.metadata = EvolvedMetadata(state.snapshot, schema, added);
  auto won = TryCommit(state.dir, state.snapshot.version + 1, tx);
  if (!won.ok()) return Fatal(Status::IOError(where, ": cannot update the schema: ", won.status().message()), "UNWRITABLE");
  if (!*won) return false;
  ApplyTransaction(state.snapshot, tx);
  ++state.snapshot.version;
  return true;
}

Status DeltaLoaderImpl::CommitWithRetry(TableState& state, const std::string& table, const PlanFn& plan,
                                        bool* committed) {
  if (committed) *committed = false;
  for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
    Status st = Refresh(state.dir, state.snapshot);
    if (!st.ok()) return IoErr(Status::IOError(Where(table), ": cannot read the Delta log: ", st.message()));
    if (state.snapshot.version < 0) {
      return Fatal(Status::Invalid(Where(table), " does not exist (dropped?)"), "NO_TABLE");
    }
    AMP_ASSIGN_OR_RETURN(std::optional<DeltaTransaction> tx, plan(state.snapshot));
    if (!tx) return Status::OK();
    auto won = TryCommit(state.dir, state.snapshot.version + 1, *tx);
    if (!won.ok()) return IoErr(Status::IOError(Where(table), ": ", won.status().message()));
    if (*won) {
      ApplyTransaction(state.snapshot, *tx);
      ++state.snapshot.version;
      if (committed) *committed = true;
      MaybeCheckpoint(state);
      return Status::OK();
    }
    // Another writer took the version: back off a little and re-plan.
    std::this_thread::sleep_for(std::chrono::microseconds(100 + (attempt * 97) % 2000));
  }
  return DeltaError(Status::IOError(Where(table), ": gave up after ", options_.max_commit_attempts,
                                    " conflicting commit attempts"),
                    ErrorClass::kRetryCommit, "CONFLICT");
}

void DeltaLoaderImpl::MaybeCheckpoint(TableState& state) {
  if (state.snapshot.version > 0 && state.snapshot.version % options_.checkpoint_interval == 0) {
    Status st = WriteCheckpoint(state.dir, state.snapshot);
    // A missing checkpoint costs only replay time; never fail the commit for it.
    if (!st.ok()) std::cerr << "delta: checkpoint of " << state.dir << " failed: " << st.ToString() << "\n";
  }
}

Status DeltaLoaderImpl::Truncate(const std::string& table) {
  AMP_RETURN_NOT_OK(CheckTableName(table));
  if (!HasLog(TableDir(table))) return Fatal(Status::KeyError(Where(table), " does not exist"), "NO_TABLE");
  auto state = State(table);
  std::lock_guard<std::mutex> lock(state->mu);
  return CommitWithRetry(*state, table, [&](const Snapshot& snap) -> Result<std::optional<DeltaTransaction>> {
    DeltaTransaction tx;
    tx.commit_info = MakeCommitInfo("DELETE", {{"predicate", "true"}});
    for (const auto& [path, file] : snap.files) tx.removes.push_back(RemoveOf(file, tx.commit_info.timestamp));
    for (const auto& [domain, config] : snap.domains) {
      if (domain.rfind(kDomainPrefix, 0) == 0) tx.domains.push_back({domain, config, true});
    }
    tx.domains.push_back(TableStateDomain(false, snap));
    return tx;
  });
}

Status DeltaLoaderImpl::CheckProgress(const std::string& table, const std::string& stream_id) {
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

Result<int64_t> DeltaLoaderImpl::ResetProgress(const std::string& table, const std::string& job_id, bool truncate) {
  AMP_RETURN_NOT_OK(CheckTableName(table));
  if (!HasLog(TableDir(table))) return 0;  // the checkpoints live in the table's log
  auto state = State(table);
  std::lock_guard<std::mutex> lock(state->mu);
  std::set<std::string> forgotten_ids;
  AMP_RETURN_NOT_OK(CommitWithRetry(*state, table, [&](const Snapshot& snap) -> Result<std::optional<DeltaTransaction>> {
    forgotten_ids = ForgottenStreams(snap, job_id, truncate);
    if (forgotten_ids.empty() && (!truncate || snap.files.empty())) return std::nullopt;
    DeltaTransaction tx;
    tx.commit_info = MakeCommitInfo(truncate ? "DELETE" : "SET TBLPROPERTIES",
                                    {{"predicate", truncate ? "true" : ""}});
    tx.commit_info.engine_info = "ampsync reset";
    if (truncate) {
      for (const auto& [path, file] : snap.files) tx.removes.push_back(RemoveOf(file, tx.commit_info.timestamp));
      tx.domains.push_back(TableStateDomain(false, snap));
    }
    for (const auto& sid : forgotten_ids) {
      const std::string domain = kDomainPrefix + sid;
      tx.domains.push_back({domain, snap.domains.at(domain), true});
    }
    return tx;
  }));
  std::lock_guard<std::mutex> guard(mu_);
  for (auto it = stream_tables_.begin(); it != stream_tables_.end();) {
    it = it->second == table && forgotten_ids.count(it->first) ? stream_tables_.erase(it) : std::next(it);
  }
  return static_cast<int64_t>(forgotten_ids.size());
}

Result<bool> DeltaLoaderImpl::TableExists(const std::string& table) {
  AMP_RETURN_NOT_OK(CheckTableName(table));
  return HasLog(TableDir(table));
}

Status DeltaLoaderImpl::DropTable(const std::string& table) {
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

Result<std::unique_ptr<LoaderSession>> DeltaLoaderImpl::OpenSession() { return MakeDeltaSession(this); }

// The Delta tables under the root (directories with a log).
std::vector<std::string> DeltaLoaderImpl::Tables() const {
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

Result<Snapshot> DeltaLoaderImpl::RefreshedSnapshot(const std::string& table) {
  auto state = State(table);
  std::lock_guard<std::mutex> lock(state->mu);
  Status st = Refresh(state->dir, state->snapshot);
  if (!st.ok()) return IoErr(Status::IOError(Where(table), ": cannot read the Delta log: ", st.message()));
  return state->snapshot;
}

Result<std::map<std::string, std::pair<StreamCheckpoint, std::string>>> DeltaLoaderImpl::AllCheckpoints(
    const std::string& prefix) {
  std::map<std::string, std::pair<StreamCheckpoint, std::string>> out;
  const std::string want = kDomainPrefix + prefix;
  for (const auto& table : Tables()) {
    std::map<std::string, std::string> domains;
    {
      auto state = State(table);
      std::lock_guard<std::mutex> lock(state->mu);
      Status st = Refresh(state->dir, state->snapshot);
      if (!st.ok()) return IoErr(Status::IOError(Where(table), ": cannot read the Delta log: ", st.message()));
      domains = state->snapshot.domains;
    }
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

Result<std::unique_ptr<DeltaLoader>> MakeDeltaLoader(const LoaderConfig& config) {
  AMP_ASSIGN_OR_RETURN(auto options, ParseOptions(config));
  return std::unique_ptr<DeltaLoader>(std::make_unique<DeltaLoaderImpl>(std::move(options)));
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
