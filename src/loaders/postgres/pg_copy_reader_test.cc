// The binary COPY reader (pg_copy_reader.h): round trips through the COPY writer without a
// server (every type of the mapping, the stream split anywhere), exactness errors and
// unreadable types; then PostgresLoader::ReadRows against a real server, where jsonb
// normalises the JSON text and the block interval filters the rows.
#include "common/testing/batch_builders.h"
#include "common/testing/status_matchers.h"
#include "loaders/postgres/pg_copy_reader.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <arrow/util/float16.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "loaders/postgres/pg_copy_writer.h"
#include "loaders/postgres/pg_test_server.h"
#include "loaders/postgres/pg_types.h"
#include "loaders/postgres/postgres_loader.h"

namespace amp::postgres {
namespace {

using testing::PgTestServer;

static PgTestServer* const kServer = PgTestServer::Register();

template <typename Builder, typename T>
std::shared_ptr<arrow::Array> Build(std::unique_ptr<Builder> builder,
                                    const std::vector<std::optional<T>>& values) {
  for (const auto& v : values) {
    Status st = v ? builder->Append(*v) : builder->AppendNull();
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return ValueOrDie(builder->Finish());
}

std::shared_ptr<arrow::Array> Fixed(int width, const std::vector<std::optional<std::string>>& v) {
  return Build(std::make_unique<arrow::FixedSizeBinaryBuilder>(arrow::fixed_size_binary(width)),
               v);
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// Four rows of every type the writer maps, with nulls, extremes and awkward values.
std::shared_ptr<arrow::RecordBatch> AllTypes() {
  using arrow::util::Float16;
  auto half = Build(std::make_unique<arrow::HalfFloatBuilder>(),
                    std::vector<std::optional<uint16_t>>{Float16(1.5f).bits(), std::nullopt,
                                                         Float16(-65504.0f).bits(),
                                                         Float16(0.0009765625f).bits()});
  auto string_view = Build(std::make_unique<arrow::StringViewBuilder>(),
                           std::vector<std::optional<std::string>>{
                               "short", "a string longer than twelve bytes", std::nullopt, ""});
  auto binary_view = Build(std::make_unique<arrow::BinaryViewBuilder>(),
                           std::vector<std::optional<std::string>>{
                               Bytes({0, 1, 2}), std::nullopt, std::string(40, '\xff'), ""});
  auto list_view = ValueOrDie(arrow::ListViewArray::FromArrays(
      *ArrayFromJson(arrow::int32(), "[0, 2, 2, 3]"), *ArrayFromJson(arrow::int32(), "[2, 0, 1, 0]"),
      *ArrayFromJson(arrow::int16(), "[1, -2, 3]")));
  return MakeBatch({
      {"id", ArrayFromJson(arrow::int64(), "[0, 1, 2, 3]")},
      {"b", ArrayFromJson(arrow::boolean(), "[true, false, null, true]")},
      {"i8", ArrayFromJson(arrow::int8(), "[-128, 127, null, 0]")},
      {"i16", ArrayFromJson(arrow::int16(), "[-32768, 32767, 0, null]")},
      {"i32", ArrayFromJson(arrow::int32(), "[-2147483648, 2147483647, null, 1]")},
      {"i64", ArrayFromJson(arrow::int64(), "[-9223372036854775808, 9223372036854775807, 0, null]")},
      {"u8", ArrayFromJson(arrow::uint8(), "[0, 255, null, 7]")},
      {"u16", ArrayFromJson(arrow::uint16(), "[0, 65535, null, 7]")},
      {"u32", ArrayFromJson(arrow::uint32(), "[0, 4294967295, null, 7]")},
      {"u64", ArrayFromJson(arrow::uint64(), "[0, 18446744073709551615, null, 10000]")},
      {"f16", half},
      {"f32", ArrayFromJson(arrow::float32(), "[1.5, -0.0, null, 3.4028234663852886e38]")},
      {"f64", ArrayFromJson(arrow::float64(), "[0.1, -1e-300, null, 1.7976931348623157e308]")},
      {"d32", ArrayFromJson(arrow::decimal32(9, 2), R"(["1234567.89", "-0.01", null, "0.00"])")},
      {"d64", ArrayFromJson(arrow::decimal64(18, 4), R"(["-99999999999999.9999", "0.0001", null, "1.0000"])")},
      {"d128", ArrayFromJson(arrow::decimal128(38, 0),
                    R"(["99999999999999999999999999999999999999", "-1", null, "0"])")},
      {"d128s", ArrayFromJson(arrow::decimal128(38, 10), R"(["1.0000000001", "-12345.6789000000", null, "0E-10"])")},
      {"d256", ArrayFromJson(arrow::decimal256(76, 0),
                    R"(["9999999999999999999999999999999999999999999999999999999999999999999999999999",
                        "-9999999999999999999999999999999999999999999999999999999999999999999999999999",
                        null, "100000000"])")},
      {"dneg", Build(std::make_unique<arrow::Decimal128Builder>(arrow::decimal128(10, -3)),
                     std::vector<std::optional<arrow::Decimal128>>{
                         arrow::Decimal128(12), arrow::Decimal128(-5), std::nullopt,
                         arrow::Decimal128(0)})},  // 12000, -5000, null, 0
      {"s", ArrayFromJson(arrow::utf8(), R"(["héllo", "", null, "quote\" back\\slash"])")},
      {"ls", ArrayFromJson(arrow::large_utf8(), R"(["a", null, "b", ""])")},
      {"sv", string_view},
      {"bin", Build(std::make_unique<arrow::BinaryBuilder>(),
                    std::vector<std::optional<std::string>>{Bytes({0, 0, 255}), "", std::nullopt,
                                                            "x"})},
      {"lbin", Build(std::make_unique<arrow::LargeBinaryBuilder>(),
                     std::vector<std::optional<std::string>>{"", Bytes({1}), std::nullopt, "yy"})},
      {"bv", binary_view},
      {"addr", Fixed(20, {std::string(20, '\x01'), std::nullopt, std::string(20, '\0'),
                          std::string(20, '\xab')})},
      {"ts_ns", ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"),
                     "[1700000000000000000, -1000, null, 0]")},
      {"ts_us", ArrayFromJson(arrow::timestamp(arrow::TimeUnit::MICRO), "[1, -1, null, 253402300799999999]")},
      {"ts_ms", ArrayFromJson(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), "[1, -1, null, 0]")},
      {"ts_s", ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[1, -62135596800, null, 0]")},
      {"d32d", ArrayFromJson(arrow::date32(), "[0, -719162, null, 2932896]")},
      {"d64d", ArrayFromJson(arrow::date64(), "[0, -86400000, null, 864000000000]")},
      {"t32s", ArrayFromJson(arrow::time32(arrow::TimeUnit::SECOND), "[0, 86399, null, 1]")},
      {"t32ms", ArrayFromJson(arrow::time32(arrow::TimeUnit::MILLI), "[0, 86399999, null, 1]")},
      {"t64us", ArrayFromJson(arrow::time64(arrow::TimeUnit::MICRO), "[0, 86399999999, null, 1]")},
      {"t64ns", ArrayFromJson(arrow::time64(arrow::TimeUnit::NANO), "[0, 86399999999000, null, 1000]")},
      {"nulls", std::make_shared<arrow::NullArray>(4)},
      {"li", ArrayFromJson(arrow::list(arrow::int64()), "[[1, 2, null], [], null, [9223372036854775807]]")},
      {"lls", ArrayFromJson(arrow::large_list(arrow::utf8()), R"([["a", null], null, [], ["b", "c"]])")},
      {"fsl", ArrayFromJson(arrow::fixed_size_list(arrow::int32(), 2), "[[1, 2], null, [null, 4], [5, 6]]")},
      {"lv", list_view},
      {"lfix", ArrayFromJson(arrow::list(arrow::fixed_size_binary(2)), R"([["ab", "cd"], null, [null], []])")},
      {"ldec", ArrayFromJson(arrow::list(arrow::decimal128(20, 5)), R"([["1.50000", "-0.00001"], [], null, [null]])")},
      {"lts", ArrayFromJson(arrow::list(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                   "[[0, 1], null, [], [-1]]")},
      {"lu64", ArrayFromJson(arrow::list(arrow::uint64()), "[[18446744073709551615, 0], null, [], [1]]")},
      {"st", ArrayFromJson(arrow::struct_({arrow::field("a", arrow::int64()), arrow::field("b", arrow::utf8()),
                                  arrow::field("c", arrow::list(arrow::float64()))}),
                  R"([{"a": 1, "b": "x\n\"y\"", "c": [1.5, null]}, null,
                      {"a": null, "b": null, "c": null}, {"a": -5, "b": "", "c": []}])")},
      {"lst", ArrayFromJson(arrow::list(arrow::struct_({arrow::field("k", arrow::utf8()),
                                               arrow::field("v", arrow::uint64())})),
                   R"([[{"k": "a", "v": 18446744073709551615}], [], null, [null, {"k": null, "v": 0}]])")},
      {"nested", ArrayFromJson(arrow::list(arrow::list(arrow::int32())), "[[[1], [], null], null, [], [[2, 3]]]")},
  });
}

// A struct with every scalar kind the JSON path must bring back.
std::shared_ptr<arrow::RecordBatch> JsonTypes() {
  using arrow::util::Float16;
  auto half = Build(std::make_unique<arrow::HalfFloatBuilder>(),
                    std::vector<std::optional<uint16_t>>{Float16(2.5f).bits(), std::nullopt,
                                                         Float16(-0.5f).bits()});
  auto hash = Fixed(4, {Bytes({0xde, 0xad, 0xbe, 0xef}), std::nullopt, Bytes({0, 0, 0, 0})});
  auto bin = Build(std::make_unique<arrow::BinaryBuilder>(),
                   std::vector<std::optional<std::string>>{Bytes({0, 255}), "", std::nullopt});
  arrow::ArrayVector children = {
      ArrayFromJson(arrow::boolean(), "[true, null, false]"),
      ArrayFromJson(arrow::int8(), "[-128, null, 127]"),
      ArrayFromJson(arrow::uint64(), "[18446744073709551615, null, 0]"),
      half,
      ArrayFromJson(arrow::float32(), "[0.1, null, -3.5]"),
      ArrayFromJson(arrow::float64(), "[5e-324, null, 1e100]"),
      ArrayFromJson(arrow::decimal128(38, 4), R"(["-1234567890123456789012345678.1234", null, "0.0001"])"),
      ArrayFromJson(arrow::decimal256(76, 2), R"(["12345678901234567890123456789012345678901234567890.25", null, "-0.10"])"),
      ArrayFromJson(arrow::utf8(), R"(["tab\t and ünïcode ✓ 𝄞", null, ""])"),
      hash,
      bin,
      ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"), "[1700000000123456789, null, -1]"),
      ArrayFromJson(arrow::timestamp(arrow::TimeUnit::SECOND), "[-62135596800, null, 0]"),
      ArrayFromJson(arrow::date32(), "[-1, null, 19000]"),
      ArrayFromJson(arrow::date64(), "[86400000, null, 0]"),
      ArrayFromJson(arrow::time64(arrow::TimeUnit::NANO), "[86399999999999, null, 0]"),
      ArrayFromJson(arrow::time32(arrow::TimeUnit::MILLI), "[1, null, 0]"),
      std::make_shared<arrow::NullArray>(3),
      ArrayFromJson(arrow::fixed_size_list(arrow::int16(), 2), "[[1, 2], null, [3, null]]"),
  };
  std::vector<std::string> names = {"bool", "i8",  "u64", "f16", "f32",  "f64", "d128",
                                    "d256", "str", "hash", "bin", "ts_ns", "ts_s", "date",
                                    "date64", "time", "time32", "none", "pair"};
  auto st = ValueOrDie(arrow::StructArray::Make(children, names));
  // NaN and infinities travel as strings in JSON: build them by hand.
  auto x = Build(std::make_unique<arrow::DoubleBuilder>(),
                 std::vector<std::optional<double>>{std::numeric_limits<double>::quiet_NaN(),
                                                    std::numeric_limits<double>::infinity(),
                                                    0.0});
  auto y = Build(std::make_unique<arrow::FloatBuilder>(),
                 std::vector<std::optional<float>>{-std::numeric_limits<float>::infinity(),
                                                   std::nullopt, 0.0f});
  auto non_finite = ValueOrDie(arrow::StructArray::Make({x, y}, std::vector<std::string>{"x", "y"}));
  return MakeBatch({{"id", ArrayFromJson(arrow::int64(), "[0, 1, 2]")}, {"all", st}, {"nf", non_finite}});
}

std::vector<ReadColumn> ColumnsOf(const arrow::Schema& schema) {
  std::vector<ReadColumn> columns;
  for (const auto& field : schema.fields()) {
    columns.push_back({field, ValueOrDie(MapArrowType(*field->type()))});
  }
  PgType bigint = ValueOrDie(MapArrowType(*arrow::int64()));
  columns.push_back({arrow::field("_amp_block_start", arrow::uint64(), false), bigint});
  columns.push_back({arrow::field("_amp_block_end", arrow::uint64(), false), bigint});
  return columns;
}

// Encodes `batch` with the writer (block tags 7..9) into one string.
std::string Encode(const arrow::RecordBatch& batch) {
  std::vector<CopyColumn> columns;
  for (int i = 0; i < batch.num_columns(); ++i) {
    columns.push_back({i, ValueOrDie(MapArrowType(*batch.schema()->field(i)->type()))});
  }
  BlockTags tags;
  tags.start = 7;
  tags.end = 9;
  CopyBuffer buffer;
  std::string out;
  Status st = WriteCopyData(batch, columns, tags, 1 << 20, &buffer, [&](std::string_view chunk) {
    out.append(chunk);
    return Status::OK();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

Result<std::shared_ptr<arrow::Table>> Decode(std::vector<ReadColumn> columns,
                                             const std::string& data, size_t piece = 0) {
  AMP_ASSIGN_OR_RETURN(auto decoder, CopyDecoder::Make(std::move(columns)));
  if (piece == 0) {
    AMP_RETURN_NOT_OK(decoder->Consume(data));
  } else {
    for (size_t at = 0; at < data.size(); at += piece) {
      AMP_RETURN_NOT_OK(decoder->Consume(std::string_view(data).substr(at, piece)));
    }
  }
  return decoder->Finish();
}

// Compares the decoded table with `batch` column by column (NaN equal to NaN), and checks
// the block tags.
void ExpectRoundTrip(const arrow::RecordBatch& batch, const arrow::Table& table) {
  ASSERT_EQ(table.num_rows(), batch.num_rows());
  ASSERT_EQ(table.num_columns(), batch.num_columns() + 2);
  auto combined = ValueOrDie(table.CombineChunksToBatch());
  for (int i = 0; i < batch.num_columns(); ++i) {
    const auto& want = batch.column(i);
    const auto& got = combined->column(i);
    EXPECT_TRUE(got->type()->Equals(*want->type())) << batch.schema()->field(i)->name();
    EXPECT_TRUE(got->Equals(*want, arrow::EqualOptions().nans_equal(true)))
        << batch.schema()->field(i)->name() << "\nwant " << want->ToString() << "\ngot  "
        << got->ToString();
  }
  EXPECT_TRUE(combined->column(batch.num_columns())
                  ->Equals(*ArrayFromJson(arrow::uint64(), "[7, 7, 7, 7]")->Slice(0, batch.num_rows())));
}

TEST(CopyReaderTest, EveryMappedTypeRoundTrips) {
  auto batch = AllTypes();
  std::string data = Encode(*batch);
  auto table = Decode(ColumnsOf(*batch->schema()), data);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ExpectRoundTrip(*batch, **table);
}

TEST(CopyReaderTest, JsonbScalarsRoundTrip) {
  auto batch = JsonTypes();
  auto table = Decode(ColumnsOf(*batch->schema()), Encode(*batch));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ExpectRoundTrip(*batch, **table);
}

TEST(CopyReaderTest, JsonbTimestampsAtTheEndsOfInt64Nanoseconds) {
  // The earliest nanosecond lies in a day whose midnight is below INT64_MIN: reading it
  // back once failed as "cannot be represented exactly".
  auto ts = ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO),
                          "[-9223372036854775808, 9223372036854775807, null]");
  auto st = ValueOrDie(arrow::StructArray::Make({ts}, std::vector<std::string>{"t"}));
  auto batch = MakeBatch({{"v", st}});
  auto table = Decode(ColumnsOf(*batch->schema()), Encode(*batch));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ExpectRoundTrip(*batch, **table);
}

TEST(CopyReaderTest, StreamMayBeSplitAnywhere) {
  auto batch = AllTypes();
  std::string data = Encode(*batch);
  for (size_t piece : {1, 2, 3, 7, 19, 64}) {
    auto table = Decode(ColumnsOf(*batch->schema()), data, piece);
    ASSERT_TRUE(table.ok()) << piece << ": " << table.status().ToString();
    ExpectRoundTrip(*batch, **table);
  }
}

TEST(CopyReaderTest, ManyRowsSpanSeveralBatches) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int64_t i = 0; i < 150'000; ++i) {
    ASSERT_OK(ids.Append(i));
    ASSERT_OK(names.Append("n" + std::to_string(i % 97)));
  }
  auto batch = MakeBatch({{"id", ValueOrDie(ids.Finish())}, {"name", ValueOrDie(names.Finish())}});
  auto table = ValueOrDie(Decode(ColumnsOf(*batch->schema()), Encode(*batch)));
  EXPECT_GT(table->column(0)->num_chunks(), 1);
  auto combined = ValueOrDie(table->CombineChunksToBatch());
  EXPECT_TRUE(combined->column(0)->Equals(*batch->column(0)));
  EXPECT_TRUE(combined->column(1)->Equals(*batch->column(1)));
}

TEST(CopyReaderTest, ValuesThatDoNotFitExactlyAreErrorsNamingTheColumn) {
  // Written as one type, read as a narrower one: the reader must refuse, not round.
  struct Case {
    std::shared_ptr<arrow::Array> written;
    std::shared_ptr<arrow::DataType> read_as;
    std::string expect;
  };
  std::vector<Case> cases = {
      {ArrayFromJson(arrow::timestamp(arrow::TimeUnit::MICRO), "[1500000]"),
       arrow::timestamp(arrow::TimeUnit::SECOND), "cannot be represented exactly"},
      {ArrayFromJson(arrow::decimal128(10, 4), R"(["1.2345"])"), arrow::decimal128(10, 2),
       "fractional digits"},
      {ArrayFromJson(arrow::decimal128(38, 0), R"(["-5"])"), arrow::uint64(), "cannot be represented"},
      {ArrayFromJson(arrow::decimal256(76, 0), R"(["1000000000000000000000000000000000000000"])"),
       arrow::decimal128(38, 0), "cannot be represented"},
      {ArrayFromJson(arrow::int64(), "[40000]"), arrow::int16(), "integer"},  // length mismatch
  };
  for (const Case& c : cases) {
    auto batch = MakeBatch({{"v", c.written}});
    std::vector<ReadColumn> columns = ColumnsOf(*batch->schema());
    columns[0].field = arrow::field("v", c.read_as);
    if (c.read_as->id() == arrow::Type::INT16) columns[0].type = ValueOrDie(MapArrowType(*c.read_as));
    auto table = Decode(columns, Encode(*batch));
    ASSERT_FALSE(table.ok()) << c.read_as->ToString();
    EXPECT_NE(table.status().message().find("column \"v\", row 0"), std::string::npos)
        << table.status().ToString();
    EXPECT_NE(table.status().message().find(c.expect), std::string::npos)
        << table.status().ToString();
  }
}

TEST(CopyReaderTest, UnreadableTypesAreNotImplemented) {
  auto dict = arrow::dictionary(arrow::int8(), arrow::utf8());
  Status st = CheckReadable(*dict, ValueOrDie(MapArrowType(*dict)));
  EXPECT_TRUE(st.IsNotImplemented()) << st.ToString();
  auto twice = arrow::struct_({arrow::field("a", arrow::int32()), arrow::field("a", arrow::utf8())});
  st = CheckReadable(*twice, ValueOrDie(MapArrowType(*twice)));
  EXPECT_TRUE(st.IsNotImplemented()) << st.ToString();
  EXPECT_NE(st.message().find("two fields named \"a\""), std::string::npos);
  // Make() names the column.
  auto decoder = CopyDecoder::Make({{arrow::field("labels", dict), ValueOrDie(MapArrowType(*dict))}});
  ASSERT_FALSE(decoder.ok());
  EXPECT_TRUE(decoder.status().IsNotImplemented());
  EXPECT_NE(decoder.status().message().find("\"labels\""), std::string::npos);
  // The readable ones say OK.
  for (const auto& type : {arrow::list(arrow::decimal256(76, 0)), arrow::utf8_view(),
                           arrow::struct_({arrow::field("x", arrow::list(arrow::binary()))})}) {
    EXPECT_TRUE(CheckReadable(*type, ValueOrDie(MapArrowType(*type))).ok()) << type->ToString();
  }
}

TEST(CopyReaderTest, MalformedStreamsAreRejected) {
  auto batch = MakeBatch({{"v", ArrayFromJson(arrow::int32(), "[1, 2]")}});
  std::string data = Encode(*batch);
  auto columns = ColumnsOf(*batch->schema());
  // Cut short: no trailer.
  auto cut = Decode(columns, data.substr(0, data.size() - 2));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("trailer"), std::string::npos);
  // Bad signature.
  std::string bad = data;
  bad[0] = 'X';
  EXPECT_FALSE(Decode(columns, bad).ok());
  // Fewer columns expected than the rows carry.
  columns.pop_back();
  auto count = Decode(columns, data);
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("has 3 fields, expected 2"), std::string::npos)
      << count.status().ToString();
}

