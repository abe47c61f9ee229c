// DevnetFaults::fail_queries_touching (a failing partition) and skewed chains, observed
// from a raw Flight client: which batch queries fail, with which gRPC code, the set_faults
// JSON form, and that a skewed devnet serves exactly its oracle rows.
#include <gtest/gtest.h>

#include "devnet/server/devnet_test_util.h"
#include "devnet/server/flight_service.h"
#include "devnet/tables.h"

namespace amp::devnet::server::testing {
namespace {

// The query shape of a parallel-load worker: [a, b) wrapped around the user's query.
std::string PartitionSql(uint64_t a, uint64_t b) {
  return "SELECT * FROM (SELECT block_num, tx_index FROM eth_firehose.transactions) AS "
         "_amp_partition WHERE \"block_num\" >= " +
         std::to_string(a) + " AND \"block_num\" < " + std::to_string(b) +
         " ORDER BY \"block_num\"";
}

TEST(DevnetBlockFault, FailsExactlyTheQueriesWhoseBoundsIncludeTheBlocks) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  server->SetFaults({.fail_queries_touching = DevnetBlockFault{.first = 12, .last = 13}});
  // Partitions of 5 blocks: [10, 15) touches 12..13, its neighbours do not.
  EXPECT_TRUE(RunQuery(*client, PartitionSql(5, 10)).status.ok());
  EXPECT_TRUE(RunQuery(*client, PartitionSql(15, 20)).status.ok());
  EXPECT_TRUE(RunQuery(*client, PartitionSql(0, 12)).status.ok());   // reads 0..11
  EXPECT_TRUE(RunQuery(*client, PartitionSql(14, 30)).status.ok());  // reads 14..29
  for (auto [a, b] : {std::pair<uint64_t, uint64_t>{10, 15}, {13, 14}, {12, 13}, {0, 30},
                      {0, 1000}}) {
    QueryResult failed = RunQuery(*client, PartitionSql(a, b));
    ASSERT_FALSE(failed.status.ok()) << a << ".." << b;
    EXPECT_EQ(GrpcCode(failed.status), TransportCode::kInternal) << failed.status;
    EXPECT_NE(failed.status.message().find("fail_queries_touching"), std::string::npos)
        << failed.status;
    EXPECT_TRUE(failed.messages.empty());
  }
  // No upper bound: not a block-range query (a full scan, a parallel load's head query).
  EXPECT_TRUE(RunQuery(*client, "SELECT block_num FROM eth_firehose.blocks").status.ok());
  EXPECT_TRUE(RunQuery(*client, "SELECT MAX(\"block_num\") AS max_block FROM "
                                "eth_firehose.transactions").status.ok());
  EXPECT_TRUE(RunQuery(*client, "SELECT block_num FROM eth_firehose.blocks WHERE block_num "
                                ">= 5").status.ok());
  // An upper bound alone makes it a range query [0, B].
  EXPECT_FALSE(RunQuery(*client, "SELECT block_num FROM eth_firehose.blocks WHERE block_num "
                                 "<= 12").status.ok());
  // Bounds written directly, through BETWEEN, on _block_num.
  EXPECT_FALSE(RunQuery(*client, "SELECT block_num FROM eth_firehose.logs WHERE _block_num "
                                 "BETWEEN 13 AND 20").status.ok());
  EXPECT_TRUE(RunQuery(*client, "SELECT block_num FROM eth_firehose.logs WHERE block_num "
                                "BETWEEN 14 AND 20").status.ok());
  // Clearing the fault makes the same query succeed with the oracle's rows.
  server->SetFaults({});
  QueryResult ok = RunQuery(*client, PartitionSql(10, 15));
  ASSERT_TRUE(ok.status.ok()) << ok.status;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const auto& m : ok.messages) batches.push_back(m.batch);
  auto table = *arrow::Table::FromRecordBatches(ok.schema, batches);
  ExpectSameRows(*table, *Oracle(*server, PartitionSql(10, 15), 0, server->Head()));
  EXPECT_EQ(table->num_rows(), 5 * 2);
}

