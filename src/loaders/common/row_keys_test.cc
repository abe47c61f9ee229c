#include "loaders/common/row_keys.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::loaders {
namespace {

std::shared_ptr<arrow::RecordBatch> Batch() {
  arrow::StringBuilder a;
  arrow::Int64Builder b;
  EXPECT_TRUE(a.AppendValues({"ab", "a", "ab"}).ok());
  EXPECT_TRUE(a.AppendNull().ok());
  EXPECT_TRUE(b.AppendValues({1, 1, 1, 1}).ok());
  auto schema = arrow::schema({arrow::field("a", arrow::utf8()), arrow::field("b", arrow::int64())});
  return arrow::RecordBatch::Make(schema, 4, {*a.Finish(), *b.Finish()});
}

TEST(RowKeysTest, EqualValuesGiveEqualKeysAndOthersDiffer) {
  auto keys = RowKeys(*Batch(), {"a", "b"});
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 4u);
  EXPECT_EQ((*keys)[0], (*keys)[2]);
  EXPECT_NE((*keys)[0], (*keys)[1]);
  EXPECT_NE((*keys)[3], (*keys)[1]);  // null is not ""
}

TEST(RowKeysTest, LengthPrefixKeepsColumnBoundaries) {
  // ("ab","c") and ("a","bc") concatenate alike; their keys must not.
  arrow::StringBuilder x, y;
  ASSERT_TRUE(x.AppendValues({"ab", "a"}).ok());
  ASSERT_TRUE(y.AppendValues({"c", "bc"}).ok());
  auto keys = RowKeys({*x.Finish(), *y.Finish()}, 2);
  ASSERT_TRUE(keys.ok());
  EXPECT_NE((*keys)[0], (*keys)[1]);
}

TEST(RowKeysTest, MissingKeyColumnIsNamed) {
  auto keys = RowKeys(*Batch(), {"a", "nope"});
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), ::testing::HasSubstr("nope"));
}

}  // namespace
}  // namespace amp::loaders
