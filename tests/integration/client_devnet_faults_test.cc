// amp::Client against every fault hook of the devnet (DevnetFaults): dropped streams and
// failed calls must be classified as retryable, delays and bandwidth caps must measurably
// slow a query without changing its rows, and faults changed while a stream runs must
// take effect on it. Timing assertions are loose lower bounds (>= 0.7x the injected
// total); upper bounds are only relative, because the machine is shared.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include <arrow/util/byte_size.h>

#include "integration_test_util.h"

namespace amp::integration {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kLogsStream[] = "SELECT * FROM eth_firehose.logs SETTINGS stream = true";

::testing::AssertionResult IsRetryableUnavailable(const Status& st) {
  if (st.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  const ErrorClass cls = ClassOf(st);
  if (CodeOf(st) != "UNAVAILABLE") {
    return ::testing::AssertionFailure() << "code " << CodeOf(st) << ": " << st.ToString();
  }
  // The client documents UNAVAILABLE as kRetryCall, before and after data flows.
  if (cls != ErrorClass::kRetryCall && cls != ErrorClass::kReconnect) {
    return ::testing::AssertionFailure() << "class " << ToString(cls) << ": " << st.ToString();
  }
  return ::testing::AssertionSuccess();
}

class ClientFaultsTest : public DevnetClientTest {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 2000;
    options.microbatch_blocks = 20;
    Start(options);
  }
};

TEST_F(ClientFaultsTest, DroppedStreamIsRetryableAndResumable) {
  server().SetFaults({.drop_stream_after_messages = 5});
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  // Message 1 is the schema; then keep-alive, data, completion of [0,19], keep-alive of
  // [20,39]; the sixth message is replaced by UNAVAILABLE.
  int delivered = 0;
  Status dropped;
  while (true) {
    auto item = consumer->Step();
    if (!item.ok()) {
      dropped = item.status();
      break;
    }
    ++delivered;
    ASSERT_LT(delivered, 100) << "the stream was never dropped";
  }
  EXPECT_EQ(delivered, 4);
  EXPECT_TRUE(IsRetryableUnavailable(dropped));
  EXPECT_EQ(ClassOf(dropped), ErrorClass::kRetryCall) << dropped.ToString();
  EXPECT_THAT(dropped.message(), HasSubstr("injected fault"));
  EXPECT_EQ(ErrorInfo::FromStatus(dropped)->source(), "flight");
  // The error is sticky: the stream is unusable afterwards.
  EXPECT_EQ(consumer->stream().Next().status().message(), dropped.message());
  EXPECT_THAT(consumer->errors(), IsEmpty());
  ASSERT_TRUE(consumer->last_completed().has_value());
  EXPECT_EQ(consumer->last_completed()->end, 19u);

  // The retry a loader does: resume from the last completed microbatch once the fault is gone.
  server().SetFaults({});
  ASSERT_OK_AND_ASSIGN(auto rows, consumer->Committed());
  QueryOptions resume;
  resume.resume = Cursor::FromRanges({*consumer->last_completed()});
  auto retry = OpenStream(kLogsStream, resume);
  ASSERT_NE(retry, nullptr);
  ASSERT_OK(retry->Preload(rows));
  ASSERT_OK(retry->ReadUntilCaughtUp(server()));
  EXPECT_THAT(retry->errors(), IsEmpty());
  EXPECT_EQ(retry->microbatches().front().range.start, 20u);
  ASSERT_OK_AND_ASSIGN(auto all, retry->Committed());
  ExpectMatchesChain(server(), TableId::kLogs, all, 0, server().Head());
}

TEST_F(ClientFaultsTest, DroppedBatchQueryIsRetryable) {
  // Schema, one data message, then UNAVAILABLE instead of the completion.
  server().SetFaults({.drop_stream_after_messages = 2});
  const std::string sql = "SELECT * FROM eth_firehose.blocks WHERE block_num < 100";
  auto st = client().sql(sql).to_arrow().status();
  EXPECT_TRUE(IsRetryableUnavailable(st));
  // Through stream(): the data message arrives, then the error.
  ASSERT_OK_AND_ASSIGN(auto stream, client().sql(sql).stream());
  ASSERT_OK_AND_ASSIGN(auto first, stream->Next());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->batch->num_rows(), 100);
  EXPECT_TRUE(IsRetryableUnavailable(stream->Next().status()));
  server().SetFaults({});
  ASSERT_OK_AND_ASSIGN(auto table, client().sql(sql).to_arrow());
  ExpectTablesEqual(table, OracleRows(server(), TableId::kBlocks, 0, 99), "after the fault");
}

