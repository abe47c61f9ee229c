// The postgres loader against a real server (pg_test_server.h): type round trips through
// binary COPY, undo, atomic units and failure injection, checkpoints, load modes, schema
// checks, configuration and connection errors, concurrency, reconnects.
#include "common/testing/batch_builders.h"
#include "common/testing/status_matchers.h"
#include "loaders/postgres/postgres_loader.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "loaders/postgres/pg_test_server.h"

namespace amp::postgres {
namespace {

using testing::PgTestServer;
using Row = std::vector<std::optional<std::string>>;

static PgTestServer* const kServer = PgTestServer::Register();

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type,
                                   const std::string& json) {
  return ValueOrDie(arrow::json::ArrayFromJSONString(type, json));
}

// Binary-like arrays from raw byte strings (JSON strings would be UTF-8 encoded).
template <typename Builder>
std::shared_ptr<arrow::Array> Bytes(std::unique_ptr<Builder> builder,
                                    const std::vector<std::optional<std::string>>& values) {
  for (const auto& v : values) {
    Status st = v ? builder->Append(*v) : builder->AppendNull();
    EXPECT_TRUE(st.ok());
  }
  return ValueOrDie(builder->Finish());
}

std::shared_ptr<arrow::Array> Binary(const std::vector<std::optional<std::string>>& v) {
  return Bytes(std::make_unique<arrow::BinaryBuilder>(), v);
}
std::shared_ptr<arrow::Array> FixedBinary(int width,
                                          const std::vector<std::optional<std::string>>& v) {
  return Bytes(std::make_unique<arrow::FixedSizeBinaryBuilder>(arrow::fixed_size_binary(width)),
               v);
}

// Rows of (_block_num, id, name) at the given blocks: id = block * 10 + k.
std::shared_ptr<arrow::RecordBatch> BlockRows(const std::vector<uint64_t>& blocks,
                                              const std::string& tag = "r") {
  arrow::UInt64Builder block;
  arrow::Int64Builder id;
  arrow::StringBuilder name;
  std::map<uint64_t, int> per_block;
  for (uint64_t b : blocks) {
    EXPECT_TRUE(block.Append(b).ok());
    EXPECT_TRUE(id.Append(static_cast<int64_t>(b * 10 + per_block[b]++)).ok());
    EXPECT_TRUE(name.Append(tag + std::to_string(b)).ok());
  }
  return MakeBatch({{"_block_num", ValueOrDie(block.Finish())},
                    {"id", ValueOrDie(id.Finish())},
                    {"name", ValueOrDie(name.Finish())}});
}

BlockRange Range(uint64_t start, uint64_t end) {
  BlockRange r;
  r.network = "anvil";
  r.start = start;
  r.end = end;
  r.hash.bytes[0] = static_cast<uint8_t>(end);
  return r;
}

StreamCheckpoint Checkpoint(const std::string& stream, uint64_t end, uint64_t txn) {
  StreamCheckpoint cp;
  cp.stream_id = stream;
  cp.cursor.networks["anvil"] = {end, Range(0, end).hash};
  cp.recent_ranges = {Range(end > 4 ? end - 4 : 0, end)};
  cp.transaction_id = txn;
  return cp;
}

class PostgresLoaderTest : public testing::PgSchemaTest {
 protected:
  PostgresLoaderTest() : PgSchemaTest("t_") {}

  void SetUp() override {
    PgSchemaTest::SetUp();
    if (HasFatalFailure()) return;
    Exec("SET TIME ZONE 'UTC'");
    Exec("SET client_min_messages = warning");
  }

  LoaderConfig Config(LoaderConfig extra = {}) {
    LoaderConfig config = {{"uri", kServer->uri()}, {"schema", schema_}};
    for (auto& [k, v] : extra) config[k] = v;
    return config;
  }

  Result<std::unique_ptr<Loader>> Create(const LoaderConfig& config) {
    LoaderRegistry registry;
    RegisterPostgresLoader(registry);
    return registry.Create("postgresql", config);
  }

  std::unique_ptr<Loader> MakeLoader(LoaderConfig extra = {}) {
    return ValueOrDie(Create(Config(std::move(extra))));
  }

