// amp::Client streams through chain reorganisations and restarts, against an in-process
// devnet: the client's StreamBatch::invalidates must name exactly the blocks to drop, and a
// destination that applies them (drop invalidated blocks, then append) must end up equal to
// the canonical chain: no missing, duplicate or stale rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration_test_util.h"

namespace amp::integration {
namespace {

using ::testing::IsEmpty;

constexpr char kLogsStream[] = "SELECT * FROM eth_firehose.logs SETTINGS stream = true";

BlockRange Blocks(BlockNumber start, BlockNumber end) {
  BlockRange r;
  r.network = "mainnet";
  r.start = start;
  r.end = end;
  return r;
}

/// Only network/start/end of an invalidation are meaningful.
::testing::AssertionResult SameBlocks(const BlockRange& actual, const BlockRange& expected) {
  if (actual.network == expected.network && actual.start == expected.start &&
      actual.end == expected.end) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "invalidated " << actual.ToString() << ", expected " << expected.ToString();
}

// Parameter: keep_alive_at_microbatch_start. When on, the reorg's first message is a 0-row
// keep-alive and the invalidation rides on it; when off, on the first data batch.
class ClientReorgTest : public DevnetClientTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 100;
    options.microbatch_blocks = 10;
    options.keep_alive_at_microbatch_start = GetParam();
    Start(options);
    consumer_ = OpenStream(kLogsStream);
    ASSERT_NE(consumer_, nullptr);
    ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
    ASSERT_TRUE(consumer_->invalidations().empty());
  }

  void TearDown() override {
    if (consumer_) {
      EXPECT_THAT(consumer_->errors(), IsEmpty());
    }
    consumer_.reset();
    DevnetClientTest::TearDown();
  }

  /// Reorgs `depth` blocks, reads until the new head is delivered and checks that exactly one
  /// invalidation [head-depth+1, previous end] was reported, with the new rows re-sent.
  void ReorgAndExpect(uint32_t depth, BlockRange expected) {
    const size_t before = consumer_->invalidations().size();
    const size_t mbs_before = consumer_->microbatches().size();
    const BlockNumber head = server().Head();
    auto old_rows = OracleRows(server(), TableId::kLogs, head - depth + 1, head);
    ASSERT_OK(server().Reorg(depth));
    ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
    ASSERT_EQ(consumer_->invalidations().size(), before + 1);
    EXPECT_TRUE(SameBlocks(consumer_->invalidations().back(), expected));

    // The first microbatch after the reorg is the rewound one: it starts at the fork point + 1,
    // its prev_hash is the (unchanged) fork block, and its rows are the new versions.
    ASSERT_GT(consumer_->microbatches().size(), mbs_before);
    const Microbatch& rewound = consumer_->microbatches()[mbs_before];
    ASSERT_TRUE(rewound.invalidated.has_value());
    EXPECT_TRUE(SameBlocks(*rewound.invalidated, expected));
    EXPECT_EQ(rewound.range.start, head - depth + 1);
    ASSERT_OK_AND_ASSIGN(auto canonical, server().CanonicalRange(rewound.range.start, rewound.range.end));
    EXPECT_EQ(rewound.range, canonical);
    ExpectTablesEqual(rewound.data,
                      OracleRows(server(), TableId::kLogs, rewound.range.start, rewound.range.end),
                      "re-sent rows");
    // The re-sent rows really are new versions (otherwise this proves nothing).
    auto new_rows = OracleRows(server(), TableId::kLogs, head - depth + 1, head);
    EXPECT_FALSE(new_rows->Equals(*old_rows));
  }

  void ExpectDestinationMatchesChain() {
    ASSERT_OK_AND_ASSIGN(auto committed, consumer_->Committed());
    ExpectMatchesChain(server(), TableId::kLogs, committed, 0, server().Head());
  }

  std::unique_ptr<StreamConsumer> consumer_;
};

