// Row digests (row_digest.h) on hand-built tables: order independence, type sensitivity,
// representation independence, the duplicate / stale / missing verdicts, block grouping;
// and the report's text (amp/audit.h).
#include "common/testing/batch_builders.h"
#include "audit/row_digest.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "amp/audit.h"

namespace amp::audit {
namespace {

template <typename T>
T ValueOrDie(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) std::abort();
  return std::move(*r);
}

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type,
                                   const std::string& json) {
  return ValueOrDie(arrow::json::ArrayFromJSONString(type, json));
}

// The hash of row `row` of a single column.
Hash128 HashOf(const std::shared_ptr<arrow::Array>& column, int64_t row = 0) {
  auto hasher = ValueOrDie(RowHasher::Make({column}));
  return hasher->Hash(row);
}

Hash128 HashOfRow(const arrow::ArrayVector& columns, int64_t row = 0) {
  auto hasher = ValueOrDie(RowHasher::Make(columns));
  return hasher->Hash(row);
}

// Rows of (block, id, name, tags) for blocks 1..3, three rows each.
std::shared_ptr<arrow::RecordBatch> Rows() {
  return MakeBatch({
      {"block", Json(arrow::uint64(), "[1, 1, 1, 2, 2, 2, 3, 3, 3]")},
      {"id", Json(arrow::int64(), "[10, 11, 12, 20, 21, 22, 30, 31, 32]")},
      {"name", Json(arrow::utf8(), R"(["a", "b", null, "d", "e", "f", "g", "h", "i"])")},
      {"tags", Json(arrow::list(arrow::utf8()),
                    R"([["x"], [], null, ["y", "z"], ["y"], ["z"], [null], ["q"], ["q", "q"]])")},
  });
}

const std::vector<std::string> kColumns = {"block", "id", "name", "tags"};

std::map<BlockNumber, BlockDigest> DigestsOf(const arrow::RecordBatch& batch,
                                             BlockInterval keep = {0, kMaxBlock}) {
  std::map<BlockNumber, BlockDigest> digests;
  Status st = AccumulateBlocks(batch, kColumns, "block", keep, &digests);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return digests;
}

// The rows of `batch` at `indices`, in that order (repeats allowed).
std::shared_ptr<arrow::RecordBatch> Pick(const arrow::RecordBatch& batch,
                                         const std::vector<int64_t>& indices) {
  arrow::ArrayVector columns;
  for (const auto& column : batch.columns()) {
    arrow::ArrayVector rows;
    for (int64_t i : indices) rows.push_back(column->Slice(i, 1));
    columns.push_back(ValueOrDie(arrow::Concatenate(rows)));
  }
  return arrow::RecordBatch::Make(batch.schema(), static_cast<int64_t>(indices.size()), columns);
}

TEST(RowDigestTest, RowOrderDoesNotMatter) {
  auto rows = Rows();
  std::vector<int64_t> order(rows->num_rows());
  for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int64_t>(k);
  const auto expected = DigestsOf(*rows);
  ASSERT_EQ(expected.size(), 3u);
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    EXPECT_EQ(DigestsOf(*Pick(*rows, order)), expected) << "round " << round;
  }
  // Splitting the rows over several batches does not matter either.
  std::map<BlockNumber, BlockDigest> split;
  ASSERT_TRUE(AccumulateBlocks(*rows->Slice(0, 4), kColumns, "block", {0, kMaxBlock}, &split).ok());
  ASSERT_TRUE(AccumulateBlocks(*rows->Slice(4), kColumns, "block", {0, kMaxBlock}, &split).ok());
  EXPECT_EQ(split, expected);
  EXPECT_EQ(expected.at(2).rows, 3u);
}

