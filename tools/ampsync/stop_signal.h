// Ctrl+C / SIGTERM handling for the CLI (the library never installs signal handlers; it
// takes stop callbacks and cancellation calls).
//
// Install() blocks SIGINT and SIGTERM in the calling thread before any other thread is
// created (so every thread inherits the mask) and starts a watcher thread that waits for
// them with sigwait and runs the registered callbacks on that ordinary thread, where it is
// safe to cancel RPCs or take locks. A second signal exits immediately with 130.
#pragma once

#include <chrono>
#include <functional>

namespace amp::cli {

class StopSignal {
 public:
  static void Install();
  /// True once SIGINT/SIGTERM arrived.
  static bool requested();
  /// Sleeps up to `timeout`, returning at once (true) when a stop is requested, so that a
  /// periodic loop never delays a stop by its period.
  static bool WaitFor(std::chrono::milliseconds timeout);
  /// Runs `callback` (on the watcher thread) when a stop is requested; immediately if one
  /// already was. Returns an id for Remove().
  static int OnStop(std::function<void()> callback);
  static void Remove(int id);
};

}  // namespace amp::cli
