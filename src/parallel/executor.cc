#include "parallel/executor.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace amp::parallel {

Executor::Executor(Options options, std::stop_token stop)
    : options_(options),
      hooks_(static_cast<size_t>(std::max(1, options.num_workers))),
      on_stop_(std::move(stop), std::function<void()>([this] { Cancel(); })) {}

void Executor::Run(size_t count, const Task& task) {
  const int workers = static_cast<int>(std::min<size_t>(hooks_.size(), count));
  std::vector<std::jthread> threads;
  threads.reserve(workers);
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([this, w, count, &task] { Work(w, count, task); });
  }
}

void Executor::Work(int worker, size_t count, const Task& task) {
  while (auto index = Take(count)) {
    ++busy_;
    Status st = task(*index, worker);
    --busy_;
    if (!st.ok()) RecordFailure(*index, std::move(st));
  }
}

std::optional<size_t> Executor::Take(size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled() || next_ >= count) return std::nullopt;
  return next_++;
}

void Executor::RecordFailure(size_t index, Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back({index, std::move(status)});
  }
  if (options_.stop_on_error) {
    stopped_on_error_ = true;
    Cancel();
  }
}

void Executor::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_.request_stop();
  for (const auto& hook : hooks_) {
    if (hook) hook();
  }
}

void Executor::SetCancelHook(int worker, std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.at(static_cast<size_t>(worker)) = std::move(hook);
  if (hooks_[worker] && cancelled()) hooks_[worker]();
}

std::vector<Executor::Failure> Executor::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

}  // namespace amp::parallel
