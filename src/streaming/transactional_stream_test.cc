// Scenario tests of the stream engine's state machine against the scripted Flight server:
// each connection of the engine gets the next scripted response (the last one repeats),
// and every event is checked by id, kind, blocks and rows. The cases port the Amp Rust
// client's transactional scenarios (happy path, reorgs, rewind and crash recovery) and
// add what a Flight stream adds: drops, retries, resume cursors, batch queries.
#include "amp/stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arrow/api.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "flight/testing/scripted_server_fixture.h"

namespace amp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace amp::testing;  // the scripted server and its batches and ranges

constexpr char kNet[] = "mainnet";
constexpr char kQuery[] = "SELECT block_num FROM eth_firehose.blocks";

// --- Script building. ---

BlockRange R(BlockNumber start, BlockNumber end, int fork = 0, std::optional<int> prev_fork = std::nullopt) {
  return TestRange(kNet, start, end, fork, prev_fork);
}

std::vector<uint64_t> Blocks(BlockNumber start, BlockNumber end) {
  std::vector<uint64_t> out;
  for (BlockNumber b = start; b <= end; ++b) out.push_back(b);
  return out;
}

ScriptedMessage Data(const BlockRange& r, std::vector<uint64_t> rows = {}) {
  if (rows.empty()) rows = Blocks(r.start, r.end);
  return ScriptedMessage::Make(BlockNumBatch(rows), BatchMetadata{{r}, false});
}
ScriptedMessage KeepAlive(const BlockRange& r) {
  return ScriptedMessage::Make(BlockNumBatch({}), BatchMetadata{{r}, false});
}
ScriptedMessage Done(const BlockRange& r) {
  return ScriptedMessage::Make(BlockNumBatch({}), BatchMetadata{{r}, true});
}

ScriptedResponse Stream(std::vector<ScriptedMessage> messages, Status final_error = Status::OK()) {
  ScriptedResponse response;
  response.schema = BlockNumSchema();
  response.messages = std::move(messages);
  response.final_error = std::move(final_error);
  response.hold_open = final_error.ok();
  return response;
}

Status Unavailable() {
  return arrow::flight::MakeFlightError(arrow::flight::FlightStatusCode::Unavailable, "try later");
}

// --- Event description: compact text that makes expectations readable. ---

std::string BlocksText(BlockNumber start, BlockNumber end) {
  return std::to_string(start) + ".." + (end == kMaxBlock ? std::string("max") : std::to_string(end));
}

std::string Describe(const StreamEvent& event) {
  if (const auto* d = std::get_if<DataEvent>(&event)) {
    return "D" + std::to_string(d->id) + " " + BlocksText(d->ranges.at(0).start, d->ranges.at(0).end) +
           " rows=" + std::to_string(d->batch->num_rows());
  }
  if (const auto* u = std::get_if<UndoEvent>(&event)) {
    return "U" + std::to_string(u->id) + " " + ToString(u->cause) + " " + u->network + " " +
           BlocksText(u->blocks.start, u->blocks.end);
  }
  const auto& w = std::get<WatermarkEvent>(event);
  std::string text = "W" + std::to_string(w.id);
  if (!w.ranges.empty()) text += " " + BlocksText(w.ranges[0].start, w.ranges[0].end);
  auto it = w.cursor.networks.find(kNet);
  text += it == w.cursor.networks.end() ? " @none" : " @" + std::to_string(it->second.number);
  return text;
}

class EngineTest : public ScriptedServerTest {
 protected:
  void SetUpWithServer() override {
    client_ = std::make_unique<Client>(server_->url());
  }

 public:
  const Client& client() const { return *client_; }
  const ScriptedFlightServer& server() const { return *server_; }
  // The successive connections of the test, from the first one on.
  void Script(std::vector<ScriptedResponse> responses) { server_->ServeInOrder(std::move(responses)); }

  static StreamOptions Options(std::string block_column = "block_num") {
    StreamOptions o;
    o.stream_id = "test-stream";
    o.block_column = std::move(block_column);
    o.retry.initial_backoff = std::chrono::milliseconds(1);
    o.retry.max_backoff = std::chrono::milliseconds(5);
    o.retry.max_attempts = 5;
    return o;
  }

 protected:

