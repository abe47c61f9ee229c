#include "devnet/server/query_stream.h"

#include <algorithm>
#include <thread>

#include <arrow/array.h>

#include <arrow/buffer.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>

#include "devnet/server/metadata_json.h"

namespace amp::devnet::server {
namespace {

using arrow::flight::FlightPayload;
using Clock = std::chrono::steady_clock;

// Source rows generated per step: bounds memory and lets a LIMIT stop generation early.
constexpr uint64_t kRowsPerChunk = 8192;
// How long one WaitForChange call may block before the stream looks at cancellation.
constexpr auto kIdlePoll = std::chrono::milliseconds(10);
// DevnetChunking::kAmpd: the start-of-microbatch keep-alive on one microbatch in this many.
constexpr uint64_t kAmpdKeepAliveEvery = 8;

Status ExecutionError(const Status& st, const char* what) {
  return InternalError(std::string(what) + ": " + st.ToString());
}

}  // namespace

QueryStream::QueryStream(QueryStreamParams params) : p_(std::move(params)) {
  p_.state->active_streams.fetch_add(1);
  schema_ = p_.plan->output_schema();
  bounds_ = p_.plan->block_bounds();
  const uint64_t per_block =
      std::max<uint64_t>(1, MaxRowsPerBlock(p_.table, p_.state->chain->options()));
  chunk_blocks_ = std::max<uint64_t>(1, kRowsPerChunk / per_block);

  if (!p_.streaming) {
    snapshot_ = p_.state->ShownSnapshot();
    if (p_.state->Unsynced(p_.table, *snapshot_)) {
      // ampd's common ranges of a table with nothing synced: []; no rows to read, so the
      // executor alone answers (COUNT 0, MAX NULL, no rows).
      batch_metadata_ = EncodeAppMetadata({}, false);
      batch_completion_ = EncodeAppMetadata({}, true);
      any_rows_to_generate_ = false;
    } else {
      // Amp's batch ranges are the synced range of the tables when the query runs, not
      // narrowed by WHERE/LIMIT.
      const BlockNumber head = snapshot_->head();
      const BlockRange r = snapshot_->Range(0, head);
      batch_metadata_ = EncodeAppMetadata({r}, false);
      batch_completion_ = EncodeAppMetadata({r}, true);
      next_block_ = bounds_.min;
      last_block_ = std::min<BlockNumber>(bounds_.max, head);
      any_rows_to_generate_ = !bounds_.empty() && next_block_ <= last_block_;
      // A query whose answer follows from row counts alone (hybrid mode's head query,
      // MAX(block_num)) gets an executor that is done() at once: no row is generated.
      auto rowless = p_.plan->MakeRowlessExecutor(
          head, [table = p_.table, snapshot = snapshot_](uint64_t first, uint64_t last) {
            return RowsInBlocks(table, snapshot->options(), first, last);
          });
      if (rowless.ok() && *rowless != nullptr) p_.executor = std::move(*rowless);
    }
  } else {
    prev_ = p_.resume;
  }
}

QueryStream::~QueryStream() { p_.state->active_streams.fetch_sub(1); }

std::shared_ptr<arrow::Schema> QueryStream::schema() { return schema_; }

arrow::Result<FlightPayload> QueryStream::GetSchemaPayload() {
  // Amp sends the streaming schema lazily, at the first MicrobatchStart: a client that
  // blocks on the schema waits until there is something to stream.
  while (p_.streaming && !first_microbatch_started_) AMP_RETURN_NOT_OK(Fill());
  FlightPayload payload;
  arrow::ipc::DictionaryFieldMapper mapper(*schema_);
  AMP_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(
      *schema_, arrow::ipc::IpcWriteOptions::Defaults(), mapper, &payload.ipc_message));
  return Emit(std::move(payload));
}

