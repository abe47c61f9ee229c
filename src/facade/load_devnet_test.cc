// End to end: session.sql(q).load(...) from an in-process devnet into the memory loader,
// through reorgs (on demand and scheduled), dropped streams, failing calls, failing
// commits and restarts. Every test ends by comparing the destination table with the
// devnet's oracle (DevnetServer::CanonicalRows) for the blocks the committed checkpoint
// covers: no missing, duplicate or stale row.
#include "common/testing/status_matchers.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "amp/client.h"
#include "amp/devnet.h"
#include "amp/load.h"
#include "loaders/memory/memory_loader.h"
#include "devnet/server/devnet_test_util.h"
#include "facade/testing/devnet_memory_fixture.h"
#include "facade/testing/drain_results.h"

namespace amp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr char kLogs[] = "SELECT * FROM eth_firehose.logs SETTINGS stream = true";
// No block number in the rows: reorgs are handled per microbatch.
constexpr char kLogsNoBlock[] = "SELECT block_hash, log_index, address, data FROM eth_firehose.logs";

/// Drains a load's results on a thread of its own, as an application would.
class Collector {
 public:
  explicit Collector(LoadResults results) : results_(std::move(results)) {
    thread_ = std::thread([this] {
      for (const LoadResult& r : results_) {
        std::lock_guard<std::mutex> lock(mu_);
        all_.push_back(r);
      }
    });
  }
  ~Collector() { Stop(); }

  /// Stops the load and waits until its range has ended.
  void Stop() {
    results_.Stop();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<LoadResult> results() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_;
  }
  Status status() const { return results_.status(); }

  int64_t rows_loaded() const {
    int64_t n = 0;
    for (const auto& r : results()) n += r.rows_loaded;
    return n;
  }
  int reorg_results() const {
    int n = 0;
    for (const auto& r : results()) n += r.is_reorg ? 1 : 0;
    return n;
  }
  std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const auto& r : results()) {
      if (!r.success) out.push_back(r.error);
    }
    return out;
  }

 private:
  LoadResults results_;
  mutable std::mutex mu_;
  std::vector<LoadResult> all_;
  std::thread thread_;
};

class LoadDevnetTest : public testing::DevnetMemoryTest {
 protected:
  /// 105 static blocks (microbatches of 10: the last catch-up one is short, i.e. live),
  /// no live production unless asked.
  static DevnetOptions SmallDevnet() {
    DevnetOptions o = devnet::server::testing::SmallOptions();
    o.history = 105;
    o.keep_alive_at_microbatch_start = DevnetOptions{}.keep_alive_at_microbatch_start;
    return o;
  }

  /// A chain producing a block every `block_time_ms` with a reorg of up to `depth_max`
  /// blocks every `every` blocks, halting at `halt_at`.
  static DevnetOptions ScheduledReorgs(int block_time_ms, int every, int depth_max,
                                       BlockNumber halt_at) {
    DevnetOptions o = SmallDevnet();
    o.block_time_ms = block_time_ms;
    o.reorg_every = every;
    o.reorg_depth_max = depth_max;
    o.halt_at = halt_at;
    return o;
  }

