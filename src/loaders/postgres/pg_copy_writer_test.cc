// Server-free tests of the postgres loader's pieces: binary COPY encoding (byte-exact),
// the Arrow -> PostgreSQL type mapping, SQLSTATE classification, redaction, URI options.
#include "loaders/postgres/pg_copy_writer.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <cstring>

#include "amp/loader.h"

#include "common/testing/batch_builders.h"
#include "loaders/postgres/pg_error.h"
#include "loaders/postgres/pg_types.h"
#include "loaders/postgres/postgres_loader.h"

namespace amp::postgres {
namespace {

// Reads big-endian integers from encoded bytes.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  int16_t I16() { return static_cast<int16_t>(Get(2)); }
  int32_t I32() { return static_cast<int32_t>(Get(4)); }
  int64_t I64() { return static_cast<int64_t>(Get(8)); }
  std::string Bytes(size_t n) {
    EXPECT_LE(pos_ + n, bytes_.size());
    std::string out(bytes_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  uint64_t Get(int n) {
    EXPECT_LE(pos_ + n, bytes_.size());
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + k]);
    pos_ += n;
    return v;
  }
  std::string_view bytes_;
  size_t pos_ = 0;
};

// Renders a numeric binary value as PostgreSQL's text output would.
std::string NumericText(Reader& r) {
  const int ndigits = r.I16();
  const int weight = r.I16();
  const int sign = static_cast<uint16_t>(r.I16());
  const int dscale = r.I16();
  std::vector<int> digits(ndigits);
  for (int& d : digits) d = r.I16();
  auto digit_at = [&](int power) {  // digit for 10000^power
    int k = weight - power;
    return k >= 0 && k < ndigits ? digits[k] : 0;
  };
  std::string out = sign == 0x4000 ? "-" : "";
  std::string integer;
  for (int p = std::max(weight, 0); p >= 0; --p) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), integer.empty() ? "%d" : "%04d", digit_at(p));
    integer += buf;
  }
  out += integer;
  if (dscale > 0) {
    std::string frac;
    for (int p = -1; static_cast<int>(frac.size()) < dscale; --p) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "%04d", digit_at(p));
      frac += buf;
    }
    out += "." + frac.substr(0, dscale);
  }
  return out;
}

std::string EncodeNumeric(std::vector<uint64_t> limbs, bool negative, int32_t scale) {
  CopyBuffer buffer;
  AppendNumericValue(limbs.data(), static_cast<int>(limbs.size()), negative, scale, &buffer);
  Reader r(buffer.view());
  std::string text = NumericText(r);
  EXPECT_EQ(r.left(), 0u);
  return text;
}

TEST(NumericEncodingTest, ExactDigitsWeightAndScale) {
  EXPECT_EQ(EncodeNumeric({0}, false, 0), "0");
  EXPECT_EQ(EncodeNumeric({0}, false, 3), "0.000");
  EXPECT_EQ(EncodeNumeric({12345}, false, 2), "123.45");
  EXPECT_EQ(EncodeNumeric({12345}, true, 2), "-123.45");
  EXPECT_EQ(EncodeNumeric({1}, false, 5), "0.00001");
  EXPECT_EQ(EncodeNumeric({10000}, false, 0), "10000");
  EXPECT_EQ(EncodeNumeric({123}, false, -2), "12300");
  EXPECT_EQ(EncodeNumeric({7}, false, -5), "700000");
  EXPECT_EQ(EncodeNumeric({UINT64_MAX}, false, 0), "18446744073709551615");
  // 10^38 - 1 = 0x4B3B4CA85A86C47A098A223FFFFFFFFF (Decimal128(38, 0) maximum).
  EXPECT_EQ(EncodeNumeric({0x098A223FFFFFFFFFULL, 0x4B3B4CA85A86C47AULL}, false, 0),
            std::string(38, '9'));
  EXPECT_EQ(EncodeNumeric({0x098A223FFFFFFFFFULL, 0x4B3B4CA85A86C47AULL}, true, 10),
            "-" + std::string(28, '9') + "." + std::string(10, '9'));
  // 2^255 - 1 (larger than any Decimal256 value): exercises four limbs.
  EXPECT_EQ(EncodeNumeric({UINT64_MAX, UINT64_MAX, UINT64_MAX, 0x7FFFFFFFFFFFFFFFULL}, false, 0),
            "57896044618658097711785492504343953926634992332820282019728792003956564819967");
}

