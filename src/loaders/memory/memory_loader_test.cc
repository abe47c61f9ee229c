#include "common/testing/column_values.h"
#include "common/testing/status_matchers.h"
#include "loaders/memory/memory_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include <thread>

namespace amp {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("block_num", arrow::uint64(), false),
                        arrow::field("v", arrow::utf8())});
}

std::shared_ptr<arrow::RecordBatch> Batch(const std::vector<uint64_t>& blocks,
                                          const std::vector<std::string>& values) {
  arrow::UInt64Builder b;
  arrow::StringBuilder s;
  EXPECT_TRUE(b.AppendValues(blocks).ok());
  EXPECT_TRUE(s.AppendValues(values).ok());
  return arrow::RecordBatch::Make(Schema(), static_cast<int64_t>(blocks.size()),
                                  {b.Finish().ValueOrDie(), s.Finish().ValueOrDie()});
}

BlockRange Range(BlockNumber start, BlockNumber end) {
  return BlockRange{.network = "mainnet", .start = start, .end = end};
}

std::vector<uint64_t> Blocks(const std::shared_ptr<arrow::Table>& t, const std::string& name = "block_num") {
  return ColumnValues<arrow::UInt64Type>(*t, name);
}

std::vector<std::string> Values(const std::shared_ptr<arrow::Table>& t) {
  return ColumnValues<arrow::StringType>(*t, "v");
}

class MemoryLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = std::string("memtest_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    MemoryStore::Drop(name_);
    store_ = MemoryStore::Get(name_);
  }

  std::unique_ptr<Loader> Make(bool atomic = true) {
    LoaderRegistry registry;
    RegisterMemoryLoader(registry);
    auto loader = registry.Create(
        "memory", {{"name", name_}, {"atomic", atomic ? "true" : "false"}});
    EXPECT_TRUE(loader.ok()) << loader.status().ToString();
    return std::move(*loader);
  }

  TableSpec Spec(std::string block_column = "block_num", LoadMode mode = LoadMode::kAppend) {
    TableSpec spec;
    spec.name = "t";
    spec.schema = Schema();
    spec.block_column = std::move(block_column);
    spec.mode = mode;
    return spec;
  }

  std::shared_ptr<arrow::Table> Read(bool amp = false) {
    auto t = store_->ReadTable("t", amp);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return *t;
  }

  std::string name_;
  std::shared_ptr<MemoryStore> store_;
};

TEST_F(MemoryLoaderTest, UnitIsInvisibleUntilCommitAndAbortDiscardsIt) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec()));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1, 2}, {"a", "b"}), Range(1, 2)));
  EXPECT_EQ(Read()->num_rows(), 0);
  session->Abort();
  EXPECT_EQ(Read()->num_rows(), 0);

  StreamCheckpoint cp;
  cp.stream_id = "s";
  cp.transaction_id = 3;
  cp.cursor.networks["mainnet"] = NetworkCursor{2, {}};
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1, 2}, {"a", "b"}), Range(1, 2)));
  EXPECT_FALSE(store_->checkpoint("s").has_value());
  ASSERT_OK(session->Commit(&cp));
  EXPECT_EQ(Blocks(Read()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Values(Read()), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(store_->checkpoint("s").has_value());
  EXPECT_EQ(*store_->checkpoint("s"), cp);
  EXPECT_EQ(*session->LoadCheckpoint("s").ValueOrDie(), cp);
  // ReadTable hides the _amp_ columns unless asked.
  EXPECT_EQ(Read()->num_columns(), 2);
  EXPECT_EQ(Read(true)->num_columns(), 4);
}

TEST_F(MemoryLoaderTest, UndoByRowBlockIsExact) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec("block_num")));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({10, 11, 12, 13}, {"a", "b", "c", "d"}), Range(10, 13)));
  ASSERT_OK(session->Commit(nullptr));
  // Undo, then append the replacements, in one unit: order matters.
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Undo("t", {12, kMaxBlock}));
  ASSERT_OK(session->Append("t", *Batch({12, 13}, {"c2", "d2"}), Range(12, 13)));
  ASSERT_OK(session->Commit(nullptr));
  EXPECT_EQ(Blocks(Read()), (std::vector<uint64_t>{10, 11, 12, 13}));
  EXPECT_EQ(Values(Read()), (std::vector<std::string>{"a", "b", "c2", "d2"}));
  EXPECT_EQ(Blocks(Read(true), kAmpBlockStartColumn), (std::vector<uint64_t>{10, 11, 12, 13}));
}

