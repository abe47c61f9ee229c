// Streaming DoGet through a raw Flight client: microbatches, hash chaining, live blocks,
// reorgs, resume cursors, amp-stream overrides, keep-alives, idle silence.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "devnet/server/devnet_test_util.h"

namespace amp::devnet::server::testing {
namespace {

const char* kTxSql =
    "SELECT block_num, tx_index, tx_hash, value FROM eth_firehose.transactions "
    "SETTINGS stream = true";

/// One microbatch as received: its range, data messages, and keep-alives (0-row, not
/// complete); every message of the microbatch must carry the same range.
struct Microbatch {
  BlockRange range;
  std::vector<Message> data;
  int keep_alives = 0;
  int keep_alives_after_data = 0;
  bool first_is_keep_alive = false;
};

class Stream {
 public:
  static std::unique_ptr<Stream> Open(
      flight::FlightClient& client, const std::string& sql,
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto stream = std::make_unique<Stream>();
    auto options = Headers(std::move(headers));
    auto info = client.GetFlightInfo(options, SqlDescriptor(sql));
    EXPECT_TRUE(info.ok()) << info.status();
    if (!info.ok()) return nullptr;
    stream->ticket_ = DecodeTicket((*info)->endpoints()[0].ticket.ticket).ValueOr(AmpTicket{});
    options.timeout = std::chrono::duration<double>(timeout);
    auto reader = client.DoGet(options, (*info)->endpoints()[0].ticket);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return nullptr;
    stream->reader_ = std::move(*reader);
    return stream;
  }

  arrow::Result<Message> NextMessage() {
    AMP_ASSIGN_OR_RETURN(auto chunk, reader_->Next());
    if (chunk.data == nullptr) return Status::Invalid("stream ended");
    return ToMessage(chunk);
  }

  arrow::Result<Microbatch> NextMicrobatch() {
    Microbatch mb;
    bool first = true;
    while (true) {
      AMP_ASSIGN_OR_RETURN(Message m, NextMessage());
      if (m.meta.ranges.size() != 1) return Status::Invalid("expected one range: ", m.raw);
      if (first) {
        mb.range = m.meta.ranges[0];
        mb.first_is_keep_alive = m.batch->num_rows() == 0 && !m.meta.ranges_complete;
        first = false;
      } else if (!(m.meta.ranges[0] == mb.range)) {
        return Status::Invalid("range changed inside a microbatch: ", m.raw);
      }
      if (m.meta.ranges_complete) {
        if (m.batch->num_rows() != 0) return Status::Invalid("completion with rows");
        return mb;
      }
      if (m.batch->num_rows() == 0) {
        ++mb.keep_alives;
        if (!mb.data.empty()) ++mb.keep_alives_after_data;
      } else {
        mb.data.push_back(std::move(m));
      }
    }
  }

  std::shared_ptr<arrow::Schema> schema() {
    auto schema = reader_->GetSchema();
    EXPECT_TRUE(schema.ok()) << schema.status();
    return schema.ok() ? *schema : nullptr;
  }
  flight::FlightStreamReader& reader() { return *reader_; }
  const AmpTicket& ticket() const { return ticket_; }

 private:
  AmpTicket ticket_;
  std::unique_ptr<flight::FlightStreamReader> reader_;
};

void ExpectMicrobatchRows(const DevnetServer& server, const std::string& sql,
                          const std::shared_ptr<arrow::Schema>& schema, const Microbatch& mb) {
  ExpectSameRows(*ToTable(schema, mb.data), *Oracle(server, sql, mb.range.start, mb.range.end));
}

TEST(DevnetStream, MicrobatchesCoverHistoryChainAndFollowNewBlocks) {
  DevnetOptions options = SmallOptions();
  options.history = 25;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->ticket().is_streaming);
  auto schema = stream->schema();
  ASSERT_NE(schema, nullptr);