  // Runs SQL on the test's own connection; fails the test on error.
  std::vector<Row> Query(const std::string& sql) {
    PGresult* res = PQexec(db_, sql.c_str());
    std::vector<Row> rows;
    ExecStatusType st = PQresultStatus(res);
    EXPECT_TRUE(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        << sql << ": " << PQerrorMessage(db_);
    for (int r = 0; r < PQntuples(res); ++r) {
      Row row;
      for (int c = 0; c < PQnfields(res); ++c) {
        if (PQgetisnull(res, r, c)) {
          row.push_back(std::nullopt);
        } else {
          row.push_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }
  void Exec(const std::string& sql) { Query(sql); }
  std::string Scalar(const std::string& sql) {
    auto rows = Query(sql);
    return rows.empty() || rows[0].empty() || !rows[0][0] ? "NULL" : *rows[0][0];
  }
  std::string Q(const std::string& table) { return "\"" + schema_ + "\".\"" + table + "\""; }

  // Block numbers of the rows of a BlockRows table, sorted.
  std::vector<std::string> Blocks(const std::string& table) {
    std::vector<std::string> out;
    for (auto& row : Query("SELECT _block_num FROM " + Q(table) + " ORDER BY id")) {
      out.push_back(*row[0]);
    }
    return out;
  }

  TableSpec BlockSpec(const std::string& table, LoadMode mode = LoadMode::kAppend) {
    TableSpec spec;
    spec.name = table;
    spec.schema = BlockRows({1})->schema();
    spec.mode = mode;
    spec.block_column = "_block_num";
    return spec;
  }

  // One committed unit: optional undo, one append, checkpoint.
  Status Unit(LoaderSession& s, const std::string& table,
              const std::shared_ptr<arrow::RecordBatch>& batch, const BlockRange& range,
              const StreamCheckpoint* cp, std::optional<BlockInterval> undo = std::nullopt) {
    AMP_RETURN_NOT_OK(s.Begin());
    Status st;
    if (undo) st = s.Undo(table, *undo);
    if (st.ok()) st = s.Append(table, *batch, range);
    if (st.ok()) st = s.Commit(cp);
    if (!st.ok()) s.Abort();
    return st;
  }

  // Terminates the backends of the loader connections tagged with `app`.
  int KillBackends(const std::string& app) {
    return std::stoi(Scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
        "application_name = '" + app + "' AND pid <> pg_backend_pid()"));
  }
};

// ---------------------------------------------------------------------------------------

TEST_F(PostgresLoaderTest, EveryMappedTypeRoundTrips) {
  std::string big(2'500'000, '\0');  // spans several 1 MiB COPY chunks
  for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<char>((k * 31 + 7) % 251);
  const std::string nines38(38, '9');
  const std::string nines76(76, '9');

  auto batch = MakeBatch({
      {"b", Json(arrow::boolean(), "[true, false, null]")},
      {"i8", Json(arrow::int8(), "[-128, 0, null]")},
      {"i16", Json(arrow::int16(), "[-32768, 0, null]")},
      {"i32", Json(arrow::int32(), "[-2147483648, 0, null]")},
      {"i64", Json(arrow::int64(), "[-9223372036854775808, 0, null]")},
      {"u8", Json(arrow::uint8(), "[255, 0, null]")},
      {"u16", Json(arrow::uint16(), "[65535, 0, null]")},
      {"u32", Json(arrow::uint32(), "[4294967295, 0, null]")},
      {"u64", Json(arrow::uint64(), "[18446744073709551615, 0, null]")},
      {"f32", Json(arrow::float32(), "[1.5, -0.25, null]")},
      {"f64", Json(arrow::float64(), "[-2.25e300, 0.1, null]")},
      {"s", Json(arrow::utf8(), R"(["héllo wörld ✓ 🚀", "", null])")},
      {"ls", Json(arrow::large_utf8(), R"(["tab\there\nnewline \\ \"q\"", "x", null])")},
      {"sv", Json(arrow::utf8_view(), R"(["a string longer than twelve bytes", "short", null])")},
      {"bin", Binary({std::string("\0\1\xff", 3), std::string(), std::nullopt})},
      {"lbin", Bytes(std::make_unique<arrow::LargeBinaryBuilder>(), {big, "z", std::nullopt})},
      {"bv", Bytes(std::make_unique<arrow::BinaryViewBuilder>(),
                   {std::string("view\0bytes", 10), "", std::nullopt})},
      {"fsb", FixedBinary(4, {"\xde\xad\xbe\xef", std::string(4, '\0'), std::nullopt})},
      {"d128", Json(arrow::decimal128(38, 10),
                    R"([")" + nines38.substr(0, 28) + "." + nines38.substr(0, 10) +
                        R"(", "0.0000000000", null])")},
      {"d38", Json(arrow::decimal128(38, 0), R"(["-)" + nines38 + R"(", "1", null])")},
      {"d256", Json(arrow::decimal256(76, 0), R"([")" + nines76 + R"(", "-5", null])")},
      {"ts", Json(arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"),
                  "[-1, 1700000000123456789, null]")},
      {"tsms", Json(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), "[-62135596800000, 0, null]")},
      {"tsn", Json(arrow::timestamp(arrow::TimeUnit::MICRO), "[0, 946684800000001, null]")},
      {"dt", Json(arrow::date32(), "[-719162, 19000, null]")},
      {"d64", Json(arrow::date64(), "[-86400000, 0, null]")},
      {"tm", Json(arrow::time64(arrow::TimeUnit::NANO), "[45296789012999, 0, null]")},
      {"li", Json(arrow::list(arrow::int32()), "[[1, null, 3], [], null]")},
      {"lstr", Json(arrow::list(arrow::utf8()), R"([["a", "b c", null, "\"q\""], [], null])")},
      {"lu64", Json(arrow::list(arrow::uint64()), "[[18446744073709551615, 0], [null], null]")},
      {"lfsb", Json(arrow::fixed_size_list(arrow::int16(), 2), "[[1, 2], [null, -3], null]")},
      {"st", Json(arrow::struct_({arrow::field("a", arrow::int32()), arrow::field("b", arrow::utf8())}),
                  R"([{"a": 1, "b": "x"}, {"a": null, "b": null}, null])")},
      {"lst", Json(arrow::list(arrow::struct_({arrow::field("k", arrow::uint64())})),
                   R"([[{"k": 18446744073709551615}, null], [], null])")},
      {"nested", Json(arrow::list(arrow::list(arrow::int8())), "[[[1, 2], [], null], [], null]")},
      {"dict", ValueOrDie(arrow::json::DictArrayFromJSONString(
                   arrow::dictionary(arrow::int8(), arrow::utf8()), "[1, 0, null]",
                   R"(["x", "yz"])"))},
      {"from", FixedBinary(2, {"\x01\x02", "\x03\x04", std::nullopt})},
      {"to", FixedBinary(2, {"\xaa\xbb", "\xcc\xdd", std::nullopt})},
      {"Mixed \"Case\"", Json(arrow::int32(), "[42, -1, null]")},
  });

