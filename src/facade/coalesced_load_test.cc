// Tiny batches coalesced (load/batch_coalescer.h): the wrapper against a recording
// session (what reaches the loader, in which order, with which block spans), then whole
// loads of one-row messages, as ampd sends them, through the load driver into Delta Lake:
// one Parquet file per unit, not per message.
#include "load/batch_coalescer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <unistd.h>

#include "amp/client.h"
#include "amp/load.h"
#include "flight/testing/scripted_server.h"

namespace amp::streaming {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using amp::testing::BlockNumBatch;
using amp::testing::BlockNumSchema;
using amp::testing::RecordedCall;
using amp::testing::ScriptedFlightServer;
using amp::testing::ScriptedMessage;
using amp::testing::ScriptedResponse;
using amp::testing::TestRange;

BlockRange R(BlockNumber start, BlockNumber end) { return TestRange("mainnet", start, end); }

std::vector<uint64_t> Values(const arrow::RecordBatch& batch) {
  std::vector<uint64_t> out;
  const auto& a = static_cast<const arrow::UInt64Array&>(*batch.column(0));
  for (int64_t i = 0; i < a.length(); ++i) out.push_back(a.Value(i));
  return out;
}

std::vector<uint64_t> Iota(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t v = from; v < to; ++v) out.push_back(v);
  return out;
}

// Records every call that reaches "the loader".
class Recorder final : public LoaderSession {
 public:
  struct Call {
    std::string op;  // "begin", "append t", "undo t", "commit", "abort"
    std::vector<uint64_t> values;
    BlockRange range;
  };
  explicit Recorder(std::vector<Call>* calls) : calls_(calls) {}
  Status Begin() override { return Add({"begin", {}, {}}); }
  Status Undo(const std::string& table, const BlockInterval& blocks) override {
    return Add({"undo " + table, {blocks.start, blocks.end}, {}});
  }
  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) override {
    return Add({"append " + table, Values(batch), microbatch});
  }
  Status Commit(const StreamCheckpoint*) override { return Add({"commit", {}, {}}); }
  void Abort() override { (void)Add({"abort", {}, {}}); }
  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string&) override {
    (void)Add({"load", {}, {}});
    return std::optional<StreamCheckpoint>();
  }
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string&) override {
    return std::vector<StreamCheckpoint>();
  }

 private:
  Status Add(Call c) {
    calls_->push_back(std::move(c));
    return Status::OK();
  }
  std::vector<Call>* calls_;
};

std::vector<std::string> Ops(const std::vector<Recorder::Call>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) {
    out.push_back(c.op + (c.op.rfind("append", 0) == 0 ? " x" + std::to_string(c.values.size()) : ""));
  }
  return out;
}

class CoalescerTest : public ::testing::Test {
 protected:
  std::unique_ptr<LoaderSession> Make(CoalesceOptions options = {}) {
    return CoalesceAppends(std::make_unique<Recorder>(&calls_), options);
  }
  // One single-row batch per value.
  static Status AppendEach(LoaderSession& s, const std::string& table, const std::vector<uint64_t>& values,
                           const BlockRange& range) {
    for (uint64_t v : values) AMP_RETURN_NOT_OK(s.Append(table, *BlockNumBatch({v}), range));
    return Status::OK();
  }
  // One unit of rows 1, 2 in blocks 0..9 and 11..13 in blocks 10..19, one row per Append.
  void CommitTwoMicrobatches(CoalesceOptions options) {
    auto s = Make(options);
    ASSERT_TRUE(s->Begin().ok());
    ASSERT_TRUE(AppendEach(*s, "t", {1, 2}, R(0, 9)).ok());
    ASSERT_TRUE(AppendEach(*s, "t", {11, 12, 13}, R(10, 19)).ok());
    ASSERT_TRUE(s->Commit(nullptr).ok());
  }
  std::vector<Recorder::Call> calls_;
};

