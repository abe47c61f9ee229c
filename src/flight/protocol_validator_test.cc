#include "flight/protocol_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "flight/testing/scripted_server.h"

namespace amp::flight {
namespace {

using ::testing::HasSubstr;
using amp::testing::TestBlockHash;
using amp::testing::TestRange;

BatchMetadata Md(std::vector<BlockRange> ranges, bool complete) {
  return BatchMetadata{std::move(ranges), complete};
}

// Feeds one microbatch: a data batch and its completion marker. Returns the first
// invalidation seen.
std::optional<BlockRange> Microbatch(ProtocolValidator& v, const BlockRange& r) {
  auto data = v.Next(Md({r}, false), 3);
  EXPECT_TRUE(data.ok()) << data.status();
  auto done = v.Next(Md({r}, true), 0);
  EXPECT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done.ok() && done->has_value()) << "the completion must not re-report a reorg";
  return data.ok() ? *data : std::nullopt;
}

void ExpectViolation(const Result<std::optional<BlockRange>>& result, const std::string& text) {
  ASSERT_FALSE(result.ok()) << "expected a protocol error containing: " << text;
  EXPECT_TRUE(result.status().IsInvalid());
  // A reconnect would be answered with the same data: a violation is not retried.
  EXPECT_EQ(ClassOf(result.status()), ErrorClass::kFatal);
  EXPECT_THAT(result.status().message(), HasSubstr(text));
}

TEST(ProtocolValidator, HappyPathWithKeepAlives) {
  ProtocolValidator v;
  auto r0 = TestRange("anvil", 0, 9);
  EXPECT_FALSE(v.Next(Md({r0}, false), 0)->has_value());  // keep-alive at microbatch start
  EXPECT_FALSE(Microbatch(v, r0).has_value());
  auto r1 = TestRange("anvil", 10, 10);
  EXPECT_FALSE(v.Next(Md({r1}, false), 5)->has_value());
  EXPECT_FALSE(v.Next(Md({r1}, false), 0)->has_value());  // keep-alive mid-microbatch
  EXPECT_FALSE(v.Next(Md({r1}, false), 5)->has_value());
  EXPECT_FALSE(v.Next(Md({r1}, true), 0)->has_value());
  EXPECT_EQ(v.previous().at("anvil").range.end, 10u);
  EXPECT_TRUE(v.previous().at("anvil").complete);
  // A microbatch with only a completion marker (no rows in its range).
  auto r2 = TestRange("anvil", 11, 20);
  EXPECT_FALSE(v.Next(Md({r2}, true), 0)->has_value());
}

// it_client.rs query_with_reorg_stream_returns_correct_control_messages:
// Watermark 0..=0, 1..=1, 2..=2, Reorg(invalidate 2..=3), Watermark 2..=3.
TEST(ProtocolValidator, AmpReorgExample) {
  ProtocolValidator v;
  EXPECT_FALSE(Microbatch(v, TestRange("anvil", 0, 0)).has_value());
  EXPECT_FALSE(Microbatch(v, TestRange("anvil", 1, 1)).has_value());
  EXPECT_FALSE(Microbatch(v, TestRange("anvil", 2, 2)).has_value());
  // Block 2 was replaced: the new range 2'..=3' chains to block 1 of the old chain.
  auto reorg = TestRange("anvil", 2, 3, /*fork=*/1, /*prev_fork=*/0);
  auto invalidates = Microbatch(v, reorg);
  ASSERT_TRUE(invalidates.has_value());
  EXPECT_EQ(invalidates->network, "anvil");
  EXPECT_EQ(invalidates->start, 2u);
  EXPECT_EQ(invalidates->end, 3u);
  // The stream continues on the new chain.
  EXPECT_FALSE(Microbatch(v, TestRange("anvil", 4, 4, 1)).has_value());
}

TEST(ProtocolValidator, ReorgInvalidatesUpToTheFurthestEnd) {
  ProtocolValidator v;
  Microbatch(v, TestRange("m", 0, 99));
  Microbatch(v, TestRange("m", 100, 199));
  // A shorter range that starts inside the previous one: invalidate up to 199.
  auto inv = Microbatch(v, TestRange("m", 150, 160, 1, 0));
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->start, 150u);
  EXPECT_EQ(inv->end, 199u);
}