TEST_F(ClientFaultsTest, FailNextCallsFailsExactlyThatManyCalls) {
  const std::string sql = "SELECT * FROM eth_firehose.transactions WHERE block_num BETWEEN 10 AND 30";
  server().SetFaults({.fail_next_calls = 3});
  for (uint64_t i = 0; i < 3; ++i) {
    auto st = client().sql(sql).to_arrow().status();
    EXPECT_TRUE(IsRetryableUnavailable(st)) << "call " << i;
    EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall);
    EXPECT_THAT(st.message(), HasSubstr("fail_next_calls"));
    EXPECT_EQ(server().faults().fail_next_calls, 2 - i);
  }
  ASSERT_OK_AND_ASSIGN(auto table, client().sql(sql).to_arrow());
  ExpectTablesEqual(table, OracleRows(server(), TableId::kTransactions, 10, 30), "after 3 failures");

  // What a caller does with the class: retry kRetryCall errors, here without a backoff.
  server().SetFaults({.fail_next_calls = 2});
  int attempts = 0;
  Result<std::shared_ptr<arrow::Table>> result;
  do {
    ++attempts;
    result = client().sql(sql).to_arrow();
  } while (!result.ok() && ClassOf(result.status()) == ErrorClass::kRetryCall && attempts < 10);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(attempts, 3);
  ExpectTablesEqual(*result, OracleRows(server(), TableId::kTransactions, 10, 30), "retried");

  // Streams too: the countdown applies to GetFlightInfo and DoGet of any query.
  server().SetFaults({.fail_next_calls = 1});
  EXPECT_TRUE(IsRetryableUnavailable(FirstError(client(), kLogsStream)));
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCompleted(39));
}

TEST_F(ClientFaultsTest, MessageDelaySlowsEveryMessage) {
  const std::string sql = "SELECT * FROM eth_firehose.logs WHERE block_num < 300";
  ASSERT_OK_AND_ASSIGN(auto baseline, client().sql(sql).to_arrow());
  constexpr auto kDelay = 150ms;
  server().SetFaults({.message_delay = kDelay});
  const auto t0 = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto stream, client().sql(sql).stream());
  ASSERT_OK_AND_ASSIGN(auto schema, stream->schema());
  ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*stream));
  const double elapsed = SecondsSince(t0);
  // Every FlightData message is delayed: the schema and each batch.
  const double injected = static_cast<double>(batches.size() + 1) * 0.150;
  EXPECT_GE(batches.size(), 2u);
  EXPECT_GE(elapsed, 0.7 * injected) << batches.size() + 1 << " messages";
  ASSERT_OK_AND_ASSIGN(auto table, ToTable(schema, batches));
  ExpectTablesEqual(table, baseline->CombineChunks().ValueOrDie(), "delayed vs baseline");
  ExpectTablesEqual(table, OracleRows(server(), TableId::kLogs, 0, 299), "delayed vs chain");
}

TEST_F(ClientFaultsTest, QueryLatencyDelaysBothCalls) {
  const std::string sql = "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num < 50";
  server().SetFaults({.query_latency = 250ms});
  auto t0 = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto schema, client().sql(sql).schema());  // GetFlightInfo only
  EXPECT_GE(SecondsSince(t0), 0.7 * 0.250);
  EXPECT_EQ(schema->num_fields(), 2);

  t0 = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto table, client().sql(sql).to_arrow());  // GetFlightInfo + DoGet
  EXPECT_GE(SecondsSince(t0), 0.7 * 0.500);
  ExpectTablesEqual(table->CombineChunks().ValueOrDie(),
                    Project(OracleRows(server(), TableId::kBlocks, 0, 49),
                            {{"block_num", "block_num"}, {"hash", "hash"}}),
                    "latency");
}