  // Reads `n` events, committing at every watermark (like the Rust scenarios' auto-commit)
  // unless `commit` is false.
  // A watchdog cancels the stream if the events do not come, so that a missing event
  // fails the test instead of hanging it.
  std::vector<StreamEvent> Read(TransactionalStream& stream, size_t n, bool commit = true) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(5), [&] { return done; })) stream.Cancel();
    });
    auto events = ReadEvents(stream, n, commit);
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
    return events;
  }

  std::vector<StreamEvent> ReadEvents(TransactionalStream& stream, size_t n, bool commit) {
    std::vector<StreamEvent> events;
    while (events.size() < n) {
      auto next = stream.Next();
      EXPECT_TRUE(next.ok()) << next.status().ToString();
      if (!next.ok() || !next->has_value()) break;
      if (commit) {
        if (const auto* w = std::get_if<WatermarkEvent>(&**next)) stream.Commit(w->checkpoint);
      }
      events.push_back(std::move(**next));
    }
    return events;
  }

  static std::vector<std::string> Describe(const std::vector<StreamEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(amp::Describe(e));
    return out;
  }

  // The amp-resume header of each GetFlightInfo ("" when absent).
  std::vector<std::string> ResumeHeaders() const {
    std::vector<std::string> out;
    for (const auto& call : server_->calls()) {
      if (call.method == "GetFlightInfo") out.push_back(call.Header("amp-resume").value_or(""));
    }
    return out;
  }

  static std::string CursorJson(BlockNumber number, int fork = 0) {
    Cursor c;
    c.networks[kNet] = NetworkCursor{number, TestBlockHash(kNet, number, fork)};
    return c.ToJson();
  }

  std::unique_ptr<Client> client_;
};

// --- Happy path. ---

TEST_F(EngineTest, DataThenWatermarkAdvancesIdsAndCheckpoint) {
  Script({Stream({KeepAlive(R(0, 10)), Data(R(0, 10)), Done(R(0, 10))})});
  TransactionalStream stream(*client_, kQuery, Options());
  auto events = Read(stream, 2);
  EXPECT_THAT(Describe(events), ElementsAre("D0 0..10 rows=11", "W1 0..10 @10"));
  const auto& w = std::get<WatermarkEvent>(events[1]);
  EXPECT_EQ(w.ranges, std::vector<BlockRange>{R(0, 10)});
  EXPECT_EQ(w.checkpoint.transaction_id, 1u);
  EXPECT_EQ(w.checkpoint.stream_id, "test-stream");
  EXPECT_EQ(w.checkpoint.cursor.ToJson(), CursorJson(10));
  EXPECT_EQ(w.checkpoint.recent_ranges, std::vector<BlockRange>{R(0, 10)});
  ASSERT_TRUE(stream.committed().has_value());
  EXPECT_EQ(stream.committed()->transaction_id, 1u);
  // Streaming is requested by header, with no resume cursor on a fresh start.
  auto calls = server_->calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].Header("amp-stream").value_or(""), "true");
  EXPECT_THAT(ResumeHeaders(), ElementsAre(""));
}

