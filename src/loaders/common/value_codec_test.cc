// The shared Arrow value codec (value_codec.h): civil dates over the whole int64 day range,
// the scalar spellings of each dialect, and JSON round trips of every type in both
// dialects (write, parse keeping number text, read back into the same Arrow type).
#include "loaders/common/value_codec.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/testing/batch_builders.h"

namespace amp::loaders {
namespace {

std::string Json(const arrow::Array& array, int64_t i, const JsonDialect& dialect) {
  std::string out;
  AppendJson(array, i, dialect, &out);
  return out;
}

// Every value of `array` through AppendJson -> ParseJson -> AppendFromJson in `dialect`.
void ExpectJsonRoundTrip(const std::shared_ptr<arrow::Array>& array, const JsonDialect& dialect) {
  SCOPED_TRACE(array->type()->ToString() + " in " + dialect.name);
  ASSERT_TRUE(CheckJsonWritable(*array->type(), dialect).ok());
  auto builder = *arrow::MakeBuilder(array->type());
  for (int64_t i = 0; i < array->length(); ++i) {
    const std::string json = Json(*array, i, dialect);
    auto parsed = ParseJson(json, dialect);
    ASSERT_TRUE(parsed.ok()) << json << ": " << parsed.status().ToString();
    Status st = AppendFromJson(*parsed, *array->type(), dialect, builder.get());
    ASSERT_TRUE(st.ok()) << json << ": " << st.ToString();
  }
  auto back = *builder->Finish();
  EXPECT_TRUE(back->Equals(*array, arrow::EqualOptions().nans_equal(true))) << back->ToString() << "\nvs\n" << array->ToString();
}

TEST(CivilDateTest, MatchesKnownDatesAndRoundTripsEveryDate32) {
  auto expect = [](int64_t days, int64_t y, int m, int d) {
    const CivilDate date = CivilFromDays(days);
    EXPECT_EQ(date.year, y) << days;
    EXPECT_EQ(date.month, m) << days;
    EXPECT_EQ(date.day, d) << days;
    EXPECT_EQ(DaysFromCivil(y, m, d), days);
  };
  expect(0, 1970, 1, 1);
  expect(-1, 1969, 12, 31);
  expect(10957, 2000, 1, 1);
  expect(11016, 2000, 2, 29);   // a leap day of a year divisible by 400
  expect(-25508, 1900, 3, 1);   // 1900 has no Feb 29
  expect(-719528, 0, 1, 1);
  expect(-719529, -1, 12, 31);
  expect(2932896, 9999, 12, 31);
  // Beyond the +-32767 years of Arrow's vendored date library.
  for (int64_t days : {int64_t{std::numeric_limits<int32_t>::min()},
                       int64_t{std::numeric_limits<int32_t>::max()}, int64_t{1} << 40}) {
    const CivilDate date = CivilFromDays(days);
    EXPECT_EQ(DaysFromCivil(date.year, date.month, date.day), days);
  }
  for (int64_t days = -800000; days < 3000000; days += 997) {
    const CivilDate date = CivilFromDays(days);
    ASSERT_EQ(DaysFromCivil(date.year, date.month, date.day), days);
  }
}

TEST(ValueCodecTest, TimeUnitsAndFloorDivision) {
  EXPECT_EQ(UnitDigits(arrow::TimeUnit::SECOND), 0);
  EXPECT_EQ(UnitDigits(arrow::TimeUnit::NANO), 9);
  EXPECT_EQ(UnitsPerSecond(arrow::TimeUnit::MILLI), 1000);
  EXPECT_EQ(FloorDiv(-1, 1000), -1);
  EXPECT_EQ(FloorDiv(-1000, 1000), -1);
  EXPECT_EQ(FloorDiv(999, 1000), 0);
}

TEST(ValueCodecTest, HexBothWays) {
  std::string out;
  AppendHex(std::string("\x00\xff\x5f", 3), &out);
  EXPECT_EQ(out, "0x00ff5f");
  EXPECT_EQ(*ParseHex("0x00FF5f"), std::string("\x00\xff\x5f", 3));
  EXPECT_EQ(*ParseHex("0X"), "");
  EXPECT_FALSE(ParseHex("00ff").ok());
  EXPECT_FALSE(ParseHex("0xabc").ok());
  EXPECT_FALSE(ParseHex("0xzz").ok());
}

TEST(ValueCodecTest, FloatSpellings) {
  std::string out;
  AppendFloatText(std::numeric_limits<double>::quiet_NaN(), &out);
  out += ' ';
  AppendFloatText(-std::numeric_limits<double>::infinity(), &out);
  out += ' ';
  AppendFloatText(0.1f, &out);
  out += ' ';
  AppendFloatText(static_cast<double>(0.1f), &out);
  EXPECT_EQ(out, "NaN -Infinity 0.1 0.10000000149011612");
  double d = 0;
  EXPECT_TRUE(ParseFloatText("Infinity", &d));
  EXPECT_EQ(d, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(ParseFloatText("5e-324", &d));
  EXPECT_EQ(d, 5e-324);
  EXPECT_FALSE(ParseFloatText("1.5x", &d));
  EXPECT_FALSE(ParseFloatText("1e400", &d));
}

TEST(ValueCodecTest, DatesAndTimestampsPerDialect) {
  auto date = [](int64_t days, const JsonDialect& dialect) {
    std::string out;
    AppendIsoDate(days, dialect, &out);
    return out;
  };
  EXPECT_EQ(date(0, kPostgresJsonb), "1970-01-01");
  EXPECT_EQ(date(-719529, kPostgresJsonb), "-001-12-31");  // printf's %04d
  EXPECT_EQ(date(-719529, kRedisText), "-0001-12-31");
  EXPECT_EQ(date(2932897, kRedisText), "10000-01-01");
  std::string ts;
  AppendIsoTimestamp(-1, 9, /*utc_suffix=*/true, kRedisText, &ts);
  EXPECT_EQ(ts, "1969-12-31T23:59:59.999999999Z");
  ts.clear();
  AppendIsoTimestamp(1700000000, 0, /*utc_suffix=*/false, kPostgresJsonb, &ts);
  EXPECT_EQ(ts, "2023-11-14T22:13:20");

  EXPECT_EQ(*ParseIsoTimestamp("2023-11-14T22:13:20.123Z", 3, true, kRedisText), 1700000000123);
  EXPECT_EQ(*ParseIsoTimestamp("2023-11-14T22:13:20.1", 3, false, kPostgresJsonb), 1700000000100);
  EXPECT_EQ(*ParseIsoTimestamp("-0001-12-31T00:00:00Z", 0, true, kRedisText),
            (int64_t{-719529}) * 86400);
  for (const char* bad : {"2023-11-14T22:13:20", "2023-11-14T22:13:20.1234Z", "2023-11-14T22:13:20.Z",
                          "2023-11-14T25:00:00Z", "202-01-01T00:00:00Z", "2023-11-14 22:13:20Z",
                          "2023-13-01T00:00:00Z", "1234567890123456789-01-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseIsoTimestamp(bad, 3, true, kRedisText).ok()) << bad;
  }
  EXPECT_EQ(*ParseIsoTimestamp("1677-09-21T00:12:43.145224192Z", 9, true, kRedisText),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*ParseIsoTimestamp("2262-04-11T23:47:16.854775807", 9, false, kPostgresJsonb),
            std::numeric_limits<int64_t>::max());
  auto overflow = ParseIsoTimestamp("999999-01-01T00:00:00", 9, false, kPostgresJsonb);
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.status().message().find("out of the int64 range"), std::string::npos);
  size_t pos = 0;
  int64_t clock = 0;
  EXPECT_TRUE(ParseIsoClock("23:59:59.999999", &pos, 6, &clock));
  EXPECT_EQ(clock, 86399999999);
}

TEST(ValueCodecTest, StringEscapesPerDialect) {
  const std::string text = std::string("q\"b\\n\nt\tb\bf\f\x01\x7f\xc3\xa9", 16);
  std::string pg, redis;
  AppendJsonString(text, kPostgresJsonb, &pg);
  AppendJsonString(text, kRedisText, &redis);
  EXPECT_EQ(pg, "\"q\\\"b\\\\n\\nt\\tb\\bf\\f\\u0001\x7f\xc3\xa9\"");
  EXPECT_EQ(redis, "\"q\\\"b\\\\n\\nt\\tb\\u0008f\\u000c\\u0001\\u007f\xc3\xa9\"");
  for (const std::string& json : {pg, redis}) {
    auto parsed = ParseJson(json, kPostgresJsonb);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->text, text);
  }
}

TEST(ValueCodecTest, ScalarJsonPerDialect) {
  auto f32 = ArrayFromJson(arrow::float32(), "[0.1]");
  EXPECT_EQ(Json(*f32, 0, kPostgresJsonb), "0.1");
  EXPECT_EQ(Json(*f32, 0, kRedisText), "0.10000000149011612");
  auto dec = ArrayFromJson(arrow::decimal128(10, 3), R"(["-1.500"])");
  EXPECT_EQ(Json(*dec, 0, kPostgresJsonb), "-1.500");
  EXPECT_EQ(Json(*dec, 0, kRedisText), "\"-1.500\"");
  auto d64 = ArrayFromJson(arrow::date64(), "[86400000]");
  EXPECT_EQ(Json(*d64, 0, kPostgresJsonb), "\"1970-01-02\"");
  EXPECT_EQ(Json(*d64, 0, kRedisText), "86400000");
  auto t32 = ArrayFromJson(arrow::time32(arrow::TimeUnit::MILLI), "[3661001]");
  EXPECT_EQ(Json(*t32, 0, kPostgresJsonb), "\"01:01:01.001\"");
  EXPECT_EQ(Json(*t32, 0, kRedisText), "3661001");
  auto ts = ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[0]");
  EXPECT_EQ(Json(*ts, 0, kPostgresJsonb), "\"1970-01-01T00:00:00\"");
  EXPECT_EQ(Json(*ts, 0, kRedisText), "\"1970-01-01T00:00:00Z\"");
  auto zoned = ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND, "UTC"), "[0]");
  EXPECT_EQ(Json(*zoned, 0, kPostgresJsonb), "\"1970-01-01T00:00:00Z\"");
  auto bin = ArrayFromJson(arrow::binary(), R"(["ab", null])");
  EXPECT_EQ(Json(*bin, 0, kPostgresJsonb), "\"0x6162\"");
  EXPECT_EQ(Json(*bin, 1, kPostgresJsonb), "null");
  arrow::DoubleBuilder nan;
  ASSERT_TRUE(nan.Append(std::numeric_limits<double>::quiet_NaN()).ok());
  EXPECT_EQ(Json(**nan.Finish(), 0, kRedisText), "\"NaN\"");
  EXPECT_FALSE(CheckJsonWritable(*arrow::duration(arrow::TimeUnit::SECOND), kPostgresJsonb).ok());
  EXPECT_TRUE(CheckJsonWritable(*arrow::duration(arrow::TimeUnit::SECOND), kRedisText).ok());
  auto map = arrow::map(arrow::utf8(), arrow::int32());
  Status st = CheckJsonWritable(*arrow::list(map), kPostgresJsonb);
  EXPECT_TRUE(st.IsTypeError());
  EXPECT_NE(st.message().find("cannot encode Arrow type map"), std::string::npos) << st.ToString();
}

