// Audit() against an in-process devnet, with an in-test loader whose rows are the devnet's
// canonical rows, tampered with block by block: the interval (source head, checkpoint,
// options), the verdicts, chunking, and the errors (no block column, no ReadRows, stop).
#include "common/testing/status_matchers.h"
#include "amp/audit.h"

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <stop_token>

#include "amp/devnet.h"
#include "audit/testing/audit_devnet.h"

namespace amp {
namespace {

constexpr const char* kQuery = "SELECT * FROM eth_firehose.logs";
constexpr uint64_t kHistory = 60;  // blocks 0..59
constexpr uint64_t kLogsPerBlock = 8;

class FakeSession final : public LoaderSession {
 public:
  explicit FakeSession(std::map<std::string, StreamCheckpoint> checkpoints)
      : checkpoints_(std::move(checkpoints)) {}
  Status Begin() override { return Status::OK(); }
  Status Undo(const std::string&, const BlockInterval&) override { return Status::OK(); }
  Status Append(const std::string&, const arrow::RecordBatch&, const BlockRange&) override {
    return Status::OK();
  }
  Status Commit(const StreamCheckpoint*) override { return Status::OK(); }
  void Abort() override {}
  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& id) override {
    auto it = checkpoints_.find(id);
    if (it == checkpoints_.end()) return std::nullopt;
    return std::optional<StreamCheckpoint>(it->second);
  }
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string&) override {
    return std::vector<StreamCheckpoint>{};
  }

 private:
  std::map<std::string, StreamCheckpoint> checkpoints_;
};

// A destination that takes writes and keeps checkpoints but has no ReadRows of its own.
class NoReadLoader : public Loader {
 public:
  std::string name() const override { return "write-only"; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }
  Status EnsureTable(const TableSpec&) override { return Status::OK(); }
  Status Truncate(const std::string&) override { return Status::OK(); }
  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    return std::unique_ptr<LoaderSession>(new FakeSession(checkpoints));
  }

  std::map<std::string, StreamCheckpoint> checkpoints;

 private:
  LoaderCapabilities capabilities_;
};

// A destination whose rows are a multimap block -> batch of that block's rows (query
// columns only); ReadRows appends `_amp_block_start` as the contract says.
class FakeLoader : public NoReadLoader {
 public:
  std::string name() const override { return "fake"; }
  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                 const BlockInterval& blocks) override {
    reads.push_back(blocks);
    EXPECT_EQ(spec.block_column, "_block_num");
    auto schema = ValueOrDie(spec.schema->AddField(
        spec.schema->num_fields(), arrow::field("_amp_block_start", arrow::uint64(), false)));
    arrow::RecordBatchVector out;
    for (auto it = rows.lower_bound(blocks.start); it != rows.end() && it->first <= blocks.end;
         ++it) {
      arrow::UInt64Builder starts;
      for (int64_t i = 0; i < it->second->num_rows(); ++i) EXPECT_TRUE(starts.Append(it->first).ok());
      arrow::ArrayVector columns = it->second->columns();
      columns.push_back(ValueOrDie(starts.Finish()));
      out.push_back(arrow::RecordBatch::Make(schema, it->second->num_rows(), columns));
    }
    return arrow::Table::FromRecordBatches(schema, out);
  }

  std::multimap<BlockNumber, std::shared_ptr<arrow::RecordBatch>> rows;
  std::vector<BlockInterval> reads;
};

class AuditTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    devnet_ = audit_testing::StartAuditDevnet(kHistory, kLogsPerBlock).release();
  }
  static void TearDownTestSuite() {
    delete devnet_;
    devnet_ = nullptr;
  }
  void SetUp() override {
    client_ = std::make_unique<Client>(devnet_->url());
    for (BlockNumber b = 0; b < kHistory; ++b) loader_.rows.emplace(b, Block(b));
  }

  static std::shared_ptr<arrow::RecordBatch> Block(BlockNumber b) {
    return ValueOrDie(devnet_->CanonicalRows("logs", b, b));
  }
  // The rows of block `from`, claiming to be of block `to`.
  static std::shared_ptr<arrow::RecordBatch> Relabelled(BlockNumber from, BlockNumber to) {
    auto batch = Block(from);
    arrow::UInt64Builder numbers;
    for (int64_t i = 0; i < batch->num_rows(); ++i) EXPECT_TRUE(numbers.Append(to).ok());
    auto column = ValueOrDie(numbers.Finish());
    for (const char* name : {"_block_num", "block_num"}) {
      int idx = batch->schema()->GetFieldIndex(name);
      batch = ValueOrDie(batch->SetColumn(idx, batch->schema()->field(idx), column));
    }
    return batch;
  }
  void Replace(BlockNumber b, std::shared_ptr<arrow::RecordBatch> batch) {
    loader_.rows.erase(b);
    if (batch != nullptr) loader_.rows.emplace(b, std::move(batch));
  }
  Result<AuditReport> Run(AuditOptions options = {}) {
    return Audit(*client_, kQuery, loader_, "logs", options);
  }

  static DevnetServer* devnet_;
  std::unique_ptr<Client> client_;
  FakeLoader loader_;
};

DevnetServer* AuditTest::devnet_ = nullptr;

StreamCheckpoint CheckpointAt(const std::string& stream_id, BlockNumber end) {
  StreamCheckpoint cp;
  cp.stream_id = stream_id;
  cp.cursor.networks["mainnet"] = {end, BlockHash{}};
  cp.transaction_id = 1;
  return cp;
}

TEST_F(AuditTest, AFaithfulCopyIsOkUpToTheSourceHead) {
  auto report = ValueOrDie(Run());
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.range, (BlockInterval{0, kHistory - 1}));
  EXPECT_EQ(report.end_from, "source head");
  EXPECT_EQ(report.blocks_checked, kHistory);
  EXPECT_EQ(report.rows_source, kHistory * kLogsPerBlock);
  EXPECT_EQ(report.rows_destination, kHistory * kLogsPerBlock);
  EXPECT_NE(report.ToString().find(": OK"), std::string::npos);
}

TEST_F(AuditTest, EachKindOfDamageIsReportedOnItsBlocksOnly) {
  Replace(5, nullptr);                           // missing
  loader_.rows.emplace(7, Block(7));             // duplicate (twice)
  loader_.rows.emplace(8, Block(8));             // duplicate (three times)
  loader_.rows.emplace(8, Block(8));
  Replace(9, Relabelled(10, 9));                 // stale: other content
  Replace(11, Block(11)->Slice(1));              // stale: a row missing
  loader_.rows.emplace(12, Block(12)->Slice(0, 1));  // stale: one row extra
  loader_.rows.emplace(70, Relabelled(1, 70));   // stale: past the source's head
  AuditOptions options;
  options.to_block = 80;
  auto report = ValueOrDie(Run(options));
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.range, (BlockInterval{0, 80}));
  EXPECT_EQ(report.end_from, "option");
  EXPECT_EQ(report.missing, (std::vector<BlockNumber>{5}));
  EXPECT_EQ(report.duplicate, (std::vector<BlockNumber>{7, 8}));
  EXPECT_EQ(report.stale, (std::vector<BlockNumber>{9, 11, 12, 70}));
  EXPECT_EQ(report.blocks_checked, kHistory + 1);
  EXPECT_EQ(report.rows_source, kHistory * kLogsPerBlock);
  EXPECT_EQ(report.rows_destination, kHistory * kLogsPerBlock - 8 + 8 + 16 - 1 + 1 + 8);
  EXPECT_NE(report.ToString().find("stale: 4 blocks: 9, 11..=12, 70"), std::string::npos)
      << report.ToString();

  // The same with tiny chunks: chunking changes nothing but the number of reads, and the
  // reads tile the interval.
  loader_.reads.clear();
  options.chunk_blocks = 7;
  options.chunk_rows = 20;
  int chunks = 0;
  BlockNumber last_done = 0;
  options.on_chunk = [&](const BlockInterval& done, const AuditReport&) {
    ++chunks;
    EXPECT_EQ(done.start, 0u);
    EXPECT_GE(done.end, last_done);
    last_done = done.end;
  };
  auto chunked = ValueOrDie(Run(options));
  EXPECT_EQ(chunked.missing, report.missing);
  EXPECT_EQ(chunked.duplicate, report.duplicate);
  EXPECT_EQ(chunked.stale, report.stale);
  EXPECT_EQ(chunked.rows_destination, report.rows_destination);
  EXPECT_GT(chunks, 10);
  EXPECT_EQ(last_done, 80u);
  BlockNumber next = 0;
  for (const BlockInterval& read : loader_.reads) {
    EXPECT_EQ(read.start, next);
    EXPECT_LE(read.end - read.start + 1, 7u);
    next = read.end + 1;
  }
  EXPECT_EQ(next, 81u);
}

