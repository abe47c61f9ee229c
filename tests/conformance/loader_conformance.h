// The loader conformance suite (GitHub issue 3): one set of tests every loader must pass,
// stamped out per loader by AMP_LOADER_CONFORMANCE_TESTS(Fixture), after ADBC's
// c/validation (DriverQuirks + ADBCV_TEST_*). A loader plugs in with a small LoaderQuirks
// class saying how to get a fresh destination, a loader on it, and the few test hooks no
// interface call can provide (drop a table, make a commit fail, a value the store rejects,
// the timestamp resolution it stores):
//
//   class RedisQuirks : public amp::conformance::LoaderQuirks { ... };
//   class RedisConformanceTest : public amp::conformance::LoaderConformanceTest {
//    protected:
//     std::unique_ptr<amp::conformance::LoaderQuirks> MakeQuirks() override {
//       return std::make_unique<RedisQuirks>();
//     }
//   };
//   AMP_LOADER_CONFORMANCE_TESTS(RedisConformanceTest)
//
// What is checked (each a test; names below):
//   round trips   the devnet's real blocks/transactions/logs rows and a synthetic batch
//                 with every other Amp type are written through Begin/Append/Commit and
//                 read back (Loader::ReadRows, or the quirks' fallback) equal in schema and
//                 values, with the right `_amp_block_start` tag;
//   load modes    append twice = both; overwrite (Truncate, then load) = the second load;
//                 upsert by key = the last row wins, within a batch and across units;
//   undo          per-row block column: exactly the rows of the undone blocks go;
//                 microbatch tagging: a batch tagged [a,b] goes as a whole when [a,b]
//                 intersects the undone blocks, and stays otherwise; undo + append +
//                 checkpoint commit as one unit;
//   failures      Abort after Append, a failed Append (wrong schema; the quirks' invalid
//                 value) and a failed Commit (the quirks' fault hook) leave neither rows
//                 (atomic loaders) nor a new checkpoint, and replaying the unit gives
//                 exactly one copy (twice in a row: still one, through its own undo);
//   checkpoints   round trip (also through a new loader instance), per stream id,
//                 Truncate forgets them; one of a table dropped behind the loader's back
//                 is never resumed (gone with the table, or refused as stale progress);
//                 ResetProgress forgets exactly one job's (or, truncating, the table's);
//   EnsureTable   idempotent; an incompatible existing table is rejected with kFatal
//                 naming the column, and left untouched;
//   concurrency   4 sessions on 4 threads appending disjoint blocks: every row once.
//
// Capabilities decide, never skips: a loader that declares a capability (a LoadMode in
// capabilities().modes, supports_undo, atomic_commit, concurrent_sessions) must pass its
// test; one that does not declare it must refuse the feature cleanly (a kFatal error, and
// nothing changed), or, for atomic_commit / concurrent_sessions, gets the weaker contract
// checked (at-least-once with undo-before-replay; sessions used one at a time). The one
// exception: a non-atomic loader whose quirks have no FailNextCommit() hook skips that test.
//
// Tests use their own tables and stream ids inside the destination SetUp() prepared, so a
// store shared between tests (one PostgreSQL server) only needs one namespace per test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"

namespace arrow {
class RecordBatch;
class Table;
}  // namespace arrow

namespace amp::conformance {

/// \brief How the suite drives one loader: a fresh destination per test, loaders on it,
/// and test-only hooks. One instance per test, created by the fixture's MakeQuirks().
class LoaderQuirks {
 public:
  virtual ~LoaderQuirks() = default;

  /// Prepares an empty destination of its own for the test `test_name` (a fresh memory
  /// store, PostgreSQL schema, Redis key prefix, Delta directory...). A failure fails the
  /// test (e.g. no PostgreSQL server: never a skip).
  virtual Status SetUp(const std::string& test_name) = 0;
  /// Removes what SetUp() created.
  virtual Status TearDown() { return Status::OK(); }

  /// A new Loader instance on this test's destination. Every call gives a separate
  /// instance over the same data, as a process restart would.
  virtual Result<std::unique_ptr<Loader>> MakeLoader() = 0;

  /// Drops `table` behind the loaders' backs (as a user would); OK if it does not exist.
  virtual Status DropTable(const std::string& table) = 0;

  /// The committed rows of spec.name intersecting `blocks`, in the form of
  /// Loader::ReadRows (spec.schema's columns, then UInt64 `_amp_block_start`). The
  /// default calls loader.ReadRows(); override only for a loader that lacks it.
  virtual Result<std::shared_ptr<arrow::Table>> ReadRows(Loader& loader, const TableSpec& spec,
                                                         const BlockInterval& blocks);

  /// Arms a failure of the next Commit() of the session `loader` has open (called between
  /// the unit's last Append and its Commit): that Commit must report an error and, for an
  /// atomic loader, apply nothing. nullopt: the loader has no such hook; the suite then
  /// fails for loaders declaring atomic_commit (they must prove it) and skips that one
  /// test otherwise. Example: the memory loader's fault injection; PostgreSQL terminates
  /// the session's backend.
  virtual std::optional<Status> FailNextCommit(Loader& loader) {
    (void)loader;
    return std::nullopt;
  }