TEST_F(EngineTest, SeveralBatchesOfOneMicrobatchThenConsecutiveWatermarks) {
  Script({Stream({Data(R(0, 9), Blocks(0, 4)), KeepAlive(R(0, 9)), Data(R(0, 9), Blocks(5, 9)),
                  Done(R(0, 9)), Done(R(10, 19)), KeepAlive(R(20, 29)), Done(R(20, 29))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 5)),
              ElementsAre("D0 0..9 rows=5", "D1 0..9 rows=5", "W2 0..9 @9", "W3 10..19 @19",
                          "W4 20..29 @29"));
}

TEST_F(EngineTest, RetentionPrunesOldRangesFromTheCheckpoint) {
  StreamOptions options = Options();
  options.retention_blocks = 10;
  Script({Stream({Done(R(0, 5)), Done(R(6, 10)), Done(R(11, 20)), Done(R(21, 25))})});
  TransactionalStream stream(*client_, kQuery, options);
  auto events = Read(stream, 4);
  // At end 25 the cutoff is 15: ranges ending before it are gone.
  EXPECT_EQ(std::get<WatermarkEvent>(events[3]).checkpoint.recent_ranges,
            (std::vector<BlockRange>{R(11, 20), R(21, 25)}));
  EXPECT_EQ(std::get<WatermarkEvent>(events[1]).checkpoint.recent_ranges,
            (std::vector<BlockRange>{R(0, 5), R(6, 10)}));
}

// --- Reorgs. ---

TEST_F(EngineTest, ReorgUndoesStartToMaxEndThenDeliversTheSameBatch) {
  // 21..=30 is replaced from block 25 on: invalidate [25, max(27, 30)].
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20)),
                  Data(R(21, 30)), Done(R(21, 30)), Data(R(25, 27, 1, 0)), Done(R(25, 27, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options());
  auto events = Read(stream, 9);
  EXPECT_THAT(Describe(events),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20",
                          "D4 21..30 rows=10", "W5 21..30 @30", "U6 reorg mainnet 25..30",
                          "D7 25..27 rows=3", "W8 25..27 @27"));
  // The straddling range is shortened to its canonical part, ending at the fork's parent.
  BlockRange trimmed = R(21, 24);
  trimmed.prev_hash = TestBlockHash(kNet, 20);
  EXPECT_EQ(std::get<WatermarkEvent>(events[8]).checkpoint.recent_ranges,
            (std::vector<BlockRange>{R(0, 10), R(11, 20), trimmed, R(25, 27, 1, 0)}));
  EXPECT_EQ(stream.stats().reorgs, 1);
  EXPECT_EQ(stream.stats().connections, 1);  // exact undo: no reconnect
}

TEST_F(EngineTest, ReorgAnnouncedByAKeepAliveAndDeepReorgOverSeveralMicrobatches) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20)),
                  Data(R(21, 30)), Done(R(21, 30)), KeepAlive(R(11, 40, 1, 0)),
                  Data(R(11, 40, 1, 0)), Done(R(11, 40, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 9)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20",
                          "D4 21..30 rows=10", "W5 21..30 @30", "U6 reorg mainnet 11..40",
                          "D7 11..40 rows=30", "W8 11..40 @40"));
}

TEST_F(EngineTest, ConsecutiveReorgs) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20)),
                  Data(R(21, 30)), Done(R(21, 30)), Done(R(21, 25, 1, 0)), Data(R(26, 30, 1)),
                  Done(R(26, 30, 1)), Data(R(21, 30, 2, 0)), Done(R(21, 30, 2, 0))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 13)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20",
                          "D4 21..30 rows=10", "W5 21..30 @30", "U6 reorg mainnet 21..30",
                          "W7 21..25 @25", "D8 26..30 rows=5", "W9 26..30 @30",
                          "U10 reorg mainnet 21..30", "D11 21..30 rows=10", "W12 21..30 @30"));
}

TEST_F(EngineTest, ReorgOfAnIncompleteMicrobatchIsNotLost) {
  // The server replaces a microbatch before completing it: its rows are undone with it.
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Data(R(11, 15, 1, 0)),
                  Done(R(11, 15, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 6)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10",
                          "U3 reorg mainnet 11..20", "D4 11..15 rows=5", "W5 11..15 @15"));
}

TEST_F(EngineTest, ReorgInsideAMicrobatchWithoutBlockColumnReloadsItFromBeforeIt) {
  // Rows carry no block number: a fork at 15 inside [11, 20] undoes all of [11, 20] and
  // resumes after block 10, whose server re-sends 11.. (11..14 unchanged, 15.. new).
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20)),
                  Data(R(15, 22, 1, 0)), Done(R(15, 22, 1, 0))}),
          Stream({Data(R(11, 22, 1, 0)), Done(R(11, 22, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options(/*block_column=*/""));
  auto events = Read(stream, 8);
  EXPECT_THAT(Describe(events),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20",
                          "U4 reorg mainnet 11..22", "W5 @10", "D6 11..22 rows=12", "W7 11..22 @22"));
  // The rewind watermark resumes at the microbatch's parent, with its prev_hash.
  const auto& rewind = std::get<WatermarkEvent>(events[5]);
  EXPECT_TRUE(rewind.ranges.empty());
  EXPECT_EQ(rewind.checkpoint.cursor.ToJson(), CursorJson(10));
  EXPECT_EQ(rewind.checkpoint.recent_ranges, std::vector<BlockRange>{R(0, 10)});
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", CursorJson(10)));
  EXPECT_EQ(stream.stats().reconnects, 1);
  EXPECT_EQ(stream.stats().failures, 0);  // a planned reconnect, not a failure
}

TEST_F(EngineTest, ReorgAtAMicrobatchBoundaryWithoutBlockColumnNeedsNoReconnect) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20)),
                  Data(R(11, 22, 1, 0)), Done(R(11, 22, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options(""));
  EXPECT_THAT(Describe(Read(stream, 7)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20",
                          "U4 reorg mainnet 11..22", "D5 11..22 rows=12", "W6 11..22 @22"));
  EXPECT_EQ(stream.stats().connections, 1);
}