arrow::Result<FlightPayload> QueryStream::Next() {
  AMP_RETURN_NOT_OK(CheckCallAlive(*p_.state, *p_.context));
  while (pending_.empty()) {
    if (finished_) return FlightPayload{};  // null metadata: end of stream
    AMP_RETURN_NOT_OK(Fill());
  }
  const auto keep_alive = p_.state->config.keep_alive;
  std::shared_ptr<arrow::RecordBatch> batch;
  std::string app_metadata;
  if (p_.streaming && microbatch_open_ && keep_alive.count() > 0 && !last_was_keep_alive_ &&
      Clock::now() >= next_keep_alive_) {
    // A long-running microbatch: tell the client the stream is alive, as Amp's
    // keep_alive_stream does, with the current range and ranges_complete false. At most
    // one between two real messages, so keep-alives never starve the data.
    next_keep_alive_ = Clock::now() + keep_alive;
    last_was_keep_alive_ = true;
    AMP_ASSIGN_OR_RETURN(batch, arrow::RecordBatch::MakeEmpty(schema_));
    app_metadata = microbatch_metadata_;
  } else {
    Pending next = std::move(pending_.front());
    pending_.pop_front();
    if (next.completes_microbatch) microbatch_open_ = false;
    last_was_keep_alive_ = false;
    batch = std::move(next.batch);
    app_metadata = std::move(next.app_metadata);
  }
  FlightPayload payload;
  AMP_RETURN_NOT_OK(arrow::ipc::GetRecordBatchPayload(
      *batch, arrow::ipc::IpcWriteOptions::Defaults(), &payload.ipc_message));
  payload.app_metadata = arrow::Buffer::FromString(std::move(app_metadata));
  return Emit(std::move(payload));
}

arrow::Result<FlightPayload> QueryStream::Emit(FlightPayload payload) {
  const DevnetFaults faults = p_.state->faults.Get();
  if (faults.drop_stream_after_messages > 0 &&
      messages_sent_ >= faults.drop_stream_after_messages) {
    return UnavailableError("injected fault: stream dropped after " +
                            std::to_string(messages_sent_) + " messages");
  }
  if (faults.message_delay.count() > 0) {
    AMP_RETURN_NOT_OK(SleepWhileAlive(*p_.state, *p_.context, faults.message_delay));
  }
  if (faults.bandwidth_bytes_per_second > 0) {
    // Token bucket with no burst: a body of B bytes leaves B / rate after the previous one.
    const auto bytes = static_cast<double>(std::max<int64_t>(0, payload.ipc_message.body_length));
    const auto cost = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        bytes / static_cast<double>(faults.bandwidth_bytes_per_second)));
    const auto release = std::max(Clock::now(), bandwidth_free_at_) + cost;
    AMP_RETURN_NOT_OK(SleepWhileAlive(*p_.state, *p_.context, release - Clock::now()));
    bandwidth_free_at_ = release;
  }
  ++messages_sent_;
  return payload;
}

Status QueryStream::Fill() { return p_.streaming ? FillStreaming() : FillBatch(); }

Status QueryStream::FillBatch() {
  if (any_rows_to_generate_ && !generation_done_ && next_block_ <= last_block_ &&
      !p_.executor->done()) {
    const BlockNumber hi = std::min(last_block_, next_block_ + (chunk_blocks_ - 1));
    AMP_RETURN_NOT_OK(GenerateAndPush(next_block_, hi, batch_metadata_));
    if (hi == last_block_) {
      generation_done_ = true;
    } else {
      next_block_ = hi + 1;
    }
    return Status::OK();
  }
  generation_done_ = true;
  auto final_rows = p_.executor->Finish();
  if (!final_rows.ok()) return ExecutionError(final_rows.status(), "query execution failed");
  PushSliced(*final_rows, batch_metadata_);
  // NonEmptyRecordBatchStream: a batch query always yields at least one data batch.
  if (data_batches_ == 0) AMP_RETURN_NOT_OK(PushEmpty(batch_metadata_, false));
  AMP_RETURN_NOT_OK(PushEmpty(batch_completion_, true));
  finished_ = true;
  return Status::OK();
}