  auto loader = MakeLoader();
  TableSpec spec;
  spec.name = "Round \"Trip\"";
  spec.schema = batch->schema();
  ASSERT_OK(loader->EnsureTable(spec));
  auto session = ValueOrDie(loader->OpenSession());
  ASSERT_OK(Unit(*session, spec.name, batch, Range(7, 9), nullptr));

  // Column types are exactly the documented mapping.
  std::map<std::string, std::string> types;
  for (auto& row : Query("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                         "WHERE attrelid = to_regclass('" + Q("Round \"\"Trip\"\"") +
                         "') AND attnum > 0")) {
    types[*row[0]] = *row[1];
  }
  std::map<std::string, std::string> want_types = {
      {"b", "boolean"}, {"i8", "smallint"}, {"i16", "smallint"}, {"i32", "integer"},
      {"i64", "bigint"}, {"u8", "smallint"}, {"u16", "integer"}, {"u32", "bigint"},
      {"u64", "numeric(20,0)"}, {"f32", "real"}, {"f64", "double precision"},
      {"s", "text"}, {"ls", "text"}, {"sv", "text"}, {"bin", "bytea"}, {"lbin", "bytea"},
      {"bv", "bytea"}, {"fsb", "bytea"}, {"d128", "numeric(38,10)"}, {"d38", "numeric(38,0)"},
      {"d256", "numeric(76,0)"}, {"ts", "timestamp with time zone"},
      {"tsms", "timestamp with time zone"}, {"tsn", "timestamp without time zone"},
      {"dt", "date"}, {"d64", "date"}, {"tm", "time without time zone"}, {"li", "integer[]"},
      {"lstr", "text[]"}, {"lu64", "numeric(20,0)[]"}, {"lfsb", "smallint[]"}, {"st", "jsonb"},
      {"lst", "jsonb"}, {"nested", "jsonb"}, {"dict", "text"}, {"from", "bytea"},
      {"to", "bytea"}, {"Mixed \"Case\"", "integer"}, {"_amp_block_start", "bigint"},
      {"_amp_block_end", "bigint"}};
  EXPECT_EQ(types, want_types);

  auto rows = Query(
      "SELECT b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, s, ls, sv, bin, "
      "octet_length(lbin), bv, fsb, d128, d38, d256, ts, tsms, tsn, dt, d64, tm, li, lstr, "
      "lu64, lfsb, st, lst, nested, dict, \"from\", \"to\", \"Mixed \"\"Case\"\"\", "
      "_amp_block_start, _amp_block_end FROM " + Q("Round \"\"Trip\"\"") + " ORDER BY i8");
  ASSERT_EQ(rows.size(), 3u);
  Row want0 = {"t", "-128", "-32768", "-2147483648", "-9223372036854775808", "255", "65535",
               "4294967295", "18446744073709551615", "1.5", "-2.25e+300", "héllo wörld ✓ 🚀",
               "tab\there\nnewline \\ \"q\"", "a string longer than twelve bytes",
               "\\x0001ff", "2500000", "\\x76696577006279746573", "\\xdeadbeef",
               nines38.substr(0, 28) + "." + nines38.substr(0, 10), "-" + nines38, nines76,
               "1969-12-31 23:59:59.999999+00", "0001-01-01 00:00:00+00", "1970-01-01 00:00:00",
               "0001-01-01", "1969-12-31", "12:34:56.789012", "{1,NULL,3}",
               "{a,\"b c\",NULL,\"\\\"q\\\"\"}", "{18446744073709551615,0}", "{1,2}",
               R"({"a": 1, "b": "x"})", R"([{"k": 18446744073709551615}, null])",
               "[[1, 2], [], null]", "yz", "\\x0102", "\\xaabb", "42", "7", "9"};
  Row want1 = {"f", "0", "0", "0", "0", "0", "0", "0", "0", "-0.25", "0.1", "", "x", "short",
               "\\x", "1", "\\x", "\\x00000000", "0.0000000000", "1", "-5",
               "2023-11-14 22:13:20.123456+00", "1970-01-01 00:00:00+00",
               "2000-01-01 00:00:00.000001", "2022-01-08", "1970-01-01", "00:00:00", "{}", "{}",
               "{NULL}", "{NULL,-3}", R"({"a": null, "b": null})", "[]", "[]", "x",
               "\\x0304", "\\xccdd", "-1", "7", "9"};
  EXPECT_EQ(rows[0], want0);
  EXPECT_EQ(rows[1], want1);
  Row want2(want0.size(), std::nullopt);
  want2[want2.size() - 2] = "7";
  want2[want2.size() - 1] = "9";
  EXPECT_EQ(rows[2], want2);
  // The large value arrived byte for byte (read back in binary format).
  PGresult* res = PQexecParams(db_, ("SELECT lbin FROM " + Q("Round \"\"Trip\"\"") +
                                     " WHERE octet_length(lbin) > 1").c_str(),
                               0, nullptr, nullptr, nullptr, nullptr, /*resultFormat=*/1);
  ASSERT_EQ(PQntuples(res), 1) << PQerrorMessage(db_);
  EXPECT_TRUE(std::string_view(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)) == big);
  PQclear(res);
}

TEST_F(PostgresLoaderTest, UnsupportedTypeIsFatalAndNamesTheColumn) {
  auto loader = MakeLoader();
  TableSpec spec;
  spec.name = "t";
  spec.schema = arrow::schema({arrow::field("ok", arrow::int32()),
                               arrow::field("span", arrow::duration(arrow::TimeUnit::SECOND))});
  Status st = loader->EnsureTable(spec);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("\"span\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("duration"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().rfind("[postgres] ", 0), 0u);
  EXPECT_EQ(Scalar("SELECT to_regclass('" + Q("t") + "') IS NULL"), "t");
}

TEST_F(PostgresLoaderTest, UndoRemovesExactlyTheIntersectingRows) {
  auto loader = MakeLoader();
  // Per-row block numbers.
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  // Microbatch-tagged rows (no block column).
  TableSpec tagged;
  tagged.name = "tagged";
  tagged.schema = arrow::schema({arrow::field("v", arrow::int64())});
  ASSERT_OK(loader->EnsureTable(tagged));
  auto s = ValueOrDie(loader->OpenSession());

  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10}), Range(1, 10), nullptr));
  auto v = [](const std::string& json) { return MakeBatch({{"v", Json(arrow::int64(), json)}}); };
  ASSERT_OK(Unit(*s, "tagged", v("[1, 2]"), Range(1, 3), nullptr));
  ASSERT_OK(Unit(*s, "tagged", v("[4, 5]"), Range(4, 6), nullptr));
  ASSERT_OK(Unit(*s, "tagged", v("[7, 8]"), Range(7, 9), nullptr));

  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Undo("rows", {4, 6}));
  ASSERT_OK(s->Undo("tagged", {6, 6}));  // intersects [4,6] only
  ASSERT_OK(s->Commit(nullptr));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2", "3", "7", "8", "9", "10"}));
  EXPECT_EQ(Query("SELECT v, _amp_block_start, _amp_block_end FROM " + Q("tagged") +
                  " ORDER BY v"),
            (std::vector<Row>{{"1", "1", "3"}, {"2", "1", "3"}, {"7", "7", "9"}, {"8", "7", "9"}}));

  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Undo("rows", {9, kMaxBlock}));  // "from 9 to the end"
  ASSERT_OK(s->Undo("tagged", {3, 3}));
  ASSERT_OK(s->Undo("rows", {5, 4}));          // empty interval: no-op
  ASSERT_OK(s->Commit(nullptr));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2", "3", "7", "8"}));
  EXPECT_EQ(Scalar("SELECT string_agg(v::text, ',' ORDER BY v) FROM " + Q("tagged")), "7,8");

  // The undo predicate can use the block index (range scan on _amp_block_end).
  EXPECT_NE(Scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = '" + schema_ +
                   "' AND tablename = 'rows' AND indexdef LIKE '%_amp_block_end%'")
                .find("(_amp_block_end, _amp_block_start)"),
            std::string::npos);
  Exec("SET enable_seqscan = off");
  std::string plan;
  for (auto& row : Query("EXPLAIN DELETE FROM " + Q("rows") +
                         " WHERE _amp_block_end >= 5 AND _amp_block_start <= 9")) {
    plan += *row[0] + "\n";
  }
  EXPECT_NE(plan.find("Index"), std::string::npos) << plan;
}