TEST(ProtocolValidator, PrevHashMustBeZeroExactlyAtGenesis) {
  ProtocolValidator v;
  auto genesis = TestRange("a", 0, 5);
  genesis.prev_hash = TestBlockHash("a", 42);
  ExpectViolation(v.Next(Md({genesis}, false), 1), "starts at block 0 but has a non-zero prev_hash");

  ProtocolValidator w;
  auto later = TestRange("a", 7, 9);
  later.prev_hash = BlockHash{};
  ExpectViolation(w.Next(Md({later}, false), 1), "all-zero prev_hash but does not start at block 0");
}

TEST(ProtocolValidator, AtMostOneRangePerNetwork) {
  ProtocolValidator v;
  ExpectViolation(v.Next(Md({TestRange("a", 0, 1), TestRange("a", 2, 3)}, false), 1),
                  "two ranges for network 'a'");
}

TEST(ProtocolValidator, NetworkSetIsStable) {
  ProtocolValidator v;
  Microbatch(v, TestRange("a", 0, 1));
  ExpectViolation(v.Next(Md({TestRange("b", 0, 1)}, false), 1), "changed from {a} to {b}");

  ProtocolValidator w;
  Microbatch(w, TestRange("a", 0, 1));
  ExpectViolation(w.Next(Md({TestRange("a", 2, 3), TestRange("b", 0, 0)}, false), 1),
                  "changed from {a} to {a, b}");
}

TEST(ProtocolValidator, EmptyRanges) {
  // ampd's answer for tables with no synced data: a 0-row completion with no ranges.
  ProtocolValidator v;
  EXPECT_FALSE(v.Next(Md({}, false), 0)->has_value());
  EXPECT_FALSE(v.Next(Md({}, true), 0)->has_value());
  // Rows without ranges are never acceptable.
  ExpectViolation(v.Next(Md({}, false), 4), "carries no block ranges");

  // Once ranges flow, a 0-row keep-alive without ranges is still a no-op (protocol §2.3);
  // rows or a completion without ranges are not.
  ProtocolValidator w;
  Microbatch(w, TestRange("a", 0, 1));
  EXPECT_FALSE(w.Next(Md({}, false), 0)->has_value());
  EXPECT_FALSE(Microbatch(w, TestRange("a", 2, 3)).has_value());
  ExpectViolation(w.Next(Md({}, true), 0), "the stream's networks are {a}");
  ExpectViolation(w.Next(Md({}, false), 2), "the stream's networks are {a}");
}

TEST(ProtocolValidator, SeededNetworksHoldAcrossReconnects) {
  // A connection resumed from a checkpoint knows the stream's networks: switching to
  // another one, or adding one, is refused as on the first connection.
  Cursor cursor;
  cursor.networks["a"] = NetworkCursor{9, TestBlockHash("a", 9)};
  const std::set<std::string> networks{"a"};
  ProtocolValidator switched(cursor, networks);
  ExpectViolation(switched.Next(Md({TestRange("b", 10, 19)}, false), 3), "changed from {a} to {b}");
  ProtocolValidator added(cursor, networks);
  ExpectViolation(added.Next(Md({TestRange("a", 10, 19), TestRange("b", 0, 9)}, false), 3),
                  "changed from {a} to {a, b}");
  ProtocolValidator same(cursor, networks);
  EXPECT_FALSE(Microbatch(same, TestRange("a", 10, 19)).has_value());
  // ampd's "nothing synced" answer is still accepted on a resumed connection.
  ProtocolValidator unsynced(cursor, networks);
  EXPECT_FALSE(unsynced.Next(Md({}, true), 0)->has_value());
}

TEST(ProtocolValidator, SameRangeIsANoOp) {
  ProtocolValidator v;
  auto r = TestRange("a", 0, 4);
  r.timestamp = 100;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(v.Next(Md({r}, false), 2)->has_value());
  auto same_without_ts = r;
  same_without_ts.timestamp.reset();
  EXPECT_FALSE(v.Next(Md({same_without_ts}, true), 0)->has_value());
  EXPECT_FALSE(v.Next(Md({r}, true), 0)->has_value());  // duplicate completion
}

