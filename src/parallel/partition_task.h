// One partition of a parallel load: a batch query of blocks [start, end) ordered by the
// block column -> a cutter that closes a unit only at a block boundary -> the load engine's
// UnitWriter, which commits each unit with the partition's progress record
// (amp/checkpoint.h: PartitionProgress) in the same transaction.
//
//   batch BatchStream --> BlockBoundaryCutter --(every batch_size rows)--> UnitWriter
//
// A retryable error restarts the partition after its last commit, with backoff; a Commit
// whose outcome is unknown is settled by reading the record back (UnitWriter::Recover), so
// a unit that did land is neither replayed nor lost from the counts.
// Memory: a partition holds at most batch_size rows plus the batch being read.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amp/parallel.h"
#include "amp/status.h"
#include "load/flush_policy.h"
#include "load/load_driver.h"
#include "load/unit_writer.h"
#include "parallel/executor.h"
#include "parallel/query_rewrite.h"

namespace arrow {
class RecordBatch;
}

namespace amp::parallel {

/// Rows ordered by block, cut only where one block ends and the next begins, so that a
/// block's rows never straddle two commits.
class BlockBoundaryCutter {
 public:
  using Batches = std::vector<std::shared_ptr<arrow::RecordBatch>>;
  /// Rows of complete blocks, through block `through`.
  struct Chunk {
    Batches batches;
    BlockNumber through = 0;
  };

  /// `block_column`: a non-null UInt64 column of every batch added.
  explicit BlockBoundaryCutter(std::string block_column) : block_column_(std::move(block_column)) {}

  void Add(std::shared_ptr<arrow::RecordBatch> batch);
  int64_t rows() const { return rows_; }
  /// The rows up to the end of the block that holds the `rows`-th row, removed from the
  /// cutter, when a row of a later block follows (so that block is complete); else
  /// nullopt, and nothing changes.
  std::optional<Chunk> CutAfter(int64_t rows);
  /// Everything held (the partition ended: its last block is complete too).
  Batches TakeAll();

 private:
  const uint64_t* Blocks(const arrow::RecordBatch& batch) const;

  std::string block_column_;
  Batches pending_;
  int64_t rows_ = 0;
};

/// Counters of a whole run, shared by its partitions and read by the progress display.
struct RunCounters {
  std::atomic<uint64_t> blocks_done{0};
  std::atomic<int64_t> rows{0};
};

/// What a partition did, for its LoadResult.
struct PartitionOutcome {
  Status status;                 ///< OK, or why the partition stopped or failed.
  BlockNumber next = 0;          ///< First block not committed.
  int64_t rows = 0;
  int batches = 0;
  int commits = 0;
  int attempts = 0;
  std::chrono::duration<double> duration{};
};

/// Runs one partition (PartitionTask::Run) on a worker's UnitWriter.
class PartitionTask {
 public:
  struct Context {
    const streaming::LoadJob* job = nullptr;
    const SplitQuery* split = nullptr;
    std::string job_id;
    Executor* executor = nullptr;  ///< Stop token and the cancel hook of the worker's query.
    RunCounters* counters = nullptr;
  };

  PartitionTask(const Context& context, load::UnitWriter& writer, int worker,
                const PartitionPlan& partition);

  /// Attempts until the partition is loaded, fails for good, or the run stops.
  PartitionOutcome Run();

 private:
  Status Attempt(bool retry);
  Status CatchUpWithDestination();
  Status CheckBlocks(const arrow::RecordBatch& batch, std::optional<BlockNumber>& last_block) const;
  Status CommitThrough(const BlockBoundaryCutter::Batches& batches, BlockNumber through);
  bool Stopping() const { return context_.executor->cancelled(); }

  const Context& context_;
  const ParallelConfig& config_;
  load::UnitWriter& writer_;
  const int worker_;
  const PartitionPlan& partition_;
  load::FlushPolicy flush_;
  PartitionOutcome outcome_;
  std::string network_;
  uint64_t transaction_id_ = 0;
};

}  // namespace amp::parallel