TEST_F(CoalescerTest, OneRowMessagesReachTheLoaderAsOneBatchInOrder) {
  auto s = Make();
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", Iota(0, 1000), R(0, 9)).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin"));  // held
  ASSERT_TRUE(s->Commit(nullptr).ok());
  ASSERT_THAT(Ops(calls_), ElementsAre("begin", "append t x1000", "commit"));
  EXPECT_EQ(calls_[1].values, Iota(0, 1000));
  EXPECT_EQ(calls_[1].range, R(0, 9));
}

TEST_F(CoalescerTest, UndoAndCheckpointReadsSeeEverythingAppendedBefore) {
  auto s = Make();
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", {1, 2, 3}, R(0, 9)).ok());
  ASSERT_TRUE(s->Undo("t", {5, kMaxBlock}).ok());
  ASSERT_TRUE(AppendEach(*s, "t", {5, 6}, R(0, 9)).ok());
  ASSERT_TRUE(s->LoadCheckpoint("x").ok());
  ASSERT_TRUE(AppendEach(*s, "t", {7}, R(0, 9)).ok());
  ASSERT_TRUE(s->Commit(nullptr).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin", "append t x3", "undo t", "append t x2", "load",
                                       "append t x1", "commit"));
  EXPECT_EQ(calls_[3].values, (std::vector<uint64_t>{5, 6}));
}

TEST_F(CoalescerTest, AbortAndBeginDropWhatIsHeld) {
  auto s = Make();
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", {1, 2}, R(0, 9)).ok());
  s->Abort();
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", {3}, R(0, 9)).ok());
  ASSERT_TRUE(s->Begin().ok());  // a misuse the loader reports; nothing held survives it
  ASSERT_TRUE(s->Commit(nullptr).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin", "abort", "begin", "begin", "commit"));
}

TEST_F(CoalescerTest, RowsTaggedByMicrobatchAreOnlyMergedWithinTheirRange) {
  ASSERT_NO_FATAL_FAILURE(CommitTwoMicrobatches({.rows_carry_blocks = false}));
  ASSERT_THAT(Ops(calls_), ElementsAre("begin", "append t x2", "append t x3", "commit"));
  EXPECT_EQ(calls_[1].range, R(0, 9));
  EXPECT_EQ(calls_[2].range, R(10, 19));
}

TEST_F(CoalescerTest, RowsWithTheirOwnBlockMergeAcrossMicrobatches) {
  ASSERT_NO_FATAL_FAILURE(CommitTwoMicrobatches({.rows_carry_blocks = true}));
  ASSERT_THAT(Ops(calls_), ElementsAre("begin", "append t x5", "commit"));
  EXPECT_EQ(calls_[1].values, (std::vector<uint64_t>{1, 2, 11, 12, 13}));
  EXPECT_EQ(calls_[1].range.start, 0u);
  EXPECT_EQ(calls_[1].range.end, 19u);
}

TEST_F(CoalescerTest, LargeEmptyAndOtherTableBatchesKeepTheirOrder) {
  auto s = Make({.pass_rows = 100});
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", {1}, R(0, 9)).ok());
  ASSERT_TRUE(s->Append("t", *BlockNumBatch(Iota(100, 200)), R(0, 9)).ok());  // passes through
  ASSERT_TRUE(AppendEach(*s, "t", {2, 3}, R(0, 9)).ok());
  ASSERT_TRUE(s->Append("t", *BlockNumBatch({}), R(0, 9)).ok());  // 0 rows: as it is
  ASSERT_TRUE(AppendEach(*s, "t", {4}, R(0, 9)).ok());
  ASSERT_TRUE(AppendEach(*s, "u", {5}, R(0, 9)).ok());
  ASSERT_TRUE(s->Commit(nullptr).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin", "append t x1", "append t x100", "append t x2",
                                       "append t x0", "append t x1", "append u x1", "commit"));
}

