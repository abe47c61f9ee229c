// The load pipeline against the scripted Flight server (exact, deterministic scripts):
// commit cadence and result metadata, reorg results, back-pressure on the results, block
// column detection. (Connections and URIs: src/facade/connections_test.cc.)
#include "load/load_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include <cstdlib>
#include <thread>

#include "amp/load.h"
#include "common/testing/column_values.h"
#include "common/testing/status_matchers.h"
#include "flight/testing/scripted_server_fixture.h"
#include "loaders/memory/memory_loader.h"
#include "facade/testing/drain_results.h"

namespace amp {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace amp::testing;  // the scripted server and its batches and ranges

constexpr char kQuery[] = "SELECT block_num FROM eth_firehose.blocks";

BlockRange R(BlockNumber start, BlockNumber end, int fork = 0, std::optional<int> prev_fork = std::nullopt) {
  return TestRange("mainnet", start, end, fork, prev_fork);
}

std::vector<uint64_t> Blocks(BlockNumber start, BlockNumber end) {
  std::vector<uint64_t> out;
  for (BlockNumber b = start; b <= end; ++b) out.push_back(b);
  return out;
}

// One microbatch: its rows (one per block) and its completion.
void Microbatch(std::vector<ScriptedMessage>& out, const BlockRange& r) {
  out.push_back(ScriptedMessage::Make(BlockNumBatch(Blocks(r.start, r.end)), BatchMetadata{{r}, false}));
  out.push_back(ScriptedMessage::Make(BlockNumBatch({}), BatchMetadata{{r}, true}));
}

ScriptedResponse HeldOpen(std::vector<ScriptedMessage> messages) {
  ScriptedResponse response;
  response.schema = BlockNumSchema();
  response.messages = std::move(messages);
  response.hold_open = true;
  return response;
}

std::vector<uint64_t> StoredBlocks(MemoryStore& store, const std::string& table) {
  return ColumnValues<arrow::UInt64Type>(*ValueOrDie(store.ReadTable(table)), "block_num");
}

class LoadDriverTest : public ScriptedServerTest {
 protected:
  void SetUpWithServer() override {
    session_ = std::make_unique<Session>(server_->url());
    store_name_ = std::string("driver_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    MemoryStore::Drop(store_name_);
    store_ = MemoryStore::Get(store_name_);
    ASSERT_TRUE(session_->configure_connection("mem", "memory://" + store_name_).ok());
  }

  void TearDown() override { MemoryStore::Drop(store_name_); }

  // The load's setup (GetFlightInfo for the schema) and the engine's connection each take
  // a response: the first one is served twice.
  void Script(const ScriptedResponse& first, std::vector<ScriptedResponse> more = {}) {
    std::vector<ScriptedResponse> responses = {first, first};
    for (auto& r : more) responses.push_back(std::move(r));
    server_->ServeInOrder(std::move(responses));
  }

  // A streaming load whose units close by size or at a live (short) microbatch, the
  // server's microbatches being 10 blocks long.
  static LoadOptions CatchUpOptions(int64_t batch_size) {
    LoadOptions options;
    options.stream = true;
    options.batch_size = batch_size;
    options.flush_interval = 1h;
    options.server_microbatch_blocks = 10;
    return options;
  }

  // Reads `n` results (or until the range ends), then stops the load.
  static std::vector<LoadResult> Take(LoadResults& results, size_t n) {
    std::vector<LoadResult> out;
    while (out.size() < n) {
      auto r = results.Next();
      if (!r) break;
      out.push_back(std::move(*r));
    }
    results.Stop();
    while (auto r = results.Next()) out.push_back(std::move(*r));
    return out;
  }

  std::unique_ptr<Session> session_;
  std::string store_name_;
  std::shared_ptr<MemoryStore> store_;
};

TEST_F(LoadDriverTest, CatchUpUnitsSpanMicrobatchesLiveOnesCommitAtOnce) {
  std::vector<ScriptedMessage> messages;
  for (BlockNumber s = 0; s < 40; s += 10) Microbatch(messages, R(s, s + 9));
  Microbatch(messages, R(40, 44));  // shorter than the server's 10: the chain head
  Script(HeldOpen(messages));
  auto results = session_->sql(kQuery).load("mem", "blocks", CatchUpOptions(25));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  auto all = Take(*results, 2);
  ASSERT_EQ(all.size(), 2u);

  EXPECT_TRUE(all[0].success);
  EXPECT_EQ(all[0].rows_loaded, 30);
  EXPECT_EQ(all[0].table_name, "blocks");
  EXPECT_EQ(all[0].loader_type, "memory");
  EXPECT_FALSE(all[0].is_reorg);
  EXPECT_EQ(all[0].metadata.at("operation"), "load");
  EXPECT_EQ(all[0].metadata.at("phase"), "catchup");
  EXPECT_EQ(all[0].metadata.at("block_range"), "mainnet[0..=29]");
  EXPECT_EQ(all[0].metadata.at("microbatches"), "3");
  EXPECT_EQ(all[0].metadata.at("batches"), "3");
  EXPECT_EQ(all[0].metadata.at("transaction_id"), "5");  // D0 W1 D2 W3 D4 W5
  EXPECT_EQ(all[0].metadata.at("mode"), "append");
  EXPECT_EQ(all[0].metadata.at("start_cursor"), "{}");
  EXPECT_EQ(all[0].metadata.at("stream_id"), MakeStreamId(kQuery, "blocks"));
  EXPECT_THAT(all[0].metadata.at("cursor"), HasSubstr("\"number\":29"));

  EXPECT_EQ(all[1].rows_loaded, 15);
  EXPECT_EQ(all[1].metadata.at("phase"), "live");
  EXPECT_EQ(all[1].metadata.at("block_range"), "mainnet[30..=44]");
  EXPECT_EQ(all[1].metadata.at("microbatches"), "2");
  EXPECT_EQ(all[1].ToString().rfind("Loaded 15 rows to blocks in ", 0), 0u) << all[1].ToString();

  EXPECT_EQ(StoredBlocks(*store_, "blocks"), Blocks(0, 44));
  auto cp = store_->checkpoint(MakeStreamId(kQuery, "blocks"));
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->cursor, Cursor::FromRanges({R(40, 44)}));
  EXPECT_EQ(cp->transaction_id, 9u);
  EXPECT_TRUE(results->status().ok());
}

// Two full microbatches and then silence: nothing says the catch-up is over, so only the
// idle window can commit the unit.
TEST_F(LoadDriverTest, UnitEndingAtAWatermarkIsCommittedWhenTheStreamGoesQuiet) {
  std::vector<ScriptedMessage> messages;
  Microbatch(messages, R(0, 9));
  Microbatch(messages, R(10, 19));
  Script(HeldOpen(messages));
  auto results = session_->sql(kQuery).load("mem", "blocks", CatchUpOptions(1000));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  const auto started = std::chrono::steady_clock::now();
  auto first = results->Next();
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(first.has_value());
  EXPECT_LT(waited, 5s);
  EXPECT_TRUE(first->success) << first->error;
  EXPECT_EQ(first->metadata.at("phase"), "idle");
  EXPECT_EQ(first->rows_loaded, 20);
  EXPECT_EQ(first->metadata.at("block_range"), "mainnet[0..=19]");
  EXPECT_EQ(first->metadata.at("microbatches"), "2");
  // Committed while the load still runs.
  EXPECT_EQ(StoredBlocks(*store_, "blocks"), Blocks(0, 19));
  auto cp = store_->checkpoint(MakeStreamId(kQuery, "blocks"));
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->cursor, Cursor::FromRanges({R(10, 19)}));
  results->Stop();
  while (auto r = results->Next()) EXPECT_TRUE(r->success) << r->error;
  EXPECT_TRUE(results->status().ok()) << results->status().ToString();
}