  const std::vector<std::pair<uint64_t, uint64_t>> expected = {{0, 9}, {10, 19}, {20, 24}};
  BlockRange prev;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    EXPECT_EQ(mb.range.start, expected[i].first);
    EXPECT_EQ(mb.range.end, expected[i].second);
    EXPECT_EQ(mb.range.network, "mainnet");
    ASSERT_OK_AND_ASSIGN(auto canonical, server->CanonicalRange(mb.range.start, mb.range.end));
    EXPECT_EQ(mb.range, canonical);
    if (i == 0) {
      EXPECT_TRUE(mb.range.prev_hash.IsZero());
    } else {
      EXPECT_EQ(mb.range.prev_hash, prev.hash);  // hash chaining
    }
    EXPECT_EQ(mb.keep_alives, 0);  // keep_alive_at_microbatch_start is off
    ExpectMicrobatchRows(*server, kTxSql, schema, mb);
    prev = mb.range;
  }

  // The idle stream may wake up between the three blocks: one or more microbatches.
  for (int i = 0; i < 3; ++i) server->ProduceBlock();
  while (prev.end < 27) {
    ASSERT_OK_AND_ASSIGN(Microbatch next, stream->NextMicrobatch());
    EXPECT_EQ(next.range.start, prev.end + 1);
    EXPECT_LE(next.range.end, 27u);
    EXPECT_EQ(next.range.prev_hash, prev.hash);
    ExpectMicrobatchRows(*server, kTxSql, schema, next);
    prev = next.range;
  }
}

TEST(DevnetStream, LiveBlocksArriveAsContiguousMicrobatches) {
  DevnetOptions options = SmallOptions();
  options.history = 5;
  options.block_time_ms = 20;
  options.microbatch_blocks = 4;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  auto schema = stream->schema();

  std::vector<Microbatch> batches;
  while (batches.empty() || batches.back().range.end < 25) {
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    batches.push_back(std::move(mb));
  }
  ASSERT_GE(batches.size(), 7u);
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto& r = batches[i].range;
    EXPECT_LE(r.num_blocks(), 4u);
    if (i == 0) {
      EXPECT_EQ(r.start, 0u);
    } else {
      EXPECT_EQ(r.start, batches[i - 1].range.end + 1);
      EXPECT_EQ(r.prev_hash, batches[i - 1].range.hash);
    }
    ExpectMicrobatchRows(*server, kTxSql, schema, batches[i]);
  }
}

TEST(DevnetStream, ReorgRewindsToForkPointWithNonChainingPrevHash) {
  DevnetOptions options = SmallOptions();
  options.history = 20;
  options.microbatch_blocks = 5;
  options.keep_alive_at_microbatch_start = true;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  auto schema = stream->schema();

  Microbatch last;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(last, stream->NextMicrobatch());
    EXPECT_TRUE(last.first_is_keep_alive);
  }
  ASSERT_EQ(last.range.end, 19u);
  auto old_rows = Oracle(*server, kTxSql, 17, 19);
  ASSERT_OK_AND_ASSIGN(auto old16, server->CanonicalRange(16, 16));

  ASSERT_OK(server->Reorg(3));  // replaces 17..19
  ASSERT_OK_AND_ASSIGN(Microbatch rewound, stream->NextMicrobatch());
  EXPECT_EQ(rewound.range.start, 17u);  // head - depth + 1 <= previous end
  EXPECT_LE(rewound.range.start, last.range.end);
  EXPECT_EQ(rewound.range.end, 19u);
  EXPECT_NE(rewound.range.prev_hash, last.range.hash);  // does not chain: a reorg
  EXPECT_EQ(rewound.range.prev_hash, old16.hash);       // fork point 16 is unchanged
  EXPECT_NE(rewound.range.hash, last.range.hash);
  ASSERT_OK_AND_ASSIGN(auto canonical, server->CanonicalRange(17, 19));
  EXPECT_EQ(rewound.range, canonical);
  auto new_rows = ToTable(schema, rewound.data);
  ExpectSameRows(*new_rows, *Oracle(*server, kTxSql, 17, 19));
  EXPECT_FALSE(new_rows->Equals(*old_rows));  // the replaced blocks have new rows

  // And the stream continues from the new branch.
  server->ProduceBlock();
  ASSERT_OK_AND_ASSIGN(Microbatch after, stream->NextMicrobatch());
  EXPECT_EQ(after.range.start, 20u);
  EXPECT_EQ(after.range.prev_hash, rewound.range.hash);
}