TEST(ValueCodecTest, NestedJsonKeepsFieldOrderAndSlices) {
  auto type = arrow::struct_({arrow::field("b", arrow::int32()),
                              arrow::field("a\"", arrow::list(arrow::utf8()))});
  auto array = ArrayFromJson(type, R"([{"b": 1, "a\"": ["x"]}, {"b": null, "a\"": []}, null])");
  EXPECT_EQ(Json(*array, 0, kPostgresJsonb), R"({"b":1,"a\"":["x"]})");
  EXPECT_EQ(Json(*array->Slice(1), 0, kPostgresJsonb), R"({"b":null,"a\"":[]})");
  EXPECT_EQ(Json(*array, 2, kRedisText), "null");
  auto dict = *arrow::DictionaryArray::FromArrays(arrow::dictionary(arrow::int8(), arrow::utf8()),
                                                  ArrayFromJson(arrow::int8(), "[1, 0]"),
                                                  ArrayFromJson(arrow::utf8(), R"(["x", null])"));
  EXPECT_TRUE(IsNullValue(*dict, 0)) << "a null dictionary value";
  EXPECT_FALSE(IsNullValue(*dict, 1));
  EXPECT_EQ(Json(*dict, 0, kPostgresJsonb), "null");
  EXPECT_EQ(Json(*dict, 1, kPostgresJsonb), "\"x\"");
}

