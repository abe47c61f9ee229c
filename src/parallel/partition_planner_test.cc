// Partition planning: coverage, no overlap, boundaries, gaps and overflow near UINT64_MAX.
#include "parallel/partition_planner.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace amp::parallel {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::vector<BlockSpan> Spans(const std::vector<PartitionPlan>& parts) {
  std::vector<BlockSpan> out;
  for (const auto& p : parts) out.push_back({p.start, p.end});
  return out;
}

// Partitions are consecutive ids, non-empty, sorted, disjoint, at most `size` long, and
// exactly cover `gaps` without spanning two of them.
void ExpectExactCover(const std::vector<PartitionPlan>& parts, const std::vector<BlockSpan>& gaps,
                      uint64_t size) {
  size_t g = 0;
  BlockNumber expected_start = gaps.empty() ? 0 : gaps[0].start;
  for (size_t i = 0; i < parts.size(); ++i) {
    const PartitionPlan& p = parts[i];
    EXPECT_EQ(p.partition_id, static_cast<int>(i));
    EXPECT_TRUE(p.query.empty());
    ASSERT_LT(p.start, p.end);
    EXPECT_LE(p.end - p.start, size);
    ASSERT_LT(g, gaps.size());
    EXPECT_EQ(p.start, expected_start) << "partition " << i;
    ASSERT_LE(p.end, gaps[g].end) << "partition " << i << " spans past its gap";
    if (p.end == gaps[g].end) {
      ++g;
      if (g < gaps.size()) expected_start = gaps[g].start;
    } else {
      expected_start = p.end;
    }
  }
  EXPECT_EQ(g, gaps.size()) << "gaps not fully covered";
}

TEST(PartitionPlanner, NormalizeMergesOverlappingAndAdjacent) {
  EXPECT_EQ(Normalize({{10, 20}, {0, 5}, {5, 7}, {15, 30}, {40, 40}, {50, 45}, {29, 31}}),
            (std::vector<BlockSpan>{{0, 7}, {10, 31}}));
  EXPECT_EQ(Normalize({}), std::vector<BlockSpan>{});
  EXPECT_EQ(Normalize({{3, 4}, {4, 5}}), (std::vector<BlockSpan>{{3, 5}}));
  EXPECT_EQ(Normalize({{3, 4}, {5, 6}}), (std::vector<BlockSpan>{{3, 4}, {5, 6}}));
  EXPECT_EQ(Normalize({{0, kMax}, {kMax - 1, kMax}}), (std::vector<BlockSpan>{{0, kMax}}));
}

TEST(PartitionPlanner, SubtractLeavesTheGaps) {
  EXPECT_EQ(Subtract({0, 100}, {}), (std::vector<BlockSpan>{{0, 100}}));
  EXPECT_EQ(Subtract({0, 100}, {{0, 100}}), std::vector<BlockSpan>{});
  EXPECT_EQ(Subtract({0, 100}, {{10, 20}, {30, 40}}),
            (std::vector<BlockSpan>{{0, 10}, {20, 30}, {40, 100}}));
  // Done spans sticking out of the range, unsorted, overlapping.
  EXPECT_EQ(Subtract({10, 50}, {{45, 60}, {0, 12}, {20, 25}, {22, 30}}),
            (std::vector<BlockSpan>{{12, 20}, {30, 45}}));
  // Boundaries: done [0, 1) leaves [1, 100); done [99, 100) leaves [0, 99).
  EXPECT_EQ(Subtract({0, 100}, {{0, 1}}), (std::vector<BlockSpan>{{1, 100}}));
  EXPECT_EQ(Subtract({0, 100}, {{99, 100}}), (std::vector<BlockSpan>{{0, 99}}));
  EXPECT_EQ(Subtract({0, 100}, {{100, 200}}), (std::vector<BlockSpan>{{0, 100}}));
  EXPECT_EQ(Subtract({5, 5}, {}), std::vector<BlockSpan>{});
  EXPECT_EQ(Subtract({kMax - 10, kMax}, {{kMax - 5, kMax}}),
            (std::vector<BlockSpan>{{kMax - 10, kMax - 5}}));
}

