#include "flight/app_metadata.h"

#include "common/testing/status_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::flight {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The example data batch of amp-protocol.md §2.5, byte for byte as ampd writes it.
constexpr const char kAmpExample[] =
    R"({"ranges":[{"hash":"0x0deee2eaa7adb2b28c7fa731f79ea86e77e375f8ee0a0f2619ba6ec3eb2f68e6",)"
    R"("network":"anvil","numbers":{"end":2,"start":0},)"
    R"("prev_hash":"0x0000000000000000000000000000000000000000000000000000000000000000",)"
    R"("timestamp":1700000002}],"ranges_complete":false})";

constexpr const char kHash[] =
    "0x0deee2eaa7adb2b28c7fa731f79ea86e77e375f8ee0a0f2619ba6ec3eb2f68e6";
constexpr const char kPrev[] =
    "0x1111111111111111111111111111111111111111111111111111111111111111";

TEST(ParseAppMetadata, AmpExample) {
  auto md = ParseAppMetadata(kAmpExample);
  ASSERT_TRUE(md.ok()) << md.status();
  ASSERT_EQ(md->ranges.size(), 1u);
  const BlockRange& r = md->ranges[0];
  EXPECT_EQ(r.network, "anvil");
  EXPECT_EQ(r.start, 0u);
  EXPECT_EQ(r.end, 2u);
  EXPECT_EQ(r.hash.ToHex(), kHash);
  EXPECT_TRUE(r.prev_hash.IsZero());
  EXPECT_EQ(r.timestamp, 1700000002u);
  EXPECT_FALSE(md->ranges_complete);
}

TEST(FormatAppMetadata, ReproducesAmpBytes) {
  auto md = ParseAppMetadata(kAmpExample);
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(FormatAppMetadata(*md), kAmpExample);
  BatchMetadata no_ts = *md;
  no_ts.ranges[0].timestamp.reset();
  no_ts.ranges_complete = true;
  EXPECT_THAT(FormatAppMetadata(no_ts),
              AllOf(::testing::Not(HasSubstr("timestamp")), HasSubstr(R"("ranges_complete":true)")));
  EXPECT_EQ(FormatAppMetadata(BatchMetadata{}), R"({"ranges":[],"ranges_complete":false})");
}

TEST(ParseAppMetadata, KeyOrderUnknownKeysAndOptionalFields) {
  std::string json = std::string(R"({"extra":{"a":[1,2]},"ranges_complete":true,"ranges":[)") +
                     R"({"numbers":{"start":5,"end":9},"prev_hash":")" + kPrev +
                     R"(","future":1,"network":"mainnet","hash":")" + kHash + R"("}]})";
  auto md = ParseAppMetadata(json);
  ASSERT_TRUE(md.ok()) << md.status();
  ASSERT_EQ(md->ranges.size(), 1u);
  EXPECT_EQ(md->ranges[0].network, "mainnet");
  EXPECT_EQ(md->ranges[0].start, 5u);
  EXPECT_EQ(md->ranges[0].end, 9u);
  EXPECT_EQ(md->ranges[0].prev_hash.ToHex(), kPrev);
  EXPECT_FALSE(md->ranges[0].timestamp.has_value());
  EXPECT_TRUE(md->ranges_complete);
}

TEST(ParseAppMetadata, FlatRangeFormAsPythonAccepts) {
  std::string json = std::string(R"({"ranges":[{"network":"base","start":3,"end":4,"hash":")") +
                     kHash + R"(","prev_hash":")" + kPrev + R"("}]})";
  auto md = ParseAppMetadata(json);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->ranges[0].network, "base");
  EXPECT_EQ(md->ranges[0].start, 3u);
  EXPECT_EQ(md->ranges[0].end, 4u);
  EXPECT_FALSE(md->ranges_complete);  // absent -> false
}

