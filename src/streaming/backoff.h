// Exponential backoff with jitter for reconnects and retries (RetryOptions in amp/retry.h),
// and a sleep that a cancellation or stop request cuts short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>

#include "amp/retry.h"

namespace amp::streaming {

class Backoff {
 public:
  /// `seed` 0: a random seed (tests pass a fixed one).
  explicit Backoff(RetryOptions options, uint64_t seed = 0);

  /// The wait before the next attempt after `failures` (>= 1) consecutive failures:
  /// d * (1 - jitter * u), d = min(max_backoff, initial_backoff * multiplier^(failures-1)).
  std::chrono::milliseconds Delay(int failures);
  /// True once `failures` consecutive failures used up max_attempts (<= 0: never).
  bool Exhausted(int failures) const;

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  std::mt19937_64 rng_;
};

/// Waits `delay` on `cv` (with `mu` unlocked on entry) unless `interrupted()` becomes
/// true, checked on every notification. Returns false when interrupted.
bool InterruptibleSleep(std::mutex& mu, std::condition_variable& cv,
                        std::chrono::milliseconds delay, const std::function<bool()>& interrupted);

}  // namespace amp::streaming
