// File: amp/parallel.h
//
// Parallel backfill and hybrid mode: the seed's ParallelConfig (amp-python's
// parallel-streaming guide), for amp::Load / SessionQuery::load() (amp/load.h) and
// `ampsync load --workers N`.
//
//   amp::ParallelConfig parallel{.num_workers = 4, .table_name = "eth_firehose.blocks",
//                                .min_block = 0, .max_block = 1'000'000};
//   AMP_ASSIGN_OR_RETURN(auto results,
//       session.sql("SELECT * FROM eth_firehose.blocks")
//           .load("my_postgres", "blocks", {.stream = true, .parallel = parallel}));
//   for (const amp::LoadResult& r : results) { ... }  // one per partition, then live units
//
// How it runs (src/parallel/parallel_load.h has the details):
//   - the destination table is created from the query's GetFlightInfo schema before any
//     worker starts, so an empty source table works too;
//   - [min_block, max_block) is cut into partitions (partition_size blocks, by default
//     ceil((max - min) / num_workers)); workers take partitions from a shared queue, so a
//     fast worker takes more;
//   - a worker runs the user's query wrapped, never spliced:
//       SELECT * FROM (<query without SETTINGS stream>) AS _amp_partition
//       WHERE "<block_column>" >= start AND "<block_column>" < end ORDER BY "<block_column>"
//     and commits every batch_size rows at a block boundary, each commit carrying the
//     partition's progress checkpoint ("<job>/range/<start>") in the same transaction, so a
//     crash loses nothing and a rerun skips every block already loaded;
//   - hybrid mode (max_block unset) first finds the head H (number and hash, from the
//     synced range a batch query on table_name reports), loads [min_block, H] in parallel,
//     then starts the live stream with `amp-resume` at X = H - reorg_buffer, the hash of X
//     read from blocks_table. The live stream's first commit deletes the rows of blocks
//     > X that the workers wrote, in the same transaction as their reloaded rows, so the
//     overlap leaves no duplicates; a reorg that happened during the catch-up either lies
//     above X (reloaded) or makes X's hash non-canonical (the server rewinds to the fork
//     point, and the stream undoes it). The hand-off point is saved before the workers
//     start ("<job>/plan"), so a rerun hands over at the same X whatever it catches up.
//
// LoadResult::metadata of a partition result (besides table_name, duration, rows, ...):
//   partition_id    0-based id in the plan of this run
//   block_range     "[start, end)" of the partition
//   batches         record batches appended
//   commits         units committed (one per batch_size rows, at block boundaries)
//   rows_per_second rows_loaded / duration
//   worker          0-based worker that ran it
//   parallel_phase  "backfill" (max_block set) or "catchup" (hybrid)
//   attempts        1 + retries after retryable failures
// Live results of hybrid mode are the streaming results of amp/load_options.h, with
// parallel_phase = "live" and handoff_block = X (the block the live stream resumed after). A failed partition yields success = false with the error; the
// others continue unless stop_on_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "amp/retry.h"
#include "amp/status.h"
#include "amp/types.h"

