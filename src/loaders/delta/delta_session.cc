// A unit of work of the "delta" loader is one Delta version. Append streams the unit's rows
// into Parquet files while it runs (one open file per partition, closed at
// target_file_rows); Undo and upsert keys are recorded as operations in order; Commit
// plans the operations against the newest snapshot (delta_unit_planner.h) and commits the
// result with the unit's checkpoint, re-planning when another writer took the version.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/align_util.h>
#include <unistd.h>

#include <map>
#include <set>
#include <unordered_map>

#include "loaders/common/row_keys.h"
#include "loaders/common/unit_session.h"
#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_files.h"
#include "loaders/delta/delta_loader_impl.h"
#include "loaders/delta/delta_types.h"
#include "loaders/delta/delta_unit_planner.h"

namespace amp::delta {
namespace {

// Names and types must match in order; nullability and metadata are not compared.
Status CheckBatchSchema(const arrow::Schema& schema, const TableSpec& spec, const std::string& where) {
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
  return Status::OK();
}

Status BlockTooLarge(const std::string& where, uint64_t block) {
  return Fatal(Status::Invalid(where, ": block number ", block, " exceeds the long range"), "BAD_BLOCK");
}

// The _amp_block_start and _amp_block_end columns of `batch`: the block column's value in
// both, or the microbatch's range when the table has no block column.
Result<std::pair<std::shared_ptr<arrow::Array>, std::shared_ptr<arrow::Array>>> BlockTags(
    const arrow::RecordBatch& batch, const TableSpec& spec, const BlockRange& microbatch,
    const std::string& where) {
  const int64_t n = batch.num_rows();
  arrow::Int64Builder starts(DeltaMemoryPool()), ends(DeltaMemoryPool());
  AMP_RETURN_NOT_OK(starts.Reserve(n));
  AMP_RETURN_NOT_OK(ends.Reserve(n));
  if (!spec.block_column.empty()) {
    const auto& blocks = static_cast<const arrow::UInt64Array&>(*batch.GetColumnByName(spec.block_column));
    for (int64_t i = 0; i < n; ++i) {
      if (blocks.IsNull(i)) {
        return Fatal(Status::Invalid(where, ": block column ", spec.block_column, " is null in row ", i),
                     "NULL_BLOCK");
      }
      const uint64_t b = blocks.Value(i);
      if (b > static_cast<uint64_t>(INT64_MAX)) return BlockTooLarge(where, b);
      starts.UnsafeAppend(static_cast<int64_t>(b));
      ends.UnsafeAppend(static_cast<int64_t>(b));
    }
  } else {
    if (microbatch.end > static_cast<uint64_t>(INT64_MAX)) return BlockTooLarge(where, microbatch.end);
    for (int64_t i = 0; i < n; ++i) {
      starts.UnsafeAppend(static_cast<int64_t>(microbatch.start));
      ends.UnsafeAppend(static_cast<int64_t>(microbatch.end));
    }
  }
  AMP_ASSIGN_OR_RETURN(auto start_array, starts.Finish());
  AMP_ASSIGN_OR_RETURN(auto end_array, ends.Finish());
  return std::make_pair(start_array, end_array);
}

// The batch's columns in storage types, then the block tags.
Result<std::shared_ptr<arrow::RecordBatch>> StorageBatch(const arrow::RecordBatch& batch, const TableLayout& layout,
                                                         const BlockRange& microbatch, const std::string& where) {
  AMP_ASSIGN_OR_RETURN(auto tags, BlockTags(batch, layout.spec, microbatch, where));
  arrow::FieldVector fields = layout.storage->fields();
  arrow::ArrayVector columns;
  for (int i = 0; i < layout.storage->num_fields(); ++i) {
    auto converted = ToStorage(batch.column(i), layout.storage->field(i)->type());
    if (!converted.ok()) {
      return Fatal(Status::Invalid(where, ": column '", layout.storage->field(i)->name(), "': ",
                                   converted.status().message()),
                   "BAD_VALUE");
    }
    columns.push_back(*converted);
  }
  fields.push_back(arrow::field(kStartColumn, arrow::int64(), false));
  fields.push_back(arrow::field(kEndColumn, arrow::int64(), false));
  columns.push_back(tags.first);
  columns.push_back(tags.second);
  return arrow::RecordBatch::Make(arrow::schema(fields), batch.num_rows(), columns);
}

Result<std::shared_ptr<arrow::RecordBatch>> TakeRows(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                     const std::vector<int64_t>& rows) {
  arrow::Int64Builder idx;
  AMP_RETURN_NOT_OK(idx.AppendValues(rows));
  AMP_ASSIGN_OR_RETURN(auto idx_array, idx.Finish());
  AMP_ASSIGN_OR_RETURN(auto taken, arrow::compute::Take(batch, idx_array));
  return taken.record_batch();
}

// Upsert: the keys of `batch` and the rows to write, the last row of each key.
struct UpsertRows {
  std::shared_ptr<std::unordered_set<std::string>> keys;
  std::vector<int64_t> selected;
};

Result<UpsertRows> SelectUpsertRows(const arrow::RecordBatch& batch, const TableSpec& spec) {
  AMP_ASSIGN_OR_RETURN(auto row_keys, loaders::RowKeys(batch, spec.key_columns));
  std::unordered_map<std::string, int64_t> last;
  for (int64_t i = 0; i < batch.num_rows(); ++i) last[row_keys[static_cast<size_t>(i)]] = i;
  UpsertRows out;
  out.keys = std::make_shared<std::unordered_set<std::string>>();
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    if (last[row_keys[static_cast<size_t>(i)]] == i) out.selected.push_back(i);
  }
  for (auto& [k, i] : last) out.keys->insert(k);
  return out;
}

struct PartitionGroup {
  PartitionValues values;
  std::vector<int64_t> rows;
};

// The rows of `batch` by partition directory (one group, all rows, when unpartitioned).
Result<std::map<std::string, PartitionGroup>> GroupByPartition(const arrow::RecordBatch& batch,
                                                               const TableLayout& layout) {
  std::map<std::string, PartitionGroup> groups;
  if (layout.partition_columns.empty()) {
    groups[""];
    return groups;
  }
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    PartitionValues values;
    for (const auto& p : layout.partition_columns) {
      AMP_ASSIGN_OR_RETURN(values[p], PartitionValue(*batch.GetColumnByName(p), i));
    }
    auto& group = groups[PartitionDir(layout.partition_columns, values)];
    group.values = std::move(values);
    group.rows.push_back(i);
  }
  return groups;
}

