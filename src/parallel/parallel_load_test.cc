// Parallel loads end to end: session.sql(q).load(..., {.parallel = ...}) from an in-process
// devnet into the memory loader. Every test compares the destination with the devnet's
// oracle (DevnetServer::CanonicalRows) row by row, sorted by (block, log index), so the
// order in which workers committed does not matter but every missing, duplicate or stale
// row does.
#include "common/testing/status_matchers.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "amp/client.h"
#include "amp/devnet.h"
#include "amp/load.h"
#include "amp/parallel.h"
#include "loaders/memory/memory_loader.h"
#include "parallel/partition_planner.h"
#include "common/testing/table_equality.h"
#include "facade/testing/devnet_memory_fixture.h"
#include "facade/testing/drain_results.h"

namespace amp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr char kLogs[] = "SELECT * FROM eth_firehose.logs";

// Sorts a table by (block_num, log_index) when it has them.
std::shared_ptr<arrow::Table> Sorted(const std::shared_ptr<arrow::Table>& table) {
  std::vector<arrow::compute::SortKey> keys;
  for (const char* name : {"block_num", "log_index", "tx_index"}) {
    if (table->schema()->GetFieldIndex(name) >= 0) keys.emplace_back(name);
  }
  auto indices = arrow::compute::SortIndices(arrow::Datum(table),
                                             arrow::compute::SortOptions(keys)).ValueOrDie();
  return arrow::compute::Take(table, indices).ValueOrDie().table()->CombineChunks().ValueOrDie();
}

class ParallelLoadTest : public testing::DevnetMemoryTest {
 protected:
  static DevnetOptions StaticChain(uint64_t history) {
    DevnetOptions o;
    o.port = 0;
    o.history = history;
    o.block_time_ms = 0;
    o.txs_per_block = 2;
    o.logs_per_block = 3;
    o.microbatch_blocks = 50;
    o.keep_alive = 60'000ms;
    return o;
  }

  static ParallelConfig Config(int workers, std::optional<BlockNumber> min,
                               std::optional<BlockNumber> max) {
    return ParallelConfig{
        .num_workers = workers,
        .table_name = "eth_firehose.logs",
        .min_block = min,
        .max_block = max,
        .batch_size = 200,
        .retry = RetryOptions{.max_attempts = 3, .initial_backoff = 2ms, .max_backoff = 10ms}};
  }

  static LoadOptions Options(ParallelConfig config) {
    LoadOptions o;
    o.stream = true;
    o.parallel = std::move(config);
    o.retry.initial_backoff = 2ms;
    o.retry.max_backoff = 20ms;
    o.retry.max_attempts = 20;
    return o;
  }

  Result<LoadResults> Load(const std::string& query, LoadOptions options) {
    return session_->sql(query).load("dest", "logs", options);
  }

  /// Runs a load to its end into `all`: the load and every one of its results succeed.
  void LoadToEnd(const std::string& query, const LoadOptions& options, std::vector<LoadResult>& all) {
    ASSERT_OK_AND_ASSIGN(auto results, Load(query, options));
    all = testing::DrainResults(results);
    ASSERT_OK(results.status());
    for (const auto& r : all) ASSERT_TRUE(r.success) << r.error;
  }

  /// The destination's rows of blocks [start, end] equal the chain's, row for row.
  void ExpectTableEquals(BlockNumber start, BlockNumber end, const std::string& table = "logs") {
    auto actual = store_->ReadTable(table);
    ASSERT_TRUE(actual.ok()) << actual.status().ToString();
    auto rows = server_->CanonicalRows(table, start, end);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    auto expected = arrow::Table::FromRecordBatches({*rows}).ValueOrDie();
    // The oracle's `_block_num` is not part of `SELECT *` of the devnet's tables.
    if (expected->schema()->GetFieldIndex("_block_num") >= 0 &&
        (*actual)->schema()->GetFieldIndex("_block_num") < 0) {
      expected = expected->RemoveColumn(expected->schema()->GetFieldIndex("_block_num")).ValueOrDie();
    }
    ExpectSameTable(*Sorted(*actual), *Sorted(expected));
  }

};