TEST(PartitionPlanner, SeedDefaultIsCeilTotalOverWorkers) {
  // The seed's example: [0, 1,000,000) with 4 workers -> 4 x 250,000.
  auto parts = PlanPartitions({{0, 1'000'000}}, 4, std::nullopt);
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(Spans(parts), (std::vector<BlockSpan>{
                              {0, 250'000}, {250'000, 500'000}, {500'000, 750'000},
                              {750'000, 1'000'000}}));
  // Uneven: 10 blocks, 3 workers -> size 4: [0,4) [4,8) [8,10).
  EXPECT_EQ(Spans(PlanPartitions({{0, 10}}, 3, std::nullopt)),
            (std::vector<BlockSpan>{{0, 4}, {4, 8}, {8, 10}}));
  // Fewer blocks than workers: one block each.
  EXPECT_EQ(Spans(PlanPartitions({{7, 9}}, 8, std::nullopt)),
            (std::vector<BlockSpan>{{7, 8}, {8, 9}}));
  EXPECT_TRUE(PlanPartitions({}, 4, std::nullopt).empty());
  EXPECT_TRUE(PlanPartitions({{3, 3}}, 4, std::nullopt).empty());
}

TEST(PartitionPlanner, PartitionSize) {
  // The seed: 10M blocks, 100k per partition -> 100 partitions.
  auto parts = PlanPartitions({{0, 10'000'000}}, 8, 100'000);
  ASSERT_EQ(parts.size(), 100u);
  ExpectExactCover(parts, {{0, 10'000'000}}, 100'000);
  EXPECT_EQ(parts.back().start, 9'900'000u);
  EXPECT_EQ(parts.back().end, 10'000'000u);
  // Last partition shorter; boundaries exact.
  EXPECT_EQ(Spans(PlanPartitions({{5, 16}}, 2, 5)),
            (std::vector<BlockSpan>{{5, 10}, {10, 15}, {15, 16}}));
  EXPECT_EQ(Spans(PlanPartitions({{0, 3}}, 2, 1)),
            (std::vector<BlockSpan>{{0, 1}, {1, 2}, {2, 3}}));
}

TEST(PartitionPlanner, NeverSpansGaps) {
  std::vector<BlockSpan> gaps = Subtract({0, 100}, {{10, 20}, {50, 95}});
  ASSERT_EQ(gaps, (std::vector<BlockSpan>{{0, 10}, {20, 50}, {95, 100}}));
  // Default: total 45 blocks / 2 workers -> size 23, cut per gap.
  auto parts = PlanPartitions(gaps, 2, std::nullopt);
  EXPECT_EQ(Spans(parts), (std::vector<BlockSpan>{{0, 10}, {20, 43}, {43, 50}, {95, 100}}));
  ExpectExactCover(parts, gaps, 23);
  auto sized = PlanPartitions(gaps, 2, 8);
  EXPECT_EQ(Spans(sized), (std::vector<BlockSpan>{
                              {0, 8}, {8, 10}, {20, 28}, {28, 36}, {36, 44}, {44, 50}, {95, 100}}));
}

TEST(PartitionPlanner, RandomizedExactCoverage) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    BlockNumber start = rng() % 1000;
    BlockNumber end = start + rng() % 2000;
    std::vector<BlockSpan> done;
    for (int k = rng() % 6; k > 0; --k) {
      BlockNumber s = rng() % 3000;
      done.push_back({s, s + rng() % 300});
    }
    auto gaps = Subtract({start, end}, done);
    // Every block of the range is in exactly one of gaps / done.
    std::vector<BlockSpan> norm = Normalize(done);
    for (BlockNumber b = start; b < end; ++b) {
      int in_gap = 0, in_done = 0;
      for (const auto& g : gaps) in_gap += (b >= g.start && b < g.end);
      for (const auto& d : norm) in_done += (b >= d.start && b < d.end);
      ASSERT_EQ(in_gap + in_done, 1) << "block " << b << " round " << round;
    }
    int workers = 1 + static_cast<int>(rng() % 16);
    std::optional<uint64_t> size;
    if (rng() % 2) size = 1 + rng() % 200;
    auto parts = PlanPartitions(gaps, workers, size);
    uint64_t total = 0;
    for (const auto& g : gaps) total += g.size();
    uint64_t expect_size = size ? *size : (total + workers - 1) / workers;
    ExpectExactCover(parts, gaps, std::max<uint64_t>(expect_size, 1));
    EXPECT_EQ(CountPartitions(gaps, workers, size), parts.size());
  }
}

TEST(PartitionPlanner, HugeRangesDoNotOverflow) {
  // The whole uint64 range with 3 workers: ceil((2^64 - 1) / 3) = 6148914691236517205.
  auto parts = PlanPartitions({{0, kMax}}, 3, std::nullopt);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].end, 6148914691236517205ull);
  EXPECT_EQ(parts[2].end, kMax);
  ExpectExactCover(parts, {{0, kMax}}, 6148914691236517205ull);
  // A partition size larger than what is left near the top.
  auto top = PlanPartitions({{kMax - 10, kMax}}, 4, kMax);
  EXPECT_EQ(Spans(top), (std::vector<BlockSpan>{{kMax - 10, kMax}}));
  auto top4 = PlanPartitions({{kMax - 10, kMax}}, 4, std::nullopt);
  EXPECT_EQ(Spans(top4), (std::vector<BlockSpan>{{kMax - 10, kMax - 7},
                                                 {kMax - 7, kMax - 4},
                                                 {kMax - 4, kMax - 1},
                                                 {kMax - 1, kMax}}));
  auto sized = PlanPartitions({{kMax - 5, kMax}}, 1, 2);
  EXPECT_EQ(Spans(sized), (std::vector<BlockSpan>{{kMax - 5, kMax - 3}, {kMax - 3, kMax - 1},
                                                  {kMax - 1, kMax}}));
}

TEST(PartitionPlanner, CountPartitionsWithoutBuildingThem) {
  EXPECT_EQ(CountPartitions({}, 4, std::nullopt), 0u);
  EXPECT_EQ(CountPartitions({{0, 10}}, 3, std::nullopt), 3u);
  EXPECT_EQ(CountPartitions({{0, 10}, {20, 21}}, 1, 4), 4u);  // [0,4) [4,8) [8,10) [20,21)
  EXPECT_EQ(CountPartitions({{0, kMax}}, 1, 1), kMax);
  EXPECT_EQ(CountPartitions({{0, kMax}}, 256, std::nullopt), 256u);
}

}  // namespace
}  // namespace amp::parallel
