#include "sql/query_text.h"

#include <gtest/gtest.h>

namespace amp::sql {
namespace {

TEST(SqlRequestsStreaming, TopLevelSettingsStreamTrue) {
  EXPECT_TRUE(RequestsStreaming(
      "SELECT block_num, hash FROM anvil_rpc.blocks SETTINGS stream = true"));
  EXPECT_TRUE(RequestsStreaming("select 1 settings STREAM = True"));
  EXPECT_TRUE(RequestsStreaming("SELECT 1 SETTINGS stream=TRUE;"));
  EXPECT_TRUE(RequestsStreaming("SELECT 1\nSETTINGS\n  foo = 1,\n  stream = true"));
  EXPECT_TRUE(RequestsStreaming("SELECT 1 SETTINGS stream = true, foo = 'x'"));
  EXPECT_TRUE(RequestsStreaming("SELECT 1 SETTINGS \"stream\" = true"));
  EXPECT_TRUE(RequestsStreaming(
      "WITH x AS (SELECT * FROM t) SELECT * FROM x WHERE a = '(' SETTINGS stream = true"));
  EXPECT_TRUE(RequestsStreaming("SELECT 1 /* c */ SETTINGS /* c */ stream -- c\n = true"));
}

TEST(SqlRequestsStreaming, OnlyTheBooleanLiteralTrueCounts) {
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream = 1"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream = 'true'"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream = false"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream = \"true\""));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream = true AND x"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS streaming = true"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS xstream = true"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1"));
  EXPECT_FALSE(RequestsStreaming(""));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 SETTINGS stream ="));
}

TEST(SqlRequestsStreaming, IgnoresLiteralsCommentsAndQuotedIdentifiers) {
  EXPECT_FALSE(RequestsStreaming("SELECT 'x SETTINGS stream = true' AS s"));
  EXPECT_FALSE(RequestsStreaming("SELECT 'it''s SETTINGS stream = true' AS s"));
  EXPECT_FALSE(RequestsStreaming("SELECT E'\\' SETTINGS stream = true' AS s"));
  EXPECT_FALSE(RequestsStreaming("SELECT $$ SETTINGS stream = true $$ AS s"));
  EXPECT_FALSE(RequestsStreaming("SELECT $t$ SETTINGS stream = true $t$ AS s"));
  EXPECT_FALSE(RequestsStreaming("SELECT \"SETTINGS stream = true\" FROM t"));
  EXPECT_FALSE(RequestsStreaming("SELECT `SETTINGS stream = true` FROM t"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 -- SETTINGS stream = true"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 /* SETTINGS stream = true */"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 /* a /* nested */ SETTINGS stream = true */"));
  EXPECT_FALSE(RequestsStreaming("SELECT 1 -- x\n/* SETTINGS stream = true"));
}

TEST(SqlRequestsStreaming, SubquerySettingsAreNotTopLevel) {
  EXPECT_FALSE(RequestsStreaming("SELECT * FROM (SELECT * FROM t SETTINGS stream = true)"));
  EXPECT_FALSE(RequestsStreaming(
      "WITH x AS (SELECT * FROM t SETTINGS stream = true) SELECT * FROM x"));
  EXPECT_TRUE(RequestsStreaming(
      "SELECT * FROM (SELECT * FROM t) s SETTINGS stream = true"));
}

TEST(SqlRequestsStreaming, SettingsAsAnIdentifierDoesNotConfuseIt) {
  EXPECT_FALSE(RequestsStreaming("SELECT settings FROM t WHERE stream = true"));
  EXPECT_TRUE(RequestsStreaming("SELECT settings FROM t SETTINGS stream = true"));
}

}  // namespace
}  // namespace amp::sql