TEST_F(EngineTest, ReorgInsideTheFirstMicrobatchWithoutBlockColumnRestartsFromGenesis) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(5, 12, 1, 0)), Done(R(5, 12, 1, 0))}),
          Stream({Data(R(0, 12, 1, 0)), Done(R(0, 12, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options(""));
  EXPECT_THAT(Describe(Read(stream, 6)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "U2 reorg mainnet 0..12", "W3 @none",
                          "D4 0..12 rows=13", "W5 0..12 @12"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", ""));
}

TEST_F(EngineTest, UncommittedCutReorgIsRewoundFromTheLastCommit) {
  // The consumer never commits: the planned reconnect resumes from the initial state and
  // first tells it to drop everything it got (the rewind).
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(5, 12, 1, 0)), Done(R(5, 12, 1, 0))}),
          Stream({Data(R(0, 12, 1, 0)), Done(R(0, 12, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, Options(""));
  EXPECT_THAT(Describe(Read(stream, 7, /*commit=*/false)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "U2 reorg mainnet 0..12", "W3 @none",
                          "U4 rewind mainnet 0..max", "D5 0..12 rows=13", "W6 0..12 @12"));
}

TEST_F(EngineTest, ReorgDeeperThanRetentionWithoutBlockColumnIsFatal) {
  StreamOptions options = Options("");
  options.retention_blocks = 5;
  Script({Stream({Done(R(0, 10)), Done(R(11, 20)), Done(R(21, 30)), Data(R(15, 31, 1, 0))})});
  TransactionalStream stream(*client_, kQuery, options);
  Read(stream, 3);
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(ClassOf(next.status()), ErrorClass::kFatal);
  EXPECT_THAT(next.status().message(), HasSubstr("retention_blocks"));
  // The fix it names exists on the command line (ampsync load --retention-blocks).
  EXPECT_THAT(next.status().message(), HasSubstr("--retention-blocks"));
  EXPECT_FALSE(stream.Next().ok());  // sticky: nothing after a reorg it could not undo
}

// --- Resume, rewind, restart. ---

StreamCheckpoint Checkpoint(std::vector<BlockRange> recent, TransactionId id) {
  StreamCheckpoint cp;
  cp.stream_id = "test-stream";
  cp.cursor = Cursor::FromRanges({recent.back()});
  cp.recent_ranges = std::move(recent);
  cp.transaction_id = id;
  return cp;
}

TEST_F(EngineTest, ResumesAfterTheCheckpointWithIdsContinuing) {
  Script({Stream({Data(R(21, 30)), Done(R(21, 30))})});
  StreamOptions options = Options();
  options.checkpoint = Checkpoint({R(11, 20)}, 41);
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 2)), ElementsAre("D42 21..30 rows=10", "W43 21..30 @30"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre(CursorJson(20)));
}

TEST_F(EngineTest, RewindOnStartUndoesWhatFollowsTheCheckpoint) {
  // A destination that is not atomic may hold rows past its checkpoint after a crash.
  Script({Stream({Data(R(21, 30)), Done(R(21, 30))})});
  StreamOptions options = Options();
  options.checkpoint = Checkpoint({R(11, 20)}, 3);
  options.rewind_on_start = true;
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 3)),
              ElementsAre("U4 rewind mainnet 21..max", "D5 21..30 rows=10", "W6 21..30 @30"));
}

TEST_F(EngineTest, ReorgWhileDisconnectedIsDetectedFromTheCheckpoint) {
  // Resumed at 20, the server rewinds to 16: the checkpoint's ranges say 16 lies inside
  // [11, 20], so without block numbers the engine reloads from 10.
  Script({Stream({Data(R(16, 25, 1, 0)), Done(R(16, 25, 1, 0))}),
          Stream({Data(R(11, 25, 1, 0)), Done(R(11, 25, 1, 0))})});
  StreamOptions options = Options("");
  options.checkpoint = Checkpoint({R(0, 10), R(11, 20)}, 9);
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 4)),
              ElementsAre("U10 reorg mainnet 11..25", "W11 @10", "D12 11..25 rows=15", "W13 11..25 @25"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre(CursorJson(20), CursorJson(10)));
}

