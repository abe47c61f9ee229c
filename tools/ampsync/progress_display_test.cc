#include "progress_display.h"

#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace amp::cli {
namespace {

ProgressDisplay::Options Opts(bool terminal, int width = 0) {
  ProgressDisplay::Options o;
  o.terminal = terminal;
  o.width = width;
  return o;
}

ParallelProgress Catchup() {
  ParallelProgress p;
  p.phase = "catchup";
  p.blocks_total = 40'000;
  p.blocks_done = 12'000;
  p.rows = 96'000;
  p.rows_per_second = 48'210.4;
  p.eta = std::chrono::seconds(65);
  p.workers_busy = 4;
  p.partitions_done = 3;
  p.partitions_total = 8;
  return p;
}

TEST(FormatTest, CountsAndDurations) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(42)), "42s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(185)), "3m05s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(3720)), "1h02m");
}

TEST(ProgressDisplayTest, RendersEveryFieldOfACatchup) {
  EXPECT_EQ(ProgressDisplay::Render(Catchup()),
            "catchup  blocks 12,000/40,000 (30.0%)  96,000 rows  48,210 rows/s  ETA 1m05s  "
            "4 workers busy  partitions 3/8 done");
  ParallelProgress p = Catchup();
  p.eta.reset();
  p.partitions_failed = 2;
  p.workers_busy = 1;
  EXPECT_EQ(ProgressDisplay::Render(p),
            "catchup  blocks 12,000/40,000 (30.0%)  96,000 rows  48,210 rows/s  ETA ?  "
            "1 worker busy  partitions 3/8 done, 2 failed");
}

TEST(ProgressDisplayTest, PlanningShowsNoMeasurements) {
  ParallelProgress p;
  p.phase = "planning";
  EXPECT_EQ(ProgressDisplay::Render(p), "planning");
  p.partitions_total = 12;
  EXPECT_EQ(ProgressDisplay::Render(p), "planning  12 partitions");
}

TEST(ProgressDisplayTest, LivePhaseShowsTheLastBlock) {
  ParallelProgress p = Catchup();
  p.phase = "live";
  p.live_block = 1'234'567;
  p.workers_busy = 0;
  p.partitions_done = 8;
  std::string line = ProgressDisplay::Render(p);
  EXPECT_EQ(line.rfind("live  block 1,234,567  96,000 rows", 0), 0u) << line;
  // A live stream that waits says what for.
  p.waiting = "waiting for the server to reach block 1,234,568";
  line = ProgressDisplay::Render(p);
  EXPECT_EQ(line.rfind("live  block 1,234,567  waiting for the server to reach block 1,234,568  96,000 rows", 0), 0u)
      << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
  EXPECT_EQ(line.find("busy"), std::string::npos) << line;  // workers are done by then
  EXPECT_NE(line.find("partitions 8/8 done"), std::string::npos) << line;
}

TEST(ProgressDisplayTest, TerminalRedrawsOneLineAndClearsForOtherOutput) {
  std::ostringstream err, out;
  ProgressDisplay display(err, Opts(true));
  display.Update(Catchup());
  EXPECT_EQ(err.str(), "\r" + ProgressDisplay::Render(Catchup()) + "\x1b[K");
  err.str("");
  display.PrintAbove(out, "Loaded 5 rows\n");
  EXPECT_EQ(out.str(), "Loaded 5 rows\n");
  // Cleared before the text, redrawn after it.
  EXPECT_EQ(err.str(), "\r\x1b[K\r" + ProgressDisplay::Render(Catchup()) + "\x1b[K");
  err.str("");
  display.Finish();
  EXPECT_EQ(err.str(), "\r\x1b[K");
  err.str("");
  display.Update(Catchup());  // ignored after Finish
  display.Finish();
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(err.str().find('\n'), std::string::npos);
}

TEST(ProgressDisplayTest, TerminalLineIsCutToTheWidth) {
  std::ostringstream err;
  ProgressDisplay display(err, Opts(true, 20));
  display.Update(Catchup());
  EXPECT_EQ(err.str(), "\r" + ProgressDisplay::Render(Catchup()).substr(0, 19) + "\x1b[K");
}

TEST(ProgressDisplayTest, NonTerminalPrintsALineEveryIntervalAndOnPhaseChange) {
  std::ostringstream err;
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  ProgressDisplay::Options options = Opts(false);
  options.line_interval = std::chrono::seconds(2);
  options.clock = [&now] { return now; };
  ProgressDisplay display(err, options);
  ParallelProgress p = Catchup();
  display.Update(p);  // first: printed
  now += std::chrono::milliseconds(500);
  p.blocks_done = 13'000;
  display.Update(p);  // too soon: skipped
  now += std::chrono::milliseconds(1600);
  p.blocks_done = 14'000;
  display.Update(p);  // 2.1 s after the first: printed
  now += std::chrono::milliseconds(100);
  p.phase = "live";
  p.live_block = 40'000;
  display.Update(p);  // phase change: printed at once
  std::vector<std::string> lines;
  std::istringstream in(err.str());
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u) << err.str();
  EXPECT_NE(lines[0].find("12,000/40,000"), std::string::npos);
  EXPECT_NE(lines[1].find("14,000/40,000"), std::string::npos);
  EXPECT_EQ(lines[2].rfind("live  block 40,000", 0), 0u);
  EXPECT_EQ(err.str().find('\r'), std::string::npos);
  EXPECT_EQ(err.str().find('\x1b'), std::string::npos);
}

TEST(ProgressDisplayTest, ConcurrentUpdatesAndPrintsKeepLinesWhole) {
  std::ostringstream err, out;
  ProgressDisplay display(err, Opts(true));
  ProgressDisplay::SetActive(&display);
  std::thread updater([&] {
    for (int i = 0; i < 2000; ++i) display.Update(Catchup());
  });
  for (int i = 0; i < 2000; ++i) ProgressDisplay::PrintLines(out, "INFO: line\n");
  updater.join();
  ProgressDisplay::SetActive(nullptr);
  // Every printed line arrived whole.
  std::istringstream in(out.str());
  int n = 0;
  for (std::string l; std::getline(in, l); ++n) ASSERT_EQ(l, "INFO: line");
  EXPECT_EQ(n, 2000);
  // The status output is a sequence of whole redraws and clears.
  const std::string draw = "\r" + ProgressDisplay::Render(Catchup()) + "\x1b[K";
  const std::string clear = "\r\x1b[K";
  std::string rest = err.str();
  size_t pos = 0;
  while (pos < rest.size()) {
    if (rest.compare(pos, draw.size(), draw) == 0) {
      pos += draw.size();
    } else if (rest.compare(pos, clear.size(), clear) == 0) {
      pos += clear.size();
    } else {
      FAIL() << "garbled status output at " << pos;
    }
  }
}

}  // namespace
}  // namespace amp::cli
