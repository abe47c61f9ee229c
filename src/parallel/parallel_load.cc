#include "parallel/parallel_load.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "load/unit_writer.h"
#include "parallel/executor.h"
#include "parallel/handoff.h"
#include "parallel/load_plan.h"
#include "parallel/parallel_error.h"
#include "parallel/partition_task.h"

namespace amp::streaming {
namespace {

using Clock = std::chrono::steady_clock;
using parallel::Executor;
using parallel::PartitionOutcome;
using parallel::PartitionTask;
using parallel::PreparedPlan;

// 1234567 -> "1,234,567" (the seed's log format).
std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", s);
  return buf;
}

// Sleeps `delay`, returning early when `stop` is requested.
void SleepUnlessStopped(std::chrono::milliseconds delay, std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, delay, [] { return false; });
}

// Progress counters shared by the workers, the live stream and the reporter thread.
struct Progress : parallel::RunCounters {
  std::atomic<int> partitions_done{0};
  std::atomic<int> partitions_failed{0};
  std::atomic<BlockNumber> live_block{0};
  std::atomic<bool> live_known{false};
};

// One run of a parallel load: plan, then the partitions on an Executor, then (hybrid) the
// live stream. It owns what they report: results, log lines and the progress display.
class ParallelRun {
 public:
  ParallelRun(LoadJob job, std::stop_token stop, ResultSink& sink)
      : job_(std::move(job)), config_(*job_.options.parallel), stop_(std::move(stop)), sink_(sink) {}

  Status Run() {
    Status st = RunImpl();
    if (!st.ok() && !(st.IsCancelled() && stop_.stop_requested())) {
      PushError(st);
      return st;
    }
    return Status::OK();
  }

 private:
  Status RunImpl() {
    Report("planning");
    AMP_RETURN_NOT_OK(PlanAndSaveHandoff());
    const ParallelPlan& plan = prepared_.plan;
    phase_ = plan.hybrid ? "catchup" : "backfill";
    for (const auto& p : plan.partitions) blocks_total_ += p.end - p.start;
    LogPlan();
    started_ = Clock::now();
    Report(phase_);  // a short catch-up may end before the reporter's first tick
    RunWorkers();
    LogCompletion();
    if (stop_.stop_requested()) {
      Report("done");
      return Status::OK();
    }
    if (!failed_ids_.empty()) {
      Report("done");
      return PartitionsFailed();
    }
    if (!plan.hybrid) {
      Report("done");
      return Status::OK();
    }
    return RunLive();
  }

  // The plan, on a session that is then closed; a new hand-off record is saved before
  // any worker writes, so a rerun hands over at the same block.
  Status PlanAndSaveHandoff() {
    load::UnitWriter planner({.loader = job_.loader, .table = job_.table});
    AMP_RETURN_NOT_OK(load::RetryStep(
        job_.options.retry, stop_, "parallel",
        [&]() -> Status {
          planner.CloseSession();
          AMP_ASSIGN_OR_RETURN(LoaderSession * session, planner.session());
          AMP_ASSIGN_OR_RETURN(prepared_, parallel::Prepare(job_, *session, /*write=*/true, stop_));
          return Status::OK();
        },
        [] { return parallel::Stopped(); }));
    if (prepared_.handoff_is_new) {
      AMP_RETURN_NOT_OK(
          parallel::SaveHandoffRecord(planner, *prepared_.handoff, job_.options.retry, stop_));
    }
    return Status::OK();
  }

  void LogPlan() const {
    const ParallelPlan& plan = prepared_.plan;
    if (plan.hybrid && plan.head && !plan.partitions.empty()) {
      spdlog::info("Head of {}: block {} ({}); catching up blocks {} to {} with {} workers",
                   config_.table_name, plan.head->number, plan.head->hash.ToHex(),
                   plan.min_block, plan.max_block, config_.num_workers);
    } else if (plan.hybrid && plan.head && !plan.handoff) {
      spdlog::info("Head of {}: block {}; min_block {} is beyond it, nothing to catch up",
                   config_.table_name, plan.head->number, plan.min_block);
    } else if (plan.partitions.empty()) {
      spdlog::info("Nothing to {}: every block of [{}, {}) is already loaded",
                   plan.hybrid ? "catch up" : "load", plan.min_block, plan.max_block);
    }
    if (!plan.already_loaded.empty()) {
      spdlog::info("Resuming: {} block range(s) already loaded, {} partition(s) left",
                   plan.already_loaded.size(), plan.partitions.size());
    }
  }

