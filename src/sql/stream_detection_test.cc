#include "flight/stream_detection.h"

#include <gtest/gtest.h>

namespace amp::flight {
namespace {

TEST(SqlRequestsStreaming, TopLevelSettingsStreamTrue) {
  EXPECT_TRUE(SqlRequestsStreaming(
      "SELECT block_num, hash FROM anvil_rpc.blocks SETTINGS stream = true"));
  EXPECT_TRUE(SqlRequestsStreaming("select 1 settings STREAM = True"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT 1 SETTINGS stream=TRUE;"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT 1\nSETTINGS\n  foo = 1,\n  stream = true"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = true, foo = 'x'"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT 1 SETTINGS \"stream\" = true"));
  EXPECT_TRUE(SqlRequestsStreaming(
      "WITH x AS (SELECT * FROM t) SELECT * FROM x WHERE a = '(' SETTINGS stream = true"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT 1 /* c */ SETTINGS /* c */ stream -- c\n = true"));
}

TEST(SqlRequestsStreaming, OnlyTheBooleanLiteralTrueCounts) {
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = 1"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = 'true'"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = false"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = \"true\""));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream = true AND x"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS streaming = true"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS xstream = true"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1"));
  EXPECT_FALSE(SqlRequestsStreaming(""));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 SETTINGS stream ="));
}

TEST(SqlRequestsStreaming, IgnoresLiteralsCommentsAndQuotedIdentifiers) {
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 'x SETTINGS stream = true' AS s"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 'it''s SETTINGS stream = true' AS s"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT E'\\' SETTINGS stream = true' AS s"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT $$ SETTINGS stream = true $$ AS s"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT $t$ SETTINGS stream = true $t$ AS s"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT \"SETTINGS stream = true\" FROM t"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT `SETTINGS stream = true` FROM t"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 -- SETTINGS stream = true"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 /* SETTINGS stream = true */"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 /* a /* nested */ SETTINGS stream = true */"));
  EXPECT_FALSE(SqlRequestsStreaming("SELECT 1 -- x\n/* SETTINGS stream = true"));
}

TEST(SqlRequestsStreaming, SubquerySettingsAreNotTopLevel) {
  EXPECT_FALSE(SqlRequestsStreaming("SELECT * FROM (SELECT * FROM t SETTINGS stream = true)"));
  EXPECT_FALSE(SqlRequestsStreaming(
      "WITH x AS (SELECT * FROM t SETTINGS stream = true) SELECT * FROM x"));
  EXPECT_TRUE(SqlRequestsStreaming(
      "SELECT * FROM (SELECT * FROM t) s SETTINGS stream = true"));
}

TEST(SqlRequestsStreaming, SettingsAsAnIdentifierDoesNotConfuseIt) {
  EXPECT_FALSE(SqlRequestsStreaming("SELECT settings FROM t WHERE stream = true"));
  EXPECT_TRUE(SqlRequestsStreaming("SELECT settings FROM t SETTINGS stream = true"));
}

}  // namespace
}  // namespace amp::flight
