// The "delta" loader's implementation class, shared by the files that implement its parts:
//   delta_loader.cc    tables: create/check/evolve, truncate, drop, progress and its reset
//   delta_session.cc   units of work (Append, Undo, Commit through delta_unit_planner.h)
//   delta_reader.cc    ReadRows
//   delta_optimize.cc  Optimize (compaction)
// Only the loader's files include this header.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "loaders/delta/delta_layout.h"
#include "loaders/delta/delta_loader.h"
#include "loaders/delta/delta_log.h"
#include "loaders/delta/delta_options.h"

namespace amp::delta {

/// One table's replayed log inside one loader.
struct TableState {
  std::mutex mu;  ///< Serialises this process's refresh/plan/commit of the table.
  std::string dir;
  Snapshot snapshot;
};

/// Plans a commit from the refreshed snapshot; nullopt: nothing to commit.
using PlanFn = std::function<Result<std::optional<DeltaTransaction>>(const Snapshot&)>;

class DeltaLoaderImpl final : public DeltaLoader {
 public:
  explicit DeltaLoaderImpl(Options options);
  ~DeltaLoaderImpl() override;

  std::string name() const override { return "delta"; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }
  const std::string& root() const override { return options_.root; }
  const Options& options() const { return options_; }

  Status EnsureTable(const TableSpec& spec) override;
  Status Truncate(const std::string& table) override;
  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id, bool truncate) override;
  Result<bool> TableExists(const std::string& table) override;
  Status DropTable(const std::string& table) override;
  Result<std::unique_ptr<LoaderSession>> OpenSession() override;
  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec, const BlockInterval& blocks) override;
  Status Optimize(const std::string& table) override;
  void FailNextCommitsForTesting(int n) override { fail_commits_.store(n); }

  // --- For the session, the reader and optimize. ---

  std::string TableDir(const std::string& table) const { return options_.root + "/" + table; }
  /// "delta destination <dir>", how messages name a table.
  std::string Where(const std::string& table) const { return "delta destination " + TableDir(table); }
  /// True (once per requested failure) when the next commit is to fail.
  bool ConsumeInjectedFailure();
  std::shared_ptr<TableState> State(const std::string& table);
  /// The layout EnsureTable set up for `table`, or null.
  std::shared_ptr<TableLayout> Layout(const std::string& table);
  /// The table that last stored `stream_id`'s checkpoint in this loader, else the table
  /// EnsureTable saw last ("" when none).
  std::string StreamTable(const std::string& stream_id);
  void NoteStreamTable(const std::string& stream_id, const std::string& table);
  void NoteWrittenTable(const std::string& table);
  /// Commits what `plan` returns as the next version, re-planning when another writer
  /// took it; `committed` (when given) says whether a version was written.
  Status CommitWithRetry(TableState& state, const std::string& table, const PlanFn& plan,
                         bool* committed = nullptr);
  /// Every amp checkpoint stored in any table, newest transaction per stream id, with its table.
  Result<std::map<std::string, std::pair<StreamCheckpoint, std::string>>> AllCheckpoints(
      const std::string& prefix);
  /// Refuses the checkpoint of `stream_id` stored in `table` when the table held rows after
  /// our last commit to it and holds no live file now (another writer deleted or overwrote
  /// its rows), or when its metaData id changed (the table was replaced). A table whose log
  /// has no amp.table domain (written by an earlier release) is accepted; the next commit
  /// records it. Dropping the table directory drops its checkpoints with it.
  Status CheckProgress(const std::string& table, const std::string& stream_id);
  Status CheckTableName(const std::string& table) const;
  /// The snapshot of an existing table, refreshed (kFatal NO_TABLE when there is none).
  Result<Snapshot> RefreshedSnapshot(const std::string& table);

 private:
  Status EnsureRoot();
  Status CheckDirectory(const std::string& table);
  Status CreateTable(TableState& state, const TableLayout& layout, bool* created);
  Result<bool> CheckOrEvolve(TableState& state, const TableLayout& layout);
  void MaybeCheckpoint(TableState& state);
  std::vector<std::string> Tables() const;

  Options options_;
  LoaderCapabilities capabilities_;
  std::atomic<int> fail_commits_{0};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<TableState>> states_;
  std::map<std::string, std::shared_ptr<TableLayout>> layouts_;
  std::map<std::string, std::string> stream_tables_;
  std::set<std::string> written_tables_;
  std::string last_ensured_;
};

/// A session of `loader` (delta_session.cc).
std::unique_ptr<LoaderSession> MakeDeltaSession(DeltaLoaderImpl* loader);

}  // namespace amp::delta
