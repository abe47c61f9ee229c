// The "memory" loader: the reference implementation of the loader contract (amp/loader.h),
// keeping tables as Arrow record batches in process memory, for tests and examples.
//
//   AMP_ASSIGN_OR_RETURN(auto loader, BuiltinLoaders().Create("memory", {{"name", "t1"}}));
//   ... load into it (session.sql(q).load("memory://t1", "blocks", ...)) ...
//   auto store = MemoryStore::Get("t1");
//   AMP_ASSIGN_OR_RETURN(auto rows, store->ReadTable("blocks"));   // without _amp_ columns
//
// Semantics:
//   - Loaders with the same `name` share one MemoryStore (like a database): a load can be
//     destroyed and a new one started on the same data, as after a process restart.
//   - atomic = true (default): a session records its unit and applies it on Commit under
//     the store's mutex, rows and checkpoint together, or not at all. atomic = false:
//     Undo/Append apply immediately and Commit only saves the checkpoint (a stand-in for
//     stores without transactions, to exercise the engine's rewind path).
//   - Rows are tagged with `_amp_block_start` / `_amp_block_end` (UInt64): the row's block
//     (TableSpec::block_column) or its microbatch range; Undo drops rows whose span
//     intersects the undone blocks. kUpsert replaces rows with equal key_columns.
//   - Faults: MemoryStore::InjectFault makes the N-th call of one kind (counted over all
//     sessions of the store from the injection on) fail, for retry and replay tests. The
//     loader's sessions are wrapped in loaders/testing/fault_injection.h for that; the
//     loader itself has no fault code.
// Thread-safety: sessions may be used concurrently from different threads (one thread per
// session); the store serialises their commits.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "loaders/testing/fault_injection.h"

namespace arrow {
class RecordBatch;
class Table;
}  // namespace arrow

namespace amp {

inline constexpr char kAmpBlockStartColumn[] = "_amp_block_start";
inline constexpr char kAmpBlockEndColumn[] = "_amp_block_end";

/// A fault armed on a MemoryStore; the sessions of its loaders are wrapped in
/// loaders/testing/fault_injection.h, which decides when a call fails.
using MemoryFault = loaders::testing::Fault;

/// \brief The data behind every memory loader of one name.
class MemoryStore {
 public:
  /// The store named `name`, created empty on first use.
  static std::shared_ptr<MemoryStore> Get(const std::string& name);
  /// Forgets the store of that name (loaders already holding it keep it alive).
  static void Drop(const std::string& name);

  const std::string& name() const { return name_; }

  /// The rows of `table` in insertion order (with the _amp_ columns when asked), as one
  /// chunk; KeyError if the table does not exist.
  Result<std::shared_ptr<arrow::Table>> ReadTable(const std::string& table,
                                                  bool with_amp_columns = false) const;
  std::vector<std::string> tables() const;
  std::optional<StreamCheckpoint> checkpoint(const std::string& stream_id) const;
  std::vector<StreamCheckpoint> checkpoints() const;

  void InjectFault(MemoryFault fault) { faults_->Inject(std::move(fault)); }
  void ClearFaults() { faults_->Clear(); }
  /// The faults every session of this store's loaders runs through.
  const std::shared_ptr<loaders::testing::FaultPlan>& faults() const { return faults_; }

  /// Calls that reached the store (an injected fault stops a call before it), and
  /// failed_commits: the injected commit failures.
  struct Stats {
    int begins = 0, undos = 0, appends = 0, commits = 0, failed_commits = 0, aborts = 0;
    int truncates = 0, sessions = 0;
  };
  Stats stats() const;

  // --- Used by the loader and its sessions. ---
  explicit MemoryStore(std::string name) : name_(std::move(name)) {}
  struct TableData {
    TableSpec spec;
    std::shared_ptr<arrow::Schema> stored_schema;  ///< spec.schema + the two _amp_ columns.
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  };
  mutable std::mutex mu;
  std::map<std::string, TableData> tables_data;
  std::map<std::string, StreamCheckpoint> checkpoints_data;
  std::map<std::string, std::string> stream_tables;  ///< stream_id -> table it writes.
  /// table -> it held rows after our last commit to it. Kept apart from tables_data so that
  /// a table erased behind the loader's back (a test's "user drop") is still known to have
  /// held rows, and its checkpoints are refused (amp/loader.h, LoadCheckpoint).
  std::map<std::string, bool> table_rows;
  Stats stats_data;

 private:
  const std::string name_;
  const std::shared_ptr<loaders::testing::FaultPlan> faults_ =
      std::make_shared<loaders::testing::FaultPlan>();
};

/// Registers the "memory" loader (options: name, atomic) with URI scheme memory://NAME.
void RegisterMemoryLoader(LoaderRegistry& registry);

}  // namespace amp