  /// The head once the chain reached `block` (or after 15 s).
  BlockNumber WaitForHead(BlockNumber block) {
    const auto deadline = Clock::now() + 15s;
    while (server_->Head() < block && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    return server_->Head();
  }

  void Start(DevnetOptions options = SmallDevnet()) { DevnetMemoryTest::Start(options); }

  static LoadOptions Fast(LoadOptions o = {}) {
    o.retry.initial_backoff = 2ms;
    o.retry.max_backoff = 20ms;
    o.retry.max_attempts = 20;
    return o;
  }

  std::unique_ptr<Collector> Load(const std::string& query, LoadOptions options,
                                  const std::string& connection = "dest") {
    auto results = session_->sql(query).load(connection, "logs", options);
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    if (!results.ok()) return nullptr;
    return std::make_unique<Collector>(std::move(*results));
  }

  /// Waits until the committed checkpoint of `query` is the devnet's canonical head.
  ::testing::AssertionResult CaughtUp(const std::string& query, std::chrono::milliseconds timeout = 15s) {
    return CheckpointAtHead(MakeStreamId(query, "logs"), timeout);
  }

  /// The oracle: canonical rows of blocks [0, head] with `columns` (all when empty).
  std::shared_ptr<arrow::Table> Oracle(const std::vector<std::string>& columns = {}) {
    auto rows = server_->CanonicalRows("logs", 0, server_->Head());
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    auto table = arrow::Table::FromRecordBatches({*rows}).ValueOrDie();
    if (columns.empty()) return table;
    std::vector<int> indices;
    for (const auto& c : columns) indices.push_back(table->schema()->GetFieldIndex(c));
    return table->SelectColumns(indices).ValueOrDie();
  }

  /// The destination equals the oracle row for row, with no duplicate and no stale row.
  void ExpectMatchesChain(const std::vector<std::string>& columns = {}) {
    auto actual_result = store_->ReadTable("logs");
    ASSERT_TRUE(actual_result.ok()) << actual_result.status().ToString();
    auto actual = (*actual_result)->CombineChunks().ValueOrDie();
    auto expected = Oracle(columns)->CombineChunks().ValueOrDie();

    // Duplicates and stale rows, counted explicitly so a failure says which it is.
    auto snapshot_hashes = std::set<std::string>();
    for (BlockNumber n = 0; n <= server_->Head(); ++n) {
      auto r = server_->CanonicalRange(n, n);
      ASSERT_TRUE(r.ok());
      snapshot_hashes.insert(std::string(reinterpret_cast<const char*>(r->hash.bytes.data()), 32));
    }
    const auto& hashes = static_cast<const arrow::FixedSizeBinaryArray&>(
        *actual->GetColumnByName("block_hash")->chunk(0));
    const auto& index = static_cast<const arrow::UInt32Array&>(*actual->GetColumnByName("log_index")->chunk(0));
    std::set<std::pair<std::string, uint32_t>> seen;
    int64_t duplicates = 0, stale = 0;
    for (int64_t i = 0; i < actual->num_rows(); ++i) {
      std::string hash(reinterpret_cast<const char*>(hashes.GetValue(i)), 32);
      if (!seen.emplace(hash, index.Value(i)).second) ++duplicates;
      if (!snapshot_hashes.count(hash)) ++stale;
    }
    EXPECT_EQ(duplicates, 0) << "duplicate rows";
    EXPECT_EQ(stale, 0) << "rows of blocks that are no longer canonical";
    ASSERT_EQ(actual->num_rows(), expected->num_rows()) << "missing or extra rows";
    ASSERT_EQ(actual->num_columns(), expected->num_columns());
    for (int c = 0; c < actual->num_columns(); ++c) {
      EXPECT_EQ(actual->schema()->field(c)->name(), expected->schema()->field(c)->name());
      EXPECT_TRUE(actual->column(c)->Equals(*expected->column(c)))
          << "column " << actual->schema()->field(c)->name() << " differs from the chain";
    }
  }

};

// --- Commit cadence. ---

// A catch-up whose last microbatch is full looks like more catch-up to come; on a chain
// that produces no block the unit must still be committed once the stream goes quiet.
TEST_F(LoadDevnetTest, CatchUpEndingOnAFullMicrobatchIsCommittedWhenTheStreamIsIdle) {
  DevnetOptions options = SmallDevnet();
  options.history = 300;
  options.microbatch_blocks = 50;  // the last catch-up microbatch [250, 299] is full
  options.block_time_ms = 0;       // no live block will follow
  Start(options);
  LoadOptions load_options = Fast();
  load_options.stream = true;
  load_options.flush_interval = 1h;  // only the idle window can commit the last unit
  auto load = Load(kLogs, load_options);
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs, 5s));
  EXPECT_EQ(server_->Head(), 299u);
  // Visible while the load is still running.
  ExpectMatchesChain();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  // The result is handed over right after the commit: give the collector a moment.
  bool idle = false;
  for (const auto deadline = Clock::now() + 5s; !idle && Clock::now() < deadline;) {
    for (const auto& r : load->results()) {
      if (r.metadata.count("phase") && r.metadata.at("phase") == "idle") idle = true;
    }
    if (!idle) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(idle) << "the last unit should be committed as idle";
  load->Stop();
  EXPECT_TRUE(load->status().ok()) << load->status().ToString();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
}

// --- Reorgs. ---

