#include "loaders/memory/memory_loader.h"

#include <arrow/api.h>
#include <arrow/util/align_util.h>
#include <arrow/util/ubsan.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "loaders/common/connection_uri.h"
#include "loaders/common/names.h"
#include "loaders/common/options.h"
#include "loaders/common/row_keys.h"
#include "loaders/common/table_spec.h"
#include "loaders/common/unit_session.h"

namespace amp {
namespace {

Status LoaderError(Status status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "memory", code);
}

Status SchemaError(Status status) {
  return LoaderError(std::move(status), ErrorClass::kFatal, "SCHEMA_MISMATCH");
}

std::mutex& StoresMutex() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, std::shared_ptr<MemoryStore>>& Stores() {
  static std::map<std::string, std::shared_ptr<MemoryStore>> stores;
  return stores;
}

std::shared_ptr<arrow::Schema> StoredSchema(const arrow::Schema& schema) {
  auto fields = schema.fields();
  fields.push_back(arrow::field(kAmpBlockStartColumn, arrow::uint64(), false));
  fields.push_back(arrow::field(kAmpBlockEndColumn, arrow::uint64(), false));
  return arrow::schema(fields);
}

// Names and types must match in order; nullability and metadata are not compared.
Status CheckColumns(const arrow::Schema& expected, const arrow::Schema& actual,
                    const std::string& what) {
  if (expected.num_fields() != actual.num_fields()) {
    // Name the columns that differ, not just the counts.
    std::string extra, missing;
    for (const auto& f : actual.fields()) {
      if (expected.GetFieldIndex(f->name()) < 0) extra += (extra.empty() ? "" : ", ") + f->name();
    }
    for (const auto& f : expected.fields()) {
      if (actual.GetFieldIndex(f->name()) < 0) missing += (missing.empty() ? "" : ", ") + f->name();
    }
    return SchemaError(Status::Invalid(
        what, " has ", actual.num_fields(), " columns, table has ", expected.num_fields(),
        extra.empty() ? "" : "; columns not in the table: " + extra,
        missing.empty() ? "" : "; table columns missing: " + missing));
  }
  for (int i = 0; i < expected.num_fields(); ++i) {
    const auto& e = *expected.field(i);
    const auto& a = *actual.field(i);
    if (e.name() != a.name() || !e.type()->Equals(*a.type())) {
      return SchemaError(Status::Invalid(what, ": column ", i, " is '", a.name(), "' ",
                                         a.type()->ToString(), ", the table has '", e.name(), "' ",
                                         e.type()->ToString()));
    }
  }
  return Status::OK();
}

Result<std::shared_ptr<arrow::RecordBatch>> FilterRows(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                       const std::vector<bool>& keep) {
  // Zero-copy slices of the kept runs, concatenated: Arrow 26's filter/take kernels have no
  // string_view/binary_view support, slicing and concatenation work for every type.
  std::vector<std::shared_ptr<arrow::RecordBatch>> runs;
  const int64_t n = batch->num_rows();
  for (int64_t i = 0; i < n;) {
    if (!keep[static_cast<size_t>(i)]) {
      ++i;
      continue;
    }
    int64_t j = i;
    while (j < n && keep[static_cast<size_t>(j)]) ++j;
    runs.push_back(batch->Slice(i, j - i));
    i = j;
  }
  if (runs.empty()) return batch->Slice(0, 0);
  if (runs.size() == 1) return runs.front();
  return arrow::ConcatenateRecordBatches(runs);
}

// --- The unit operations, applied to a table's batches. ---

Status ApplyUndo(MemoryStore::TableData& table, const BlockInterval& blocks) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> kept;
  for (const auto& batch : table.batches) {
    const auto& starts = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(kAmpBlockStartColumn));
    const auto& ends = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(kAmpBlockEndColumn));
    std::vector<bool> keep(static_cast<size_t>(batch->num_rows()));
    bool any_dropped = false;
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      const bool intersects = starts.Value(i) <= blocks.end && ends.Value(i) >= blocks.start;
      keep[static_cast<size_t>(i)] = !intersects;
      any_dropped |= intersects;
    }
    if (!any_dropped) {
      kept.push_back(batch);
      continue;
    }
    AMP_ASSIGN_OR_RETURN(auto filtered, FilterRows(batch, keep));
    if (filtered->num_rows() > 0) kept.push_back(std::move(filtered));
  }
  table.batches = std::move(kept);
  return Status::OK();
}

