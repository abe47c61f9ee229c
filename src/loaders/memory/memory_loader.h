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
//     sessions of the store from the injection on) fail, for retry and replay tests.
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

namespace arrow {
class RecordBatch;
class Table;
}  // namespace arrow

namespace amp {

inline constexpr char kAmpBlockStartColumn[] = "_amp_block_start";
inline constexpr char kAmpBlockEndColumn[] = "_amp_block_end";

/// \brief A fault armed on a MemoryStore.
struct MemoryFault {
  enum class Call { kBegin, kUndo, kAppend, kCommit };
  Call call = Call::kCommit;
  /// Fail the n-th such call after injection (1 = the next one).
  int nth = 1;
  /// How many consecutive calls fail from there.
  int times = 1;
  /// Commit only: apply the unit, then report the failure (an ambiguous commit, as when a
  /// connection drops after the server committed).
  bool after_apply = false;
  /// The error returned; default IOError of class kRetryCommit.
  Status error;

  /// Fails the `nth` call of kind `call` from now on, once.
  static MemoryFault At(Call call, int nth) {
    MemoryFault fault;
    fault.call = call;
    fault.nth = nth;
    return fault;
  }
};

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

  void InjectFault(MemoryFault fault);
  void ClearFaults();

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
  /// Returns the fault for this call (consuming it) if one fires.
  std::optional<MemoryFault> NextFault(MemoryFault::Call call);
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
  struct ArmedFault {
    MemoryFault fault;
    int remaining_skips;  ///< Calls to let through before failing.
    int remaining_failures;
  };
  std::vector<ArmedFault> faults_;  // Guarded by mu.
};

/// Registers the "memory" loader (options: name, atomic) with URI scheme memory://NAME.
void RegisterMemoryLoader(LoaderRegistry& registry);

}  // namespace amp
