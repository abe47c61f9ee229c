#include "parallel/partition_task.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "amp/checkpoint.h"
#include "parallel/parallel_error.h"

namespace amp::parallel {
namespace {

using Clock = std::chrono::steady_clock;

load::FlushLimits PartitionLimits(const ParallelConfig& config) {
  load::FlushLimits limits;
  limits.max_rows = config.batch_size;
  return limits;
}

}  // namespace

// --- BlockBoundaryCutter. ---

const uint64_t* BlockBoundaryCutter::Blocks(const arrow::RecordBatch& batch) const {
  return static_cast<const arrow::UInt64Array&>(*batch.GetColumnByName(block_column_)).raw_values();
}

void BlockBoundaryCutter::Add(std::shared_ptr<arrow::RecordBatch> batch) {
  rows_ += batch->num_rows();
  pending_.push_back(std::move(batch));
}

std::optional<BlockBoundaryCutter::Chunk> BlockBoundaryCutter::CutAfter(int64_t rows) {
  // The block of the rows-th row.
  int64_t skip = rows - 1;
  size_t i = 0;
  while (i < pending_.size() && skip >= pending_[i]->num_rows()) skip -= pending_[i++]->num_rows();
  if (i == pending_.size()) return std::nullopt;
  const BlockNumber block = Blocks(*pending_[i])[skip];
  // The first row of a later block.
  for (size_t k = i; k < pending_.size(); ++k) {
    const uint64_t* v = Blocks(*pending_[k]);
    const int64_t n = pending_[k]->num_rows();
    const int64_t from = k == i ? skip : 0;
    const int64_t m = std::upper_bound(v + from, v + n, block) - v;
    if (m == n) continue;
    Chunk chunk;
    chunk.through = v[m] - 1;
    Batches tail;
    for (size_t h = 0; h < k; ++h) chunk.batches.push_back(pending_[h]);
    if (m > 0) chunk.batches.push_back(pending_[k]->Slice(0, m));
    tail.push_back(m == 0 ? pending_[k] : pending_[k]->Slice(m));
    for (size_t t = k + 1; t < pending_.size(); ++t) tail.push_back(pending_[t]);
    pending_ = std::move(tail);
    rows_ = 0;
    for (const auto& b : pending_) rows_ += b->num_rows();
    return chunk;
  }
  return std::nullopt;
}

BlockBoundaryCutter::Batches BlockBoundaryCutter::TakeAll() {
  rows_ = 0;
  return std::exchange(pending_, {});
}

// --- PartitionTask. ---

PartitionTask::PartitionTask(const Context& context, load::UnitWriter& writer, int worker,
                             const PartitionPlan& partition)
    : context_(context),
      config_(*context.job->options.parallel),
      writer_(writer),
      worker_(worker),
      partition_(partition),
      flush_(PartitionLimits(config_), /*streaming=*/false) {
  outcome_.next = partition.start;
}

PartitionOutcome PartitionTask::Run() {
  const PartitionPlan& p = partition_;
  spdlog::info("Worker {} processing blocks {} to {}", worker_, p.start, p.end);
  const auto started = Clock::now();
  load::Retrier retrier(config_.retry.value_or(context_.job->options.retry),
                        context_.executor->stop_token(),
                        static_cast<uint64_t>(p.partition_id) * 7919 + 1);
  while (true) {
    ++outcome_.attempts;
    const BlockNumber before = outcome_.next;
    outcome_.status = Attempt(/*retry=*/outcome_.attempts > 1);
    if (outcome_.status.ok() || Stopping()) break;
    // As for streaming loads (RetryOptions), the count restarts after a commit: only
    // consecutive failures without progress exhaust the retries.
    if (outcome_.next > before) retrier.Progressed();
    const bool again = retrier.Retry(outcome_.status, [&](std::chrono::milliseconds, int) {
      spdlog::warn("Partition {} (blocks {} to {}): {}; retrying from block {} (attempt {})",
                   p.partition_id, p.start, p.end, outcome_.status.ToString(), outcome_.next,
                   outcome_.attempts + 1);
    });
    if (!again) break;
  }
  outcome_.duration = Clock::now() - started;
  return outcome_;
}

// A failed Commit may still have applied: continue from what the destination holds.
Status PartitionTask::CatchUpWithDestination() {
  const std::string id = PartitionProgress::StreamId(context_.job_id, partition_.start);
  AMP_ASSIGN_OR_RETURN(load::Recovery recovery, writer_.Recover(id));
  if (!recovery.durable) return Status::OK();
  AMP_ASSIGN_OR_RETURN(PartitionProgress durable, PartitionProgress::FromCheckpoint(*recovery.durable));
  if (durable.done_through + 1 <= outcome_.next) return Status::OK();
  context_.counters->blocks_done += durable.done_through + 1 - outcome_.next;
  if (recovery.landed) {
    outcome_.rows += recovery.landed->rows;
    context_.counters->rows += recovery.landed->rows;
    ++outcome_.commits;
  }
  outcome_.next = durable.done_through + 1;
  transaction_id_ = std::max(transaction_id_, durable.transaction_id);
  return Status::OK();
}

Status PartitionTask::CheckBlocks(const arrow::RecordBatch& batch,
                                  std::optional<BlockNumber>& last_block) const {
  const PartitionPlan& p = partition_;
  auto column = batch.GetColumnByName(config_.block_column);
  if (column == nullptr || column->type_id() != arrow::Type::UINT64 || column->null_count() > 0) {
    return ParallelError(Status::Invalid("partition ", p.partition_id, ": the block column '",
                                         config_.block_column,
                                         "' is missing, not uint64, or has nulls"),
                         ErrorClass::kFatal, "INVALID_DATA");
  }
  const auto& blocks = static_cast<const arrow::UInt64Array&>(*column);
  for (int64_t i = 0; i < blocks.length(); ++i) {
    const BlockNumber b = blocks.Value(i);
    if (b < outcome_.next || b >= p.end || (last_block && b < *last_block)) {
      return ParallelError(
          Status::Invalid("partition ", p.partition_id, " [", outcome_.next, ", ", p.end,
                          "): the server returned block ", b,
                          last_block && b < *last_block ? " after a higher block (rows not "
                                                          "ordered by the block column)"
                                                        : " outside the partition"),
          ErrorClass::kFatal, "INVALID_DATA");
    }
    last_block = b;
  }
  return Status::OK();
}

// One try at the rest of the partition (from outcome_.next), committing as it goes.
Status PartitionTask::Attempt(bool retry) {
  const PartitionPlan& p = partition_;
  if (retry) {
    AMP_RETURN_NOT_OK(CatchUpWithDestination());
  } else {
    AMP_RETURN_NOT_OK(writer_.session().status());
  }
  if (outcome_.next >= p.end) return Status::OK();
  QueryOptions options;
  options.stream = false;
  options.stop = context_.executor->stop_token();  // reaches a DoGet that has sent nothing yet
  AMP_ASSIGN_OR_RETURN(
      std::shared_ptr<BatchStream> stream,
      context_.job->client->Execute(
          PartitionQuery(*context_.split, config_.block_column, outcome_.next, p.end), options));
  context_.executor->SetCancelHook(worker_, [stream] { stream->Cancel(); });
  struct Unhook {
    Executor* executor;
    int worker;
    ~Unhook() { executor->SetCancelHook(worker, nullptr); }
  } unhook{context_.executor, worker_};
  if (Stopping()) return Stopped();

  BlockBoundaryCutter cutter(config_.block_column);
  std::optional<BlockNumber> last_block;
  std::optional<BlockNumber> synced_end;  // the server's synced range (batch metadata)
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto next, stream->Next());
    if (!next) break;
    if (!next->metadata.ranges.empty()) {
      network_ = next->metadata.ranges.front().network;
      synced_end = next->metadata.ranges.front().end;
    }
    auto batch = next->batch;
    if (batch == nullptr || batch->num_rows() == 0) continue;
    AMP_RETURN_NOT_OK(CheckBlocks(*batch, last_block));
    cutter.Add(batch);
    ++outcome_.batches;
    if (Stopping()) return Stopped();
    while (flush_.ReachedSize(cutter.rows())) {
      auto chunk = cutter.CutAfter(config_.batch_size);
      if (!chunk) break;  // the last block seen may continue in the next batch
      AMP_RETURN_NOT_OK(CommitThrough(chunk->batches, chunk->through));
    }
  }
  if (Stopping()) return Stopped();
  if (synced_end && *synced_end < p.end - 1) {
    // Never record blocks the server has not synced as loaded.
    return ParallelError(Status::Invalid("partition ", p.partition_id, " [", p.start, ", ", p.end,
                                         ") ends beyond the server's synced range (head ",
                                         *synced_end, ")"),
                         ErrorClass::kFatal, "BEYOND_HEAD");
  }
  return CommitThrough(cutter.TakeAll(), p.end - 1);
}