TEST_F(PostgresLoaderTest, FailedUnitLeavesNothingAndCheckpointUnchanged) {
  auto loader = MakeLoader();
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto s = ValueOrDie(loader->OpenSession());
  const StreamCheckpoint cp1 = Checkpoint("stream", 3, 1);
  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2, 3}), Range(1, 3), &cp1));

  // A unit whose second append carries a value the server rejects (NUL in text, 22021).
  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Undo("rows", {2, kMaxBlock}));
  ASSERT_OK(s->Append("rows", *BlockRows({2, 3, 4}), Range(2, 4)));
  auto bad = MakeBatch({{"_block_num", Json(arrow::uint64(), "[5]")},
                        {"id", Json(arrow::int64(), "[50]")},
                        {"name", Json(arrow::utf8(), R"(["nul\u0000byte"])")}});
  // Both appends stream into one COPY, so the server's verdict on the bad row arrives
  // when that COPY ends: at the latest when the unit commits, which then fails.
  const StreamCheckpoint cp2 = Checkpoint("stream", 5, 2);
  Status st = s->Append("rows", *bad, Range(5, 5));
  if (st.ok()) st = s->Commit(&cp2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "22021") << st.ToString();
  EXPECT_NE(st.message().find("COPY into \"" + schema_ + "\".\"rows\""), std::string::npos)
      << st.message();
  // Nothing commits after that.
  Status commit = s->Commit(&cp2);
  ASSERT_FALSE(commit.ok());
  s->Abort();

  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2", "3"}));
  auto loaded = ValueOrDie(s->LoadCheckpoint("stream"));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, cp1);

  // An encoding failure (timestamp beyond int64 microseconds) is fatal and names the column.
  TableSpec ts;
  ts.name = "ts";
  ts.schema = arrow::schema({arrow::field("at", arrow::timestamp(arrow::TimeUnit::SECOND))});
  ASSERT_OK(loader->EnsureTable(ts));
  ASSERT_OK(s->Begin());
  st = s->Append("ts", *MakeBatch({{"at", Json(arrow::timestamp(arrow::TimeUnit::SECOND),
                                               "[1, 9223372036854775807]")}}),
                 Range(1, 1));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("\"at\", row 1"), std::string::npos) << st.message();
  s->Abort();
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("ts")), "0");

  // The session is usable again.
  const StreamCheckpoint cp3 = Checkpoint("stream", 4, 3);
  ASSERT_OK(Unit(*s, "rows", BlockRows({4}), Range(4, 4), &cp3));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST_F(PostgresLoaderTest, ConsecutiveAppendsShareOneCopyThatEndsBeforeOtherStatements) {
  const std::string app = "amp-copy-" + schema_;
  auto loader = MakeLoader({{"application_name", app}});
  ASSERT_OK(loader->EnsureTable(BlockSpec("a")));
  ASSERT_OK(loader->EnsureTable(BlockSpec("b")));
  auto s = ValueOrDie(loader->OpenSession());
  auto backend = [&] {
    return Query("SELECT state, left(query, 4), query_start::text FROM pg_stat_activity "
                 "WHERE application_name = '" + app + "'");
  };

  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Append("a", *BlockRows({1, 2}), Range(1, 2)));
  const auto first = backend();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0][0], "active");  // still inside the COPY
  EXPECT_EQ(first[0][1], "COPY");
  ASSERT_OK(s->Append("a", *BlockRows({3}), Range(3, 3)));
  EXPECT_EQ(backend(), first);  // the same statement took the second batch
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("a")), "0");  // nothing visible yet

  // Another table, an undo (which must see the rows streamed just before it) and a
  // checkpoint read each end the COPY; appends after them start a new one.
  ASSERT_OK(s->Append("b", *BlockRows({1}), Range(1, 1)));
  ASSERT_OK(s->Append("a", *BlockRows({4, 5}), Range(4, 5)));
  ASSERT_OK(s->Undo("a", {5, kMaxBlock}));
  ASSERT_OK(s->Append("a", *BlockRows({6}), Range(6, 6)));
  EXPECT_FALSE(ValueOrDie(s->LoadCheckpoint("stream")).has_value());
  ASSERT_OK(s->Append("a", *BlockRows({7}), Range(7, 7)));
  const StreamCheckpoint cp = Checkpoint("stream", 7, 1);
  ASSERT_OK(s->Commit(&cp));
  EXPECT_EQ(Blocks("a"), (std::vector<std::string>{"1", "2", "3", "4", "6", "7"}));
  EXPECT_EQ(Blocks("b"), (std::vector<std::string>{"1"}));
  EXPECT_EQ(*ValueOrDie(s->LoadCheckpoint("stream")), cp);
  EXPECT_EQ(backend()[0][0], "idle");

  // An encoding failure in a later batch voids the batches already streamed into the
  // same COPY: nothing of the unit remains, and the session works afterwards.
  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Append("a", *BlockRows({8, 9}), Range(8, 9)));
  auto huge = MakeBatch({{"_block_num", Json(arrow::uint64(), "[9223372036854775808]")},
                         {"id", Json(arrow::int64(), "[1]")},
                         {"name", Json(arrow::utf8(), R"(["x"])")}});
  Status st = s->Append("a", *huge, Range(10, 10));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_FALSE(s->Commit(&cp).ok());
  s->Abort();
  EXPECT_EQ(Blocks("a"), (std::vector<std::string>{"1", "2", "3", "4", "6", "7"}));
  EXPECT_EQ(*ValueOrDie(s->LoadCheckpoint("stream")), cp);
  const StreamCheckpoint cp2 = Checkpoint("stream", 8, 2);
  ASSERT_OK(Unit(*s, "a", BlockRows({8}), Range(8, 8), &cp2));
  EXPECT_EQ(Blocks("a"), (std::vector<std::string>{"1", "2", "3", "4", "6", "7", "8"}));
}