Status ApplyAppend(MemoryStore::TableData& table, const std::shared_ptr<arrow::RecordBatch>& tagged) {
  if (tagged->num_rows() == 0) return Status::OK();
  if (table.spec.mode != LoadMode::kUpsert) {
    table.batches.push_back(tagged);
    return Status::OK();
  }
  // Upsert: the last row of a key wins, within the batch and over the table.
  AMP_ASSIGN_OR_RETURN(auto new_keys, loaders::RowKeys(*tagged, table.spec.key_columns));
  std::unordered_map<std::string, size_t> last;
  for (size_t i = 0; i < new_keys.size(); ++i) last[new_keys[i]] = i;
  std::vector<std::shared_ptr<arrow::RecordBatch>> kept;
  for (const auto& batch : table.batches) {
    AMP_ASSIGN_OR_RETURN(auto keys, loaders::RowKeys(*batch, table.spec.key_columns));
    std::vector<bool> keep(keys.size());
    bool any_dropped = false;
    for (size_t i = 0; i < keys.size(); ++i) {
      keep[i] = last.count(keys[i]) == 0;
      any_dropped |= !keep[i];
    }
    if (!any_dropped) {
      kept.push_back(batch);
      continue;
    }
    AMP_ASSIGN_OR_RETURN(auto filtered, FilterRows(batch, keep));
    if (filtered->num_rows() > 0) kept.push_back(std::move(filtered));
  }
  std::vector<bool> keep_new(new_keys.size());
  for (size_t i = 0; i < new_keys.size(); ++i) keep_new[i] = last[new_keys[i]] == i;
  AMP_ASSIGN_OR_RETURN(auto deduplicated, FilterRows(tagged, keep_new));
  kept.push_back(std::move(deduplicated));
  table.batches = std::move(kept);
  return Status::OK();
}

struct Op {
  enum class Kind { kUndo, kAppend } kind;
  std::string table;
  BlockInterval blocks;
  std::shared_ptr<arrow::RecordBatch> tagged;
};

class MemoryLoader;

class MemorySession final : public loaders::UnitSession {
 public:
  MemorySession(std::shared_ptr<MemoryStore> store, bool atomic)
      : UnitSession("memory"), store_(std::move(store)), atomic_(atomic) {}