std::vector<std::shared_ptr<arrow::Array>> EveryType() {
  using arrow::TimeUnit;
  arrow::DoubleBuilder special;
  EXPECT_TRUE(special.AppendValues({std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(), 5e-324}).ok());
  return {
      ArrayFromJson(arrow::boolean(), "[true, false, null]"),
      ArrayFromJson(arrow::int8(), "[-128, 127, null]"),
      ArrayFromJson(arrow::int64(), "[-9223372036854775808, 9223372036854775807]"),
      ArrayFromJson(arrow::uint64(), "[18446744073709551615, 0]"),
      ArrayFromJson(arrow::uint32(), "[4294967295]"),
      ArrayFromJson(arrow::float32(), "[0.1, -3.5, 3.4028235e38, null]"),
      ArrayFromJson(arrow::float64(), "[0.1, 1e300, 12345678901234567890]"),
      *special.Finish(),
      ArrayFromJson(arrow::decimal128(38, 4), R"(["-1234567890123456789012345678.1234", "0.0001"])"),
      ArrayFromJson(arrow::decimal256(76, 2), R"(["12345678901234567890123456789012345678901234567890.25"])"),
      ArrayFromJson(arrow::utf8(), R"(["", "tab\t ünïcode 𝄞", "\u0001\u007f", null])"),
      ArrayFromJson(arrow::binary(), R"(["", "\u0000\u00ff", null])"),
      ArrayFromJson(arrow::fixed_size_binary(3), R"(["abc"])"),
      ArrayFromJson(arrow::timestamp(TimeUnit::NANO, "UTC"), "[1700000000123456789, -1]"),
      ArrayFromJson(arrow::timestamp(TimeUnit::SECOND), "[-62135596800, -62198755200, 0]"),
      ArrayFromJson(arrow::date32(), "[-1, 19000, -719529, 2932897]"),
      ArrayFromJson(arrow::date64(), "[86400000, 0]"),
      ArrayFromJson(arrow::time32(TimeUnit::MILLI), "[1, 86399999]"),
      ArrayFromJson(arrow::time64(TimeUnit::NANO), "[86399999999999, 0]"),
      ArrayFromJson(arrow::list(arrow::int32()), "[[1, null], [], null]"),
      ArrayFromJson(arrow::fixed_size_list(arrow::int16(), 2), "[[1, 2], null]"),
      ArrayFromJson(arrow::list(arrow::list(arrow::uint64())), "[[[18446744073709551615], []], null]"),
      ArrayFromJson(arrow::struct_({arrow::field("k", arrow::utf8()), arrow::field("v", arrow::float64())}),
               R"([{"k": "a", "v": 1.5}, null, {"k": null, "v": null}])"),
  };
}

