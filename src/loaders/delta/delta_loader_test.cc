// Tests of the "delta" loader beyond the shared conformance suite: undo touches only the
// files whose block stats intersect, replays are no-ops, optimize keeps the rows, bad
// destinations fail with kFatal naming the path, URIs, partitioning, schema evolution.
#include "loaders/delta/delta_loader.h"

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "loaders/delta/delta_log.h"

namespace amp::delta {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("block_num", arrow::uint64(), false), arrow::field("v", arrow::utf8())});
}

std::shared_ptr<arrow::RecordBatch> Rows(uint64_t first, uint64_t last, const std::string& tag) {
  arrow::UInt64Builder b;
  arrow::StringBuilder v;
  for (uint64_t i = first; i <= last; ++i) {
    EXPECT_TRUE(b.Append(i).ok());
    EXPECT_TRUE(v.Append(tag + std::to_string(i)).ok());
  }
  return arrow::RecordBatch::Make(Schema(), static_cast<int64_t>(last - first + 1),
                                  {b.Finish().ValueOrDie(), v.Finish().ValueOrDie()});
}

BlockRange Range(uint64_t a, uint64_t b) {
  BlockRange r;
  r.network = "anvil";
  r.start = a;
  r.end = b;
  return r;
}

class DeltaLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    root_ = (fs::temp_directory_path() / ("amp-delta-loader-" + std::to_string(getpid()) + "-" + std::to_string(n++)))
                .string();
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<DeltaLoader> Make(LoaderConfig extra = {}) {
    extra["root"] = root_;
    auto loader = MakeDeltaLoader(extra);
    EXPECT_TRUE(loader.ok()) << loader.status().ToString();
    return std::move(*loader);
  }

  TableSpec Spec(const std::string& name = "t") {
    TableSpec spec;
    spec.name = name;
    spec.schema = Schema();
    spec.block_column = "block_num";
    return spec;
  }

  std::set<std::string> Values(Loader& loader, const TableSpec& spec) {
    auto table = loader.ReadRows(spec, {});
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    std::set<std::string> out;
    if (!table.ok()) return out;
    auto combined = (*table)->CombineChunks().ValueOrDie();
    if (combined->num_rows() == 0) return out;
    const auto& v = static_cast<const arrow::StringArray&>(*combined->GetColumnByName("v")->chunk(0));
    for (int64_t i = 0; i < v.length(); ++i) out.insert(v.GetString(i));
    return out;
  }

  // One unit: blocks first..last of table "t", each row tagged `tag`.
  static Status AppendUnit(LoaderSession& session, uint64_t first, uint64_t last, const std::string& tag,
                           const StreamCheckpoint* checkpoint = nullptr) {
    AMP_RETURN_NOT_OK(session.Begin());
    AMP_RETURN_NOT_OK(session.Append("t", *Rows(first, last, tag), Range(first, last)));
    return session.Commit(checkpoint);
  }

  // One unit undoing `blocks` of `table`.
  static Status UndoUnit(LoaderSession& session, const std::string& table, const BlockInterval& blocks) {
    AMP_RETURN_NOT_OK(session.Begin());
    AMP_RETURN_NOT_OK(session.Undo(table, blocks));
    return session.Commit(nullptr);
  }

  Snapshot Snap(const std::string& table = "t") {
    Snapshot snap;
    EXPECT_TRUE(Refresh(root_ + "/" + table, snap).ok());
    return snap;
  }

  std::string root_;
};

