#include "load/load_driver.h"

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "amp/stream.h"
#include "load/flush_policy.h"
#include "load/job_validation.h"
#include "load/unit_writer.h"
#include "sql/query_text.h"

namespace amp::streaming {
namespace {

using Clock = std::chrono::steady_clock;

Status LoadError(Status status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "load", code);
}

Status StopStatus() {
  return LoadError(Status::Cancelled("[load] stopped"), ErrorClass::kFatal, "CANCELLED");
}

// Events a reader thread has prefetched from the engine; a few are enough to overlap
// reading with writing, and the capacity bounds the memory held.
constexpr size_t kPrefetchCapacity = 4;

// Runs engine.Next() on a thread of its own and hands its results over a bounded queue,
// in order (errors and the end included). The engine's Next()/Restart() then run on that
// thread only; Commit() and Cancel() may be called from the consumer's thread.
class Prefetcher {
 public:
  struct Item {
    Result<std::optional<StreamEvent>> next;
    int reconnects = 0;  ///< The engine's stats().reconnects right after this Next().
  };

  // A watermark without ranges is a reorg's rewind point after which the engine
  // reconnects from its committed checkpoint at once: the reader waits until the
  // consumer has applied (committed) it, as a consumer calling Next() itself would.
  static bool IsBarrier(const Result<std::optional<StreamEvent>>& next) {
    if (!next.ok() || !next->has_value()) return false;
    const auto* watermark = std::get_if<WatermarkEvent>(&**next);
    return watermark != nullptr && watermark->ranges.empty();
  }

  explicit Prefetcher(TransactionalStream& engine) : engine_(engine) {
    thread_ = std::thread([this] { Read(); });
  }

  // Cancels the engine (ending a blocked Next()) and joins the reader.
  ~Prefetcher() {
    engine_.Cancel();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  /// The next item, or nullopt when none arrived within `timeout` (nullopt: no limit).
  std::optional<Item> Pop(std::optional<Clock::duration> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [this] { return !queue_.empty(); };
    if (timeout) {
      if (!cv_.wait_for(lock, *timeout, ready)) return std::nullopt;
    } else {
      cv_.wait(lock, ready);
    }
    Item item = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return item;
  }

  /// The consumer has applied the last popped item (releases a reader held at a barrier).
  void Applied() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!awaiting_ack_ || !queue_.empty()) return;
      awaiting_ack_ = false;
    }
    cv_.notify_all();
  }

  /// Discards what was prefetched and has the reader run `action` (an engine restart)
  /// before its next Next(); a result of a Next() in flight meanwhile is discarded too.
  void Restart(std::function<void()> action) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.clear();
      awaiting_ack_ = false;
      restart_ = std::move(action);
      ++generation_;
    }
    cv_.notify_all();
  }

 private:
  void Read() {
    bool ended = false;  // The last result pushed was an error or the end: wait for a restart.
    while (true) {
      std::function<void()> action;
      uint64_t generation = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return stopping_ || restart_ ||
                 (!ended && !awaiting_ack_ && queue_.size() < kPrefetchCapacity);
        });
        if (stopping_) return;
        action = std::move(restart_);
        restart_ = nullptr;
        generation = generation_;
      }
      if (action) {
        action();
        ended = false;
      }
      Item item{engine_.Next(), 0};
      item.reconnects = engine_.stats().reconnects;
      const bool end = !item.next.ok() || !item.next->has_value();
      const bool barrier = IsBarrier(item.next);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (generation != generation_) continue;  // Read before a restart: void.
        queue_.push_back(std::move(item));
        ended = end;
        awaiting_ack_ = barrier;
      }
      cv_.notify_all();
    }
  }

  TransactionalStream& engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::function<void()> restart_;
  uint64_t generation_ = 0;
  bool awaiting_ack_ = false;  ///< A barrier was pushed and not yet applied.
  bool stopping_ = false;
  std::thread thread_;
};

class Driver {
 public:
  Driver(LoadJob job, std::stop_token stop, ResultSink& sink)
      : job_(std::move(job)), options_(job_.options), stop_(std::move(stop)), sink_(sink) {}

  Status Run() {
    Status st = Setup();
    if (st.ok()) st = Loop();
    if (!st.ok()) {
      AbortUnit();
      // Not after refusing progress that outlived its table: dropping would forget that
      // progress too, and the next run would load into the table as if nothing was wrong.
      const ErrorInfo* info = ErrorInfo::FromStatus(st);
      const bool stale = info != nullptr && info->code() == kStaleProgressCode;
      if (created_table_ && !CommittedAny() && !stale) {
        if (writer_) writer_->CloseSession();  // return its connection before dropping
        (void)job_.loader->DropTable(job_.table);
      }
      if (!(st.IsCancelled() && (stop_.stop_requested() || consumer_gone_))) {
        PushError(st);
        return st;
      }
    }
    return Status::OK();
  }

