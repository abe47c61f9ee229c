// The load pipeline behind QueryBuilder::load(): it prepares the destination (EnsureTable,
// kOverwrite truncation, the committed checkpoint), runs a TransactionalStream, and turns
// its events into units of work of one load::UnitWriter (unit_writer.h):
//
//   Begin; Undo(reorg)...; Append(data)...; Commit(watermark's checkpoint)
//
// A unit may span several microbatches during catch-up; load::FlushPolicy
// (flush_policy.h) closes it with the cadence documented in amp/load.h. The engine is read ahead on a thread of its own through a
// queue of a few events, so a unit that ends at a watermark and is followed by no event
// within min(flush_interval, 200 ms) is committed then (phase "idle"): a catch-up ending
// on a full microbatch, or an idle chain, would otherwise stay invisible. Errors:
//   - the engine's own errors (kFatal, retries exhausted) end the load;
//   - a loader error of class kFatal ends the load; any other class aborts the unit,
//     reopens the session, reads the checkpoint the destination really holds (a failed
//     Commit may or may not have applied) and has the engine reconnect from it, with
//     backoff; the replayed unit is safe because an aborted unit leaves nothing behind in
//     an atomic store, and a non-atomic store gets the rewind undo first.
// A rewind (UndoCause::kRewind) aborts the open unit; only stores without atomic commits
// also delete the rewound blocks (for batch loads they do not: a rerun batch query has no
// block identity to delete by, so non-atomic batch loads are at-least-once).
// Stop: the stop token cancels the stream; a commit in flight finishes; the open unit is
// committed when it ends at a watermark, else aborted; then RunLoad returns OK.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "amp/client.h"
#include "amp/load_options.h"
#include "amp/loader.h"
#include "amp/status.h"

namespace amp::streaming {

/// \brief Where results go. Push blocks while the consumer is behind; false means the
/// consumer is gone (the load should stop; results are then discarded).
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual bool Push(LoadResult result) = 0;
};

/// How a load carries on from what its caller wrote to the same table (LoadJob::continues).
struct Continuation {
  /// Where the stream starts (resumes after, amp-resume) when the destination holds no
  /// checkpoint of its stream id; unset: at the server's first block.
  std::optional<StreamCheckpoint> after;
  /// When the load starts from `after`: rows of these blocks are deleted in its first
  /// unit, in the same transaction as the first rows (load::UnitWriter::UndoInFirstUnit),
  /// and in every replay of that unit until one commits: what the caller wrote past
  /// `after` that the stream will send again.
  std::optional<BlockInterval> overlap;
};

struct LoadJob {
  const Client* client = nullptr;  ///< Must outlive the load.
  std::string query;
  std::string table;
  LoadOptions options;
  std::shared_ptr<Loader> loader;  ///< Shared: a parallel load's workers and live stream use one.

  /// Set by a caller that prepared the destination itself and may have written to it
  /// before this load starts: the load then neither creates, truncates nor drops the
  /// table, and starts from `continues->after` when the destination holds no checkpoint
  /// of its stream id. A hybrid parallel load (src/parallel/parallel_load.cc) uses it for
  /// its live stream after the catch-up workers.
  std::optional<Continuation> continues;
  /// Added to the metadata of every result of this load.
  std::map<std::string, std::string> result_metadata;
};

/// Runs the load on the calling thread until a batch load completes, the load fails, or
/// `stop` is requested. Returns OK or the error that ended the load (which is also pushed
/// as the last result, with success = false).
Status RunLoad(LoadJob job, std::stop_token stop, ResultSink& sink);

/// The block column a load uses: `requested` when set (validated: a UInt64 column; ""
/// means none), else `_block_num`, else `block_num`, when UInt64. kFatal when a requested
/// column is missing or has another type.
Result<std::string> ResolveBlockColumn(const arrow::Schema& schema,
                                       const std::optional<std::string>& requested);

}  // namespace amp::streaming
