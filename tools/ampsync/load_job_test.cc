#include "load_job.h"

#include <gtest/gtest.h>

#include "exit_codes.h"

namespace amp::cli {
namespace {

std::string Infer(const std::string& sql) {
  auto r = InferSourceTable(sql);
  return r.ok() ? *r : "ERROR: " + r.status().message();
}

TEST(InferSourceTableTest, FindsTheSingleQualifiedTable) {
  EXPECT_EQ(Infer("SELECT * FROM eth_firehose.blocks"), "eth_firehose.blocks");
  EXPECT_EQ(Infer("select block_num, hash\nfrom\teth_firehose.logs where topic0 = 'FROM x.y'"),
            "eth_firehose.logs");
  EXPECT_EQ(Infer("SELECT * FROM \"_/eth_firehose@1.0.0\".transactions AS t WHERE t.value > 0"),
            "\"_/eth_firehose@1.0.0\".transactions");
  EXPECT_EQ(Infer("SELECT * FROM eth_firehose.blocks b -- FROM other.t\nWHERE b.block_num > 3 "
                  "SETTINGS stream = true"),
            "eth_firehose.blocks");
  // FROM inside parentheses (a subquery in WHERE, EXTRACT) is not the top level.
  EXPECT_EQ(Infer("SELECT * FROM eth_firehose.logs WHERE block_num IN (SELECT block_num FROM "
                  "eth_firehose.blocks WHERE gas_used > 0)"),
            "eth_firehose.logs");
  // A UNION of the same table is still one table.
  EXPECT_EQ(Infer("SELECT * FROM eth_firehose.logs WHERE log_index = 0 UNION ALL SELECT * FROM "
                  "eth_firehose.logs WHERE log_index = 1"),
            "eth_firehose.logs");
}

TEST(InferSourceTableTest, RefusesWhatASimpleScanCannotTell) {
  EXPECT_NE(Infer("SELECT * FROM (SELECT * FROM eth_firehose.blocks) AS s").find("subquery"), std::string::npos);
  EXPECT_NE(Infer("SELECT * FROM blocks").find("not a dataset-qualified"), std::string::npos);
  EXPECT_NE(Infer("WITH x AS (SELECT * FROM eth_firehose.logs) SELECT * FROM x").find("not a dataset-qualified"),
            std::string::npos);
  EXPECT_NE(Infer("SELECT * FROM eth_firehose.blocks b JOIN eth_firehose.logs l ON b.block_num = l.block_num")
                .find("more than one table"),
            std::string::npos);
  EXPECT_NE(Infer("SELECT * FROM eth_firehose.blocks, eth_firehose.logs").find("more than one table"),
            std::string::npos);
  EXPECT_NE(Infer("SELECT * FROM eth_firehose.blocks UNION SELECT * FROM eth_firehose.logs").find("more than one"),
            std::string::npos);
  EXPECT_NE(Infer("SELECT 1").find("no top-level FROM"), std::string::npos);
  EXPECT_NE(Infer("SELECT 'x FROM eth_firehose.blocks").find("unterminated"), std::string::npos);
}

TEST(FlagNameTest, MapsFieldsToFlags) {
  EXPECT_EQ(FlagName("workers"), "--workers");
  EXPECT_EQ(FlagName("to_block"), "--to-block");
  EXPECT_EQ(FlagName("source_table"), "--source-table");
  EXPECT_EQ(FlagName("key_columns"), "--key");
  EXPECT_EQ(FlagName("connection"), "--to");
}

LoadJob Parallel() {
  LoadJob job;
  job.query = "SELECT * FROM eth_firehose.blocks";
  job.table = "blocks";
  job.parallel = ParallelJob{.workers = 4};
  return job;
}

std::string Error(const LoadJob& job) {
  auto r = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  if (r.ok()) return "OK";
  EXPECT_EQ(ExitCodeFor(r.status()), kExitUsage) << r.status().ToString();
  return r.status().message();
}

TEST(BuildLoadOptionsTest, MapsTheParallelFlags) {
  LoadJob job = Parallel();
  job.parallel->from_block = 100;
  job.parallel->to_block = 199;  // the last block, inclusive
  job.parallel->partition_size = 25;
  job.parallel->reorg_buffer = 50;
  job.parallel->stop_on_error = true;
  job.batch_size = 500;
  auto r = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->parallel.has_value());
  const ParallelConfig& c = *r->parallel;
  EXPECT_EQ(c.num_workers, 4);
  EXPECT_EQ(c.table_name, "eth_firehose.blocks");  // inferred from the query
  EXPECT_EQ(c.block_column, "block_num");
  EXPECT_EQ(c.min_block, 100u);
  EXPECT_EQ(c.max_block, 200u);  // exclusive end = last + 1
  EXPECT_EQ(c.partition_size, 25u);
  EXPECT_EQ(c.reorg_buffer, 50u);
  EXPECT_TRUE(c.stop_on_error);
  EXPECT_EQ(c.batch_size, 500);
  EXPECT_EQ(r->batch_size, 500);
}

TEST(BuildLoadOptionsTest, LatestIsHybrid) {
  LoadJob job = Parallel();
  job.block_column = "_block_num";
  job.parallel->source_table = "eth_firehose.transactions";
  auto r = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->parallel->max_block.has_value());
  EXPECT_EQ(r->parallel->min_block, 0u);
  EXPECT_EQ(r->parallel->table_name, "eth_firehose.transactions");
  EXPECT_EQ(r->parallel->block_column, "_block_num");
  EXPECT_EQ(r->parallel->reorg_buffer, 200u);  // the library default
}