 private:
  // What the driver adds to the writer's unit: the stream's side of it.
  struct Unit {
    int microbatches = 0;
    std::vector<UndoEvent> reorgs;
    std::optional<StreamCheckpoint> checkpoint;  ///< The last watermark's.
    bool ends_at_watermark = false;
  };

  // --- Setup. ---

  Status Setup() {
    const Loader& loader = *job_.loader;
    const auto& caps = loader.capabilities();
    streaming_ = options_.stream.value_or(sql::RequestsStreaming(job_.query));
    stream_id_ = options_.stream_id.empty() ? MakeStreamId(job_.query, job_.table) : options_.stream_id;
    policy_ = load::FlushPolicy(load::FlushLimits::From(options_), streaming_);
    AMP_RETURN_NOT_OK(load::ValidateJob(loader, options_, "load"));

    // The table must exist before data flows, so its schema comes from GetFlightInfo.
    std::shared_ptr<arrow::Schema> schema;
    AMP_RETURN_NOT_OK(Retry([&] {
      QueryOptions query_options;
      query_options.stream = streaming_;
      query_options.stop = stop_;  // a stop ends a GetFlightInfo the server does not answer
      auto info = job_.client->GetInfo(job_.query, query_options);
      if (info.ok()) schema = info->schema;
      return info.status();
    }));
    AMP_ASSIGN_OR_RETURN(block_column_, ResolveBlockColumn(*schema, options_.block_column));
    // Every session of the load coalesces tiny batches (load/batch_coalescer.h):
    // ampd's one-row messages reach the loader as large batches, within the same units.
    writer_.emplace(load::UnitWriter::Options{
        .loader = job_.loader, .table = job_.table, .rows_carry_blocks = !block_column_.empty()});
    if (!job_.continues) AMP_RETURN_NOT_OK(PrepareDestination(schema));
    LoaderSession* session = nullptr;
    AMP_RETURN_NOT_OK(Retry([&] {
      auto opened = writer_->session();
      if (opened.ok()) session = *opened;
      return opened.status();
    }));

    std::optional<StreamCheckpoint> checkpoint;
    if (streaming_ && options_.resume && options_.mode != LoadMode::kOverwrite) {
      AMP_RETURN_NOT_OK(Retry([&] {
        auto loaded = session->LoadCheckpoint(stream_id_);
        if (loaded.ok()) checkpoint = std::move(*loaded);
        return loaded.status();
      }));
    }
    if (!checkpoint && job_.continues && job_.continues->after) {
      checkpoint = job_.continues->after;
      starts_after_handoff_ = true;
      if (job_.continues->overlap) writer_->UndoInFirstUnit(*job_.continues->overlap);
    }
    start_cursor_ = checkpoint ? checkpoint->cursor.ToJson() : "{}";
    last_committed_ = checkpoint;

    StreamOptions stream_options;
    stream_options.stream_id = stream_id_;
    stream_options.checkpoint = checkpoint;
    stream_options.block_column = block_column_;
    stream_options.streaming = streaming_;
    stream_options.rewind_on_start = !caps.atomic_commit;
    stream_options.retention_blocks = options_.retention_blocks;
    stream_options.retry = options_.retry;
    stream_options.wait_for_data = options_.wait_for_data;
    stream_options.on_wait = options_.on_wait;
    engine_ = std::make_unique<TransactionalStream>(*job_.client, job_.query, stream_options);
    return Status::OK();
  }

  // Creates the table (truncated for kOverwrite) unless the caller prepared it.
  Status PrepareDestination(const std::shared_ptr<arrow::Schema>& schema) {
    TableSpec spec;
    spec.name = job_.table;
    spec.schema = schema;
    spec.mode = options_.mode;
    spec.key_columns = options_.key_columns;
    spec.block_column = block_column_;
    // Remember whether this load creates the table: if it then fails before its first
    // commit (Amp rejects non-incremental streaming queries only at DoGet), Run() drops it
    // again so that a rejected load leaves the destination as it was.
    auto existed = job_.loader->TableExists(job_.table);
    created_table_ = existed.ok() && !*existed;
    AMP_RETURN_NOT_OK(Retry([&] { return job_.loader->EnsureTable(spec); }));
    if (options_.mode == LoadMode::kOverwrite) {
      AMP_RETURN_NOT_OK(Retry([&] { return job_.loader->Truncate(job_.table); }));
    }
    return Status::OK();
  }

