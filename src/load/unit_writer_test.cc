// The unit writer on the memory loader: counters, the first-unit undo, and the recovery
// that settles a Commit whose outcome is unknown.
#include "load/unit_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include "common/testing/column_values.h"
#include "common/testing/status_matchers.h"
#include "flight/testing/scripted_server.h"
#include "loaders/memory/memory_loader.h"

namespace amp::load {
namespace {

using ::testing::ElementsAre;

// The scripted server's fixtures: rows of one block_num column, one range of "mainnet".
std::shared_ptr<arrow::RecordBatch> Batch(const std::vector<uint64_t>& blocks) {
  return amp::testing::BlockNumBatch(blocks);
}

BlockRange Range(BlockNumber start, BlockNumber end) {
  return amp::testing::TestRange("mainnet", start, end);
}

StreamCheckpoint Record(uint64_t transaction_id, BlockNumber through) {
  StreamCheckpoint record;
  record.stream_id = "job";
  record.transaction_id = transaction_id;
  record.cursor.networks["mainnet"] = NetworkCursor{through, BlockHash{}};
  return record;
}

class UnitWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = std::string("unit_writer_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    MemoryStore::Drop(name_);
    store_ = MemoryStore::Get(name_);
    LoaderRegistry registry;
    RegisterMemoryLoader(registry);
    auto loader = registry.Create("memory", {{"name", name_}});
    ASSERT_TRUE(loader.ok()) << loader.status().ToString();
    loader_ = std::move(*loader);
    TableSpec spec;
    spec.name = "t";
    spec.schema = amp::testing::BlockNumSchema();
    spec.block_column = "block_num";
    ASSERT_OK(loader_->EnsureTable(spec));
  }

  UnitWriter Writer() {
    return UnitWriter({.loader = loader_, .table = "t", .rows_carry_blocks = true});
  }

  std::vector<uint64_t> Stored() {
    return ColumnValues<arrow::UInt64Type>(*ValueOrDie(store_->ReadTable("t")), "block_num");
  }

  std::string name_;
  std::shared_ptr<MemoryStore> store_;
  std::shared_ptr<Loader> loader_;
};

TEST_F(UnitWriterTest, CountsWhatAUnitWroteAndCommitsItsRecord) {
  UnitWriter writer = Writer();
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({5, 6}), Range(5, 6)));
  ASSERT_OK(writer.Append(*Batch({7}), Range(7, 7)));
  writer.Cover(Range(3, 9));
  ASSERT_OK_AND_ASSIGN(UnitCounters unit, writer.Commit(Record(1, 9)));
  EXPECT_EQ(unit.rows, 3);
  EXPECT_EQ(unit.batches, 2);
  EXPECT_GT(unit.bytes, 0);
  ASSERT_TRUE(unit.blocks.has_value());
  EXPECT_EQ(unit.blocks->ToString(), Range(3, 9).ToString());
  EXPECT_FALSE(writer.open());
  EXPECT_TRUE(writer.committed_any());
  EXPECT_THAT(Stored(), ElementsAre(5, 6, 7));
  EXPECT_EQ(store_->checkpoint("job"), Record(1, 9));
}

TEST_F(UnitWriterTest, RefusesCallsOutsideAUnit) {
  UnitWriter writer = Writer();
  EXPECT_TRUE(writer.Append(*Batch({1}), Range(1, 1)).IsInvalid());
  EXPECT_TRUE(writer.Commit(Record(1, 1)).status().IsInvalid());
  ASSERT_OK(writer.Begin());
  EXPECT_TRUE(writer.Begin().IsInvalid());
}

TEST_F(UnitWriterTest, FirstUnitUndoAppliesUntilAUnitCommits) {
  {
    UnitWriter earlier = Writer();
    ASSERT_OK(earlier.Begin());
    ASSERT_OK(earlier.Append(*Batch({1, 2, 3, 4}), Range(1, 4)));
    ASSERT_OK(earlier.Commit(Record(1, 4)).status());
  }
  UnitWriter writer = Writer();
  writer.UndoInFirstUnit(BlockInterval{3, kMaxBlock});
  // An aborted first unit undoes nothing; the next one still carries the undo.
  ASSERT_OK(writer.Begin());
  writer.Abort();
  EXPECT_THAT(Stored(), ElementsAre(1, 2, 3, 4));
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({3}), Range(3, 3)));
  ASSERT_OK(writer.Commit(Record(2, 3)).status());
  EXPECT_THAT(Stored(), ElementsAre(1, 2, 3));
  // Once a unit committed, the undo is spent.
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({4}), Range(4, 4)));
  ASSERT_OK(writer.Commit(Record(3, 4)).status());
  EXPECT_THAT(Stored(), ElementsAre(1, 2, 3, 4));
}

