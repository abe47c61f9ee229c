#include "amp/checkpoint.h"

#include "common/testing/status_matchers.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace amp {
namespace {

using ::testing::HasSubstr;

BlockHash Hash(uint8_t b) {
  BlockHash h;
  h.bytes.fill(b);
  return h;
}

TEST(StreamCheckpointTest, JsonRoundTrip) {
  StreamCheckpoint cp;
  cp.stream_id = "abc";
  cp.cursor.networks["mainnet"] = NetworkCursor{41, Hash(7)};
  BlockRange r1{"mainnet", 20, 30, Hash(3), Hash(2), std::nullopt};
  BlockRange r2{"mainnet", 31, 41, Hash(7), Hash(3), 1700000492};
  cp.recent_ranges = {r1, r2};
  cp.transaction_id = 99;
  const std::string json = cp.ToJson();
  EXPECT_THAT(json, HasSubstr("\"numbers\":{\"end\":30,\"start\":20}"));
  auto back = StreamCheckpoint::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cp);

  StreamCheckpoint empty;
  auto empty_back = StreamCheckpoint::FromJson(empty.ToJson());
  ASSERT_TRUE(empty_back.ok());
  EXPECT_EQ(*empty_back, empty);
}

TEST(StreamCheckpointTest, RejectsMalformedJson) {
  for (const std::string bad : {
           "", "[]", "{\"version\":2,\"stream_id\":\"a\",\"cursor\":{},\"transaction_id\":1}",
           "{\"version\":1,\"cursor\":{},\"transaction_id\":1}",
           "{\"version\":1,\"stream_id\":\"a\",\"cursor\":{\"m\":{\"number\":1}},\"transaction_id\":1}",
           "{\"version\":1,\"stream_id\":\"a\",\"cursor\":{},\"transaction_id\":-1}",
           "{\"version\":1,\"stream_id\":\"a\",\"cursor\":{},\"transaction_id\":1,\"recent_ranges\":[{}]}",
       }) {
    auto st = StreamCheckpoint::FromJson(bad);
    EXPECT_FALSE(st.ok()) << bad;
  }
}

TEST(MakeStreamIdTest, StableDistinctDigest) {
  const std::string id = MakeStreamId("SELECT 1", "t");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(id, MakeStreamId("SELECT 1", "t"));
  // Pinned: checkpoints are keyed by this value, so it must never change between builds.
  EXPECT_EQ(id, "b8f32f39b146313d22a4504a0087b199");
  EXPECT_NE(id, MakeStreamId("SELECT 1", "u"));
  EXPECT_NE(id, MakeStreamId("SELECT 1 ", "t"));
  EXPECT_NE(MakeStreamId("ab", "c"), MakeStreamId("a", "bc"));
}

// Rows exactly as the release before typed records wrote them (StreamCheckpoint JSON,
// nlohmann's sorted keys): every destination holds rows like these, and the typed records
// must read them and write them back byte for byte.
const std::string kZeroHash = "0x" + std::string(64, '0');
const std::string kHash7 = "0x" + std::string(64, '7');

std::string OldPartitionRow() {
  return R"({"cursor":{},"recent_ranges":[{"hash":")" + kZeroHash +
         R"(","network":"anvil","numbers":{"end":249,"start":100},"prev_hash":")" + kZeroHash +
         R"("}],"stream_id":"job1/range/00000000000000000100","transaction_id":3,"version":1})";
}

std::string OldHandoffRow() {
  return R"({"cursor":{"anvil":{"hash":")" + kHash7 +
         R"(","number":800}},"recent_ranges":[{"hash":")" + kHash7 +
         R"(","network":"anvil","numbers":{"end":1000,"start":0},"prev_hash":")" + kZeroHash +
         R"("}],"stream_id":"job1/plan","transaction_id":0,"version":1})";
}

// A typed record read from its stored JSON, as a destination hands it back.
template <typename Record>
Result<Record> Decode(const std::string& json) {
  AMP_ASSIGN_OR_RETURN(StreamCheckpoint row, StreamCheckpoint::FromJson(json));
  return Record::FromCheckpoint(row);
}

// The stored JSON of a typed record.
template <typename Record>
Result<std::string> Encode(const Record& record) {
  AMP_ASSIGN_OR_RETURN(StreamCheckpoint row, record.ToCheckpoint());
  return row.ToJson();
}

TEST(PartitionProgressTest, ReadsAndRewritesTheStoredShape) {
  ASSERT_OK_AND_ASSIGN(auto progress, Decode<PartitionProgress>(OldPartitionRow()));
  EXPECT_EQ(progress,
            (PartitionProgress{.job = "job1", .start = 100, .done_through = 249, .network = "anvil",
                               .transaction_id = 3}));
  EXPECT_EQ(ValueOrDie(Encode(progress)), OldPartitionRow());
}