TEST_F(LoadDevnetTest, StreamFollowsTheHeadThroughReorgsWithABlockColumn) {
  Start();
  auto load = Load(kLogs, Fast());
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) server_->ProduceBlock();
    ASSERT_TRUE(CaughtUp(kLogs));
    ASSERT_OK(server_->Reorg(2 + round));
    server_->ProduceBlock();
    ASSERT_TRUE(CaughtUp(kLogs));
  }
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain();
  EXPECT_EQ(load->reorg_results(), 3);
  for (const auto& r : load->results()) {
    if (!r.is_reorg) continue;
    ASSERT_EQ(r.invalidation_ranges.size(), 1u);
    EXPECT_EQ(r.invalidation_ranges[0].network, "mainnet");
    EXPECT_EQ(r.metadata.at("operation"), "reorg");
  }
  // Exact undo by block: no reconnect was needed.
  EXPECT_EQ(load->results().back().metadata.at("reconnects"), "0");
}

TEST_F(LoadDevnetTest, ReorgInsideAMultiBlockMicrobatchWithoutBlockColumn) {
  DevnetOptions options = SmallDevnet();
  options.history = 100;  // the last catch-up microbatch is [90, 99]
  Start(options);
  LoadOptions load_options = Fast();
  load_options.stream = true;
  load_options.flush_interval = 0ms;  // commit every microbatch, so [90, 99] is committed
  auto load = Load(kLogsNoBlock, load_options);
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogsNoBlock));
  // Fork at 97, strictly inside [90, 99]: rows of 90..96 must survive (be reloaded).
  ASSERT_OK(server_->Reorg(3));
  ASSERT_TRUE(CaughtUp(kLogsNoBlock));
  server_->ProduceBlock();
  ASSERT_TRUE(CaughtUp(kLogsNoBlock));
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain({"block_hash", "log_index", "address", "data"});
  ASSERT_EQ(load->reorg_results(), 1);
  for (const auto& r : load->results()) {
    if (r.is_reorg) {
      EXPECT_EQ(r.invalidation_ranges[0].start, 90u);  // the whole microbatch
    }
  }
  EXPECT_EQ(load->results().back().metadata.at("reconnects"), "1");
}

TEST_F(LoadDevnetTest, ScheduledReorgsWhileProducing) {
  DevnetOptions options = ScheduledReorgs(15, 6, 4, 180);
  options.reorg_depth_min = 1;
  Start(options);
  auto load = Load(kLogs, Fast());
  ASSERT_NE(load, nullptr);
  ASSERT_EQ(WaitForHead(180), 180u);
  ASSERT_TRUE(CaughtUp(kLogs));
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain();
  EXPECT_GE(load->reorg_results(), 1);
}

TEST_F(LoadDevnetTest, ScheduledReorgsWithoutBlockColumn) {
  DevnetOptions options = ScheduledReorgs(10, 5, 4, 170);
  options.microbatch_blocks = 4;  // live microbatches may hold several blocks
  Start(options);
  LoadOptions load_options = Fast();
  load_options.stream = true;
  auto load = Load(kLogsNoBlock, load_options);
  ASSERT_NE(load, nullptr);
  WaitForHead(170);
  ASSERT_TRUE(CaughtUp(kLogsNoBlock));
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain({"block_hash", "log_index", "address", "data"});
}

// --- Drops, failing calls, failing commits. ---

TEST_F(LoadDevnetTest, DroppedStreamsAndFailingCallsReconnectFromTheCheckpoint) {
  Start();
  server_->SetFaults({.drop_stream_after_messages = 7, .fail_next_calls = 3});
  auto load = Load(kLogs, Fast());
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs));
  ASSERT_OK(server_->Reorg(2));
  for (int i = 0; i < 3; ++i) server_->ProduceBlock();
  ASSERT_TRUE(CaughtUp(kLogs));
  server_->SetFaults({});
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain();
  EXPECT_GE(std::stoi(load->results().back().metadata.at("reconnects")), 5);
  EXPECT_EQ(server_->faults().fail_next_calls, 0u);
}

TEST_F(LoadDevnetTest, DropsIntoANonAtomicStoreAreRewound) {
  Start();
  ASSERT_OK(session_->configure_connection("plain", "memory://" + store_name_ + "?atomic=false"));
  server_->SetFaults({.drop_stream_after_messages = 6});
  LoadOptions options = Fast();
  options.batch_size = 100;  // units span several microbatches, so drops cut into them
  auto load = Load(kLogs, options, "plain");
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs));
  server_->SetFaults({});
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain();
}

