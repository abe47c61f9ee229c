// ParallelConfig validation (each error names the field and value) and the --dry-run text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amp/parallel.h"

namespace amp {
namespace {

using ::testing::HasSubstr;

ParallelConfig Valid() {
  ParallelConfig c;
  c.num_workers = 4;
  c.table_name = "eth_firehose.blocks";
  c.min_block = 0;
  c.max_block = 1000;
  return c;
}

std::string ErrorOf(const ParallelConfig& c) {
  Status st = c.Validate();
  EXPECT_TRUE(st.IsInvalid()) << st.ToString();
  return st.message();
}

TEST(ParallelConfig, TheOffendingFieldIsNamedAsData) {
  ParallelConfig c = Valid();
  c.num_workers = 0;
  std::string field;
  EXPECT_TRUE(c.Validate(&field).IsInvalid());
  EXPECT_EQ(field, "num_workers");
  c = Valid();
  c.retry = RetryOptions{};
  c.retry->jitter = 2;
  EXPECT_TRUE(c.Validate(&field).IsInvalid());
  EXPECT_EQ(field, "retry.jitter");
}

TEST(ParallelConfig, DefaultsWithTableAreValid) {
  ParallelConfig c;
  c.table_name = "eth_firehose.logs";
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_EQ(c.block_column, "block_num");
  EXPECT_EQ(c.reorg_buffer, 200u);
  EXPECT_EQ(c.batch_size, 10'000);
  EXPECT_TRUE(Valid().Validate().ok());
}

TEST(ParallelConfig, NumWorkers) {
  for (int bad : {0, -1, 257}) {
    ParallelConfig c = Valid();
    c.num_workers = bad;
    EXPECT_EQ(ErrorOf(c), "ParallelConfig.num_workers = " + std::to_string(bad) +
                              ": must be between 1 and 256");
  }
  for (int good : {1, 256}) {
    ParallelConfig c = Valid();
    c.num_workers = good;
    EXPECT_TRUE(c.Validate().ok());
  }
}

TEST(ParallelConfig, TableAndColumn) {
  ParallelConfig c = Valid();
  c.table_name = "";
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.table_name = '': is required"));
  c = Valid();
  c.table_name = "t; DROP TABLE x";
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.table_name = 't; DROP TABLE x'"));
  c = Valid();
  c.block_column = "";
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.block_column = '': is required"));
  c = Valid();
  c.blocks_table = "a;b";
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.blocks_table = 'a;b'"));
}

TEST(ParallelConfig, Range) {
  ParallelConfig c = Valid();
  c.min_block = 1000;
  c.max_block = 1000;
  EXPECT_EQ(ErrorOf(c),
            "ParallelConfig.max_block = 1000: must be greater than min_block (1000): the range "
            "[min_block, max_block) would be empty");
  c.min_block = 2000;
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.max_block = 1000"));
  c.min_block.reset();
  c.max_block = 0;
  EXPECT_THAT(ErrorOf(c), HasSubstr("min_block (0)"));
  c.max_block = 1;
  EXPECT_TRUE(c.Validate().ok());
  c.max_block.reset();  // hybrid: any min_block
  c.min_block = 5'000'000;
  EXPECT_TRUE(c.Validate().ok());
}

TEST(ParallelConfig, SizesAndBuffer) {
  ParallelConfig c = Valid();
  c.partition_size = 0;
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.partition_size = 0: must be at least 1"));
  c.partition_size = 1;
  EXPECT_TRUE(c.Validate().ok());
  c = Valid();
  c.batch_size = 0;
  EXPECT_EQ(ErrorOf(c), "ParallelConfig.batch_size = 0: must be at least 1 row");
  c.batch_size = -5;
  EXPECT_THAT(ErrorOf(c), HasSubstr("batch_size = -5"));
  c = Valid();
  c.reorg_buffer = 1'000'001;
  EXPECT_EQ(ErrorOf(c), "ParallelConfig.reorg_buffer = 1000001: must be at most 1000000 blocks");
  c.reorg_buffer = 1'000'000;
  EXPECT_TRUE(c.Validate().ok());
  c.reorg_buffer = 0;
  EXPECT_TRUE(c.Validate().ok());
}

TEST(ParallelConfig, Retry) {
  ParallelConfig c = Valid();
  c.retry = RetryOptions{};
  EXPECT_TRUE(c.Validate().ok());
  c.retry->max_attempts = 0;
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.retry.max_attempts = 0"));
  c.retry = RetryOptions{};
  c.retry->initial_backoff = std::chrono::milliseconds(-1);
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.retry.initial_backoff = -1ms"));
  c.retry = RetryOptions{};
  c.retry->initial_backoff = std::chrono::milliseconds(500);
  c.retry->max_backoff = std::chrono::milliseconds(100);
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.retry.max_backoff = 100ms: must be at least "
                                    "retry.initial_backoff (500ms)"));
  c.retry = RetryOptions{};
  c.retry->multiplier = 0.5;
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.retry.multiplier = 0.5: must be a finite number >= 1"));
  c.retry = RetryOptions{};
  c.retry->jitter = 1.5;
  EXPECT_THAT(ErrorOf(c), HasSubstr("ParallelConfig.retry.jitter = 1.5: must be in [0, 1]"));
}

TEST(ParallelPlan, HistoricalToString) {
  ParallelPlan plan;
  plan.job_id = "abc123";
  plan.min_block = 0;
  plan.max_block = 100;
  plan.num_workers = 2;
  plan.already_loaded = {{0, 10}};
  plan.partitions = {{0, 10, 55, "SELECT 1\nFROM x"}, {1, 55, 100, "SELECT 2"}};
  EXPECT_EQ(plan.ToString(),
            "Parallel load plan (job abc123)\n"
            "  mode:            historical backfill (ends at max_block)\n"
            "  range:           blocks [0, 100), 100 blocks\n"
            "  workers:         2\n"
            "  already loaded:  10 blocks in 1 interval (skipped)\n"
            "                     [0, 10)  10 blocks\n"
            "  to load:         90 blocks in 2 partitions\n"
            "\n"
            "Partitions (workers take them in this order from a shared queue):\n"
            "  #0  blocks [10, 55)  45 blocks\n"
            "  #1  blocks [55, 100)  45 blocks\n"
            "\n"
            "Partition queries:\n"
            "\n"
            "-- partition #0, blocks [10, 55)\n"
            "SELECT 1\n"
            "FROM x;\n"
            "\n"
            "-- partition #1, blocks [55, 100)\n"
            "SELECT 2;\n");
}

TEST(ParallelPlan, HybridToString) {
  ParallelPlan plan;
  plan.job_id = "j";
  plan.hybrid = true;
  plan.min_block = 0;
  plan.max_block = 1001;
  plan.network = "devnet";
  BlockHash h;
  h.bytes[31] = 0xab;
  plan.head = NetworkCursor{1000, h};
  plan.handoff = NetworkCursor{800, BlockHash{}};
  plan.live_query = "SELECT * FROM eth_firehose.blocks";
  plan.num_workers = 1;
  plan.partitions = {{0, 0, 1001, "Q"}};
  std::string text = plan.ToString();
  EXPECT_THAT(text, HasSubstr("  mode:            hybrid: parallel catch-up to the head, then "
                              "live streaming\n"));
  EXPECT_THAT(text, HasSubstr("  range:           blocks [0, 1001), 1001 blocks (up to and "
                              "including the head)\n"));
  EXPECT_THAT(text, HasSubstr("  network:         devnet\n"));
  EXPECT_THAT(text, HasSubstr("  head:            block 1000 (hash 0x" + std::string(62, '0') +
                              "ab)\n"));
  EXPECT_THAT(text, HasSubstr("  hand-off:        the live stream resumes after block 800 (hash "
                              "unknown), 200 blocks before the head;\n                   the "
                              "live stream replaces the rows the workers load after it\n"));
  EXPECT_THAT(text, HasSubstr("  already loaded:  none\n"));
  EXPECT_THAT(text, HasSubstr("  #0  blocks [0, 1001)  1001 blocks\n"));
  EXPECT_THAT(text, HasSubstr("Live query (streaming via the amp-stream header, amp-resume "
                              "after block 800):\n\nSELECT * FROM eth_firehose.blocks;\n"));
  plan.live_query = "SELECT * FROM t -- mine";
  EXPECT_THAT(plan.ToString(), HasSubstr("\nSELECT * FROM t -- mine\n;\n"));
  plan.live_checkpoint_exists = true;
  EXPECT_THAT(plan.ToString(), HasSubstr("hand-off:        already done by an earlier run"));
  EXPECT_THAT(plan.ToString(), HasSubstr("resuming from its checkpoint"));
}

TEST(ParallelPlan, NothingToLoad) {
  ParallelPlan plan;
  plan.min_block = 0;
  plan.max_block = 10;
  plan.num_workers = 4;
  plan.already_loaded = {{0, 10}};
  std::string text = plan.ToString();
  EXPECT_THAT(text, HasSubstr("to load:         0 blocks in 0 partitions\n"));
  EXPECT_EQ(text.find("Partitions"), std::string::npos);
}

}  // namespace
}  // namespace amp
