// File: amp/stream.h
//
// The stream engine: a query's batches as a sequence of transactional events, the model of
// the Amp Rust client (crates/clients/flight/src/transactional.rs). Every event carries a
// monotonic TransactionId:
//   Data{id, batch, ranges}            rows of one microbatch (never a 0-row batch);
//   Undo{id, cause, network, blocks}   rows of these blocks are void: a reorg (cause
//                                      kReorg) or a restart that discards what was emitted
//                                      after the last commit (kRewind);
//   Watermark{id, ranges, checkpoint}  a microbatch completed (ranges_complete): committing
//                                      every event up to here with `checkpoint` is safe.
//
//   amp::TransactionalStream stream(client, "SELECT * FROM eth_firehose.logs",
//                                   {.checkpoint = saved, .block_column = "block_num"});
//   while (true) {
//     AMP_ASSIGN_OR_RETURN(auto event, stream.Next());
//     if (!event) break;  // a batch query completed
//     if (auto* w = std::get_if<amp::WatermarkEvent>(&*event)) {
//       ... make everything durable together with w->checkpoint ...
//       stream.Commit(w->checkpoint);
//     } ...
//   }
//
// What the engine guarantees (amp-protocol.md §2.6, §2.7):
//   - A reorg never loses a batch: the Undo is emitted, then the same batch's Data.
//   - The undo is exact when rows carry a block number (StreamOptions::block_column).
//     Without one, rows only know their microbatch, so a reorg whose first block falls
//     strictly inside an earlier multi-block microbatch [a, b] undoes [a, ...], emits a
//     Watermark whose checkpoint resumes after block a-1 (hash = the microbatch's
//     prev_hash), and reconnects from there so that the canonical blocks a.. are re-sent.
//     Such a watermark completes no range (`ranges` is empty); commit it like any other.
//   - Dropped streams and errors of class kRetryCall/kReconnect reconnect from the last
//     committed checkpoint (amp-resume) with exponential backoff and jitter, bounded by
//     RetryOptions; kFatal errors (protocol violations among them) end the stream. Classes
//     come from amp::ClassOf only. Every reconnect is logged (WARNING: reason, attempt,
//     next delay).
//   - Every connection's protocol validator starts from the committed checkpoint: its
//     cursor (last hash per network) and its set of networks, so a batch that switches or
//     adds a network is refused after a reconnect or restart as within one connection.
//   - ampd's answer on a table with nothing synced (one 0-row {"ranges":[],
//     "ranges_complete":true}, then the stream ends) is not a failure: the engine waits
//     for data, polling with backoff (logged at INFO, reported through on_wait), for
//     StreamOptions::wait_for_data (unset: forever), then fails with kRetryCall NO_DATA.
//   - A connection that delivers nothing for quiet_notice (a replica behind the cursor,
//     which ampd answers with silence, or an idle head) is reported once: "waiting for the
//     server to reach block N" (INFO, and on_wait until something arrives).
//   - On reconnect, everything emitted after the last Commit() is void: the engine emits a
//     kRewind Undo of the blocks after the committed cursor before anything else. A
//     consumer aborts its open unit on it (and, if its store is not atomic, deletes
//     those blocks). Partial microbatches are never followed by a Watermark.
//
// Thread-safety: one thread calls Next()/Restart(); Commit() may be called from another
// thread (the load driver commits while its reader thread reads ahead); Cancel() may be
// called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "amp/checkpoint.h"
#include "amp/client.h"
#include "amp/retry.h"
#include "amp/status.h"
#include "amp/types.h"

namespace arrow {
class RecordBatch;
}  // namespace arrow

