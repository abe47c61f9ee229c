// Golden tests of the parallel query rewriter: every expected output is spelled out.
#include "parallel/query_rewrite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace amp::parallel {
namespace {

using ::testing::HasSubstr;

SplitQuery Split(std::string_view sql) {
  auto r = SplitSettings(sql);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SplitQuery{};
}

std::string Partition(std::string_view sql, BlockNumber start, BlockNumber end,
                      std::string_view column = "block_num") {
  return PartitionQuery(Split(sql), column, start, end);
}

std::string ErrorOf(std::string_view sql) {
  auto r = SplitSettings(sql);
  EXPECT_FALSE(r.ok()) << "accepted: " << sql;
  return r.ok() ? "" : r.status().message();
}

TEST(QueryRewrite, SimpleQuery) {
  EXPECT_EQ(Partition("SELECT * FROM eth_firehose.blocks", 100, 200),
            "SELECT * FROM (\n"
            "SELECT * FROM eth_firehose.blocks\n"
            ") AS _amp_partition WHERE \"block_num\" >= 100 AND \"block_num\" < 200 "
            "ORDER BY \"block_num\"");
}

TEST(QueryRewrite, WhereWithOrStaysGrouped) {
  EXPECT_EQ(Partition("SELECT block_num, address FROM eth_firehose.logs "
                      "WHERE address = x'aa' OR topic0 = x'bb'",
                      0, 50),
            "SELECT * FROM (\n"
            "SELECT block_num, address FROM eth_firehose.logs WHERE address = x'aa' OR "
            "topic0 = x'bb'\n"
            ") AS _amp_partition WHERE \"block_num\" >= 0 AND \"block_num\" < 50 "
            "ORDER BY \"block_num\"");
}

TEST(QueryRewrite, SubqueryWithItsOwnWhereAndOrderBy) {
  EXPECT_EQ(Partition("SELECT t.block_num, t.n FROM (SELECT block_num, count(*) AS n FROM "
                      "eth_firehose.logs WHERE log_index < 3 GROUP BY block_num ORDER BY "
                      "block_num) AS t WHERE t.n > 1",
                      10, 20),
            "SELECT * FROM (\n"
            "SELECT t.block_num, t.n FROM (SELECT block_num, count(*) AS n FROM "
            "eth_firehose.logs WHERE log_index < 3 GROUP BY block_num ORDER BY block_num) AS t "
            "WHERE t.n > 1\n"
            ") AS _amp_partition WHERE \"block_num\" >= 10 AND \"block_num\" < 20 "
            "ORDER BY \"block_num\"");
}

TEST(QueryRewrite, Cte) {
  EXPECT_EQ(Partition("WITH b AS (SELECT block_num, hash FROM eth_firehose.blocks) "
                      "SELECT * FROM b",
                      5, 6),
            "SELECT * FROM (\n"
            "WITH b AS (SELECT block_num, hash FROM eth_firehose.blocks) SELECT * FROM b\n"
            ") AS _amp_partition WHERE \"block_num\" >= 5 AND \"block_num\" < 6 "
            "ORDER BY \"block_num\"");
}

TEST(QueryRewrite, StreamSettingRemoved) {
  SplitQuery q = Split("SELECT * FROM eth_firehose.blocks SETTINGS stream = true");
  EXPECT_EQ(q.body, "SELECT * FROM eth_firehose.blocks");
  EXPECT_TRUE(q.had_stream_setting);
  EXPECT_EQ(q.stream_value, "true");
  EXPECT_TRUE(q.settings.empty());
  EXPECT_EQ(PartitionQuery(q, "block_num", 1, 2),
            "SELECT * FROM (\n"
            "SELECT * FROM eth_firehose.blocks\n"
            ") AS _amp_partition WHERE \"block_num\" >= 1 AND \"block_num\" < 2 "
            "ORDER BY \"block_num\"");
  EXPECT_EQ(LiveQuery(q), "SELECT * FROM eth_firehose.blocks");
}

TEST(QueryRewrite, UppercaseStreamRemovedOtherSettingsKept) {
  SplitQuery q = Split("SELECT * FROM eth_firehose.blocks SETTINGS STREAM = True, foo = 1");
  EXPECT_TRUE(q.had_stream_setting);
  EXPECT_EQ(q.stream_value, "True");
  ASSERT_EQ(q.settings.size(), 1u);
  EXPECT_EQ(q.settings[0].key, "foo");
  EXPECT_EQ(q.settings[0].value, "1");
  EXPECT_EQ(PartitionQuery(q, "block_num", 0, 10),
            "SELECT * FROM (\n"
            "SELECT * FROM eth_firehose.blocks\n"
            ") AS _amp_partition WHERE \"block_num\" >= 0 AND \"block_num\" < 10 "
            "ORDER BY \"block_num\"\n"
            "SETTINGS foo = 1");
  EXPECT_EQ(LiveQuery(q), "SELECT * FROM eth_firehose.blocks\nSETTINGS foo = 1");
}

TEST(QueryRewrite, SettingsValuesKeptVerbatimInOrder) {
  SplitQuery q =
      Split("select 1 as block_num settings a = 'x,y', \"Stream\" = false, b = -2, c = 1.5");
  EXPECT_EQ(q.body, "select 1 as block_num");
  EXPECT_TRUE(q.had_stream_setting);  // quoted key compared without its quotes
  EXPECT_EQ(q.stream_value, "false");
  ASSERT_EQ(q.settings.size(), 3u);
  EXPECT_EQ(q.settings[0].key, "a");
  EXPECT_EQ(q.settings[0].value, "'x,y'");
  EXPECT_EQ(q.settings[1].value, "-2");
  EXPECT_EQ(q.settings[2].value, "1.5");
  EXPECT_EQ(LiveQuery(q), "select 1 as block_num\nSETTINGS a = 'x,y', b = -2, c = 1.5");
}

TEST(QueryRewrite, KeywordsInsideStringsCommentsAndQuotedIdentifiersIgnored) {
  const char* sql =
      "SELECT \"SETTINGS stream = true\" AS \"a\"\"b\", 'it''s SETTINGS stream = true; LIMIT 1' "
      "AS s /* SETTINGS stream = true; LIMIT 5 */ FROM t -- SETTINGS x = 1; LIMIT 2\n"
      "WHERE block_num > 0";
  SplitQuery q = Split(sql);
  EXPECT_EQ(q.body, sql);
  EXPECT_FALSE(q.had_stream_setting);
  EXPECT_TRUE(q.settings.empty());
  EXPECT_TRUE(CheckPartitionable(q).ok());
}

TEST(QueryRewrite, BlockCommentsNest) {
  const char* sql = "SELECT * /* a /* b */ SETTINGS stream = true; LIMIT 1 */ FROM t";
  SplitQuery q = Split(sql);
  EXPECT_EQ(q.body, sql);
  EXPECT_FALSE(q.had_stream_setting);
  EXPECT_TRUE(CheckPartitionable(q).ok());
  EXPECT_EQ(ErrorOf("SELECT 1 /* a /* b */"), "query rewrite: unterminated /* comment at byte 9");
}

TEST(QueryRewrite, SettingsInsideSubqueryIsNotTheClause) {
  const char* sql = "SELECT * FROM (SELECT * FROM t SETTINGS stream = true) AS x";
  SplitQuery q = Split(sql);
  EXPECT_EQ(q.body, sql);
  EXPECT_FALSE(q.had_stream_setting);
}

TEST(QueryRewrite, ColumnNamedSettingsIsNotTheClause) {
  for (const char* sql : {"SELECT settings FROM t", "SELECT a, settings FROM t",
                          "SELECT * FROM t ORDER BY settings", "SELECT t.settings FROM t",
                          "SELECT a AS settings FROM t WHERE settings = 1"}) {
    SplitQuery q = Split(sql);
    EXPECT_EQ(q.body, sql);
    EXPECT_TRUE(q.settings.empty()) << sql;
  }
}

TEST(QueryRewrite, TrailingSemicolonAndWhitespace) {
  EXPECT_EQ(Split("  SELECT * FROM t ;  \n").body, "SELECT * FROM t");
  EXPECT_EQ(Split("SELECT * FROM t;;").body, "SELECT * FROM t");
  EXPECT_EQ(Split("SELECT * FROM t SETTINGS stream = true;").body, "SELECT * FROM t");
  EXPECT_EQ(Split("SELECT * FROM t; -- done").body, "SELECT * FROM t");
  EXPECT_EQ(Split("SELECT ';' AS x FROM t;").body, "SELECT ';' AS x FROM t");
}

TEST(QueryRewrite, LineCommentAtTheEndIsSafe) {
  EXPECT_EQ(Partition("SELECT * FROM t -- my query", 0, 3),
            "SELECT * FROM (\n"
            "SELECT * FROM t -- my query\n"
            ") AS _amp_partition WHERE \"block_num\" >= 0 AND \"block_num\" < 3 "
            "ORDER BY \"block_num\"");
  EXPECT_EQ(LiveQuery(Split("SELECT * FROM t -- my query")), "SELECT * FROM t -- my query\n");
  // A comment before SETTINGS stays in the body; comments in the clause are dropped.
  SplitQuery q = Split("SELECT * FROM t -- c1\nSETTINGS stream = true, /* c2 */ a = 1 -- c3");
  EXPECT_EQ(q.body, "SELECT * FROM t -- c1");
  EXPECT_EQ(LiveQuery(q), "SELECT * FROM t -- c1\nSETTINGS a = 1");
}

TEST(QueryRewrite, CustomBlockColumnIsQuoted) {
  EXPECT_EQ(Partition("SELECT * FROM t", 7, 9, "_block_num"),
            "SELECT * FROM (\n"
            "SELECT * FROM t\n"
            ") AS _amp_partition WHERE \"_block_num\" >= 7 AND \"_block_num\" < 9 "
            "ORDER BY \"_block_num\"");
  EXPECT_EQ(QuoteIdentifier("we\"ird"), "\"we\"\"ird\"");
}

TEST(QueryRewrite, HugeBlockNumbers) {
  EXPECT_EQ(Partition("SELECT * FROM t", 18446744073709551614ull, 18446744073709551615ull),
            "SELECT * FROM (\n"
            "SELECT * FROM t\n"
            ") AS _amp_partition WHERE \"block_num\" >= 18446744073709551614 AND "
            "\"block_num\" < 18446744073709551615 ORDER BY \"block_num\"");
}

TEST(QueryRewrite, MultipleStatementsRejected) {
  std::string msg = ErrorOf("SELECT 1; SELECT 2");
  EXPECT_THAT(msg, HasSubstr("more than one statement"));
  EXPECT_THAT(msg, HasSubstr("at byte 10"));
  EXPECT_THAT(ErrorOf("SELECT 1; DROP TABLE x; --"), HasSubstr("more than one statement"));
}

TEST(QueryRewrite, LexErrorsNameTheOffset) {
  EXPECT_EQ(ErrorOf(""), "query rewrite: empty statement");
  EXPECT_EQ(ErrorOf("  ;  -- nothing"), "query rewrite: empty statement");
  EXPECT_EQ(ErrorOf("SELECT 'abc FROM t"),
            "query rewrite: unterminated string literal at byte 7");
  EXPECT_EQ(ErrorOf("SELECT 'it''s FROM t"),
            "query rewrite: unterminated string literal at byte 7");
  EXPECT_EQ(ErrorOf("SELECT \"abc FROM t"),
            "query rewrite: unterminated quoted identifier at byte 7");
  EXPECT_EQ(ErrorOf("SELECT 1 /* abc"), "query rewrite: unterminated /* comment at byte 9");
  EXPECT_EQ(ErrorOf("SELECT (1 FROM t"),
            "query rewrite: unbalanced parentheses: '(' never closed at byte 7");
  EXPECT_EQ(ErrorOf("SELECT 1) FROM t"),
            "query rewrite: unbalanced parentheses: ')' without '(' at byte 8");
}

TEST(QueryRewrite, MalformedSettingsRejected) {
  EXPECT_EQ(ErrorOf("SELECT * FROM t SETTINGS"),
            "query rewrite: malformed SETTINGS clause: no setting after SETTINGS at byte 16");
  EXPECT_EQ(ErrorOf("SELECT * FROM t SETTINGS stream true"),
            "query rewrite: malformed SETTINGS clause: expected '=' after setting 'stream' at "
            "byte 32");
  EXPECT_EQ(ErrorOf("SELECT * FROM t SETTINGS stream ="),
            "query rewrite: malformed SETTINGS clause: expected a value for setting 'stream' "
            "at byte 33");
  EXPECT_EQ(ErrorOf("SELECT * FROM t SETTINGS stream = true,"),
            "query rewrite: malformed SETTINGS clause: a setting must follow the ',' at byte 38");
  EXPECT_THAT(ErrorOf("SELECT * FROM t SETTINGS a = 1 b = 2"),
              HasSubstr("expected ',' or the end of the statement after the value of setting "
                        "'a', found 'b' at byte 31"));
}

TEST(QueryRewrite, TopLevelLimitNotPartitionable) {
  for (const char* sql : {"SELECT * FROM t LIMIT 10", "SELECT * FROM t ORDER BY x OFFSET 5",
                          "SELECT * FROM t FETCH FIRST 3 ROWS ONLY",
                          "SELECT * FROM t limit 1 SETTINGS stream = true"}) {
    Status st = CheckPartitionable(Split(sql));
    EXPECT_TRUE(st.IsInvalid()) << sql;
    EXPECT_THAT(st.message(), HasSubstr("cannot be partitioned")) << sql;
  }
  EXPECT_THAT(CheckPartitionable(Split("SELECT * FROM t LIMIT 10")).message(),
              HasSubstr("top-level LIMIT (at byte 16 of the query)"));
}

TEST(QueryRewrite, LimitInsideSubqueryOrCteIsPartitionable) {
  for (const char* sql :
       {"SELECT * FROM (SELECT * FROM t ORDER BY block_num LIMIT 10) AS x",
        "WITH x AS (SELECT * FROM t ORDER BY block_num LIMIT 10) SELECT * FROM x",
        "SELECT * FROM t WHERE block_num IN (SELECT block_num FROM u LIMIT 3)",
        "SELECT 'LIMIT 1' AS s, \"limit\" FROM t -- LIMIT 2", "SELECT t.limit FROM t"}) {
    EXPECT_TRUE(CheckPartitionable(Split(sql)).ok()) << sql;
  }
}

// Random statements built from tricky fragments: the lexer never crashes, and whatever
// it accepts round-trips: splitting a partition query again yields the same kept
// settings, no stream setting, and the wrapper around the same body.
TEST(QueryRewrite, RandomStatementsRoundTrip) {
  const std::vector<std::string> fragments = {
      "SELECT", " * ", " FROM t", " WHERE", " a = 'x''y'", " \"q\"\"id\"", " -- c\n",
      " /* SETTINGS stream = true */", " (SELECT 1 LIMIT 2)", " OR b < 3", " settings",
      " SETTINGS stream = true", " SETTINGS a = 1, b = 'z'", " ;", " (", " )", " 'open",
      " \"open", " /* open", " E'a\\'b'", " x'ab'", " LIMIT 5", " ORDER BY block_num"};
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string sql = "SELECT * FROM t";
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) sql += fragments[rng() % fragments.size()];
    auto split = SplitSettings(sql);
    if (!split.ok()) {
      EXPECT_TRUE(split.status().IsInvalid()) << sql;
      EXPECT_THAT(split.status().message(), HasSubstr("query rewrite: ")) << sql;
      continue;
    }
    ++accepted;
    std::string wrapped = PartitionQuery(*split, "block_num", 3, 9);
    auto again = SplitSettings(wrapped);
    ASSERT_TRUE(again.ok()) << sql << "\n->\n" << wrapped << "\n" << again.status().ToString();
    EXPECT_FALSE(again->had_stream_setting) << wrapped;
    ASSERT_EQ(again->settings.size(), split->settings.size()) << wrapped;
    for (size_t i = 0; i < split->settings.size(); ++i) {
      EXPECT_EQ(again->settings[i].key, split->settings[i].key);
      EXPECT_EQ(again->settings[i].value, split->settings[i].value);
    }
    EXPECT_EQ(again->body, PartitionQuery(SplitQuery{split->body, {}, false, ""}, "block_num", 3,
                                          9));
    EXPECT_TRUE(CheckPartitionable(*again).ok()) << wrapped;  // the LIMIT is now nested
  }
  EXPECT_GT(accepted, 300);
}

