// Tests of the Arrow <-> Delta type mapping: every mapped type round-trips exactly (except
// the documented timestamp flooring), and the Delta schema JSON matches the protocol.
#include "loaders/delta/delta_types.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

namespace amp::delta {
namespace {

std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto result = arrow::json::ArrayFromJSONString(type, json);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return *result;
}

void ExpectRoundTrip(const std::shared_ptr<arrow::Array>& array) {
  auto storage_type = StorageType(array->type());
  ASSERT_TRUE(storage_type.ok()) << storage_type.status().ToString();
  auto stored = ToStorage(array, *storage_type);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE((*stored)->type()->Equals(**storage_type)) << (*stored)->type()->ToString();
  auto back = FromStorage(*stored, array->type());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE((*back)->Equals(*array)) << array->type()->ToString() << "\n" << (*back)->ToString();
  // The schema JSON parses back to the storage type.
  auto json = DeltaTypeJson(**storage_type);
  ASSERT_TRUE(json.ok());
  auto parsed = TypeFromDeltaJson(*json);
  ASSERT_TRUE(parsed.ok()) << json->dump();
  EXPECT_TRUE((*parsed)->Equals(**storage_type, /*check_metadata=*/false))
      << (*parsed)->ToString() << " vs " << (*storage_type)->ToString();
}

TEST(DeltaTypes, IntegersRoundTripLosslessly) {
  ExpectRoundTrip(FromJson(arrow::uint64(), "[0, 18446744073709551615, null, 9223372036854775808]"));
  ExpectRoundTrip(FromJson(arrow::uint32(), "[0, 4294967295, null]"));
  ExpectRoundTrip(FromJson(arrow::uint16(), "[0, 65535]"));
  ExpectRoundTrip(FromJson(arrow::uint8(), "[0, 255]"));
  ExpectRoundTrip(FromJson(arrow::int64(), "[-9223372036854775808, 9223372036854775807, null]"));
  ExpectRoundTrip(FromJson(arrow::int8(), "[-128, 127]"));
  EXPECT_EQ(DeltaTypeJson(*StorageType(arrow::uint64()).ValueOrDie()).ValueOrDie(), "decimal(20,0)");
  EXPECT_EQ(DeltaTypeJson(*StorageType(arrow::uint32()).ValueOrDie()).ValueOrDie(), "long");
}

TEST(DeltaTypes, DecimalsAndText) {
  ExpectRoundTrip(FromJson(arrow::decimal128(38, 0), "[\"99999999999999999999999999999999999999\", \"-1\", null]"));
  ExpectRoundTrip(FromJson(arrow::decimal256(76, 0),
                           "[\"9999999999999999999999999999999999999999999999999999999999999999999999999999\","
                           " \"-18446744073709551616\", null]"));
  ExpectRoundTrip(FromJson(arrow::decimal256(20, 2), "[\"123.45\", null]"));
  EXPECT_EQ(DeltaTypeJson(*StorageType(arrow::decimal256(76, 0)).ValueOrDie()).ValueOrDie(), "string");
  ExpectRoundTrip(FromJson(arrow::utf8_view(), "[\"\", \"a string longer than twelve bytes\", null]"));
  ExpectRoundTrip(FromJson(arrow::large_utf8(), "[\"x\", null]"));
  ExpectRoundTrip(FromJson(arrow::binary_view(), "[\"\", \"abc\", null]"));
  ExpectRoundTrip(FromJson(arrow::fixed_size_binary(4), "[\"abcd\", null, \"\\u0000\\u0000\\u0000\\u0000\"]"));
  // Sliced at odd offsets (the conversion shares the value buffer and copies the bitmap).
  auto fixed = FromJson(arrow::fixed_size_binary(2), "[\"aa\", null, \"bb\", \"cc\", null, \"dd\", \"ee\", \"ff\", null, \"gg\"]");
  ExpectRoundTrip(fixed->Slice(3));
  ExpectRoundTrip(fixed->Slice(1, 5));
  auto stored = ToStorage(fixed->Slice(3, 4), arrow::binary()).ValueOrDie();
  EXPECT_TRUE(stored->Equals(FromJson(arrow::binary(), "[\"cc\", null, \"dd\", \"ee\"]"))) << stored->ToString();
}

TEST(DeltaTypes, NestedTypes) {
  auto withdrawal = arrow::struct_({arrow::field("index", arrow::uint64(), false),
                                    arrow::field("address", arrow::fixed_size_binary(2), true)});
  ExpectRoundTrip(FromJson(arrow::list(arrow::field("item", withdrawal, true)),
                           "[[], null, [{\"index\": 18446744073709551615, \"address\": \"ab\"}, null]]"));
  ExpectRoundTrip(FromJson(arrow::large_list(arrow::uint64()), "[[1, 2], null, []]"));
  ExpectRoundTrip(FromJson(arrow::fixed_size_list(arrow::uint8(), 2), "[[1, 2], null]"));
  ExpectRoundTrip(FromJson(arrow::map(arrow::utf8(), arrow::uint64()), "[[[\"a\", 1]], null, []]"));
  // A sliced struct keeps its offset through the conversion.
  auto st = FromJson(arrow::struct_({arrow::field("a", arrow::uint64())}), "[{\"a\": 1}, {\"a\": 2}, null]");
  ExpectRoundTrip(st->Slice(1));
}

TEST(DeltaTypes, TimestampsAreFlooredToMicroseconds) {
  auto ts = FromJson(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"),
                     "[1700000000123456789, -86400000000001, null, 0]");
  auto stored = ToStorage(ts, StorageType(ts->type()).ValueOrDie()).ValueOrDie();
  EXPECT_EQ(DeltaTypeJson(*stored->type()).ValueOrDie(), "timestamp");
  auto back = FromStorage(stored, ts->type()).ValueOrDie();
  EXPECT_TRUE(back->Equals(FromJson(ts->type(), "[1700000000123456000, -86400000001000, null, 0]")))
      << back->ToString();
  ExpectRoundTrip(FromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[1, -1, null]"));
  ExpectRoundTrip(FromJson(arrow::date32(), "[0, 19000, null]"));
}

TEST(DeltaTypes, FieldJsonNamesTheOriginalType) {
  auto f = DeltaFieldJson(*arrow::field("n", arrow::decimal128(20, 0), true), "uint64").ValueOrDie();
  EXPECT_EQ(f["name"], "n");
  EXPECT_EQ(f["type"], "decimal(20,0)");
  EXPECT_EQ(f["nullable"], true);
  EXPECT_EQ(f["metadata"]["amp.arrow_type"], "uint64");
  EXPECT_FALSE(StorageType(arrow::null()).ok());
}

}  // namespace
}  // namespace amp::delta