TEST_F(LoadDevnetTest, FailedCommitsAreReplayedWithoutDuplicates) {
  Start();
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kCommit, 3));
  MemoryFault ambiguous = MemoryFault::At(MemoryFault::Call::kCommit, 5);
  ambiguous.after_apply = true;  // applied, but reported as failed
  store_->InjectFault(ambiguous);
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kAppend, 4));
  LoadOptions options = Fast();
  options.flush_interval = 0ms;
  auto load = Load(kLogs, options);
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs));
  server_->ProduceBlock();
  ASSERT_TRUE(CaughtUp(kLogs));
  load->Stop();
  EXPECT_TRUE(load->errors().empty()) << load->errors().front();
  ExpectMatchesChain();
  EXPECT_EQ(store_->stats().failed_commits, 2);
  // Every row loaded is reported exactly once, the ambiguous commit included.
  EXPECT_EQ(load->rows_loaded(), Oracle()->num_rows());
}

TEST_F(LoadDevnetTest, FatalLoaderErrorEndsTheLoadWithAFailedResult) {
  Start();
  MemoryFault fatal = MemoryFault::At(MemoryFault::Call::kAppend, 2);
  fatal.error = WithErrorInfo(Status::Invalid("disk full, for real"), ErrorClass::kFatal, "memory", "X");
  store_->InjectFault(fatal);
  auto results = session_->sql(kLogs).load("dest", "logs", Fast());
  ASSERT_TRUE(results.ok());
  std::vector<LoadResult> all = testing::DrainResults(*results);  // ends by itself
  ASSERT_FALSE(all.empty());
  EXPECT_FALSE(all.back().success);
  EXPECT_THAT(all.back().error, HasSubstr("disk full"));
  EXPECT_EQ(all.back().metadata.at("error_class"), "fatal");
  EXPECT_FALSE(results->status().ok());
}

// --- Restart. ---

TEST_F(LoadDevnetTest, RestartResumesFromTheCheckpointWithoutReplayingHistory) {
  Start();
  std::string cursor_after_first;
  int64_t first_rows = 0;
  {
    auto load = Load(kLogs, Fast());
    ASSERT_NE(load, nullptr);
    ASSERT_TRUE(CaughtUp(kLogs));
    load->Stop();
    EXPECT_TRUE(load->errors().empty());
    first_rows = load->rows_loaded();
    cursor_after_first = store_->checkpoint(MakeStreamId(kLogs, "logs"))->cursor.ToJson();
    EXPECT_EQ(load->results().front().metadata.at("start_cursor"), "{}");
  }  // the load is gone, as after a process exit
  EXPECT_EQ(first_rows, Oracle()->num_rows());

  const BlockNumber head_before = server_->Head();
  for (int i = 0; i < 6; ++i) server_->ProduceBlock();
  ASSERT_OK(server_->Reorg(2));  // also reorg blocks the first load never saw
  auto load = Load(kLogs, Fast());
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(CaughtUp(kLogs));
  load->Stop();
  EXPECT_TRUE(load->errors().empty());
  // Resumed from the first load's checkpoint, and loaded only the new blocks' rows.
  EXPECT_EQ(load->results().front().metadata.at("start_cursor"), cursor_after_first);
  auto new_rows = server_->CanonicalRows("logs", head_before + 1, server_->Head());
  ASSERT_TRUE(new_rows.ok());
  EXPECT_EQ(load->rows_loaded(), (*new_rows)->num_rows());
  ExpectMatchesChain();
}

TEST_F(LoadDevnetTest, RestartAfterAReorgWhileStoppedUndoesTheStaleRows) {
  Start();
  {
    auto load = Load(kLogs, Fast());
    ASSERT_TRUE(CaughtUp(kLogs));
  }
  ASSERT_OK(server_->Reorg(4));  // replaces rows the destination holds
  auto load = Load(kLogs, Fast());
  ASSERT_TRUE(CaughtUp(kLogs));
  load->Stop();
  EXPECT_EQ(load->reorg_results(), 1);
  ExpectMatchesChain();
}

// --- Batch loads, modes, stop. ---