TEST(DevnetStream, ResumeFromCanonicalCursorStartsAfterIt) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto at9, server->CanonicalRange(9, 9));
  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{9, at9.hash};
  auto stream = Stream::Open(*client, kTxSql, {{"amp-resume", cursor.ToJson()}});
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 10u);
  EXPECT_EQ(mb.range.end, 19u);
  EXPECT_EQ(mb.range.prev_hash, at9.hash);
  ExpectMicrobatchRows(*server, kTxSql, stream->schema(), mb);
}

TEST(DevnetStream, ResumeFromOrphanedCursorRewindsToForkPoint) {
  DevnetOptions options = SmallOptions();
  options.history = 20;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto at18, server->CanonicalRange(18, 18));
  ASSERT_OK_AND_ASSIGN(auto at16, server->CanonicalRange(16, 16));
  ASSERT_OK(server->Reorg(3));  // 17..19 replaced while the client was away

  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{18, at18.hash};
  auto stream = Stream::Open(*client, kTxSql, {{"amp-resume", cursor.ToJson()}});
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 17u);
  EXPECT_EQ(mb.range.end, 19u);
  EXPECT_EQ(mb.range.prev_hash, at16.hash);
  EXPECT_NE(mb.range.prev_hash, at18.hash);
  ExpectMicrobatchRows(*server, kTxSql, stream->schema(), mb);
}

TEST(DevnetStream, MalformedResumeIsIgnored) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  for (const std::string bad : {"{bogus", R"({"mainnet":{"number":3}})"}) {
    auto stream = Stream::Open(*client, kTxSql, {{"amp-resume", bad}});
    ASSERT_NE(stream, nullptr);
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    EXPECT_EQ(mb.range.start, 0u) << bad;
    EXPECT_TRUE(mb.range.prev_hash.IsZero());
    stream->reader().Cancel();
  }
}

TEST(DevnetStream, AmpStreamHeaderOverridesSettings) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);

  // Forced on: a plain query streams in microbatches.
  const std::string plain = "SELECT block_num, hash FROM eth_firehose.blocks";
  auto stream = Stream::Open(*client, plain, {{"amp-stream", "true"}});
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->ticket().is_streaming);
  for (uint64_t start : {0u, 10u, 20u}) {
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    EXPECT_EQ(mb.range.start, start);
    EXPECT_EQ(mb.range.end, start + 9);
  }
  stream->reader().Cancel();

  // Forced off: a SETTINGS stream = true query runs as a batch and ends.
  QueryResult batch = RunQuery(*client, plain + " SETTINGS stream = true",
                               Headers({{"amp-stream", "false"}}));
  ASSERT_TRUE(batch.status.ok()) << batch.status;
  ASSERT_GE(batch.messages.size(), 2u);
  EXPECT_TRUE(batch.messages.back().meta.ranges_complete);
  EXPECT_EQ(batch.messages.back().meta.ranges.at(0).start, 0u);
  EXPECT_EQ(batch.messages.back().meta.ranges.at(0).end, 29u);
}

TEST(DevnetStream, WhereOnBlockNumDoesNotMoveTheStart) {
  DevnetOptions options = SmallOptions();
  options.history = 20;
  options.microbatch_blocks = 5;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  const std::string sql =
      "SELECT block_num FROM eth_firehose.blocks WHERE block_num >= 15 SETTINGS stream = true";
  auto stream = Stream::Open(*client, sql);
  ASSERT_NE(stream, nullptr);
  auto schema = stream->schema();
  for (uint64_t start : {0u, 5u, 10u}) {
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    EXPECT_EQ(mb.range.start, start);
    EXPECT_TRUE(mb.data.empty());  // only the completion
  }
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 15u);
  auto rows = ToTable(schema, mb.data);
  EXPECT_EQ(rows->num_rows(), 5);
  ExpectMicrobatchRows(*server, sql, schema, mb);
}