// ---------------------------------------------------------------------------------------
// Against a server.

class ReadRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(kServer->uri().empty()) << "no PostgreSQL server for the tests";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info->name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    schema_ = "r_" + name.substr(0, 40) + "_" + std::to_string(getpid());
    db_ = PQconnectdb(kServer->uri().c_str());
    ASSERT_EQ(PQstatus(db_), CONNECTION_OK) << PQerrorMessage(db_);
    PQsetNoticeProcessor(db_, [](void*, const char*) {}, nullptr);
    Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
    Exec("CREATE SCHEMA \"" + schema_ + "\"");
    LoaderRegistry registry;
    RegisterPostgresLoader(registry);
    loader_ = ValueOrDie(registry.Create("postgresql", {{"uri", kServer->uri()}, {"schema", schema_}}));
  }
  void TearDown() override {
    loader_.reset();
    if (db_ != nullptr) {
      Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
      PQfinish(db_);
    }
  }
  void Exec(const std::string& sql) {
    PGresult* res = PQexec(db_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(db_);
    PQclear(res);
  }
  void Load(const TableSpec& spec, const arrow::RecordBatch& batch, uint64_t start, uint64_t end) {
    auto session = ValueOrDie(loader_->OpenSession());
    BlockRange range;
    range.network = "anvil";
    range.start = start;
    range.end = end;
    ASSERT_OK(session->Begin());
    ASSERT_OK(session->Append(spec.name, batch, range));
    ASSERT_OK(session->Commit(nullptr));
  }
  // The table sorted by its "id" column (Int64; row slices, which every type supports).
  std::shared_ptr<arrow::RecordBatch> SortedById(const arrow::Table& table) {
    auto batch = ValueOrDie(table.CombineChunksToBatch());
    const auto& id = static_cast<const arrow::Int64Array&>(*batch->GetColumnByName("id"));
    std::vector<int64_t> order(batch->num_rows());
    for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int64_t>(k);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return id.Value(a) < id.Value(b); });
    arrow::ArrayVector columns;
    for (const auto& column : batch->columns()) {
      if (order.empty()) {
        columns.push_back(column);
        continue;
      }
      arrow::ArrayVector rows;
      for (int64_t k : order) rows.push_back(column->Slice(k, 1));
      columns.push_back(ValueOrDie(arrow::Concatenate(rows)));
    }
    return arrow::RecordBatch::Make(batch->schema(), batch->num_rows(), columns);
  }

  std::string schema_;
  PGconn* db_ = nullptr;
  std::unique_ptr<Loader> loader_;
};