TEST(NumericEncodingTest, TrailingZeroDigitsAreDropped) {
  CopyBuffer buffer;
  uint64_t v = 100000000;  // 1 0000 0000
  AppendNumericValue(&v, 1, false, 0, &buffer);
  Reader r(buffer.view());
  EXPECT_EQ(r.I16(), 1);  // ndigits
  EXPECT_EQ(r.I16(), 2);  // weight
  EXPECT_EQ(r.I16(), 0);
  EXPECT_EQ(r.I16(), 0);
  EXPECT_EQ(r.I16(), 1);
}

// Encodes a one-column batch and returns the field bytes of row `row` (after header,
// field count), and checks the stream framing on the way.
struct Encoded {
  std::vector<std::string> fields;  // per row: the first column's field (with length)
  std::vector<std::pair<int64_t, int64_t>> blocks;
};

Encoded EncodeColumn(const std::shared_ptr<arrow::Array>& array, BlockTags tags = BlockTags{}) {
  auto schema = arrow::schema({arrow::field("c", array->type())});
  auto batch = arrow::RecordBatch::Make(schema, array->length(), {array});
  auto type = MapArrowType(*array->type());
  EXPECT_TRUE(type.ok()) << type.status().ToString();
  CopyBuffer buffer;
  std::string all;
  Status st = WriteCopyData(*batch, {{0, *type}}, tags, 1 << 20, &buffer,
                            [&](std::string_view chunk) {
                              all.append(chunk);
                              return Status::OK();
                            });
  EXPECT_TRUE(st.ok()) << st.ToString();
  Encoded out;
  Reader r(all);
  EXPECT_EQ(r.Bytes(11), std::string("PGCOPY\n\377\r\n\0", 11));
  EXPECT_EQ(r.I32(), 0);
  EXPECT_EQ(r.I32(), 0);
  for (int64_t row = 0; row < array->length(); ++row) {
    EXPECT_EQ(r.I16(), 3);
    int32_t len = r.I32();
    std::string field(4, '\0');
    uint32_t be = __builtin_bswap32(static_cast<uint32_t>(len));
    std::memcpy(field.data(), &be, 4);
    if (len >= 0) field += r.Bytes(len);
    out.fields.push_back(field);
    EXPECT_EQ(r.I32(), 8);
    int64_t start = r.I64();
    EXPECT_EQ(r.I32(), 8);
    out.blocks.emplace_back(start, r.I64());
  }
  EXPECT_EQ(r.I16(), -1);
  EXPECT_EQ(r.left(), 0u);
  return out;
}