TEST(PartitionProgressTest, RoundTripsAndKeysSortByBlock) {
  PartitionProgress p{.job = "j", .start = 10, .done_through = 10, .network = "", .transaction_id = 1};
  ASSERT_OK_AND_ASSIGN(std::string json, Encode(p));
  EXPECT_EQ(ValueOrDie(Decode<PartitionProgress>(json)), p);

  constexpr BlockNumber kMax = UINT64_MAX;
  EXPECT_EQ(PartitionProgress::StreamId("job1", 0), "job1/range/00000000000000000000");
  EXPECT_EQ(PartitionProgress::StreamId("job1", 250000), "job1/range/00000000000000250000");
  EXPECT_EQ(PartitionProgress::StreamId("j", kMax), "j/range/18446744073709551615");
  EXPECT_EQ(PartitionProgress::StreamIdPrefix("job1"), "job1/range/");
  EXPECT_LT(PartitionProgress::StreamId("j", 9), PartitionProgress::StreamId("j", 10));
  EXPECT_EQ(PartitionProgress::StreamId("j", 10).rfind(PartitionProgress::StreamIdPrefix("j"), 0), 0u);
}

TEST(PartitionProgressTest, RefusesRowsOfAnotherMeaning) {
  auto stream_row = StreamCheckpoint::FromJson(OldPartitionRow());
  ASSERT_TRUE(stream_row.ok());
  StreamCheckpoint live = *stream_row;
  live.stream_id = "job1";
  StreamCheckpoint two_ranges = *stream_row;
  two_ranges.recent_ranges.push_back(two_ranges.recent_ranges.front());
  StreamCheckpoint off_key = *stream_row;
  off_key.recent_ranges.front().start = 101;
  for (const auto& bad : {live, two_ranges, off_key}) {
    auto st = PartitionProgress::FromCheckpoint(bad).status();
    EXPECT_TRUE(st.IsInvalid()) << bad.ToJson();
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
    EXPECT_THAT(st.message(), HasSubstr(bad.stream_id));
  }
  EXPECT_FALSE((PartitionProgress{.job = "j", .start = 5, .done_through = 4}).ToCheckpoint().ok());
}

TEST(HandoffRecordTest, ReadsAndRewritesTheStoredShape) {
  ASSERT_OK_AND_ASSIGN(auto record, Decode<HandoffRecord>(OldHandoffRow()));
  const BlockHash head_hash = ValueOrDie(BlockHash::FromHex(kHash7));
  EXPECT_EQ(record, (HandoffRecord{.job = "job1", .network = "anvil",
                                   .head = NetworkCursor{1000, head_hash}, .from = 0,
                                   .handoff = NetworkCursor{800, head_hash}}));
  EXPECT_EQ(ValueOrDie(Encode(record)), OldHandoffRow());
  EXPECT_EQ(HandoffRecord::StreamId("job1"), "job1/plan");
}

TEST(HandoffRecordTest, RoundTripsEveryShapeThePlannerWrites) {
  HandoffRecord empty_source{.job = "j"};
  HandoffRecord no_handoff{.job = "j", .network = "anvil", .head = NetworkCursor{5, Hash(1)}, .from = 5};
  HandoffRecord unnamed{.job = "j", .network = "", .head = NetworkCursor{9, BlockHash{}},
                        .from = 0, .handoff = NetworkCursor{4, Hash(2)}};
  for (const auto& record : {empty_source, no_handoff, unnamed}) {
    ASSERT_OK_AND_ASSIGN(std::string json, Encode(record));
    EXPECT_EQ(ValueOrDie(Decode<HandoffRecord>(json)), record);
  }
  EXPECT_FALSE((HandoffRecord{.job = "j", .handoff = NetworkCursor{1, Hash(1)}}).ToCheckpoint().ok());
  EXPECT_FALSE(
      (HandoffRecord{.job = "j", .head = NetworkCursor{1, Hash(1)}, .from = 2}).ToCheckpoint().ok());

  auto row = no_handoff.ToCheckpoint();
  ASSERT_TRUE(row.ok());
  StreamCheckpoint not_a_plan = *row;
  not_a_plan.stream_id = "j/range/00000000000000000005";
  EXPECT_FALSE(HandoffRecord::FromCheckpoint(not_a_plan).ok());
  StreamCheckpoint other_network = *row;
  other_network.cursor.networks["base"] = NetworkCursor{3, Hash(3)};
  EXPECT_FALSE(HandoffRecord::FromCheckpoint(other_network).ok());
}

}  // namespace
}  // namespace amp
