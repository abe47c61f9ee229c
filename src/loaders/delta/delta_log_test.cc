// Tests of the Delta log layer: replaying commits, the link()-based commit that exactly one
// writer wins, and checkpoints written and read back.
#include "loaders/delta/delta_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
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

  static AddFile Add(const std::string& path, int64_t start, int64_t end) {
    AddFile add;
    add.path = path;
    add.size = 10;
    add.stats = "{\"numRecords\":3,\"minValues\":{\"_amp_block_start\":" + std::to_string(start) +
                ",\"_amp_block_end\":" + std::to_string(start) + "},\"maxValues\":{\"_amp_block_start\":" +
                std::to_string(end) + ",\"_amp_block_end\":" + std::to_string(end) + "}}";
    return add;
  }

  static DeltaTransaction Adds(std::vector<AddFile> adds) {
    DeltaTransaction tx;
    tx.commit_info = MakeCommitInfo("WRITE");
    tx.adds = std::move(adds);
    return tx;
  }

  static DeltaTransaction Create() {
    DeltaTransaction tx;
    tx.commit_info = MakeCommitInfo("CREATE TABLE");
    tx.protocol = WriterProtocol();
    tx.metadata = nlohmann::json::parse(
        "{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":"
        "\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\",\"partitionColumns\":[],\"configuration\":{}}");
    return tx;
  }

  std::string ReadVersion(int64_t v) const {
    std::ifstream in(VersionPath(dir_ + "/_delta_log", v));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
};

TEST_F(DeltaLogTest, CommitsReplayAndConflict) {
  EXPECT_FALSE(HasLog(dir_));
  ASSERT_TRUE(TryCommit(dir_, 0, Create()).ValueOrDie());
  EXPECT_TRUE(HasLog(dir_));
  EXPECT_FALSE(TryCommit(dir_, 0, Create()).ValueOrDie()) << "version 0 exists";
  DeltaTransaction first = Adds({Add("a b.parquet", 0, 9), Add("c.parquet", 10, 19)});
  first.txn = Txn{"s", 4, std::nullopt};
  first.domains.push_back({"d", "{}", false});
  ASSERT_TRUE(TryCommit(dir_, 1, first).ValueOrDie());
  DeltaTransaction second = Adds({});
  second.removes.push_back({Add("a b.parquet", 0, 9), NowMillis(), true});
  ASSERT_TRUE(TryCommit(dir_, 2, second).ValueOrDie());
  EXPECT_NE(ReadVersion(2).find("\"path\":\"a%20b.parquet\""), std::string::npos)
      << "paths in actions are percent-encoded";
  Snapshot snap;
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  EXPECT_EQ(snap.version, 2);
  ASSERT_EQ(snap.files.size(), 1u);
  EXPECT_EQ(snap.files.begin()->first, "c.parquet");
  EXPECT_EQ(*snap.files.begin()->second.parsed.min_start, 10);
  EXPECT_EQ(snap.txns.at("s"), 4);
  EXPECT_EQ(snap.domains.at("d"), "{}");
  // Incremental refresh.
  DeltaTransaction third = Adds({});
  third.domains.push_back({"d", "", true});
  ASSERT_TRUE(TryCommit(dir_, 3, third).ValueOrDie());
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  EXPECT_EQ(snap.version, 3);
  EXPECT_EQ(snap.domains.count("d"), 0u);
}

TEST_F(DeltaLogTest, ApplyingACommittedTransactionEqualsReplayingItsFile) {
  ASSERT_TRUE(TryCommit(dir_, 0, Create()).ValueOrDie());
  Snapshot applied;
  ASSERT_TRUE(Refresh(dir_, applied).ok());
  DeltaTransaction tx = Adds({Add("p=a b/x.parquet", 0, 9), Add("y.parquet", 10, 19)});
  tx.txn = Txn{"s", 3, NowMillis()};
  tx.domains.push_back({"amp.checkpoint.s", "{\"t\":3}", false});
  tx.removes.push_back({Add("gone.parquet", 0, 0), NowMillis(), true});
  ASSERT_TRUE(TryCommit(dir_, 1, tx).ValueOrDie());
  ApplyTransaction(applied, tx);
  ++applied.version;
  Snapshot replayed;
  ASSERT_TRUE(Refresh(dir_, replayed).ok());
  EXPECT_EQ(applied.version, replayed.version);
  EXPECT_EQ(applied.txns, replayed.txns);
  EXPECT_EQ(applied.domains, replayed.domains);
  ASSERT_EQ(applied.files.size(), replayed.files.size());
  for (const auto& [path, add] : replayed.files) {
    ASSERT_EQ(applied.files.count(path), 1u) << path;
    EXPECT_EQ(applied.files.at(path).ToJson(), add.ToJson()) << path;
  }
  // commitInfo first, then txn, domainMetadata, remove and add (one order for every commit).
  const std::string text = ReadVersion(1);
  EXPECT_EQ(text.rfind("{\"commitInfo\"", 0), 0u) << text;
  EXPECT_LT(text.find("\"txn\""), text.find("\"domainMetadata\""));
  EXPECT_LT(text.find("\"domainMetadata\""), text.find("\"remove\""));
  EXPECT_LT(text.find("\"remove\""), text.find("\"add\""));
}

TEST(DeltaLogEncoding, PathsAndPartitionValuesKeepTheirSpelling) {
  AddFile add;
  add.path = "p=a b/x~y%z.parquet";
  EXPECT_EQ(add.ToJson()["path"], "p=a%20b/x~y%25z.parquet");
  EXPECT_EQ(AddFile::FromJson(add.ToJson()).ValueOrDie().path, add.path);
  EXPECT_EQ(EncodePartitionValue("a~b c/d=e.f-g_h"), "a%7Eb%20c%2Fd%3De.f-g_h");
}

TEST_F(DeltaLogTest, ExactlyOneConcurrentWriterWinsEachVersion) {
  ASSERT_TRUE(TryCommit(dir_, 0, Create()).ValueOrDie());
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      if (TryCommit(dir_, 1, Adds({Add("t" + std::to_string(t) + ".parquet", t, t)})).ValueOrDie()) ++wins;
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
  ASSERT_TRUE(TryCommit(dir_, 0, Create()).ValueOrDie());
  DeltaTransaction first = Adds({Add("p=1/x.parquet", 0, 9)});
  first.txn = Txn{"s", 7, std::nullopt};
  first.domains.push_back({"amp.checkpoint.s", "{\"a\":1}", false});
  ASSERT_TRUE(TryCommit(dir_, 1, first).ValueOrDie());
  Snapshot snap;
  ASSERT_TRUE(Refresh(dir_, snap).ok());
  ASSERT_TRUE(WriteCheckpoint(dir_, snap).ok());
  ASSERT_TRUE(TryCommit(dir_, 2, Adds({Add("y.parquet", 10, 19)})).ValueOrDie());
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