TEST(DevnetStream, KeepAliveAtMicrobatchStartFollowsTheOption) {
  for (bool on : {true, false}) {
    DevnetOptions options = SmallOptions();
    options.keep_alive_at_microbatch_start = on;
    auto server = StartOrDie(options);
    auto client = Connect(*server);
    auto stream = Stream::Open(*client, kTxSql);
    ASSERT_NE(stream, nullptr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
      EXPECT_EQ(mb.first_is_keep_alive, on);
      EXPECT_EQ(mb.keep_alives, on ? 1 : 0);
      EXPECT_FALSE(mb.data.empty());
    }
    stream->reader().Cancel();
  }
}

TEST(DevnetStream, KeepAlivesDuringASlowMicrobatch) {
  DevnetOptions options = SmallOptions();
  options.history = 4;
  options.microbatch_blocks = 4;
  options.txs_per_block = 8;
  options.logs_per_block = 4096;  // 2 blocks per generated chunk: several data messages
  options.keep_alive = std::chrono::milliseconds(30);
  options.faults.message_delay = std::chrono::milliseconds(45);
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(
      *client, "SELECT block_num, log_index FROM eth_firehose.logs SETTINGS stream = true");
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 0u);
  EXPECT_EQ(mb.range.end, 3u);
  ASSERT_GE(mb.data.size(), 2u);
  EXPECT_GE(mb.keep_alives_after_data, 1);  // 0-row, not complete, same range, mid-microbatch
}

TEST(DevnetStream, IdleStreamSendsNothingAndSchemaIsLazy) {
  DevnetOptions options = SmallOptions();
  options.keep_alive = std::chrono::milliseconds(20);
  options.keep_alive_at_microbatch_start = true;
  auto server = StartOrDie(options);
  auto client = Connect(*server);

  // Caught up after three microbatches: no keep-alive or anything else until the deadline.
  auto stream = Stream::Open(*client, kTxSql, {}, std::chrono::milliseconds(1500));
  ASSERT_NE(stream, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_OK(stream->NextMicrobatch().status());
  auto idle = stream->NextMessage();
  ASSERT_FALSE(idle.ok()) << "got a message while idle: " << idle->raw;
  EXPECT_EQ(GrpcCode(idle.status()), TransportCode::kTimedOut) << idle.status();

  // Resuming at the head: even the schema waits for the first microbatch.
  ASSERT_OK_AND_ASSIGN(auto head, server->CanonicalRange(29, 29));
  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{29, head.hash};
  // (Arrow's client waits for the schema message inside DoGet.)
  auto resume = Headers({{"amp-resume", cursor.ToJson()}});
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(resume, SqlDescriptor(kTxSql)));
  resume.timeout = flight::TimeoutDuration(0.4);
  auto lazy = client->DoGet(resume, info->endpoints()[0].ticket);
  Status lazy_status = lazy.status();
  if (lazy.ok()) lazy_status = (*lazy)->GetSchema().status();
  ASSERT_FALSE(lazy_status.ok());
  EXPECT_EQ(GrpcCode(lazy_status), TransportCode::kTimedOut) << lazy_status;

  auto producer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server->ProduceBlock();
  });
  const auto start = Clock::now();
  auto waiting = Stream::Open(*client, kTxSql, {{"amp-resume", cursor.ToJson()}});
  ASSERT_NE(waiting, nullptr);
  ASSERT_NE(waiting->schema(), nullptr);
  EXPECT_GE(SecondsSince(start), 0.15);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, waiting->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 30u);
  EXPECT_EQ(mb.range.end, 30u);
  EXPECT_EQ(mb.range.prev_hash, head.hash);
  producer.get();
}

}  // namespace
}  // namespace amp::devnet::server::testing