TEST(ProtocolValidator, BrokenHashChain) {
  ProtocolValidator v;
  Microbatch(v, TestRange("a", 0, 4));
  auto next = TestRange("a", 5, 9, 0, /*prev_fork=*/3);  // parent hash from another chain
  ExpectViolation(v.Next(Md({next}, false), 1), "broken hash chain");
}

TEST(ProtocolValidator, Gap) {
  ProtocolValidator v;
  Microbatch(v, TestRange("a", 0, 4));
  ExpectViolation(v.Next(Md({TestRange("a", 6, 9)}, false), 1),
                  "gap: a[0..=4] is followed by a[6..=9], blocks 5..=5 are missing");
}

TEST(ProtocolValidator, InvalidReorgChainsToThePreviousEnd) {
  ProtocolValidator v;
  Microbatch(v, TestRange("a", 0, 5));
  auto bogus = TestRange("a", 3, 8, 1);
  bogus.prev_hash = TestBlockHash("a", 5);  // == previous range's hash
  ExpectViolation(v.Next(Md({bogus}, false), 1), "invalid reorg");
}

TEST(ProtocolValidator, ForwardPastAnIncompleteMicrobatchIsAnError) {
  ProtocolValidator v;
  ASSERT_TRUE(v.Next(Md({TestRange("a", 0, 4)}, false), 3).ok());
  ExpectViolation(v.Next(Md({TestRange("a", 5, 9)}, false), 3),
                  "started before the microbatch a[0..=4] was completed");
}

TEST(ProtocolValidator, ReorgReplacingAnIncompleteMicrobatchIsAllowed) {
  ProtocolValidator v;
  Microbatch(v, TestRange("a", 0, 4));
  ASSERT_TRUE(v.Next(Md({TestRange("a", 5, 9)}, false), 3).ok());  // never completed
  auto reorg = TestRange("a", 5, 7, 1, 0);
  auto inv = v.Next(Md({reorg}, false), 2);
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_TRUE(inv->has_value());
  EXPECT_EQ((*inv)->start, 5u);
  EXPECT_EQ((*inv)->end, 9u);
}

TEST(ProtocolValidator, ResumeSeedsThePreviousRange) {
  Cursor cursor;
  cursor.networks["a"] = NetworkCursor{10, TestBlockHash("a", 10)};
  cursor.networks["other"] = NetworkCursor{5, TestBlockHash("other", 5)};  // not streamed

  ProtocolValidator ok(cursor);
  EXPECT_FALSE(Microbatch(ok, TestRange("a", 11, 20)).has_value());

  ProtocolValidator broken(cursor);
  ExpectViolation(broken.Next(Md({TestRange("a", 11, 20, 0, /*prev_fork=*/2)}, false), 1),
                  "broken hash chain");

  ProtocolValidator gap(cursor);
  ExpectViolation(gap.Next(Md({TestRange("a", 12, 20)}, false), 1), "gap");

  // A reorg while we were away: the server rewinds to the fork point below the cursor.
  ProtocolValidator reorg(cursor);
  auto inv = Microbatch(reorg, TestRange("a", 9, 12, 1, 0));
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->start, 9u);
  EXPECT_EQ(inv->end, 12u);
}

TEST(ProtocolValidator, ReorgOnTwoNetworksAtOnceIsRejected) {
  ProtocolValidator v;
  ASSERT_TRUE(v.Next(Md({TestRange("a", 0, 4), TestRange("b", 0, 4)}, true), 0).ok());
  ExpectViolation(
      v.Next(Md({TestRange("a", 2, 5, 1, 0), TestRange("b", 3, 5, 1, 0)}, false), 1),
      "several networks");
}

TEST(ProtocolValidator, TwoNetworksAdvanceIndependently) {
  ProtocolValidator v;
  ASSERT_TRUE(v.Next(Md({TestRange("a", 0, 4), TestRange("b", 0, 9)}, true), 0).ok());
  auto next = v.Next(Md({TestRange("a", 5, 6), TestRange("b", 0, 9)}, true), 0);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_value());
}

}  // namespace
}  // namespace amp::flight