TEST_F(DeltaLoaderTest, UndoRemovesOrRewritesOnlyIntersectingFiles) {
  auto loader = Make();
  ASSERT_TRUE(loader->EnsureTable(Spec()).ok());
  auto session = loader->OpenSession().ValueOrDie();
  // Three units -> three files: blocks 0-9, 10-19, 20-29.
  for (uint64_t u = 0; u < 3; ++u) {
    ASSERT_TRUE(AppendUnit(*session, u * 10, u * 10 + 9, "a").ok());
  }
  const auto before = Snap();
  ASSERT_EQ(before.files.size(), 3u);
  std::string first_file;
  for (const auto& [path, add] : before.files) {
    if (*add.parsed.min_start == 0) first_file = path;
  }
  // Undo 15..max: the 20-29 file is removed unread, 10-19 is rewritten, 0-9 untouched.
  ASSERT_TRUE(UndoUnit(*session, "t", {15, kMaxBlock}).ok());
  const auto after = Snap();
  EXPECT_EQ(after.files.size(), 2u);
  EXPECT_EQ(after.files.count(first_file), 1u) << "the untouched file stays";
  auto values = Values(*loader, Spec());
  EXPECT_EQ(values.size(), 15u);
  EXPECT_EQ(values.count("a14"), 1u);
  EXPECT_EQ(values.count("a15"), 0u);
}

TEST_F(DeltaLoaderTest, ReplayedCommitIsANoOpAndCheckpointIsStoredInTheLog) {
  auto loader = Make();
  ASSERT_TRUE(loader->EnsureTable(Spec()).ok());
  auto session = loader->OpenSession().ValueOrDie();
  StreamCheckpoint cp;
  cp.stream_id = "job/range/0";
  cp.transaction_id = 5;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(AppendUnit(*session, 0, 4, "x", &cp).ok());
  }
  EXPECT_EQ(Values(*loader, Spec()).size(), 5u);
  auto snap = Snap();
  EXPECT_EQ(snap.version, 1) << "the replay made no version";
  EXPECT_EQ(snap.txns.at("job/range/0"), 5);
  // No orphan Parquet file from the replay.
  int parquet = 0;
  for (const auto& e : fs::directory_iterator(root_ + "/t")) parquet += e.path().extension() == ".parquet";
  EXPECT_EQ(parquet, 1);
  auto other = Make();
  auto s2 = other->OpenSession().ValueOrDie();
  auto all = s2->LoadCheckpoints("job/").ValueOrDie();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], cp);
}

TEST_F(DeltaLoaderTest, CheckpointsEveryNVersionsAndReadsFromThem) {
  auto loader = Make({{"checkpoint_interval", "4"}});
  ASSERT_TRUE(loader->EnsureTable(Spec()).ok());
  auto session = loader->OpenSession().ValueOrDie();
  for (uint64_t u = 0; u < 9; ++u) {
    ASSERT_TRUE(AppendUnit(*session, u, u, "c").ok());
  }
  EXPECT_TRUE(fs::exists(root_ + "/t/_delta_log/00000000000000000008.checkpoint.parquet"));
  EXPECT_TRUE(fs::exists(root_ + "/t/_delta_log/_last_checkpoint"));
  auto snap = Snap();
  EXPECT_EQ(snap.last_checkpoint, 8);
  EXPECT_EQ(snap.version, 9);
  EXPECT_EQ(Values(*Make(), Spec()).size(), 9u);
}

TEST_F(DeltaLoaderTest, OptimizeCompactsAndKeepsRows) {
  auto loader = Make();
  ASSERT_TRUE(loader->EnsureTable(Spec()).ok());
  auto session = loader->OpenSession().ValueOrDie();
  for (uint64_t u = 0; u < 5; ++u) {
    ASSERT_TRUE(AppendUnit(*session, u * 2, u * 2 + 1, "o").ok());
  }
  const auto before = Values(*loader, Spec());
  ASSERT_TRUE(loader->Optimize("t").ok());
  EXPECT_EQ(Snap().files.size(), 1u);
  EXPECT_EQ(Values(*loader, Spec()), before);
  // Undo after optimize still works by stats.
  ASSERT_TRUE(UndoUnit(*session, "t", {8, kMaxBlock}).ok());
  EXPECT_EQ(Values(*loader, Spec()).size(), 8u);
}

