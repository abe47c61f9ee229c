#include "devnet/sql/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "devnet/sql/sql_test_util.h"

namespace amp::devnet::sql {
namespace {

TEST(SqlParserTest, AcceptsTheDialect) {
  const std::vector<std::string> accepted = {
      "SELECT * FROM eth_firehose.blocks",
      "select * from eth_firehose.blocks;",
      "SELECT * FROM eth_firehose.blocks ;  ",
      "SELECT block_num, hash FROM eth_firehose.blocks",
      "SELECT b.* FROM eth_firehose.blocks b",
      "SELECT b.* FROM eth_firehose.blocks AS b",
      "SELECT eth_firehose.blocks.block_num FROM eth_firehose.blocks",
      "SELECT \"block_num\" AS \"Block Number\", hash h FROM \"_/eth_firehose@1.0.0\".blocks",
      "SELECT `block_num` FROM `eth_firehose`.`blocks`",
      "SELECT * FROM \"_/eth_firehose@1.0.0\".\"blocks\" AS x WHERE x.block_num >= 10",
      "SELECT * FROM eth_firehose.blocks WHERE block_num = 1 AND (hash = 0xab OR NOT block_num <> 2)",
      "SELECT * FROM eth_firehose.blocks WHERE block_num IN (1, 2, 3) AND block_num NOT IN (4)",
      "SELECT * FROM eth_firehose.blocks WHERE block_num BETWEEN 1 AND 10",
      "SELECT * FROM eth_firehose.blocks WHERE block_num NOT BETWEEN 1 AND 10",
      "SELECT * FROM eth_firehose.logs WHERE topic0 IS NULL OR topic0 IS NOT NULL",
      "SELECT * FROM eth_firehose.blocks WHERE block_num > -1 AND block_num >= +2",
      "SELECT * FROM eth_firehose.blocks WHERE hash = X'00ff' OR hash = '0xAB'",
      "SELECT * FROM eth_firehose.blocks WHERE block_num == 3 OR block_num != 4",
      "SELECT * FROM eth_firehose.blocks WHERE TRUE AND NOT FALSE AND block_num <> NULL",
      "SELECT MIN(block_num), MAX(block_num) AS hi, COUNT(*), count(hash) n FROM eth_firehose.blocks",
      "SELECT * FROM eth_firehose.blocks LIMIT 10",
      "SELECT * FROM eth_firehose.blocks LIMIT 10 OFFSET 5",
      "SELECT * FROM eth_firehose.blocks OFFSET 5 LIMIT 10",
      "SELECT * FROM eth_firehose.blocks LIMIT ALL",
      "SELECT * FROM eth_firehose.blocks ORDER BY block_num",
      "SELECT * FROM eth_firehose.blocks ORDER BY _block_num ASC NULLS LAST LIMIT 3",
      "SELECT * FROM eth_firehose.blocks SETTINGS stream = true",
      "SELECT * FROM eth_firehose.blocks LIMIT 5 SETTINGS stream = false, foo = 'bar', x = 1",
      "SELECT * FROM eth_firehose.blocks SETTINGS stream = -1, mode = fast",
      "SELECT * FROM (SELECT block_num FROM eth_firehose.blocks) AS t",
      "SELECT * FROM (SELECT block_num FROM eth_firehose.blocks) t",
      "SELECT * FROM (SELECT block_num FROM eth_firehose.blocks)",
      "SELECT * FROM ((SELECT block_num FROM eth_firehose.blocks)) t",
      "(SELECT * FROM eth_firehose.blocks) LIMIT 3",
      "WITH a AS (SELECT * FROM eth_firehose.blocks), b AS (SELECT * FROM a) SELECT * FROM b",
      "WITH a AS MATERIALIZED (SELECT * FROM eth_firehose.blocks) SELECT * FROM a",
      "SELECT * FROM (WITH a AS (SELECT * FROM eth_firehose.blocks) SELECT * FROM a) AS x",
      "SELECT * FROM (SELECT * FROM eth_firehose.logs WHERE address = 0x01) AS _amp_partition "
      "WHERE _amp_partition.block_num >= 0 AND _amp_partition.block_num < 100",
      "-- leading comment\nSELECT /* inline /* nested */ comment */ * FROM eth_firehose.blocks -- end",
      "SELECT\n  block_num\nFROM\n  eth_firehose.blocks\nWHERE\n  block_num > 1\n",
      "SELECT 1, 'a', NULL, TRUE FROM eth_firehose.blocks",
      "SELECT foo(1) FROM eth_firehose.blocks",  // unknown functions are a planning error
      "SELECT ALL block_num FROM eth_firehose.blocks",
      "SELECT timestamp, index, value, to FROM eth_firehose.calls",
  };
  for (const auto& sql : accepted) {
    auto query = ParseQuery(sql);
    EXPECT_TRUE(query.ok()) << sql << "\n -> " << query.status().ToString();
  }
}

TEST(SqlParserTest, RejectsUnsupportedConstructsByName) {
  const std::vector<std::pair<std::string, std::string>> rejected = {
      {"SELECT * FROM eth_firehose.blocks b JOIN eth_firehose.logs l ON b.block_num = l.block_num",
       "JOIN is not supported by the devnet"},
      {"SELECT * FROM eth_firehose.blocks LEFT JOIN eth_firehose.logs USING (block_num)",
       "JOIN is not supported by the devnet"},
      {"SELECT * FROM eth_firehose.blocks CROSS JOIN eth_firehose.logs", "JOIN is not supported"},
      {"SELECT * FROM eth_firehose.blocks, eth_firehose.logs", "JOIN (several tables in FROM)"},
      {"SELECT * FROM eth_firehose.blocks UNION SELECT * FROM eth_firehose.blocks",
       "UNION is not supported by the devnet"},
      {"SELECT * FROM eth_firehose.blocks UNION ALL SELECT * FROM eth_firehose.blocks",
       "UNION is not supported"},
      {"SELECT * FROM eth_firehose.blocks EXCEPT SELECT * FROM eth_firehose.blocks",
       "EXCEPT is not supported"},
      {"SELECT * FROM eth_firehose.blocks INTERSECT SELECT * FROM eth_firehose.blocks",
       "INTERSECT is not supported"},
      {"SELECT block_num, COUNT(*) FROM eth_firehose.blocks GROUP BY ALL",
       "GROUP BY ALL is not supported"},
      {"SELECT * FROM eth_firehose.blocks WINDOW w AS (ORDER BY block_num)", "WINDOW is not supported"},
      {"SELECT DISTINCT ON (miner) block_num FROM eth_firehose.blocks", "DISTINCT ON is not supported"},
      {"SELECT COUNT(DISTINCT block_num) FROM eth_firehose.blocks", "DISTINCT is not supported"},
      {"SELECT ROW_NUMBER() OVER (ORDER BY block_num) FROM eth_firehose.blocks",
       "window function (OVER) is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash LIKE 'a%'", "LIKE is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash NOT LIKE 'a%'", "LIKE is not supported"},
      {"SELECT block_num + 1 FROM eth_firehose.blocks", "operator '+' is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num - 1 > 3", "operator '-' is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num % 2 = 0", "operator '%' is not supported"},
      {"SELECT value || 'x' FROM eth_firehose.blocks", "operator '||' is not supported"},
      {"SELECT -block_num FROM eth_firehose.blocks", "unary operator '-' on a non-literal"},
      {"SELECT block_num::text FROM eth_firehose.blocks", "CAST ('::') is not supported"},
      {"SELECT CAST(block_num AS VARCHAR) FROM eth_firehose.blocks", "CAST is not supported"},
      {"SELECT CASE WHEN block_num > 1 THEN 1 END FROM eth_firehose.blocks", "CASE is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num IN (SELECT block_num FROM eth_firehose.logs)",
       "IN (subquery) is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE EXISTS (SELECT 1 FROM eth_firehose.logs)",
       "EXISTS is not supported"},
      {"SELECT (SELECT MAX(block_num) FROM eth_firehose.logs) FROM eth_firehose.blocks",
       "scalar subquery is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num > 1.5",
       "non-integer numeric literal 1.5 is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num > 1e3", "non-integer numeric literal 1e3"},
      {"WITH RECURSIVE a AS (SELECT 1) SELECT * FROM a", "WITH RECURSIVE is not supported"},
      {"WITH a (x) AS (SELECT block_num FROM eth_firehose.blocks) SELECT * FROM a",
       "a column list on a CTE is not supported"},
      {"SELECT * FROM eth_firehose.blocks AS b (x, y)", "a column list on a table alias is not supported"},
      {"SELECT * FROM generate_series(1, 10)", "table function is not supported"},
      {"SELECT * FROM UNNEST([1, 2])", "UNNEST is not supported"},
      {"INSERT INTO eth_firehose.blocks VALUES (1)",
       "INSERT statements are not supported by the devnet; only SELECT queries are"},
      {"CREATE TABLE x (a INT)", "CREATE statements are not supported"},
      {"EXPLAIN SELECT * FROM eth_firehose.blocks", "EXPLAIN statements are not supported"},
      {"VALUES (1), (2)", "VALUES is not supported"},
      {"SELECT * FROM eth_firehose.blocks; SELECT * FROM eth_firehose.blocks",
       "only a single SQL statement is supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num IS TRUE", "IS TRUE is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash IS DISTINCT FROM 0x00", "IS DISTINCT is not supported"},
      {"SELECT * EXCLUDE (hash) FROM eth_firehose.blocks", "SELECT * EXCLUDE is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num = ?", "query parameter is not supported"},
      {"SELECT * FROM eth_firehose.blocks FETCH FIRST 3 ROWS ONLY", "FETCH is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE timestamp > TIMESTAMP '2024-01-01'",
       "typed literal TIMESTAMP '...' is not supported"},
      {"SELECT * FROM eth_firehose.blocks LIMIT 1, 2", "LIMIT <offset>, <count> is not supported"},
      {"SELECT * FROM eth_firehose.blocks WHERE (block_num, hash) = (1, 0x00)",
       "tuple expression is not supported"},
  };
  for (const auto& [sql, expected] : rejected) {
    auto query = ParseQuery(sql);
    ASSERT_FALSE(query.ok()) << sql;
    EXPECT_TRUE(query.status().IsInvalid()) << sql << " -> " << query.status().ToString();
    EXPECT_NE(query.status().message().find(expected), std::string::npos)
        << sql << "\n  expected substring: " << expected
        << "\n  got: " << query.status().message();
  }
}

TEST(SqlParserTest, SyntaxErrorsNameTokenAndPosition) {
  const std::vector<std::pair<std::string, std::string>> errors = {
      {"SELECT FROM eth_firehose.blocks",
       "sql parser error: Expected: an expression, found: FROM at Line: 1, Column: 8"},
      {"SELECT * FROM", "Expected: a table name, found: EOF at Line: 1, Column: 14"},
      {"SELECT *\nFROM eth_firehose.blocks\nWHERE", "Expected: an expression, found: EOF at Line: 3, Column: 6"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num >", "Expected: an expression, found: EOF"},
      {"SELECT * FROM eth_firehose.blocks WHERE (block_num > 1", "Expected: ), found: EOF"},
      {"SELECT * FROM eth_firehose.blocks LIMIT x", "Expected: a non-negative integer after LIMIT, found: x"},
      {"SELECT * FROM eth_firehose.blocks LIMIT -1", "LIMIT must be a non-negative integer"},
      {"SELECT * FROM eth_firehose.blocks LIMIT 99999999999999999999",
       "LIMIT must be a non-negative integer below 2^64, found 99999999999999999999"},
      {"SELECT * FROM eth_firehose.blocks OFFSET 18446744073709551616", "OFFSET must be"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash = 'abc", "Unterminated string literal at Line: 1, Column: 48"},
      {"SELECT \"abc FROM t", "Unterminated quoted identifier"},
      {"SELECT * /* never closed FROM t", "Unterminated block comment"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash = 0xabc", "hex literal 0xabc has an odd number of digits"},
      {"SELECT * FROM eth_firehose.blocks WHERE hash = 0xzz", "invalid hex literal 0xzz"},
      {"SELECT # FROM t", "Expected: an expression, found: #"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num > 1 block_num", "Expected: end of statement, found: block_num"},
      {"SELECT * FROM eth_firehose.blocks SETTINGS stream", "Expected: =, found: EOF"},
      {"SELECT * FROM eth_firehose.blocks SETTINGS stream = true LIMIT 1", "Expected: end of statement, found: LIMIT"},
      {"", "Expected: an SQL statement, found: EOF"},
      {"   -- only a comment", "Expected: an SQL statement, found: EOF"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num IN ()", "Expected: an expression in the IN list, found: )"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num NOT 5", "Expected: end of statement, found: NOT"},
      {"SELECT * FROM eth_firehose.blocks WHERE block_num > 123456789012345678901234567890123456789",
       "integer literal 123456789012345678901234567890123456789 is out of range"},
      {"SELECT \u00e9 FROM", "Expected: a table name, found: EOF"},
  };
  for (const auto& [sql, expected] : errors) {
    auto query = ParseQuery(sql);
    ASSERT_FALSE(query.ok()) << sql;
    EXPECT_TRUE(query.status().IsInvalid()) << sql;
    EXPECT_NE(query.status().message().find(expected), std::string::npos)
        << sql << "\n  expected substring: " << expected
        << "\n  got: " << query.status().message();
  }
}

TEST(SqlParserTest, NestingDepthIsBoundedNotACrash) {
  std::string deep = "SELECT * FROM eth_firehose.blocks WHERE " + std::string(5000, '(') + "TRUE" +
                     std::string(5000, ')');
  auto query = ParseQuery(deep);
  ASSERT_FALSE(query.ok());
  EXPECT_NE(query.status().message().find("nested too deeply"), std::string::npos);
  std::string nots = "SELECT * FROM eth_firehose.blocks WHERE ";
  for (int i = 0; i < 5000; ++i) nots += "NOT ";
  nots += "TRUE";
  EXPECT_FALSE(ParseQuery(nots).ok());
  std::string chain = "SELECT * FROM eth_firehose.blocks WHERE block_num = 0";
  for (int i = 1; i < 5000; ++i) chain += " AND block_num = " + std::to_string(i);
  auto long_chain = ParseQuery(chain);
  ASSERT_FALSE(long_chain.ok());
  EXPECT_NE(long_chain.status().message().find("expression is nested too deeply"), std::string::npos);
  // A realistic chain is fine.
  std::string ok_chain = "SELECT * FROM eth_firehose.blocks WHERE block_num = 0";
  for (int i = 1; i < 100; ++i) ok_chain += " OR block_num = " + std::to_string(i);
  EXPECT_TRUE(ParseQuery(ok_chain).ok());
}

TEST(SqlParserTest, BuildsTheExpectedTree) {
  std::unique_ptr<ast::Query> q;
  SQL_ASSIGN_OR_FAIL(q, ParseQuery(
      "WITH c AS (SELECT * FROM \"_/Eth_Firehose@1.0.0\".Logs) "
      "SELECT Block_Num AS \"Num\", \"MixedCase\" x, t.* FROM c t "
      "WHERE block_num >= -5 AND hash = 0xABcd AND value IN ('a', NULL) "
      "ORDER BY block_num LIMIT 7 OFFSET 2 SETTINGS Stream = TRUE, other = 'x'"));
  ASSERT_EQ(q->ctes.size(), 1u);
  EXPECT_EQ(q->ctes[0].name.value, "c");
  const ast::Select& inner = *q->ctes[0].query->select;
  ASSERT_TRUE(inner.from.has_value());
  ASSERT_EQ(inner.from->name.size(), 2u);
  EXPECT_EQ(inner.from->name[0].value, "_/Eth_Firehose@1.0.0");  // quoted: case kept
  EXPECT_TRUE(inner.from->name[0].quoted);
  EXPECT_EQ(inner.from->name[1].value, "logs");  // unquoted: lower-cased

  const ast::Select& select = *q->select;
  ASSERT_EQ(select.items.size(), 3u);
  EXPECT_EQ(select.items[0].expr->name[0].value, "block_num");
  EXPECT_EQ(select.items[0].alias->value, "Num");
  EXPECT_EQ(select.items[1].expr->name[0].value, "MixedCase");
  EXPECT_EQ(select.items[1].alias->value, "x");
  EXPECT_EQ(select.items[2].kind, ast::SelectItem::Kind::kQualifiedWildcard);
  EXPECT_EQ(select.items[2].qualifier[0].value, "t");
  EXPECT_EQ(select.from->name[0].value, "c");
  EXPECT_EQ(select.from->alias->value, "t");

  // WHERE ((block_num >= -5 AND hash = 0xABcd) AND value IN ('a', NULL))
  const ast::Expr& where = *select.where;
  ASSERT_EQ(where.kind, ast::Expr::Kind::kAnd);
  const ast::Expr& in = *where.children[1];
  ASSERT_EQ(in.kind, ast::Expr::Kind::kInList);
  ASSERT_EQ(in.children.size(), 3u);
  EXPECT_EQ(in.children[2]->literal.kind, ast::Literal::Kind::kNull);
  const ast::Expr& ge = *where.children[0]->children[0];
  ASSERT_EQ(ge.kind, ast::Expr::Kind::kCompare);
  EXPECT_EQ(ge.op, ast::CompareOp::kGe);
  EXPECT_EQ(ge.children[1]->literal.kind, ast::Literal::Kind::kInteger);
  EXPECT_TRUE(ge.children[1]->literal.int_value == -5);
  const ast::Expr& eq = *where.children[0]->children[1];
  EXPECT_EQ(eq.children[1]->literal.kind, ast::Literal::Kind::kHex);
  EXPECT_EQ(eq.children[1]->literal.bytes, std::string("\xab\xcd", 2));

  ASSERT_EQ(q->order_by.size(), 1u);
  EXPECT_TRUE(q->order_by[0].ascending);
  EXPECT_EQ(q->limit, std::optional<uint64_t>(7));
  EXPECT_EQ(q->offset, std::optional<uint64_t>(2));
  ASSERT_EQ(q->settings.size(), 2u);
  EXPECT_EQ(q->settings[0].key.value, "stream");
  EXPECT_EQ(q->settings[0].value.kind, ast::Literal::Kind::kBool);
  EXPECT_TRUE(q->settings[0].value.bool_value);
  EXPECT_EQ(q->settings[1].value.kind, ast::Literal::Kind::kString);
}

TEST(SqlParserTest, OperatorPrecedenceIsNotOverAndOverOr) {
  std::unique_ptr<ast::Query> q;
  SQL_ASSIGN_OR_FAIL(q, ParseQuery("SELECT * FROM d.t WHERE NOT a = 1 OR b = 2 AND c = 3"));
  const ast::Expr& where = *q->select->where;
  ASSERT_EQ(where.kind, ast::Expr::Kind::kOr);
  EXPECT_EQ(where.children[0]->kind, ast::Expr::Kind::kNot);
  EXPECT_EQ(where.children[0]->children[0]->kind, ast::Expr::Kind::kCompare);
  EXPECT_EQ(where.children[1]->kind, ast::Expr::Kind::kAnd);
}

TEST(SqlParserTest, DescribesPositions) {
  EXPECT_EQ(DescribePosition("ab\ncd", 0), "Line: 1, Column: 1");
  EXPECT_EQ(DescribePosition("ab\ncd", 4), "Line: 2, Column: 2");
}

}  // namespace
}  // namespace amp::devnet::sql
