#include "loaders/delta/delta_unit_planner.h"

#include <arrow/api.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "loaders/common/row_keys.h"

namespace amp::delta {
namespace {

// A live file during planning: committed (from the snapshot) or written by this unit.
struct LiveFile {
  AddFile add;
  bool committed = false;
  std::string abs_path;
};

// True when the stream's stored checkpoint is at or past this unit's: a replay.
bool IsReplay(const Snapshot& snap, const StreamCheckpoint* checkpoint) {
  if (checkpoint == nullptr) return false;
  auto it = snap.domains.find(kDomainPrefix + checkpoint->stream_id);
  if (it == snap.domains.end()) return false;
  auto stored = StreamCheckpoint::FromJson(it->second);
  return stored.ok() && stored->transaction_id >= checkpoint->transaction_id;
}

class Planner {
 public:
  Planner(const Snapshot& snap, const UnitContext& unit) : unit_(unit) {
    for (const auto& [path, add] : snap.files) live_[path] = LiveFile{add, true, unit.table_dir + "/" + path};
  }

  ~Planner() {
    if (!handed_over_) {
      for (const auto& p : rewrites_) ::unlink(p.c_str());
    }
  }

  Status Replay() {
    for (const auto& op : *unit_.ops) {
      if (op.kind == UnitOp::Kind::kFiles) {
        for (const auto& f : op.files) live_[f.add.path] = LiveFile{f.add, false, f.abs_path};
        continue;
      }
      std::vector<std::string> paths;
      for (const auto& [path, lf] : live_) paths.push_back(path);
      for (const auto& path : paths) {
        AMP_RETURN_NOT_OK(op.kind == UnitOp::Kind::kUndo ? Undo(path, op.blocks) : Upsert(path, *op.keys));
      }
    }
    return Status::OK();
  }

  std::optional<DeltaTransaction> Transaction(const Snapshot& snap, UnitPlan& plan) const;

  std::vector<std::string> TakeRewrites() {
    handed_over_ = true;
    return rewrites_;
  }

 private:
  Status Undo(const std::string& path, const BlockInterval& blocks) {
    const LiveFile lf = live_.at(path);
    const Overlap overlap = FileOverlap(lf.add, blocks);
    if (overlap == Overlap::kNone) return Status::OK();
    if (overlap == Overlap::kAll) {
      Drop(path);
      return Status::OK();
    }
    AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(unit_.table_dir, lf.add, *unit_.layout));
    AMP_ASSIGN_OR_RETURN(auto keep, RowsInBlocks(*rows, path, blocks));
    keep.flip();
    return Rewrite(path, lf, rows, keep);
  }

  // Rows of an upserted key in files already live go; the upsert's own files come after
  // its op, so they are not live yet.
  Status Upsert(const std::string& path, const std::unordered_set<std::string>& keys) {
    const LiveFile lf = live_.at(path);
    std::vector<std::string> key_names = unit_.layout->spec.key_columns;
    AMP_ASSIGN_OR_RETURN(auto key_rows, ReadLiveFile(unit_.table_dir, lf.add, *unit_.layout, &key_names));
    std::vector<std::shared_ptr<arrow::Array>> key_columns;
    for (const auto& k : key_names) {
      AMP_ASSIGN_OR_RETURN(auto a, arrow::Concatenate(key_rows->GetColumnByName(k)->chunks()));
      key_columns.push_back(a);
    }
    AMP_ASSIGN_OR_RETURN(auto row_keys, loaders::RowKeys(key_columns, key_rows->num_rows()));
    std::vector<bool> keep(row_keys.size());
    bool any = false;
    for (size_t i = 0; i < row_keys.size(); ++i) {
      keep[i] = keys.count(row_keys[i]) == 0;
      any |= !keep[i];
    }
    if (!any) return Status::OK();
    AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(unit_.table_dir, lf.add, *unit_.layout));
    return Rewrite(path, lf, rows, keep);
  }