  ~MemorySession() override { AbortOpenUnit(); }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    auto cp = store_->checkpoint(stream_id);
    if (cp && !unit_open()) AMP_RETURN_NOT_OK(CheckProgress(stream_id));
    return cp;
  }

  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    std::vector<StreamCheckpoint> out;
    for (auto& cp : store_->checkpoints()) {  // ordered by stream_id (a std::map)
      if (cp.stream_id.compare(0, prefix.size(), prefix) == 0) {
        if (!unit_open()) AMP_RETURN_NOT_OK(CheckProgress(cp.stream_id));
        out.push_back(std::move(cp));
      }
    }
    return out;
  }

  static int64_t RowCount(const MemoryStore::TableData& data) {
    int64_t n = 0;
    for (const auto& b : data.batches) n += b->num_rows();
    return n;
  }

 protected:
  Status BeginImpl() override {
    Count([](MemoryStore::Stats& s) { ++s.begins; });
    ops_.clear();
    tables_.clear();
    return Status::OK();
  }

  Status UndoImpl(const std::string& table, const BlockInterval& blocks) override {
    Count([](MemoryStore::Stats& s) { ++s.undos; });
    AMP_RETURN_NOT_OK(RequireTable(table).status());
    tables_.insert(table);
    Op op{Op::Kind::kUndo, table, blocks, nullptr};
    if (!atomic_) return ApplyNow(op);
    ops_.push_back(std::move(op));
    return Status::OK();
  }

  Status AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                    const BlockRange& microbatch) override {
    Count([](MemoryStore::Stats& s) { ++s.appends; });
    AMP_ASSIGN_OR_RETURN(auto spec, RequireTable(table));
    AMP_RETURN_NOT_OK(CheckColumns(*spec.schema, *batch.schema(), "batch for table " + table));
    AMP_ASSIGN_OR_RETURN(auto tagged, Tag(spec, batch, microbatch));
    tables_.insert(table);
    Op op{Op::Kind::kAppend, table, {}, std::move(tagged)};
    if (!atomic_) return ApplyNow(op);
    ops_.push_back(std::move(op));
    return Status::OK();
  }

  Status CommitImpl(const StreamCheckpoint* checkpoint) override {
    {
      std::lock_guard<std::mutex> lock(store_->mu);
      // Apply to copies of the touched tables, then publish: all or nothing.
      std::map<std::string, MemoryStore::TableData> staged;
      for (const auto& name : tables_) {
        auto it = store_->tables_data.find(name);
        if (it == store_->tables_data.end()) {
          return LoaderError(Status::KeyError("table ", name, " was dropped during the unit"),
                             ErrorClass::kFatal, "NO_TABLE");
        }
        staged.emplace(name, it->second);
      }
      for (const auto& op : ops_) {
        auto& table = staged.at(op.table);
        AMP_RETURN_NOT_OK(op.kind == Op::Kind::kUndo ? ApplyUndo(table, op.blocks)
                                                     : ApplyAppend(table, op.tagged));
      }
      for (auto& [name, data] : staged) {
        store_->table_rows[name] = RowCount(data) > 0;
        store_->tables_data[name] = std::move(data);
      }
      if (checkpoint != nullptr) {
        store_->checkpoints_data[checkpoint->stream_id] = *checkpoint;
        for (const auto& name : tables_) store_->stream_tables[checkpoint->stream_id] = name;
      }
      ++store_->stats_data.commits;
    }
    ops_.clear();
    tables_.clear();
    return Status::OK();
  }

  void AbortImpl() override {
    ops_.clear();
    tables_.clear();
    std::lock_guard<std::mutex> lock(store_->mu);
    ++store_->stats_data.aborts;
  }

 private:
  // The checkpoint's table held rows after our last commit and is now gone or empty.
  Status CheckProgress(const std::string& stream_id) const {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto st = store_->stream_tables.find(stream_id);
    if (st == store_->stream_tables.end()) return Status::OK();
    auto rows = store_->table_rows.find(st->second);
    if (rows == store_->table_rows.end() || !rows->second) return Status::OK();
    auto it = store_->tables_data.find(st->second);
    if (it != store_->tables_data.end() && RowCount(it->second) > 0) return Status::OK();
    return LoaderError(Status::Invalid("progress outlives its table: the checkpoint of stream ", stream_id,
                                       " says rows were committed to memory table '", st->second,
                                       "', but that table ",
                                       it == store_->tables_data.end() ? "no longer exists" : "is empty now",
                                       "; rerun with --reset, or clear the progress with `ampsync reset`"),
                       ErrorClass::kFatal, kStaleProgressCode);
  }

  Result<TableSpec> RequireTable(const std::string& table) const {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto it = store_->tables_data.find(table);
    if (it == store_->tables_data.end()) {
      return LoaderError(Status::KeyError("memory table '", table, "' does not exist (EnsureTable first)"),
                         ErrorClass::kFatal, "NO_TABLE");
    }
    return it->second.spec;
  }

  template <typename CountFn>
  void Count(CountFn count) {
    std::lock_guard<std::mutex> lock(store_->mu);
    count(store_->stats_data);
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Tag(const TableSpec& spec, const arrow::RecordBatch& batch,
                                                  const BlockRange& microbatch) const {
    const int64_t n = batch.num_rows();
    arrow::UInt64Builder starts, ends;
    AMP_RETURN_NOT_OK(starts.Reserve(n));
    AMP_RETURN_NOT_OK(ends.Reserve(n));
    if (!spec.block_column.empty()) {
      auto column = batch.GetColumnByName(spec.block_column);
      if (column == nullptr || column->type_id() != arrow::Type::UINT64) {
        return SchemaError(Status::Invalid("block column ", spec.block_column,
                                           " is missing or not UInt64"));
      }
      const auto& blocks = static_cast<const arrow::UInt64Array&>(*column);
      // Flight hands over buffers wherever they sit in gRPC's memory, not necessarily
      // 8-byte aligned: read the values without assuming alignment.
      const uint64_t* values = blocks.raw_values();
      for (int64_t i = 0; i < n; ++i) {
        if (blocks.IsNull(i)) {
          return LoaderError(Status::Invalid("block column ", spec.block_column, " is null in row ", i),
                             ErrorClass::kFatal, "NULL_BLOCK");
        }
        const uint64_t block = arrow::util::SafeLoad(values + i);
        starts.UnsafeAppend(block);
        ends.UnsafeAppend(block);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        starts.UnsafeAppend(microbatch.start);
        ends.UnsafeAppend(microbatch.end);
      }
    }
    AMP_ASSIGN_OR_RETURN(auto start_array, starts.Finish());
    AMP_ASSIGN_OR_RETURN(auto end_array, ends.Finish());
    auto columns = batch.columns();
    columns.push_back(std::move(start_array));
    columns.push_back(std::move(end_array));
    // Stored rows are read back with ordinary typed accessors: keep them aligned.
    return arrow::util::EnsureAlignment(
        arrow::RecordBatch::Make(StoredSchema(*spec.schema), n, std::move(columns)),
        arrow::util::kValueAlignment, arrow::default_memory_pool());
  }

  Status ApplyNow(const Op& op) {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto& table = store_->tables_data.at(op.table);
    return op.kind == Op::Kind::kUndo ? ApplyUndo(table, op.blocks) : ApplyAppend(table, op.tagged);
  }

  std::shared_ptr<MemoryStore> store_;
  const bool atomic_;
  std::vector<Op> ops_;
  std::set<std::string> tables_;
};