  // Retries a setup step with backoff while its errors are not kFatal.
  Status Retry(const std::function<Status()>& step) {
    return load::RetryStep(options_.retry, stop_, "load", step, StopStatus);
  }

  bool CommittedAny() const { return writer_ && writer_->committed_any(); }
  bool UnitOpen() const { return writer_ && writer_->open(); }

  // --- The event loop. ---

  Status Loop() {
    std::stop_callback on_stop(stop_, [this] { engine_->Cancel(); });
    prefetcher_ = std::make_unique<Prefetcher>(*engine_);
    while (true) {
      // Once cancelled, what is still queued is not applied (as if Next() had failed).
      if (engine_->cancelled() && (stop_.stop_requested() || consumer_gone_)) {
        return FinishOnStop();
      }
      std::optional<Clock::duration> timeout;
      if (UnitOpen() && unit_.ends_at_watermark && unit_.checkpoint) timeout = policy_.IdleWait();
      auto item = prefetcher_->Pop(timeout);
      if (!item) {
        // The unit is complete and nothing follows yet (a halted chain, or a catch-up
        // that ended on a full microbatch): make it visible now.
        Status st = CommitUnit(load::FlushReason::kIdle);
        if (st.ok()) continue;
        if (ClassOf(st) == ErrorClass::kFatal) return st;
        Recover(st);
        continue;
      }
      reconnects_ = item->reconnects;
      auto& next = item->next;
      if (!next.ok()) {
        if (engine_->cancelled() && (stop_.stop_requested() || consumer_gone_)) {
          return FinishOnStop();
        }
        return next.status();
      }
      if (!next->has_value()) return Status::OK();  // A batch load completed.
      Status st = Apply(**next);
      if (!st.ok()) {
        if (ClassOf(st) == ErrorClass::kFatal) return st;
        Recover(st);
      }
      prefetcher_->Applied();
    }
  }

  Status Apply(const StreamEvent& event) {
    if (const auto* data = std::get_if<DataEvent>(&event)) return ApplyData(*data);
    if (const auto* undo = std::get_if<UndoEvent>(&event)) return ApplyUndo(*undo);
    return ApplyWatermark(std::get<WatermarkEvent>(event));
  }

  Status ApplyData(const DataEvent& data) {
    AMP_RETURN_NOT_OK(EnsureUnit());
    const BlockRange range = data.ranges.empty() ? BlockRange{} : data.ranges.front();
    AMP_RETURN_NOT_OK(writer_->Append(*data.batch, range));
    unit_.ends_at_watermark = false;
    return Status::OK();
  }

  Status ApplyUndo(const UndoEvent& undo) {
    const auto& caps = job_.loader->capabilities();
    if (undo.cause == UndoCause::kRewind) {
      if (StaleRewind(undo)) {
        // The engine reconnected while a commit of ours was in flight (it reads ahead), so
        // from an older checkpoint: what it would replay is durable already. Resume from
        // what the destination holds instead; it rewinds from there.
        AbortUnit();
        RestartEngine(std::optional<std::optional<StreamCheckpoint>>(last_committed_),
                      Status::OK());
        return Status::OK();
      }
      // What was sent after the last commit is void: an atomic store holds none of it once
      // the unit is aborted; a non-atomic one may, and deletes it in the next unit.
      AbortUnit();
      if (caps.atomic_commit || !streaming_) return Status::OK();
      if (!caps.supports_undo) {
        return LoadError(Status::NotImplemented("loader '", job_.loader->name(),
                                                "' can neither commit atomically nor undo: a "
                                                "reconnect could duplicate rows"),
                         ErrorClass::kFatal, "NO_UNDO");
      }
      AMP_RETURN_NOT_OK(EnsureUnit());
      AMP_RETURN_NOT_OK(writer_->Undo(undo.blocks));
      unit_.ends_at_watermark = false;
      return Status::OK();
    }
    if (!caps.supports_undo) {
      return LoadError(Status::NotImplemented("loader '", job_.loader->name(),
                                              "' cannot undo the blocks of a reorg"),
                       ErrorClass::kFatal, "NO_UNDO");
    }
    AMP_RETURN_NOT_OK(EnsureUnit());
    AMP_RETURN_NOT_OK(writer_->Undo(undo.blocks));
    unit_.reorgs.push_back(undo);
    unit_.ends_at_watermark = false;
    return Status::OK();
  }

