// File: amp/load_options.h
//
// The vocabulary of a load that the load engine (src/load), the parallel wing
// (src/parallel) and the composition layer (amp/load.h) share: the options of one load and
// the LoadResult of each committed unit of work. Starting a load is amp/load.h.
//
// Commit cadence of a streaming load: a unit ends at a microbatch boundary (a watermark)
// when any of these holds, else it keeps growing:
//   - it holds >= batch_size rows or >= flush_bytes bytes (catch-up);
//   - the microbatch was "live": one block, or shorter than the longest microbatch seen
//     so far (the first one: shorter than server_microbatch_blocks); the server cuts
//     microbatches short only at the chain head;
//   - it holds an undo (reorg), or the stream reconnected since the last commit;
//   - flush_interval has passed since the unit began;
//   - no further event arrived within min(flush_interval, 200 ms) (the stream went quiet,
//     e.g. a catch-up ending exactly on a full microbatch at a halted head: phase "idle");
//   - a stop was requested.
// The stream is read ahead on a reader thread through a queue of a few events, so reading
// overlaps writing; the queue bounds the memory this takes.
//
// LoadResult::metadata keys (all values are text):
//   operation       "load" (a committed unit), "reorg" (an undo inside the next unit, which
//                   is reported right after that unit committed), "error" (the final result
//                   of a failed load)
//   phase           why the unit was committed: "catchup" (size), "live", "reorg",
//                   "reconnect", "interval", "batch" (a batch load), "stop", "idle" (quiet stream)
//   block_range     blocks the unit's rows came from, e.g. "mainnet[0..=99]" (load)
//   batches         record batches appended in the unit
//   microbatches    microbatches (watermarks) completed in the unit
//   transaction_id  the stream engine's id of the unit's last event (load) or of the undo
//   cursor          the committed resume cursor, JSON (load)
//   reconnects      reconnections of the stream so far in this load
//   reorgs          reorgs committed so far in this load
//   stream_id       the checkpoint key (MakeStreamId of query and table)
//   start_cursor    the cursor the load resumed after, JSON ("{}": from the start)
//   mode            append | overwrite | upsert
//   cause           "reorg" (reorg results)
//   invalidation_count  number of invalidation_ranges (reorg results)
//   error_class     retry-call | retry-commit | reconnect | fatal (error results)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/parallel.h"
#include "amp/retry.h"
#include "amp/status.h"
#include "amp/types.h"

namespace amp {

/// \brief Options of one load (amp::Load, SessionQuery::load).
struct LoadOptions {
  /// Run the query as a stream (amp-stream header; the SQL is never modified). Unset: the
  /// SQL decides (a top-level `SETTINGS stream = true`).
  std::optional<bool> stream;
  LoadMode mode = LoadMode::kAppend;
  /// Upsert key columns (kUpsert).
  std::vector<std::string> key_columns;
  /// The UInt64 column holding each row's block number. Unset: `_block_num`, else
  /// `block_num`, when the schema has one of type UInt64. "" : rows carry no block number
  /// (they are tagged with their microbatch's range, and a reorg inside a multi-block
  /// microbatch reloads that whole microbatch).
  std::optional<std::string> block_column;
  /// The server's microbatch size (Amp's server_microbatch_max_interval, 1000 by
  /// default): before any microbatch has been seen, a shorter one counts as live.
  uint64_t server_microbatch_blocks = 1000;
  /// Catch-up flush thresholds (see the cadence above).
  int64_t batch_size = 100'000;
  int64_t flush_bytes = 64LL << 20;
  std::chrono::milliseconds flush_interval{2'000};
  /// Resume after the destination's committed checkpoint (ignored for kOverwrite, which
  /// starts over, and for batch loads).
  bool resume = true;
  /// Checkpoint key; empty: MakeStreamId(query, table).
  std::string stream_id;
  /// Microbatch ranges kept for reorg handling: those ending within this many blocks of
  /// the newest. Reorgs deeper than this on a table without a block column fail the load.
  uint64_t retention_blocks = 128;
  RetryOptions retry;
  /// Streaming: how long to wait for data when the server has nothing synced for the query
  /// (ampd then answers with an empty completion and ends the stream; the load polls with
  /// backoff, which is never counted as a failure). Unset: forever. When it runs out the
  /// load fails with class kRetryCall (code NO_DATA).
  std::optional<std::chrono::milliseconds> wait_for_data;
  /// Called from the load's threads with what a streaming load is waiting for (data on an
  /// unsynced table, a server behind the checkpoint), and with "" when the wait is over.
  /// Must not block. Parallel loads report it in ParallelProgress::waiting as well.
  std::function<void(const std::string& waiting)> on_wait;
  /// Results produced but not yet consumed before the load waits for the consumer.
  size_t result_queue_capacity = 64;
  /// Requesting a stop ends the load after the in-flight commit (see LoadResults::Stop).
  std::stop_token stop_token;
  /// Set: a parallel backfill (max_block set) or a parallel catch-up handed over to a live
  /// stream (max_block unset, "hybrid"); see amp/parallel.h. batch_size, mode, key_columns,
  /// retry and stop_token apply to it too; `stream` must not be false.
  std::optional<ParallelConfig> parallel;
};

/// \brief The outcome of one committed unit of work, one reorg, or the failure that ended
/// a load. Field names follow amp-python's LoadResult.
struct LoadResult {
  bool success = true;
  int64_t rows_loaded = 0;
  std::chrono::duration<double> duration{0};  ///< Seconds from the unit's first event to its commit.
  double ops_per_second = 0;                  ///< rows_loaded / duration.
  std::string table_name;
  std::string loader_type;
  std::string error;  ///< Empty on success.
  Status status;      ///< The error as a Status (with its ErrorInfo); OK on success.
  std::map<std::string, std::string> metadata;  ///< Keys: see the top of this file.
  bool is_reorg = false;
  /// Reorg results: the invalidated blocks (network, start, end; hashes are zero).
  std::vector<BlockRange> invalidation_ranges;

  /// "Loaded N rows to T in X.XXs", "Reorg detected: N ranges invalidated (...)" or
  /// "Failed to load to T: <error>".
  std::string ToString() const;
};

}  // namespace amp
