// The composition layer takes any amp::Loader: amp::Load into a loader this test builds by
// hand (no registry involved), a parallel load asking it for one session per worker, and
// Connections / Session resolving names through a registry of the caller's own instead of
// the built-in one. Rows are checked against the devnet's oracle.
#include "common/testing/status_matchers.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "amp/client.h"
#include "amp/devnet.h"
#include "amp/load.h"
#include "facade/testing/devnet_memory_fixture.h"

namespace amp {
namespace {

using ::testing::HasSubstr;

// What a CollectingLoader committed, shared by its sessions (and by loaders a factory makes).
struct Collected {
  std::mutex mu;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;  // committed, in commit order
  std::map<std::string, StreamCheckpoint> checkpoints;
  int reserved_sessions = 0;  // the last ReserveSessions request
};

// A destination written against the public contract only (amp/loader.h): rows become
// visible at Commit, together with the checkpoint; Undo is not supported.
class CollectingSession final : public LoaderSession {
 public:
  explicit CollectingSession(std::shared_ptr<Collected> collected) : collected_(std::move(collected)) {}

  Status Begin() override {
    pending_.clear();
    return Status::OK();
  }
  Status Undo(const std::string&, const BlockInterval&) override {
    return Status::NotImplemented("the collecting loader cannot undo");
  }
  Status Append(const std::string&, const arrow::RecordBatch& batch, const BlockRange&) override {
    pending_.push_back(arrow::RecordBatch::Make(batch.schema(), batch.num_rows(), batch.columns()));
    return Status::OK();
  }
  Status Commit(const StreamCheckpoint* checkpoint) override {
    std::lock_guard<std::mutex> lock(collected_->mu);
    for (auto& b : pending_) collected_->batches.push_back(std::move(b));
    pending_.clear();
    if (checkpoint != nullptr) collected_->checkpoints[checkpoint->stream_id] = *checkpoint;
    return Status::OK();
  }
  void Abort() override { pending_.clear(); }
  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    std::lock_guard<std::mutex> lock(collected_->mu);
    auto it = collected_->checkpoints.find(stream_id);
    if (it == collected_->checkpoints.end()) return std::optional<StreamCheckpoint>();
    return std::optional<StreamCheckpoint>(it->second);
  }
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    std::lock_guard<std::mutex> lock(collected_->mu);
    std::vector<StreamCheckpoint> out;
    for (const auto& [id, cp] : collected_->checkpoints) {
      if (id.rfind(prefix, 0) == 0) out.push_back(cp);
    }
    return out;
  }

 private:
  std::shared_ptr<Collected> collected_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> pending_;
};

class CollectingLoader final : public Loader {
 public:
  explicit CollectingLoader(std::shared_ptr<Collected> collected) : collected_(std::move(collected)) {
    capabilities_.atomic_commit = true;
    capabilities_.concurrent_sessions = true;
  }
  std::string name() const override { return "collecting"; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }
  Status EnsureTable(const TableSpec&) override { return Status::OK(); }
  Status Truncate(const std::string&) override { return Status::OK(); }
  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    return std::unique_ptr<LoaderSession>(std::make_unique<CollectingSession>(collected_));
  }
  int ReserveSessions(int sessions) override {
    std::lock_guard<std::mutex> lock(collected_->mu);
    collected_->reserved_sessions = sessions;
    return sessions;
  }

 private:
  std::shared_ptr<Collected> collected_;
  LoaderCapabilities capabilities_;
};

constexpr char kQuery[] = "SELECT block_num, log_index, address FROM eth_firehose.logs";

class CustomLoaderTest : public testing::DevnetMemoryTest {
 protected:
  void SetUp() override {
    DevnetMemoryTest::SetUp();
    DevnetOptions options;
    options.port = 0;
    options.history = 60;
    options.block_time_ms = 0;
    options.logs_per_block = 3;
    Start(options);
  }

  // Every result succeeded.
  static void Drain(LoadResults& results) {
    for (const LoadResult& r : results) EXPECT_TRUE(r.success) << r.error;
    EXPECT_TRUE(results.status().ok()) << results.status().ToString();
  }