TEST_F(LoadDriverTest, ReorgResultPrecedesItsUnitAndNamesTheInvalidatedBlocks) {
  std::vector<ScriptedMessage> messages;
  Microbatch(messages, R(0, 9));
  Microbatch(messages, R(10, 12));
  Microbatch(messages, R(11, 14, 1, 0));  // replaces 11 and 12
  Script(HeldOpen(messages));
  LoadOptions options;
  options.stream = true;
  options.flush_interval = 0ms;
  auto results = session_->sql(kQuery).load("mem", "blocks", options);
  ASSERT_TRUE(results.ok());
  auto all = Take(*results, 4);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].metadata.at("block_range"), "mainnet[0..=9]");
  EXPECT_EQ(all[1].metadata.at("block_range"), "mainnet[10..=12]");
  ASSERT_TRUE(all[2].is_reorg);
  ASSERT_EQ(all[2].invalidation_ranges.size(), 1u);
  EXPECT_EQ(all[2].invalidation_ranges[0].ToString(), "mainnet[11..=14]");
  EXPECT_EQ(all[2].metadata.at("operation"), "reorg");
  EXPECT_EQ(all[2].metadata.at("cause"), "reorg");
  EXPECT_EQ(all[2].rows_loaded, 0);
  EXPECT_THAT(all[2].ToString(), HasSubstr("Reorg detected: 1 ranges invalidated"));
  EXPECT_FALSE(all[3].is_reorg);
  EXPECT_EQ(all[3].metadata.at("phase"), "reorg");
  EXPECT_EQ(all[3].rows_loaded, 4);
  EXPECT_EQ(all[3].metadata.at("reorgs"), "1");
  std::vector<uint64_t> expected = Blocks(0, 10);
  for (uint64_t b : Blocks(11, 14)) expected.push_back(b);
  EXPECT_EQ(StoredBlocks(*store_, "blocks"), expected);
}