class MemoryLoader final : public Loader {
 public:
  MemoryLoader(std::shared_ptr<MemoryStore> store, bool atomic) : store_(std::move(store)) {
    capabilities_.atomic_commit = atomic;
    capabilities_.supports_undo = true;
    capabilities_.concurrent_sessions = true;
    capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert};
  }

  std::string name() const override { return "memory"; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }

  Status EnsureTable(const TableSpec& spec) override {
    static const loaders::StoreLimits kLimits{.destination = "memory",
                                              .names = &loaders::MemoryNameRules()};
    AMP_RETURN_NOT_OK(loaders::ValidateTableSpec(spec, kLimits));
    std::lock_guard<std::mutex> lock(store_->mu);
    auto it = store_->tables_data.find(spec.name);
    if (it != store_->tables_data.end()) {
      AMP_RETURN_NOT_OK(CheckColumns(*it->second.spec.schema, *spec.schema,
                                     "the query's schema for existing table " + spec.name));
      // The existing table keeps its rows; the latest spec decides how they are written.
      it->second.spec = spec;
      return Status::OK();
    }
    MemoryStore::TableData data;
    data.spec = spec;
    data.stored_schema = StoredSchema(*spec.schema);
    store_->tables_data.emplace(spec.name, std::move(data));
    return Status::OK();
  }

  Status Truncate(const std::string& table) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto it = store_->tables_data.find(table);
    if (it == store_->tables_data.end()) {
      return LoaderError(Status::KeyError("memory table '", table, "' does not exist"),
                         ErrorClass::kFatal, "NO_TABLE");
    }
    it->second.batches.clear();
    ForgetTable(table);
    ++store_->stats_data.truncates;
    return Status::OK();
  }

  Result<bool> TableExists(const std::string& table) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    return store_->tables_data.count(table) > 0;
  }

  // One critical section: the store's "transaction".
  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id,
                                bool truncate) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    std::set<std::string> gone;
    for (const auto& [sid, cp] : store_->checkpoints_data) {
      const bool of_job = !job_id.empty() && (sid == job_id || sid.rfind(job_id + "/", 0) == 0);
      auto st = store_->stream_tables.find(sid);
      const bool of_table = st != store_->stream_tables.end() && st->second == table;
      if (of_job || ((job_id.empty() || truncate) && of_table)) gone.insert(sid);
    }
    std::set<std::string> plans;
    for (const auto& sid : gone) plans.insert(sid.substr(0, sid.find('/')) + "/plan");
    for (const auto& plan : plans) {
      if (store_->checkpoints_data.count(plan)) gone.insert(plan);
    }
    for (const auto& sid : gone) {
      store_->checkpoints_data.erase(sid);
      store_->stream_tables.erase(sid);
    }
    if (truncate) {
      if (auto it = store_->tables_data.find(table); it != store_->tables_data.end()) {
        it->second.batches.clear();
      }
      store_->table_rows.erase(table);
    }
    return static_cast<int64_t>(gone.size());
  }

  Status DropTable(const std::string& table) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    store_->tables_data.erase(table);
    ForgetTable(table);
    return Status::OK();
  }

  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    {
      std::lock_guard<std::mutex> lock(store_->mu);
      ++store_->stats_data.sessions;
    }
    // Tests arm faults on the store; the session itself is the plain store writer.
    std::shared_ptr<MemoryStore> store = store_;
    return loaders::testing::InjectFaults(
        "memory", std::make_unique<MemorySession>(store_, capabilities_.atomic_commit), store_->faults(),
        [store] {
          std::lock_guard<std::mutex> lock(store->mu);
          ++store->stats_data.failed_commits;
        });
  }

  // For `ampsync audit`: the committed rows whose span intersects `blocks`, with the
  // columns of spec.schema (by name, types checked) and `_amp_block_start` last.
  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                 const BlockInterval& blocks) override {
    if (spec.schema == nullptr) {
      return SchemaError(Status::Invalid("ReadRows of ", spec.name, ": no schema"));
    }
    std::shared_ptr<arrow::Schema> stored;
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    {
      std::lock_guard<std::mutex> lock(store_->mu);
      auto it = store_->tables_data.find(spec.name);
      if (it == store_->tables_data.end()) {
        return LoaderError(Status::KeyError("memory table '", spec.name, "' does not exist"),
                           ErrorClass::kFatal, "NO_TABLE");
      }
      stored = it->second.stored_schema;
      batches = it->second.batches;
    }
    arrow::FieldVector fields;
    std::vector<int> indices;
    for (const auto& field : spec.schema->fields()) {
      if (field->name() == kAmpBlockStartColumn || field->name() == kAmpBlockEndColumn) continue;
      const int i = stored->GetFieldIndex(field->name());
      if (i < 0 || !stored->field(i)->type()->Equals(*field->type())) {
        return SchemaError(Status::Invalid(
            "ReadRows of ", spec.name, ": column '", field->name(), "' ",
            i < 0 ? std::string("does not exist")
                  : "is " + stored->field(i)->type()->ToString() + ", not " +
                        field->type()->ToString()));
      }
      fields.push_back(field);
      indices.push_back(i);
    }
    const int start_index = stored->GetFieldIndex(kAmpBlockStartColumn);
    indices.push_back(start_index);
    fields.push_back(stored->field(start_index));
    auto schema = arrow::schema(fields);

    std::vector<std::shared_ptr<arrow::RecordBatch>> out;
    for (const auto& batch : batches) {
      const auto& starts = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(kAmpBlockStartColumn));
      const auto& ends = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(kAmpBlockEndColumn));
      std::vector<bool> keep(static_cast<size_t>(batch->num_rows()));
      bool any = false;
      for (int64_t i = 0; i < batch->num_rows(); ++i) {
        keep[static_cast<size_t>(i)] = starts.Value(i) <= blocks.end && ends.Value(i) >= blocks.start;
        any |= keep[static_cast<size_t>(i)];
      }
      if (!any) continue;
      AMP_ASSIGN_OR_RETURN(auto selected, batch->SelectColumns(indices));
      AMP_ASSIGN_OR_RETURN(auto filtered, FilterRows(selected, keep));
      out.push_back(arrow::RecordBatch::Make(schema, filtered->num_rows(), filtered->columns()));
    }
    return arrow::Table::FromRecordBatches(schema, out);
  }

 private:
  // Forgets that `table` held rows, and the checkpoints of the streams that wrote it.
  // The caller holds store_->mu.
  void ForgetTable(const std::string& table) {
    store_->table_rows.erase(table);
    for (auto s = store_->stream_tables.begin(); s != store_->stream_tables.end();) {
      if (s->second == table) {
        store_->checkpoints_data.erase(s->first);
        s = store_->stream_tables.erase(s);
      } else {
        ++s;
      }
    }
  }

  std::shared_ptr<MemoryStore> store_;
  LoaderCapabilities capabilities_;
};

}  // namespace

