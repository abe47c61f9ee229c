// Implementation of amp/stream.h: the transactional event engine over amp::Client.
//
// State kept per connection (all reset to the committed checkpoint on reconnect):
//   recent_   completed microbatch ranges within the retention window, oldest first;
//   current_  the ranges of the microbatch whose rows are being emitted (not complete);
//   cursor_   the resume cursor after the last emitted watermark.
// The BatchStream's ProtocolValidator (seeded with the resume cursor) detects reorgs and
// hash-chain breaks; this file decides what to undo and whether to reconnect.
// Commit() may be called from another thread than Next() (the load driver reads ahead on
// a thread of its own); the state it shares with Next() is guarded by commit_mu_.
#include "amp/stream.h"

#include <arrow/record_batch.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

#include "streaming/backoff.h"

namespace amp {

const char* ToString(UndoCause cause) {
  switch (cause) {
    case UndoCause::kReorg: return "reorg";
    case UndoCause::kRewind: return "rewind";
  }
  return "unknown";
}

TransactionId EventId(const StreamEvent& event) {
  return std::visit([](const auto& e) { return e.id; }, event);
}

namespace {

constexpr size_t kMaxRecordedCursors = 256;

Status StreamError(Status status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "stream", code);
}

std::string Secs(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// Reports a connection that stays silent: armed when a connection opens, disarmed by its
// first message. ampd sends nothing while it waits for blocks, so without this a stream
// resumed on a replica behind the cursor would wait with no word. Its thread starts at the
// first Arm().
class QuietNotice {
 public:
  explicit QuietNotice(std::function<void(const std::string&)> on_wait)
      : on_wait_(std::move(on_wait)) {}
  ~QuietNotice() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // `message` is logged, `status` (short) goes to on_wait.
  void Arm(std::chrono::milliseconds after, std::string message, std::string status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    deadline_ = std::chrono::steady_clock::now() + after;
    message_ = std::move(message);
    status_ = std::move(status);
    armed_ = true;
    cv_.notify_all();
  }

  // Something arrived (or the connection ended): the wait, if reported, is over.
  void Disarm() {
    bool fired = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      armed_ = false;
      fired = fired_;
      fired_ = false;
    }
    if (fired && on_wait_) on_wait_("");
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() < deadline_) {
        cv_.wait_until(lock, deadline_);
        continue;
      }
      armed_ = false;
      fired_ = true;
      const std::string message = message_;
      const std::string status = status_;
      lock.unlock();
      spdlog::info("{}", message);
      if (on_wait_) on_wait_(status);
      lock.lock();
    }
  }

  const std::function<void(const std::string&)> on_wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::chrono::steady_clock::time_point deadline_;
  std::string message_;
  std::string status_;
  bool armed_ = false;
  bool fired_ = false;
  bool stopping_ = false;
};

}  // namespace

class TransactionalStream::Impl {
 public:
  Impl(const Client& client, std::string query, StreamOptions options)
      : client_(client),
        query_(std::move(query)),
        options_(std::move(options)),
        backoff_(options_.retry),
        data_backoff_(RetryOptions{.max_attempts = 0,
                                   .initial_backoff = options_.retry.initial_backoff,
                                   .max_backoff = options_.retry.max_backoff,
                                   .multiplier = options_.retry.multiplier,
                                   .jitter = options_.retry.jitter}),
        committed_(options_.checkpoint),
        notice_(options_.on_wait) {
    if (committed_) {
      committed_->stream_id = options_.stream_id;
      next_id_ = committed_->transaction_id + 1;
    }
    ResetToCommitted();
    // A destination that is not atomic may hold rows written after its checkpoint by a
    // process that crashed: rewind them before anything else.
    if (options_.rewind_on_start && committed_ && !committed_->cursor.empty()) {
      EmitRewind();
    }
  }

  ~Impl() { DropStream(); }

