// Streaming DoGet through a raw Flight client: microbatches, hash chaining, live blocks,
// reorgs, resume cursors, amp-stream overrides, keep-alives, idle silence.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "devnet/chain.h"
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

// ampd accepts a cursor whose hash it never saw at an existing height and restarts at that
// block: the range begins at the cursor's number, so the client sees a rewind (a reorg).
TEST(DevnetStream, ResumeFromNeverSeenHashRestartsAtThatBlock) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  BlockHash bogus;
  bogus.bytes.fill(0x5a);
  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{5, bogus};
  auto stream = Stream::Open(*client, kTxSql, {{"amp-resume", cursor.ToJson()}});
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  ASSERT_OK_AND_ASSIGN(auto at4, server->CanonicalRange(4, 4));
  EXPECT_EQ(mb.range.start, 5u);  // <= the cursor's number: a rewind for the client
  EXPECT_EQ(mb.range.end, 14u);
  EXPECT_EQ(mb.range.prev_hash, at4.hash);
  EXPECT_NE(mb.range.prev_hash, bogus);
  ExpectMicrobatchRows(*server, kTxSql, stream->schema(), mb);
}

// A replica behind the client's checkpoint: ampd accepts the cursor and sends nothing (not
// even the schema) until its head passes the cursor, then continues right after it.
TEST(DevnetStream, ResumeAboveTheHeadWaitsSilentlyThenContinuesAfterIt) {
  DevnetOptions options = SmallOptions();
  options.history = 10;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  // The hash block 14 will have: the chain is deterministic, so a twin knows it already.
  ChainOptions twin_options;
  twin_options.seed = options.seed;
  twin_options.history = 15;
  const BlockHash at14 = Chain(twin_options).Snapshot()->hash(14);
  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{14, at14};

  auto resume = Headers({{"amp-resume", cursor.ToJson()}});
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(resume, SqlDescriptor(kTxSql)));
  resume.timeout = flight::TimeoutDuration(0.4);
  auto silent = client->DoGet(resume, info->endpoints()[0].ticket);
  Status silent_status = silent.status();
  if (silent.ok()) silent_status = (*silent)->GetSchema().status();
  ASSERT_FALSE(silent_status.ok());
  EXPECT_EQ(GrpcCode(silent_status), TransportCode::kTimedOut) << silent_status;

  auto producer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (int i = 0; i < 7; ++i) server->ProduceBlock();  // head 16
  });
  auto stream = Stream::Open(*client, kTxSql, {{"amp-resume", cursor.ToJson()}});
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  producer.get();
  EXPECT_EQ(mb.range.start, 15u);
  EXPECT_EQ(mb.range.prev_hash, at14);
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

constexpr const char* kNothingSynced = R"({"ranges":[],"ranges_complete":true})";

// ampd, asked to stream a deployed table it has synced nothing of, does not wait: the
// schema, one 0-row batch with ranges [] and ranges_complete, then a normal end.
TEST(DevnetStream, UnsyncedTableGetsAmpdsEmptyAnswerWhileOthersStream) {
  DevnetOptions options = SmallOptions();
  options.unsynced_tables = {"logs"};
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto empty = RunQuery(
      *client, "SELECT block_num, log_index FROM eth_firehose.logs SETTINGS stream = true");
  ASSERT_OK(empty.status);
  ASSERT_NE(empty.schema, nullptr);
  EXPECT_EQ(empty.schema->field_names(), (std::vector<std::string>{"block_num", "log_index"}));
  ASSERT_EQ(empty.messages.size(), 1u);
  EXPECT_EQ(empty.messages[0].batch->num_rows(), 0);
  EXPECT_EQ(empty.messages[0].raw, kNothingSynced);

  // Batch queries on it: no rows, ranges [] (ampd's common ranges of an unsynced table).
  auto count = RunQuery(*client, "SELECT COUNT(*) AS n FROM eth_firehose.logs");
  ASSERT_OK(count.status);
  ASSERT_GE(count.messages.size(), 2u);
  EXPECT_EQ(count.messages.back().raw, kNothingSynced);
  for (size_t i = 0; i + 1 < count.messages.size(); ++i) {
    EXPECT_EQ(count.messages[i].raw, R"({"ranges":[],"ranges_complete":false})");
  }
  auto n = ToTable(count.schema, count.messages);
  ASSERT_EQ(n->num_rows(), 1);
  EXPECT_EQ(n->column(0)->chunk(0)->GetScalar(0).ValueOrDie()->ToString(), "0");
  ASSERT_OK_AND_ASSIGN(auto oracle, server->CanonicalRows("logs", 0, 29));
  EXPECT_EQ(oracle->num_rows(), 0);

  // The other tables are synced as usual.
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 0u);
  EXPECT_EQ(mb.range.end, 9u);
  ExpectMicrobatchRows(*server, kTxSql, stream->schema(), mb);
  EXPECT_FALSE(DevnetServer::Start([] {
                 DevnetOptions bad = SmallOptions();
                 bad.unsynced_tables = {"nope"};
                 return bad;
               }())
                   .ok());
}