TEST_F(DeltaLoaderTest, BadDestinationsAreFatalAndNameThePath) {
  // A root below a regular file.
  std::ofstream(root_ + ".file") << "x";
  auto bad_root = MakeDeltaLoader({{"root", root_ + ".file/sub"}}).ValueOrDie();
  Status st = bad_root->EnsureTable(Spec());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find(root_ + ".file/sub"), std::string::npos) << st.ToString();
  fs::remove(root_ + ".file");
  // A directory that is not a Delta table.
  fs::create_directories(root_ + "/t");
  std::ofstream(root_ + "/t/data.csv") << "a,b\n";
  auto loader = Make();
  st = loader->EnsureTable(Spec());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("not a Delta table"), std::string::npos) << st.ToString();
  EXPECT_FALSE(fs::exists(root_ + "/t/_delta_log")) << "nothing written";
  EXPECT_FALSE(MakeDeltaLoader({{"root", "relative/path"}}).ok());
  EXPECT_FALSE(MakeDeltaLoader({{"root", "/x"}, {"compression", "brotli9"}}).ok());
}

TEST_F(DeltaLoaderTest, SchemaEvolutionAddsNullableColumnsWhenEnabled) {
  auto loader = Make({{"schema_evolution", "true"}});
  ASSERT_TRUE(loader->EnsureTable(Spec()).ok());
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_TRUE(AppendUnit(*session, 0, 1, "e").ok());
  TableSpec wider = Spec();
  wider.schema = Schema()->AddField(2, arrow::field("extra", arrow::int64(), true)).ValueOrDie();
  ASSERT_TRUE(loader->EnsureTable(wider).ok());
  auto rows = loader->ReadRows(wider, {}).ValueOrDie()->CombineChunks().ValueOrDie();
  EXPECT_EQ(rows->num_rows(), 2);
  EXPECT_EQ(rows->GetColumnByName("extra")->null_count(), 2);
  TableSpec retyped = Spec();
  retyped.schema = arrow::schema({Schema()->field(0), arrow::field("v", arrow::int32())});
  Status st = loader->EnsureTable(retyped);
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("'v'"), std::string::npos) << st.ToString();
}

TEST_F(DeltaLoaderTest, PartitionedTableRoundTripsAndUndoes) {
  auto loader = Make({{"partition_by", "p"}});
  TableSpec spec;
  spec.name = "parts";
  spec.schema = arrow::schema({arrow::field("block_num", arrow::uint64(), false), arrow::field("p", arrow::int32()),
                               arrow::field("v", arrow::utf8())});
  spec.block_column = "block_num";
  ASSERT_TRUE(loader->EnsureTable(spec).ok());
  arrow::UInt64Builder b;
  arrow::Int32Builder p;
  arrow::StringBuilder v;
  for (uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(b.Append(i).ok());
    ASSERT_TRUE(i == 3 ? p.AppendNull().ok() : p.Append(static_cast<int32_t>(i % 3)).ok());
    ASSERT_TRUE(v.Append("v" + std::to_string(i)).ok());
  }
  auto batch = arrow::RecordBatch::Make(spec.schema, 10, {b.Finish().ValueOrDie(), p.Finish().ValueOrDie(), v.Finish().ValueOrDie()});
  auto session = loader->OpenSession().ValueOrDie();
  ASSERT_TRUE(session->Begin().ok());
  ASSERT_TRUE(session->Append("parts", *batch, Range(0, 9)).ok());
  ASSERT_TRUE(session->Commit(nullptr).ok());
  EXPECT_EQ(Snap("parts").files.size(), 4u);
  EXPECT_TRUE(fs::exists(root_ + "/parts/p=1"));
  auto rows = loader->ReadRows(spec, {}).ValueOrDie()->CombineChunks().ValueOrDie();
  ASSERT_EQ(rows->num_rows(), 10);
  EXPECT_EQ(rows->GetColumnByName("p")->null_count(), 1);
  ASSERT_TRUE(UndoUnit(*session, "parts", {5, kMaxBlock}).ok());
  EXPECT_EQ(loader->ReadRows(spec, {}).ValueOrDie()->num_rows(), 5);
}

