#include "streaming/backoff.h"

#include <algorithm>
#include <cmath>

namespace amp::streaming {

Backoff::Backoff(RetryOptions options, uint64_t seed)
    : options_(options), rng_(seed != 0 ? seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::Delay(int failures) {
  if (failures < 1) return std::chrono::milliseconds(0);
  const double initial = static_cast<double>(std::max<int64_t>(0, options_.initial_backoff.count()));
  const double cap = static_cast<double>(std::max<int64_t>(0, options_.max_backoff.count()));
  const double multiplier = std::max(1.0, options_.multiplier);
  // Exponentiate in floating point and clamp before converting: 2^60 ms would overflow.
  double d = initial * std::pow(multiplier, static_cast<double>(failures - 1));
  d = std::min(d, cap);
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  if (jitter > 0) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    d *= 1.0 - jitter * u(rng_);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

bool Backoff::Exhausted(int failures) const {
  return options_.max_attempts > 0 && failures >= options_.max_attempts;
}

bool InterruptibleSleep(std::mutex& mu, std::condition_variable& cv,
                        std::chrono::milliseconds delay, const std::function<bool()>& interrupted) {
  std::unique_lock<std::mutex> lock(mu);
  return !cv.wait_for(lock, delay, interrupted);
}

}  // namespace amp::streaming