TEST_F(PostgresLoaderTest, KilledConnectionFailsTheUnitAndTheReplayAppliesOnce) {
  auto loader = MakeLoader({{"application_name", "amp-kill-" + schema_}});
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto s = ValueOrDie(loader->OpenSession());
  const StreamCheckpoint cp1 = Checkpoint("stream", 2, 1);
  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2}), Range(1, 2), &cp1));

  const StreamCheckpoint cp2 = Checkpoint("stream", 4, 2);
  auto unit2 = BlockRows({3, 4});
  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Undo("rows", {3, kMaxBlock}));
  ASSERT_OK(s->Append("rows", *unit2, Range(3, 4)));
  ASSERT_GE(KillBackends("amp-kill-" + schema_), 1);
  Status st = s->Commit(&cp2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall) << st.ToString();
  s->Abort();
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(*ValueOrDie(s->LoadCheckpoint("stream")), cp1);  // reconnects outside a unit

  // Replay on the same session (Begin reconnects), then replay once more as if the first
  // replay's outcome had been lost: the unit's own undo makes it idempotent.
  ASSERT_OK(Unit(*s, "rows", unit2, Range(3, 4), &cp2, BlockInterval{3, kMaxBlock}));
  ASSERT_OK(Unit(*s, "rows", unit2, Range(3, 4), &cp2, BlockInterval{3, kMaxBlock}));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(*ValueOrDie(s->LoadCheckpoint("stream")), cp2);
}