TEST(RowDigestTest, TypesAndValuesAreDistinguished) {
  // One value, many types: all different.
  std::vector<std::shared_ptr<arrow::Array>> ones = {
      Json(arrow::int64(), "[1]"),        Json(arrow::uint64(), "[1]"),
      Json(arrow::utf8(), R"(["1"])"),    Json(arrow::float64(), "[1]"),
      Json(arrow::boolean(), "[true]"),   Json(arrow::binary(), R"(["1"])"),
      Json(arrow::decimal128(10, 0), R"(["1"])"),
      Json(arrow::decimal128(10, 1), R"(["0.1"])"),  // same unscaled 1, other scale
      Json(arrow::date32(), "[1]"),       Json(arrow::date64(), "[1]"),
      Json(arrow::timestamp(arrow::TimeUnit::SECOND), "[1]"),
      Json(arrow::timestamp(arrow::TimeUnit::MILLI), "[1]"),
      Json(arrow::time32(arrow::TimeUnit::SECOND), "[1]"),
      Json(arrow::list(arrow::int64()), "[[1]]"),
      Json(arrow::struct_({arrow::field("a", arrow::int64())}), R"([{"a": 1}])"),
      Json(arrow::struct_({arrow::field("b", arrow::int64())}), R"([{"b": 1}])"),
      Json(arrow::int64(), "[null]"),     Json(arrow::utf8(), R"([""])"),
      Json(arrow::list(arrow::int64()), "[[]]"),
      Json(arrow::list(arrow::int64()), "[[null]]"),
      Json(arrow::struct_({arrow::field("a", arrow::int64())}), R"([{"a": null}])"),
  };
  std::set<Hash128> seen;
  for (const auto& array : ones) {
    EXPECT_TRUE(seen.insert(HashOf(array)).second) << array->type()->ToString() << " "
                                                  << array->ToString();
  }
  // Column boundaries are part of the row: ("ab", "c") != ("a", "bc").
  EXPECT_NE(HashOfRow({Json(arrow::utf8(), R"(["ab"])"), Json(arrow::utf8(), R"(["c"])")}),
            HashOfRow({Json(arrow::utf8(), R"(["a"])"), Json(arrow::utf8(), R"(["bc"])")}));
  // Lists too: [[1, 2], [3]] != [[1], [2, 3]]; and column order matters.
  auto nested = Json(arrow::list(arrow::list(arrow::int64())), "[[[1, 2], [3]], [[1], [2, 3]]]");
  EXPECT_NE(HashOf(nested, 0), HashOf(nested, 1));
  auto a = Json(arrow::int64(), "[1]"), b = Json(arrow::int64(), "[2]");
  EXPECT_NE(HashOfRow({a, b}), HashOfRow({b, a}));
  // Every value of a column hashes differently.
  auto many = Json(arrow::int64(), "[0, 1, 2, 3, -1, 9223372036854775807]");
  std::set<Hash128> values;
  for (int64_t i = 0; i < many->length(); ++i) values.insert(HashOf(many, i));
  EXPECT_EQ(values.size(), 6u);
}