TEST(DevnetStream, HistoryZeroIsNothingSyncedUntilTheFirstBlock) {
  DevnetOptions options = SmallOptions();
  options.history = 0;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  EXPECT_FALSE(server->HasBlocks());
  const std::string sql = "SELECT block_num, hash FROM eth_firehose.blocks";
  auto empty = RunQuery(*client, sql + " SETTINGS stream = true");
  ASSERT_OK(empty.status);
  ASSERT_EQ(empty.messages.size(), 1u);
  EXPECT_EQ(empty.messages[0].raw, kNothingSynced);
  auto batch = RunQuery(*client, sql);
  ASSERT_OK(batch.status);
  EXPECT_EQ(ToTable(batch.schema, batch.messages)->num_rows(), 0);
  EXPECT_EQ(batch.messages.back().raw, kNothingSynced);
  EXPECT_FALSE(server->CanonicalRange(0, 0).ok());

  EXPECT_EQ(server->ProduceBlock(), 0u);  // genesis
  EXPECT_TRUE(server->HasBlocks());
  auto stream = Stream::Open(*client, sql + " SETTINGS stream = true");
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
  EXPECT_EQ(mb.range.start, 0u);
  EXPECT_EQ(mb.range.end, 0u);
  EXPECT_TRUE(mb.range.prev_hash.IsZero());
  ExpectMicrobatchRows(*server, sql, stream->schema(), mb);
}

// Every data message holds the rows of exactly one block.
void ExpectOneBlockPerMessage(const std::vector<Message>& data) {
  for (const Message& m : data) {
    auto blocks = std::static_pointer_cast<arrow::UInt64Array>(m.batch->GetColumnByName("block_num"));
    ASSERT_NE(blocks, nullptr);
    ASSERT_GT(blocks->length(), 0);
    for (int64_t i = 1; i < blocks->length(); ++i) EXPECT_EQ(blocks->Value(i), blocks->Value(0));
  }
}