TEST_F(ParallelLoadTest, HistoricalLoadEqualsTheChainWithOneResultPerPartition) {
  Start(StaticChain(2000));
  ParallelConfig config = Config(4, 100, 1900);
  config.partition_size = 300;
  ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
  auto all = testing::DrainResults(results);
  ASSERT_OK(results.status());
  ASSERT_EQ(all.size(), 6u);  // [100,1900) in 300-block partitions
  std::set<std::string> ranges;
  int64_t rows = 0;
  for (const auto& r : all) {
    ASSERT_TRUE(r.success) << r.error;
    EXPECT_EQ(r.metadata.at("parallel_phase"), "backfill");
    EXPECT_TRUE(r.metadata.count("worker"));
    EXPECT_GE(std::stoi(r.metadata.at("commits")), 4) << "300 blocks x 3 logs in 200-row commits";
    EXPECT_EQ(r.rows_loaded, 900);
    ranges.insert(r.metadata.at("block_range"));
    rows += r.rows_loaded;
  }
  EXPECT_EQ(ranges, (std::set<std::string>{"[100, 400)", "[400, 700)", "[700, 1000)",
                                           "[1000, 1300)", "[1300, 1600)", "[1600, 1900)"}));
  EXPECT_EQ(rows, 1800 * 3);
  ExpectTableEquals(100, 1899);
}

TEST_F(ParallelLoadTest, DefaultPartitioningSplitsTheRangeByWorkers) {
  Start(StaticChain(1000));
  ASSERT_OK_AND_ASSIGN(auto plan, session_->sql(kLogs).plan_parallel("dest", "logs",
                                                                     Options(Config(3, 0, 1000))));
  ASSERT_EQ(plan.partitions.size(), 3u);
  EXPECT_EQ(plan.partitions[0].start, 0u);
  EXPECT_EQ(plan.partitions[0].end, 334u);
  EXPECT_EQ(plan.partitions[2].end, 1000u);
  EXPECT_THAT(plan.partitions[1].query, HasSubstr("\"block_num\" >= 334"));
  EXPECT_THAT(plan.ToString(), HasSubstr("334"));
  // Planning wrote nothing.
  EXPECT_TRUE(store_->tables().empty());
}

TEST_F(ParallelLoadTest, UserFiltersAndStreamSettingAreWrappedNotSpliced) {
  Start(StaticChain(600));
  // OR without parentheses: splicing "AND block_num >= x" would bind to the second term
  // only and leak rows from outside the partition.
  const std::string query =
      "SELECT block_num, log_index, address FROM eth_firehose.logs "
      "WHERE log_index = 0 OR log_index = 2 SETTINGS stream = true";
  ParallelConfig config = Config(3, 0, 600);
  config.partition_size = 70;
  std::vector<LoadResult> all;
  ASSERT_NO_FATAL_FAILURE(LoadToEnd(query, Options(config), all));
  int64_t rows = 0;
  for (const auto& r : all) rows += r.rows_loaded;
  EXPECT_EQ(rows, 600 * 2);
  auto table = store_->ReadTable("logs");
  ASSERT_OK(table.status());
  auto sorted = Sorted(*table);
  const auto& blocks = static_cast<const arrow::UInt64Array&>(*sorted->GetColumnByName("block_num")->chunk(0));
  const auto& index = static_cast<const arrow::UInt32Array&>(*sorted->GetColumnByName("log_index")->chunk(0));
  for (int64_t i = 0; i < sorted->num_rows(); ++i) {
    ASSERT_EQ(blocks.Value(i), static_cast<uint64_t>(i / 2));
    ASSERT_EQ(index.Value(i), i % 2 == 0 ? 0u : 2u);
  }
}

TEST_F(ParallelLoadTest, EmptySourceCreatesTheTableFromTheSchema) {
  Start(StaticChain(300));
  const std::string query =
      "SELECT block_num, log_index FROM eth_firehose.logs WHERE log_index = 99";
  ASSERT_OK_AND_ASSIGN(auto results, Load(query, Options(Config(2, 0, 300))));
  auto all = testing::DrainResults(results);
  ASSERT_OK(results.status());
  ASSERT_EQ(all.size(), 2u);
  auto table = store_->ReadTable("logs");
  ASSERT_OK(table.status());
  EXPECT_EQ((*table)->num_rows(), 0);
  EXPECT_EQ((*table)->schema()->num_fields(), 2);
}

