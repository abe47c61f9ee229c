// Planning: which queries plan, which fail and how, output schemas, streaming flags and
// block bounds. Execution results are in sql_executor_test.cc.
#include "devnet/sql/engine.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "devnet/sql/sql_test_util.h"

namespace amp::devnet::sql {
namespace {

using testing::FakeCatalog;
using testing::LogsSchema;

Result<std::unique_ptr<Plan>> Plan(const std::string& sql) {
  FakeCatalog catalog;
  return PlanQuery(sql, catalog);
}

TEST(SqlEngineTest, PlansTheGoldenQueries) {
  const std::vector<std::string> accepted = {
      "SELECT * FROM eth_firehose.logs",
      "SELECT * FROM \"_/eth_firehose@1.0.0\".logs",
      "SELECT * FROM \"eth_firehose@1.0.0\".logs",
      "SELECT * FROM \"_/eth_firehose\".logs",
      "SELECT * FROM \"eth_firehose\".\"logs\";",
      "SELECT l.* FROM eth_firehose.logs l",
      "SELECT logs.block_num, eth_firehose.logs.hash FROM eth_firehose.logs",
      "SELECT Block_Num, \"block_num\" AS b2 FROM eth_firehose.logs",
      "SELECT _block_num, block_num AS n, hash h, \"value\" FROM eth_firehose.logs WHERE block_num > 5",
      "SELECT * FROM eth_firehose.logs WHERE block_num > -1",
      "SELECT * FROM eth_firehose.logs WHERE block_num >= '10'",
      "SELECT * FROM eth_firehose.logs WHERE topic0 = 0x" + std::string(64, 'a'),
      "SELECT * FROM eth_firehose.logs WHERE topic0 = '0x" + std::string(64, 'A') + "'",
      "SELECT * FROM eth_firehose.logs WHERE address IN (0x" + std::string(40, '0') + ", '0x" +
          std::string(40, '1') + "')",
      "SELECT * FROM eth_firehose.logs WHERE data = 0x00 OR data = 'raw bytes'",
      "SELECT * FROM eth_firehose.logs WHERE gas_price > 1000 AND gas_price <= '2000'",
      "SELECT * FROM eth_firehose.logs WHERE gas_price > -1",
      "SELECT * FROM eth_firehose.logs WHERE timestamp >= '2024-01-01T00:00:00Z'",
      "SELECT * FROM eth_firehose.logs WHERE timestamp >= '2024-01-01 00:00:00'",
      "SELECT * FROM eth_firehose.logs WHERE value = 'x' OR value = 5",
      "SELECT * FROM eth_firehose.logs WHERE removed AND NOT removed = false",
      "SELECT * FROM eth_firehose.logs WHERE log_index = block_num",  // uint32 vs uint64
      "SELECT * FROM eth_firehose.logs WHERE _block_num = block_num AND NULL IS NULL",
      "SELECT * FROM eth_firehose.logs WHERE 1 = 1 AND 'a' < 'b' AND 5 > block_num",
      "SELECT * FROM eth_firehose.logs WHERE NULL",
      "SELECT block_num > 5 AS big, 1 AS one, 'x', NULL AS n FROM eth_firehose.logs",
      "SELECT MIN(block_num), MAX(block_num) FROM eth_firehose.logs",
      "SELECT COUNT(*) AS n, COUNT(topic0), MIN(hash), MAX(gas_price), MIN(timestamp), MAX(data), "
      "MIN(value), MAX(removed), 42 AS answer FROM eth_firehose.logs",
      "SELECT COUNT(1), COUNT(NULL) AS none FROM eth_firehose.logs",
      "SELECT MAX(block_num) FROM (SELECT * FROM eth_firehose.logs LIMIT 5) t",
      "SELECT * FROM (SELECT MAX(block_num) AS m FROM eth_firehose.logs) t WHERE m > 3",
      "SELECT * FROM eth_firehose.logs ORDER BY block_num",
      "SELECT * FROM eth_firehose.logs ORDER BY _block_num ASC LIMIT 10",
      "SELECT hash FROM eth_firehose.logs ORDER BY block_num",
      "SELECT block_num AS n FROM eth_firehose.logs ORDER BY block_num",
      "SELECT MAX(block_num) AS m FROM eth_firehose.logs ORDER BY m",
      "(SELECT * FROM eth_firehose.logs WHERE block_num > 1) ORDER BY block_num LIMIT 2",
      "SELECT * FROM (SELECT * FROM eth_firehose.logs WHERE address = 0x" + std::string(40, '0') +
          ") AS _amp_partition WHERE _amp_partition.block_num >= 0 AND _amp_partition.block_num < 10",
      "WITH a AS (SELECT block_num, hash FROM eth_firehose.logs) SELECT * FROM a WHERE a.block_num = 1",
      "WITH a AS (SELECT * FROM eth_firehose.logs), b AS (SELECT block_num FROM a) "
      "SELECT * FROM b AS x WHERE x.block_num < 4",
      "WITH a AS (SELECT * FROM eth_firehose.logs) SELECT * FROM (WITH b AS (SELECT * FROM a) "
      "SELECT * FROM b) c",
      "WITH unused AS (SELECT * FROM eth_firehose.blocks) SELECT * FROM eth_firehose.logs",
      "WITH logs AS (SELECT block_num FROM eth_firehose.logs) SELECT * FROM logs",
      "SELECT * FROM eth_firehose.logs SETTINGS stream = true, other = 1",
      "SELECT * FROM eth_firehose.logs LIMIT 0",
  };
  for (const auto& sql : accepted) {
    auto plan = Plan(sql);
    EXPECT_TRUE(plan.ok()) << sql << "\n -> " << plan.status().ToString();
  }
}

struct Rejection {
  std::string sql;
  arrow::StatusCode code;
  std::string message;
};

TEST(SqlEngineTest, RejectsWithTheExpectedError) {
  const std::string fsb32 = "fixed_size_binary[32]";
  const std::vector<Rejection> rejected = {
      {"SELECT * FROM eth_firehose.nope", arrow::StatusCode::KeyError,
       "table 'eth_firehose.nope' not found"},
      {"SELECT * FROM other.logs", arrow::StatusCode::KeyError, "dataset 'other' not found"},
      {"SELECT * FROM \"_/other@1.0.0\".logs", arrow::StatusCode::KeyError, "dataset 'other'"},
      {"SELECT * FROM logs", arrow::StatusCode::Invalid,
       "Found unqualified table 'logs', all tables must be qualified with a dataset name"},
      {"SELECT * FROM amp.eth_firehose.logs", arrow::StatusCode::Invalid,
       "Found table qualified with catalog 'amp.eth_firehose.logs', tables must only be qualified "
       "with a dataset name"},
      {"SELECT * FROM \"_/eth_firehose@latest\".logs", arrow::StatusCode::Invalid,
       "Invalid version 'latest' in dataset schema '_/eth_firehose@latest', only semantic versions"},
      {"SELECT * FROM \"/eth_firehose\".logs", arrow::StatusCode::Invalid,
       "Failed to parse dataset reference"},
      {"SELECT nope FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "No field named nope. Valid fields are eth_firehose.logs._block_num, "
       "eth_firehose.logs.block_num, eth_firehose.logs.log_index"},
      {"SELECT x.block_num FROM eth_firehose.logs l", arrow::StatusCode::Invalid,
       "No field named x.block_num. Valid fields are l._block_num"},
      {"SELECT logs.block_num FROM eth_firehose.logs l", arrow::StatusCode::Invalid,
       "No field named logs.block_num"},
      {"SELECT \"Block_Num\" FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "No field named \"Block_Num\""},
      {"SELECT * FROM eth_firehose.logs WHERE nope = 1", arrow::StatusCode::Invalid,
       "No field named nope"},
      {"SELECT * FROM (SELECT block_num AS x FROM eth_firehose.logs) t WHERE block_num > 1",
       arrow::StatusCode::Invalid, "No field named block_num. Valid fields are t.x."},
      {"SELECT * FROM eth_firehose.logs GROUP BY block_num", arrow::StatusCode::Invalid,
       "GROUP BY is not supported by the devnet"},
      {"SELECT * FROM eth_firehose.logs l JOIN eth_firehose.blocks b ON l.block_num = b.block_num",
       arrow::StatusCode::Invalid, "JOIN is not supported by the devnet"},
      {"SELECT block_num, MAX(block_num) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "column \"block_num\" must appear in the GROUP BY clause or be used in an aggregate function"},
      {"SELECT *, COUNT(*) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "must appear in the GROUP BY clause"},
      {"SELECT * FROM eth_firehose.logs WHERE MAX(block_num) > 1", arrow::StatusCode::Invalid,
       "aggregate functions are not allowed in WHERE"},
      {"SELECT MAX(MIN(block_num)) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "aggregate function calls cannot be nested"},
      {"SELECT MAX(block_num) > 1 FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "aggregate functions inside expressions are not supported by the devnet"},
      {"SELECT foo(block_num) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "function 'foo' is not supported by the devnet"},
      {"SELECT block_num() FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "function 'block_num' is not supported by the devnet"},
      {"SELECT eth_firehose.evm_decode(data) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "function 'eth_firehose.evm_decode' is not supported"},
      {"SELECT MIN(*) FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "aggregate function min() takes exactly one argument"},
      {"SELECT COUNT() FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "aggregate function count() takes exactly one argument or *"},
      {"SELECT * FROM eth_firehose.logs WHERE topic0 = 0x1234", arrow::StatusCode::Invalid,
       "hex literal 0x1234 is 2 bytes but column topic0 is " + fsb32 + " (32 bytes)"},
      {"SELECT * FROM eth_firehose.logs WHERE hash = '0x12'", arrow::StatusCode::Invalid,
       "hex literal '0x12' is 1 bytes but column hash is " + fsb32},
      {"SELECT * FROM eth_firehose.logs WHERE address IN (0x01)", arrow::StatusCode::Invalid,
       "hex literal 0x01 is 1 bytes but column address is fixed_size_binary[20] (20 bytes)"},
      {"SELECT * FROM eth_firehose.logs WHERE hash = 'abc'", arrow::StatusCode::Invalid,
       "use a hex literal"},
      {"SELECT * FROM eth_firehose.logs WHERE hash = '0xzz'", arrow::StatusCode::Invalid,
       "invalid hex string '0xzz'"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num = 0x01", arrow::StatusCode::Invalid,
       "cannot compare column block_num of type uint64 with hex literal 0x01"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num = 'abc'", arrow::StatusCode::Invalid,
       "cannot cast string literal 'abc' to uint64 to compare it with column block_num"},
      {"SELECT * FROM eth_firehose.logs WHERE hash = block_num", arrow::StatusCode::Invalid,
       "cannot compare column hash of type " + fsb32 + " with column block_num of type uint64"},
      {"SELECT * FROM eth_firehose.logs WHERE removed = 1", arrow::StatusCode::Invalid,
       "cannot compare column removed of type bool with integer literal 1"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num = true", arrow::StatusCode::Invalid,
       "cannot compare column block_num of type uint64 with boolean literal true"},
      {"SELECT * FROM eth_firehose.logs WHERE timestamp > 'not a time'", arrow::StatusCode::Invalid,
       "cannot cast string literal 'not a time' to timestamp"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num", arrow::StatusCode::Invalid,
       "expected a boolean expression in WHERE, found column block_num of type uint64"},
      {"SELECT * FROM eth_firehose.logs WHERE 1", arrow::StatusCode::Invalid,
       "expected a boolean expression in WHERE, found literal 1 of type int64"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num = 1 AND 5", arrow::StatusCode::Invalid,
       "expected a boolean expression in AND"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num IN (1, log_index)", arrow::StatusCode::Invalid,
       "IN lists with non-literal values are not supported by the devnet"},
      {"SELECT block_num, block_num FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "Projections require unique expression names but the expression \"block_num\" at position 0 "
       "and \"block_num\" at position 1 have the same name"},
      {"SELECT *, block_num FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "Projections require unique expression names"},
      {"SELECT * FROM eth_firehose.logs ORDER BY hash", arrow::StatusCode::Invalid,
       "ORDER BY is supported by the devnet only on block_num or _block_num, ascending"},
      {"SELECT * FROM eth_firehose.logs ORDER BY block_num DESC", arrow::StatusCode::Invalid,
       "DESC is not supported"},
      {"SELECT * FROM eth_firehose.logs ORDER BY block_num > 1", arrow::StatusCode::Invalid,
       "ORDER BY is supported by the devnet only on block_num"},
      {"SELECT * FROM eth_firehose.logs ORDER BY nope", arrow::StatusCode::Invalid,
       "No field named nope"},
      {"SELECT DISTINCT block_num FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "DISTINCT is not supported by the devnet"},
      {"SELECT address, COUNT(*) FROM eth_firehose.logs GROUP BY address",
       arrow::StatusCode::Invalid, "GROUP BY is not supported by the devnet"},
      {"SELECT COUNT(*) FROM eth_firehose.logs HAVING COUNT(*) > 1", arrow::StatusCode::Invalid,
       "HAVING is not supported by the devnet"},
      {"SELECT q.* FROM eth_firehose.logs l", arrow::StatusCode::Invalid, "Invalid qualifier q"},
      {"WITH a AS (SELECT * FROM eth_firehose.logs), a AS (SELECT * FROM eth_firehose.logs) "
       "SELECT * FROM a",
       arrow::StatusCode::Invalid, "WITH query name \"a\" specified more than once"},
      {"WITH a AS (SELECT * FROM eth_firehose.nope) SELECT * FROM eth_firehose.logs",
       arrow::StatusCode::KeyError, "table 'eth_firehose.nope' not found"},
      {"WITH a AS (SELECT * FROM a) SELECT * FROM a", arrow::StatusCode::Invalid,
       "Found unqualified table 'a'"},
      {"SELECT 1", arrow::StatusCode::Invalid, "SELECT without FROM is not supported by the devnet"},
      {"SELECT * FROM eth_firehose.logs WHERE hash LIKE 'x%'", arrow::StatusCode::Invalid,
       "LIKE is not supported by the devnet"},
      {"SELECT FROM eth_firehose.logs", arrow::StatusCode::Invalid,
       "sql parser error: Expected: an expression, found: FROM at Line: 1, Column: 8"},
  };
  for (const auto& r : rejected) {
    auto plan = Plan(r.sql);
    ASSERT_FALSE(plan.ok()) << r.sql;
    EXPECT_EQ(plan.status().code(), r.code) << r.sql << " -> " << plan.status().ToString();
    EXPECT_NE(plan.status().message().find(r.message), std::string::npos)
        << r.sql << "\n  expected substring: " << r.message
        << "\n  got: " << plan.status().message();
  }
}

TEST(SqlEngineTest, DetectsStreamingSettingLikeAmp) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", false},
      {" SETTINGS stream = true", true},
      {" SETTINGS stream = True", true},
      {" SETTINGS STREAM = TRUE", true},
      {" SETTINGS \"Stream\" = true", true},  // the key compares case-insensitively
      {" SETTINGS stream = false", false},
      {" SETTINGS stream = 1", false},
      {" SETTINGS stream = 'true'", false},
      {" SETTINGS stream = \"true\"", false},
      {" SETTINGS stream = yes", false},
      {" SETTINGS streaming = true", false},
      {" SETTINGS other = 1, stream = true", true},
      {" SETTINGS stream = true;", true},
      {" LIMIT 3 SETTINGS stream = true", true},
      {" -- SETTINGS stream = true", false},
  };
  for (const auto& [suffix, expected] : cases) {
    std::string sql = "SELECT * FROM eth_firehose.logs" + suffix;
    auto plan = Plan(sql);
    ASSERT_TRUE(plan.ok()) << sql << " -> " << plan.status().ToString();
    EXPECT_EQ((*plan)->streaming_setting(), expected) << sql;
  }
  // Only the outermost query's settings count, as in Amp.
  auto nested = Plan("SELECT * FROM (SELECT * FROM eth_firehose.logs SETTINGS stream = true) t");
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_FALSE((*nested)->streaming_setting());
}

TEST(SqlEngineTest, OutputSchemaOfStarIsTheTableSchema) {
  std::unique_ptr<sql::Plan> plan;
  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT * FROM eth_firehose.logs"));
  EXPECT_TRUE(plan->output_schema()->Equals(*LogsSchema())) << plan->output_schema()->ToString();
  EXPECT_EQ(plan->output_schema()->field(0)->name(), "_block_num");
  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT l.* FROM (SELECT * FROM eth_firehose.logs) AS l"));
  EXPECT_TRUE(plan->output_schema()->Equals(*LogsSchema()));
}

TEST(SqlEngineTest, OutputSchemaNamesAndTypes) {
  std::unique_ptr<sql::Plan> plan;
  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT block_num AS n, hash h, \"value\", Topic0, "
                                "block_num > 5 AS big, 1 AS one, 'x', NULL AS nothing "
                                "FROM eth_firehose.logs"));
  auto expected = arrow::schema({
      arrow::field("n", arrow::uint64(), false),
      arrow::field("h", arrow::fixed_size_binary(32), false),
      arrow::field("value", arrow::utf8(), true),
      arrow::field("topic0", arrow::fixed_size_binary(32), true),
      arrow::field("big", arrow::boolean(), false),
      arrow::field("one", arrow::int64(), false),
      arrow::field("Utf8(\"x\")", arrow::utf8(), false),
      arrow::field("nothing", arrow::null(), true),
  });
  EXPECT_TRUE(plan->output_schema()->Equals(*expected)) << plan->output_schema()->ToString();
}

TEST(SqlEngineTest, AggregateOutputSchema) {
  std::unique_ptr<sql::Plan> plan;
  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT MIN(block_num), MAX(block_num) AS hi, COUNT(*), "
                                "COUNT(topic0) AS c, max(gas_price), MIN(timestamp), 7 AS seven "
                                "FROM eth_firehose.logs"));
  auto expected = arrow::schema({
      arrow::field("min(eth_firehose.logs.block_num)", arrow::uint64(), true),
      arrow::field("hi", arrow::uint64(), true),
      arrow::field("count(*)", arrow::int64(), false),
      arrow::field("c", arrow::int64(), false),
      arrow::field("max(eth_firehose.logs.gas_price)", arrow::decimal128(38, 0), true),
      arrow::field("min(eth_firehose.logs.timestamp)", testing::TimestampType(), true),
      arrow::field("seven", arrow::int64(), false),
  });
  EXPECT_TRUE(plan->output_schema()->Equals(*expected)) << plan->output_schema()->ToString();

  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT max(l.block_num) FROM eth_firehose.logs AS l"));
  EXPECT_EQ(plan->output_schema()->field(0)->name(), "max(l.block_num)");
  SQL_ASSIGN_OR_FAIL(plan, Plan("SELECT max(block_num) FROM \"_/eth_firehose@1.0.0\".logs"));
  EXPECT_EQ(plan->output_schema()->field(0)->name(), "max(\"_/eth_firehose@1.0.0\".logs.block_num)");
}

TEST(SqlEngineTest, ResolvesTheSourceTable) {
  FakeCatalog catalog;
  std::unique_ptr<sql::Plan> plan;
  SQL_ASSIGN_OR_FAIL(plan, PlanQuery("SELECT * FROM \"_/eth_firehose@1.0.0\".logs", catalog));
  EXPECT_EQ(plan->source_table().dataset, "eth_firehose");
  EXPECT_EQ(plan->source_table().table, "logs");
  EXPECT_EQ(plan->source_table().namespace_name, "_");
  EXPECT_EQ(plan->source_table().revision, "1.0.0");
  EXPECT_EQ(catalog.last_ref.dataset, "eth_firehose");

  SQL_ASSIGN_OR_FAIL(plan, PlanQuery("WITH a AS (SELECT * FROM eth_firehose.blocks) "
                                     "SELECT * FROM (SELECT * FROM a) t",
                                     catalog));
  EXPECT_EQ(plan->source_table().dataset, "eth_firehose");
  EXPECT_EQ(plan->source_table().table, "blocks");
  EXPECT_EQ(plan->source_table().namespace_name, "");
  EXPECT_EQ(plan->source_table().revision, "");
}

// For a server that refuses where ampd does: constructs only a stream would be refused for
// plan (naming the non-incremental operation) and carry the batch refusal.
TEST(SqlEngineTest, DeferredRefusalsOfNonIncrementalConstructs) {
  FakeCatalog catalog;
  const PlanOptions defer{.defer_non_incremental = true};
  const std::pair<std::string, std::string> cases[] = {
      {"SELECT DISTINCT block_num FROM eth_firehose.logs", "Distinct"},
      {"SELECT * FROM eth_firehose.logs ORDER BY block_num DESC", "Sort"},
      {"SELECT * FROM eth_firehose.logs ORDER BY hash", "Sort"},
      {"SELECT DISTINCT block_num FROM eth_firehose.logs LIMIT 3", "Limit"},
      {"SELECT address, COUNT(*) AS n FROM eth_firehose.logs GROUP BY address", "Aggregate"},
      {"SELECT address FROM eth_firehose.logs GROUP BY address", "Aggregate"},
      {"SELECT COUNT(*) FROM eth_firehose.logs HAVING COUNT(*) > 1", "Aggregate"},
  };
  for (const auto& [sql, op] : cases) {
    auto plan = PlanQuery(sql, catalog, defer);
    ASSERT_TRUE(plan.ok()) << sql << " -> " << plan.status().ToString();
    EXPECT_EQ((*plan)->non_incremental_operation(), op) << sql;
    ASSERT_TRUE((*plan)->batch_refusal().has_value()) << sql;
    EXPECT_NE((*plan)->batch_refusal()->find("by the devnet"), std::string::npos);
    EXPECT_TRUE((*plan)->MakeExecutor().status().IsInvalid()) << sql;
  }
  // A grouped query's schema: the key keeps its type, COUNT is Int64.
  auto grouped = PlanQuery("SELECT address, COUNT(*) AS n FROM eth_firehose.logs GROUP BY address",
                           catalog, defer);
  ASSERT_TRUE(grouped.ok()) << grouped.status().ToString();
  ASSERT_EQ((*grouped)->output_schema()->num_fields(), 2);
  EXPECT_EQ((*grouped)->output_schema()->field(0)->name(), "address");
  EXPECT_TRUE((*grouped)->output_schema()->field(0)->type()->Equals(arrow::fixed_size_binary(20)));
  EXPECT_EQ((*grouped)->output_schema()->field(1)->name(), "n");
  EXPECT_TRUE(PlanQuery("SELECT COUNT(*) FROM eth_firehose.logs GROUP BY nope", catalog, defer)
                  .status()
                  .IsInvalid());
  auto fine = PlanQuery("SELECT * FROM eth_firehose.logs ORDER BY block_num", catalog, defer);
  ASSERT_TRUE(fine.ok());
  EXPECT_FALSE((*fine)->batch_refusal().has_value());
  EXPECT_TRUE(PlanQuery("SELECT * FROM eth_firehose.logs ORDER BY nope", catalog, defer)
                  .status()
                  .IsInvalid());
}

TEST(SqlEngineTest, FlagsNonIncrementalQueries) {
  struct Case {
    std::string sql;
    std::optional<std::string> op;
  };
  const std::vector<Case> cases = {
      {"SELECT * FROM eth_firehose.logs", std::nullopt},
      {"SELECT block_num FROM eth_firehose.logs WHERE block_num > 3", std::nullopt},
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs) t WHERE t.block_num > 1", std::nullopt},
      {"WITH a AS (SELECT * FROM eth_firehose.logs) SELECT * FROM a", std::nullopt},
      {"WITH unused AS (SELECT * FROM eth_firehose.logs LIMIT 1) SELECT * FROM eth_firehose.logs",
       std::nullopt},
      {"SELECT * FROM eth_firehose.logs LIMIT 10", "Limit"},
      {"SELECT * FROM eth_firehose.logs OFFSET 10", "Limit"},
      {"SELECT * FROM eth_firehose.logs ORDER BY block_num", "Sort"},
      {"SELECT MAX(block_num) FROM eth_firehose.logs", "Aggregate"},
      {"SELECT COUNT(*) FROM eth_firehose.logs", "Aggregate"},
      {"SELECT MAX(block_num) FROM eth_firehose.logs LIMIT 1", "Limit"},
      {"SELECT * FROM (SELECT MAX(block_num) AS m FROM eth_firehose.logs) t", "Aggregate"},
      {"WITH a AS (SELECT * FROM eth_firehose.logs LIMIT 5) SELECT * FROM a", "Limit"},
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs ORDER BY block_num) t", "Sort"},
      {"(SELECT * FROM eth_firehose.logs) LIMIT 1", "Limit"},
  };
  for (const auto& c : cases) {
    auto plan = Plan(c.sql);
    ASSERT_TRUE(plan.ok()) << c.sql << " -> " << plan.status().ToString();
    EXPECT_EQ((*plan)->is_incremental(), !c.op.has_value()) << c.sql;
    EXPECT_EQ((*plan)->non_incremental_operation(), c.op) << c.sql;
  }
}

constexpr uint64_t kMax = UINT64_MAX;

TEST(SqlEngineTest, BlockBoundsAreConservative) {
  struct Case {
    std::string sql;
    uint64_t min;
    uint64_t max;
  };
  const std::string logs = "SELECT * FROM eth_firehose.logs WHERE ";
  const std::string addr = "0x" + std::string(40, '0');
  const std::vector<Case> cases = {
      {"SELECT * FROM eth_firehose.logs", 0, kMax},
      {logs + "block_num >= 10", 10, kMax},
      {logs + "block_num > 10", 11, kMax},
      {logs + "block_num < 10", 0, 9},
      {logs + "block_num <= 10", 0, 10},
      {logs + "block_num = 7", 7, 7},
      {logs + "10 <= block_num", 10, kMax},
      {logs + "10 > _block_num", 0, 9},
      {logs + "_block_num >= 5 AND block_num < 8", 5, 7},
      {logs + "block_num BETWEEN 3 AND 9", 3, 9},
      {logs + "block_num NOT BETWEEN 3 AND 9", 0, kMax},
      {logs + "block_num IN (4, 9, 2)", 2, 9},
      {logs + "block_num IN (4, NULL, -1)", 4, 4},
      {logs + "block_num NOT IN (4)", 0, kMax},
      {logs + "block_num >= 5 OR block_num < 2", 0, kMax},
      {logs + "(block_num >= 5 AND block_num <= 6) OR block_num = 10", 5, 10},
      {logs + "block_num >= 5 OR address = " + addr, 0, kMax},
      {logs + "block_num >= 5 AND address = " + addr, 5, kMax},
      {logs + "address = " + addr + " AND (block_num < 3 OR block_num = 8) AND block_num > 1", 2, 8},
      {logs + "NOT (block_num < 5)", 5, kMax},
      {logs + "NOT (block_num >= 5 OR block_num > 100)", 0, 4},
      {logs + "NOT (block_num < 5 AND log_index = 1)", 0, kMax},
      {logs + "NOT NOT block_num = 3", 3, 3},
      {logs + "block_num != 5", 0, kMax},
      {logs + "block_num > -1", 0, kMax},
      {logs + "block_num >= '12'", 12, kMax},
      {logs + "block_num <= 18446744073709551615", 0, kMax},
      {logs + "block_num < 100000000000000000000", 0, kMax},
      {logs + "log_index > 5", 0, kMax},
      {logs + "log_index = block_num", 0, kMax},
      {logs + "block_num IS NOT NULL", 0, kMax},
      {logs + "TRUE AND block_num < 3", 0, 2},
      // Loader wrapping and nesting: outer bounds refer to the inner block_num.
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs WHERE address = " + addr +
           ") AS _amp_partition WHERE _amp_partition.block_num >= 100 AND "
           "_amp_partition.block_num < 200",
       100, 199},
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs WHERE block_num >= 150) p "
       "WHERE p.block_num < 200 AND p.block_num >= 100",
       150, 199},
      {"WITH x AS (SELECT block_num, hash FROM eth_firehose.logs) "
       "SELECT * FROM x WHERE block_num BETWEEN 1 AND 2",
       1, 2},
      {"SELECT * FROM (WITH x AS (SELECT _block_num, hash FROM eth_firehose.logs WHERE _block_num < 50) "
       "SELECT * FROM x) AS _amp_partition WHERE _amp_partition._block_num >= 10",
       10, 49},
      {"SELECT * FROM (SELECT block_num AS block_num FROM eth_firehose.logs) t WHERE block_num > 5",
       6, kMax},
      {"SELECT * FROM (SELECT hash FROM eth_firehose.logs WHERE block_num = 3) t", 3, 3},
      // A renamed block column still holds the block number: bounds follow the value,
      // not the name (a column merely named block_num gives none).
      {"SELECT * FROM (SELECT block_num AS bn FROM eth_firehose.logs) t WHERE bn > 5", 6, kMax},
      {"SELECT * FROM (SELECT _block_num AS block_num FROM eth_firehose.logs) t WHERE block_num > 5",
       6, kMax},
      {"SELECT * FROM (SELECT log_index AS block_num FROM eth_firehose.logs) t WHERE block_num > 5",
       0, kMax},
      {"SELECT * FROM (SELECT block_num AS log_index, log_index AS block_num FROM "
       "eth_firehose.logs) t WHERE block_num > 5 AND log_index < 9",
       0, 8},
      // A LIMIT or aggregate below an outer filter: the outer filter must not narrow the scan.
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs LIMIT 10) t WHERE block_num > 100", 0, kMax},
      {"SELECT * FROM (SELECT * FROM eth_firehose.logs WHERE block_num > 100 LIMIT 10) t "
       "WHERE block_num < 50",
       101, kMax},
      {"SELECT * FROM (SELECT MAX(block_num) AS block_num FROM eth_firehose.logs "
       "WHERE block_num < 10) t WHERE block_num > 5",
       0, 9},
      {"SELECT MAX(block_num) FROM eth_firehose.logs WHERE block_num >= 1000", 1000, kMax},
      {"SELECT * FROM eth_firehose.logs WHERE block_num >= 20 LIMIT 3", 20, kMax},
      {"(SELECT * FROM eth_firehose.logs LIMIT 4) LIMIT 2", 0, kMax},
  };
  for (const auto& c : cases) {
    auto plan = Plan(c.sql);
    ASSERT_TRUE(plan.ok()) << c.sql << " -> " << plan.status().ToString();
    BlockBounds bounds = (*plan)->block_bounds();
    EXPECT_FALSE(bounds.empty()) << c.sql;
    EXPECT_EQ(bounds.min, c.min) << c.sql;
    EXPECT_EQ(bounds.max, c.max) << c.sql;
  }
}