  Status ApplyWatermark(const WatermarkEvent& watermark) {
    AMP_RETURN_NOT_OK(EnsureUnit());
    unit_.checkpoint = watermark.checkpoint;
    unit_.ends_at_watermark = true;
    if (!watermark.ranges.empty()) {
      ++unit_.microbatches;
      writer_->Cover(watermark.ranges.front());
    }
    const load::FlushReason reason = policy_.AtWatermark(Facts(watermark));
    if (reason == load::FlushReason::kNone) return Status::OK();
    return CommitUnit(reason);
  }

  // What the flush policy weighs at this watermark (see amp/load.h).
  load::WatermarkFacts Facts(const WatermarkEvent& watermark) const {
    load::WatermarkFacts facts;
    facts.microbatch_blocks = watermark.ranges.empty() ? 0 : watermark.ranges.front().num_blocks();
    facts.stop_requested = stop_.stop_requested();
    facts.unit_has_undo = !unit_.reorgs.empty();
    facts.reconnected = reconnects_ != reconnects_at_commit_;
    facts.unit_rows = writer_->unit().rows;
    facts.unit_bytes = writer_->unit().bytes;
    facts.unit_age = Clock::now() - writer_->unit().started;
    return facts;
  }

  // A rewind that does not start right after the checkpoint the destination holds.
  bool StaleRewind(const UndoEvent& undo) const {
    if (!streaming_ || undo.network.empty()) return false;
    BlockNumber expected = 0;
    if (last_committed_) {
      auto it = last_committed_->cursor.networks.find(undo.network);
      if (it != last_committed_->cursor.networks.end()) expected = it->second.number + 1;
    }
    return undo.blocks.start != expected;
  }

  Status EnsureUnit() {
    if (writer_->open()) return Status::OK();
    unit_ = Unit{};
    return writer_->Begin();
  }

  Status CommitUnit(load::FlushReason reason) {
    committing_reason_ = reason;
    AMP_ASSIGN_OR_RETURN(load::UnitCounters counters, writer_->Commit(*unit_.checkpoint));
    Committed(reason, counters);
    return Status::OK();
  }

  // The unit is durable: advance the engine and report it.
  void Committed(load::FlushReason reason, const load::UnitCounters& counters) {
    engine_->Commit(*unit_.checkpoint);
    last_committed_ = unit_.checkpoint;
    reconnects_at_commit_ = reconnects_;
    PushUnitResults(std::string(load::ToString(reason)), counters);
    unit_ = Unit{};
  }

  void AbortUnit() {
    if (writer_) writer_->Abort();
    unit_ = Unit{};
  }

  // A retryable loader error: abort, learn what the destination really holds, reconnect.
  void Recover(const Status& error) {
    const bool read_durable = streaming_ && (CommittedAny() || options_.resume);
    auto recovery = writer_->Recover(read_durable ? std::optional<std::string>(stream_id_)
                                                  : std::nullopt);
    if (!recovery.ok() || !read_durable) {
      unit_ = Unit{};
      RestartEngine(std::nullopt, error);
      return;
    }
    if (recovery->landed) {
      // The commit reported an error but was applied: carry on from there.
      Committed(committing_reason_, *recovery->landed);
      return;
    }
    std::optional<StreamCheckpoint> durable = std::move(recovery->durable);
    // Nothing committed yet after a hand-off: the stream still starts after it.
    if (!durable && starts_after_handoff_) durable = job_.continues->after;
    unit_ = Unit{};
    last_committed_ = durable;
    RestartEngine(std::optional<std::optional<StreamCheckpoint>>(durable), error);
  }

  // Restarts the engine on the reader thread (it owns Next() and Restart()), dropping what
  // was prefetched from the old connection. `durable` set: RestartFrom(*durable).
  void RestartEngine(std::optional<std::optional<StreamCheckpoint>> durable, const Status& error) {
    TransactionalStream* engine = engine_.get();
    prefetcher_->Restart([engine, durable = std::move(durable), error] {
      if (durable) {
        engine->RestartFrom(*durable, error);
      } else {
        engine->Restart(error);
      }
    });
  }

  Status FinishOnStop() {
    if (UnitOpen() && unit_.ends_at_watermark && unit_.checkpoint) {
      Status st = CommitUnit(load::FlushReason::kStop);
      if (!st.ok()) {
        AbortUnit();
        return st;
      }
      return Status::OK();
    }
    AbortUnit();
    return Status::OK();
  }

  // --- Results. ---

  LoadResult BaseResult() const {
    LoadResult r;
    r.table_name = job_.table;
    r.loader_type = job_.loader->name();
    r.metadata["stream_id"] = stream_id_;
    r.metadata["mode"] = ToString(options_.mode);
    r.metadata["reconnects"] = std::to_string(reconnects_);
    r.metadata["reorgs"] = std::to_string(reorgs_);
    r.metadata["start_cursor"] = start_cursor_;
    for (const auto& [key, value] : job_.result_metadata) r.metadata[key] = value;
    return r;
  }