TEST_F(ParallelLoadTest, FailingPartitionReportsAndOthersContinueThenRerunFillsTheGap) {
  Start(StaticChain(1200));
  // One worker, so the commit order is known: 600 rows per partition in 200-row commits.
  ParallelConfig config = Config(1, 0, 1200);
  config.partition_size = 200;
  // The 5th commit fails fatally (the second chunk of partition 1): partition 1 fails
  // after committing part of its blocks, and the other partitions still load.
  MemoryFault fault = MemoryFault::At(MemoryFault::Call::kCommit, 5);
  fault.error = WithErrorInfo(Status::IOError("disk full"), ErrorClass::kFatal, "test", "FULL");
  store_->InjectFault(fault);
  {
    ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
    auto all = testing::DrainResults(results);
    int failed = 0, ok = 0;
    for (const auto& r : all) {
      if (r.metadata.count("partition_id") == 0) continue;
      r.success ? ++ok : ++failed;
      if (!r.success) {
        EXPECT_THAT(r.error, HasSubstr("disk full"));
      }
    }
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(ok, 5);
    ASSERT_FALSE(all.empty());
    EXPECT_FALSE(all.back().success) << "the last result sums up the failure";
    EXPECT_THAT(all.back().error, HasSubstr("1 of 6 partitions failed"));
    EXPECT_FALSE(results.status().ok());
  }
  // The rerun plans only what is missing: part of one partition.
  ASSERT_OK_AND_ASSIGN(auto plan, session_->sql(kLogs).plan_parallel("dest", "logs", Options(config)));
  ASSERT_EQ(plan.partitions.size(), 1u);
  EXPECT_LT(plan.partitions[0].end - plan.partitions[0].start, 200u);
  EXPECT_FALSE(plan.already_loaded.empty());
  ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
  auto all = testing::DrainResults(results);
  ASSERT_OK(results.status());
  ASSERT_EQ(all.size(), 1u);
  ExpectTableEquals(0, 1199);
}

TEST_F(ParallelLoadTest, StopOnErrorStopsTheOtherWorkers) {
  DevnetOptions options = StaticChain(3000);
  Start(options);
  server_->SetFaults(DevnetFaults{.message_delay = 2ms});
  ParallelConfig config = Config(2, 0, 3000);
  config.partition_size = 100;
  config.stop_on_error = true;
  MemoryFault fault = MemoryFault::At(MemoryFault::Call::kCommit, 2);
  fault.error = WithErrorInfo(Status::IOError("disk full"), ErrorClass::kFatal, "test", "FULL");
  store_->InjectFault(fault);
  ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
  auto all = testing::DrainResults(results);
  EXPECT_FALSE(results.status().ok());
  int partitions = 0;
  for (const auto& r : all) partitions += r.metadata.count("partition_id") ? 1 : 0;
  EXPECT_LT(partitions, 10) << "30 partitions planned; the load must stop early";
  EXPECT_THAT(all.back().error, HasSubstr("stop_on_error"));
}

TEST_F(ParallelLoadTest, RetryableErrorsRestartThePartitionAfterItsLastCommit) {
  Start(StaticChain(800));
  ParallelConfig config = Config(2, 0, 800);
  config.partition_size = 400;
  // Every 4th commit fails retryably (twice), and one fails after applying (ambiguous).
  MemoryFault fault = MemoryFault::At(MemoryFault::Call::kCommit, 4);
  fault.times = 2;
  store_->InjectFault(fault);
  MemoryFault ambiguous = MemoryFault::At(MemoryFault::Call::kCommit, 9);
  ambiguous.after_apply = true;
  store_->InjectFault(ambiguous);
  std::vector<LoadResult> all;
  ASSERT_NO_FATAL_FAILURE(LoadToEnd(kLogs, Options(config), all));
  int retried = 0;
  int64_t rows = 0;
  for (const auto& r : all) {
    retried += std::stoi(r.metadata.at("attempts")) > 1 ? 1 : 0;
    rows += r.rows_loaded;
  }
  EXPECT_GE(retried, 1);
  // The unit whose Commit failed after applying landed: it is counted once, not lost.
  EXPECT_EQ(rows, 800 * 3);
  ExpectTableEquals(0, 799);
}

TEST_F(ParallelLoadTest, ExplicitMinBlockResumesFromThere) {
  Start(StaticChain(1000));
  ASSERT_OK_AND_ASSIGN(auto first, Load(kLogs, Options(Config(2, 0, 500))));
  testing::DrainResults(first);
  ASSERT_OK(first.status());
  ASSERT_OK_AND_ASSIGN(auto second, Load(kLogs, Options(Config(3, 500, 1000))));
  testing::DrainResults(second);
  ASSERT_OK(second.status());
  ExpectTableEquals(0, 999);
  // A third run over everything finds nothing left to do.
  ASSERT_OK_AND_ASSIGN(auto plan, session_->sql(kLogs).plan_parallel("dest", "logs",
                                                                     Options(Config(4, 0, 1000))));
  EXPECT_TRUE(plan.partitions.empty());
}

