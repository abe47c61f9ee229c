// The devnet flags added for parallel-load testing (--skew*, --fail-queries-touching) and
// for behaving like ampd (--history 0, --unsynced-tables, --chunking, --reorg-delay-ms).
#include "devnet_flags.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "common/testing/status_matchers.h"

namespace amp::cli {
namespace {

Result<DevnetOptions> Parse(std::vector<std::string> args) {
  CLI::App app("devnet");
  DevnetFlags flags;
  AddDevnetFlags(app, flags);
  std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return Status::Invalid("parse: ", e.what());
  }
  return ToDevnetOptions(flags);
}

TEST(DevnetFlags, DefaultsLeaveSkewAndBlockFaultOff) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_LE(o->skew, 1u);
  EXPECT_FALSE(o->faults.fail_queries_touching.has_value());
  EXPECT_EQ(o->faults, DevnetFaults{});
}

TEST(DevnetFlags, Skew) {
  auto o = Parse({"--skew", "10", "--skew-window", "2000", "--skew-hot-percent", "5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->skew, 10u);
  EXPECT_EQ(o->skew_window, 2000u);
  EXPECT_EQ(o->skew_hot_percent, 5u);
  EXPECT_TRUE(Parse({"--skew", "3", "--skew-hot-percent", "0"}).status().IsInvalid());
  EXPECT_TRUE(Parse({"--skew", "3", "--skew-window", "0"}).status().IsInvalid());
}

TEST(DevnetFlags, FailQueriesTouching) {
  auto o = Parse({"--fail-queries-touching", "5000-5099:unavailable"});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(o->faults.fail_queries_touching.has_value());
  EXPECT_EQ(*o->faults.fail_queries_touching,
            (DevnetBlockFault{5000, 5099, DevnetFaultCode::kUnavailable}));
  o = Parse({"--fail-queries-touching", "77"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o->faults.fail_queries_touching, (DevnetBlockFault{77, 77, DevnetFaultCode::kInternal}));
  ASSERT_OK_AND_ASSIGN(auto f, ParseBlockFault("1-2:INTERNAL"));
  EXPECT_EQ(f, (DevnetBlockFault{1, 2, DevnetFaultCode::kInternal}));
  for (const char* bad : {"", "x", "5-", "-5", "9-3", "1-2:aborted", "1:", "1-2-3", "1 2"}) {
    EXPECT_TRUE(ParseBlockFault(bad).status().IsInvalid()) << bad;
  }
}

TEST(DevnetFlags, AmpdLikeOptions) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->chunking, DevnetChunking::kLarge);
  EXPECT_EQ(defaults->reorg_delay.count(), 0);
  EXPECT_TRUE(defaults->unsynced_tables.empty());

  auto o = Parse({"--history", "0", "--unsynced-tables", "logs, transactions", "--chunking",
                  "ampd", "--reorg-delay-ms", "2500"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->history, 0u);
  EXPECT_EQ(o->unsynced_tables, (std::vector<std::string>{"logs", "transactions"}));
  EXPECT_EQ(o->chunking, DevnetChunking::kAmpd);
  EXPECT_EQ(o->reorg_delay.count(), 2500);

  auto table = Parse({"--unsynced-tables", "logs,nope"});
  ASSERT_TRUE(table.status().IsInvalid());
  EXPECT_NE(table.status().message().find("'nope'"), std::string::npos) << table.status();
  auto chunking = Parse({"--chunking", "small"});
  ASSERT_TRUE(chunking.status().IsInvalid());
  EXPECT_NE(chunking.status().message().find("--chunking"), std::string::npos);
}

}  // namespace
}  // namespace amp::cli