namespace amp {

using TransactionId = uint64_t;

enum class UndoCause {
  kReorg,   ///< The chain reorganised: these blocks were replaced.
  kRewind,  ///< Reconnect or restart: events after the last commit are void.
};
const char* ToString(UndoCause cause);

struct DataEvent {
  TransactionId id = 0;
  std::shared_ptr<arrow::RecordBatch> batch;  ///< At least one row.
  std::vector<BlockRange> ranges;             ///< The microbatch the rows belong to.
};

struct UndoEvent {
  TransactionId id = 0;
  UndoCause cause = UndoCause::kReorg;
  std::string network;   ///< Empty for a rewind before any range was seen.
  BlockInterval blocks;  ///< Inclusive; end may be kMaxBlock.
};

struct WatermarkEvent {
  TransactionId id = 0;
  std::vector<BlockRange> ranges;  ///< The completed microbatch (empty: a reorg rewind point).
  Cursor cursor;                   ///< Resume point after this watermark (= checkpoint.cursor).
  StreamCheckpoint checkpoint;     ///< What to commit; checkpoint.transaction_id == id.
};

using StreamEvent = std::variant<DataEvent, UndoEvent, WatermarkEvent>;

/// The id of any event.
TransactionId EventId(const StreamEvent& event);

struct StreamOptions {
  /// Copied into every checkpoint.
  std::string stream_id;
  /// The last committed checkpoint: the stream resumes after its cursor, its recent ranges
  /// seed reorg handling, and ids continue after its transaction_id.
  std::optional<StreamCheckpoint> checkpoint;
  /// A UInt64 column with each row's block number; empty: rows carry none.
  std::string block_column;
  /// true: a streaming query (amp-stream: true); false: a batch query (amp-stream: false),
  /// whose completion produces one Watermark, after which Next() returns nullopt.
  bool streaming = true;
  /// Emit a kRewind Undo of the blocks after the checkpoint's cursor before the first
  /// event (for destinations that may hold uncommitted rows after a crash).
  bool rewind_on_start = false;
  /// Completed ranges ending within this many blocks of the newest are retained.
  uint64_t retention_blocks = 128;
  RetryOptions retry;
  /// How long to wait for a table with nothing synced to get data; unset: forever.
  std::optional<std::chrono::milliseconds> wait_for_data;
  /// A connection silent for this long is reported as waiting (see above).
  std::chrono::milliseconds quiet_notice{2'000};
  /// Called (from the engine's threads) with what the stream is waiting for ("waiting for
  /// data: ...", "waiting for the server to reach block N ..."), and with "" once the wait
  /// is over. Must not block.
  std::function<void(const std::string& waiting)> on_wait;
};

/// \brief Counters for diagnostics and tests.
struct StreamStats {
  int connections = 0;      ///< Streams opened successfully.
  int reconnects = 0;       ///< Connections after the first (any cause).
  int reorgs = 0;           ///< kReorg undos emitted.
  int failures = 0;         ///< Retryable failures (connect, stream, Restart()).
  int data_polls = 0;       ///< Reconnects after ampd's "nothing synced" answer (not failures).
  /// The resume cursor sent by each connection attempt (empty: none), in order; after
  /// 256 attempts the oldest but the first are dropped.
  std::vector<Cursor> requested_cursors;
};

class TransactionalStream {
 public:
  /// `client` must outlive the stream. Nothing is sent before the first Next().
  TransactionalStream(const Client& client, std::string query, StreamOptions options);
  ~TransactionalStream();
  TransactionalStream(const TransactionalStream&) = delete;
  TransactionalStream& operator=(const TransactionalStream&) = delete;

  /// The next event (blocking), nullopt after a batch query's completion, or an error:
  /// kFatal, retries exhausted, or Cancelled after Cancel().
  Result<std::optional<StreamEvent>> Next();

  /// Records that everything up to checkpoint.transaction_id is durable with `checkpoint`
  /// (a Watermark's checkpoint). Resets the retry count.
  void Commit(const StreamCheckpoint& checkpoint);

  /// Drops the stream and reconnects from the last committed checkpoint at the next
  /// Next(), counting as a failed attempt (backoff applies).
  /// `reason` is reported if this exhausts the retries.
  void Restart(const Status& reason = Status::OK());
  /// Restart() from `durable` (nullopt: nothing committed), what the destination really
  /// holds, e.g. after a commit whose outcome is unknown.
  void RestartFrom(std::optional<StreamCheckpoint> durable, const Status& reason = Status::OK());

  /// Ends a blocked Next() (and every later one) with Cancelled. Any thread.
  void Cancel();
  bool cancelled() const;

  /// The committed checkpoint (as of the last Commit/Restart, or the initial one).
  const std::optional<StreamCheckpoint>& committed() const;
  const StreamStats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amp