TEST(CopyWriterTest, HeaderRowsTrailerAndMicrobatchTags) {
  BlockTags tags;
  tags.start = 10;
  tags.end = 19;
  auto enc = EncodeColumn(ArrayFromJson(arrow::int32(), "[7, null]"), tags);
  ASSERT_EQ(enc.fields.size(), 2u);
  EXPECT_EQ(enc.fields[0], std::string("\0\0\0\4\0\0\0\7", 8));
  EXPECT_EQ(enc.fields[1], std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(enc.blocks[0], std::make_pair(int64_t{10}, int64_t{19}));
  EXPECT_EQ(enc.blocks[1], std::make_pair(int64_t{10}, int64_t{19}));
}

TEST(CopyWriterTest, IntegersWiden) {
  auto u32 = EncodeColumn(ArrayFromJson(arrow::uint32(), "[4294967295]"));
  EXPECT_EQ(u32.fields[0], std::string("\0\0\0\x08\0\0\0\0\xff\xff\xff\xff", 12));
  auto u8 = EncodeColumn(ArrayFromJson(arrow::uint8(), "[255]"));
  EXPECT_EQ(u8.fields[0], std::string("\0\0\0\x02\0\xff", 6));
  auto i8 = EncodeColumn(ArrayFromJson(arrow::int8(), "[-1]"));
  EXPECT_EQ(i8.fields[0], std::string("\0\0\0\x02\xff\xff", 6));
}

TEST(CopyWriterTest, UInt64IsExactNumeric) {
  auto enc = EncodeColumn(ArrayFromJson(arrow::uint64(), "[18446744073709551615, 0]"));
  Reader r(enc.fields[0]);
  EXPECT_EQ(r.I32(), 8 + 2 * 5);
  EXPECT_EQ(NumericText(r), "18446744073709551615");
  Reader zero(enc.fields[1]);
  EXPECT_EQ(zero.I32(), 8);
  EXPECT_EQ(NumericText(zero), "0");
}

TEST(CopyWriterTest, SmallIntegersDropTrailingZeroDigits) {
  // Integers below 2^64 take a shorter path: same bytes as PostgreSQL's own numeric_send
  // (no trailing zero base-10000 digits, the weight places the rest).
  auto enc = EncodeColumn(ArrayFromJson(arrow::uint64(), "[10000, 100000000, 12340000, 5, 9999]"));
  const std::vector<std::pair<std::string, int>> expected = {
      {"10000", 1}, {"100000000", 1}, {"12340000", 1}, {"5", 1}, {"9999", 1}};
  for (size_t k = 0; k < expected.size(); ++k) {
    Reader r(enc.fields[k]);
    EXPECT_EQ(r.I32(), 8 + 2 * expected[k].second) << expected[k].first;
    EXPECT_EQ(NumericText(r), expected[k].first);
  }
  Reader weight(enc.fields[1]);
  weight.I32();
  EXPECT_EQ(weight.I16(), 1);  // ndigits
  EXPECT_EQ(weight.I16(), 2);  // weight: 1 * 10000^2
  auto d = EncodeColumn(ArrayFromJson(arrow::decimal128(38, 0), R"(["-120000", "7", "0"])"));
  const char* texts[] = {"-120000", "7", "0"};
  for (int k = 0; k < 3; ++k) {
    Reader r(d.fields[k]);
    r.I32();
    EXPECT_EQ(NumericText(r), texts[k]);
  }
}

TEST(CopyWriterTest, Decimal128And256) {
  auto d128 = EncodeColumn(ArrayFromJson(arrow::decimal128(38, 2),
                                    R"(["-999999999999999999999999999999999999.99", "0.05"])"));
  Reader a(d128.fields[0]);
  a.I32();
  EXPECT_EQ(NumericText(a), "-999999999999999999999999999999999999.99");
  Reader b(d128.fields[1]);
  b.I32();
  EXPECT_EQ(NumericText(b), "0.05");
  auto d256 = EncodeColumn(ArrayFromJson(arrow::decimal256(76, 0), R"(["-)" + std::string(76, '9') + R"("])"));
  Reader c(d256.fields[0]);
  c.I32();
  EXPECT_EQ(NumericText(c), "-" + std::string(76, '9'));
}

TEST(CopyWriterTest, TimestampsFloorToMicrosSince2000) {
  auto ns = EncodeColumn(ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"),
                                  "[-1, 946684800000000000, 946684800000001999]"));
  Reader r0(ns.fields[0]);
  EXPECT_EQ(r0.I32(), 8);
  EXPECT_EQ(r0.I64(), -946684800000000LL - 1);  // 1969-12-31 23:59:59.999999
  Reader r1(ns.fields[1]);
  r1.I32();
  EXPECT_EQ(r1.I64(), 0);
  Reader r2(ns.fields[2]);
  r2.I32();
  EXPECT_EQ(r2.I64(), 1);  // 1.999 us -> 1 us
  auto s = EncodeColumn(ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[0]"));
  Reader r3(s.fields[0]);
  r3.I32();
  EXPECT_EQ(r3.I64(), -946684800000000LL);
}

TEST(CopyWriterTest, TimestampOverflowIsAnErrorNamingTheColumn) {
  auto array = ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[9223372036854775807]");
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("ts", array->type())}), 1,
                                        {array});
  CopyBuffer buffer;
  Status st = WriteCopyData(*batch, {{0, *MapArrowType(*array->type())}}, {}, 1 << 20, &buffer,
                            [](std::string_view) { return Status::OK(); });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("\"ts\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("row 0"), std::string::npos) << st.message();
}