  Result<std::optional<StreamEvent>> Next() {
    while (true) {
      if (cancelled_.load()) return Cancelled();
      if (!pending_.empty()) {
        StreamEvent event = std::move(pending_.front());
        pending_.pop_front();
        const auto* undo = std::get_if<UndoEvent>(&event);
        {
          std::lock_guard<std::mutex> lock(commit_mu_);
          last_returned_ = EventId(event);
          if (undo == nullptr || undo->cause != UndoCause::kRewind) dirty_ = true;
        }
        if (pending_.empty() && reconnect_after_pending_) {
          // A reorg cut into a microbatch: resume before it once the consumer has
          // committed the undo (at its next Next()).
          reconnect_after_pending_ = false;
          DropStream();
          need_connect_ = true;
          immediate_reconnect_ = true;
        }
        return std::optional<StreamEvent>(std::move(event));
      }
      AMP_RETURN_NOT_OK(fatal_);
      if (done_) return std::optional<StreamEvent>();
      if (need_connect_) {
        AMP_RETURN_NOT_OK(Connect());
        continue;
      }
      auto item = stream_->Next();
      if (quiet_armed_) {
        quiet_armed_ = false;
        notice_.Disarm();
      }
      if (!item.ok()) {
        AMP_RETURN_NOT_OK(Fail(item.status()));
        continue;
      }
      if (!item->has_value()) {
        if (!options_.streaming && batch_complete_) {
          done_ = true;
          DropStream();
          continue;
        }
        if (options_.streaming && unsynced_answer_) {
          // ampd's answer on a table with nothing synced yet: not a failure, wait for data.
          AMP_RETURN_NOT_OK(WaitForData());
          continue;
        }
        // Amp streams never end by themselves (only a stream over unsynced tables does,
        // right after its empty completion); a batch query must complete first.
        AMP_RETURN_NOT_OK(Fail(StreamError(
            Status::IOError("[stream] the server ended the ",
                            options_.streaming ? "stream" : "batch query before its completion"),
            ErrorClass::kReconnect, "STREAM_ENDED")));
        continue;
      }
      if (waiting_for_data_ && !(*item)->metadata.ranges.empty()) {
        waiting_for_data_ = false;
        data_waits_ = 0;
        spdlog::info("[stream] data arrived after waiting for it");
        if (options_.on_wait) options_.on_wait("");
      }
      Status processed = Process(std::move(**item));
      if (!processed.ok()) {
        // Only kFatal problems (a reorg that cannot be undone) get here: stop for good.
        fatal_ = processed;
        DropStream();
        return processed;
      }
    }
  }

  void Commit(const StreamCheckpoint& checkpoint) {
    std::lock_guard<std::mutex> lock(commit_mu_);
    committed_ = checkpoint;
    committed_->stream_id = options_.stream_id;
    dirty_ = last_returned_ && *last_returned_ > checkpoint.transaction_id;
    failures_ = 0;
  }