TEST_F(PostgresLoaderTest, SessionSurvivesServerRestart) {
  auto loader = MakeLoader({{"application_name", "amp-restart-" + schema_}});
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto s = ValueOrDie(loader->OpenSession());
  ASSERT_OK(Unit(*s, "rows", BlockRows({1}), Range(1, 1), nullptr));
  {
    // Two more connections, idle in the pool once these sessions close.
    auto a = ValueOrDie(loader->OpenSession());
    auto b = ValueOrDie(loader->OpenSession());
    EXPECT_TRUE(ValueOrDie(a->LoadCheckpoint("x")) == std::nullopt);
    EXPECT_TRUE(ValueOrDie(b->LoadCheckpoint("x")) == std::nullopt);
  }
  if (kServer->owned()) {
    ASSERT_TRUE(kServer->Restart());
    PQreset(db_);
    ASSERT_EQ(PQstatus(db_), CONNECTION_OK);
  } else {
    // A shared server cannot be restarted: dropping every loader connection is what a
    // restart looks like to the loader.
    ASSERT_GE(KillBackends("amp-restart-" + schema_), 1);
  }
  // Idle pooled connections are dead too: EnsureTable and Begin must both recover.
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  ASSERT_OK(Unit(*s, "rows", BlockRows({2}), Range(2, 2), nullptr));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "2"}));
}

TEST_F(PostgresLoaderTest, CheckpointRoundTrip) {
  auto loader = MakeLoader();
  {
    // Before any EnsureTable the state table does not exist: no checkpoint, no error.
    auto s = ValueOrDie(loader->OpenSession());
    EXPECT_FALSE(ValueOrDie(s->LoadCheckpoint("nothing")).has_value());
  }
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto writer = ValueOrDie(loader->OpenSession());
  StreamCheckpoint cp = Checkpoint("s1", 100, 7);
  cp.cursor.networks["base"] = {UINT64_MAX, ValueOrDie(BlockHash::FromHex(std::string(64, 'f')))};
  cp.recent_ranges.push_back(Range(101, 110));
  cp.recent_ranges.back().timestamp = 1700000000;
  cp.transaction_id = (1ULL << 62) + 5;
  ASSERT_OK(writer->Begin());
  ASSERT_OK(writer->Commit(&cp));  // a unit with only a checkpoint

  auto reader = ValueOrDie(loader->OpenSession());
  auto loaded = ValueOrDie(reader->LoadCheckpoint("s1"));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, cp);
  EXPECT_FALSE(ValueOrDie(reader->LoadCheckpoint("s2")).has_value());

  StreamCheckpoint next = Checkpoint("s1", 120, cp.transaction_id + 1);
  ASSERT_OK(Unit(*writer, "rows", BlockRows({120}), Range(111, 120), &next));
  EXPECT_EQ(*ValueOrDie(reader->LoadCheckpoint("s1")), next);
  EXPECT_EQ(Query("SELECT stream_id, transaction_id::text, table_names::text FROM " +
                  Q("amp_client_state")),
            (std::vector<Row>{{"s1", std::to_string(next.transaction_id), "{rows}"}}));
}

TEST_F(PostgresLoaderTest, AppendKeepsDuplicates) {
  auto loader = MakeLoader();
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto s = ValueOrDie(loader->OpenSession());
  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2}), Range(1, 2), nullptr));
  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2}), Range(1, 2), nullptr));
  EXPECT_EQ(Blocks("rows"), (std::vector<std::string>{"1", "1", "2", "2"}));
  // An empty batch is a no-op.
  ASSERT_OK(Unit(*s, "rows", BlockRows({}), Range(3, 3), nullptr));
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("rows")), "4");
}

TEST_F(PostgresLoaderTest, TruncateEmptiesTableAndForgetsItsCheckpoints) {
  auto loader = MakeLoader();
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows", LoadMode::kOverwrite)));
  ASSERT_OK(loader->EnsureTable(BlockSpec("other")));
  auto s = ValueOrDie(loader->OpenSession());
  const StreamCheckpoint a = Checkpoint("a", 2, 1), b = Checkpoint("b", 2, 1);
  ASSERT_OK(Unit(*s, "rows", BlockRows({1, 2}), Range(1, 2), &a));
  ASSERT_OK(Unit(*s, "other", BlockRows({1, 2}), Range(1, 2), &b));

  ASSERT_OK(loader->Truncate("rows"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("rows")), "0");
  EXPECT_FALSE(ValueOrDie(s->LoadCheckpoint("a")).has_value());
  EXPECT_EQ(*ValueOrDie(s->LoadCheckpoint("b")), b);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("other")), "2");
  ASSERT_OK(loader->Truncate("never_created"));  // nothing to empty: fine
}