// --- MemoryStore. ---

std::shared_ptr<MemoryStore> MemoryStore::Get(const std::string& name) {
  std::lock_guard<std::mutex> lock(StoresMutex());
  auto& slot = Stores()[name];
  if (!slot) slot = std::make_shared<MemoryStore>(name);
  return slot;
}

void MemoryStore::Drop(const std::string& name) {
  std::lock_guard<std::mutex> lock(StoresMutex());
  Stores().erase(name);
}

Result<std::shared_ptr<arrow::Table>> MemoryStore::ReadTable(const std::string& table,
                                                             bool with_amp_columns) const {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tables_data.find(table);
    if (it == tables_data.end()) return Status::KeyError("memory table '", table, "' does not exist");
    schema = it->second.stored_schema;
    batches = it->second.batches;
  }
  AMP_ASSIGN_OR_RETURN(auto result, arrow::Table::FromRecordBatches(schema, batches));
  if (!with_amp_columns) {
    AMP_ASSIGN_OR_RETURN(result, result->RemoveColumn(result->num_columns() - 1));
    AMP_ASSIGN_OR_RETURN(result, result->RemoveColumn(result->num_columns() - 1));
  }
  return result->CombineChunks();
}

std::vector<std::string> MemoryStore::tables() const {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::string> out;
  for (const auto& [name, data] : tables_data) out.push_back(name);
  return out;
}