namespace amp {

/// \brief A snapshot of a running parallel load, for progress displays.
struct ParallelProgress {
  std::string phase;             ///< "planning", "backfill", "catchup", "live", "done"
  uint64_t blocks_total = 0;     ///< Blocks this run must load (excluding ones already loaded).
  uint64_t blocks_done = 0;      ///< Of those, blocks committed.
  int64_t rows = 0;              ///< Rows committed in this run.
  double rows_per_second = 0;    ///< Over the last few seconds.
  std::optional<std::chrono::seconds> eta;  ///< Unknown until some blocks are done.
  int workers_busy = 0;
  int partitions_done = 0;
  int partitions_total = 0;
  int partitions_failed = 0;
  std::optional<BlockNumber> live_block;  ///< Live phase: the last committed block.
  /// Live phase: what the stream waits for (data on an unsynced table, a server behind the
  /// checkpoint); empty when it is not waiting.
  std::string waiting;
};

/// \brief Parallel execution of a load (the seed's ParallelConfig). Field names follow it.
struct ParallelConfig {
  /// Workers (threads), each with its own Amp stream and destination session. 1..256.
  int num_workers = 4;
  /// The Amp source table the query reads, e.g. "eth_firehose.blocks". Hybrid mode finds
  /// the head with a batch query on it. Required.
  ///
  /// table_name and blocks_table are raw SQL text, spliced after FROM as written (so a
  /// dataset qualifier or a quoted name such as "\"_/x@1.0.0\".logs" works): the user
  /// writes the SQL of the load anyway. They are refused when they hold ';' or a comment,
  /// or do not lex (sql::TableRef); nothing more is checked before the server sees them.
  std::string table_name;
  /// The UInt64 block-number column of the query's result that partitions are cut on.
  std::string block_column = "block_num";
  /// First block to load; unset = 0.
  std::optional<BlockNumber> min_block;
  /// End of the range, exclusive: historical mode loads [min_block, max_block) and ends.
  /// Unset = hybrid: catch up to the head in parallel, then follow it live.
  std::optional<BlockNumber> max_block;
  /// Blocks per partition; unset = ceil((max - min) / num_workers).
  std::optional<uint64_t> partition_size;
  /// Rows per commit inside a partition (a commit ends at a block boundary, so a block's
  /// rows are never split across commits).
  int64_t batch_size = 10'000;
  /// Hybrid: the live stream starts this many blocks before the detected head.
  uint64_t reorg_buffer = 200;
  /// A failed partition stops the whole load (the other workers finish their commit in
  /// flight). Otherwise the others continue and the load reports every failure.
  bool stop_on_error = false;
  /// Retries of a partition after a retryable error (it restarts from its last commit).
  /// Unset: LoadOptions::retry.
  std::optional<RetryOptions> retry;
  /// Hybrid: a table of the same network with `block_num` and `hash` columns, read once
  /// for the hash of the hand-off block. Empty: "<dataset of table_name>.blocks".
  std::string blocks_table;
  /// Called from a background thread about twice a second while the load runs, and once
  /// at the end of each phase. Must not block.
  std::function<void(const ParallelProgress&)> on_progress;

  /// OK, or Invalid naming the offending field and value.
  Status Validate() const;
  /// Validate(), with the offending field's name ("num_workers", "retry.jitter", ...) in
  /// `*field` when it fails, for callers that map fields to their own names.
  Status Validate(std::string* field) const;
};

/// One partition of a plan: blocks [start, end).
struct PartitionPlan {
  int partition_id = 0;
  BlockNumber start = 0;
  BlockNumber end = 0;  ///< Exclusive.
  std::string query;    ///< The rewritten query the worker runs.
};

/// \brief What a parallel load will do; amp::PlanParallel / SessionQuery::plan_parallel()
/// (`--dry-run`).
struct ParallelPlan {
  std::string job_id;        ///< Checkpoint key prefix (MakeStreamId of query and table).
  bool hybrid = false;
  BlockNumber min_block = 0;
  BlockNumber max_block = 0;  ///< Exclusive; hybrid: detected head + 1.
  std::string network;        ///< Hybrid: the network of the head.
  /// Hybrid: the detected head, and the block the live stream resumes after.
  std::optional<NetworkCursor> head;
  std::optional<NetworkCursor> handoff;
  /// Hybrid: the query the live stream runs (stream set by the amp-stream header).
  std::string live_query;
  /// Block intervals [start, end) that an earlier run already committed (skipped).
  std::vector<std::pair<BlockNumber, BlockNumber>> already_loaded;
  /// True when an earlier run already handed over: the live stream resumes from its own
  /// checkpoint after the gaps are filled.
  bool live_checkpoint_exists = false;
  std::vector<PartitionPlan> partitions;
  int num_workers = 0;

  /// Human-readable plan with every rewritten query (what `--dry-run` prints).
  std::string ToString() const;
};

}  // namespace amp