TEST_F(ParallelLoadTest, StopKeepsCommittedChunksAndARerunCompletes) {
  Start(StaticChain(4000));
  server_->SetFaults(DevnetFaults{.message_delay = 3ms});
  ParallelConfig config = Config(3, 0, 4000);
  config.partition_size = 500;
  {
    ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
    std::this_thread::sleep_for(300ms);
    results.Stop();
    testing::DrainResults(results);
    EXPECT_TRUE(results.status().ok()) << results.status().ToString();
  }
  server_->SetFaults(DevnetFaults{});
  ASSERT_OK_AND_ASSIGN(auto plan, session_->sql(kLogs).plan_parallel("dest", "logs", Options(config)));
  EXPECT_FALSE(plan.already_loaded.empty()) << "some chunks committed before the stop";
  ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
  testing::DrainResults(results);
  ASSERT_OK(results.status());
  ExpectTableEquals(0, 3999);
}

// --- Hybrid mode. ---

class HybridTest : public ParallelLoadTest {
 protected:
  /// Waits until the live stream's checkpoint is the canonical head.
  ::testing::AssertionResult LiveAtHead(const std::string& query, std::chrono::milliseconds timeout = 20s) {
    return CheckpointAtHead(MakeStreamId(query, "logs"), timeout);
  }

  struct Collected {
    std::mutex mu;
    std::vector<LoadResult> all;
  };

  /// A load whose results a thread drains until Stop().
  class Drained {
   public:
    explicit Drained(LoadResults results)
        : results_(std::move(results)), consumer_([this] { testing::DrainResults(results_); }) {}
    void Stop() {
      results_.Stop();
      consumer_.join();
    }

   private:
    LoadResults results_;
    std::thread consumer_;
  };

  /// A devnet of `history` blocks that grows a block every 10 ms until `halt_at`.
  void StartGrowingChain(uint64_t history, BlockNumber halt_at) {
    DevnetOptions options = StaticChain(history);
    options.block_time_ms = 10;
    options.halt_at = halt_at;
    Start(options);
  }

  /// Runs a hybrid load until the chain has reached `halt_at` and the live stream has
  /// committed its head, then stops it.
  void FollowToHalt(const ParallelConfig& config, BlockNumber halt_at) {
    ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
    Drained load(std::move(results));
    WaitForHead(halt_at);
    EXPECT_TRUE(LiveAtHead(kLogs));
    load.Stop();
  }

  /// Waits until the devnet's chain reaches block `block` (or `timeout` passes).
  void WaitForHead(BlockNumber block, std::chrono::milliseconds timeout = 20s) {
    for (auto deadline = Clock::now() + timeout; server_->Head() < block && Clock::now() < deadline;) {
      std::this_thread::sleep_for(10ms);
    }
  }
};