  /// A batch with the schema of `valid` (the suite's rows: `_block_num` UInt64, `id` Int64,
  /// `label` Utf8) holding a value this loader must reject at Append() or Commit(), e.g.
  /// text PostgreSQL cannot store; nullptr when every value of those types is storable.
  /// The failed-unit test then also checks that such a rejection leaves no trace.
  virtual std::shared_ptr<arrow::RecordBatch> MakeInvalidBatch(const arrow::RecordBatch& valid) {
    (void)valid;
    return nullptr;
  }

  /// Timestamps are stored at this resolution in nanoseconds (floored): 1 for exact
  /// storage, 1000 for microseconds (PostgreSQL).
  virtual int64_t timestamp_resolution_ns() const { return 1; }
};

/// \brief The fixture base. Subclass it, override MakeQuirks(), and expand
/// AMP_LOADER_CONFORMANCE_TESTS(YourFixture) once at namespace scope.
class LoaderConformanceTest : public ::testing::Test {
 protected:
  virtual std::unique_ptr<LoaderQuirks> MakeQuirks() = 0;

  void SetUp() override;
  void TearDown() override;

  LoaderQuirks& quirks() { return *quirks_; }

 public:
  // --- The tests (one TEST_F each, see the macro). ---
  void TestDevnetBlocksRoundTrip();
  void TestDevnetTransactionsRoundTrip();
  void TestDevnetLogsRoundTrip();
  void TestSyntheticTypesRoundTrip();
  void TestReadRowsSelectsIntersectingBlocks();
  void TestAppendTwiceKeepsBoth();
  void TestOverwriteKeepsOnlyTheSecondLoad();
  void TestUpsertLastRowWins();
  void TestUndoRemovesExactlyTheIntersectingBlocks();
  void TestUndoRemovesWholeTaggedMicrobatches();
  void TestUndoAppendAndCheckpointCommitTogether();
  void TestAbortedUnitLeavesNoTrace();
  void TestFailedAppendLeavesNoTrace();
  void TestFailedCommitLeavesNoTraceAndReplayAppliesOnce();
  void TestCheckpointRoundTrips();
  void TestCheckpointsArePerStream();
  void TestTruncateForgetsCheckpoints();
  void TestCheckpointOfADroppedTableIsNotResumed();
  void TestResetProgressForgetsOneJob();
  void TestEnsureTableIsIdempotent();
  void TestEnsureTableRejectsIncompatibleTable();
  void TestConcurrentSessionsAppendDisjointBlocks();

 protected:
  // --- Helpers shared by the tests. ---
  /// A new loader instance on the test's destination (nullptr and a failure on error).
  std::unique_ptr<Loader> NewLoader();
  /// Round trip of one devnet table ("blocks", "transactions", "logs").
  void DevnetRoundTrip(const std::string& table);
  /// For loaders without supports_undo: Undo must fail (kFatal) and change nothing.
  void ExpectUndoRefused(const TableSpec& spec);
  /// Reads rows through the quirks; fails the test on error (returns nullptr then).
  std::shared_ptr<arrow::Table> Read(Loader& loader, const TableSpec& spec,
                                     BlockInterval blocks = {});
  /// The committed checkpoint of `stream_id`, read through a new session.
  Result<std::optional<StreamCheckpoint>> Checkpoint(Loader& loader, const std::string& stream_id);
  bool Declares(LoadMode mode) const;

  std::unique_ptr<LoaderQuirks> quirks_;
  std::unique_ptr<Loader> loader_;  ///< Made in SetUp().
  bool set_up_ = false;              ///< quirks_->SetUp() succeeded.
};

}  // namespace amp::conformance

/// Stamps out the conformance tests for `Fixture` (a subclass of LoaderConformanceTest).
#define AMP_LOADER_CONFORMANCE_TEST_(Fixture, Name) \
  TEST_F(Fixture, Name) { this->Test##Name(); }

#define AMP_LOADER_CONFORMANCE_TESTS(Fixture)                                         \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, DevnetBlocksRoundTrip)                        \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, DevnetTransactionsRoundTrip)                  \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, DevnetLogsRoundTrip)                          \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, SyntheticTypesRoundTrip)                      \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, ReadRowsSelectsIntersectingBlocks)            \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, AppendTwiceKeepsBoth)                         \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, OverwriteKeepsOnlyTheSecondLoad)              \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, UpsertLastRowWins)                            \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, UndoRemovesExactlyTheIntersectingBlocks)      \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, UndoRemovesWholeTaggedMicrobatches)           \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, UndoAppendAndCheckpointCommitTogether)        \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, AbortedUnitLeavesNoTrace)                     \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, FailedAppendLeavesNoTrace)                    \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, FailedCommitLeavesNoTraceAndReplayAppliesOnce) \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, CheckpointRoundTrips)                         \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, CheckpointsArePerStream)                      \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, TruncateForgetsCheckpoints)                   \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, CheckpointOfADroppedTableIsNotResumed)        \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, ResetProgressForgetsOneJob)                   \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, EnsureTableIsIdempotent)                      \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, EnsureTableRejectsIncompatibleTable)          \
  AMP_LOADER_CONFORMANCE_TEST_(Fixture, ConcurrentSessionsAppendDisjointBlocks)