TEST(ParseAppMetadata, EmptyRangesAndSeveralNetworks) {
  auto empty = ParseAppMetadata(R"({"ranges":[],"ranges_complete":true})");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->ranges.empty());
  EXPECT_TRUE(empty->ranges_complete);

  std::string two = std::string(R"({"ranges":[{"network":"a","numbers":{"start":0,"end":1},"hash":")") +
                    kHash + R"("},{"network":"b","numbers":{"start":7,"end":7},"hash":")" + kHash +
                    R"(","prev_hash":null,"timestamp":null}],"ranges_complete":false})";
  auto md = ParseAppMetadata(two);
  ASSERT_TRUE(md.ok()) << md.status();
  ASSERT_EQ(md->ranges.size(), 2u);
  EXPECT_EQ(md->ranges[1].network, "b");
  EXPECT_TRUE(md->ranges[1].prev_hash.IsZero());  // null prev_hash: zero, checked later
}

struct BadMetadata {
  std::string json;
  std::string problem;
};

class ParseAppMetadataErrors : public ::testing::TestWithParam<BadMetadata> {};

TEST_P(ParseAppMetadataErrors, InvalidNotRetriedWithQuotedJson) {
  const auto& bad = GetParam();
  auto md = ParseAppMetadata(bad.json);
  ASSERT_FALSE(md.ok()) << bad.json;
  ExpectInvalidMentioning(md.status(), {bad.problem, "'" + bad.json.substr(0, 20)});
  // A reconnect would meet the same metadata again: not retried.
  EXPECT_EQ(ClassOf(md.status()), ErrorClass::kFatal);
  const ErrorInfo* info = ErrorInfo::FromStatus(md.status());
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->source(), "flight");
}

std::string Range(const std::string& body) { return R"({"ranges":[)" + body + "]}"; }
const std::string kGoodHash = std::string(R"("hash":")") + kHash + "\"";

INSTANTIATE_TEST_SUITE_P(
    All, ParseAppMetadataErrors,
    ::testing::Values(
        BadMetadata{"not json", "not valid JSON"},
        BadMetadata{"[1,2]", "not a JSON object"},
        BadMetadata{R"({"ranges_complete":true})", "no \"ranges\""},
        BadMetadata{R"({"ranges":{"network":"a"}})", "\"ranges\" is not an array"},
        BadMetadata{Range("42"), "ranges[0] is not an object"},
        BadMetadata{Range(R"({"numbers":{"start":0,"end":1},)" + kGoodHash + "}"),
                    "ranges[0] has no \"network\""},
        BadMetadata{Range(R"({"network":"a",)" + kGoodHash + "}"), "has no \"numbers\""},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":0},)" + kGoodHash + "}"),
                    "ranges[0].numbers has no \"end\""},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":-1,"end":1},)" + kGoodHash + "}"),
                    "\"start\" is not an unsigned integer"},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":0,"end":1}})"),
                    "ranges[0] has no \"hash\""},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":5,"end":4},)" + kGoodHash + "}"),
                    "start 5 > end 4"},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":0,"end":1},"hash":"0x12"})"),
                    "\"hash\" is not a 0x-prefixed 32-byte hex hash"},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":0,"end":1},"hash":"0x)" +
                          std::string(64, 'g') + "\"}"),
                    "\"hash\" is not a 0x-prefixed"},
        BadMetadata{Range(R"({"network":"a","numbers":{"start":1,"end":1},)" + kGoodHash +
                          R"(,"prev_hash":7})"),
                    "\"prev_hash\" is not a string"},
        BadMetadata{R"({"ranges":[],"ranges_complete":"yes"})",
                    "\"ranges_complete\" is not a boolean"}));

TEST(ParseAppMetadata, LongJsonIsTruncatedInTheMessage) {
  std::string json = R"({"ranges":"x","pad":")" + std::string(5000, 'p') + "\"}";
  auto md = ParseAppMetadata(json);
  ASSERT_FALSE(md.ok());
  EXPECT_LT(md.status().message().size(), 600u);
  EXPECT_THAT(md.status().message(), HasSubstr("bytes)"));
}

}  // namespace
}  // namespace amp::flight