TEST_P(ClientReorgTest, ReorgWhileCaughtUp) {
  ReorgAndExpect(3, Blocks(97, 99));
  EXPECT_EQ(consumer_->microbatches().back().range.start, 97u);
  EXPECT_EQ(consumer_->microbatches().back().range.end, 99u);
  ExpectDestinationMatchesChain();
}

TEST_P(ClientReorgTest, SeveralReorgsInARow) {
  ReorgAndExpect(2, Blocks(98, 99));
  server().ProduceBlock();  // 100
  ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
  ReorgAndExpect(1, Blocks(100, 100));
  ReorgAndExpect(4, Blocks(97, 100));
  ReorgAndExpect(4, Blocks(97, 100));  // the same heights again: versions 2
  server().ProduceBlock();  // 101
  ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
  ReorgAndExpect(3, Blocks(99, 101));
  EXPECT_EQ(consumer_->invalidations().size(), 5u);
  ExpectDestinationMatchesChain();
}

TEST_P(ClientReorgTest, ReorgDeeperThanOneMicrobatch) {
  // Delivered as ... [80,89] [90,99]; a 25-block reorg forks at 74, inside [70,79].
  ReorgAndExpect(25, Blocks(75, 99));
  const auto& mbs = consumer_->microbatches();
  // The rewind walks again in microbatch-sized steps: [75,84] [85,94] [95,99].
  ASSERT_GE(mbs.size(), 3u);
  EXPECT_EQ(mbs[mbs.size() - 3].range.start, 75u);
  EXPECT_EQ(mbs[mbs.size() - 3].range.end, 84u);
  EXPECT_EQ(mbs[mbs.size() - 2].range.start, 85u);
  EXPECT_EQ(mbs[mbs.size() - 1].range.start, 95u);
  EXPECT_FALSE(mbs[mbs.size() - 2].invalidated.has_value());
  ExpectDestinationMatchesChain();

  // And once more, deeper than two microbatches, after some live blocks.
  for (int i = 0; i < 5; ++i) server().ProduceBlock();  // head 104
  ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
  ReorgAndExpect(31, Blocks(74, 104));
  ExpectDestinationMatchesChain();
}

TEST_P(ClientReorgTest, ReorgOfBlocksNotYetDeliveredNeedsNoInvalidation) {
  // Restart the stream and read one microbatch only; reorg the (still undelivered) top.
  consumer_ = OpenStream(kLogsStream);
  ASSERT_NE(consumer_, nullptr);
  ASSERT_OK(consumer_->ReadUntilCompleted(9));
  ASSERT_OK(server().Reorg(5));
  ASSERT_OK(consumer_->ReadUntilCaughtUp(server()));
  // Whether the server had already sent the old versions is a race; either way the
  // destination must end up canonical, and any invalidation must start at the fork.
  for (const auto& inv : consumer_->invalidations()) EXPECT_EQ(inv.start, 95u);
  ExpectDestinationMatchesChain();
}

INSTANTIATE_TEST_SUITE_P(KeepAliveAtMicrobatchStart, ClientReorgTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? std::string("WithKeepAlive")
                                             : std::string("WithoutKeepAlive");
                         });

class ClientLiveReorgTest : public DevnetClientTest {};

TEST_F(ClientLiveReorgTest, ScheduledReorgsDuringLiveProduction) {
  DevnetOptions options = SmallDevnet();
  options.history = 100;
  options.microbatch_blocks = 10;
  options.block_time_ms = 5;
  options.reorg_every = 4;
  options.reorg_depth_min = 1;
  options.reorg_depth_max = 6;
  options.halt_at = 220;
  Start(options);
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  // Follow the chain while it produces and reorganises, then until it halts.
  while (server().Head() < 220) {
    ASSERT_OK(consumer->Step().status());
  }
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_THAT(consumer->errors(), IsEmpty());
  // ~30 scheduled reorgs of blocks the stream had mostly already delivered.
  EXPECT_GE(consumer->invalidations().size(), 1u);
  for (const auto& inv : consumer->invalidations()) {
    EXPECT_LE(inv.end - inv.start + 1, 6u + 10u) << inv.ToString();
  }
  ASSERT_OK_AND_ASSIGN(auto committed, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, committed, 0, 220);
}