TEST(SqlEngineTest, BlockBoundsCanBeEmpty) {
  const std::string logs = "SELECT * FROM eth_firehose.logs WHERE ";
  for (const char* where :
       {"block_num < -1", "block_num < 0", "block_num = -3", "block_num > 18446744073709551615",
        "block_num >= 100000000000000000000", "block_num >= 10 AND block_num < 5",
        "block_num = NULL", "FALSE", "NULL", "block_num IN (-1, -2)", "block_num IN (NULL)",
        "block_num BETWEEN 9 AND 3", "NOT TRUE", "block_num < 3 AND _block_num > 3"}) {
    auto plan = Plan(logs + where);
    ASSERT_TRUE(plan.ok()) << where << " -> " << plan.status().ToString();
    EXPECT_TRUE((*plan)->block_bounds().empty())
        << where << ": [" << (*plan)->block_bounds().min << ", " << (*plan)->block_bounds().max
        << "]";
  }
}

TEST(SqlEngineTest, DeeplyNestedCtesPlanInLinearTime) {
  // Each level defines a CTE over the previous one; re-planning per level would be 2^depth.
  std::string sql = "SELECT * FROM eth_firehose.logs";
  for (int i = 0; i < 60; ++i) {
    sql = "WITH c" + std::to_string(i) + " AS (" + sql + ") SELECT * FROM c" + std::to_string(i);
  }
  auto plan = Plan(sql);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE((*plan)->output_schema()->Equals(*LogsSchema()));
  // An unused CTE deep inside is still checked.
  auto bad = Plan("WITH a AS (WITH unused AS (SELECT nope FROM eth_firehose.logs) "
                  "SELECT * FROM eth_firehose.logs) SELECT * FROM a");
  ASSERT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.status().message().find("No field named nope"), std::string::npos);
}