TEST(ValueCodecTest, EveryTypeRoundTripsThroughJsonInBothDialects) {
  for (const auto& array : EveryType()) {
    ExpectJsonRoundTrip(array, kPostgresJsonb);
    ExpectJsonRoundTrip(array, kRedisText);
  }
  ExpectJsonRoundTrip(ArrayFromJson(arrow::duration(arrow::TimeUnit::MILLI), "[-5, 7]"), kRedisText);
}

TEST(ValueCodecTest, ParsedNumbersKeepTheirText) {
  auto parsed = ParseJson(R"([18446744073709551616, -0.000000000000000000001, 1E+2, -5])",
                          kPostgresJsonb);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->items.size(), 4u);
  EXPECT_EQ(parsed->items[0].text, "18446744073709551616");
  EXPECT_EQ(parsed->items[1].text, "-0.000000000000000000001");
  EXPECT_EQ(parsed->items[2].text, "1E+2");
  EXPECT_EQ(parsed->items[3].text, "-5");
  auto b = *arrow::MakeBuilder(arrow::decimal128(10, 2));
  ASSERT_TRUE(AppendFromJson(parsed->items[2], *arrow::decimal128(10, 2), kPostgresJsonb, b.get()).ok());
  EXPECT_EQ((*b->Finish())->ToString(), "[\n  100.00\n]");
}