TEST(QueryRewrite, HeadQuery) {
  EXPECT_EQ(*HeadQuery("eth_firehose.logs", "block_num"),
            "SELECT MAX(\"block_num\") AS max_block FROM eth_firehose.logs");
  EXPECT_EQ(*HeadQuery("\"_/x@1.0.0\".logs", "_block_num"),
            "SELECT MAX(\"_block_num\") AS max_block FROM \"_/x@1.0.0\".logs");
  EXPECT_TRUE(HeadQuery("", "block_num").status().IsInvalid());
  EXPECT_TRUE(HeadQuery("t; DROP TABLE x", "block_num").status().IsInvalid());
  EXPECT_TRUE(HeadQuery("t -- x", "block_num").status().IsInvalid());
  EXPECT_TRUE(HeadQuery("t", "").status().IsInvalid());
}

TEST(QueryRewrite, BlockHashQuery) {
  EXPECT_EQ(*BlockHashQuery("eth_firehose.blocks", 12345),
            "SELECT \"block_num\", \"hash\" FROM eth_firehose.blocks WHERE \"block_num\" = 12345");
  EXPECT_TRUE(BlockHashQuery("a;b", 1).status().IsInvalid());
  EXPECT_TRUE(BlockHashQuery(" ", 1).status().IsInvalid());
}

TEST(QueryRewrite, DefaultBlocksTable) {
  EXPECT_EQ(*DefaultBlocksTable("eth_firehose.logs"), "eth_firehose.blocks");
  EXPECT_EQ(*DefaultBlocksTable("\"_/x@1.0.0\".logs"), "\"_/x@1.0.0\".blocks");
  EXPECT_EQ(*DefaultBlocksTable("\"a.b\".\"c.d\""), "\"a.b\".blocks");
  EXPECT_EQ(*DefaultBlocksTable("cat.ds.transactions"), "cat.ds.blocks");
  EXPECT_TRUE(DefaultBlocksTable("logs").status().IsInvalid());
  EXPECT_TRUE(DefaultBlocksTable("\"x.logs\"").status().IsInvalid());
  EXPECT_TRUE(DefaultBlocksTable("eth.").status().IsInvalid());
  EXPECT_TRUE(DefaultBlocksTable("").status().IsInvalid());
}

}  // namespace
}  // namespace amp::parallel
