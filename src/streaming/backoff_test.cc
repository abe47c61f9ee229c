#include "streaming/backoff.h"

#include <gtest/gtest.h>

#include <thread>

namespace amp::streaming {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsExponentiallyUpToTheCapWithoutJitter) {
  RetryOptions options;
  options.initial_backoff = milliseconds(100);
  options.max_backoff = milliseconds(1000);
  options.multiplier = 2.0;
  options.jitter = 0;
  Backoff backoff(options, 42);
  EXPECT_EQ(backoff.Delay(0), milliseconds(0));
  EXPECT_EQ(backoff.Delay(1), milliseconds(100));
  EXPECT_EQ(backoff.Delay(2), milliseconds(200));
  EXPECT_EQ(backoff.Delay(3), milliseconds(400));
  EXPECT_EQ(backoff.Delay(4), milliseconds(800));
  EXPECT_EQ(backoff.Delay(5), milliseconds(1000));
  // Huge exponents must not overflow.
  EXPECT_EQ(backoff.Delay(500), milliseconds(1000));
}

TEST(BackoffTest, JitterStaysWithinItsBandAndVaries) {
  RetryOptions options;
  options.initial_backoff = milliseconds(1000);
  options.max_backoff = milliseconds(1000);
  options.jitter = 0.5;
  Backoff backoff(options, 7);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const auto d = backoff.Delay(3);
    EXPECT_GE(d, milliseconds(500));
    EXPECT_LE(d, milliseconds(1000));  // never above max_backoff, unlike amp-python's 1.5x
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 50u);
}

TEST(BackoffTest, AttemptsAreBounded) {
  RetryOptions options;
  options.max_attempts = 3;
  Backoff backoff(options);
  EXPECT_FALSE(backoff.Exhausted(1));
  EXPECT_FALSE(backoff.Exhausted(2));
  EXPECT_TRUE(backoff.Exhausted(3));
  options.max_attempts = 0;
  EXPECT_FALSE(Backoff(options).Exhausted(1000));
}

TEST(BackoffTest, SleepIsInterruptible) {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    stop.store(true);
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(InterruptibleSleep(mu, cv, milliseconds(10'000), [&] { return stop.load(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5'000));
  stopper.join();
  EXPECT_TRUE(InterruptibleSleep(mu, cv, milliseconds(1), [] { return false; }));
}

}  // namespace
}  // namespace amp::streaming
