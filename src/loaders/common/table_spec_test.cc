#include "loaders/common/table_spec.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;

TableSpec Spec() {
  TableSpec spec;
  spec.name = "blocks";
  spec.schema = arrow::schema({arrow::field("block_num", arrow::uint64()),
                               arrow::field("hash", arrow::binary()),
                               arrow::field("n", arrow::int32())});
  return spec;
}

std::string Why(const TableSpec& spec, const StoreLimits& limits) {
  Status st = ValidateTableSpec(spec, limits);
  return st.ok() ? "OK" : st.message();
}

TEST(TableSpecTest, AcceptsAGoodSpec) {
  TableSpec spec = Spec();
  spec.block_column = "block_num";
  spec.mode = LoadMode::kUpsert;
  spec.key_columns = {"hash"};
  EXPECT_EQ(Why(spec, {.destination = "memory"}), "OK");
}

TEST(TableSpecTest, NamesTheBrokenRule) {
  const StoreLimits limits{.destination = "memory"};
  TableSpec no_schema = Spec();
  no_schema.schema = nullptr;
  EXPECT_EQ(Why(no_schema, limits), "[memory] table 'blocks': no schema");

  TableSpec block = Spec();
  block.block_column = "absent";
  EXPECT_THAT(Why(block, limits), HasSubstr("block column 'absent' is not a column"));
  block.block_column = "n";
  EXPECT_THAT(Why(block, limits), HasSubstr("block column 'n' has type int32, expected UInt64"));
  EXPECT_EQ(Why(block, {.destination = "redis", .block_column_types = IntegerBlockTypes()}), "OK");
  block.block_column = "hash";
  EXPECT_THAT(Why(block, {.destination = "redis", .block_column_types = IntegerBlockTypes()}),
              HasSubstr("expected UInt64 (or Int64/UInt32/Int32)"));

  TableSpec upsert = Spec();
  upsert.mode = LoadMode::kUpsert;
  EXPECT_THAT(Why(upsert, limits), HasSubstr("mode upsert needs key_columns"));
  upsert.key_columns = {"hash", "gone"};
  EXPECT_THAT(Why(upsert, limits), HasSubstr("key column 'gone' is not a column"));
  upsert.key_columns = {"hash", "hash"};
  EXPECT_THAT(Why(upsert, limits), HasSubstr("duplicate key column 'hash'"));

  const ErrorInfo* info = ErrorInfo::FromStatus(ValidateTableSpec(no_schema, limits));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
  EXPECT_EQ(info->source(), "memory");
}

TEST(TableSpecTest, AppliesTheStoreNameRules) {
  TableSpec spec = Spec();
  spec.schema = arrow::schema({arrow::field("_amp_block_start", arrow::uint64())});
  EXPECT_EQ(Why(spec, {.destination = "memory"}), "OK");
  EXPECT_THAT(Why(spec, {.destination = "redis", .names = &RedisNameRules()}), HasSubstr("_amp_block_start"));
}

}  // namespace
}  // namespace amp::loaders