TEST_F(EngineTest, ReorgWhileDisconnectedWithBlockColumnIsExact) {
  Script({Stream({Data(R(16, 25, 1, 0)), Done(R(16, 25, 1, 0))})});
  StreamOptions options = Options("block_num");
  options.checkpoint = Checkpoint({R(0, 10), R(11, 20)}, 9);
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 3)),
              ElementsAre("U10 reorg mainnet 16..25", "D11 16..25 rows=10", "W12 16..25 @25"));
}

// --- Drops and errors. ---

TEST_F(EngineTest, DroppedStreamReconnectsFromTheCommitAndRewindsTheRest) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20))}, Unavailable()),
          Stream({Data(R(11, 20)), Done(R(11, 20))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 6)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10",
                          "U3 rewind mainnet 11..max", "D4 11..20 rows=10", "W5 11..20 @20"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", CursorJson(10)));
  EXPECT_EQ(stream.stats().reconnects, 1);
  EXPECT_EQ(stream.stats().failures, 1);
}

TEST_F(EngineTest, DropAfterAWatermarkThatWasNotCommittedReplaysIt) {
  // The consumer had not committed W1: the reconnect starts over from nothing.
  Script({Stream({Data(R(0, 10)), Done(R(0, 10))}, Unavailable()),
          Stream({Data(R(0, 10)), Done(R(0, 10))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 5, /*commit=*/false)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "U2 rewind mainnet 0..max",
                          "D3 0..10 rows=11", "W4 0..10 @10"));
}

TEST_F(EngineTest, CleanEndOfAStreamIsADrop) {
  ScriptedResponse ended = Stream({Data(R(0, 10)), Done(R(0, 10))});
  ended.hold_open = false;
  Script({ended, Stream({Data(R(11, 20)), Done(R(11, 20))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 4)),
              ElementsAre("D0 0..10 rows=11", "W1 0..10 @10", "D2 11..20 rows=10", "W3 11..20 @20"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", CursorJson(10)));
}

TEST_F(EngineTest, RetryableConnectErrorsBackOffThenSucceed) {
  ScriptedResponse failing;
  failing.schema = BlockNumSchema();
  failing.info_error = Unavailable();
  Script({failing, failing, Stream({Data(R(0, 10)), Done(R(0, 10))})});
  TransactionalStream stream(*client_, kQuery, Options());
  EXPECT_THAT(Describe(Read(stream, 2)), ElementsAre("D0 0..10 rows=11", "W1 0..10 @10"));
  EXPECT_EQ(stream.stats().failures, 2);
  EXPECT_EQ(stream.stats().connections, 1);
  EXPECT_EQ(stream.stats().requested_cursors.size(), 3u);
}

TEST_F(EngineTest, RetriesAreBounded) {
  ScriptedResponse failing;
  failing.schema = BlockNumSchema();
  failing.info_error = Unavailable();
  Script({failing});
  TransactionalStream stream(*client_, kQuery, Options());
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr("giving up after 5 consecutive failed attempts"));
  EXPECT_EQ(ResumeHeaders().size(), 5u);
}

TEST_F(EngineTest, FatalErrorsStopAtOnce) {
  ScriptedResponse bad;
  bad.schema = BlockNumSchema();
  bad.info_error = Status::Invalid("no such table");
  Script({bad});
  TransactionalStream stream(*client_, kQuery, Options());
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(ClassOf(next.status()), ErrorClass::kFatal);
  EXPECT_EQ(ResumeHeaders().size(), 1u);
  EXPECT_FALSE(stream.Next().ok());  // sticky
}

TEST_F(EngineTest, RestartFromWhatTheDestinationHolds) {
  // The consumer's commit of W3 failed: it restarts from the durable checkpoint (W1).
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(11, 20)), Done(R(11, 20))}),
          Stream({Data(R(11, 20)), Done(R(11, 20))})});
  TransactionalStream stream(*client_, kQuery, Options());
  auto first = Read(stream, 2);
  auto more = Read(stream, 2, /*commit=*/false);
  stream.RestartFrom(std::get<WatermarkEvent>(first[1]).checkpoint, Status::IOError("commit failed"));
  EXPECT_THAT(Describe(Read(stream, 3)),
              ElementsAre("U4 rewind mainnet 11..max", "D5 11..20 rows=10", "W6 11..20 @20"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", CursorJson(10)));
}

TEST_F(EngineTest, CancelEndsABlockedNext) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10))})});  // then held open: Next() blocks
  TransactionalStream stream(*client_, kQuery, Options());
  Read(stream, 2);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stream.Cancel();
  });
  auto next = stream.Next();
  canceller.join();
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.status().IsCancelled());
  EXPECT_TRUE(stream.cancelled());
}