TEST(ValueCodecTest, ReadingRefusesWhatDoesNotFitExactly) {
  auto read = [](const std::string& json, const std::shared_ptr<arrow::DataType>& type) {
    auto parsed = ParseJson(json, kPostgresJsonb);
    if (!parsed.ok()) return parsed.status();
    auto b = *arrow::MakeBuilder(type);
    return AppendFromJson(*parsed, *type, kPostgresJsonb, b.get());
  };
  EXPECT_NE(read("128", arrow::int8()).message().find("jsonb number 128 does not fit int8"),
            std::string::npos);
  EXPECT_NE(read("1.005", arrow::decimal128(10, 2)).message().find("cannot be represented exactly"),
            std::string::npos);
  EXPECT_FALSE(read("\"1.5\"", arrow::decimal128(10, 2)).ok()) << "a string is not a jsonb number";
  EXPECT_FALSE(read("\"0xabc\"", arrow::binary()).ok());
  EXPECT_FALSE(read("\"0x00\"", arrow::fixed_size_binary(2)).ok());
  EXPECT_FALSE(read("[1, 2, 3]", arrow::fixed_size_list(arrow::int32(), 2)).ok());
  EXPECT_FALSE(read("\"99999-01-01T00:00:00\"", arrow::timestamp(arrow::TimeUnit::NANO)).ok());
  EXPECT_FALSE(read("1", arrow::null()).ok());
  EXPECT_TRUE(read("null", arrow::null()).ok());
  EXPECT_TRUE(read(R"({"v": 1, "v": 2})", arrow::struct_({arrow::field("v", arrow::int8())})).ok());
  Status malformed = read(R"({"v": 1,})", arrow::struct_({arrow::field("v", arrow::int8())}));
  EXPECT_NE(malformed.message().find("malformed jsonb text"), std::string::npos)
      << malformed.ToString();
  std::string deep(300, '[');
  EXPECT_NE(ParseJson(deep, kPostgresJsonb).status().message().find("nesting too deep"),
            std::string::npos);
  EXPECT_TRUE(CheckJsonReadable(*arrow::list(arrow::struct_({arrow::field("a", arrow::int8())}))).ok());
  Status dup = CheckJsonReadable(*arrow::struct_({arrow::field("a", arrow::int8()),
                                                  arrow::field("a", arrow::utf8())}));
  EXPECT_TRUE(dup.IsNotImplemented());
}

}  // namespace
}  // namespace amp::loaders