TEST(RowDigestTest, RepresentationsOfOneValueHashAlike) {
  // What a destination may legitimately return for the same value.
  EXPECT_EQ(HashOf(Json(arrow::utf8(), R"(["héllo"])")),
            HashOf(Json(arrow::large_utf8(), R"(["héllo"])")));
  EXPECT_EQ(HashOf(Json(arrow::utf8(), R"(["héllo"])")),
            HashOf(Json(arrow::utf8_view(), R"(["héllo"])")));
  EXPECT_EQ(HashOf(Json(arrow::binary(), R"(["ab"])")),
            HashOf(Json(arrow::fixed_size_binary(2), R"(["ab"])")));
  EXPECT_EQ(HashOf(Json(arrow::list(arrow::int32()), "[[1, 2]]")),
            HashOf(Json(arrow::large_list(arrow::int32()), "[[1, 2]]")));
  EXPECT_EQ(HashOf(Json(arrow::decimal128(38, 2), R"(["-1.25"])")),
            HashOf(Json(arrow::decimal256(76, 2), R"(["-1.25"])")));
  auto dict = ValueOrDie(arrow::DictionaryArray::FromArrays(
      arrow::dictionary(arrow::int8(), arrow::utf8()), Json(arrow::int8(), "[1, null]"),
      Json(arrow::utf8(), R"(["x", "y"])")));
  EXPECT_EQ(HashOf(dict, 0), HashOf(Json(arrow::utf8(), R"(["y"])")));
  EXPECT_EQ(HashOf(dict, 1), HashOf(Json(arrow::utf8(), "[null]")));
  // Every NaN is one NaN; -0.0 equals 0.0.
  const double nan1 = std::numeric_limits<double>::quiet_NaN();
  const double nan2 = -std::numeric_limits<double>::signaling_NaN();
  arrow::DoubleBuilder builder;
  ASSERT_TRUE(builder.AppendValues({nan1, nan2, -0.0, 0.0}).ok());
  auto floats = ValueOrDie(builder.Finish());
  EXPECT_EQ(HashOf(floats, 0), HashOf(floats, 1));
  EXPECT_EQ(HashOf(floats, 2), HashOf(floats, 3));
  EXPECT_EQ(HashOf(Json(arrow::float32(), "[1.5]")), HashOf(Json(arrow::float64(), "[1.5]")));
}

TEST(RowDigestTest, VerdictsForMissingDuplicateAndStaleBlocks) {
  auto rows = Rows();
  const auto source = DigestsOf(*rows);
  const BlockDigest& b1 = source.at(1);

  EXPECT_EQ(Compare(&b1, &b1), BlockVerdict::kMatch);
  EXPECT_EQ(Compare(nullptr, nullptr), BlockVerdict::kMatch);
  EXPECT_EQ(Compare(&b1, nullptr), BlockVerdict::kMissing);
  EXPECT_EQ(Compare(nullptr, &b1), BlockVerdict::kStale);  // rows where the source has none

  // Block 1's rows twice and three times, in any order: duplicate.
  for (const std::vector<int64_t>& picks :
       {std::vector<int64_t>{0, 1, 2, 2, 1, 0}, std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2},
        std::vector<int64_t>{2, 1, 0, 0, 1, 2, 1, 0, 2, 0, 2, 1}}) {
    auto dst = DigestsOf(*Pick(*rows, picks));
    EXPECT_EQ(Compare(&b1, &dst.at(1)), BlockVerdict::kDuplicate) << picks.size();
  }
  // Same count as two copies but not the same multiset: stale.
  for (const std::vector<int64_t>& picks :
       {std::vector<int64_t>{0, 0, 0, 1, 1, 2}, std::vector<int64_t>{0, 0, 1, 1, 2, 2, 2, 2, 2},
        std::vector<int64_t>{0, 1},  // a row missing
        std::vector<int64_t>{0, 1, 2, 2},  // one row duplicated
        std::vector<int64_t>{0, 1, 2, 3}}) {  // a row of another block (relabelled below)
    auto picked = Pick(*rows, picks);
    arrow::UInt64Builder ones;
    for (size_t k = 0; k < picks.size(); ++k) ASSERT_TRUE(ones.Append(1).ok());
    auto in_block_1 =
        ValueOrDie(picked->SetColumn(0, picked->schema()->field(0), ValueOrDie(ones.Finish())));
    std::map<BlockNumber, BlockDigest> dst;
    ASSERT_TRUE(AccumulateBlocks(*in_block_1, {"id", "name", "tags"}, "block", {0, kMaxBlock}, &dst).ok());
    std::map<BlockNumber, BlockDigest> src;
    ASSERT_TRUE(AccumulateBlocks(*rows->Slice(0, 3), {"id", "name", "tags"}, "block", {0, kMaxBlock}, &src).ok());
    EXPECT_EQ(Compare(&src.at(1), &dst.at(1)), BlockVerdict::kStale) << picks.size();
  }
  // One value changed: stale.
  auto changed = MakeBatch({{"block", rows->column(0)},
                            {"id", Json(arrow::int64(), "[10, 11, 12, 20, 21, 23, 30, 31, 32]")},
                            {"name", rows->column(2)},
                            {"tags", rows->column(3)}});
  auto dst = DigestsOf(*changed);
  EXPECT_EQ(Compare(&source.at(1), &dst.at(1)), BlockVerdict::kMatch);
  EXPECT_EQ(Compare(&source.at(2), &dst.at(2)), BlockVerdict::kStale);
  EXPECT_EQ(Compare(&source.at(3), &dst.at(3)), BlockVerdict::kMatch);
}