// The status of a first Next() that Cancel() interrupts once the server has received a
// `method` call it does not answer (`hold`: see UnansweredResponse).
Status FirstNextCancelledAfter(EngineTest& test, bool ScriptedResponse::*hold,
                               const std::string& method) {
  test.Script({UnansweredResponse(hold)});
  TransactionalStream stream(test.client(), kQuery, EngineTest::Options());
  std::jthread canceller = ActAfterCall(test.server(), method, [&] { stream.Cancel(); });
  auto next = stream.Next();
  canceller.join();
  return next.status();
}

TEST_F(EngineTest, CancelReachesAConnectionThatHasSentNothing) {
  // ampd resumed at an idle head sends not even the schema: Arrow's DoGet waits for it.
  const Status next = FirstNextCancelledAfter(*this, &ScriptedResponse::silent, "DoGet");
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.IsCancelled()) << next;
  EXPECT_EQ(server_->AwaitCancelledStreams(), 1);
}

TEST_F(EngineTest, CancelReachesAnUnansweredGetFlightInfo) {
  const Status next = FirstNextCancelledAfter(*this, &ScriptedResponse::hold_info, "GetFlightInfo");
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.IsCancelled()) << next;
}

// ampd's answer on a table with nothing synced: one 0-row completion without ranges, then
// the stream ends.
ScriptedResponse Unsynced() {
  ScriptedResponse r = Stream({ScriptedMessage::Make(BlockNumBatch({}), BatchMetadata{{}, true})});
  r.hold_open = false;
  return r;
}

TEST_F(EngineTest, NothingSyncedIsWaitedForNeverAFailure) {
  // More unsynced answers than max_attempts (5): the engine waits, then loads the rows.
  Script({Unsynced(), Unsynced(), Unsynced(), Unsynced(), Unsynced(), Unsynced(), Unsynced(),
          Stream({Data(R(0, 10)), Done(R(0, 10))})});
  StreamOptions options = Options();
  std::mutex mu;
  std::vector<std::string> waits;
  options.on_wait = [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(mu);
    waits.push_back(w);
  };
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 2)), ElementsAre("D0 0..10 rows=11", "W1 0..10 @10"));
  EXPECT_EQ(stream.stats().failures, 0);
  EXPECT_EQ(stream.stats().data_polls, 7);
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", "", "", "", "", "", "", ""));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(waits.size(), 8u);
  EXPECT_THAT(waits.front(), HasSubstr("waiting for data"));
  EXPECT_EQ(waits.back(), "");  // the wait is over
}

TEST_F(EngineTest, WaitForDataIsBoundedWhenAsked) {
  Script({Unsynced()});
  StreamOptions options = Options();
  options.retry.initial_backoff = std::chrono::milliseconds(10);
  options.retry.max_backoff = std::chrono::milliseconds(20);
  options.wait_for_data = std::chrono::milliseconds(100);
  TransactionalStream stream(*client_, kQuery, options);
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(ClassOf(next.status()), ErrorClass::kRetryCall);
  EXPECT_EQ(ErrorInfo::FromStatus(next.status())->code(), "NO_DATA");
  EXPECT_THAT(next.status().message(), HasSubstr("--wait-for-data"));
  EXPECT_EQ(stream.stats().failures, 0);
}

TEST_F(EngineTest, ProtocolViolationsAreNotRetried) {
  Script({Stream({Data(R(0, 10)), Done(R(0, 10)), Data(R(12, 20))})});  // a gap
  TransactionalStream stream(*client_, kQuery, Options());
  Read(stream, 2);
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(ErrorInfo::FromStatus(next.status())->code(), "PROTOCOL_ERROR");
  EXPECT_THAT(next.status().message(), HasSubstr("gap"));
  EXPECT_EQ(ResumeHeaders().size(), 1u);
  EXPECT_EQ(stream.stats().failures, 0);
}