TEST(DevnetBlockFault, UnavailableCodeAndStreamsAreUnaffected) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  server->SetFaults({.fail_queries_touching =
                         DevnetBlockFault{.first = 3, .last = 3,
                                          .code = DevnetFaultCode::kUnavailable}});
  QueryResult failed = RunQuery(*client, PartitionSql(0, 10));
  EXPECT_EQ(GrpcCode(failed.status), TransportCode::kUnavailable) << failed.status;
  // It stays set: every attempt fails the same way (deterministic, not a countdown).
  failed = RunQuery(*client, PartitionSql(3, 4));
  EXPECT_EQ(GrpcCode(failed.status), TransportCode::kUnavailable) << failed.status;
  ASSERT_TRUE(server->faults().fail_queries_touching.has_value());

  // A streaming query reads every block too, but the fault targets batch queries only.
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(
                                      "SELECT block_num FROM eth_firehose.blocks "
                                      "SETTINGS stream = true")));
  flight::FlightCallOptions options;
  options.timeout = flight::TimeoutDuration(10.0);
  ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(options, info->endpoints()[0].ticket));
  ASSERT_OK_AND_ASSIGN(auto chunk, reader->Next());
  ASSERT_NE(chunk.data, nullptr);
}

TEST(DevnetBlockFault, FaultsJsonRoundTrip) {
  DevnetFaults faults;
  EXPECT_EQ(FaultsToJson(faults).find("fail_queries_touching"), std::string::npos);
  faults.fail_queries_touching = DevnetBlockFault{.first = 7, .last = 9,
                                                  .code = DevnetFaultCode::kUnavailable};
  const std::string json = FaultsToJson(faults);
  EXPECT_NE(json.find(R"("fail_queries_touching":{"code":"UNAVAILABLE","first":7,"last":9})"),
            std::string::npos) << json;
  ASSERT_OK_AND_ASSIGN(auto parsed, FaultsFromJson(json));
  EXPECT_EQ(parsed, faults);

  ASSERT_OK_AND_ASSIGN(parsed, FaultsFromJson(R"({"fail_queries_touching":42})"));
  ASSERT_TRUE(parsed.fail_queries_touching.has_value());
  EXPECT_EQ(parsed.fail_queries_touching->first, 42u);
  EXPECT_EQ(parsed.fail_queries_touching->last, 42u);
  EXPECT_EQ(parsed.fail_queries_touching->code, DevnetFaultCode::kInternal);
  ASSERT_OK_AND_ASSIGN(parsed, FaultsFromJson(R"({"fail_queries_touching":{"first":5}})"));
  EXPECT_EQ(parsed.fail_queries_touching->last, 5u);
  ASSERT_OK_AND_ASSIGN(parsed, FaultsFromJson(R"({"fail_queries_touching":null})"));
  EXPECT_FALSE(parsed.fail_queries_touching.has_value());
  ASSERT_OK_AND_ASSIGN(parsed, FaultsFromJson(R"({})"));
  EXPECT_EQ(parsed, DevnetFaults{});

  for (const char* bad : {R"({"fail_queries_touching":"5"})",
                          R"({"fail_queries_touching":{"last":5}})",
                          R"({"fail_queries_touching":{"first":6,"last":5}})",
                          R"({"fail_queries_touching":{"first":1,"code":"ABORTED"}})",
                          R"({"fail_queries_touching":{"first":1,"lsat":2}})",
                          R"({"fail_queries_touching":-1})"}) {
    EXPECT_TRUE(FaultsFromJson(bad).status().IsInvalid()) << bad;
  }
}