  void LogCompletion() const {
    const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    spdlog::info(
        "Parallel execution complete: {} rows loaded, {}/{} partitions succeeded, {} failed, "
        "{} rows/s",
        Thousands(progress_.rows.load()), progress_.partitions_done.load(),
        prepared_.plan.partitions.size(), progress_.partitions_failed.load(),
        Thousands(static_cast<int64_t>(secs > 0 ? progress_.rows.load() / secs : 0)));
  }

  Status PartitionsFailed() const {
    const ParallelPlan& plan = prepared_.plan;
    std::string which;
    for (int id : failed_ids_) which += (which.empty() ? "" : ", ") + std::to_string(id);
    return parallel::ParallelError(
        Status::IOError(failed_ids_.size(), " of ", plan.partitions.size(), " partitions failed (",
                        which, ")", stopped_on_error_ ? "; stopped (stop_on_error)" : "",
                        plan.hybrid ? "; not handing over to the live stream" : "",
                        "; a rerun loads only the missing blocks"),
        ErrorClass::kFatal, "PARTITIONS_FAILED");
  }

  // --- Workers. ---

  void RunWorkers() {
    const auto& partitions = prepared_.plan.partitions;
    if (partitions.empty()) return;
    Executor executor({.num_workers = config_.num_workers, .stop_on_error = config_.stop_on_error},
                      stop_);
    {
      std::lock_guard<std::mutex> lock(executor_mu_);
      executor_ = &executor;
      if (abort_) executor.Cancel();
    }
    std::jthread reporter([this](std::stop_token done) {
      while (!done.stop_requested()) {
        SleepUnlessStopped(std::chrono::milliseconds(500), done);
        Report(phase_);
      }
    });
    // One writer per worker: its session serves every partition the worker takes.
    std::vector<std::unique_ptr<load::UnitWriter>> writers;
    for (int w = 0; w < config_.num_workers; ++w) {
      writers.push_back(std::make_unique<load::UnitWriter>(load::UnitWriter::Options{
          .loader = job_.loader, .table = job_.table, .rows_carry_blocks = true}));
    }
    const PartitionTask::Context context{.job = &job_,
                                         .split = &prepared_.split,
                                         .job_id = prepared_.plan.job_id,
                                         .executor = &executor,
                                         .counters = &progress_};
    executor.Run(partitions.size(), [&](size_t index, int worker) {
      return RunPartition(context, *writers[worker], worker, partitions[index]);
    });
    for (const auto& failure : executor.failures()) {
      failed_ids_.push_back(partitions[failure.index].partition_id);
    }
    stopped_on_error_ = executor.stopped_on_error();
    reporter.request_stop();
    std::lock_guard<std::mutex> lock(executor_mu_);
    executor_ = nullptr;
  }