TEST_F(MemoryLoaderTest, UndoWithoutBlockColumnDropsWholeMicrobatches) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec("")));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({0, 5}, {"a", "b"}), Range(0, 9)));
  ASSERT_OK(session->Append("t", *Batch({10, 15}, {"c", "d"}), Range(10, 19)));
  ASSERT_OK(session->Commit(nullptr));
  EXPECT_EQ(Blocks(Read(true), kAmpBlockEndColumn), (std::vector<uint64_t>{9, 9, 19, 19}));
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Undo("t", {17, 19}));  // intersects [10, 19] only
  ASSERT_OK(session->Commit(nullptr));
  EXPECT_EQ(Values(Read()), (std::vector<std::string>{"a", "b"}));
}

TEST_F(MemoryLoaderTest, UpsertReplacesRowsWithTheSameKey) {
  auto loader = Make();
  TableSpec spec = Spec("block_num", LoadMode::kUpsert);
  spec.key_columns = {"block_num"};
  ASSERT_OK(loader->EnsureTable(spec));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1, 2, 3}, {"a", "b", "c"}), Range(1, 3)));
  ASSERT_OK(session->Append("t", *Batch({2, 4, 4}, {"B", "d", "D"}), Range(2, 4)));
  ASSERT_OK(session->Commit(nullptr));
  EXPECT_EQ(Blocks(Read()), (std::vector<uint64_t>{1, 3, 2, 4}));
  EXPECT_EQ(Values(Read()), (std::vector<std::string>{"a", "c", "B", "D"}));

  TableSpec no_key = Spec("block_num", LoadMode::kUpsert);
  EXPECT_FALSE(loader->EnsureTable(no_key).ok());
}

TEST_F(MemoryLoaderTest, TruncateEmptiesTheTableAndForgetsItsCheckpoints) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec()));
  auto session = loader->OpenSession().ValueOrDie();
  StreamCheckpoint cp;
  cp.stream_id = "s";
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1}, {"a"}), Range(1, 1)));
  ASSERT_OK(session->Commit(&cp));
  ASSERT_OK(loader->Truncate("t"));
  EXPECT_EQ(Read()->num_rows(), 0);
  EXPECT_FALSE(store_->checkpoint("s").has_value());
  EXPECT_EQ(store_->stats().truncates, 1);
}

TEST_F(MemoryLoaderTest, IncompatibleTableIsFatalAndNamesTheColumn) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec()));
  TableSpec other = Spec();
  other.schema = arrow::schema({arrow::field("block_num", arrow::uint64()), arrow::field("v", arrow::int32())});
  Status st = loader->EnsureTable(other);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_THAT(st.message(), HasSubstr("'v'"));
  // A batch of the wrong shape is refused too.
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  auto wrong = arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::uint64())}), 0,
                                        {arrow::MakeEmptyArray(arrow::uint64()).ValueOrDie()});
  EXPECT_FALSE(session->Append("t", *wrong, Range(0, 0)).ok());
  TableSpec reserved = Spec();
  reserved.name = "r";
  reserved.schema = arrow::schema({arrow::field(kAmpBlockStartColumn, arrow::uint64())});
  reserved.block_column = "";
  EXPECT_FALSE(loader->EnsureTable(reserved).ok());
}

TEST_F(MemoryLoaderTest, InjectedFaults) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec()));
  auto session = loader->OpenSession().ValueOrDie();
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kAppend, 2));
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1}, {"a"}), Range(1, 1)));
  Status st = session->Append("t", *Batch({2}, {"b"}), Range(2, 2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCommit);
  session->Abort();
  EXPECT_EQ(Read()->num_rows(), 0);

  // A failed commit applies nothing; the fault is consumed.
  store_->InjectFault(MemoryFault::At(MemoryFault::Call::kCommit, 1));
  StreamCheckpoint cp;
  cp.stream_id = "s";
  cp.transaction_id = 1;
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1}, {"a"}), Range(1, 1)));
  ASSERT_FALSE(session->Commit(&cp).ok());
  session->Abort();
  EXPECT_EQ(Read()->num_rows(), 0);
  EXPECT_FALSE(store_->checkpoint("s").has_value());

  // An ambiguous commit: applied, yet reported as failed.
  MemoryFault ambiguous = MemoryFault::At(MemoryFault::Call::kCommit, 1);
  ambiguous.after_apply = true;
  store_->InjectFault(ambiguous);
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1}, {"a"}), Range(1, 1)));
  ASSERT_FALSE(session->Commit(&cp).ok());
  EXPECT_EQ(Read()->num_rows(), 1);
  EXPECT_TRUE(store_->checkpoint("s").has_value());
  EXPECT_EQ(store_->stats().failed_commits, 2);
}