TEST_F(LoadDevnetTest, BatchLoadCompletesInOneUnitWithACheckpoint) {
  Start();
  const std::string query = "SELECT * FROM eth_firehose.logs";
  auto results = session_->sql(query).load("dest", "logs", Fast());
  ASSERT_TRUE(results.ok());
  std::vector<LoadResult> all = testing::DrainResults(*results);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].success);
  EXPECT_EQ(all[0].metadata.at("phase"), "batch");
  EXPECT_EQ(all[0].rows_loaded, Oracle()->num_rows());
  EXPECT_EQ(all[0].loader_type, "memory");
  EXPECT_EQ(all[0].table_name, "logs");
  EXPECT_GT(all[0].ops_per_second, 0);
  ExpectMatchesChain();
  auto cp = store_->checkpoint(MakeStreamId(query, "logs"));
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->cursor.networks.at("mainnet").number, server_->Head());
}

TEST_F(LoadDevnetTest, OverwriteTruncatesOncePerLoad) {
  Start();
  const std::string query = "SELECT * FROM eth_firehose.logs";
  for (int i = 0; i < 2; ++i) {
    LoadOptions options = Fast();
    options.mode = LoadMode::kOverwrite;
    auto results = session_->sql(query).load("dest", "logs", options);
    ASSERT_TRUE(results.ok());
    for (const auto& r : *results) EXPECT_TRUE(r.success) << r.error;
  }
  ExpectMatchesChain();
  // Appending the same batch again duplicates, which is what overwrite prevents.
  auto again = session_->sql(query).load("dest", "logs", Fast());
  ASSERT_TRUE(again.ok());
  for (const auto& r : *again) EXPECT_TRUE(r.success);
  EXPECT_EQ((*store_->ReadTable("logs"))->num_rows(), 2 * Oracle()->num_rows());
}

TEST_F(LoadDevnetTest, StopTokenEndsTheLoadCleanly) {
  Start();
  std::stop_source stop;
  LoadOptions options = Fast();
  options.stop_token = stop.get_token();
  auto results = session_->sql(kLogs).load("dest", "logs", options);
  ASSERT_TRUE(results.ok());
  std::thread stopper([&] {
    EXPECT_TRUE(CaughtUp(kLogs));
    stop.request_stop();
  });
  std::vector<LoadResult> all = testing::DrainResults(*results);  // ends once stopped
  stopper.join();
  EXPECT_TRUE(results->status().ok()) << results->status().ToString();
  ASSERT_FALSE(all.empty());
  for (const auto& r : all) EXPECT_TRUE(r.success) << r.error;
  ExpectMatchesChain();
}

TEST_F(LoadDevnetTest, DestroyingTheResultsStopsTheLoadEvenWhenNothingIsRead) {
  Start();
  LoadOptions options = Fast();
  options.result_queue_capacity = 1;
  options.flush_interval = 0ms;  // many results, so the load waits for the reader
  const auto start = Clock::now();
  {
    auto results = session_->sql(kLogs).load("dest", "logs", options);
    ASSERT_TRUE(results.ok());
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_LT(Clock::now() - start, 5s);
  // The stream was cancelled, not abandoned.
  const auto until = Clock::now() + 2s;
  while (server_->active_streams() != 0 && Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server_->active_streams(), 0u);
  // What was committed is consistent: a prefix of the chain, without duplicates.
  auto cp = store_->checkpoint(MakeStreamId(kLogs, "logs"));
  ASSERT_TRUE(cp.has_value());
  auto committed = server_->CanonicalRows("logs", 0, cp->cursor.networks.at("mainnet").number);
  EXPECT_EQ((*store_->ReadTable("logs"))->num_rows(), (*committed)->num_rows());
}

TEST_F(LoadDevnetTest, ConfigurationErrorsAreReportedUpFront) {
  Start();
  auto unknown = session_->sql(kLogs).load("nope", "logs");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown connection 'nope'"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("dest"));
  auto bad_option = session_->configure_connection("x", "memory", {{"colour", "red"}});
  EXPECT_THAT(bad_option.message(), HasSubstr("valid options: name, atomic"));
  auto bad_scheme = session_->configure_connection("y", "mysql://u@h/db");
  EXPECT_THAT(bad_scheme.message(), HasSubstr("unknown connection URI scheme 'mysql'"));
  // A bad block column is known only once the schema is: the load fails with a result.
  LoadOptions options = Fast();
  options.block_column = "timestamp";
  auto results = session_->sql(kLogs).load("dest", "logs", options);
  testing::ExpectOnlyAFailedResult(results, "not uint64");
}

}  // namespace
}  // namespace amp
