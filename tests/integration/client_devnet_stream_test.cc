// amp::Client streaming queries against an in-process devnet: microbatches over history,
// live blocks, keep-alives, the amp-stream header; the committed rows of every completed
// microbatch are compared with the chain's canonical rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "integration_test_util.h"

namespace amp::integration {
namespace {

constexpr char kLogsStream[] = "SELECT * FROM eth_firehose.logs SETTINGS stream = true";

class ClientStreamTest : public DevnetClientTest {};

TEST_F(ClientStreamTest, MicrobatchesCoverHistoryThenLiveBlocks) {
  DevnetOptions options = SmallDevnet();
  options.history = 200;
  options.microbatch_blocks = 30;
  Start(options);
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  EXPECT_TRUE(consumer->stream().is_streaming());
  ASSERT_OK_AND_ASSIGN(auto schema, consumer->stream().schema());
  // `_block_num` is selected by `*`, so it stays in the streamed output.
  EXPECT_TRUE(schema->Equals(*devnet::TableSchema(TableId::kLogs), false)) << schema->ToString();

  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  const auto& mbs = consumer->microbatches();
  // 200 blocks in 30-block microbatches: [0,29] ... [180,199] (the last one 20 blocks).
  ASSERT_EQ(mbs.size(), 7u);
  for (size_t i = 0; i < mbs.size(); ++i) {
    SCOPED_TRACE(mbs[i].range.ToString());
    EXPECT_EQ(mbs[i].range.start, 30 * i);
    EXPECT_EQ(mbs[i].range.end, std::min<BlockNumber>(30 * i + 29, 199));
    ASSERT_OK_AND_ASSIGN(auto canonical, server().CanonicalRange(mbs[i].range.start, mbs[i].range.end));
    EXPECT_EQ(mbs[i].range, canonical);  // hashes, prev_hash chain and timestamp
    // One keep-alive at each microbatch start (keep_alive_at_microbatch_start).
    EXPECT_EQ(mbs[i].keep_alives, 1);
    EXPECT_FALSE(mbs[i].invalidated.has_value());
    ExpectTablesEqual(mbs[i].data,
                      OracleRows(server(), TableId::kLogs, mbs[i].range.start, mbs[i].range.end),
                      "microbatch rows");
  }
  EXPECT_TRUE(mbs[0].range.prev_hash.IsZero());
  EXPECT_EQ(consumer->keep_alives(), 7);

  // Live blocks, one at a time: each arrives as its own microbatch.
  for (int i = 0; i < 3; ++i) {
    const BlockNumber head = server().ProduceBlock();
    ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
    ASSERT_EQ(consumer->microbatches().back().range.start, head);
    ASSERT_EQ(consumer->microbatches().back().range.end, head);
  }
  // Several blocks at once: covered by contiguous microbatches, however the server groups them.
  for (int i = 0; i < 45; ++i) server().ProduceBlock();
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_EQ(server().Head(), 247u);

  EXPECT_THAT(consumer->errors(), ::testing::IsEmpty());
  EXPECT_TRUE(consumer->invalidations().empty());
  ASSERT_OK_AND_ASSIGN(auto committed, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, committed, 0, server().Head());
}

TEST_F(ClientStreamTest, KeepAlivesAreRecognisedAndCarryTheCurrentRange) {
  DevnetOptions options = SmallDevnet();
  options.history = 60;
  options.microbatch_blocks = 10;
  // A keep-alive is due once 50 ms passed inside a microbatch; 40 ms per message makes
  // every microbatch (keep-alive, data, completion) long enough for one more.
  options.keep_alive = 50ms;
  options.faults.message_delay = 40ms;
  Start(options);
  auto stream = client().sql(kLogsStream).stream();
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  std::optional<BlockRange> current;
  int keep_alives = 0, completions = 0;
  while (completions < 6) {
    ASSERT_OK_AND_ASSIGN(auto item, (*stream)->Next());
    ASSERT_TRUE(item.has_value());
    ASSERT_EQ(item->metadata.ranges.size(), 1u);
    if (!current) current = item->metadata.ranges[0];
    // Keep-alives belong to the microbatch in progress: same range, 0 rows, not complete.
    EXPECT_EQ(item->metadata.ranges[0], *current);
    if (item->is_keep_alive()) {
      ++keep_alives;
      EXPECT_EQ(item->batch->num_rows(), 0);
      EXPECT_FALSE(item->metadata.ranges_complete);
      EXPECT_FALSE(item->is_completion());
    } else if (item->is_completion()) {
      ++completions;
      current.reset();
    } else {
      EXPECT_GT(item->batch->num_rows(), 0);
    }
  }
  // At least the one at each microbatch start, and more inside long microbatches.
  EXPECT_GT(keep_alives, 6);
}

TEST_F(ClientStreamTest, NoKeepAlivesWhenDisabledAndNothingWhileIdle) {
  DevnetOptions options = SmallDevnet();
  options.history = 40;
  options.microbatch_blocks = 10;
  options.keep_alive_at_microbatch_start = false;
  Start(options);
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_EQ(consumer->keep_alives(), 0);
  // 4 microbatches of one data message and one completion each.
  EXPECT_EQ(consumer->messages(), 8);
  EXPECT_THAT(consumer->errors(), ::testing::IsEmpty());

  // Caught up, the server sends nothing at all (Amp is silent while idle): a Next() stays
  // blocked until a block arrives.
  auto next = std::async(std::launch::async, [&] { return consumer->stream().Next(); });
  EXPECT_EQ(next.wait_for(300ms), std::future_status::timeout);
  const BlockNumber head = server().ProduceBlock();
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  auto item = next.get();
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  ASSERT_TRUE(item->has_value());
  EXPECT_EQ((*item)->metadata.ranges.at(0).start, head);
  EXPECT_GT((*item)->batch->num_rows(), 0);  // no keep-alive first
}

TEST_F(ClientStreamTest, AmpStreamHeaderOverridesTheSql) {
  DevnetOptions options = SmallDevnet();
  options.history = 50;
  options.microbatch_blocks = 15;
  Start(options);

  // No SETTINGS, but QueryOptions.stream = true: the amp-stream header makes it a stream.
  QueryOptions stream_on;
  stream_on.stream = true;
  ASSERT_OK_AND_ASSIGN(auto info, client().GetInfo("SELECT * FROM eth_firehose.blocks", stream_on));
  EXPECT_TRUE(info.streaming);
  auto consumer = OpenStream("SELECT * FROM eth_firehose.blocks", stream_on);
  ASSERT_NE(consumer, nullptr);
  EXPECT_TRUE(consumer->stream().is_streaming());
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  ASSERT_EQ(consumer->microbatches().size(), 4u);  // [0,14] [15,29] [30,44] [45,49]
  EXPECT_EQ(consumer->microbatches()[3].range.start, 45u);
  EXPECT_THAT(consumer->errors(), ::testing::IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto committed, consumer->Committed());
  ExpectTablesEqual(committed, OracleRows(server(), TableId::kBlocks, 0, 49), "header stream");

  // SETTINGS stream = true, but the header forces a batch query: it ends, with [0, head].
  QueryOptions stream_off;
  stream_off.stream = false;
  ASSERT_OK_AND_ASSIGN(auto batch,
                       client().sql("SELECT * FROM eth_firehose.blocks SETTINGS stream = true")
                           .stream(stream_off));
  EXPECT_FALSE(batch->is_streaming());
  ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*batch));
  ASSERT_FALSE(batches.empty());
  EXPECT_TRUE(batches.back().is_completion());
  ASSERT_OK_AND_ASSIGN(auto whole, server().CanonicalRange(0, 49));
  EXPECT_EQ(batches.back().metadata.ranges.at(0), whole);
  ASSERT_OK_AND_ASSIGN(auto table, ToTable(batches.front().batch->schema(), batches));
  ExpectTablesEqual(table, OracleRows(server(), TableId::kBlocks, 0, 49), "header batch");
}