TEST_F(MemoryLoaderTest, NonAtomicAppliesAtOnce) {
  auto loader = Make(/*atomic=*/false);
  EXPECT_FALSE(loader->capabilities().atomic_commit);
  ASSERT_OK(loader->EnsureTable(Spec()));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1}, {"a"}), Range(1, 1)));
  EXPECT_EQ(Read()->num_rows(), 1);
  session->Abort();
  EXPECT_EQ(Read()->num_rows(), 1);  // nothing to take back
}

TEST_F(MemoryLoaderTest, ConcurrentSessions) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec()));
  constexpr int kThreads = 4, kUnits = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto session = loader->OpenSession().ValueOrDie();
      for (int u = 0; u < kUnits; ++u) {
        const uint64_t block = static_cast<uint64_t>(t * 1000 + u);
        EXPECT_TRUE(session->Begin().ok());
        EXPECT_TRUE(session->Append("t", *Batch({block}, {"x"}), Range(block, block)).ok());
        EXPECT_TRUE(session->Commit(nullptr).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto blocks = Blocks(Read());
  EXPECT_EQ(blocks.size(), static_cast<size_t>(kThreads * kUnits));
  std::sort(blocks.begin(), blocks.end());
  EXPECT_EQ(std::unique(blocks.begin(), blocks.end()), blocks.end());
  EXPECT_EQ(store_->stats().commits, kThreads * kUnits);
}

TEST_F(MemoryLoaderTest, SameNameSharesTheStore) {
  auto a = Make();
  auto b = Make();
  ASSERT_OK(a->EnsureTable(Spec()));
  auto session = b->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({7}, {"x"}), Range(7, 7)));
  ASSERT_OK(session->Commit(nullptr));
  EXPECT_EQ(Blocks(Read()), (std::vector<uint64_t>{7}));
}

TEST_F(MemoryLoaderTest, ReadRowsReturnsRowsWhoseSpanIntersects) {
  auto loader = Make();
  ASSERT_OK(loader->EnsureTable(Spec("block_num")));
  TableSpec spans = Spec("");
  spans.name = "spans";
  ASSERT_OK(loader->EnsureTable(spans));
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_OK(session->Begin());
  ASSERT_OK(session->Append("t", *Batch({1, 2, 2, 5}, {"a", "b", "c", "d"}), Range(1, 5)));
  ASSERT_OK(session->Append("spans", *Batch({1, 2}, {"a", "b"}), Range(0, 2)));
  ASSERT_OK(session->Append("spans", *Batch({5}, {"d"}), Range(3, 9)));
  ASSERT_OK(session->Commit(nullptr));

  auto rows = loader->ReadRows(Spec("block_num"), {2, 4}).ValueOrDie();
  ASSERT_EQ(rows->num_columns(), 3);
  EXPECT_EQ(rows->schema()->field(2)->name(), kAmpBlockStartColumn);
  EXPECT_EQ(Blocks(rows), (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(Values(rows), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(loader->ReadRows(Spec("block_num"), {6, kMaxBlock}).ValueOrDie()->num_rows(), 0);
  // Without a per-row block column, rows carry their microbatch's span.
  auto by_span = loader->ReadRows(spans, {2, 3}).ValueOrDie();
  EXPECT_EQ(Values(by_span), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(Blocks(by_span, kAmpBlockStartColumn), (std::vector<uint64_t>{0, 0, 3}));
  // Unknown table or column type: fatal.
  TableSpec other = Spec();
  other.name = "nope";
  EXPECT_FALSE(loader->ReadRows(other, {0, 9}).ok());
  other = Spec();
  other.schema = arrow::schema({arrow::field("v", arrow::int64())});
  auto mismatch = loader->ReadRows(other, {0, 9});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("'v' is string, not int64"));
}

}  // namespace
}  // namespace amp
