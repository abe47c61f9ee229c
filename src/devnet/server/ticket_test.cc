#include "devnet/server/ticket.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amp::devnet::server {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

std::string Varint(uint64_t v) {
  std::string out;
  AppendVarint(v, &out);
  return out;
}

TEST(TicketVarint, UsesBincodeStandardMarkers) {
  EXPECT_EQ(Varint(0), Bytes({0x00}));
  EXPECT_EQ(Varint(250), Bytes({0xfa}));
  EXPECT_EQ(Varint(251), Bytes({0xfb, 0xfb, 0x00}));
  EXPECT_EQ(Varint(300), Bytes({0xfb, 0x2c, 0x01}));
  EXPECT_EQ(Varint(65535), Bytes({0xfb, 0xff, 0xff}));
  EXPECT_EQ(Varint(65536), Bytes({0xfc, 0x00, 0x00, 0x01, 0x00}));
  EXPECT_EQ(Varint(0xffffffffULL), Bytes({0xfc, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(Varint(0x100000000ULL), Bytes({0xfd, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(Varint(UINT64_MAX), Bytes({0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(Ticket, GoldenBatchTicketWithoutCursor) {
  AmpTicket t{"SELECT 1", false, std::nullopt};
  // len 8, "SELECT 1", is_streaming = 0, cursor = None.
  const std::string expected = Bytes({0x08}) + "SELECT 1" + Bytes({0x00, 0x00});
  EXPECT_EQ(EncodeTicket(t), expected);
  auto decoded = DecodeTicket(expected);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, t);
}

TEST(Ticket, GoldenStreamingTicketWithCursor) {
  NetworkCursor c;
  c.number = 300;
  c.hash.bytes.fill(0x11);
  AmpTicket t{"SELECT 1", true, std::map<std::string, NetworkCursor>{{"mainnet", c}}};
  const std::string expected = Bytes({0x08}) + "SELECT 1" +
                               Bytes({0x01,          // is_streaming = true
                                      0x01,          // Some
                                      0x01,          // one map entry
                                      0x07}) +       // key length
                               "mainnet" + Bytes({0xfb, 0x2c, 0x01}) +  // 300 as u16 varint
                               std::string(32, '\x11');                 // raw [u8; 32]
  EXPECT_EQ(EncodeTicket(t), expected);
  auto decoded = DecodeTicket(expected);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, t);
}

TEST(Ticket, LongQueryLengthIsVarint) {
  std::string sql(300, 'x');
  AmpTicket t{sql, false, std::nullopt};
  std::string enc = EncodeTicket(t);
  ASSERT_EQ(enc.size(), 3u + 300u + 2u);
  EXPECT_EQ(enc.substr(0, 3), Bytes({0xfb, 0x2c, 0x01}));
  auto decoded = DecodeTicket(enc);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->query, sql);
}

TEST(Ticket, MapEntriesInByteOrderAndRoundTrip) {
  NetworkCursor a{5, {}};
  NetworkCursor b{0x1'0000'0000ULL, {}};
  b.hash.bytes[31] = 0xab;
  AmpTicket t{"SELECT * FROM eth_firehose.blocks", true,
              std::map<std::string, NetworkCursor>{{"mainnet", b}, {"base", a}}};
  std::string enc = EncodeTicket(t);
  // "base" sorts before "mainnet" and is written first.
  const std::string prefix = Bytes({33}) + t.query + Bytes({1, 1, 2, 4}) + "base";
  ASSERT_EQ(enc.substr(0, prefix.size()), prefix);
  auto decoded = DecodeTicket(enc);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, t);
  EXPECT_EQ(decoded->cursor->at("mainnet").number, 0x1'0000'0000ULL);
  EXPECT_EQ(decoded->cursor->at("mainnet").hash.bytes[31], 0xab);
}

TEST(Ticket, EmptyMapIsSomeWithZeroEntries) {
  AmpTicket t{"q", true, std::map<std::string, NetworkCursor>{}};
  EXPECT_EQ(EncodeTicket(t), Bytes({1, 'q', 1, 1, 0}));
  auto decoded = DecodeTicket(EncodeTicket(t));
  ASSERT_TRUE(decoded.ok());
  ASSERT_TRUE(decoded->cursor.has_value());
  EXPECT_TRUE(decoded->cursor->empty());
}

TEST(Ticket, GarbageIsInvalid) {
  const std::vector<std::string> bad = {
      "",                                             // nothing at all
      Bytes({0x05}) + "abc",                          // string shorter than its length
      Bytes({0x01, 'q', 0x02, 0x00}),                 // bool 2
      Bytes({0x01, 'q', 0x00, 0x02}),                 // option tag 2
      Bytes({0x01, 'q', 0x00}),                       // missing option tag
      Bytes({0xfe, 0x00}),                            // u128 marker
      Bytes({0xff}),                                  // invalid marker
      Bytes({0x02, 0xc3, 0x28, 0x00, 0x00}),          // invalid UTF-8
      Bytes({0x02, 0xc0, 0x80, 0x00, 0x00}),          // overlong UTF-8
      Bytes({0x01, 'q', 0x00, 0x00, 0x00}),           // trailing byte
      Bytes({0x01, 'q', 0x01, 0x01, 0xfc, 0xff, 0xff, 0xff, 0x0f}),  // huge map count
      Bytes({0x01, 'q', 0x01, 0x01, 0x01, 0x01, 'm', 0x05}) + std::string(31, 'h'),  // short hash
      "not a ticket at all, just some text",
  };
  for (const auto& b : bad) {
    auto r = DecodeTicket(b);
    EXPECT_TRUE(r.status().IsInvalid()) << "input size " << b.size() << ": " << r.status();
  }
}

TEST(Ticket, AcceptsValidMultibyteUtf8) {
  AmpTicket t{"SELECT 'héllo €𝄞'", false, std::nullopt};
  auto decoded = DecodeTicket(EncodeTicket(t));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->query, t.query);
}

}  // namespace
}  // namespace amp::devnet::server