TEST(CopyWriterTest, DatesAndText) {
  auto d = EncodeColumn(ArrayFromJson(arrow::date32(), "[10957, 0]"));
  EXPECT_EQ(d.fields[0], std::string("\0\0\0\4\0\0\0\0", 8));
  Reader r(d.fields[1]);
  r.I32();
  EXPECT_EQ(r.I32(), -10957);
  auto t = EncodeColumn(ArrayFromJson(arrow::utf8(), R"(["héllo", ""])"));
  EXPECT_EQ(t.fields[0], std::string("\0\0\0\6h\xc3\xa9llo", 10));
  EXPECT_EQ(t.fields[1], std::string("\0\0\0\0", 4));
  auto v = EncodeColumn(ArrayFromJson(arrow::utf8_view(), R"(["a string longer than twelve"])"));
  EXPECT_EQ(v.fields[0].substr(4), "a string longer than twelve");
  auto f = EncodeColumn(ArrayFromJson(arrow::fixed_size_binary(2), R"(["ab"])"));
  EXPECT_EQ(f.fields[0], std::string("\0\0\0\2ab", 6));
}

TEST(CopyWriterTest, ListBecomesOneDimensionalArray) {
  auto enc = EncodeColumn(ArrayFromJson(arrow::list(arrow::int32()), "[[1, null, 3], [], null]"));
  Reader r(enc.fields[0]);
  EXPECT_EQ(r.I32(), 12 + 8 + 8 + 4 + 8);
  EXPECT_EQ(r.I32(), 1);         // ndim
  EXPECT_EQ(r.I32(), 1);         // has nulls
  EXPECT_EQ(r.I32(), 23);        // int4
  EXPECT_EQ(r.I32(), 3);         // dim size
  EXPECT_EQ(r.I32(), 1);         // lower bound
  EXPECT_EQ(r.I32(), 4);
  EXPECT_EQ(r.I32(), 1);
  EXPECT_EQ(r.I32(), -1);
  EXPECT_EQ(r.I32(), 4);
  EXPECT_EQ(r.I32(), 3);
  Reader e(enc.fields[1]);
  EXPECT_EQ(e.I32(), 12);
  EXPECT_EQ(e.I32(), 0);  // ndim 0: empty
  EXPECT_EQ(e.I32(), 0);
  EXPECT_EQ(e.I32(), 23);
  EXPECT_EQ(enc.fields[2], std::string("\xff\xff\xff\xff", 4));
}

std::string JsonbText(const std::string& field) {
  Reader r(field);
  int32_t len = r.I32();
  EXPECT_EQ(r.Bytes(1), "\1");
  return r.Bytes(len - 1);
}

TEST(CopyWriterTest, StructsAndNestedListsBecomeJsonb) {
  auto type = arrow::struct_({arrow::field("a", arrow::uint64()), arrow::field("b", arrow::utf8()),
                              arrow::field("h", arrow::binary()),
                              arrow::field("t", arrow::timestamp(arrow::TimeUnit::NANO, "UTC")),
                              arrow::field("d", arrow::decimal128(10, 2)),
                              arrow::field("l", arrow::list(arrow::float64()))});
  auto enc = EncodeColumn(ArrayFromJson(type, R"([
      {"a": 18446744073709551615, "b": "q\"\\\n\u0001", "h": "\u00de", "t": -1, "d": "-1.50",
       "l": [1.5, null]},
      {"a": null, "b": null, "h": null, "t": null, "d": null, "l": null},
      null])"));
  EXPECT_EQ(JsonbText(enc.fields[0]),
            R"({"a":18446744073709551615,"b":"q\"\\\n\u0001","h":"0xc39e",)"
            R"("t":"1969-12-31T23:59:59.999999999Z","d":-1.50,"l":[1.5,null]})");
  EXPECT_EQ(JsonbText(enc.fields[1]),
            R"({"a":null,"b":null,"h":null,"t":null,"d":null,"l":null})");
  EXPECT_EQ(enc.fields[2], std::string("\xff\xff\xff\xff", 4));

  auto nested = EncodeColumn(ArrayFromJson(arrow::list(arrow::list(arrow::int8())), "[[[1], [], null]]"));
  EXPECT_EQ(JsonbText(nested.fields[0]), "[[1],[],null]");
}

