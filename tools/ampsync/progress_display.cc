#include "progress_display.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <sstream>

namespace amp::cli {
namespace {

// The display that PrintLines() routes through; guarded by g_active_mu, which is held while
// printing so a display cannot be destroyed under a concurrent log line.
std::mutex g_active_mu;
ProgressDisplay* g_active = nullptr;

std::string Percent(uint64_t done, uint64_t total) {
  char buf[32];
  const double pct = total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
  std::snprintf(buf, sizeof(buf), "%.1f%%", pct);
  return buf;
}

}  // namespace

std::string FormatCount(int64_t n) {
  const bool negative = n < 0;
  // Two's complement: -INT64_MIN overflows, so negate in unsigned arithmetic.
  uint64_t u = negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string digits = std::to_string(u);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return negative ? "-" + out : out;
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s < 0) s = 0;
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "s", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

ProgressDisplay::ProgressDisplay(std::ostream& out, Options options)
    : out_(out), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
}

ProgressDisplay::~ProgressDisplay() {
  {
    std::lock_guard<std::mutex> lock(g_active_mu);
    if (g_active == this) g_active = nullptr;
  }
  Finish();
}

std::string ProgressDisplay::Render(const ParallelProgress& p) {
  std::ostringstream s;
  if (p.phase == "planning") {  // nothing measured yet
    s << "planning";
    if (p.partitions_total > 0) s << "  " << p.partitions_total << " partitions";
    return s.str();
  }
  s << (p.phase.empty() ? "loading" : p.phase);
  if (p.phase == "live") {
    if (p.live_block) s << "  block " << FormatCount(static_cast<int64_t>(*p.live_block));
    if (!p.waiting.empty()) s << "  " << p.waiting;
  } else {
    s << "  blocks " << FormatCount(static_cast<int64_t>(p.blocks_done)) << "/"
      << FormatCount(static_cast<int64_t>(p.blocks_total)) << " ("
      << Percent(p.blocks_done, p.blocks_total) << ")";
  }
  s << "  " << FormatCount(p.rows) << " rows";
  s << "  " << FormatCount(static_cast<int64_t>(p.rows_per_second + 0.5)) << " rows/s";
  if (p.phase != "live" && p.phase != "done") {
    s << "  ETA " << (p.eta ? FormatDuration(*p.eta) : std::string("?"));
  }
  if (p.phase != "done" && p.phase != "live") s << "  " << p.workers_busy << (p.workers_busy == 1 ? " worker" : " workers") << " busy";
  s << "  partitions " << p.partitions_done << "/" << p.partitions_total << " done";
  if (p.partitions_failed > 0) s << ", " << p.partitions_failed << " failed";
  return s.str();
}

std::string ProgressDisplay::FitLocked(const std::string& line) const {
  if (options_.width <= 1 || static_cast<int>(line.size()) < options_.width) return line;
  return line.substr(0, static_cast<size_t>(options_.width - 1));
}

void ProgressDisplay::DrawLocked() {
  out_ << '\r' << FitLocked(line_) << "\x1b[K" << std::flush;
  drawn_ = true;
}

void ProgressDisplay::ClearLocked() {
  if (!drawn_) return;
  out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

void ProgressDisplay::Update(const ParallelProgress& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  std::string line = Render(progress);
  if (options_.terminal) {
    line_ = std::move(line);
    DrawLocked();
    return;
  }
  const auto now = options_.clock();
  const bool phase_changed = progress.phase != last_phase_;
  if (printed_any_ && !phase_changed && now - last_print_ < options_.line_interval) return;
  out_ << line << '\n' << std::flush;
  line_ = std::move(line);
  last_phase_ = progress.phase;
  last_print_ = now;
  printed_any_ = true;
}

void ProgressDisplay::PrintAbove(std::ostream& os, std::string_view text) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool redraw = drawn_;
  ClearLocked();
  os << text << std::flush;
  if (redraw && !finished_) DrawLocked();
}

void ProgressDisplay::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  ClearLocked();
  finished_ = true;
}

int ProgressDisplay::TerminalWidth(int fd) {
  struct winsize ws {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

void ProgressDisplay::SetActive(ProgressDisplay* display) {
  std::lock_guard<std::mutex> lock(g_active_mu);
  g_active = display;
}

void ProgressDisplay::PrintLines(std::ostream& os, std::string_view text) {
  std::lock_guard<std::mutex> lock(g_active_mu);
  if (g_active != nullptr) {
    g_active->PrintAbove(os, text);
  } else {
    os << text << std::flush;
  }
}

}  // namespace amp::cli