TEST_F(LoadDriverTest, SlowConsumerLosesNoResult) {
  std::vector<ScriptedMessage> messages;
  for (BlockNumber s = 0; s < 100; s += 5) Microbatch(messages, R(s, s + 4));
  Script(HeldOpen(messages));
  LoadOptions options;
  options.stream = true;
  options.flush_interval = 0ms;  // one unit per microbatch: 20 results
  options.result_queue_capacity = 1;
  auto results = session_->sql(kQuery).load("mem", "blocks", options);
  ASSERT_TRUE(results.ok());
  std::vector<LoadResult> all;
  while (all.size() < 20) {
    auto r = results->Next();
    ASSERT_TRUE(r.has_value());
    all.push_back(std::move(*r));
    std::this_thread::sleep_for(5ms);
  }
  results->Stop();
  while (auto r = results->Next()) all.push_back(std::move(*r));
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 0; i < all.size(); ++i) {
    const BlockNumber start = 5 * i;
    EXPECT_EQ(all[i].metadata.at("block_range"),
              "mainnet[" + std::to_string(start) + "..=" + std::to_string(start + 4) + "]");
  }
  EXPECT_EQ(StoredBlocks(*store_, "blocks"), Blocks(0, 99));
}

TEST_F(LoadDriverTest, UnsupportedOptionsFailBeforeAnyData) {
  Script(HeldOpen({}));
  LoadOptions options;
  options.mode = LoadMode::kUpsert;  // without key columns
  auto results = session_->sql(kQuery).load("mem", "blocks", options);
  LoadResult failed = testing::ExpectOnlyAFailedResult(results, "key_columns");
  EXPECT_EQ(failed.ToString().rfind("Failed to load to blocks: ", 0), 0u);
}

TEST(ResolveBlockColumnTest, DetectsAndValidates) {
  using streaming::ResolveBlockColumn;
  auto both = arrow::schema({arrow::field("block_num", arrow::uint64()), arrow::field("_block_num", arrow::uint64())});
  EXPECT_EQ(*ResolveBlockColumn(*both, std::nullopt), "_block_num");
  auto plain = arrow::schema({arrow::field("x", arrow::utf8()), arrow::field("block_num", arrow::uint64())});
  EXPECT_EQ(*ResolveBlockColumn(*plain, std::nullopt), "block_num");
  auto wrong_type = arrow::schema({arrow::field("block_num", arrow::int64())});
  EXPECT_EQ(*ResolveBlockColumn(*wrong_type, std::nullopt), "");
  EXPECT_EQ(*ResolveBlockColumn(*plain, std::string()), "");  // explicitly none
  EXPECT_FALSE(ResolveBlockColumn(*plain, std::string("x")).ok());
  EXPECT_FALSE(ResolveBlockColumn(*plain, std::string("nope")).ok());
  EXPECT_EQ(*ResolveBlockColumn(*plain, std::string("block_num")), "block_num");
}

}  // namespace
}  // namespace amp