TEST_F(ClientFaultsTest, BandwidthCapSlowsALargeRead) {
  // Enough blocks for ~1.2 MB of row data.
  auto sample = OracleRows(server(), TableId::kBlocks, 0, 99);
  const double per_block = static_cast<double>(arrow::util::TotalBufferSize(*sample)) / 100.0;
  const BlockNumber last = static_cast<BlockNumber>(1.2e6 / per_block);
  ASSERT_LT(last, server().Head());
  const std::string sql =
      "SELECT * FROM eth_firehose.blocks WHERE block_num <= " + std::to_string(last);

  constexpr uint64_t kRate = 2'000'000;  // bytes per second
  server().SetFaults({.bandwidth_bytes_per_second = kRate});
  const auto t0 = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto table, client().sql(sql).to_arrow());
  const double elapsed = SecondsSince(t0);
  // The bytes actually received (decoded buffers, a lower bound of the message bodies).
  const auto received = static_cast<double>(arrow::util::TotalBufferSize(*table));
  EXPECT_GE(received, 1e6);
  EXPECT_GE(elapsed, 0.7 * received / kRate) << received << " bytes";
  EXPECT_GE(elapsed, 0.35);
  ExpectTablesEqual(table, OracleRows(server(), TableId::kBlocks, 0, last), "capped read");
}

TEST_F(ClientFaultsTest, FaultsChangedWhileAStreamRuns) {
  DevnetOptions options = SmallDevnet();
  options.history = 100;
  options.microbatch_blocks = 10;
  options.keep_alive_at_microbatch_start = false;
  auto own = DevnetServer::Start(options);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  DevnetServer& devnet = **own;
  Client client(devnet.url());
  auto stream = client.sql(kLogsStream).stream();
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  StreamConsumer consumer(std::move(*stream), options.microbatch_blocks);
  ASSERT_OK(consumer.ReadUntilCaughtUp(devnet));

  // Caught up, nothing is in flight; a delay set now applies to the next microbatch's
  // two messages (data, completion).
  devnet.SetFaults({.message_delay = 150ms});
  EXPECT_EQ(devnet.faults().message_delay, 150ms);
  auto t0 = Clock::now();
  devnet.ProduceBlock();
  ASSERT_OK(consumer.ReadUntilCaughtUp(devnet));
  const double delayed = SecondsSince(t0);
  EXPECT_GE(delayed, 0.7 * 2 * 0.150);

  // Cleared again: the next block is not delayed.
  devnet.SetFaults({});
  t0 = Clock::now();
  devnet.ProduceBlock();
  ASSERT_OK(consumer.ReadUntilCaughtUp(devnet));
  EXPECT_LT(SecondsSince(t0), delayed);

  // A drop threshold below what the stream already sent ends it at the next message.
  devnet.SetFaults({.drop_stream_after_messages = 1});
  devnet.ProduceBlock();
  auto dropped = consumer.Step();
  ASSERT_FALSE(dropped.ok());
  EXPECT_TRUE(IsRetryableUnavailable(dropped.status()));

  EXPECT_THAT(consumer.errors(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto rows, consumer.Committed());
  ExpectMatchesChain(devnet, TableId::kLogs, rows, 0, 101);
  EXPECT_TRUE(devnet.Shutdown().ok());
}

TEST_F(ClientFaultsTest, ShutdownEndsAnIdleStreamWithUnavailable) {
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCaughtUp(server(), 20'000ms));
  auto next = std::async(std::launch::async, [&] { return consumer->stream().Next(); });
  const auto t0 = Clock::now();
  ASSERT_OK(server().Shutdown());
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  EXPECT_LT(SecondsSince(t0), 5.0);
  auto item = next.get();
  ASSERT_FALSE(item.ok());
  EXPECT_TRUE(IsRetryableUnavailable(item.status()));
}

}  // namespace
}  // namespace amp::integration
