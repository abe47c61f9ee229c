// Tests of the Delta log layer: replaying commits, the link()-based commit that exactly one
// writer wins, and checkpoints written and read back.
#include "loaders/delta/delta_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

namespace amp::delta {
namespace {

class DeltaLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    dir_ = (std::filesystem::temp_directory_path() /
            ("amp-delta-log-" + std::to_string(getpid()) + "-" + std::to_string(n++)))
               .string();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string Add(const std::string& path, int64_t start, int64_t end) {
    AddFile add;
    add.path = path;
    add.size = 10;
    add.stats = "{\"numRecords\":3,\"minValues\":{\"_amp_block_start\":" + std::to_string(start) +
                ",\"_amp_block_end\":" + std::to_string(start) + "},\"maxValues\":{\"_amp_block_start\":" +
                std::to_string(end) + ",\"_amp_block_end\":" + std::to_string(end) + "}}";
    return nlohmann::json{{"add", add.ToJson()}}.dump() + "\n";
  }

  std::string dir_;
};

const char kV0[] =
    "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":7,\"writerFeatures\":[\"domainMetadata\"]}}\n"
    "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":"
    "\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\",\"partitionColumns\":[],\"configuration\":{}}}\n";

TEST_F(DeltaLogTest, CommitsReplayAndConflict) {
  EXPECT_FALSE(HasLog(dir_));
  ASSERT_TRUE(TryCommit(dir_, 0, kV0).ValueOrDie());
  EXPECT_TRUE(HasLog(dir_));
  EXPECT_FALSE(TryCommit(dir_, 0, kV0).ValueOrDie()) << "version 0 exists";
  ASSERT_TRUE(TryCommit(dir_, 1, Add("a b.parquet", 0, 9) + Add("c.parquet", 10, 19) +
                                     "{\"txn\":{\"appId\":\"s\",\"version\":4}}\n"
                                     "{\"domainMetadata\":{\"domain\":\"d\",\"configuration\":\"{}\",\"removed\":false}}\n")
                  .ValueOrDie());
  ASSERT_TRUE(TryCommit(dir_, 2, "{\"remove\":{\"path\":\"a%20b.parquet\",\"dataChange\":true}}\n").ValueOrDie());
  Snapshot snap;
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  EXPECT_EQ(snap.version, 2);
  ASSERT_EQ(snap.files.size(), 1u);
  EXPECT_EQ(snap.files.begin()->first, "c.parquet");
  EXPECT_EQ(*snap.files.begin()->second.parsed.min_start, 10);
  EXPECT_EQ(snap.txns.at("s"), 4);
  EXPECT_EQ(snap.domains.at("d"), "{}");
  // Incremental refresh.
  ASSERT_TRUE(TryCommit(dir_, 3, "{\"domainMetadata\":{\"domain\":\"d\",\"configuration\":\"\",\"removed\":true}}\n")
                  .ValueOrDie());
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  EXPECT_EQ(snap.version, 3);
  EXPECT_EQ(snap.domains.count("d"), 0u);
}

TEST_F(DeltaLogTest, ExactlyOneConcurrentWriterWinsEachVersion) {
  ASSERT_TRUE(TryCommit(dir_, 0, kV0).ValueOrDie());
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      if (TryCommit(dir_, 1, Add("t" + std::to_string(t) + ".parquet", t, t)).ValueOrDie()) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  Snapshot snap;
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  EXPECT_EQ(snap.files.size(), 1u);
  // No temporary files are left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/_delta_log")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST_F(DeltaLogTest, CheckpointRoundTrip) {
  ASSERT_TRUE(TryCommit(dir_, 0, kV0).ValueOrDie());
  ASSERT_TRUE(TryCommit(dir_, 1, Add("p=1/x.parquet", 0, 9) + "{\"txn\":{\"appId\":\"s\",\"version\":7}}\n"
                                     "{\"domainMetadata\":{\"domain\":\"amp.checkpoint.s\",\"configuration\":\"{\\\"a\\\":1}\",\"removed\":false}}\n")
                  .ValueOrDie());
  Snapshot snap;
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  ASSERT_TRUE(WriteCheckpoint(dir_, snap).ok());
  ASSERT_TRUE(TryCommit(dir_, 2, Add("y.parquet", 10, 19)).ValueOrDie());
  Snapshot fresh;
  ASSERT_TRUE(Refresh(dir_, fresh).ok());
  EXPECT_EQ(fresh.last_checkpoint, 1);
  EXPECT_EQ(fresh.version, 2);
  EXPECT_EQ(fresh.files.size(), 2u);
  EXPECT_EQ(fresh.txns.at("s"), 7);
  EXPECT_EQ(fresh.domains.at("amp.checkpoint.s"), "{\"a\":1}");
  EXPECT_EQ(fresh.metadata["id"], "x");
  EXPECT_EQ(fresh.protocol["minWriterVersion"], 7);
  EXPECT_EQ(*fresh.files.at("p=1/x.parquet").parsed.max_end, 9);
}

}  // namespace
}  // namespace amp::delta