TEST(CopyWriterTest, DictionaryEncodesItsValues) {
  auto dict = arrow::json::DictArrayFromJSONString(arrow::dictionary(arrow::int8(), arrow::utf8()),
                                                   "[1, null, 0]", R"(["x", "yz"])");
  ASSERT_TRUE(dict.ok());
  auto enc = EncodeColumn(*dict);
  EXPECT_EQ(enc.fields[0], std::string("\0\0\0\2yz", 6));
  EXPECT_EQ(enc.fields[1], std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(enc.fields[2], std::string("\0\0\0\1x", 5));
}

TEST(CopyWriterTest, PerRowBlockColumn) {
  auto blocks = ArrayFromJson(arrow::uint64(), "[5, 6]");
  BlockTags tags;
  tags.per_row = blocks.get();
  auto enc = EncodeColumn(ArrayFromJson(arrow::int64(), "[1, 2]"), tags);
  EXPECT_EQ(enc.blocks[0], std::make_pair(int64_t{5}, int64_t{5}));
  EXPECT_EQ(enc.blocks[1], std::make_pair(int64_t{6}, int64_t{6}));

  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("c", arrow::int64())}), 1,
                                        {ArrayFromJson(arrow::int64(), "[1]")});
  CopyBuffer buffer;
  auto sink = [](std::string_view) { return Status::OK(); };
  PgType bigint = *MapArrowType(*arrow::int64());
  auto huge = ArrayFromJson(arrow::uint64(), "[9223372036854775808]");
  tags.per_row = huge.get();
  EXPECT_FALSE(WriteCopyData(*batch, {{0, bigint}}, tags, 1 << 20, &buffer, sink).ok());
  auto null_block = ArrayFromJson(arrow::uint64(), "[null]");
  tags.per_row = null_block.get();
  EXPECT_FALSE(WriteCopyData(*batch, {{0, bigint}}, tags, 1 << 20, &buffer, sink).ok());
  BlockTags fixed;
  fixed.start = 1;
  fixed.end = UINT64_MAX;
  EXPECT_FALSE(WriteCopyData(*batch, {{0, bigint}}, fixed, 1 << 20, &buffer, sink).ok());
}

TEST(CopyWriterTest, ChunkingDoesNotChangeTheStream) {
  arrow::Int64Builder builder;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(builder.Append(i).ok());
  auto array = *builder.Finish();
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("c", arrow::int64())}),
                                        array->length(), {array});
  PgType bigint = *MapArrowType(*arrow::int64());
  auto encode = [&](size_t chunk, int* calls) {
    CopyBuffer buffer;
    std::string all;
    *calls = 0;
    EXPECT_TRUE(WriteCopyData(*batch, {{0, bigint}}, {}, chunk, &buffer,
                              [&](std::string_view c) {
                                ++*calls;
                                all.append(c);
                                return Status::OK();
                              })
                    .ok());
    return all;
  };
  int big_calls, small_calls;
  std::string one = encode(1 << 20, &big_calls);
  std::string many = encode(1000, &small_calls);
  EXPECT_EQ(one, many);
  EXPECT_EQ(big_calls, 1);
  EXPECT_GT(small_calls, 100);
  EXPECT_EQ(one.size(), 19u + 10000u * (2 + 12 + 12 + 12) + 2);
}

TEST(CopyWriterTest, RowsOfSeveralBatchesMakeOneStream) {
  // What the loader sends when one COPY takes several batches: the header, each batch's
  // rows (WriteCopyRows, appended to what the buffer holds), the trailer.
  auto batch = [](const std::string& json) {
    auto array = ArrayFromJson(arrow::int64(), json);
    return arrow::RecordBatch::Make(arrow::schema({arrow::field("c", arrow::int64())}),
                                    array->length(), {array});
  };
  PgType bigint = *MapArrowType(*arrow::int64());
  BlockTags tags;
  tags.start = 3;
  tags.end = 4;
  std::string whole;
  CopyBuffer buffer;
  auto append = [&](std::string_view c) {
    whole.append(c);
    return Status::OK();
  };
  ASSERT_TRUE(WriteCopyData(*batch("[1, 2, null]"), {{0, bigint}}, tags, 1 << 20, &buffer,
                            append)
                  .ok());
  const std::string expected = whole;
  whole.clear();

  AppendCopyHeader(&buffer);
  ASSERT_TRUE(WriteCopyRows(*batch("[1]"), {{0, bigint}}, tags, 1 << 20, &buffer, append).ok());
  EXPECT_EQ(buffer.size(), 0u);  // everything handed over, header included
  EXPECT_EQ(whole.size(), 19u + 2 + 12 + 12 + 12);
  ASSERT_TRUE(
      WriteCopyRows(*batch("[2, null]"), {{0, bigint}}, tags, 8, &buffer, append).ok());
  EXPECT_EQ(buffer.size(), 0u);
  AppendCopyTrailer(&buffer);
  whole.append(buffer.view());
  EXPECT_EQ(whole, expected);
}