  // Replaces file `path` by the rows of `rows` marked in `keep` (nothing when none are).
  Status Rewrite(const std::string& path, const LiveFile& lf, const std::shared_ptr<arrow::Table>& rows,
                 const std::vector<bool>& keep) {
    const int64_t kept = std::count(keep.begin(), keep.end(), true);
    if (kept == rows->num_rows()) return Status::OK();
    Drop(path);
    if (kept == 0) return Status::OK();
    AMP_ASSIGN_OR_RETURN(auto filtered, FilterTable(rows, keep));
    AMP_ASSIGN_OR_RETURN(auto written, WriteTableFiles(*unit_.options, unit_.table_dir, *unit_.layout, filtered,
                                                       lf.add.partition_values, true));
    for (auto& w : written) {
      rewrites_.push_back(w.abs_path);
      live_[w.add.path] = LiveFile{w.add, false, w.abs_path};
    }
    return Status::OK();
  }

  void Drop(const std::string& path) {
    auto it = live_.find(path);
    if (it->second.committed) removed_committed_[path] = it->second;
    live_.erase(it);
  }

  const UnitContext& unit_;
  std::map<std::string, LiveFile> live_;
  std::map<std::string, LiveFile> removed_committed_;
  std::vector<std::string> rewrites_;
  bool handed_over_ = false;
};

std::optional<DeltaTransaction> Planner::Transaction(const Snapshot& snap, UnitPlan& plan) const {
  const StreamCheckpoint* checkpoint = unit_.checkpoint;
  DeltaTransaction tx;
  for (const auto& [path, lf] : live_) {
    if (!lf.committed) {
      tx.adds.push_back(lf.add);
      plan.added.insert(lf.abs_path);
    }
  }
  const std::string domain = checkpoint ? kDomainPrefix + checkpoint->stream_id : std::string();
  const std::string checkpoint_json = checkpoint ? checkpoint->ToJson() : std::string();
  const bool checkpoint_changes =
      checkpoint != nullptr && (snap.domains.count(domain) == 0 || snap.domains.at(domain) != checkpoint_json);
  if (tx.adds.empty() && removed_committed_.empty() && !checkpoint_changes) {
    plan.added.clear();
    return std::nullopt;
  }
  const bool blind = removed_committed_.empty();
  tx.commit_info = MakeCommitInfo(blind ? "WRITE" : "MERGE", {{"mode", "Append"}});
  tx.commit_info.is_blind_append = blind;
  const int64_t now = tx.commit_info.timestamp;
  if (checkpoint != nullptr) {
    tx.commit_info.amp = {{"stream_id", checkpoint->stream_id}, {"transaction_id", checkpoint->transaction_id}};
    tx.txn = Txn{checkpoint->stream_id, static_cast<int64_t>(checkpoint->transaction_id), now};
    tx.domains.push_back({domain, checkpoint_json, false});
  }
  // Recorded only when it changes (the first rows, an undo that emptied the table).
  const DomainMetadata table_state = TableStateDomain(!live_.empty(), snap);
  auto recorded = snap.domains.find(kTableDomain);
  if (recorded == snap.domains.end() || recorded->second != table_state.configuration) {
    tx.domains.push_back(table_state);
  }
  for (const auto& [path, lf] : removed_committed_) tx.removes.push_back({lf.add, now, true});
  return tx;
}

}  // namespace

Result<UnitPlan> PlanUnit(const Snapshot& snapshot, const UnitContext& unit) {
  UnitPlan plan;
  if (IsReplay(snapshot, unit.checkpoint)) return plan;
  Planner planner(snapshot, unit);
  AMP_RETURN_NOT_OK(planner.Replay());
  plan.transaction = planner.Transaction(snapshot, plan);
  plan.rewrites = planner.TakeRewrites();
  return plan;
}

}  // namespace amp::delta