TEST_F(ReadRowsTest, EveryMappedTypeComesBackFromTheServer) {
  for (auto batch : {AllTypes(), JsonTypes()}) {
    // Timestamps/times are stored as microseconds: keep the test values exact.
    TableSpec spec;
    spec.name = "types_" + std::to_string(batch->num_columns());
    spec.schema = batch->schema();
    ASSERT_OK(loader_->EnsureTable(spec));
    Load(spec, *batch, 5, 5);
    auto table = loader_->ReadRows(spec, {0, kMaxBlock});
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    ASSERT_EQ((*table)->num_columns(), batch->num_columns() + 1);
    EXPECT_EQ((*table)->schema()->field(batch->num_columns())->name(), "_amp_block_start");
    auto got = SortedById(**table);
    for (int i = 0; i < batch->num_columns(); ++i) {
      EXPECT_TRUE(got->column(i)->Equals(*batch->column(i), arrow::EqualOptions().nans_equal(true)))
          << batch->schema()->field(i)->name() << "\nwant " << batch->column(i)->ToString()
          << "\ngot  " << got->column(i)->ToString();
    }
    EXPECT_EQ(got->column(batch->num_columns())->ToString(),
              ArrayFromJson(arrow::uint64(), batch->num_rows() == 4 ? "[5, 5, 5, 5]" : "[5, 5, 5]")->ToString());
  }
}