TEST_F(EngineTest, ValidationStartsFromTheCheckpointOnEveryConnection) {
  // The first connection fixes the network; after a drop, a batch on another network (or
  // with a second one) is refused exactly as it would be within one connection.
  BlockRange other = TestRange("othernet", 11, 20);
  other.prev_hash = TestBlockHash(kNet, 10);
  Script({Stream({Data(R(0, 10)), Done(R(0, 10))}, Unavailable()),
          Stream({ScriptedMessage::Make(BlockNumBatch(Blocks(11, 20)), BatchMetadata{{other}, false})})});
  TransactionalStream stream(*client_, kQuery, Options());
  Read(stream, 2);
  auto next = stream.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr("the set of networks changed from {mainnet} to {othernet}"));
  EXPECT_THAT(ResumeHeaders(), ElementsAre("", CursorJson(10)));

  // Restarted from a checkpoint (a new process): the same.
  Script({Stream({ScriptedMessage::Make(BlockNumBatch(Blocks(11, 20)),
                                        BatchMetadata{{R(11, 20), TestRange("othernet", 0, 5)}, false})})});
  StreamOptions options = Options();
  options.checkpoint = Checkpoint({R(0, 10)}, 1);
  TransactionalStream restarted(*client_, kQuery, options);
  auto added = restarted.Next();
  ASSERT_FALSE(added.ok());
  EXPECT_THAT(added.status().message(), HasSubstr("changed from {mainnet} to {mainnet, othernet}"));
}

TEST_F(EngineTest, ASilentResumedConnectionSaysWhatItWaitsFor) {
  // A replica behind the checkpoint accepts the cursor and sends nothing (as ampd does).
  ScriptedResponse silent = Stream({});
  silent.silent = true;
  Script({silent});
  StreamOptions options = Options();
  options.checkpoint = Checkpoint({R(0, 10)}, 1);
  options.quiet_notice = std::chrono::milliseconds(50);
  std::mutex mu;
  std::condition_variable cv;
  std::string waiting;
  options.on_wait = [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(mu);
    waiting = w;
    cv.notify_all();
  };
  TransactionalStream stream(*client_, kQuery, options);
  std::thread reader([&] { (void)stream.Next(); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return !waiting.empty(); });
    EXPECT_EQ(waiting, "waiting for the server to reach block 11");
  }
  stream.Cancel();
  reader.join();
}

// --- Batch queries. ---

TEST_F(EngineTest, BatchQueryCompletesWithOneWatermark) {
  ScriptedResponse batch;
  batch.schema = BlockNumSchema();
  batch.messages = {Data(R(0, 99), Blocks(0, 49)), Data(R(0, 99), Blocks(50, 99)), Done(R(0, 99))};
  Script({batch});
  StreamOptions options = Options();
  options.streaming = false;
  TransactionalStream stream(*client_, kQuery, options);
  auto events = Read(stream, 10);
  EXPECT_THAT(Describe(events), ElementsAre("D0 0..99 rows=50", "D1 0..99 rows=50", "W2 0..99 @99"));
  auto done = stream.Next();
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->has_value());
  EXPECT_EQ(server_->calls()[0].Header("amp-stream").value_or(""), "false");
}

TEST_F(EngineTest, FailedBatchQueryRerunsWithARewind) {
  ScriptedResponse broken;
  broken.schema = BlockNumSchema();
  broken.messages = {Data(R(0, 99), Blocks(0, 49))};
  broken.final_error = Unavailable();
  ScriptedResponse good;
  good.schema = BlockNumSchema();
  good.messages = {Data(R(0, 99)), Done(R(0, 99))};
  Script({broken, good});
  StreamOptions options = Options();
  options.streaming = false;
  TransactionalStream stream(*client_, kQuery, options);
  EXPECT_THAT(Describe(Read(stream, 10)),
              ElementsAre("D0 0..99 rows=50", "U1 rewind mainnet 0..max", "D2 0..99 rows=100",
                          "W3 0..99 @99"));
}

}  // namespace
}  // namespace amp