// The layout's file columns of `part` (a StorageBatch or rows taken from one).
std::shared_ptr<arrow::RecordBatch> FileBatch(const arrow::RecordBatch& part, const TableLayout& layout) {
  arrow::ArrayVector columns;
  for (int i : layout.file_column_indices) columns.push_back(part.column(i));
  columns.push_back(part.GetColumnByName(kStartColumn));
  columns.push_back(part.GetColumnByName(kEndColumn));
  return arrow::RecordBatch::Make(layout.file_schema, part.num_rows(), columns);
}

class DeltaSession final : public loaders::UnitSession {
 public:
  explicit DeltaSession(DeltaLoaderImpl* loader) : UnitSession("delta"), loader_(loader) {}
  ~DeltaSession() override { AbortOpenUnit(); }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override;
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override;

 protected:
  Status BeginImpl() override {
    table_.clear();
    ops_.clear();
    sinks_.clear();
    return Status::OK();
  }
  Status UndoImpl(const std::string& table, const BlockInterval& blocks) override;
  Status AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                    const BlockRange& microbatch) override;
  Status CommitImpl(const StreamCheckpoint* checkpoint) override;
  void AbortImpl() override {
    DiscardFiles();
    table_.clear();
  }

 private:
  Status UseTable(const std::string& table);
  Status WritePartitions(const std::shared_ptr<arrow::RecordBatch>& rows);
  Status FlushSinks();
  void DiscardFiles();
  Result<std::string> CommitTable(const StreamCheckpoint* checkpoint);

  DeltaLoaderImpl* loader_;
  std::string table_;  // The one table this unit writes.
  std::shared_ptr<TableLayout> layout_;
  std::vector<UnitOp> ops_;
  std::map<std::string, std::unique_ptr<FileSink>> sinks_;  // By partition directory.
};

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

