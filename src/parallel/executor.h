// A fixed list of tasks run by N worker threads that take them in order from one shared
// queue (so a fast worker takes more), with one error policy and one way to stop: the
// shape of DuckDB's TaskExecutor, small enough for the partitions of a parallel load.
//
//   Executor executor({.num_workers = 4, .stop_on_error = true}, stop);
//   executor.Run(partitions.size(), [&](size_t i, int worker) { return RunPartition(i, worker); });
//   for (const auto& f : executor.failures()) ...
//
// - A task's Status decides: OK (done, or stopped and already accounted for by the task),
//   or an error, recorded as a failure in the order failures happen. With stop_on_error
//   the first failure cancels the run.
// - Cancel() (or a stop of the token given to the constructor): no task starts after it,
//   the token of stop_token() is stopped, and each worker's cancel hook runs, so a task
//   blocked in I/O (a BatchStream waiting for the server) wakes up. Run() returns once
//   every started task returned: cancel, then drain.
// Thread-safety: Cancel(), cancelled(), busy(), stop_token() and SetCancelHook() from any
// thread; Run() once, from one thread; failures() after Run().
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "amp/status.h"

namespace amp::parallel {

class Executor {
 public:
  struct Options {
    int num_workers = 1;
    /// The first failure cancels the run (the other tasks see a cancellation).
    bool stop_on_error = false;
  };
  /// Runs task `index` on worker `worker` (0-based, < num_workers).
  using Task = std::function<Status(size_t index, int worker)>;

  struct Failure {
    size_t index = 0;
    Status status;
  };

  Executor(Options options, std::stop_token stop);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Runs tasks 0..count-1 on min(num_workers, count) threads; returns when all have run
  /// or, after a cancellation, when the started ones have returned.
  void Run(size_t count, const Task& task);

  /// Stops the run: see the header comment. Idempotent.
  void Cancel();
  bool cancelled() const { return cancel_.stop_requested(); }
  /// Stopped by Cancel(), stop_on_error or the constructor's token: what a task passes to
  /// whatever it waits on (sleeps between retries, queries).
  std::stop_token stop_token() const { return cancel_.get_token(); }

  /// Sets what cancels `worker`'s current task (nullptr: nothing). Runs `hook` at once
  /// when the run is already cancelled.
  void SetCancelHook(int worker, std::function<void()> hook);

  /// Tasks running now.
  int busy() const { return busy_.load(); }
  std::vector<Failure> failures() const;
  /// Whether a failure cancelled the run (stop_on_error).
  bool stopped_on_error() const { return stopped_on_error_.load(); }

 private:
  void Work(int worker, size_t count, const Task& task);
  std::optional<size_t> Take(size_t count);
  void RecordFailure(size_t index, Status status);

  const Options options_;
  std::stop_source cancel_;
  std::atomic<int> busy_{0};
  std::atomic<bool> stopped_on_error_{false};

  mutable std::mutex mu_;  // guards the three members below
  size_t next_ = 0;
  std::vector<Failure> failures_;
  std::vector<std::function<void()>> hooks_;

  // Last: it may call Cancel() while being constructed (a token already stopped).
  std::stop_callback<std::function<void()>> on_stop_;
};

}  // namespace amp::parallel
