#include "proto/command.h"

#include <gtest/gtest.h>

namespace amp::proto {
namespace {

TEST(StatementQueryCommandTest, EncodesExactBytesOfAmpProtocolDoc) {
  // amp-protocol.md §1.1: the cmd bytes for "SELECT 1".
  std::string expected = "\x0a\x43" + std::string(kCommandStatementQueryTypeUrl) +
                         std::string("\x12\x0a\x0a\x08SELECT 1", 12);
  EXPECT_EQ(EncodeStatementQuery("SELECT 1"), expected);
}

TEST(StatementQueryCommandTest, RoundTrips) {
  auto sql = DecodeStatementQuery(EncodeStatementQuery("SELECT * FROM eth_firehose.blocks"));
  ASSERT_TRUE(sql.ok()) << sql.status();
  EXPECT_EQ(*sql, "SELECT * FROM eth_firehose.blocks");
}

TEST(StatementQueryCommandTest, RejectsOtherTypeUrlsLikeAmp) {
  std::string cmd = EncodeStatementQuery("SELECT 1");
  cmd[30] = 'X';  // corrupt the type_url
  auto sql = DecodeStatementQuery(cmd);
  ASSERT_TRUE(sql.status().IsInvalid());
  EXPECT_NE(sql.status().message().find("unsupported flight descriptor command"), std::string::npos);
  EXPECT_TRUE(DecodeStatementQuery("SELECT 1").status().IsInvalid());
}

}  // namespace
}  // namespace amp::proto
