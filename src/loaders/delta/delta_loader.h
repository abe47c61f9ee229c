// The "delta" loader: loads query results into Delta Lake tables on a local file system,
// Parquet files written with Arrow's Parquet writer and a Delta transaction log written by
// us (delta_log.h). User documentation: docs/loaders/deltalake.md.
//
//   LoaderRegistry registry;
//   RegisterDeltaLoader(registry);
//   AMP_ASSIGN_OR_RETURN(auto loader, registry.Create("delta", {{"root", "/data/lake"}}));
//   // or by URI: delta:///data/lake?compression=snappy&checkpoint_interval=20
//
// Design in brief:
//  * One Delta table per destination table name, at <root>/<table>.
//  * A unit of work is one Delta version: the unit's Parquet files are written while it
//    runs (Append streams rows into a file, closed at target_file_rows or Commit); Commit
//    then plans the unit's undo/upsert against the newest snapshot (remove the files
//    whose _amp_block_start/_amp_block_end stats lie inside the undone blocks, rewrite
//    only those that straddle them) and creates the next version file atomically with
//    the add/remove actions, a `txn` {appId: stream_id, version: transaction_id} and a
//    domainMetadata action "amp.checkpoint.<stream_id>" holding the StreamCheckpoint JSON.
//    A version that already exists (another writer won) is re-planned and retried.
//  * A replayed unit whose transaction_id is <= the committed one is a no-op.
//  * Every `checkpoint_interval` versions a checkpoint Parquet + _last_checkpoint.
//  * Optimize() compacts small files (dataChange=false), explicitly or once after a load.
//
// The folder, by seam: delta_options (option table, URI mapping), delta_types (Arrow <->
// Delta types), delta_layout (columns, partitions, amp's domains), delta_files (Parquet
// files), delta_log (the log, typed actions), delta_unit_planner (a unit's operations +
// the snapshot -> a DeltaTransaction), delta_session (units of work), delta_loader (tables,
// progress), delta_reader (ReadRows), delta_optimize (compaction).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "amp/loader.h"

namespace amp {

/// Registers the "delta" loader (URI scheme delta:///absolute/root; options DeltaOptions()).
void RegisterDeltaLoader(LoaderRegistry& registry);

namespace delta {

/// The loader's documented options.
std::vector<OptionSpec> DeltaOptions();

/// A Delta Lake loader, with the operations beyond the Loader interface.
class DeltaLoader : public Loader {
 public:
  /// Compacts the live files of `table` smaller than target_file_bytes / 2 into files of
  /// about target_file_rows rows, per partition, in one commit (dataChange = false), then
  /// writes a checkpoint. Readers see the same rows before and after. kFatal when the
  /// table does not exist; concurrent writers are handled by retry.
  virtual Status Optimize(const std::string& table) = 0;
  /// Test hook: the next `n` Commit attempts fail after writing the unit's Parquet files
  /// and before creating the version file (a crash there), with kRetryCommit.
  virtual void FailNextCommitsForTesting(int n) = 0;
  /// The root directory.
  virtual const std::string& root() const = 0;
};

/// The factory behind the registry entry (config validated by the registry).
Result<std::unique_ptr<DeltaLoader>> MakeDeltaLoader(const LoaderConfig& config);

/// `delta:///abs/root?k=v` -> {root: /abs/root, k: v}.
Result<LoaderConfig> ConfigFromUri(const std::string& uri);

}  // namespace delta
}  // namespace amp