// Failure 11 of issue 10: about 5,000 chained CTEs (each over the previous one, in one
// WITH) overflowed the stack while planning. The chain is capped like parentheses.
TEST(SqlEngineTest, LongCteChainsAreRefusedNotACrash) {
  auto chain = [](int n) {
    std::string sql = "WITH c0 AS (SELECT * FROM eth_firehose.logs)";
    for (int i = 1; i < n; ++i) {
      sql += ", c" + std::to_string(i) + " AS (SELECT * FROM c" + std::to_string(i - 1) + ")";
    }
    return sql + " SELECT * FROM c" + std::to_string(n - 1);
  };
  auto ok = Plan(chain(100));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE((*ok)->output_schema()->Equals(*LogsSchema()));
  auto deep = Plan(chain(300));
  ASSERT_TRUE(deep.status().IsInvalid()) << deep.status().ToString();
  EXPECT_NE(deep.status().message().find("nested too deeply"), std::string::npos)
      << deep.status().ToString();
  for (int n : {5'000, 50'000}) {  // 5,000: the chain that crashed the devnet
    auto refused = Plan(chain(n));
    ASSERT_TRUE(refused.status().IsInvalid()) << n << ": " << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("too many CTEs"), std::string::npos)
        << refused.status().ToString();
  }
  // Many CTEs that do not reference each other are no chain: they plan (or are refused
  // for their number), without recursing once per CTE.
  std::string flat = "WITH c0 AS (SELECT * FROM eth_firehose.logs)";
  for (int i = 1; i < 50'000; ++i) {
    flat += ", c" + std::to_string(i) + " AS (SELECT * FROM eth_firehose.logs)";
  }
  auto wide = Plan(flat + " SELECT * FROM c0");
  ASSERT_TRUE(wide.status().IsInvalid()) << wide.status().ToString();
  EXPECT_NE(wide.status().message().find("too many CTEs"), std::string::npos)
      << wide.status().ToString();
}

TEST(SqlEngineTest, PlansAreIndependentOfTheCatalogLifetime) {
  std::unique_ptr<sql::Plan> plan;
  {
    FakeCatalog catalog;
    SQL_ASSIGN_OR_FAIL(plan, PlanQuery("SELECT block_num FROM eth_firehose.logs", catalog));
  }
  std::unique_ptr<Executor> executor;
  SQL_ASSIGN_OR_FAIL(executor, plan->MakeExecutor());
  std::shared_ptr<arrow::RecordBatch> out;
  SQL_ASSIGN_OR_FAIL(out, executor->Consume(testing::MakeLogRange(1, 3)));
  EXPECT_EQ(out->num_rows(), 3);
}

}  // namespace
}  // namespace amp::devnet::sql
