#include "parallel/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

namespace amp::parallel {
namespace {

TEST(ExecutorTest, RunsEveryTaskOnceOnAtMostNumWorkers) {
  Executor executor({.num_workers = 3}, std::stop_token());
  std::mutex mu;
  std::multiset<size_t> ran;
  std::set<int> workers;
  executor.Run(20, [&](size_t index, int worker) {
    std::lock_guard<std::mutex> lock(mu);
    ran.insert(index);
    workers.insert(worker);
    return Status::OK();
  });
  EXPECT_EQ(ran.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(ran.count(i), 1u) << i;
  for (int w : workers) EXPECT_TRUE(w >= 0 && w < 3) << w;
  EXPECT_TRUE(executor.failures().empty());
  EXPECT_FALSE(executor.cancelled());
}

TEST(ExecutorTest, FailuresAreRecordedAndTheOthersContinue) {
  Executor executor({.num_workers = 1}, std::stop_token());
  std::vector<size_t> ran;
  executor.Run(5, [&](size_t index, int) {
    ran.push_back(index);
    return index % 2 == 1 ? Status::IOError("task ", index) : Status::OK();
  });
  EXPECT_EQ(ran, (std::vector<size_t>{0, 1, 2, 3, 4}));
  auto failures = executor.failures();
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].index, 1u);
  EXPECT_EQ(failures[1].index, 3u);
  EXPECT_EQ(failures[1].status.message(), "task 3");
  EXPECT_FALSE(executor.stopped_on_error());
}

TEST(ExecutorTest, StopOnErrorStartsNothingAfterTheFirstFailure) {
  Executor executor({.num_workers = 1, .stop_on_error = true}, std::stop_token());
  std::vector<size_t> ran;
  executor.Run(10, [&](size_t index, int) {
    ran.push_back(index);
    return index == 2 ? Status::IOError("disk full") : Status::OK();
  });
  EXPECT_EQ(ran, (std::vector<size_t>{0, 1, 2}));
  ASSERT_EQ(executor.failures().size(), 1u);
  EXPECT_TRUE(executor.stopped_on_error());
  EXPECT_TRUE(executor.cancelled());
  EXPECT_TRUE(executor.stop_token().stop_requested());
}

// Task 0 blocks until its cancel hook wakes it; task 1 cancels the run.
TEST(ExecutorTest, CancelWakesRunningTasksThroughTheirHooksAndDrains) {
  Executor executor({.num_workers = 2}, std::stop_token());
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  std::atomic<int> started{0};
  executor.Run(6, [&](size_t index, int worker) {
    ++started;
    if (index == 0) {
      executor.SetCancelHook(worker, [&] {
        std::lock_guard<std::mutex> lock(mu);
        woken = true;
        cv.notify_all();
      });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return woken; });
      lock.unlock();
      executor.SetCancelHook(worker, nullptr);
      return Status::Cancelled("stopped");
    }
    executor.Cancel();
    return Status::OK();
  });
  EXPECT_TRUE(woken);
  EXPECT_EQ(started.load(), 2) << "nothing starts after the cancel";
  ASSERT_EQ(executor.failures().size(), 1u) << "the task's own status is what counts";
  EXPECT_FALSE(executor.stopped_on_error());
}

TEST(ExecutorTest, AStoppedTokenRunsNothing) {
  std::stop_source stop;
  stop.request_stop();
  Executor executor({.num_workers = 2}, stop.get_token());
  EXPECT_TRUE(executor.cancelled());
  int ran = 0;
  executor.Run(3, [&](size_t, int) {
    ++ran;
    return Status::OK();
  });
  EXPECT_EQ(ran, 0);
  bool hook_ran = false;
  executor.SetCancelHook(0, [&] { hook_ran = true; });
  EXPECT_TRUE(hook_ran) << "a hook set after the cancel runs at once";
}

}  // namespace
}  // namespace amp::parallel