TEST_F(UnitWriterTest, RecoverSeesThatAFailedCommitLanded) {
  UnitWriter writer = Writer();
  MemoryFault fault = MemoryFault::At(MemoryFault::Call::kCommit, 1);
  fault.after_apply = true;
  store_->InjectFault(fault);
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({1, 2}), Range(1, 2)));
  EXPECT_FALSE(writer.Commit(Record(1, 2)).ok());
  ASSERT_OK_AND_ASSIGN(Recovery recovery, writer.Recover(std::string("job")));
  ASSERT_TRUE(recovery.landed.has_value());
  EXPECT_EQ(recovery.landed->rows, 2);
  EXPECT_EQ(recovery.durable, Record(1, 2));
  EXPECT_TRUE(writer.committed_any());
  EXPECT_FALSE(writer.open());
}

TEST_F(UnitWriterTest, RecoverSeesThatAFailedCommitDidNotLand) {
  UnitWriter writer = Writer();
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({1}), Range(1, 1)));
  ASSERT_OK(writer.Commit(Record(1, 1)).status());
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kCommit, 1));
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({2}), Range(2, 2)));
  EXPECT_FALSE(writer.Commit(Record(2, 2)).ok());
  ASSERT_OK_AND_ASSIGN(Recovery recovery, writer.Recover(std::string("job")));
  EXPECT_FALSE(recovery.landed.has_value());
  EXPECT_EQ(recovery.durable, Record(1, 1));
  EXPECT_THAT(Stored(), ElementsAre(1));
  // The reopened session takes the replayed unit.
  ASSERT_OK(writer.Begin());
  ASSERT_OK(writer.Append(*Batch({2}), Range(2, 2)));
  ASSERT_OK(writer.Commit(Record(2, 2)).status());
  EXPECT_THAT(Stored(), ElementsAre(1, 2));
}

TEST_F(UnitWriterTest, RecoverAfterAnUndoErrorReportsNothingLanded) {
  UnitWriter writer = Writer();
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kUndo, 1));
  ASSERT_OK(writer.Begin());
  EXPECT_FALSE(writer.Undo(BlockInterval{1, 2}).ok());
  ASSERT_OK_AND_ASSIGN(Recovery recovery, writer.Recover(std::string("job")));
  EXPECT_FALSE(recovery.landed.has_value());
  EXPECT_FALSE(recovery.durable.has_value());
  EXPECT_FALSE(writer.committed_any());
}

TEST(RetrierTest, RetriesOnlyRetryableErrorsUntilTheAttemptsAreUsedUp) {
  RetryOptions options;
  options.max_attempts = 3;
  options.initial_backoff = std::chrono::milliseconds(0);
  Retrier retrier(options, std::stop_token(), 1);
  const Status fatal = WithErrorInfo(Status::Invalid("bad"), ErrorClass::kFatal, "t", "X");
  EXPECT_FALSE(retrier.Retry(fatal, nullptr));
  const Status flaky = Status::IOError("flaky");
  std::vector<int> attempts;
  auto log = [&](std::chrono::milliseconds, int attempt) { attempts.push_back(attempt); };
  EXPECT_TRUE(retrier.Retry(flaky, log));
  EXPECT_TRUE(retrier.Retry(flaky, log));
  EXPECT_FALSE(retrier.Retry(flaky, log));
  EXPECT_TRUE(retrier.exhausted());
  EXPECT_THAT(attempts, ElementsAre(2, 3));
  retrier.Progressed();
  EXPECT_TRUE(retrier.Retry(flaky, log));
}

TEST(RetryStepTest, ReturnsTheStopStatusOnceStopped) {
  std::stop_source stop;
  stop.request_stop();
  int calls = 0;
  Status st = RetryStep(
      RetryOptions{}, stop.get_token(), "test",
      [&] {
        ++calls;
        return Status::OK();
      },
      [] { return Status::Cancelled("stopped"); });
  EXPECT_TRUE(st.IsCancelled());
  EXPECT_EQ(calls, 0);
}

TEST(RetryStepTest, RetriesAStepUntilItSucceeds) {
  RetryOptions options;
  options.initial_backoff = std::chrono::milliseconds(0);
  int calls = 0;
  Status st = RetryStep(
      options, std::stop_token(), "test",
      [&] { return ++calls < 3 ? Status::IOError("flaky") : Status::OK(); },
      [] { return Status::Cancelled("stopped"); });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace amp::load
