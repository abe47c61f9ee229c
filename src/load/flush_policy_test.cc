// The commit cadence of amp/load.h, one reason at a time.
#include "load/flush_policy.h"

#include <gtest/gtest.h>

namespace amp::load {
namespace {

using namespace std::chrono_literals;

FlushLimits Limits() {
  FlushLimits limits;
  limits.max_rows = 100;
  limits.max_bytes = 1000;
  limits.max_age = 2s;
  limits.full_microbatch_blocks = 10;
  return limits;
}

WatermarkFacts Full() {
  WatermarkFacts facts;
  facts.microbatch_blocks = 10;
  return facts;
}

TEST(FlushPolicyTest, AFullMicrobatchBelowTheLimitsKeepsTheUnitOpen) {
  FlushPolicy policy(Limits(), /*streaming=*/true);
  EXPECT_EQ(policy.AtWatermark(Full()), FlushReason::kNone);
  EXPECT_EQ(ToString(FlushReason::kNone), "");
}

TEST(FlushPolicyTest, EachReasonInItsOrder) {
  FlushPolicy policy(Limits(), true);
  WatermarkFacts facts = Full();
  facts.unit_age = 2s;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kInterval);
  facts.unit_bytes = 1000;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kSize);
  facts.unit_bytes = 0;
  facts.unit_rows = 100;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kSize);
  facts.microbatch_blocks = 1;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kLive);
  facts.reconnected = true;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kReconnect);
  facts.unit_has_undo = true;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kReorg);
  facts.stop_requested = true;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kStop);
}

TEST(FlushPolicyTest, ARewindPointCommitsAsAReorg) {
  FlushPolicy policy(Limits(), true);
  WatermarkFacts facts;
  facts.microbatch_blocks = 0;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kReorg);
}

TEST(FlushPolicyTest, LiveMeansShorterThanTheLongestMicrobatchSeen) {
  FlushPolicy policy(Limits(), true);
  WatermarkFacts facts = Full();
  facts.microbatch_blocks = 20;  // longer than the configured full size: not live
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kNone);
  facts.microbatch_blocks = 10;  // now shorter than the longest seen
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kLive);
}

TEST(FlushPolicyTest, ABatchLoadCommitsAtItsOneWatermarkAndNeverIdles) {
  FlushPolicy policy(Limits(), /*streaming=*/false);
  WatermarkFacts facts = Full();
  facts.stop_requested = true;
  EXPECT_EQ(policy.AtWatermark(facts), FlushReason::kBatch);
  EXPECT_FALSE(policy.IdleWait().has_value());
}

TEST(FlushPolicyTest, IdleWaitIsCappedByTheInterval) {
  EXPECT_EQ(FlushPolicy(Limits(), true).IdleWait(), std::chrono::steady_clock::duration(200ms));
  FlushLimits quick = Limits();
  quick.max_age = 50ms;
  EXPECT_EQ(FlushPolicy(quick, true).IdleWait(), std::chrono::steady_clock::duration(50ms));
}

TEST(FlushPolicyTest, SizeByRowsOrBytes) {
  FlushPolicy policy(Limits(), true);
  EXPECT_FALSE(policy.ReachedSize(99, 999));
  EXPECT_TRUE(policy.ReachedSize(100));
  EXPECT_TRUE(policy.ReachedSize(0, 1000));
}

TEST(FlushPolicyTest, LimitsFromLoadOptions) {
  LoadOptions options;
  options.batch_size = 7;
  options.flush_bytes = 8;
  options.flush_interval = 9ms;
  options.server_microbatch_blocks = 10;
  const FlushLimits limits = FlushLimits::From(options);
  EXPECT_EQ(limits.max_rows, 7);
  EXPECT_EQ(limits.max_bytes, 8);
  EXPECT_EQ(limits.max_age, std::chrono::steady_clock::duration(9ms));
  EXPECT_EQ(limits.full_microbatch_blocks, 10u);
}

}  // namespace
}  // namespace amp::load