TEST_F(AuditTest, TheCheckpointEndsTheDefaultInterval) {
  loader_.rows.emplace(40, Block(40));  // beyond the checkpoint: not looked at
  loader_.checkpoints[MakeStreamId(kQuery, "logs")] = CheckpointAt("x", 30);
  auto report = ValueOrDie(Run());
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.range, (BlockInterval{0, 30}));
  EXPECT_EQ(report.end_from, "checkpoint");
  EXPECT_EQ(report.rows_source, 31 * kLogsPerBlock);

  // A load with its own stream id: only found when named.
  loader_.checkpoints.clear();
  loader_.checkpoints["my-stream"] = CheckpointAt("my-stream", 20);
  EXPECT_EQ(ValueOrDie(Run()).range.end, kHistory - 1);
  AuditOptions options;
  options.stream_id = "my-stream";
  options.from_block = 10;
  auto named = ValueOrDie(Run(options));
  EXPECT_EQ(named.range, (BlockInterval{10, 20}));
  EXPECT_EQ(named.blocks_checked, 11u);
  EXPECT_TRUE(named.ok());
}

TEST_F(AuditTest, QueryTextIsWrappedNotEdited) {
  // A streaming query with a trailing comment: audited as a batch query all the same.
  auto report = Audit(*client_, "SELECT * FROM eth_firehose.logs WHERE log_index < 4 -- mine\n",
                      loader_, "logs", {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // The destination holds all 8 logs per block, the query only 4: every block is stale.
  EXPECT_EQ(report->stale.size(), kHistory);
  EXPECT_EQ(report->rows_source, kHistory * 4);
  auto streaming = Audit(*client_, std::string(kQuery) + " SETTINGS stream = true;", loader_,
                         "logs", {});
  ASSERT_TRUE(streaming.ok()) << streaming.status().ToString();
  EXPECT_TRUE(streaming->ok()) << streaming->ToString();
}

TEST_F(AuditTest, SettingsAreLiftedOutOfTheWrapperAsForPartitions) {
  // The SETTINGS rule of sql/query_text.h: the clause (and whatever follows the ';') never
  // lands inside the `_amp_audit` subquery, where a ';' would end the statement early.
  auto report = Audit(*client_,
                      std::string(kQuery) + " SETTINGS stream = true, batch_rows = 100; -- done\n",
                      loader_, "logs", {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->rows_source, kHistory * kLogsPerBlock);
}

TEST_F(AuditTest, ErrorsSayWhatIsWrong) {
  auto no_block = Audit(*client_, "SELECT log_index, data FROM eth_firehose.logs", loader_,
                        "logs", {});
  ASSERT_FALSE(no_block.ok());
  EXPECT_EQ(ClassOf(no_block.status()), ErrorClass::kFatal);
  EXPECT_NE(no_block.status().message().find("audit needs a block column"), std::string::npos)
      << no_block.status().ToString();

  AuditOptions bad_column;
  bad_column.block_column = "data";
  auto wrong_type = Run(bad_column);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("expected an integer type"), std::string::npos);

  NoReadLoader write_only;
  auto unsupported = Audit(*client_, kQuery, write_only, "logs", {});
  ASSERT_FALSE(unsupported.ok());
  EXPECT_TRUE(unsupported.status().IsNotImplemented());
  EXPECT_NE(unsupported.status().message().find("write-only"), std::string::npos);

  AuditOptions backwards;
  backwards.from_block = 10;
  backwards.to_block = 5;
  EXPECT_FALSE(Run(backwards).ok());

  std::stop_source stop;
  stop.request_stop();
  AuditOptions stopped;
  stopped.stop_token = stop.get_token();
  EXPECT_TRUE(Run(stopped).status().IsCancelled());
}

}  // namespace
}  // namespace amp