TEST_F(HybridTest, CatchesUpInParallelThenFollowsTheHeadThroughReorgs) {
  DevnetOptions options = StaticChain(1500);
  options.block_time_ms = 15;
  options.halt_at = 1700;
  Start(options);
  // Slow the workers (each partition query waits 250 ms) so that reorgs land during the
  // catch-up: 8 partitions on 3 workers take three rounds.
  server_->SetFaults(DevnetFaults{.message_delay = 1ms, .query_latency = 250ms});
  const auto started = Clock::now();
  ParallelConfig config = Config(3, 0, std::nullopt);
  config.partition_size = 200;
  config.reorg_buffer = 40;
  auto catching_up = std::make_shared<std::atomic<bool>>(false);
  config.on_progress = [catching_up](const ParallelProgress& p) {
    if (p.phase == "catchup" && p.workers_busy > 0) *catching_up = true;
  };
  ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
  Collected collected;
  std::thread consumer([&] {
    for (const LoadResult& r : results) {
      std::lock_guard<std::mutex> lock(collected.mu);
      collected.all.push_back(r);
    }
  });
  // Reorgs during the catch-up: shallow (inside the buffer) and deep (below the hand-off).
  for (auto deadline = Clock::now() + 10s; !*catching_up && Clock::now() < deadline;) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(*catching_up);
  ASSERT_OK(server_->Reorg(5));
  std::this_thread::sleep_for(100ms);
  // Deeper than the reorg buffer: forks below the hand-off block (head at detection ~1550,
  // minus the 40-block buffer), while the chain keeps growing.
  ASSERT_OK(server_->Reorg(static_cast<uint32_t>(server_->Head() - 1450)));
  const auto deep_reorg_at = Clock::now() - started;
  // And after the hand-off, once live results flow.
  bool live = false;
  for (auto deadline = Clock::now() + 20s; !live && Clock::now() < deadline;) {
    std::this_thread::sleep_for(20ms);
    std::lock_guard<std::mutex> lock(collected.mu);
    for (const auto& r : collected.all) {
      auto it = r.metadata.find("parallel_phase");
      if (it != r.metadata.end() && it->second == "live") live = true;
    }
  }
  ASSERT_TRUE(live) << "no live result";
  {
    // The deep reorg happened before the hand-off, and the live stream repaired it: the
    // server rewound below the hand-off block, and the stream undid those blocks.
    std::lock_guard<std::mutex> lock(collected.mu);
    bool repaired = false;
    for (const auto& r : collected.all) {
      auto handoff = r.metadata.find("handoff_block");
      if (r.is_reorg && !r.invalidation_ranges.empty() && handoff != r.metadata.end() &&
          r.invalidation_ranges[0].start <= std::stoull(handoff->second)) {
        repaired = true;
      }
    }
    std::string seen;
    for (const auto& r : collected.all) {
      if (r.metadata.count("handoff_block")) {
        seen += r.ToString() + " handoff=" + r.metadata.at("handoff_block") + " range=" +
                (r.metadata.count("block_range") ? r.metadata.at("block_range") : "") + "\n";
      }
    }
    EXPECT_TRUE(repaired) << seen << "the reorg below the hand-off block (at "
                          << std::chrono::duration<double>(deep_reorg_at).count()
                          << " s) was not undone by the live stream";
  }
  ASSERT_OK(server_->Reorg(3));
  std::this_thread::sleep_for(50ms);
  ASSERT_OK(server_->Reorg(12));
  // Let the chain reach its halt and the stream catch up with it.
  WaitForHead(1700);
  ASSERT_EQ(server_->Head(), 1700u);
  ASSERT_TRUE(LiveAtHead(kLogs));
  results.Stop();
  consumer.join();
  ExpectTableEquals(0, 1700);
  std::lock_guard<std::mutex> lock(collected.mu);
  int partitions = 0;
  for (const auto& r : collected.all) {
    EXPECT_TRUE(r.success) << r.error;
    if (r.metadata.count("partition_id")) {
      ++partitions;
      EXPECT_EQ(r.metadata.at("parallel_phase"), "catchup");
    }
  }
  EXPECT_GE(partitions, 7);
}

TEST_F(HybridTest, RerunAfterTheHandOffResumesTheLiveStream) {
  StartGrowingChain(800, 900);
  ParallelConfig config = Config(2, 0, std::nullopt);
  config.reorg_buffer = 30;
  {
    ASSERT_OK_AND_ASSIGN(auto results, Load(kLogs, Options(config)));
    Drained first(std::move(results));
    WaitForHead(850, 10s);
    first.Stop();
  }
  ASSERT_OK(server_->Reorg(20));
  ASSERT_OK_AND_ASSIGN(auto plan, session_->sql(kLogs).plan_parallel("dest", "logs", Options(config)));
  EXPECT_TRUE(plan.live_checkpoint_exists);
  EXPECT_TRUE(plan.partitions.empty());
  FollowToHalt(config, 900);
  ExpectTableEquals(0, 900);
}

TEST_F(HybridTest, MinBlockNearTheHeadStreamsFromThere) {
  StartGrowingChain(500, 560);
  ParallelConfig config = Config(2, 480, std::nullopt);
  config.reorg_buffer = 50;
  FollowToHalt(config, 560);
  ExpectTableEquals(480, 560);
}

TEST_F(ParallelLoadTest, MaxBlockBeyondTheHeadIsRefusedBeforeWriting) {
  Start(StaticChain(500));
  auto results = Load(kLogs, Options(Config(2, 0, 600)));
  const LoadResult refused = testing::ExpectOnlyAFailedResult(results, "beyond the head");
  EXPECT_THAT(refused.error, HasSubstr("block 499"));
  EXPECT_TRUE(store_->checkpoints().empty());
  EXPECT_TRUE(store_->tables().empty()) << "the destination is left untouched";
}

TEST(ParallelConfigInLoad, InvalidConfigIsReportedByLoad) {
  Session session("grpc://127.0.0.1:1");
  ASSERT_OK(session.configure_connection("m", "memory", {{"name", "parallel_invalid"}}));
  LoadOptions options;
  options.parallel = ParallelConfig{.num_workers = 0, .table_name = "eth_firehose.logs"};
  auto results = session.sql(kLogs).load("m", "t", options);
  ASSERT_FALSE(results.ok());
  EXPECT_THAT(results.status().ToString(), HasSubstr("num_workers"));
}

}  // namespace
}  // namespace amp