  // Runs partition `p` and reports it; the Status is the Executor's: OK when it loaded or
  // stopped, its error when it failed.
  Status RunPartition(const PartitionTask::Context& context, load::UnitWriter& writer, int worker,
                      const PartitionPlan& p) {
    const PartitionOutcome outcome = PartitionTask(context, writer, worker, p).Run();
    LoadResult r = PartitionResult(p, worker, outcome);
    const Status& st = outcome.status;
    Status verdict = Status::OK();
    if (st.ok()) {
      ++progress_.partitions_done;
      spdlog::info("Partition {} completed: {} rows in {}s", p.partition_id,
                   Thousands(outcome.rows), Seconds(outcome.duration.count()));
    } else if (context.executor->cancelled() && st.IsCancelled()) {
      // Stopped (Ctrl+C, or another partition failed with stop_on_error): what committed
      // stays, a rerun continues after it.
      r.metadata["stopped"] = "true";
      r.metadata["committed_through"] =
          outcome.next > p.start ? std::to_string(outcome.next - 1) : std::string("none");
      spdlog::info("Partition {} stopped after {} rows (blocks {} to {} loaded)", p.partition_id,
                   Thousands(outcome.rows), p.start, outcome.next);
    } else {
      r.success = false;
      r.status = st;
      r.error = st.ToString();
      r.metadata["operation"] = "error";
      r.metadata["error_class"] = ToString(ClassOf(st));
      ++progress_.partitions_failed;
      spdlog::error("Partition {} failed after {}s: {}", p.partition_id,
                    Seconds(outcome.duration.count()), st.ToString());
      verdict = st;
    }
    Push(std::move(r));
    return verdict;
  }

  LoadResult PartitionResult(const PartitionPlan& p, int worker, const PartitionOutcome& outcome) {
    LoadResult r;
    r.table_name = job_.table;
    r.loader_type = job_.loader->name();
    r.rows_loaded = outcome.rows;
    r.duration = outcome.duration;
    r.ops_per_second = outcome.duration.count() > 0 ? outcome.rows / outcome.duration.count() : 0;
    r.metadata["operation"] = "load";
    r.metadata["partition_id"] = std::to_string(p.partition_id);
    r.metadata["block_range"] = "[" + std::to_string(p.start) + ", " + std::to_string(p.end) + ")";
    r.metadata["batches"] = std::to_string(outcome.batches);
    r.metadata["commits"] = std::to_string(outcome.commits);
    r.metadata["rows_per_second"] = std::to_string(static_cast<int64_t>(r.ops_per_second));
    r.metadata["worker"] = std::to_string(worker);
    r.metadata["parallel_phase"] = phase_;
    r.metadata["attempts"] = std::to_string(outcome.attempts);
    r.metadata["stream_id"] = prepared_.plan.job_id;
    r.metadata["mode"] = ToString(job_.options.mode);
    return r;
  }

  // --- The live stream (hybrid). ---

  Status RunLive() {
    const ParallelPlan& plan = prepared_.plan;
    phase_ = "live";
    LoadJob live = parallel::LiveJob(job_, plan);
    // What the live stream waits for (data, a lagging server) shows in the progress line.
    auto user_on_wait = job_.options.on_wait;
    live.options.on_wait = [this, user_on_wait](const std::string& waiting) {
      {
        std::lock_guard<std::mutex> lock(waiting_mu_);
        waiting_ = waiting;
      }
      Report("live");
      if (user_on_wait) user_on_wait(waiting);
    };
    parallel::LogLiveStart(plan, config_.reorg_buffer);
    Report("live");
    LiveSink live_sink(*this);
    return RunLoad(std::move(live), stop_, live_sink);
  }

  // Forwards live results and follows their cursor for the progress display.
  class LiveSink final : public ResultSink {
   public:
    explicit LiveSink(ParallelRun& run) : run_(run) {}
    bool Push(LoadResult result) override {
      auto it = result.metadata.find("cursor");
      if (it != result.metadata.end()) {
        auto cursor = Cursor::FromJson(it->second);
        if (cursor.ok() && !cursor->networks.empty()) {
          run_.progress_.live_block = cursor->networks.begin()->second.number;
          run_.progress_.live_known = true;
        }
        run_.progress_.rows += result.rows_loaded;
        run_.Report("live");
      }
      return run_.sink_.Push(std::move(result));
    }

   private:
    ParallelRun& run_;
  };

  // --- Results and progress. ---

  void Push(LoadResult result) {
    bool delivered;
    {
      std::lock_guard<std::mutex> lock(push_mu_);
      delivered = sink_.Push(std::move(result));
    }
    if (!delivered) {
      std::lock_guard<std::mutex> lock(executor_mu_);
      abort_ = true;  // the consumer is gone
      if (executor_ != nullptr) executor_->Cancel();
    }
  }

