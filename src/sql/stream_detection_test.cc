#include "sql/query_text.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace amp::sql {
namespace {

// Every query of a list is (or is not) a streaming request.
void ExpectEach(bool streaming, std::initializer_list<const char*> queries) {
  for (const char* query : queries) EXPECT_EQ(RequestsStreaming(query), streaming) << query;
}

TEST(SqlRequestsStreaming, TopLevelSettingsStreamTrue) {
  ExpectEach(true, {
       "SELECT block_num, hash FROM anvil_rpc.blocks SETTINGS stream = true",
       "select 1 settings STREAM = True",
       "SELECT 1 SETTINGS stream=TRUE;",
       "SELECT 1\nSETTINGS\n  foo = 1,\n  stream = true",
       "SELECT 1 SETTINGS stream = true, foo = 'x'",
       "SELECT 1 SETTINGS \"stream\" = true",
       "WITH x AS (SELECT * FROM t) SELECT * FROM x WHERE a = '(' SETTINGS stream = true",
       "SELECT 1 /* c */ SETTINGS /* c */ stream -- c\n = true",
  });
}

TEST(SqlRequestsStreaming, OnlyTheBooleanLiteralTrueCounts) {
  ExpectEach(false, {
       "SELECT 1 SETTINGS stream = 1",
       "SELECT 1 SETTINGS stream = 'true'",
       "SELECT 1 SETTINGS stream = false",
       "SELECT 1 SETTINGS stream = \"true\"",
       "SELECT 1 SETTINGS stream = true AND x",
       "SELECT 1 SETTINGS streaming = true",
       "SELECT 1 SETTINGS xstream = true",
       "SELECT 1",
       "",
       "SELECT 1 SETTINGS",
       "SELECT 1 SETTINGS stream =",
  });
}

TEST(SqlRequestsStreaming, IgnoresLiteralsCommentsAndQuotedIdentifiers) {
  ExpectEach(false, {
       "SELECT 'x SETTINGS stream = true' AS s",
       "SELECT 'it''s SETTINGS stream = true' AS s",
       "SELECT E'\\' SETTINGS stream = true' AS s",
       "SELECT $$ SETTINGS stream = true $$ AS s",
       "SELECT $t$ SETTINGS stream = true $t$ AS s",
       "SELECT \"SETTINGS stream = true\" FROM t",
       "SELECT `SETTINGS stream = true` FROM t",
       "SELECT 1 -- SETTINGS stream = true",
       "SELECT 1 /* SETTINGS stream = true */",
       "SELECT 1 /* a /* nested */ SETTINGS stream = true */",
       "SELECT 1 -- x\n/* SETTINGS stream = true",
  });
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