TEST(DevnetStream, AmpdChunkingSendsAMessagePerBlockAndFewStartKeepAlives) {
  DevnetOptions options = SmallOptions();
  options.chunking = DevnetChunking::kAmpd;
  options.keep_alive_at_microbatch_start = true;
  options.microbatch_blocks = 2;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  for (int i = 0; i < 15; ++i) {
    ASSERT_OK_AND_ASSIGN(Microbatch mb, stream->NextMicrobatch());
    EXPECT_EQ(mb.range.start, 2u * i);
    EXPECT_EQ(mb.data.size(), 2u) << "microbatch " << i;  // two blocks, a message each
    ExpectOneBlockPerMessage(mb.data);
    EXPECT_EQ(mb.keep_alives, i % 8 == 0 ? 1 : 0) << "microbatch " << i;
    ExpectMicrobatchRows(*server, kTxSql, stream->schema(), mb);
  }
  const std::string batch_sql =
      "SELECT block_num, log_index FROM eth_firehose.logs WHERE block_num < 10";
  auto batch = RunQuery(*client, batch_sql);
  ASSERT_OK(batch.status);
  std::vector<Message> data;
  for (const Message& m : batch.messages) {
    if (m.batch->num_rows() > 0) data.push_back(m);
  }
  EXPECT_EQ(data.size(), 10u);
  ExpectOneBlockPerMessage(data);
  ExpectSameRows(*ToTable(batch.schema, batch.messages), *Oracle(*server, batch_sql, 0, 9));

  // Blocks generated together in a chunk of more than 2 MiB: still a message per block (a
  // block's slice must not be sized by the whole chunk's buffers).
  DevnetOptions wide = options;
  wide.history = 16;
  wide.logs_per_block = 1024;  // 8 blocks per generated chunk of ~2.5 MiB
  auto wide_server = StartOrDie(wide);
  auto wide_client = Connect(*wide_server);
  auto all = RunQuery(*wide_client, "SELECT * FROM eth_firehose.logs");
  ASSERT_OK(all.status);
  std::vector<Message> wide_data;
  for (const Message& m : all.messages) {
    if (m.batch->num_rows() > 0) wide_data.push_back(m);
  }
  EXPECT_EQ(wide_data.size(), 16u);
  ExpectOneBlockPerMessage(wide_data);

  // The default, large chunking: the same ten blocks in one message.
  auto large_server = StartOrDie(SmallOptions());
  auto large_client = Connect(*large_server);
  auto large = RunQuery(*large_client, batch_sql);
  ASSERT_OK(large.status);
  int large_data = 0;
  for (const Message& m : large.messages) large_data += m.batch->num_rows() > 0 ? 1 : 0;
  EXPECT_EQ(large_data, 1);
}

// ampd shows a rewind seconds after the reorg; blocks orphaned meanwhile never show.
TEST(DevnetStream, ReorgDelayShowsTheRewindLateAndHidesOrphansInBetween) {
  DevnetOptions options = SmallOptions();
  options.history = 20;
  options.microbatch_blocks = 5;
  // Long enough that the batch query below surely runs within it, even on a busy machine.
  options.reorg_delay = std::chrono::milliseconds(1500);
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  auto stream = Stream::Open(*client, kTxSql);
  ASSERT_NE(stream, nullptr);
  Microbatch last;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(last, stream->NextMicrobatch());
  }
  ASSERT_EQ(last.range.end, 19u);

  const auto reorged = Clock::now();
  ASSERT_OK(server->Reorg(2));         // 18', 19'
  server->ProduceBlock();              // 20' on top
  ASSERT_OK_AND_ASSIGN(auto orphan, server->CanonicalRange(19, 20));
  ASSERT_OK(server->Reorg(2));         // 19'', 20'': 19' and 20' are orphaned at once

  // Meanwhile batch queries still see the chain from before the first reorg.
  auto before = RunQuery(*client, "SELECT block_num FROM eth_firehose.blocks WHERE block_num > 17");
  ASSERT_OK(before.status);
  EXPECT_EQ(ToTable(before.schema, before.messages)->num_rows(), 2);  // 18, 19: no 20 yet
  EXPECT_EQ(before.messages.back().meta.ranges.at(0).hash, last.range.hash);

  ASSERT_OK_AND_ASSIGN(Microbatch rewound, stream->NextMicrobatch());
  EXPECT_GE(SecondsSince(reorged), 1.45);  // not before the delay (a lower bound only)
  ASSERT_OK_AND_ASSIGN(auto canonical, server->CanonicalRange(18, 20));
  EXPECT_EQ(rewound.range, canonical);  // straight to the final branch
  EXPECT_NE(rewound.range.hash, orphan.hash);
  ExpectMicrobatchRows(*server, kTxSql, stream->schema(), rewound);
}

}  // namespace
}  // namespace amp::devnet::server::testing
