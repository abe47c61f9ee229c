// The SETTINGS rule and the wrapper every caller restricts a user query with; the
// partition, live and audit wrappers are this one function with their own alias.
#include "sql/query_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sql/lexer.h"

namespace amp::sql {
namespace {

using ::testing::HasSubstr;

TEST(SqlWrap, LiftsSettingsOutOfTheSubqueryAndDropsStream) {
  SplitQuery split =
      SplitSettings("SELECT * FROM t SETTINGS stream = true, batch_size = 10;").ValueOrDie();
  EXPECT_TRUE(split.had_stream_setting);
  EXPECT_EQ(Wrap(split, "_amp_x", "a > 1", "\"a\""),
            "SELECT * FROM (\nSELECT * FROM t\n) AS _amp_x WHERE a > 1 ORDER BY \"a\"\n"
            "SETTINGS batch_size = 10");
}

TEST(SqlWrap, WithoutSettingsOrOrderNothingFollowsThePredicate) {
  EXPECT_EQ(Wrap(SplitSettings("SELECT 1 -- note").ValueOrDie(), "_amp_x", "b = 2"),
            "SELECT * FROM (\nSELECT 1 -- note\n) AS _amp_x WHERE b = 2");
}

TEST(SqlQuoteIdentifier, DoublesEmbeddedQuotes) {
  EXPECT_EQ(QuoteIdentifier("block_num"), "\"block_num\"");
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
}

TEST(SqlTableRef, TrimsAndRefusesWhatIsNotOneTableReference) {
  EXPECT_EQ(TableRef("  eth.logs \n", "table_name").ValueOrDie(), "eth.logs");
  EXPECT_EQ(TableRef("\"_/x@1.0.0\".blocks", "blocks_table").ValueOrDie(),
            "\"_/x@1.0.0\".blocks");
  EXPECT_EQ(TableRef(" ", "table_name").status().message(), "table_name is empty");
  EXPECT_THAT(TableRef("t; DROP TABLE u", "blocks_table").status().message(),
              HasSubstr("blocks_table 't; DROP TABLE u' is not a valid table name"));
  EXPECT_THAT(TableRef("t -- x", "table_name").status().message(), HasSubstr("comment"));
  EXPECT_THAT(TableRef("'t", "table_name").status().message(),
              HasSubstr("unterminated string literal"));
}

TEST(SqlLex, DollarQuotedStringsAreOneToken) {
  auto tokens = Lex("SELECT $t$ ; ( $t$, $1");
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 4u);
  EXPECT_EQ((*tokens)[1].kind, TokenKind::kString);
  EXPECT_EQ((*tokens)[3].kind, TokenKind::kWord);
  EXPECT_THAT(Lex("SELECT $$ x").status().message(),
              HasSubstr("unterminated dollar-quoted string at byte 7"));
}

TEST(SqlLex, LenientLexingStopsAtTheUnterminatedLiteral) {
  EXPECT_EQ(LexLeniently("SELECT ) 'abc").size(), 2u);
  EXPECT_THAT(Lex("SELECT ) 'abc").status().message(),
              HasSubstr("')' without '(' at byte 7"));
}

}  // namespace
}  // namespace amp::sql