TEST(DevnetBlockFault, SetThroughTheControlAction) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  flight::Action action{std::string(kActionSetFaults),
                        arrow::Buffer::FromString(
                            R"({"fail_queries_touching":{"first":20,"last":29,"code":"INTERNAL"}})")};
  ASSERT_OK_AND_ASSIGN(auto results, client->DoAction(action));
  ASSERT_OK_AND_ASSIGN(auto reply, results->Next());
  ASSERT_NE(reply, nullptr);
  EXPECT_NE(reply->body->ToString().find(R"("first":20,"last":29)"), std::string::npos);
  EXPECT_EQ(GrpcCode(RunQuery(*client, PartitionSql(25, 26)).status), TransportCode::kInternal);
  EXPECT_TRUE(RunQuery(*client, PartitionSql(10, 20)).status.ok());
  // `{}` clears it.
  ASSERT_OK(client->DoAction(flight::Action{std::string(kActionSetFaults),
                                            arrow::Buffer::FromString("{}")}).status());
  EXPECT_FALSE(server->faults().fail_queries_touching.has_value());
  EXPECT_TRUE(RunQuery(*client, PartitionSql(25, 26)).status.ok());
}

TEST(DevnetBlockFault, FaultFromOptionsAppliesFromTheStart) {
  DevnetOptions options = SmallOptions();
  options.faults.fail_queries_touching = DevnetBlockFault{.first = 0, .last = 0};
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  EXPECT_EQ(GrpcCode(RunQuery(*client, PartitionSql(0, 5)).status), TransportCode::kInternal);
  EXPECT_TRUE(RunQuery(*client, PartitionSql(1, 5)).status.ok());
}

TEST(DevnetSkew, ServesTheOracleRowsAndHotBlocksAreLarger) {
  DevnetOptions options = SmallOptions();
  options.history = 60;
  options.skew = 5;
  options.skew_window = 20;
  options.skew_hot_percent = 25;  // blocks 0..4, 20..24, 40..44 are hot
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  for (const char* table : {"transactions", "logs"}) {
    const std::string sql = std::string("SELECT * FROM eth_firehose.") + table;
    QueryResult result = RunQuery(*client, sql);
    ASSERT_TRUE(result.status.ok()) << result.status;
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    for (const auto& m : result.messages) batches.push_back(m.batch);
    auto got = *arrow::Table::FromRecordBatches(result.schema, batches);
    auto expected = Oracle(*server, sql, 0, server->Head());
    ExpectSameRows(*got, *expected);
    const uint64_t per = std::string(table) == "logs" ? 3 : 2;
    EXPECT_EQ(static_cast<uint64_t>(got->num_rows()), 45 * per + 15 * per * 5) << table;
  }
  // Rows per block through SQL: a hot and a cold block.
  QueryResult hot = RunQuery(*client, "SELECT COUNT(*) AS n FROM eth_firehose.logs WHERE "
                                      "block_num = 21");
  ASSERT_TRUE(hot.status.ok()) << hot.status;
  QueryResult cold = RunQuery(*client, "SELECT COUNT(*) AS n FROM eth_firehose.logs WHERE "
                                       "block_num = 26");
  ASSERT_TRUE(cold.status.ok()) << cold.status;
  auto count = [](const QueryResult& r) {
    for (const auto& m : r.messages) {
      if (m.batch->num_rows() == 1) return (*m.batch->column(0)->GetScalar(0))->ToString();
    }
    return std::string("none");
  };
  EXPECT_EQ(count(hot), "15");
  EXPECT_EQ(count(cold), "3");
}

TEST(DevnetSkew, InvalidSkewOptionsAreRejected) {
  DevnetOptions options = SmallOptions();
  options.skew = 3;
  options.skew_hot_percent = 0;
  EXPECT_TRUE(DevnetServer::Start(options).status().IsInvalid());
  options.skew_hot_percent = 101;
  EXPECT_TRUE(DevnetServer::Start(options).status().IsInvalid());
  options.skew_hot_percent = 10;
  options.skew_window = 0;
  EXPECT_TRUE(DevnetServer::Start(options).status().IsInvalid());
  options.skew_window = 100;
  options.skew = 2'000'000;
  EXPECT_TRUE(DevnetServer::Start(options).status().IsInvalid());
  // skew 0/1 ignores the window settings entirely.
  options.skew = 1;
  options.skew_window = 0;
  options.skew_hot_percent = 0;
  EXPECT_TRUE(DevnetServer::Start(options).ok());
}

}  // namespace
}  // namespace amp::devnet::server::testing