TEST_F(ReadRowsTest, IntervalSelectsRowsWhoseSpanIntersects) {
  auto rows = MakeBatch({{"_block_num", ArrayFromJson(arrow::uint64(), "[1, 2, 2, 3, 5]")},
                         {"id", ArrayFromJson(arrow::int64(), "[10, 20, 21, 30, 50]")}});
  TableSpec per_row;
  per_row.name = "per_row";
  per_row.schema = rows->schema();
  per_row.block_column = "_block_num";
  ASSERT_OK(loader_->EnsureTable(per_row));
  Load(per_row, *rows, 1, 5);
  TableSpec spans = per_row;
  spans.name = "spans";
  spans.block_column = "";
  ASSERT_OK(loader_->EnsureTable(spans));
  Load(spans, *rows->Slice(0, 3), 0, 2);   // microbatch [0, 2]
  Load(spans, *rows->Slice(3, 2), 3, 9);   // microbatch [3, 9]

  auto ids = [&](const TableSpec& spec, BlockInterval blocks) {
    auto table = loader_->ReadRows(spec, blocks);
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    if (!table.ok()) return std::string();
    auto sorted = SortedById(**table);
    return sorted->GetColumnByName("id")->ToString() + " " +
           sorted->GetColumnByName("_amp_block_start")->ToString();
  };
  auto expect = [](const std::string& ids, const std::string& starts) {
    return ArrayFromJson(arrow::int64(), ids)->ToString() + " " + ArrayFromJson(arrow::uint64(), starts)->ToString();
  };
  EXPECT_EQ(ids(per_row, {2, 3}), expect("[20, 21, 30]", "[2, 2, 3]"));
  EXPECT_EQ(ids(per_row, {4, 4}), expect("[]", "[]"));
  EXPECT_EQ(ids(per_row, {5, kMaxBlock}), expect("[50]", "[5]"));
  EXPECT_EQ(ids(per_row, {3, 2}), expect("[]", "[]"));  // empty interval
  EXPECT_EQ(ids(spans, {2, 2}), expect("[10, 20, 21]", "[0, 0, 0]"));
  EXPECT_EQ(ids(spans, {2, 3}), expect("[10, 20, 21, 30, 50]", "[0, 0, 0, 3, 3]"));
  EXPECT_EQ(ids(spans, {10, kMaxBlock}), expect("[]", "[]"));
}