Status DeltaSession::UndoImpl(const std::string& table, const BlockInterval& blocks) {
  AMP_RETURN_NOT_OK(UseTable(table));
  AMP_RETURN_NOT_OK(FlushSinks());
  ops_.push_back(UnitOp{UnitOp::Kind::kUndo, blocks, nullptr, {}});
  return Status::OK();
}

Status DeltaSession::AppendImpl(const std::string& table, const arrow::RecordBatch& input,
                                const BlockRange& microbatch) {
  AMP_RETURN_NOT_OK(UseTable(table));
  const TableLayout& layout = *layout_;
  const std::string where = loader_->Where(table);
  AMP_RETURN_NOT_OK(CheckBatchSchema(*input.schema(), layout.spec, where));
  if (input.num_rows() == 0) return Status::OK();
  // Flight buffers need not be aligned; the kernels below read typed values.
  AMP_ASSIGN_OR_RETURN(auto batch, arrow::util::EnsureAlignment(
                                       arrow::RecordBatch::Make(input.schema(), input.num_rows(), input.columns()),
                                       arrow::util::kValueAlignment, DeltaMemoryPool()));
  AMP_ASSIGN_OR_RETURN(auto rows, StorageBatch(*batch, layout, microbatch, where));
  const bool upsert = layout.spec.mode == LoadMode::kUpsert;
  if (upsert) {
    // The last row of a key wins within the batch; the key set removes older rows.
    AMP_ASSIGN_OR_RETURN(auto upserted, SelectUpsertRows(*rows, layout.spec));
    AMP_RETURN_NOT_OK(FlushSinks());
    ops_.push_back(UnitOp{UnitOp::Kind::kUpsertKeys, {}, upserted.keys, {}});
    if (static_cast<int64_t>(upserted.selected.size()) != rows->num_rows()) {
      AMP_ASSIGN_OR_RETURN(rows, TakeRows(rows, upserted.selected));
    }
  }
  AMP_RETURN_NOT_OK(WritePartitions(rows));
  if (upsert) AMP_RETURN_NOT_OK(FlushSinks());
  return Status::OK();
}

Status DeltaSession::WritePartitions(const std::shared_ptr<arrow::RecordBatch>& rows) {
  const TableLayout& layout = *layout_;
  AMP_ASSIGN_OR_RETURN(auto groups, GroupByPartition(*rows, layout));
  const std::string table_dir = loader_->TableDir(table_);
  const Options& options = loader_->options();
  for (auto& [dir, group] : groups) {
    std::shared_ptr<arrow::RecordBatch> part = rows;
    if (!layout.partition_columns.empty()) {
      AMP_ASSIGN_OR_RETURN(part, TakeRows(rows, group.rows));
    }
    auto& sink = sinks_[dir];
    if (sink == nullptr) {
      AMP_ASSIGN_OR_RETURN(sink, FileSink::Open(options, table_dir, dir, group.values, layout.file_schema));
    }
    AMP_RETURN_NOT_OK(sink->Write(*FileBatch(*part, layout)));
    if (sink->rows() >= options.target_file_rows) {
      // Keep files near the target size; ops stay ordered (files before later undos).
      AMP_ASSIGN_OR_RETURN(auto written, sink->Close());
      sinks_.erase(dir);
      ops_.push_back(UnitOp{UnitOp::Kind::kFiles, {}, nullptr, {std::move(written)}});
    }
  }
  return Status::OK();
}

