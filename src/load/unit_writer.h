// The one owner of a unit of work on a LoaderSession, shared by the streaming driver
// (load_driver.cc) and the partition workers of a parallel load (src/parallel/): it is the
// only code that commits a load's rows, so the rules below hold for every load.
//
//   UnitWriter writer({.loader = loader, .table = table, .rows_carry_blocks = true});
//   AMP_RETURN_NOT_OK(writer.Begin());
//   AMP_RETURN_NOT_OK(writer.Append(batch, microbatch));
//   AMP_ASSIGN_OR_RETURN(UnitCounters unit, writer.Commit(record));
//
// - The session is opened on first use (Begin, session()) and reopened after Recover().
//   Every session coalesces tiny batches (load/batch_coalescer.h).
// - A failed Begin/Undo/Append/Commit leaves the unit open: the caller either Abort()s it
//   or calls Recover(). For an atomic store an aborted unit leaves nothing behind.
// - The record is any durable row a unit commits with its data (amp/checkpoint.h): a
//   stream's StreamCheckpoint, or a PartitionProgress / HandoffRecord converted with
//   ToCheckpoint(). The writer does not interpret it beyond the "landed" test below.
// - A failed Commit has an unknown outcome (the store may have applied it before the
//   error reached us). Recover(record id) reads the record the destination really holds;
//   when it is the one the failed Commit carried (same transaction_id and cursor) the
//   unit landed, and Recovery::landed returns its counters so the caller can report it.
// - A first-unit undo (UndoInFirstUnit) is how a load continues what another writer began
//   on the same table: the hybrid hand-off of a parallel load starts its live stream
//   after the hand-off block and must delete what the catch-up workers wrote past it in
//   the same transaction as the stream's first rows. Whoever starts the stream sets it
//   (load_driver.h: LoadJob::continues); the writer applies it at every Begin() until a
//   unit of this writer has committed (landed ones included), then never again.
// Thread-safety: one writer per thread, like the session it owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "amp/checkpoint.h"
#include "amp/loader.h"
#include "amp/retry.h"
#include "amp/status.h"
#include "amp/types.h"
#include "streaming/backoff.h"

namespace arrow {
class RecordBatch;
}

namespace amp::load {

/// What one unit of work wrote.
struct UnitCounters {
  std::chrono::steady_clock::time_point started;  ///< When Begin() opened the unit.
  int64_t rows = 0;
  int64_t bytes = 0;  ///< Arrow buffer bytes appended.
  int batches = 0;
  /// Network, lowest start and highest end of the microbatches the unit covered
  /// (Append's microbatch, and Cover()); unset while none had a range.
  std::optional<BlockRange> blocks;
};

/// What the destination holds after a unit failed (UnitWriter::Recover).
struct Recovery {
  /// The record durable under the id asked for (nullopt: none, or no id was asked for).
  std::optional<StreamCheckpoint> durable;
  /// Set when the unit whose Commit failed did land: its counters.
  std::optional<UnitCounters> landed;
};

class UnitWriter {
 public:
  struct Options {
    std::shared_ptr<Loader> loader;
    std::string table;
    /// Rows carry their own block column (tells the coalescer it may merge batches of
    /// different microbatches).
    bool rows_carry_blocks = false;
  };

  explicit UnitWriter(Options options);
  ~UnitWriter();  ///< Aborts an open unit.
  UnitWriter(const UnitWriter&) = delete;
  UnitWriter& operator=(const UnitWriter&) = delete;

  /// The session (opened when there is none), for reads outside a unit such as
  /// LoadCheckpoint(s) while planning.
  Result<LoaderSession*> session();
  /// Closes the session (its connection returns to the store); the next use reopens it.
  void CloseSession();

  /// Opens a unit (and the session when needed); applies the first-unit undo, if any.
  Status Begin();
  /// Deletes the rows of blocks `blocks` within the open unit.
  Status Undo(const BlockInterval& blocks);
  /// Adds rows to the open unit; `microbatch` is the range they belong to (also covered;
  /// a default-constructed BlockRange means none and covers nothing).
  Status Append(const arrow::RecordBatch& batch, const BlockRange& microbatch);
  /// Widens the unit's covered blocks without rows (e.g. a watermark's microbatch).
  void Cover(const BlockRange& microbatch);
  /// Makes the unit durable with `record` in the same transaction (atomic stores) and
  /// returns what it wrote. On error the unit stays open and its outcome is unknown.
  Result<UnitCounters> Commit(const StreamCheckpoint& record);
  /// Drops the open unit, if any (idempotent).
  void Abort();

  /// After a retryable error: aborts the unit, reopens the session and, with
  /// `record_id`, reads the durable record to learn whether a failed Commit landed.
  /// An error (the store is still unreachable) leaves no session open.
  Result<Recovery> Recover(const std::optional<std::string>& record_id);

  /// See the header comment. Replaces an earlier one; applied only before a commit.
  void UndoInFirstUnit(BlockInterval blocks);

  bool open() const { return open_; }
  /// Whether a unit of this writer has committed.
  bool committed_any() const { return committed_any_; }
  /// The open unit's counters (those of the last unit once it is closed).
  const UnitCounters& unit() const { return unit_; }
  const Loader& loader() const { return *options_.loader; }
  const std::string& table() const { return options_.table; }

 private:
  Status EnsureSession();

  Options options_;
  std::unique_ptr<LoaderSession> session_;
  bool open_ = false;
  bool committed_any_ = false;
  UnitCounters unit_;
  std::optional<BlockInterval> first_unit_undo_;
  /// The record of a Commit that failed, whose outcome Recover() settles.
  std::optional<StreamCheckpoint> in_doubt_;
};

/// Retries with Backoff, classified by ErrorClass: a kFatal error is never retried, any
/// other until RetryOptions::max_attempts consecutive failures without progress.
class Retrier {
 public:
  /// `seed` as for Backoff (0: random). `stop` cuts the sleeps short.
  Retrier(const RetryOptions& options, std::stop_token stop, uint64_t seed = 0);

  /// After `error`: false when it must not be retried (kFatal, retries used up, or a stop
  /// was requested); else true, once the backoff delay has passed (or a stop came).
  /// `before_sleep(delay, attempt)` (may be null) runs first, e.g. to log the retry;
  /// `attempt` is the number of the attempt that follows.
  bool Retry(const Status& error,
             const std::function<void(std::chrono::milliseconds delay, int attempt)>& before_sleep);
  /// A unit committed since the last failure: the count of failures restarts.
  void Progressed() { failures_ = 0; }
  int failures() const { return failures_; }
  /// Whether the failures so far used up the retries.
  bool exhausted() const { return backoff_.Exhausted(failures_); }

 private:
  streaming::Backoff backoff_;
  std::stop_token stop_;
  int failures_ = 0;
};

/// Runs a setup step (not a unit: open, EnsureTable, GetFlightInfo...) until it succeeds
/// or fails for good, logging each retry as "[<scope>] <message>; retrying in ...".
/// Returns `stopped()` when a stop is requested before or while waiting.
Status RetryStep(const RetryOptions& options, std::stop_token stop, std::string_view scope,
                 const std::function<Status()>& step, const std::function<Status()>& stopped);

}  // namespace amp::load
