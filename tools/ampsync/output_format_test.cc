#include "output_format.h"

#include <sstream>

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

namespace amp::cli {
namespace {

std::shared_ptr<arrow::Array> ArrayOf(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto result = arrow::json::ArrayFromJSONString(type, json);
  EXPECT_TRUE(result.ok()) << result.status();
  return *result;
}

TEST(OutputFormatTest, BinaryIsPrefixedLowercaseHex) {
  auto arr = ArrayOf(arrow::fixed_size_binary(2), R"(["ab", null])");
  EXPECT_EQ(FormatValueText(*arr, 0), "0x6162");
  EXPECT_EQ(FormatValueText(*arr, 1), "NULL");
  EXPECT_EQ(FormatValueJson(*arr, 0), "\"0x6162\"");
  EXPECT_EQ(FormatValueJson(*arr, 1), "null");
}

TEST(OutputFormatTest, DecimalsAndUInt64AreExact) {
  auto dec = ArrayOf(arrow::decimal128(38, 0), R"(["123456789012345678901234567890"])");
  EXPECT_EQ(FormatValueJson(*dec, 0), "123456789012345678901234567890");
  auto u = ArrayOf(arrow::uint64(), "[18446744073709551615]");
  EXPECT_EQ(FormatValueText(*u, 0), "18446744073709551615");
}

TEST(OutputFormatTest, TimestampsAreIsoUtc) {
  auto ts = ArrayOf(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"), "[1700000002000000000, 1500]");
  EXPECT_EQ(FormatValueText(*ts, 0), "2023-11-14T22:13:22Z");
  EXPECT_EQ(FormatValueText(*ts, 1), "1970-01-01T00:00:00.000001500Z");
}

TEST(OutputFormatTest, ListsAndStructsAreJson) {
  auto type = arrow::list(arrow::field("item", arrow::struct_({arrow::field("a", arrow::int32()),
                                                                 arrow::field("b", arrow::utf8())}), false));
  auto arr = ArrayOf(type, R"([[{"a": 1, "b": "x\"y"}, {"a": null, "b": "z"}]])");
  EXPECT_EQ(FormatValueJson(*arr, 0), R"([{"a":1,"b":"x\"y"},{"a":null,"b":"z"}])");
}

TEST(OutputFormatTest, CsvQuotesAndLeavesNullsEmpty) {
  auto schema = arrow::schema({arrow::field("n", arrow::int64()), arrow::field("s", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(
      schema, 2, {ArrayOf(arrow::int64(), "[1, null]"), ArrayOf(arrow::utf8(), R"(["a,b", "c"])")});
  std::ostringstream out;
  BatchPrinter printer(out, OutputFormat::kCsv, schema);
  ASSERT_TRUE(printer.Print(*batch).ok());
  printer.Flush();
  EXPECT_EQ(out.str(), "n,s\n1,\"a,b\"\n,c\n");
}

TEST(OutputFormatTest, JsonLinesOneObjectPerRow) {
  auto schema = arrow::schema({arrow::field("n", arrow::uint64()), arrow::field("s", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(
      schema, 2, {ArrayOf(arrow::uint64(), "[1, 2]"), ArrayOf(arrow::utf8(), R"(["a", null])")});
  std::ostringstream out;
  BatchPrinter printer(out, OutputFormat::kJsonl, schema);
  ASSERT_TRUE(printer.Print(*batch).ok());
  EXPECT_EQ(out.str(), "{\"n\":1,\"s\":\"a\"}\n{\"n\":2,\"s\":null}\n");
}

TEST(OutputFormatTest, TableAlignsColumns) {
  auto schema = arrow::schema({arrow::field("block", arrow::uint64())});
  auto batch = arrow::RecordBatch::Make(schema, 2, {ArrayOf(arrow::uint64(), "[7, 123456]")});
  std::ostringstream out;
  BatchPrinter printer(out, OutputFormat::kTable, schema);
  ASSERT_TRUE(printer.Print(*batch).ok());
  printer.Flush();
  EXPECT_EQ(out.str(), "| block  |\n|--------|\n| 7      |\n| 123456 |\n");
}

TEST(OutputFormatTest, UnknownFormatNamesValidOnes) {
  auto f = ParseOutputFormat("xml");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("table, csv, jsonl"), std::string::npos);
}

}  // namespace
}  // namespace amp::cli