// One unit: the rows of blocks [outcome_.next, through] and the partition's progress.
Status PartitionTask::CommitThrough(const BlockBoundaryCutter::Batches& batches,
                                    BlockNumber through) {
  BlockRange range;
  range.network = network_;
  range.start = outcome_.next;
  range.end = through;
  PartitionProgress progress{.job = context_.job_id,
                             .start = partition_.start,
                             .done_through = through,
                             .network = network_,
                             .transaction_id = transaction_id_ + 1};
  AMP_ASSIGN_OR_RETURN(StreamCheckpoint record, progress.ToCheckpoint());
  Result<load::UnitCounters> unit = [&]() -> Result<load::UnitCounters> {
    AMP_RETURN_NOT_OK(writer_.Begin());
    if (!writer_.loader().capabilities().atomic_commit) {
      // Without atomic commits a crash may leave rows without their checkpoint: delete
      // them first so the replay does not duplicate them.
      AMP_RETURN_NOT_OK(writer_.Undo({outcome_.next, through}));
    }
    for (const auto& b : batches) AMP_RETURN_NOT_OK(writer_.Append(*b, range));
    return writer_.Commit(record);
  }();
  if (!unit.ok()) {
    // The writer remembers a Commit of unknown outcome; the retry settles it (Recover).
    writer_.Abort();
    return unit.status();
  }
  context_.counters->blocks_done += through + 1 - outcome_.next;
  context_.counters->rows += unit->rows;
  outcome_.rows += unit->rows;
  ++outcome_.commits;
  transaction_id_ = progress.transaction_id;
  outcome_.next = through + 1;
  return Status::OK();
}

}  // namespace amp::parallel