TEST_F(CoalescerTest, HeldRowsAreAppendedAtTheLimit) {
  auto s = Make({.max_rows = 100});
  ASSERT_TRUE(s->Begin().ok());
  ASSERT_TRUE(AppendEach(*s, "t", Iota(0, 250), R(0, 9)).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin", "append t x100", "append t x100"));
  ASSERT_TRUE(s->Commit(nullptr).ok());
  EXPECT_THAT(Ops(calls_), ElementsAre("begin", "append t x100", "append t x100", "append t x50", "commit"));
  EXPECT_EQ(calls_[3].values, Iota(200, 250));
}

// --- Whole loads of one-row messages into Delta Lake. ---

struct ParquetFiles {
  int files = 0;
  int64_t rows = 0;
};

ParquetFiles CountParquet(const std::filesystem::path& dir) {
  ParquetFiles out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".parquet" || e.path().string().find("_delta_log") != std::string::npos) continue;
    ++out.files;
    out.rows += parquet::ParquetFileReader::OpenFile(e.path().string())->metadata()->num_rows();
  }
  return out;
}

class OneRowMessagesTest : public ::testing::TestWithParam<LoadMode> {
 protected:
  void SetUp() override {
    auto server = ScriptedFlightServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    char tmpl[] = "/tmp/amp-coalesce-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<ScriptedFlightServer> server_;
  std::filesystem::path root_;
};

// ampd's chunking: every row its own message (one per storage file), no keep-alive at the
// start of a microbatch, then the completion. 8 microbatches of 50 blocks, 1 row each.
TEST_P(OneRowMessagesTest, DeltaWritesOneParquetFilePerUnitNotPerMessage) {
  constexpr int kMicrobatches = 8, kBlocks = 50;
  ScriptedResponse response;
  response.schema = BlockNumSchema();
  response.hold_open = true;
  for (int m = 0; m < kMicrobatches; ++m) {
    const BlockRange range = R(m * kBlocks, (m + 1) * kBlocks - 1);
    for (uint64_t b = range.start; b <= range.end; ++b) {
      response.messages.push_back(ScriptedMessage::Make(BlockNumBatch({b}), BatchMetadata{{range}, false}));
    }
    response.messages.push_back(ScriptedMessage::Make(BlockNumBatch({}), BatchMetadata{{range}, true}));
  }
  server_->SetHandler([&](const std::string&, const RecordedCall&) { return response; });
  Session session(server_->url());
  ASSERT_TRUE(session.configure_connection("lake", "delta://" + root_.string()).ok());
  LoadOptions options;
  options.stream = true;
  options.mode = GetParam();
  if (options.mode == LoadMode::kUpsert) options.key_columns = {"block_num"};
  options.batch_size = 1'000'000;  // one catch-up unit until the stream goes quiet
  options.flush_interval = 1h;
  options.server_microbatch_blocks = kBlocks;
  auto results = session.sql("SELECT block_num FROM eth_firehose.blocks").load("lake", "blocks", options);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  int64_t rows = 0;
  int units = 0;
  while (rows < kMicrobatches * kBlocks) {
    auto r = results->Next();
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->success) << r->error;
    rows += r->rows_loaded;
    ++units;
  }
  results->Stop();
  while (results->Next()) {
  }
  const ParquetFiles files = CountParquet(root_ / "blocks");
  EXPECT_EQ(files.rows, kMicrobatches * kBlocks);
  // One file per committed unit (each unit is one Delta version), whatever the messages.
  EXPECT_EQ(files.files, units) << files.files << " files for " << kMicrobatches * kBlocks
                                << " one-row messages in " << units << " units";
  EXPECT_LE(units, 2);
}

INSTANTIATE_TEST_SUITE_P(Modes, OneRowMessagesTest, ::testing::Values(LoadMode::kAppend, LoadMode::kUpsert),
                         [](const auto& info) { return std::string(ToString(info.param)); });

}  // namespace
}  // namespace amp::streaming