TEST_F(ReadRowsTest, MissingTableAndChangedColumnsAreFatalErrorsNamingThem) {
  auto rows = MakeBatch({{"id", ArrayFromJson(arrow::int64(), "[1]")}, {"v", ArrayFromJson(arrow::int32(), "[2]")}});
  TableSpec spec;
  spec.name = "t";
  spec.schema = rows->schema();
  auto missing = loader_->ReadRows(spec, {0, 10});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(ClassOf(missing.status()), ErrorClass::kFatal);
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos)
      << missing.status().ToString();

  ASSERT_OK(loader_->EnsureTable(spec));
  Exec("ALTER TABLE \"" + schema_ + "\".t ALTER COLUMN v TYPE bigint");
  auto changed = loader_->ReadRows(spec, {0, 10});
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(ClassOf(changed.status()), ErrorClass::kFatal);
  EXPECT_NE(changed.status().message().find("column \"v\" has type bigint, expected integer"),
            std::string::npos)
      << changed.status().ToString();

  // Unreadable types: NotImplemented naming the column.
  TableSpec dict = spec;
  dict.schema = arrow::schema({arrow::field("tag", arrow::dictionary(arrow::int8(), arrow::utf8()))});
  auto unreadable = loader_->ReadRows(dict, {0, 10});
  ASSERT_FALSE(unreadable.ok());
  EXPECT_TRUE(unreadable.status().IsNotImplemented()) << unreadable.status().ToString();
  EXPECT_NE(unreadable.status().message().find("\"tag\""), std::string::npos);
}

TEST_F(ReadRowsTest, SubMicrosecondTimestampsComeBackAsStored) {
  // The documented loss: PostgreSQL keeps microseconds; the reader returns what is stored.
  auto rows = MakeBatch({{"id", ArrayFromJson(arrow::int64(), "[1]")},
                         {"ts", ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO, "UTC"), "[1001999]")}});
  TableSpec spec;
  spec.name = "ts";
  spec.schema = rows->schema();
  ASSERT_OK(loader_->EnsureTable(spec));
  Load(spec, *rows, 1, 1);
  auto table = ValueOrDie(loader_->ReadRows(spec, {0, kMaxBlock}));
  EXPECT_EQ(ValueOrDie(table->CombineChunksToBatch())->GetColumnByName("ts")->ToString(),
            ArrayFromJson(arrow::timestamp(arrow::TimeUnit::NANO, "UTC"), "[1001000]")->ToString());
}

}  // namespace
}  // namespace amp::postgres