// The table the unit commits to: the one it wrote, else (a checkpoint-only unit) the one
// holding the stream's checkpoint; "" when a unit without either has nothing to commit.
Result<std::string> DeltaSession::CommitTable(const StreamCheckpoint* checkpoint) {
  if (!table_.empty() || checkpoint == nullptr) return table_;
  std::string table = loader_->StreamTable(checkpoint->stream_id);
  if (table.empty()) {
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
  return table;
}

Status DeltaSession::CommitImpl(const StreamCheckpoint* checkpoint) {
  AMP_RETURN_NOT_OK(FlushSinks());
  if (loader_->ConsumeInjectedFailure()) {
    return DeltaError(Status::IOError("[delta] injected commit failure (before the version file)"),
                      ErrorClass::kRetryCommit, "INJECTED");
  }
  AMP_ASSIGN_OR_RETURN(const std::string table, CommitTable(checkpoint));
  if (table.empty()) return Status::OK();
  auto state = loader_->State(table);
  const UnitContext unit{&loader_->options(), loader_->TableDir(table), layout_.get(), &ops_, checkpoint};
  UnitPlan plan;  // Of the latest attempt.
  auto discard_rewrites = [&plan] {
    for (const auto& p : plan.rewrites) ::unlink(p.c_str());
    plan = UnitPlan{};
  };
  const PlanFn make = [&](const Snapshot& snap) -> Result<std::optional<DeltaTransaction>> {
    discard_rewrites();
    AMP_ASSIGN_OR_RETURN(plan, PlanUnit(snap, unit));
    return plan.transaction;
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
    discard_rewrites();
    return st;  // The unit stays open for Abort(), which deletes its files.
  }
  // Files of the unit that did not make it into the version (undone within the unit, or
  // the whole unit was a replay) are deleted; the committed ones now belong to the table.
  // So are rewrites that a later op of the unit replaced again.
  if (!committed) plan.added.clear();
  for (const auto& op : ops_) {
    for (const auto& f : op.files) {
      if (plan.added.count(f.abs_path) == 0) ::unlink(f.abs_path.c_str());
    }
  }
  for (const auto& p : plan.rewrites) {
    if (plan.added.count(p) == 0) ::unlink(p.c_str());
  }
  ops_.clear();
  if (committed) loader_->NoteWrittenTable(table);
  if (checkpoint != nullptr) loader_->NoteStreamTable(checkpoint->stream_id, table);
  return Status::OK();
}

Result<std::optional<StreamCheckpoint>> DeltaSession::LoadCheckpoint(const std::string& stream_id) {
  AMP_ASSIGN_OR_RETURN(auto all, loader_->AllCheckpoints(stream_id));
  auto it = all.find(stream_id);
  if (it == all.end()) return std::optional<StreamCheckpoint>();
  if (!unit_open()) AMP_RETURN_NOT_OK(loader_->CheckProgress(it->second.second, stream_id));
  loader_->NoteStreamTable(stream_id, it->second.second);
  return std::optional<StreamCheckpoint>(it->second.first);
}

Result<std::vector<StreamCheckpoint>> DeltaSession::LoadCheckpoints(const std::string& prefix) {
  AMP_ASSIGN_OR_RETURN(auto all, loader_->AllCheckpoints(prefix));
  std::vector<StreamCheckpoint> out;
  std::set<std::string> checked;
  for (auto& [id, cp] : all) {
    if (!unit_open() && checked.insert(cp.second).second) {
      AMP_RETURN_NOT_OK(loader_->CheckProgress(cp.second, id));
    }
    out.push_back(cp.first);
  }
  return out;
}

}  // namespace

std::unique_ptr<LoaderSession> MakeDeltaSession(DeltaLoaderImpl* loader) {
  return std::make_unique<DeltaSession>(loader);
}

}  // namespace amp::delta