TEST_F(ClientStreamTest, WhereFiltersRowsButNotTheMicrobatchWalk) {
  DevnetOptions options = SmallDevnet();
  options.history = 100;
  options.microbatch_blocks = 25;
  Start(options);
  auto consumer = OpenStream(
      "SELECT block_num, tx_index, tx_hash, \"value\" FROM eth_firehose.transactions "
      "WHERE block_num >= 60 SETTINGS stream = true");
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  // Amp walks microbatches from the earliest block whatever the WHERE says.
  ASSERT_EQ(consumer->microbatches().size(), 4u);
  EXPECT_EQ(consumer->microbatches()[0].range.start, 0u);
  EXPECT_EQ(consumer->microbatches()[0].rows, 0);
  EXPECT_EQ(consumer->microbatches()[1].rows, 0);
  ASSERT_OK_AND_ASSIGN(auto committed, consumer->Committed());
  auto expected = Project(OracleRows(server(), TableId::kTransactions, 60, 99),
                          {{"block_num", "block_num"},
                           {"tx_index", "tx_index"},
                           {"tx_hash", "tx_hash"},
                           {"value", "value"}});
  ExpectTablesEqual(committed, expected, "filtered stream");
}

TEST_F(ClientStreamTest, LiveProductionOnATimer) {
  DevnetOptions options = SmallDevnet();
  options.history = 120;
  options.microbatch_blocks = 10;
  options.block_time_ms = 15;
  options.halt_at = 150;
  Start(options);
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  // Production stops at block 150; then the stream must have delivered all of it.
  ASSERT_TRUE(Eventually([&] { return server().Head() == 150; }, 10'000ms)) << server().Head();
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_THAT(consumer->errors(), ::testing::IsEmpty());
  // Live blocks arrived after the history microbatches.
  EXPECT_GT(consumer->microbatches().size(), 12u);
  ASSERT_OK_AND_ASSIGN(auto committed, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, committed, 0, 150);
}

TEST_F(ClientStreamTest, TwoStreamsOnOneClientSeeTheSameData) {
  DevnetOptions options = SmallDevnet();
  options.history = 80;
  options.microbatch_blocks = 16;
  Start(options);
  auto a = OpenStream(kLogsStream);
  auto b = OpenStream("SELECT * FROM \"_/eth_firehose@1.0.0\".logs SETTINGS stream = true");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_OK(a->ReadUntilCaughtUp(server()));
  ASSERT_OK(b->ReadUntilCaughtUp(server()));
  server().ProduceBlock();
  ASSERT_OK(b->ReadUntilCaughtUp(server()));
  ASSERT_OK(a->ReadUntilCaughtUp(server()));
  EXPECT_EQ(server().active_streams(), 2u);
  ASSERT_OK_AND_ASSIGN(auto ta, a->Committed());
  ASSERT_OK_AND_ASSIGN(auto tb, b->Committed());
  ExpectTablesEqual(ta, tb, "a vs b");
  ExpectMatchesChain(server(), TableId::kLogs, ta, 0, 80);
}

}  // namespace
}  // namespace amp::integration