  void PushError(const Status& st) {
    LoadResult r;
    r.success = false;
    r.status = st;
    r.error = st.ToString();
    r.table_name = job_.table;
    r.loader_type = job_.loader->name();
    r.metadata["operation"] = "error";
    r.metadata["error_class"] = ToString(ClassOf(st));
    if (!prepared_.plan.job_id.empty()) r.metadata["stream_id"] = prepared_.plan.job_id;
    Push(std::move(r));
  }

  int WorkersBusy() {
    std::lock_guard<std::mutex> lock(executor_mu_);
    return executor_ != nullptr ? executor_->busy() : 0;
  }

  void Report(const std::string& phase) {
    if (!config_.on_progress) return;
    std::lock_guard<std::mutex> lock(report_mu_);
    ParallelProgress p;
    p.phase = phase;
    p.blocks_total = blocks_total_;
    p.blocks_done = progress_.blocks_done.load();
    p.rows = progress_.rows.load();
    p.workers_busy = WorkersBusy();
    p.partitions_done = progress_.partitions_done.load();
    p.partitions_failed = progress_.partitions_failed.load();
    p.partitions_total = static_cast<int>(prepared_.plan.partitions.size());
    if (progress_.live_known) p.live_block = progress_.live_block.load();
    {
      std::lock_guard<std::mutex> lock(waiting_mu_);
      p.waiting = waiting_;
    }
    MeasureRate(p);
    config_.on_progress(p);
  }

  // Rate over a window of recent samples (about 5 s), and the time left at that rate.
  void MeasureRate(ParallelProgress& p) {
    const auto now = Clock::now();
    samples_.emplace_back(now, p.rows, p.blocks_done);
    while (samples_.size() > 2 && now - std::get<0>(samples_.front()) > std::chrono::seconds(5)) {
      samples_.pop_front();
    }
    const auto& [t0, rows0, blocks0] = samples_.front();
    const double dt = std::chrono::duration<double>(now - t0).count();
    if (dt <= 0.2) return;
    p.rows_per_second = (p.rows - rows0) / dt;
    const double blocks_per_second = (p.blocks_done - blocks0) / dt;
    if (blocks_per_second > 0 && p.blocks_total >= p.blocks_done && p.phase != "live") {
      p.eta = std::chrono::seconds(
          static_cast<int64_t>((p.blocks_total - p.blocks_done) / blocks_per_second));
    }
  }

  LoadJob job_;
  const ParallelConfig& config_;
  std::stop_token stop_;
  ResultSink& sink_;
  PreparedPlan prepared_;
  std::string phase_ = "planning";  // written before the workers start, read after
  uint64_t blocks_total_ = 0;
  Clock::time_point started_;
  Progress progress_;
  std::vector<int> failed_ids_;  ///< After the workers: the partitions that failed.
  bool stopped_on_error_ = false;
  std::mutex push_mu_;      // one result at a time into the sink
  std::mutex executor_mu_;  // guards the two members below
  bool abort_ = false;      ///< The consumer of the results is gone.
  Executor* executor_ = nullptr;  ///< While the workers run.
  std::mutex report_mu_;
  std::mutex waiting_mu_;
  std::string waiting_;  ///< The live stream's wait ("" when none), for the progress line.
  std::deque<std::tuple<Clock::time_point, int64_t, uint64_t>> samples_;
};

}  // namespace

Status RunParallelLoad(LoadJob job, std::stop_token stop, ResultSink& sink) {
  ParallelRun run(std::move(job), std::move(stop), sink);
  return run.Run();
}

Result<ParallelPlan> PlanParallelLoad(const LoadJob& job) {
  if (!job.options.parallel) return Status::Invalid("PlanParallelLoad: LoadOptions::parallel is unset");
  AMP_ASSIGN_OR_RETURN(auto session, job.loader->OpenSession());
  AMP_ASSIGN_OR_RETURN(auto prepared,
                       parallel::Prepare(job, *session, /*write=*/false, std::stop_token()));
  return std::move(prepared.plan);
}

}  // namespace amp::streaming