TEST_F(PostgresLoaderTest, UpsertReplacesRowsByKey) {
  auto loader = MakeLoader();
  TableSpec spec = BlockSpec("kv", LoadMode::kUpsert);
  spec.key_columns = {"id"};
  ASSERT_OK(loader->EnsureTable(spec));
  ASSERT_OK(loader->EnsureTable(spec));  // idempotent: no second key index
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + schema_ +
                   "' AND tablename = 'kv' AND indexdef LIKE 'CREATE UNIQUE INDEX%(id)'"),
            "1");
  auto s = ValueOrDie(loader->OpenSession());
  auto rows = [](const std::string& ids, const std::string& names, const std::string& blocks) {
    return MakeBatch({{"_block_num", Json(arrow::uint64(), blocks)},
                      {"id", Json(arrow::int64(), ids)},
                      {"name", Json(arrow::utf8(), names)}});
  };
  ASSERT_OK(Unit(*s, "kv", rows("[1, 2]", R"(["a", "b"])", "[1, 1]"), Range(1, 1), nullptr));
  // Key 2 is replaced, key 3 arrives twice in one batch: the last one wins.
  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Append("kv", *rows("[2, 3, 3]", R"(["c", "d", "e"])", "[2, 2, 3]"), Range(2, 3)));
  ASSERT_OK(s->Append("kv", *rows("[1]", R"(["f"])", "[3]"), Range(2, 3)));  // same unit again
  ASSERT_OK(s->Commit(nullptr));
  EXPECT_EQ(Query("SELECT id, name, _amp_block_start FROM " + Q("kv") + " ORDER BY id"),
            (std::vector<Row>{{"1", "f", "3"}, {"2", "c", "2"}, {"3", "e", "3"}}));

  // A rolled-back upsert unit leaves the previous versions.
  ASSERT_OK(s->Begin());
  ASSERT_OK(s->Append("kv", *rows("[1]", R"(["zzz"])", "[4]"), Range(4, 4)));
  s->Abort();
  EXPECT_EQ(Scalar("SELECT name FROM " + Q("kv") + " WHERE id = 1"), "f");

  TableSpec no_keys = BlockSpec("bad", LoadMode::kUpsert);
  Status st = loader->EnsureTable(no_keys);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
}