  // The collected rows, sorted by (block_num, log_index), equal the oracle's.
  void ExpectRowsOfBlocks(const Collected& collected, BlockNumber first, BlockNumber last) {
    auto expected_rows = server_->CanonicalRows("logs", first, last);
    ASSERT_OK(expected_rows.status());
    ASSERT_FALSE(collected.batches.empty());
    auto actual = arrow::Table::FromRecordBatches(collected.batches).ValueOrDie();
    auto expected = arrow::Table::FromRecordBatches({*expected_rows}).ValueOrDie();
    ASSERT_EQ(actual->num_rows(), expected->num_rows());
    std::vector<std::pair<uint64_t, uint32_t>> actual_keys, expected_keys;
    auto keys = [](const arrow::Table& t) {
      auto combined = t.CombineChunks().ValueOrDie();
      const auto& block = static_cast<const arrow::UInt64Array&>(*combined->GetColumnByName("block_num")->chunk(0));
      const auto& index = static_cast<const arrow::UInt32Array&>(*combined->GetColumnByName("log_index")->chunk(0));
      std::vector<std::pair<uint64_t, uint32_t>> out;
      for (int64_t i = 0; i < combined->num_rows(); ++i) out.emplace_back(block.Value(i), index.Value(i));
      std::sort(out.begin(), out.end());
      return out;
    };
    EXPECT_EQ(keys(*actual), keys(*expected));
  }
};

TEST_F(CustomLoaderTest, LoadsIntoALoaderBuiltByHand) {
  auto collected = std::make_shared<Collected>();
  auto loader = std::make_shared<CollectingLoader>(collected);
  ASSERT_OK_AND_ASSIGN(auto results, Load(session_->client(), kQuery, loader, "logs", {.stream = false}));
  Drain(results);
  ExpectRowsOfBlocks(*collected, 0, server_->Head());
  EXPECT_EQ(collected->checkpoints.size(), 1u) << "a batch load commits one completion checkpoint";
  EXPECT_EQ(collected->reserved_sessions, 0) << "only parallel loads reserve sessions";
}

TEST_F(CustomLoaderTest, ParallelLoadReservesASessionPerWorkerPlusOne) {
  auto collected = std::make_shared<Collected>();
  auto loader = std::make_shared<CollectingLoader>(collected);
  LoadOptions options;
  options.parallel = ParallelConfig{.num_workers = 3, .table_name = "eth_firehose.logs",
                                    .min_block = 0, .max_block = 40};
  ASSERT_OK_AND_ASSIGN(auto results, Load(session_->client(), kQuery, loader, "logs", options));
  Drain(results);
  EXPECT_EQ(collected->reserved_sessions, 4);
  ExpectRowsOfBlocks(*collected, 0, 39);
}

TEST_F(CustomLoaderTest, ConnectionsResolveThroughTheCallersRegistry) {
  auto collected = std::make_shared<Collected>();
  LoaderRegistry registry;
  LoaderRegistry::Entry entry;
  entry.name = "collecting";
  entry.uri_schemes = {"collect"};
  entry.options = {{"host", OptionSpec::Type::kString, "", "", false}};
  entry.factory = [collected](const LoaderConfig&) -> Result<std::unique_ptr<Loader>> {
    return std::unique_ptr<Loader>(std::make_unique<CollectingLoader>(collected));
  };
  registry.Register(entry);

  Session session(server_->url(), {}, registry);
  ASSERT_OK(session.configure_connection("mine", "collect://anything"));
  ASSERT_OK_AND_ASSIGN(auto results, session.sql(kQuery).load("mine", "logs", {.stream = false}));
  Drain(results);
  ExpectRowsOfBlocks(*collected, 0, server_->Head());

  // The built-in loaders are not consulted: memory:// is unknown to this registry.
  auto builtin = session.connection("memory://x");
  ASSERT_FALSE(builtin.ok());
  EXPECT_THAT(builtin.status().message(), HasSubstr("known schemes: collect"));
  auto unknown = session.configure_connection("m", "memory", {{"name", "x"}});
  EXPECT_FALSE(unknown.ok());
}

}  // namespace
}  // namespace amp