TEST(PgTypesTest, MappingTable) {
  auto sql = [](const std::shared_ptr<arrow::DataType>& t) {
    auto m = MapArrowType(*t);
    return m.ok() ? m->sql : "error: " + m.status().message();
  };
  EXPECT_EQ(sql(arrow::boolean()), "boolean");
  EXPECT_EQ(sql(arrow::int8()), "smallint");
  EXPECT_EQ(sql(arrow::uint8()), "smallint");
  EXPECT_EQ(sql(arrow::int16()), "smallint");
  EXPECT_EQ(sql(arrow::uint16()), "integer");
  EXPECT_EQ(sql(arrow::int32()), "integer");
  EXPECT_EQ(sql(arrow::uint32()), "bigint");
  EXPECT_EQ(sql(arrow::int64()), "bigint");
  EXPECT_EQ(sql(arrow::uint64()), "numeric(20,0)");
  EXPECT_EQ(sql(arrow::float32()), "real");
  EXPECT_EQ(sql(arrow::float64()), "double precision");
  EXPECT_EQ(sql(arrow::utf8()), "text");
  EXPECT_EQ(sql(arrow::large_utf8()), "text");
  EXPECT_EQ(sql(arrow::utf8_view()), "text");
  EXPECT_EQ(sql(arrow::binary()), "bytea");
  EXPECT_EQ(sql(arrow::large_binary()), "bytea");
  EXPECT_EQ(sql(arrow::binary_view()), "bytea");
  EXPECT_EQ(sql(arrow::fixed_size_binary(32)), "bytea");
  EXPECT_EQ(sql(arrow::decimal128(38, 0)), "numeric(38,0)");
  EXPECT_EQ(sql(arrow::decimal256(76, 10)), "numeric(76,10)");
  EXPECT_EQ(sql(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00")), "timestamp with time zone");
  EXPECT_EQ(sql(arrow::timestamp(arrow::TimeUnit::MICRO)), "timestamp without time zone");
  EXPECT_EQ(sql(arrow::date32()), "date");
  EXPECT_EQ(sql(arrow::list(arrow::uint64())), "numeric(20,0)[]");
  EXPECT_EQ(sql(arrow::list(arrow::fixed_size_binary(32))), "bytea[]");
  EXPECT_EQ(sql(arrow::large_list(arrow::utf8())), "text[]");
  EXPECT_EQ(sql(arrow::list(arrow::list(arrow::int32()))), "jsonb");
  EXPECT_EQ(sql(arrow::list(arrow::struct_({arrow::field("x", arrow::int32())}))), "jsonb");
  EXPECT_EQ(sql(arrow::struct_({arrow::field("x", arrow::int32())})), "jsonb");
  EXPECT_EQ(sql(arrow::dictionary(arrow::int32(), arrow::utf8())), "text");
  EXPECT_EQ(MapArrowType(*arrow::list(arrow::int16()))->element_oid, kInt2Oid);
  EXPECT_EQ(MapArrowType(*arrow::list(arrow::int16()))->oid, 1005u);

  auto bad = MapArrowType(*arrow::duration(arrow::TimeUnit::SECOND));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("duration"), std::string::npos);
  EXPECT_FALSE(MapArrowType(*arrow::map(arrow::utf8(), arrow::int32())).ok());
  EXPECT_FALSE(MapArrowType(*arrow::struct_({arrow::field("m", arrow::month_interval())})).ok());
}

TEST(PgTypesTest, QuoteIdentDoublesQuotes) {
  EXPECT_EQ(QuoteIdent("from"), "\"from\"");
  EXPECT_EQ(QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QualifiedName("public", "Logs"), "\"public\".\"Logs\"");
}

TEST(PgErrorTest, ClassifiesSqlStates) {
  EXPECT_EQ(ClassifySqlState("40001"), ErrorClass::kRetryCommit);
  EXPECT_EQ(ClassifySqlState("40P01"), ErrorClass::kRetryCommit);
  EXPECT_EQ(ClassifySqlState("08006"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("08001"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("57P01"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("57P02"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("57P03"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("53300"), ErrorClass::kRetryCall);
  EXPECT_EQ(ClassifySqlState("28P01"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("28000"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("3D000"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("42P01"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("22021"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("23505"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState("XX000"), ErrorClass::kFatal);
  EXPECT_EQ(ClassifySqlState(""), ErrorClass::kFatal);
}

TEST(PgErrorTest, SqlStateFromVerboseStartupMessage) {
  EXPECT_EQ(SqlStateFromVerboseMessage(
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: "
                "password authentication failed for user \"u\"\nLOCATION:  auth_failed"),
            "28P01");
  EXPECT_EQ(SqlStateFromVerboseMessage("connection refused"), "");
  Status st = ConnectError("failed: FATAL:  53300: sorry, too many clients already\n"
                           "LOCATION:  InitProcess, proc.c:1",
                           "connecting to x", {});
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall);
  EXPECT_EQ(st.message().find("LOCATION"), std::string::npos);
  EXPECT_EQ(ClassOf(ConnectError("FATAL:  3D000: database \"x\" does not exist", "c", {})),
            ErrorClass::kFatal);
  EXPECT_EQ(ClassOf(ConnectError("Connection refused", "c", {})), ErrorClass::kRetryCall);
}

TEST(PgErrorTest, RedactsSecrets) {
  EXPECT_EQ(Redact("uri postgresql://u:hunter2@h/db failed: hunter2", {"hunter2", ""}),
            "uri postgresql://u:****@h/db failed: ****");
}

TEST(PostgresConfigTest, UriQueryKeepsLibpqParametersAndTakesOurs) {
  auto config = ConfigFromUri(
      "postgresql://u:p@h:5433/db?sslmode=require&schema=my%20chain&max_connections=3");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->at("uri"), "postgresql://u:p@h:5433/db?sslmode=require");
  EXPECT_EQ(config->at("schema"), "my chain");
  EXPECT_EQ(config->at("max_connections"), "3");
}

TEST(PostgresConfigTest, FactoryValidatesWithoutConnecting) {
  EXPECT_TRUE(MakePostgresLoader({{"uri", "postgresql://u@127.0.0.1:1/db"}}).ok());
  for (std::string uri : {"postgresql://u:s3cret%zz@h/db", "postgresql://u:s3cret@h/db?bogus=1",
                          "host=h password=s3cret bogus"}) {
    auto bad_uri = MakePostgresLoader({{"uri", uri}});
    ASSERT_FALSE(bad_uri.ok()) << uri;
    EXPECT_EQ(ClassOf(bad_uri.status()), ErrorClass::kFatal);
    EXPECT_NE(bad_uri.status().message().find("option 'uri'"), std::string::npos);
    EXPECT_EQ(bad_uri.status().message().find("s3cret"), std::string::npos)
        << bad_uri.status().message();
  }
  auto bad_ssl = MakePostgresLoader({{"sslmode", "maybe"}});
  ASSERT_FALSE(bad_ssl.ok());
  EXPECT_NE(bad_ssl.status().message().find("verify-full"), std::string::npos);
  auto bad_pool = MakePostgresLoader({{"max_connections", "0"}});
  EXPECT_FALSE(bad_pool.ok());
  // env: secrets are resolved once for every destination, by the registry
  // (src/loaders/common/secrets.h), before any factory runs.
  LoaderRegistry registry;
  RegisterPostgresLoader(registry);
  auto unset = registry.Create(
      "postgresql", {{"password", "env:AMP_PG_TEST_SURELY_UNSET_VAR"}});
  ASSERT_FALSE(unset.ok());
  EXPECT_NE(unset.status().message().find("AMP_PG_TEST_SURELY_UNSET_VAR"), std::string::npos);
}

}  // namespace
}  // namespace amp::postgres