Status QueryStream::FillStreaming() {
  if (!in_microbatch_) return StartMicrobatch();
  if (gen_any_) {
    const BlockNumber hi = std::min(gen_last_, gen_next_ + (chunk_blocks_ - 1));
    AMP_RETURN_NOT_OK(GenerateAndPush(gen_next_, hi, microbatch_metadata_));
    if (hi == gen_last_) {
      gen_any_ = false;
    } else {
      gen_next_ = hi + 1;
    }
    return Status::OK();
  }
  AMP_RETURN_NOT_OK(PushEmpty(microbatch_completion_, true));
  prev_ = NetworkCursor{range_.end, range_.hash};
  in_microbatch_ = false;
  return Status::OK();
}

Status QueryStream::StartMicrobatch() {
  const auto& chain = *p_.state->chain;
  while (true) {
    AMP_RETURN_NOT_OK(CheckCallAlive(*p_.state, *p_.context));
    auto snapshot = p_.state->ShownSnapshot();
    if (!first_microbatch_started_ && p_.state->Unsynced(p_.table, *snapshot)) {
      // ampd with nothing synced for the query (catalog.earliest_block() is None) does
      // not wait: the schema, one 0-row batch with ranges [] and ranges_complete, and a
      // normal end of stream.
      first_microbatch_started_ = true;
      AMP_RETURN_NOT_OK(PushEmpty(EncodeAppMetadata({}, true), false));
      finished_ = true;
      return Status::OK();
    }
    if (snapshot->empty()) {  // a stream that started on synced data cannot get here
      AMP_RETURN_NOT_OK(WaitForNewSnapshot(snapshot.get()));
      continue;
    }
    const BlockNumber head = snapshot->head();
    // The earliest block is 0; after a cursor, continue after it when it is still
    // canonical, otherwise rewind to the fork point (Amp's next_microbatch_start and
    // reorg_base). The rewound range starts at or before the previous end and its
    // prev_hash does not chain to the previous hash: that is how clients see a reorg.
    BlockNumber start = 0;
    if (prev_.has_value()) {
      if (prev_->number > head) {
        // A cursor above the head (a lagging replica): ampd accepts it and sends nothing
        // until its head passes the cursor.
        AMP_RETURN_NOT_OK(WaitForNewSnapshot(snapshot.get()));
        continue;
      }
      if (snapshot->hash(prev_->number) == prev_->hash) {
        start = prev_->number + 1;
      } else {
        auto fork = chain.AncestorIn(*snapshot, prev_->number, prev_->hash);
        if (fork.ok()) {
          start = *fork + 1;
        } else if (fork.status().IsKeyError()) {
          // A hash never produced at that height (another chain's, or a replica's we
          // never had): ampd restarts at that block, which the client sees as a reorg.
          start = prev_->number;
        } else {
          return InternalError("cannot resume after block " + std::to_string(prev_->number) +
                               " with hash " + prev_->hash.ToHex() + ": " +
                               fork.status().message());
        }
      }
    }
    if (start > head) {
      // Caught up: Amp sends nothing while idle.
      AMP_RETURN_NOT_OK(WaitForNewSnapshot(snapshot.get()));
      continue;
    }
    const BlockNumber end =
        std::min(head, start + (std::max<uint64_t>(1, p_.state->config.microbatch_blocks) - 1));
    range_ = snapshot->Range(start, end);
    microbatch_metadata_ = EncodeAppMetadata({range_}, false);
    microbatch_completion_ = EncodeAppMetadata({range_}, true);
    snapshot_ = std::move(snapshot);
    // WHERE on block_num does not move the microbatch walk, it only filters rows: skip
    // generating blocks that cannot match.
    gen_next_ = std::max<BlockNumber>(start, bounds_.min);
    gen_last_ = std::min<BlockNumber>(end, bounds_.max);
    gen_any_ = !bounds_.empty() && gen_next_ <= gen_last_;
    in_microbatch_ = true;
    microbatch_open_ = true;
    first_microbatch_started_ = true;
    next_keep_alive_ = Clock::now() + p_.state->config.keep_alive;
    // ampd's start-of-microbatch keep-alive (its interval's first tick) usually loses the
    // race against the data; kAmpd sends it on the first microbatch and every 8th after.
    const bool ampd = p_.state->config.chunking == DevnetChunking::kAmpd;
    if (p_.state->config.keep_alive_at_microbatch_start &&
        (!ampd || microbatches_started_ % kAmpdKeepAliveEvery == 0)) {
      AMP_RETURN_NOT_OK(PushEmpty(microbatch_metadata_, false));
    }
    ++microbatches_started_;
    return Status::OK();
  }
}

