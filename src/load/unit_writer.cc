#include "load/unit_writer.h"

#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <spdlog/spdlog.h>

#include "load/batch_coalescer.h"

namespace amp::load {
namespace {

// Sleeps `delay`, or less when a stop is requested.
void SleepUnlessStopped(std::chrono::milliseconds delay, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, delay, [] { return false; });
}

// The unit of a failed Commit landed when the destination now holds its record: the ids
// of a record's units only grow, so an equal id and cursor can only be that unit's.
bool Landed(const StreamCheckpoint& attempted, const std::optional<StreamCheckpoint>& durable) {
  return durable && durable->transaction_id == attempted.transaction_id &&
         durable->cursor == attempted.cursor;
}

}  // namespace

UnitWriter::UnitWriter(Options options) : options_(std::move(options)) {}

UnitWriter::~UnitWriter() { Abort(); }

Status UnitWriter::EnsureSession() {
  if (session_ != nullptr) return Status::OK();
  AMP_ASSIGN_OR_RETURN(auto session, options_.loader->OpenSession());
  streaming::CoalesceOptions coalesce;
  coalesce.rows_carry_blocks = options_.rows_carry_blocks;
  session_ = streaming::CoalesceAppends(std::move(session), coalesce);
  return Status::OK();
}

Result<LoaderSession*> UnitWriter::session() {
  AMP_RETURN_NOT_OK(EnsureSession());
  return session_.get();
}

void UnitWriter::CloseSession() {
  Abort();
  session_.reset();
}

Status UnitWriter::Begin() {
  if (open_) return Status::Invalid("UnitWriter::Begin() while a unit is open");
  AMP_RETURN_NOT_OK(EnsureSession());
  AMP_RETURN_NOT_OK(session_->Begin());
  open_ = true;
  in_doubt_.reset();
  unit_ = UnitCounters{};
  unit_.started = std::chrono::steady_clock::now();
  if (first_unit_undo_ && !committed_any_) {
    AMP_RETURN_NOT_OK(session_->Undo(options_.table, *first_unit_undo_));
  }
  return Status::OK();
}

Status UnitWriter::Undo(const BlockInterval& blocks) {
  if (!open_) return Status::Invalid("UnitWriter::Undo() outside a unit");
  return session_->Undo(options_.table, blocks);
}

Status UnitWriter::Append(const arrow::RecordBatch& batch, const BlockRange& microbatch) {
  if (!open_) return Status::Invalid("UnitWriter::Append() outside a unit");
  AMP_RETURN_NOT_OK(session_->Append(options_.table, batch, microbatch));
  unit_.rows += batch.num_rows();
  unit_.bytes += arrow::util::TotalBufferSize(batch);
  ++unit_.batches;
  Cover(microbatch);
  return Status::OK();
}

void UnitWriter::Cover(const BlockRange& microbatch) {
  // A default-constructed range is what a caller without a range passes.
  if (microbatch == BlockRange{}) return;
  if (!unit_.blocks) {
    unit_.blocks = BlockRange{};
    unit_.blocks->network = microbatch.network;
    unit_.blocks->start = microbatch.start;
    unit_.blocks->end = microbatch.end;
    return;
  }
  unit_.blocks->start = std::min(unit_.blocks->start, microbatch.start);
  unit_.blocks->end = std::max(unit_.blocks->end, microbatch.end);
}

Result<UnitCounters> UnitWriter::Commit(const StreamCheckpoint& record) {
  if (!open_) return Status::Invalid("UnitWriter::Commit() outside a unit");
  in_doubt_ = record;
  AMP_RETURN_NOT_OK(session_->Commit(&record));
  in_doubt_.reset();
  open_ = false;
  committed_any_ = true;
  return unit_;
}

void UnitWriter::Abort() {
  if (open_ && session_) session_->Abort();
  open_ = false;
}

Result<Recovery> UnitWriter::Recover(const std::optional<std::string>& record_id) {
  std::optional<StreamCheckpoint> attempted = std::move(in_doubt_);
  in_doubt_.reset();
  Abort();
  session_.reset();
  AMP_RETURN_NOT_OK(EnsureSession());
  Recovery recovery;
  if (!record_id) return recovery;
  auto durable = session_->LoadCheckpoint(*record_id);
  if (!durable.ok()) {
    session_.reset();
    return durable.status();
  }
  recovery.durable = std::move(*durable);
  if (attempted && attempted->stream_id == *record_id && Landed(*attempted, recovery.durable)) {
    committed_any_ = true;
    recovery.landed = unit_;
  }
  return recovery;
}

void UnitWriter::UndoInFirstUnit(BlockInterval blocks) { first_unit_undo_ = blocks; }

Retrier::Retrier(const RetryOptions& options, std::stop_token stop, uint64_t seed)
    : backoff_(options, seed), stop_(std::move(stop)) {}

bool Retrier::Retry(
    const Status& error,
    const std::function<void(std::chrono::milliseconds delay, int attempt)>& before_sleep) {
  if (error.ok() || ClassOf(error) == ErrorClass::kFatal) return false;
  if (backoff_.Exhausted(++failures_) || stop_.stop_requested()) return false;
  const auto delay = backoff_.Delay(failures_);
  if (before_sleep) before_sleep(delay, failures_ + 1);
  SleepUnlessStopped(delay, stop_);
  return true;
}

Status RetryStep(const RetryOptions& options, std::stop_token stop, std::string_view scope,
                 const std::function<Status()>& step, const std::function<Status()>& stopped) {
  Retrier retrier(options, stop);
  while (true) {
    if (stop.stop_requested()) return stopped();
    Status st = step();
    if (st.ok() || ClassOf(st) == ErrorClass::kFatal) return st;
    const bool again = retrier.Retry(st, [&](std::chrono::milliseconds delay, int attempt) {
      spdlog::warn("[{}] {}; retrying in {:.1f} s (attempt {} of {})", scope, st.message(),
                   static_cast<double>(delay.count()) / 1000.0, attempt, options.max_attempts);
    });
    if (!again) return retrier.exhausted() ? st : stopped();
  }
}

}  // namespace amp::load
