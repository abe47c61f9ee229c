// Plans one unit of work against a snapshot: replays the unit's operations (undo a block
// interval, replace the rows of upserted keys, add the unit's files) over the table's live
// files and turns the result into the DeltaTransaction that commits it. Files that lie
// wholly inside an undone interval are removed unread (from their stats); files that
// straddle one, or hold rows of an upserted key, are rewritten without those rows.
//
// Planning is repeated for every commit attempt: when another writer takes the version,
// the unit is planned again against the newer snapshot.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "amp/loader.h"
#include "loaders/delta/delta_files.h"
#include "loaders/delta/delta_layout.h"
#include "loaders/delta/delta_log.h"

namespace amp::delta {

/// One operation of a unit, applied in order at Commit.
struct UnitOp {
  enum class Kind { kUndo, kUpsertKeys, kFiles } kind;
  BlockInterval blocks;                                    ///< kUndo.
  std::shared_ptr<std::unordered_set<std::string>> keys;   ///< kUpsertKeys (loaders::RowKeys).
  std::vector<WrittenFile> files;                          ///< kFiles.
};

struct UnitPlan {
  /// nullopt: nothing to commit (a replay of a committed unit, or a unit that changes
  /// nothing).
  std::optional<DeltaTransaction> transaction;
  /// Files this plan wrote (rewrites), absolute paths; the caller deletes those that do
  /// not end up committed.
  std::vector<std::string> rewrites;
  /// Absolute paths of the unit's own files and rewrites that the transaction adds.
  std::set<std::string> added;
};

struct UnitContext {
  const Options* options;
  std::string table_dir;
  const TableLayout* layout;
  const std::vector<UnitOp>* ops;
  const StreamCheckpoint* checkpoint;  ///< null: a unit without one.
};

/// The plan of `unit` over `snapshot`. On error, the rewrites already written are deleted.
Result<UnitPlan> PlanUnit(const Snapshot& snapshot, const UnitContext& unit);

}  // namespace amp::delta