TEST_F(PostgresLoaderTest, IncompatibleExistingTableIsFatalAndUntouched) {
  Exec("CREATE TABLE " + Q("rows") + " (_block_num numeric(20,0), id integer, name text)");
  Exec("INSERT INTO " + Q("rows") + " VALUES (1, 10, 'keep')");
  auto loader = MakeLoader();
  Status st = loader->EnsureTable(BlockSpec("rows"));  // id is Int64 -> bigint, not integer
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("\"" + schema_ + "\".\"rows\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("\"id\" has type integer"), std::string::npos) << st.message();

  // Nothing changed: same columns, same row, no index, no state table.
  EXPECT_EQ(Scalar("SELECT string_agg(attname::text, ',' ORDER BY attnum) FROM pg_attribute "
                   "WHERE attrelid = to_regclass('" + Q("rows") + "') AND attnum > 0"),
            "_block_num,id,name");
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + schema_ + "'"), "0");
  EXPECT_EQ(Scalar("SELECT to_regclass('" + Q("amp_client_state") + "') IS NULL"), "t");
  EXPECT_EQ(Query("SELECT * FROM " + Q("rows")), (std::vector<Row>{{"1", "10", "keep"}}));

  // A missing column is named too.
  Exec("ALTER TABLE " + Q("rows") + " ALTER COLUMN id TYPE bigint");
  st = loader->EnsureTable(BlockSpec("rows"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("\"_amp_block_start\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st.message();

  // Compatible once it has the loader's columns; extra nullable columns are fine.
  Exec("ALTER TABLE " + Q("rows") + " ADD COLUMN _amp_block_start bigint, "
       "ADD COLUMN _amp_block_end bigint, ADD COLUMN note text");
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  auto s = ValueOrDie(loader->OpenSession());
  ASSERT_OK(Unit(*s, "rows", BlockRows({2}), Range(2, 2), nullptr));
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + Q("rows")), "2");

  // An extra NOT NULL column without default would make every COPY fail: rejected.
  Exec("ALTER TABLE " + Q("rows") + " ADD COLUMN required int NOT NULL DEFAULT 0");
  Exec("ALTER TABLE " + Q("rows") + " ALTER COLUMN required DROP DEFAULT");
  st = loader->EnsureTable(BlockSpec("rows"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("\"required\""), std::string::npos) << st.message();
}

TEST_F(PostgresLoaderTest, UnknownOptionListsTheValidOnes) {
  auto r = Create(Config({{"hostname", "x"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ClassOf(r.status()), ErrorClass::kFatal);
  for (const char* name : {"hostname", "uri", "host", "password", "schema", "max_connections"}) {
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  }
}

TEST_F(PostgresLoaderTest, PasswordFromEnvironment) {
  std::string uri = kServer->uri();
  ::setenv("AMP_PG_TEST_URI_VAR", uri.c_str(), 1);
  auto loader = ValueOrDie(Create({{"uri", "env:AMP_PG_TEST_URI_VAR"}, {"schema", schema_}}));
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  ::unsetenv("AMP_PG_TEST_URI_VAR");
  auto missing = Create({{"uri", "env:AMP_PG_TEST_URI_VAR"}, {"schema", schema_}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("AMP_PG_TEST_URI_VAR"), std::string::npos);
}

// The URI of the password-protected role on the test server, with `password`.
std::string SecureUri(const std::string& password) {
  std::string uri = kServer->uri();  // postgresql://user@host:port/db
  size_t at = uri.find('@');
  return "postgresql://" + std::string(PgTestServer::kSecureUser) + ":" + password +
         uri.substr(at);
}

TEST_F(PostgresLoaderTest, WrongPasswordIsFatalAndNeverShown) {
  const std::string wrong = "Wr0ng-Pa55word-xyzzy";
  for (const LoaderConfig& config :
       {LoaderConfig{{"uri", SecureUri(wrong)}, {"schema", schema_}},
        LoaderConfig{{"uri", SecureUri("")}, {"password", wrong}, {"schema", schema_}}}) {
    auto loader = ValueOrDie(Create(config));
    Status st = loader->EnsureTable(BlockSpec("rows"));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
    EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "28P01") << st.ToString();
    EXPECT_EQ(st.ToString().find(wrong), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("password authentication failed"), std::string::npos)
        << st.ToString();
    auto session = loader->OpenSession();
    ASSERT_FALSE(session.ok());
    EXPECT_EQ(session.status().ToString().find(wrong), std::string::npos);
  }
  {
    auto loader = ValueOrDie(Create({{"uri", SecureUri("")}, {"schema", schema_}}));
    Status st = loader->EnsureTable(BlockSpec("rows"));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  }
  if (kServer->owned()) {  // the right password works (the role exists on our server)
    Exec("GRANT USAGE, CREATE ON SCHEMA \"" + schema_ + "\" TO amp_secure");
    auto loader = ValueOrDie(Create({{"uri", SecureUri(PgTestServer::kSecurePassword)},
                                     {"schema", schema_}}));
    ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  }
}

TEST_F(PostgresLoaderTest, StartupErrorsAreClassifiedBySqlState) {
  std::string uri = kServer->uri();  // postgresql://user@host:port/db
  const std::string server = uri.substr(0, uri.rfind('/'));
  // Unknown database: fatal.
  auto loader = ValueOrDie(Create({{"uri", server + "/no_such_db_" + schema_}}));
  Status st = loader->EnsureTable(BlockSpec("rows"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "3D000") << st.ToString();
  // Too many connections (a role at its connection limit): retryable.
  const std::string role = "amp_limited_" + std::to_string(getpid());
  Exec("DROP ROLE IF EXISTS " + role);
  Exec("CREATE ROLE " + role + " LOGIN CONNECTION LIMIT 0");
  std::string limited = "postgresql://" + role + uri.substr(uri.find('@'));
  loader = ValueOrDie(Create({{"uri", limited}}));
  st = loader->EnsureTable(BlockSpec("rows"));
  Exec("DROP ROLE " + role);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall) << st.ToString();
  EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "53300") << st.ToString();
}

TEST_F(PostgresLoaderTest, UnreachablePortIsRetryable) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);  // now nothing listens there
  const int port = ntohs(addr.sin_port);
  auto loader = ValueOrDie(Create({{"host", "127.0.0.1"}, {"port", std::to_string(port)},
                                   {"user", "nobody"}, {"database", "none"}, {"password", "pw1234"},
                                   {"connect_timeout", "2"}}));
  auto start = std::chrono::steady_clock::now();
  Status st = loader->EnsureTable(BlockSpec("rows"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall) << st.ToString();
  EXPECT_NE(st.message().find(std::to_string(port)), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("pw1234"), std::string::npos) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto session = loader->OpenSession();
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(ClassOf(session.status()), ErrorClass::kRetryCall);
}

TEST_F(PostgresLoaderTest, ConcurrentSessionsWriteOneTable) {
  constexpr int kWorkers = 4, kUnits = 5, kRowsPerUnit = 200;
  auto loader = MakeLoader({{"max_connections", "4"}});
  ASSERT_TRUE(loader->capabilities().concurrent_sessions);
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto session = loader->OpenSession();
      if (!session.ok()) {
        ++failures;
        return;
      }
      for (int u = 0; u < kUnits; ++u) {
        const uint64_t first = static_cast<uint64_t>((w * kUnits + u) * kRowsPerUnit);
        std::vector<uint64_t> blocks;
        for (int k = 0; k < kRowsPerUnit; ++k) blocks.push_back(first + k);
        StreamCheckpoint cp = Checkpoint("worker" + std::to_string(w), blocks.back(), u + 1);
        if (!Unit(**session, "rows", BlockRows(blocks), Range(first, blocks.back()), &cp,
                  BlockInterval{first, blocks.back()})
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Scalar("SELECT count(*) || '/' || count(DISTINCT _block_num) FROM " + Q("rows")),
            "4000/4000");
  EXPECT_EQ(Scalar("SELECT string_agg(transaction_id::text, ',' ORDER BY stream_id) FROM " +
                   Q("amp_client_state")),
            "5,5,5,5");
}

TEST_F(PostgresLoaderTest, PoolBoundsConnections) {
  auto loader = MakeLoader({{"max_connections", "1"}, {"pool_timeout", "1"},
                            {"application_name", "amp-pool-" + schema_}});
  auto first = ValueOrDie(loader->OpenSession());
  auto start = std::chrono::steady_clock::now();
  auto second = loader->OpenSession();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(ClassOf(second.status()), ErrorClass::kRetryCall);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'amp-pool-" +
                   schema_ + "'"),
            "1");
  first.reset();  // returns its connection
  auto third = ValueOrDie(loader->OpenSession());
  EXPECT_EQ(ClassOf(loader->EnsureTable(BlockSpec("rows"))), ErrorClass::kRetryCall);
  third.reset();
  ASSERT_OK(loader->EnsureTable(BlockSpec("rows")));
}

}  // namespace
}  // namespace amp::postgres