TEST(BuildLoadOptionsTest, ValidationErrorsNameTheFlag) {
  LoadJob job = Parallel();
  job.parallel->workers = 0;
  EXPECT_NE(Error(job).find("--workers"), std::string::npos);
  job = Parallel();
  job.parallel->workers = 257;
  EXPECT_NE(Error(job).find("--workers"), std::string::npos);
  job = Parallel();
  job.parallel->from_block = 10;
  job.parallel->to_block = 9;
  EXPECT_NE(Error(job).find("--to-block"), std::string::npos);
  job.parallel->to_block = 10;  // a single block is fine
  EXPECT_EQ(Error(job), "OK");
  job = Parallel();
  job.parallel->to_block = UINT64_MAX;
  EXPECT_NE(Error(job).find("--to-block"), std::string::npos);
  job = Parallel();
  job.parallel->partition_size = 0;
  EXPECT_NE(Error(job).find("--partition-size"), std::string::npos);
  job = Parallel();
  job.query = "SELECT * FROM (SELECT * FROM eth_firehose.blocks) s";
  const std::string e = Error(job);
  EXPECT_NE(e.find("--source-table"), std::string::npos) << e;
  EXPECT_NE(e.find("subquery"), std::string::npos) << e;
  job = Parallel();
  job.parallel->source_table = "eth_firehose.blocks; DROP TABLE x";  // ParallelConfig::Validate
  EXPECT_EQ(Error(job).rfind("--source-table: ParallelConfig.table_name", 0), 0u) << Error(job);
  job = Parallel();
  job.block_column = "";
  EXPECT_NE(Error(job).find("--block-column"), std::string::npos);
  job = Parallel();
  job.batch_size = 0;
  EXPECT_NE(Error(job).find("--batch-size"), std::string::npos);
  job = Parallel();
  job.mode = "merge";
  EXPECT_NE(Error(job).find("--mode"), std::string::npos);
  job = Parallel();
  job.mode = "upsert";
  EXPECT_NE(Error(job).find("--key"), std::string::npos);
  job = Parallel();
  job.parallel.reset();
  job.dry_run = true;
  EXPECT_NE(Error(job).find("--dry-run"), std::string::npos);
}

TEST(BuildLoadOptionsTest, SequentialLoadsAreUnchanged) {
  LoadJob job;
  job.query = "SELECT * FROM eth_firehose.blocks";
  job.table = "blocks";
  job.stream = true;
  auto r = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->parallel.has_value());
  EXPECT_EQ(r->stream, true);
  EXPECT_EQ(r->batch_size, LoadOptions{}.batch_size);
  EXPECT_EQ(r->retention_blocks, LoadOptions{}.retention_blocks);
  EXPECT_FALSE(r->wait_for_data.has_value());  // forever
}

TEST(BuildLoadOptionsTest, RetentionAndWaitForData) {
  LoadJob job;
  job.query = "SELECT * FROM eth_firehose.blocks";
  job.table = "blocks";
  job.stream = true;
  job.retention_blocks = 5;
  job.wait_for_data = 30;
  auto r = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->retention_blocks, 5u);
  ASSERT_TRUE(r->wait_for_data.has_value());
  EXPECT_EQ(*r->wait_for_data, std::chrono::seconds(30));
  // A batch load never waits for data: the option is a usage error naming it.
  job.stream = false;
  auto batch = BuildLoadOptions(job, [](std::string_view f) { return FlagName(f); });
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(ExitCodeFor(batch.status()), kExitUsage);
  EXPECT_NE(batch.status().message().find("--wait-for-data"), std::string::npos);
  EXPECT_EQ(FlagName("retention_blocks"), "--retention-blocks");
}

}  // namespace
}  // namespace amp::cli