  void Restart(const Status& reason) {
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      ++failures_;
      ++stats_.failures;
      last_error_ = reason.ok() ? Status::IOError("[stream] restart requested") : reason;
      if (backoff_.Exhausted(failures_)) {
        fatal_ = GiveUp();
      } else {
        PlanRetry(last_error_);
      }
    }
    DropStream();
    pending_.clear();
    reconnect_after_pending_ = false;
    need_connect_ = true;
    immediate_reconnect_ = false;
  }

  void RestartFrom(std::optional<StreamCheckpoint> durable, const Status& reason) {
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      committed_ = std::move(durable);
      if (committed_) {
        committed_->stream_id = options_.stream_id;
        next_id_ = std::max(next_id_, committed_->transaction_id + 1);
      }
    }
    Restart(reason);
  }

  void Cancel() {
    cancelled_.store(true);
    stop_.request_stop();  // reaches a GetFlightInfo or a DoGet that has sent nothing yet
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_) stream_->Cancel();
    cv_.notify_all();
  }

  bool cancelled() const { return cancelled_.load(); }
  const std::optional<StreamCheckpoint>& committed() const { return committed_; }
  const StreamStats& stats() const { return stats_; }

 private:
  static Status Cancelled() {
    return StreamError(Status::Cancelled("[stream] cancelled"), ErrorClass::kFatal, "CANCELLED");
  }

  Status GiveUp() const {
    return Status(last_error_.code(),
                  "[stream] giving up after " + std::to_string(failures_) +
                      " consecutive failed attempts; last error: " + last_error_.message(),
                  last_error_.detail());
  }

  // A failed connect or stream: retry (reconnect) or stop, by the error's class only.
  Status Fail(const Status& status) {
    if (cancelled_.load()) return Cancelled();
    DropStream();
    if (ClassOf(status) == ErrorClass::kFatal) {
      fatal_ = status;
      return status;
    }
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      ++failures_;
      ++stats_.failures;
      last_error_ = status;
      if (backoff_.Exhausted(failures_)) {
        fatal_ = GiveUp();
        return fatal_;
      }
      PlanRetry(status);
    }
    need_connect_ = true;
    return Status::OK();
  }

  // The delay before the next attempt after failures_ failures, logged with the reason.
  // Called with commit_mu_ held.
  void PlanRetry(const Status& reason) {
    next_delay_ = backoff_.Delay(failures_);
    const int max = options_.retry.max_attempts;
    spdlog::warn("[stream] {}; reconnecting in {} (attempt {}{})", reason.message(),
                 Secs(next_delay_), failures_ + 1,
                 max > 0 ? " of " + std::to_string(max) : std::string());
  }

  // The stream ended after ampd's "nothing synced" answer: poll again with backoff, for
  // as long as wait_for_data allows.
  Status WaitForData() {
    DropStream();
    const auto now = std::chrono::steady_clock::now();
    if (!waiting_for_data_) {
      waiting_for_data_ = true;
      data_wait_started_ = now;
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - data_wait_started_);
    auto delay = data_backoff_.Delay(++data_waits_);
    if (options_.wait_for_data) {
      if (waited >= *options_.wait_for_data) {
        fatal_ = StreamError(
            Status::IOError("[stream] the server still has no synced data for this query after ",
                            Secs(waited), " (the wait for data is limited by "
                            "StreamOptions::wait_for_data, ampsync --wait-for-data)"),
            ErrorClass::kRetryCall, "NO_DATA");
        return fatal_;
      }
      delay = std::min(delay, *options_.wait_for_data - waited);
    }
    ++stats_.data_polls;
    spdlog::info("[stream] waiting for data: the server has nothing synced for this query yet; "
                 "polling again in {} (waited {})",
                 Secs(delay), Secs(waited));
    if (options_.on_wait) options_.on_wait("waiting for data (nothing synced yet)");
    poll_delay_ = delay;
    need_connect_ = true;
    return Status::OK();
  }

  Status Connect() {
    int failures = 0;
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      failures = failures_;
    }
    std::chrono::milliseconds delay{0};
    const bool poll = poll_delay_.has_value();
    if (poll) {
      delay = *poll_delay_;
    } else if (failures > 0 && !immediate_reconnect_) {
      std::lock_guard<std::mutex> lock(commit_mu_);
      delay = next_delay_;
    }
    poll_delay_.reset();
    if (delay.count() > 0 &&
        !streaming::InterruptibleSleep(mu_, cv_, delay, [this] { return cancelled_.load(); })) {
      return Cancelled();
    }
    immediate_reconnect_ = false;
    // Whatever was emitted after the last commit is void; the consumer learns it from the
    // rewind, which it receives before anything of the new connection.
    QueryOptions query_options;
    query_options.stream = options_.streaming;
    query_options.stop = stop_.get_token();
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      ResetToCommitted();
      if (dirty_) EmitRewind();
      if (options_.streaming && committed_ && !committed_->cursor.empty()) {
        query_options.resume = committed_->cursor;
        // The validator starts from the checkpoint's state, networks included.
        std::set<std::string> networks;
        for (const auto& [network, c] : committed_->cursor.networks) networks.insert(network);
        query_options.networks = std::move(networks);
      }
    }
    // Bounded for streams that run for days: the first attempt and the latest ones.
    if (stats_.requested_cursors.size() >= kMaxRecordedCursors) {
      stats_.requested_cursors.erase(stats_.requested_cursors.begin() + 1);
    }
    stats_.requested_cursors.push_back(query_options.resume.value_or(Cursor{}));
    // Arrow's DoGet returns only once the server sent the schema, which ampd sends with
    // its first microbatch: the notice covers that wait too.
    if (options_.streaming) {
      std::string message;
      std::string status;
      if (query_options.resume) {
        const auto& [network, c] = *query_options.resume->networks.begin();
        message = "[stream] waiting for the server to reach block " + std::to_string(c.number + 1) +
                  " of " + network + ": nothing arrived for " + Secs(options_.quiet_notice) +
                  " since resuming after block " + std::to_string(c.number) +
                  " (a server behind the checkpoint, or a chain without new blocks, sends "
                  "nothing until then)";
        status = "waiting for the server to reach block " + std::to_string(c.number + 1);
      } else {
        message = "[stream] waiting for the server's first microbatch: nothing arrived for " +
                  Secs(options_.quiet_notice);
        status = "waiting for the server's first microbatch";
      }
      notice_.Arm(options_.quiet_notice, std::move(message), std::move(status));
      quiet_armed_ = true;
    }
    auto stream = client_.sql(query_).stream(query_options);
    if (!stream.ok()) {
      if (quiet_armed_) {
        quiet_armed_ = false;
        notice_.Disarm();
      }
      return Fail(stream.status());
    }
    if (!poll && (stats_.connections > 0 || failures > 0)) {
      spdlog::info("[stream] reconnected{}",
                   query_options.resume ? " (resuming after " + query_options.resume->ToJson() + ")"
                                        : std::string());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stream_ = std::move(*stream);
      if (cancelled_.load()) stream_->Cancel();
    }
    if (stats_.connections > 0) ++stats_.reconnects;
    ++stats_.connections;
    need_connect_ = false;
    batch_complete_ = false;
    unsynced_answer_ = false;
    return Status::OK();
  }

  void DropStream() {
    std::unique_ptr<BatchStream> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old = std::move(stream_);
    }
    if (old) old->Cancel();
  }

  void ResetToCommitted() {
    pending_.clear();
    reconnect_after_pending_ = false;
    current_.reset();
    recent_ = committed_ ? committed_->recent_ranges : std::vector<BlockRange>{};
    cursor_ = committed_ ? committed_->cursor : Cursor{};
  }

  // --- Events. ---

  template <typename Event>
  TransactionId Emit(Event event) {
    const TransactionId id = next_id_++;
    event.id = id;
    pending_.emplace_back(std::in_place_type<Event>, std::move(event));
    return id;
  }

  void EmitData(std::shared_ptr<arrow::RecordBatch> batch, std::vector<BlockRange> ranges) {
    DataEvent data;
    data.batch = std::move(batch);
    data.ranges = std::move(ranges);
    Emit(std::move(data));
  }

  void EmitUndo(UndoCause cause, std::string network, BlockInterval blocks) {
    UndoEvent undo;
    undo.cause = cause;
    undo.network = std::move(network);
    undo.blocks = blocks;
    Emit(std::move(undo));
    if (cause == UndoCause::kReorg) ++stats_.reorgs;
  }

  void EmitWatermark(std::vector<BlockRange> ranges) {
    WatermarkEvent watermark;
    watermark.ranges = std::move(ranges);
    watermark.cursor = cursor_;
    watermark.checkpoint.stream_id = options_.stream_id;
    watermark.checkpoint.cursor = cursor_;
    watermark.checkpoint.recent_ranges = recent_;
    const TransactionId id = next_id_;
    watermark.checkpoint.transaction_id = id;
    Emit(std::move(watermark));
  }

  // Everything after the committed cursor is void.
  void EmitRewind() {
    if (cursor_.empty()) {
      EmitUndo(UndoCause::kRewind, network_, BlockInterval{0, kMaxBlock});
      return;
    }
    for (const auto& [network, c] : cursor_.networks) {
      EmitUndo(UndoCause::kRewind, network, BlockInterval{c.number + 1, kMaxBlock});
    }
  }

  // --- Batches. ---

  Status Process(StreamBatch item) {
    const auto& meta = item.metadata;
    const int64_t rows = item.batch ? item.batch->num_rows() : 0;
    if (!meta.ranges.empty()) network_ = meta.ranges.front().network;
    if (!options_.streaming) {
      if (rows > 0) EmitData(std::move(item.batch), meta.ranges);
      if (meta.ranges_complete && !batch_complete_) {
        batch_complete_ = true;
        for (const auto& r : meta.ranges) cursor_.networks[r.network] = NetworkCursor{r.end, r.hash};
        EmitWatermark(meta.ranges);
      }
      return Status::OK();
    }
    if (item.invalidates) {
      AMP_ASSIGN_OR_RETURN(bool reconnect, HandleReorg(*item.invalidates, meta.ranges));
      // The batch is not lost: the server sends it again after the reconnect.
      if (reconnect) return Status::OK();
    }
    if (rows > 0) {
      current_ = meta.ranges;
      EmitData(std::move(item.batch), meta.ranges);
    }
    // A completion without ranges is ampd's "no synced data" answer: nothing to mark; the
    // stream ends next, and the engine waits for data.
    if (meta.ranges_complete && meta.ranges.empty() && rows == 0) unsynced_answer_ = true;
    if (meta.ranges_complete && !meta.ranges.empty()) Complete(meta.ranges);
    return Status::OK();
  }

  void Complete(const std::vector<BlockRange>& ranges) {
    for (const auto& r : ranges) {
      recent_.push_back(r);
      cursor_.networks[r.network] = NetworkCursor{r.end, r.hash};
    }
    current_.reset();
    Prune();
    EmitWatermark(ranges);
  }

  void Prune() {
    std::map<std::string, BlockNumber> newest;
    for (const auto& r : recent_) newest[r.network] = std::max(newest[r.network], r.end);
    std::vector<BlockRange> kept;
    for (const auto& r : recent_) {
      const BlockNumber n = newest[r.network];
      if (r.end == n || r.end + options_.retention_blocks >= n) kept.push_back(r);
    }
    recent_ = std::move(kept);
  }

  // The microbatch (retained or current) of `network` with start < block <= end.
  std::optional<BlockRange> Containing(const std::string& network, BlockNumber block) const {
    auto inside = [&](const BlockRange& r) {
      return r.network == network && r.start < block && block <= r.end;
    };
    for (const auto& r : recent_) {
      if (inside(r)) return r;
    }
    if (current_) {
      for (const auto& r : *current_) {
        if (inside(r)) return r;
      }
    }
    return std::nullopt;
  }

  bool StartsMicrobatch(const std::string& network, BlockNumber block) const {
    auto starts = [&](const BlockRange& r) { return r.network == network && r.start == block; };
    if (std::any_of(recent_.begin(), recent_.end(), starts)) return true;
    return current_ && std::any_of(current_->begin(), current_->end(), starts);
  }

  // Returns true when the stream must reconnect before the invalidating batch's blocks.
  Result<bool> HandleReorg(const BlockRange& invalidates, const std::vector<BlockRange>& ranges) {
    const std::string& network = invalidates.network;
    const BlockNumber start = invalidates.start;
    const auto incoming = std::find_if(ranges.begin(), ranges.end(),
                                       [&](const BlockRange& r) { return r.network == network; });
    const BlockHash parent = incoming != ranges.end() ? incoming->prev_hash : BlockHash{};
    const auto cut = Containing(network, start);

    if (!options_.block_column.empty() || !cut) {
      if (options_.block_column.empty() && start > 0 && !StartsMicrobatch(network, start)) {
        // The rows of the microbatch holding `start` are tagged with a span we no longer
        // know; deleting by the invalidated blocks would drop its canonical rows too.
        const auto oldest = std::find_if(recent_.begin(), recent_.end(),
                                         [&](const BlockRange& r) { return r.network == network; });
        return StreamError(
            Status::Invalid("[stream] a reorg from block ", start, " on ", network,
                            " reaches beyond the retained microbatches (",
                            oldest == recent_.end() ? std::string("none retained")
                                                    : "oldest " + oldest->ToString(),
                            "); rows without a block column cannot be undone exactly: keep more "
                            "microbatches (LoadOptions::retention_blocks, ampsync load "
                            "--retention-blocks) or load a block number column (--block-column)"),
            ErrorClass::kFatal, "REORG_TOO_DEEP");
      }
      EmitUndo(UndoCause::kReorg, network, BlockInterval{start, invalidates.end});
      TrimFrom(network, start, parent);
      return false;
    }

    // Rows without block numbers and a reorg strictly inside [a, b]: undo the whole
    // microbatch and resume after a-1 so that its canonical blocks are sent again.
    const BlockNumber a = cut->start;
    EmitUndo(UndoCause::kReorg, network, BlockInterval{a, std::max(invalidates.end, cut->end)});
    std::vector<BlockRange> kept;
    for (const auto& r : recent_) {
      if (r.network != network || r.end < a) kept.push_back(r);
    }
    recent_ = std::move(kept);
    current_.reset();
    if (a == 0) {
      cursor_.networks.erase(network);
    } else {
      cursor_.networks[network] = NetworkCursor{a - 1, cut->prev_hash};
    }
    EmitWatermark({});
    reconnect_after_pending_ = true;
    return true;
  }

  // Blocks >= `start` of `network` are gone: drop the retained ranges from there and
  // shorten the one that straddles it (its new end `start - 1` has hash `parent`, the
  // incoming range's prev_hash).
  void TrimFrom(const std::string& network, BlockNumber start, const BlockHash& parent) {
    std::vector<BlockRange> kept;
    for (auto r : recent_) {
      if (r.network == network && r.end >= start) {
        if (r.start >= start) continue;
        r.end = start - 1;
        r.hash = parent;
        r.timestamp.reset();
      }
      kept.push_back(std::move(r));
    }
    recent_ = std::move(kept);
    current_.reset();
  }

  // Constant after construction.
  const Client& client_;
  const std::string query_;
  const StreamOptions options_;
  streaming::Backoff backoff_;
  streaming::Backoff data_backoff_;  ///< Polls for data (never exhausted).

  // Commit() may run on another thread than Next() (a consumer that prefetches events on
  // a reader thread): it and the Next() thread access these four under commit_mu_.
  std::mutex commit_mu_;
  std::optional<StreamCheckpoint> committed_;
  std::optional<TransactionId> last_returned_;
  bool dirty_ = false;  ///< Data/reorg/watermark events returned since the last commit.
  int failures_ = 0;
  std::chrono::milliseconds next_delay_{0};  ///< Before the next attempt after a failure.

  // Owned by the thread calling Next().
  std::optional<std::chrono::milliseconds> poll_delay_;  ///< Before the next poll for data.
  bool unsynced_answer_ = false;   ///< This connection got ampd's "nothing synced" answer.
  bool waiting_for_data_ = false;
  int data_waits_ = 0;
  std::chrono::steady_clock::time_point data_wait_started_;
  bool quiet_armed_ = false;
  StreamStats stats_;
  TransactionId next_id_ = 0;
  std::deque<StreamEvent> pending_;
  bool reconnect_after_pending_ = false;
  bool need_connect_ = true;
  bool immediate_reconnect_ = false;
  bool batch_complete_ = false;
  bool done_ = false;
  Status last_error_;
  Status fatal_;
  std::vector<BlockRange> recent_;
  std::optional<std::vector<BlockRange>> current_;
  Cursor cursor_;
  std::string network_;

  // Shared with Cancel().
  std::atomic<bool> cancelled_{false};
  std::stop_source stop_;  ///< Given to every call: Cancel() reaches a call in progress.
  QuietNotice notice_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<BatchStream> stream_;  ///< Replaced under mu_; read without it by Next().
};

TransactionalStream::TransactionalStream(const Client& client, std::string query,
                                         StreamOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(query), std::move(options))) {}

TransactionalStream::~TransactionalStream() = default;

Result<std::optional<StreamEvent>> TransactionalStream::Next() { return impl_->Next(); }

void TransactionalStream::Commit(const StreamCheckpoint& checkpoint) { impl_->Commit(checkpoint); }
void TransactionalStream::Restart(const Status& reason) { impl_->Restart(reason); }
void TransactionalStream::RestartFrom(std::optional<StreamCheckpoint> durable,
                                      const Status& reason) {
  impl_->RestartFrom(std::move(durable), reason);
}
void TransactionalStream::Cancel() { impl_->Cancel(); }
bool TransactionalStream::cancelled() const { return impl_->cancelled(); }
const std::optional<StreamCheckpoint>& TransactionalStream::committed() const {
  return impl_->committed();
}
const StreamStats& TransactionalStream::stats() const { return impl_->stats(); }

}  // namespace amp