TEST(RowDigestTest, AccumulateKeepsTheIntervalAndChecksColumns) {
  auto rows = Rows();
  auto some = DigestsOf(*rows, {2, 2});
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some.begin()->first, 2u);

  std::map<BlockNumber, BlockDigest> digests;
  Status missing = AccumulateBlocks(*rows, {"id", "nope"}, "block", {0, kMaxBlock}, &digests);
  EXPECT_TRUE(missing.IsKeyError());
  EXPECT_NE(missing.message().find("\"nope\""), std::string::npos);

  auto nulls = MakeBatch({{"block", Json(arrow::uint64(), "[1, null]")},
                          {"id", Json(arrow::int64(), "[1, 2]")}});
  Status null_block = AccumulateBlocks(*nulls, {"id"}, "block", {0, kMaxBlock}, &digests);
  EXPECT_TRUE(null_block.IsInvalid()) << null_block.ToString();
  auto negative = MakeBatch({{"block", Json(arrow::int64(), "[-1]")}});
  EXPECT_TRUE(AccumulateBlocks(*negative, {}, "block", {0, kMaxBlock}, &digests).IsInvalid());
  auto text = MakeBatch({{"block", Json(arrow::utf8(), R"(["1"])")}});
  EXPECT_TRUE(AccumulateBlocks(*text, {}, "block", {0, kMaxBlock}, &digests).IsTypeError());
}

TEST(AuditReportTest, BlockListsCompressRunsAndStopAtTheLimit) {
  EXPECT_EQ(FormatBlockList({}, 10), "");
  EXPECT_EQ(FormatBlockList({5}, 10), "5");
  EXPECT_EQ(FormatBlockList({5, 6}, 10), "5..=6");
  EXPECT_EQ(FormatBlockList({1, 3, 100, 101, 102, 120}, 10), "1, 3, 100..=102, 120");
  EXPECT_EQ(FormatBlockList({1, 3, 100, 101, 102, 120}, 2), "1, 3, ... and 4 more");
  EXPECT_EQ(FormatBlockList({1, 2, 3}, 0), "... and 3 more");
}

TEST(AuditReportTest, SummaryNamesEveryCategory) {
  AuditReport report;
  report.range = {0, 99};
  report.end_from = "checkpoint";
  report.blocks_checked = 100;
  report.rows_source = 800;
  report.rows_destination = 800;
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.ToString(),
            "audit of blocks 0..=99 (end: checkpoint): OK\n"
            "  blocks with rows: 100, rows: source 800, destination 800\n");
  report.missing = {5};
  report.duplicate = {7, 8};
  report.stale = {9, 40, 41};
  report.rows_destination = 807;
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.ToString(),
            "audit of blocks 0..=99 (end: checkpoint): MISMATCH (1 missing, 2 duplicate, 3 stale)\n"
            "  blocks with rows: 100, rows: source 800, destination 807\n"
            "  missing: 1 block: 5\n"
            "  duplicate: 2 blocks: 7..=8\n"
            "  stale: 3 blocks: 9, 40..=41\n");
  EXPECT_NE(report.ToString(1).find("stale: 3 blocks: 9, ... and 2 more"), std::string::npos);
}

}  // namespace
}  // namespace amp::audit
