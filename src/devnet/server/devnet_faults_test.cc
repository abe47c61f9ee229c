// Fault injection of the devnet server, observed from a raw Flight client.
#include <gtest/gtest.h>

#include <arrow/util/byte_size.h>

#include "devnet/server/devnet_test_util.h"

namespace amp::devnet::server::testing {
namespace {

const char* kSmallSql = "SELECT block_num, hash FROM eth_firehose.blocks";
const char* kStreamSql = "SELECT block_num, hash FROM eth_firehose.blocks SETTINGS stream = true";

TEST(DevnetFaults, DropStreamAfterMessagesCountsPerStream) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  server->SetFaults({.drop_stream_after_messages = 2});
  // Batch: schema (1) + one data batch (2), then UNAVAILABLE instead of the completion.
  for (int attempt = 0; attempt < 2; ++attempt) {
    QueryResult result = RunQuery(*client, kSmallSql);
    ASSERT_FALSE(result.status.ok());
    EXPECT_EQ(GrpcCode(result.status), TransportCode::kUnavailable) << result.status;
    ASSERT_EQ(result.messages.size(), 1u);
    EXPECT_GT(result.messages[0].batch->num_rows(), 0);
  }
  // Streaming: schema + 5 messages (three microbatches of data + completion = 6).
  server->SetFaults({.drop_stream_after_messages = 6});
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(kStreamSql)));
  ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(info->endpoints()[0].ticket));
  int received = 0;
  Status end;
  while (true) {
    auto chunk = reader->Next();
    if (!chunk.ok()) {
      end = chunk.status();
      break;
    }
    ASSERT_NE(chunk->data, nullptr);
    ++received;
  }
  EXPECT_EQ(received, 5);
  EXPECT_EQ(GrpcCode(end), TransportCode::kUnavailable) << end;

  server->SetFaults({});
  EXPECT_TRUE(RunQuery(*client, kSmallSql).status.ok());
}

TEST(DevnetFaults, FailNextCallsIsAGlobalCountdown) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(kSmallSql)));
  const auto ticket = info->endpoints()[0].ticket;

  server->SetFaults({.fail_next_calls = 2});
  auto first = client->GetFlightInfo(SqlDescriptor(kSmallSql));
  EXPECT_EQ(GrpcCode(first.status()), TransportCode::kUnavailable) << first.status();
  EXPECT_EQ(server->faults().fail_next_calls, 1u);
  // Arrow's client reads the first message inside DoGet, so the failure shows there.
  auto second = client->DoGet(ticket);
  EXPECT_EQ(GrpcCode(second.status()), TransportCode::kUnavailable) << second.status();
  EXPECT_EQ(server->faults().fail_next_calls, 0u);

  // Both succeed again.
  ASSERT_OK(client->GetFlightInfo(SqlDescriptor(kSmallSql)).status());
  QueryResult ok = RunQuery(*client, kSmallSql);
  EXPECT_TRUE(ok.status.ok()) << ok.status;
}

TEST(DevnetFaults, FaultsFromOptionsApplyFromTheStart) {
  DevnetOptions options = SmallOptions();
  options.faults.fail_next_calls = 1;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  EXPECT_EQ(GrpcCode(client->GetFlightInfo(SqlDescriptor(kSmallSql)).status()),
            TransportCode::kUnavailable);
  EXPECT_TRUE(client->GetFlightInfo(SqlDescriptor(kSmallSql)).ok());
}

TEST(DevnetFaults, MessageDelayIsObserved) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  server->SetFaults({.message_delay = std::chrono::milliseconds(60)});
  const auto start = Clock::now();
  QueryResult result = RunQuery(*client, kSmallSql);
  const double elapsed = SecondsSince(start);
  ASSERT_TRUE(result.status.ok()) << result.status;
  const size_t messages = result.messages.size() + 1;  // + schema
  EXPECT_GE(messages, 3u);
  EXPECT_GE(elapsed, 0.9 * 0.060 * static_cast<double>(messages));
}

TEST(DevnetFaults, QueryLatencyIsObservedAtFlightInfoAndDoGet) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  server->SetFaults({.query_latency = std::chrono::milliseconds(300)});
  auto start = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(kSmallSql)));
  EXPECT_GE(SecondsSince(start), 0.29);
  start = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(info->endpoints()[0].ticket));
  ASSERT_OK(reader->GetSchema().status());
  EXPECT_GE(SecondsSince(start), 0.29);
}

TEST(DevnetFaults, BandwidthCapIsRoughlyObserved) {
  DevnetOptions options = SmallOptions();
  options.history = 400;
  options.logs_per_block = 8;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  const std::string sql = "SELECT * FROM eth_firehose.logs";

  QueryResult free_run = RunQuery(*client, sql);
  ASSERT_TRUE(free_run.status.ok()) << free_run.status;
  int64_t bytes = 0;
  for (const auto& m : free_run.messages) bytes += arrow::util::TotalBufferSize(*m.batch);
  ASSERT_GT(bytes, 300'000);

  // About one second's worth of data at the cap.
  server->SetFaults({.bandwidth_bytes_per_second = static_cast<uint64_t>(bytes)});
  const auto start = Clock::now();
  QueryResult capped = RunQuery(*client, sql);
  const double elapsed = SecondsSince(start);
  ASSERT_TRUE(capped.status.ok()) << capped.status;
  EXPECT_GE(elapsed, 0.7);
  EXPECT_LE(elapsed, 5.0);
}

TEST(DevnetFaults, ChangingFaultsAffectsRunningStreams) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(kStreamSql)));
  flight::FlightCallOptions options;
  options.timeout = flight::TimeoutDuration(10.0);
  ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(options, info->endpoints()[0].ticket));
  ASSERT_OK(reader->Next().status());
  ASSERT_OK(reader->Next().status());
  server->SetFaults({.drop_stream_after_messages = 1});
  // The history may already sit in gRPC's buffers; the next microbatch hits the fault.
  server->ProduceBlock();
  // Whatever was already sent may still arrive; then the stream fails.
  int buffered = 0;
  Status end;
  while (true) {
    auto next = reader->Next();
    if (!next.ok()) {
      end = next.status();
      break;
    }
    ASSERT_NE(next->data, nullptr);
    ++buffered;
  }
  EXPECT_LE(buffered, 4);  // at most the rest of the three history microbatches
  EXPECT_EQ(GrpcCode(end), TransportCode::kUnavailable) << end;
}

}  // namespace
}  // namespace amp::devnet::server::testing
