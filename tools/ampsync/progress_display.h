// The live progress display of `ampsync load --workers N`: renders amp::ParallelProgress
// snapshots (delivered by ParallelConfig::on_progress on a background thread) as one
// status line on stderr.
//
//   catchup  blocks 12,000/40,000 (30.0%)  96,000 rows  48,210 rows/s  ETA 1m05s
//            4 workers busy  partitions 3/8 done
//
// (on one line). On a terminal the line is redrawn in place with '\r' and cleared before
// any other output (result lines, log lines) is printed above it, then redrawn, so
// nothing is garbled; elsewhere (a pipe, a log file) it prints a plain line every
// `line_interval` and on each phase change, and only when asked (--progress always).
//
// Thread-safe: Update(), PrintAbove() and Finish() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "amp/parallel.h"

namespace amp::cli {

/// "1,234,567" (thousands separators), for counts in progress and summaries.
std::string FormatCount(int64_t n);
/// "42s", "3m05s", "1h02m".
std::string FormatDuration(std::chrono::seconds d);

class ProgressDisplay {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  struct Options {
    /// Redraw one line in place ('\r'); false: print a line every line_interval.
    bool terminal = true;
    std::chrono::milliseconds line_interval{2'000};
    /// Columns available (the line is cut to width - 1 so it never wraps); 0: no limit.
    int width = 0;
    /// Time source (tests inject one); empty: steady_clock.
    Clock clock;
  };

  ProgressDisplay(std::ostream& out, Options options);
  /// Finish()es.
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  /// The status line of a snapshot (no '\r', no newline).
  static std::string Render(const ParallelProgress& progress);

  /// Shows `progress` (redraws, or prints a line when due).
  void Update(const ParallelProgress& progress);
  /// Writes `text` (complete lines) to `os` without garbling the status line: on a
  /// terminal the line is cleared first and redrawn after.
  void PrintAbove(std::ostream& os, std::string_view text);
  /// Removes the status line from a terminal (the summary follows); idempotent. Later
  /// Update() calls are ignored.
  void Finish();

  /// Columns of the terminal on file descriptor `fd`, or 0 when unknown.
  static int TerminalWidth(int fd);

  /// While a display is active, console output of other components (log lines) goes
  /// through it: PrintLines() calls PrintAbove() on it, or writes directly otherwise.
  static void SetActive(ProgressDisplay* display);
  static void PrintLines(std::ostream& os, std::string_view text);

 private:
  void DrawLocked();
  void ClearLocked();
  std::string FitLocked(const std::string& line) const;

  std::ostream& out_;
  Options options_;
  std::mutex mu_;
  std::string line_;     // the current status line (terminal) or last printed (lines)
  bool drawn_ = false;   // terminal: a status line is on screen
  bool finished_ = false;
  std::string last_phase_;
  bool printed_any_ = false;
  std::chrono::steady_clock::time_point last_print_{};
};

}  // namespace amp::cli