// ---------------------------------------------------------------------------------------
// Resume after a restart.

class ClientResumeTest : public DevnetClientTest {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 100;
    options.microbatch_blocks = 10;
    Start(options);
  }

  /// A first session that commits up to block `end`, then goes away (Cancel or destroy).
  /// Returns the committed rows and the resume cursor of the last completed microbatch.
  void FirstSession(BlockNumber end, bool cancel, std::shared_ptr<arrow::Table>* rows,
                    Cursor* cursor) {
    auto consumer = OpenStream(kLogsStream);
    ASSERT_NE(consumer, nullptr);
    ASSERT_OK(consumer->ReadUntilCompleted(end));
    EXPECT_THAT(consumer->errors(), IsEmpty());
    ASSERT_OK_AND_ASSIGN(*rows, consumer->Committed());
    *cursor = Cursor::FromRanges({*consumer->last_completed()});
    if (cancel) consumer->stream().Cancel();
    consumer.reset();
    // The server releases the abandoned stream.
    EXPECT_TRUE(Eventually([&] { return server().active_streams() == 0; }))
        << server().active_streams() << " streams still open";
  }

  std::unique_ptr<StreamConsumer> Resume(const Cursor& cursor,
                                         const std::shared_ptr<arrow::Table>& rows) {
    QueryOptions options;
    options.resume = cursor;
    auto consumer = OpenStream(kLogsStream, options);
    EXPECT_NE(consumer, nullptr);
    if (consumer) {
      EXPECT_TRUE(consumer->Preload(rows).ok());
    }
    return consumer;
  }
};

TEST_F(ClientResumeTest, ResumeAfterCancelContinuesAfterTheCursor) {
  std::shared_ptr<arrow::Table> rows;
  Cursor cursor;
  FirstSession(29, /*cancel=*/true, &rows, &cursor);
  ASSERT_OK_AND_ASSIGN(auto at29, server().CanonicalRange(29, 29));
  ASSERT_EQ(cursor.networks.size(), 1u);
  EXPECT_EQ(cursor.networks.at("mainnet").number, 29u);
  EXPECT_EQ(cursor.networks.at("mainnet").hash, at29.hash);
  ExpectTablesEqual(rows, OracleRows(server(), TableId::kLogs, 0, 29), "first session");

  auto consumer = Resume(cursor, rows);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK_AND_ASSIGN(auto first, consumer->Step());
  ASSERT_EQ(first.metadata.ranges.size(), 1u);
  // The first range starts right after the cursor and chains to its hash.
  EXPECT_EQ(first.metadata.ranges[0].start, 30u);
  EXPECT_EQ(first.metadata.ranges[0].prev_hash, at29.hash);
  EXPECT_FALSE(first.invalidates.has_value());
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_THAT(consumer->errors(), IsEmpty());
  EXPECT_TRUE(consumer->invalidations().empty());
  EXPECT_EQ(consumer->microbatches().front().range.start, 30u);
  ASSERT_OK_AND_ASSIGN(auto all, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, all, 0, 99);
}

