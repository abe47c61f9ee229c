// The Redis loader's value codec and key patterns (redis_codec.h): every supported Arrow
// type round-trips through its text and JSON forms, key components never collide, and
// key patterns are validated against the schema.
#include "loaders/redis/redis_codec.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/testing/batch_builders.h"

namespace amp::redis {
namespace {

// Text and JSON round trips of every value of `array`.
void ExpectRoundTrip(const std::shared_ptr<arrow::Array>& array) {
  SCOPED_TRACE(array->type()->ToString());
  auto text_builder = *arrow::MakeBuilder(array->type());
  auto json_builder = *arrow::MakeBuilder(array->type());
  for (int64_t i = 0; i < array->length(); ++i) {
    if (array->IsNull(i)) {
      ASSERT_TRUE(text_builder->AppendNull().ok());
    } else {
      std::string text;
      AppendText(*array, i, &text);
      Status st = AppendFromText(text_builder.get(), *array->type(), text);
      ASSERT_TRUE(st.ok()) << "text '" << text << "': " << st.ToString();
    }
    std::string json;
    AppendJson(*array, i, &json);
    auto parsed = nlohmann::json::parse(json, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << "invalid JSON: " << json;
    Status st = AppendFromJson(json_builder.get(), *array->type(), parsed);
    ASSERT_TRUE(st.ok()) << "json " << json << ": " << st.ToString();
  }
  auto from_text = *text_builder->Finish();
  auto from_json = *json_builder->Finish();
  EXPECT_TRUE(from_text->Equals(*array)) << from_text->ToString() << "\nvs\n" << array->ToString();
  EXPECT_TRUE(from_json->Equals(*array)) << from_json->ToString() << "\nvs\n" << array->ToString();
}

TEST(RedisCodecTest, IntegersAreExact) {
  const std::pair<std::shared_ptr<arrow::DataType>, const char*> extremes[] = {
      {arrow::uint64(), "[0, 18446744073709551615, null, 9223372036854775808]"},
      {arrow::int64(), "[-9223372036854775808, 9223372036854775807, 0, null]"},
      {arrow::int32(), "[-2147483648, 2147483647, null]"},
      {arrow::uint32(), "[0, 4294967295]"},
      {arrow::int8(), "[-128, 127]"},
  };
  for (const auto& [type, json] : extremes) ExpectRoundTrip(ArrayFromJson(type, json));
  std::string text;
  AppendText(*ArrayFromJson(arrow::uint64(), "[18446744073709551615]"), 0, &text);
  EXPECT_EQ(text, "18446744073709551615");
}

TEST(RedisCodecTest, FloatsBoolsDecimals) {
  ExpectRoundTrip(ArrayFromJson(arrow::float64(), "[0.1, -1e300, 5e-324, null, 3.0]"));
  ExpectRoundTrip(ArrayFromJson(arrow::float32(), "[0.1, -2.5, null]"));
  ExpectRoundTrip(ArrayFromJson(arrow::boolean(), "[true, false, null]"));
  const std::string nines(38, '9');
  ExpectRoundTrip(ArrayFromJson(arrow::decimal128(38, 0), "[\"" + nines + "\", \"-" + nines + "\", \"0\", null]"));
  ExpectRoundTrip(ArrayFromJson(arrow::decimal128(10, 3), "[\"1.500\", \"-0.001\", \"1234567.891\"]"));
  ExpectRoundTrip(ArrayFromJson(arrow::decimal256(76, 0), "[\"" + std::string(76, '9') + "\", \"-1\"]"));
  std::string json;
  AppendJson(*ArrayFromJson(arrow::decimal128(10, 3), "[\"1.500\"]"), 0, &json);
  EXPECT_EQ(json, "\"1.500\"");  // a string: JSON numbers would lose digits
  arrow::DoubleBuilder b;
  ASSERT_TRUE(b.AppendValues({std::numeric_limits<double>::infinity(),
                              -std::numeric_limits<double>::infinity()}).ok());
  ExpectRoundTrip(*b.Finish());
}

TEST(RedisCodecTest, StringsAndBinaries) {
  ExpectRoundTrip(ArrayFromJson(arrow::utf8(), R"(["", "h\u00e9llo", "quote \" back \\ nl \n tab \t", null, "\u0001"])"));
  ExpectRoundTrip(ArrayFromJson(arrow::large_utf8(), R"(["a", null])"));
  ExpectRoundTrip(ArrayFromJson(arrow::binary(), R"(["", "abc", null])"));
  ExpectRoundTrip(ArrayFromJson(arrow::fixed_size_binary(4), R"(["abcd", null, "\u0000\u0000\u0000\u0000"])"));
  arrow::StringViewBuilder sv;
  ASSERT_TRUE(sv.Append("a string longer than twelve bytes").ok());
  ASSERT_TRUE(sv.Append("").ok());
  ASSERT_TRUE(sv.AppendNull().ok());
  ExpectRoundTrip(*sv.Finish());
  arrow::BinaryViewBuilder bv;
  ASSERT_TRUE(bv.Append(std::string("\x00\xff", 2)).ok());
  ExpectRoundTrip(*bv.Finish());
  std::string text;
  AppendText(*ArrayFromJson(arrow::binary(), R"(["\u0000\u00ff"])"), 0, &text);
  // "\u00ff" in the JSON is one UTF-8 sequence (2 bytes): 0x00 0xc3 0xbf.
  EXPECT_EQ(text, "0x00c3bf");
}

TEST(RedisCodecTest, TimestampsAndDates) {
  const auto ns = arrow::timestamp(arrow::TimeUnit::NANO, "+00:00");
  ExpectRoundTrip(ArrayFromJson(ns, "[0, -1, 1700000000123456789, -86400000000001, null]"));
  ExpectRoundTrip(ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[0, -62135596800, 253402300799]"));
  ExpectRoundTrip(ArrayFromJson(arrow::timestamp(arrow::TimeUnit::MICRO), "[1, -1]"));
  ExpectRoundTrip(ArrayFromJson(arrow::date32(), "[0, -1, 19000, null]"));
  ExpectRoundTrip(ArrayFromJson(arrow::date64(), "[86400000]"));
  ExpectRoundTrip(ArrayFromJson(arrow::time64(arrow::TimeUnit::NANO), "[1, 86399999999999]"));
  ExpectRoundTrip(ArrayFromJson(arrow::duration(arrow::TimeUnit::MILLI), "[-5, 7]"));
  EXPECT_EQ(FormatTimestamp(1700000000123456789LL, 9), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(FormatTimestamp(-1, 9), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(FormatTimestamp(0, 0), "1970-01-01T00:00:00Z");
  EXPECT_FALSE(ParseTimestamp("2023-11-14T22:13:20.1234Z", 3).ok()) << "more digits than the unit";
  // The extremes of int64 nanoseconds (the earliest once overflowed on the way back).
  ExpectRoundTrip(ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO),
                                "[-9223372036854775808, 9223372036854775807]"));
}

TEST(RedisCodecTest, TextTheWriterNeverProducesIsRejected) {
  // Decoding shares the codec's strict ISO 8601 reader: a clock past 24:00:60, a fraction
  // point without digits and a year of more than 18 digits were once accepted (the last as
  // year 0).
  for (const char* text : {"2023-11-14T25:13:20Z", "2023-11-14T22:61:20Z", "2023-11-14T22:13:20.Z",
                           "1234567890123456789012-01-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(text, 3).ok()) << text;
  }
  auto date = *arrow::MakeBuilder(arrow::date32());
  EXPECT_FALSE(AppendFromText(date.get(), *arrow::date32(), "1234567890123456789012-01-01").ok());
  // JSON members take only the JSON kind the writer gives their type (the shared reader):
  // a number into a string column, an integer spelled as a string and a fixed-size list of
  // the wrong length were once accepted.
  auto append = [](const std::shared_ptr<arrow::DataType>& type, const char* json) {
    auto builder = *arrow::MakeBuilder(type);
    return AppendFromJson(builder.get(), *type, nlohmann::json::parse(json));
  };
  EXPECT_FALSE(append(arrow::utf8(), "15").ok());
  EXPECT_FALSE(append(arrow::int64(), "\"5\"").ok());
  EXPECT_FALSE(append(arrow::fixed_size_list(arrow::int32(), 2), "[1, 2, 3]").ok());
  EXPECT_TRUE(append(arrow::fixed_size_list(arrow::int32(), 2), "[1, 2]").ok());
  // Hex digits and the 0x prefix in either case, as the PostgreSQL jsonb reader takes them.
  auto bin = *arrow::MakeBuilder(arrow::binary());
  ASSERT_TRUE(AppendFromText(bin.get(), *arrow::binary(), "0XaB").ok());
  auto bytes = std::static_pointer_cast<arrow::BinaryArray>(*bin->Finish());
  EXPECT_EQ(bytes->GetString(0), "\xab");
}

TEST(RedisCodecTest, NestedTypesAsJson) {
  const auto hash = arrow::fixed_size_binary(2);
  const auto item = arrow::struct_({arrow::field("index", arrow::uint64()),
                                    arrow::field("address", hash),
                                    arrow::field("amount", arrow::decimal128(38, 0))});
  auto lists = ArrayFromJson(arrow::list(arrow::field("item", item)),
                        R"([[], [{"index": 18446744073709551615, "address": "ab", "amount": "-5"}],
                            null, [null, {"index": 1, "address": null, "amount": null}]])");
  ExpectRoundTrip(lists);
  std::string text;
  AppendText(*lists, 1, &text);
  EXPECT_EQ(text, R"([{"index":18446744073709551615,"address":"0x6162","amount":"-5"}])");
  ExpectRoundTrip(ArrayFromJson(arrow::list(hash), R"([["ab", null], [], null])"));
  ExpectRoundTrip(ArrayFromJson(arrow::fixed_size_list(arrow::int32(), 2), "[[1, 2], null, [3, null]]"));
}

TEST(RedisCodecTest, KeyComponentsNeverCollide) {
  auto strings = ArrayFromJson(arrow::utf8(), R"(["a:b", "a%3Ab", "%N", null, "a b", "{x}", ""])");
  std::set<std::string> seen;
  for (int64_t i = 0; i < strings->length(); ++i) {
    std::string key;
    AppendKeyComponent(*strings, i, &key);
    EXPECT_EQ(key.find(':'), std::string::npos) << key;
    EXPECT_TRUE(seen.insert(key).second) << "collision: " << key;
  }
  std::string key;
  AppendKeyComponent(*ArrayFromJson(arrow::fixed_size_binary(3), R"(["abc"])"), 0, &key);
  EXPECT_EQ(key, "0x616263");  // the full value, never a truncated digest
}

TEST(RedisCodecTest, KeyPatternsAreValidated) {
  auto schema = arrow::schema({arrow::field("tx_hash", arrow::binary()),
                               arrow::field("log_index", arrow::uint32())});
  auto ok = KeyPattern::Parse("{table}:{tx_hash}:{log_index}", *schema, "logs");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->UsesColumn("tx_hash"));
  EXPECT_FALSE(ok->Uses(KeyPattern::Source::kSeq));
  auto unknown = KeyPattern::Parse("{table}:{txhash}", *schema, "logs");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("{txhash}"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("tx_hash"), std::string::npos) << "lists the columns";
  EXPECT_FALSE(KeyPattern::Parse("{tx_hash}{log_index}", *schema, "logs").ok()) << "adjacent";
  EXPECT_FALSE(KeyPattern::Parse("{tx_hash}-{log_index}", *schema, "logs").ok()) << "no ':'";
  EXPECT_FALSE(KeyPattern::Parse("{table", *schema, "logs").ok());
  EXPECT_FALSE(KeyPattern::Parse("table}", *schema, "logs").ok());
  EXPECT_TRUE(KeyPattern::Parse("x:{_amp_block_start}:{_amp_seq}", *schema, "logs").ok());
}

TEST(RedisCodecTest, UnsupportedTypesAreNamed) {
  auto st = CheckSupportedType(*arrow::map(arrow::utf8(), arrow::int32()));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("map"), std::string::npos);
  EXPECT_TRUE(CheckSupportedType(*arrow::list(arrow::struct_({arrow::field("a", arrow::decimal256(76, 0))}))).ok());
}

TEST(RedisCodecTest, FieldFormsOfBinaries) {
  for (const auto& type : {arrow::binary(), arrow::large_binary(), arrow::binary_view(),
                           arrow::fixed_size_binary(2)}) {
    SCOPED_TRACE(type->ToString());
    auto array = ArrayFromJson(type, R"(["ab", "\u0000\r", null])");
    for (BinaryForm form : {BinaryForm::kHex, BinaryForm::kRaw}) {
      auto builder = *arrow::MakeBuilder(type);
      for (int64_t i = 0; i < array->length(); ++i) {
        if (array->IsNull(i)) {
          ASSERT_TRUE(builder->AppendNull().ok());
          continue;
        }
        std::string text;
        AppendField(*array, i, form, &text);
        if (i == 0) EXPECT_EQ(text, form == BinaryForm::kRaw ? "ab" : "0x6162");
        ASSERT_TRUE(AppendFromField(builder.get(), *type, text, form).ok()) << text;
      }
      EXPECT_TRUE((*builder->Finish())->Equals(*array));
    }
  }
  // Other types ignore the form; JSON keeps hex.
  std::string text;
  AppendField(*ArrayFromJson(arrow::utf8(), R"(["0x61"])"), 0, BinaryForm::kRaw, &text);
  EXPECT_EQ(text, "0x61");
  text.clear();
  AppendJson(*ArrayFromJson(arrow::binary(), R"(["a\""])"), 0, &text);
  EXPECT_EQ(text, R"("0x6122")");
  text.clear();
  AppendJsonString("plain then \"quoted\"\n", &text);
  EXPECT_EQ(text, R"("plain then \"quoted\"\n")");
}

}  // namespace
}  // namespace amp::redis