TEST_F(DeltaLoaderTest, SeparateInstancesCommitConcurrentlyThroughTheLog) {
  // Separate loader instances share nothing in memory (like separate processes): every
  // commit races through link() and re-plans on a lost race.
  ASSERT_TRUE(Make()->EnsureTable(Spec()).ok());
  constexpr int kWriters = 3, kUnits = 8;
  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      results[w] = [&]() -> Status {
        auto loader = Make({{"checkpoint_interval", "4"}});
        AMP_RETURN_NOT_OK(loader->EnsureTable(Spec()));
        AMP_ASSIGN_OR_RETURN(auto session, loader->OpenSession());
        StreamCheckpoint cp;
        cp.stream_id = "w" + std::to_string(w);
        for (int u = 0; u < kUnits; ++u) {
          const uint64_t first = static_cast<uint64_t>(w) * 1000 + static_cast<uint64_t>(u) * 10;
          AMP_RETURN_NOT_OK(session->Begin());
          if (u == kUnits - 1) {
            // Undo this writer's previous unit, then reload it with another tag.
            AMP_RETURN_NOT_OK(session->Undo("t", {first - 10, first - 1}));
            AMP_RETURN_NOT_OK(session->Append("t", *Rows(first - 10, first - 1, "r"), Range(first - 10, first - 1)));
          }
          AMP_RETURN_NOT_OK(session->Append("t", *Rows(first, first + 9, "w"), Range(first, first + 9)));
          cp.transaction_id = static_cast<uint64_t>(u + 1);
          AMP_RETURN_NOT_OK(session->Commit(&cp));
        }
        return Status::OK();
      }();
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < kWriters; ++w) ASSERT_TRUE(results[w].ok()) << results[w].ToString();
  auto loader = Make();
  auto values = Values(*loader, Spec());
  EXPECT_EQ(values.size(), static_cast<size_t>(kWriters * kUnits * 10));
  for (int w = 0; w < kWriters; ++w) {
    const uint64_t redone = static_cast<uint64_t>(w) * 1000 + (kUnits - 2) * 10;
    EXPECT_EQ(values.count("r" + std::to_string(redone)), 1u);
    EXPECT_EQ(values.count("w" + std::to_string(redone)), 0u);
  }
  auto session = loader->OpenSession().ValueOrDie();
  auto all = session->LoadCheckpoints("w").ValueOrDie();
  ASSERT_EQ(all.size(), static_cast<size_t>(kWriters));
  for (const auto& cp : all) EXPECT_EQ(cp.transaction_id, static_cast<uint64_t>(kUnits));
  EXPECT_EQ(Snap().version, kWriters * kUnits);
}

TEST(DeltaUri, ParsesRootAndOptions) {
  auto config = ConfigFromUri("delta:///data/lake?compression=snappy&checkpoint_interval=5").ValueOrDie();
  EXPECT_EQ(config.at("root"), "/data/lake");
  EXPECT_EQ(config.at("compression"), "snappy");
  EXPECT_EQ(config.at("checkpoint_interval"), "5");
  EXPECT_FALSE(ConfigFromUri("delta://relative").ok());
  EXPECT_EQ(ConfigFromUri("delta://localhost/x").ValueOrDie().at("root"), "/x");
}

TEST(DeltaUri, PercentDecodesThePathAndOptions) {
  auto config = ConfigFromUri("delta:///data/my%20lake?partition_by=a%2Cb&compression=snappy").ValueOrDie();
  EXPECT_EQ(config.at("root"), "/data/my lake");
  EXPECT_EQ(config.at("partition_by"), "a,b");
  EXPECT_FALSE(ConfigFromUri("delta:///data/bad%zz").ok()) << "a malformed escape is an error";
  EXPECT_FALSE(ConfigFromUri("delta://otherhost/x").ok()) << "only local paths";
}

}  // namespace
}  // namespace amp::delta
