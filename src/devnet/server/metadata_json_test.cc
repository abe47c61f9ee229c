#include "devnet/server/metadata_json.h"

#include <gtest/gtest.h>

namespace amp::devnet::server {
namespace {

TEST(AppMetadata, MatchesAmpExampleByteForByte) {
  // The example data batch of amp-protocol.md §2.5.
  BlockRange r;
  r.network = "anvil";
  r.start = 0;
  r.end = 2;
  const std::string hash = "0x0deee2eaa7adb2b28c7fa731f79ea86e77e375f8ee0a0f2619ba6ec3eb2f68e6";
  r.hash = *BlockHash::FromHex(hash);
  r.timestamp = 1700000002;
  EXPECT_EQ(EncodeAppMetadata({r}, false),
            R"({"ranges":[{"hash":")" + hash + R"(",)"
            R"("network":"anvil","numbers":{"end":2,"start":0},)"
            R"("prev_hash":"0x0000000000000000000000000000000000000000000000000000000000000000",)"
            R"("timestamp":1700000002}],"ranges_complete":false})");
}

TEST(AppMetadata, CompletionAndNoTimestamp) {
  BlockRange r;
  r.network = "mainnet";
  r.start = 10;
  r.end = 19;
  r.hash.bytes.fill(0xaa);
  r.prev_hash.bytes.fill(0x01);
  const std::string json = EncodeAppMetadata({r}, true);
  EXPECT_EQ(json, std::string(R"({"ranges":[{"hash":"0x)") + std::string(64, 'a') +
                      R"(","network":"mainnet","numbers":{"end":19,"start":10},"prev_hash":"0x)" +
                      [] {
                        std::string s;
                        for (int i = 0; i < 32; ++i) s += "01";
                        return s;
                      }() +
                      R"("}],"ranges_complete":true})");
}

TEST(AppMetadata, EmptyRanges) {
  EXPECT_EQ(EncodeAppMetadata({}, true), R"({"ranges":[],"ranges_complete":true})");
}

}  // namespace
}  // namespace amp::devnet::server
