// File: amp/retry.h
//
// The retry policy shared by streaming loads (reconnects, failed commits) and parallel
// backfills (a failed partition restarts from its last committed block).
#pragma once

#include <chrono>

namespace amp {

/// \brief Reconnect / retry policy: exponential backoff with jitter, bounded.
///
/// The k-th consecutive failure (k = 1, 2, ...) waits d * (1 - jitter * u), u uniform in
/// [0, 1), where d = min(max_backoff, initial_backoff * multiplier^(k-1)); the delay never
/// exceeds max_backoff. The count restarts after every successful commit. After
/// max_attempts consecutive failures the load stops with the last error.
struct RetryOptions {
  int max_attempts = 10;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30'000};
  double multiplier = 2.0;
  double jitter = 0.5;  ///< In [0, 1]; 0 = no jitter.
};

}  // namespace amp