Status QueryStream::WaitForNewSnapshot(const ChainSnapshot* seen) {
  const auto& chain = *p_.state->chain;
  while (true) {
    AMP_RETURN_NOT_OK(CheckCallAlive(*p_.state, *p_.context));
    auto shown = p_.state->ShownSnapshot();
    if (shown.get() != seen) return Status::OK();
    if (chain.generation() != shown->generation()) {
      // The chain is ahead of what is shown (a reorg held back by reorg_delay): nothing
      // to wait on but the clock.
      std::this_thread::sleep_for(kIdlePoll);
    } else {
      chain.WaitForChange(shown->generation(), Clock::now() + kIdlePoll);
    }
  }
}

Status QueryStream::GenerateAndPush(BlockNumber lo, BlockNumber hi,
                                    const std::string& app_metadata) {
  auto rows = GenerateRows(p_.table, *snapshot_, lo, hi);
  if (!rows.ok()) return ExecutionError(rows.status(), "generating source rows failed");
  if (p_.state->config.chunking != DevnetChunking::kAmpd) {
    auto out = p_.executor->Consume(*rows);
    if (!out.ok()) return ExecutionError(out.status(), "query execution failed");
    PushSliced(*out, app_metadata);
    return Status::OK();
  }
  // One message per source block (ampd: one per storage file). Source rows are in block
  // order with _block_num first, so each block is one run of equal values.
  const auto& source = *rows;
  const auto& block_nums = static_cast<const arrow::UInt64Array&>(*source->column(0));
  int64_t begin = 0;
  while (begin < source->num_rows()) {
    int64_t end = begin + 1;
    while (end < source->num_rows() && block_nums.Value(end) == block_nums.Value(begin)) ++end;
    auto out = p_.executor->Consume(source->Slice(begin, end - begin));
    if (!out.ok()) return ExecutionError(out.status(), "query execution failed");
    PushSliced(*out, app_metadata);
    begin = end;
  }
  return Status::OK();
}

void QueryStream::PushSliced(const std::shared_ptr<arrow::RecordBatch>& batch,
                             const std::string& app_metadata) {
  if (batch == nullptr || batch->num_rows() == 0) return;
  // Like Amp's split_batch_for_grpc_response: slices of about 2 MiB, by an estimate
  // (a single huge row can still exceed it). Every slice carries the same ranges.
  const int64_t rows = batch->num_rows();
  // The bytes this batch refers to, not its buffers' full size: a per-block batch
  // (DevnetChunking::kAmpd) is a slice of a larger generated chunk.
  const int64_t bytes =
      arrow::util::ReferencedBufferSize(*batch).ValueOr(arrow::util::TotalBufferSize(*batch));
  const int64_t slices = std::clamp<int64_t>(
      (bytes + kTargetFlightDataBytes - 1) / kTargetFlightDataBytes, 1, rows);
  const int64_t rows_per_slice = (rows + slices - 1) / slices;
  for (int64_t offset = 0; offset < rows; offset += rows_per_slice) {
    pending_.push_back(Pending{batch->Slice(offset, std::min(rows_per_slice, rows - offset)),
                               app_metadata, false});
    ++data_batches_;
  }
}

Status QueryStream::PushEmpty(const std::string& app_metadata, bool completes_microbatch) {
  AMP_ASSIGN_OR_RETURN(auto empty, arrow::RecordBatch::MakeEmpty(schema_));
  pending_.push_back(Pending{std::move(empty), app_metadata, completes_microbatch});
  return Status::OK();
}

}  // namespace amp::devnet::server