  void PushUnitResults(const std::string& phase, const load::UnitCounters& counters) {
    const auto now = Clock::now();
    const std::chrono::duration<double> duration = now - counters.started;
    reorgs_ += static_cast<int>(unit_.reorgs.size());  // committed ones only
    for (const auto& undo : unit_.reorgs) {
      LoadResult r = BaseResult();
      r.is_reorg = true;
      BlockRange invalidated;
      invalidated.network = undo.network;
      invalidated.start = undo.blocks.start;
      invalidated.end = undo.blocks.end;
      r.invalidation_ranges.push_back(invalidated);
      r.duration = duration;
      r.metadata["operation"] = "reorg";
      r.metadata["cause"] = ToString(undo.cause);
      r.metadata["invalidation_count"] = "1";
      r.metadata["transaction_id"] = std::to_string(undo.id);
      r.metadata["block_range"] = invalidated.ToString();
      Push(std::move(r));
    }
    LoadResult r = BaseResult();
    r.rows_loaded = counters.rows;
    r.duration = duration;
    r.ops_per_second = duration.count() > 0 ? static_cast<double>(counters.rows) / duration.count() : 0;
    r.metadata["operation"] = "load";
    r.metadata["phase"] = phase;
    if (counters.blocks) r.metadata["block_range"] = counters.blocks->ToString();
    r.metadata["batches"] = std::to_string(counters.batches);
    r.metadata["microbatches"] = std::to_string(unit_.microbatches);
    r.metadata["transaction_id"] = std::to_string(unit_.checkpoint->transaction_id);
    r.metadata["cursor"] = unit_.checkpoint->cursor.ToJson();
    Push(std::move(r));
  }

  void PushError(const Status& st) {
    LoadResult r = BaseResult();
    r.success = false;
    r.status = st;
    r.error = st.ToString();
    r.metadata["operation"] = "error";
    r.metadata["error_class"] = ToString(ClassOf(st));
    Push(std::move(r));
  }

  void Push(LoadResult result) {
    if (consumer_gone_) return;
    if (!sink_.Push(std::move(result))) {
      consumer_gone_ = true;
      if (engine_) engine_->Cancel();
    }
  }

  LoadJob job_;
  const LoadOptions& options_;
  std::stop_token stop_;
  ResultSink& sink_;

  bool streaming_ = true;
  std::string stream_id_;
  std::string block_column_;
  std::string start_cursor_;
  load::FlushPolicy policy_{load::FlushLimits{}, true};
  load::FlushReason committing_reason_ = load::FlushReason::kNone;
  std::optional<load::UnitWriter> writer_;  ///< Set once the block column is known.
  std::unique_ptr<TransactionalStream> engine_;
  std::unique_ptr<Prefetcher> prefetcher_;  ///< Destroyed (joined) before engine_.
  Unit unit_;
  int reconnects_ = 0;  ///< The engine's reconnects as of the last event applied.
  /// What the destination holds as far as this load knows (the engine's start point).
  std::optional<StreamCheckpoint> last_committed_;
  bool created_table_ = false;  ///< EnsureTable() created the destination table.
  int reconnects_at_commit_ = 0;
  int reorgs_ = 0;
  bool consumer_gone_ = false;
  bool starts_after_handoff_ = false;  ///< Started from LoadJob::continues->after.
};

}  // namespace

Result<std::string> ResolveBlockColumn(const arrow::Schema& schema,
                                       const std::optional<std::string>& requested) {
  if (requested) {
    if (requested->empty()) return std::string();
    auto field = schema.GetFieldByName(*requested);
    if (field == nullptr || field->type()->id() != arrow::Type::UINT64) {
      return LoadError(Status::Invalid("block column '", *requested, "' is ",
                                       field == nullptr ? std::string("not a column of the query")
                                                        : "of type " + field->type()->ToString() +
                                                              ", not uint64"),
                       ErrorClass::kFatal, "INVALID_OPTIONS");
    }
    return *requested;
  }
  for (const char* name : {"_block_num", "block_num"}) {
    auto field = schema.GetFieldByName(name);
    if (field != nullptr && field->type()->id() == arrow::Type::UINT64) return std::string(name);
  }
  return std::string();
}

Status RunLoad(LoadJob job, std::stop_token stop, ResultSink& sink) {
  Driver driver(std::move(job), std::move(stop), sink);
  return driver.Run();
}

}  // namespace amp::streaming