TEST_F(ClientResumeTest, ResumeAfterDestroyAtTheHeadGetsOnlyNewBlocks) {
  std::shared_ptr<arrow::Table> rows;
  Cursor cursor;
  FirstSession(99, /*cancel=*/false, &rows, &cursor);
  server().ProduceBlock();
  server().ProduceBlock();  // head 101
  auto consumer = Resume(cursor, rows);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  ASSERT_EQ(consumer->microbatches().size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto expected_range, server().CanonicalRange(100, 101));
  EXPECT_EQ(consumer->microbatches()[0].range, expected_range);
  EXPECT_EQ(consumer->microbatches()[0].range.prev_hash, cursor.networks.at("mainnet").hash);
  EXPECT_THAT(consumer->errors(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto all, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, all, 0, 101);
}

TEST_F(ClientResumeTest, CursorBlockReorgedAwayWhileDisconnected) {
  std::shared_ptr<arrow::Table> rows;
  Cursor cursor;
  FirstSession(99, /*cancel=*/false, &rows, &cursor);
  ASSERT_OK(server().Reorg(4));  // fork at 95: blocks 96..99 replaced

  auto consumer = Resume(cursor, rows);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK_AND_ASSIGN(auto first, consumer->Step());
  ASSERT_EQ(first.metadata.ranges.size(), 1u);
  // The server rewinds to the fork point: the first range starts at or below the cursor...
  EXPECT_EQ(first.metadata.ranges[0].start, 96u);
  // ...and the client, seeded from the cursor, reports the overlap as a reorg.
  ASSERT_TRUE(first.invalidates.has_value());
  EXPECT_TRUE(SameBlocks(*first.invalidates, Blocks(96, 99)));
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_THAT(consumer->errors(), IsEmpty());
  ASSERT_EQ(consumer->microbatches().size(), 1u);
  ExpectTablesEqual(consumer->microbatches()[0].data, OracleRows(server(), TableId::kLogs, 96, 99),
                    "re-sent rows");
  ASSERT_OK_AND_ASSIGN(auto all, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, all, 0, 99);
}

TEST_F(ClientResumeTest, CursorInsideHistoryReorgedAwayWhileDisconnected) {
  std::shared_ptr<arrow::Table> rows;
  Cursor cursor;
  FirstSession(59, /*cancel=*/true, &rows, &cursor);
  ASSERT_OK(server().Reorg(45));  // fork at 54: blocks 55..99 replaced, cursor block 59 too

  auto consumer = Resume(cursor, rows);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK_AND_ASSIGN(auto first, consumer->Step());
  ASSERT_EQ(first.metadata.ranges.size(), 1u);
  const BlockRange& r = first.metadata.ranges[0];
  EXPECT_EQ(r.start, 55u);
  EXPECT_EQ(r.end, 64u);
  ASSERT_TRUE(first.invalidates.has_value());
  // [start, max(end, cursor)]: covers every committed block from the fork on.
  EXPECT_TRUE(SameBlocks(*first.invalidates, Blocks(55, 64)));
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_THAT(consumer->errors(), IsEmpty());
  EXPECT_EQ(consumer->invalidations().size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto all, consumer->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, all, 0, 99);
}

TEST_F(ClientResumeTest, RepeatedRestartsWithReorgsInBetween) {
  // A loader that restarts after every microbatch while the chain grows, and every other
  // time reorganises deep enough to replace the block its cursor points at.
  std::shared_ptr<arrow::Table> rows;
  Cursor cursor;
  FirstSession(99, /*cancel=*/true, &rows, &cursor);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const BlockNumber at = cursor.networks.at("mainnet").number;
    server().ProduceBlock();
    server().ProduceBlock();  // head = cursor + 2
    const bool reorg = round % 2 == 1;
    if (reorg) ASSERT_OK(server().Reorg(4));  // fork at cursor - 2
    auto consumer = Resume(cursor, rows);
    ASSERT_NE(consumer, nullptr);
    ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
    EXPECT_THAT(consumer->errors(), IsEmpty());
    ASSERT_EQ(consumer->microbatches().size(), 1u);
    const BlockRange& r = consumer->microbatches()[0].range;
    if (reorg) {
      EXPECT_EQ(r.start, at - 1);
      ASSERT_EQ(consumer->invalidations().size(), 1u);
      EXPECT_TRUE(SameBlocks(consumer->invalidations()[0], Blocks(at - 1, at + 2)));
    } else {
      EXPECT_EQ(r.start, at + 1);
      EXPECT_TRUE(consumer->invalidations().empty());
    }
    ASSERT_OK_AND_ASSIGN(rows, consumer->Committed());
    ExpectMatchesChain(server(), TableId::kLogs, rows, 0, server().Head());
    cursor = Cursor::FromRanges({*consumer->last_completed()});
    consumer->stream().Cancel();
  }
  EXPECT_EQ(server().Head(), 111u);
}

}  // namespace
}  // namespace amp::integration