std::optional<StreamCheckpoint> MemoryStore::checkpoint(const std::string& stream_id) const {
  std::lock_guard<std::mutex> lock(mu);
  auto it = checkpoints_data.find(stream_id);
  if (it == checkpoints_data.end()) return std::nullopt;
  return it->second;
}

std::vector<StreamCheckpoint> MemoryStore::checkpoints() const {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<StreamCheckpoint> out;
  for (const auto& [id, cp] : checkpoints_data) out.push_back(cp);
  return out;
}

MemoryStore::Stats MemoryStore::stats() const {
  std::lock_guard<std::mutex> lock(mu);
  return stats_data;
}

// The loader as data: its option table, a factory that reads the options, its URI scheme
// and how a parsed URI maps to options. Everything else (validation, defaults, `env:`
// secrets, percent-decoding) the framework does.
namespace {

std::vector<OptionSpec> MemoryOptions() {
  using T = OptionSpec::Type;
  return {
      {"name", T::kString, "default", "Store name: loaders with the same name share tables and checkpoints"},
      {"atomic", T::kBool, "true",
       "true: a unit applies on Commit, all or nothing; false: Undo/Append apply at once"},
  };
}

Result<std::unique_ptr<Loader>> MakeMemoryLoader(const LoaderConfig& config) {
  const loaders::OptionValues options("memory", MemoryOptions(), config);
  AMP_ASSIGN_OR_RETURN(bool atomic, options.GetBool("atomic"));
  return std::make_unique<MemoryLoader>(MemoryStore::Get(options.GetString("name")), atomic);
}

// memory://NAME[?atomic=false]: the whole location names the store.
Result<LoaderConfig> MemoryConfigFromUri(const loaders::ConnectionUri& uri) {
  LoaderConfig config;
  if (!uri.location.empty()) config["name"] = uri.location;
  loaders::AddQueryOptions(uri, &config);
  return config;
}

}  // namespace

void RegisterMemoryLoader(LoaderRegistry& registry) {
  registry.Register({
      .name = "memory",
      .description = "Tables in process memory (Arrow record batches); the reference implementation "
                     "of the loader contract, for tests and examples. Loaders with the same name "
                     "share their data.",
      .options = MemoryOptions(),
      .factory = MakeMemoryLoader,
      .uri_schemes = {"memory"},
      .from_uri = loaders::MapUri(MemoryConfigFromUri),
  });
}

}  // namespace amp
