// The devnet Flight server seen through a raw Flight client: FlightInfo shape, tickets,
// batch query content and ranges, gRPC error codes, auth, control actions, lifecycle.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <arrow/util/byte_size.h>

#include "devnet/chain.h"
#include "devnet/server/devnet_test_util.h"
#include "devnet/server/flight_service.h"
#include "devnet/tables.h"

namespace amp::devnet::server::testing {
namespace {

Status ReadToEnd(flight::FlightClient& client, const flight::Ticket& ticket,
                 const flight::FlightCallOptions& options = {}) {
  AMP_ASSIGN_OR_RETURN(auto reader, client.DoGet(options, ticket));
  AMP_RETURN_NOT_OK(reader->GetSchema().status());
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto chunk, reader->Next());
    if (chunk.data == nullptr) return Status::OK();
  }
}

AmpTicket TicketOf(const flight::FlightInfo& info) {
  auto ticket = DecodeTicket(info.endpoints().at(0).ticket.ticket);
  EXPECT_TRUE(ticket.ok()) << ticket.status();
  return ticket.ok() ? *ticket : AmpTicket{};
}

#define EXPECT_GRPC_CODE(status, code)                                       \
  do {                                                                       \
    const ::arrow::Status _s = (status);                                     \
    EXPECT_FALSE(_s.ok());                                                   \
    EXPECT_EQ(GrpcCode(_s), std::optional<TransportCode>(code)) << _s.ToString(); \
  } while (false)

arrow::Result<nlohmann::json> Act(flight::FlightClient& client, const std::string& type,
                                  const std::string& body) {
  flight::Action action{type, arrow::Buffer::FromString(body)};
  AMP_ASSIGN_OR_RETURN(auto stream, client.DoAction(action));
  AMP_ASSIGN_OR_RETURN(auto result, stream->Next());
  if (result == nullptr) return Status::Invalid("no result");
  AMP_RETURN_NOT_OK(stream->Drain());
  auto doc = nlohmann::json::parse(result->body->ToString(), nullptr, false);
  if (doc.is_discarded()) return Status::Invalid("not JSON: ", result->body->ToString());
  return doc;
}

TEST(DevnetServer, FlightInfoShape) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const std::string sql = "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num < 5";
  const auto descriptor = SqlDescriptor(sql);
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(descriptor));

  ASSERT_EQ(info->endpoints().size(), 1u);
  const auto& endpoint = info->endpoints()[0];
  EXPECT_TRUE(endpoint.locations.empty());
  EXPECT_FALSE(endpoint.expiration_time.has_value());
  EXPECT_TRUE(endpoint.app_metadata.empty());
  EXPECT_EQ(info->total_records(), -1);
  EXPECT_EQ(info->total_bytes(), -1);
  EXPECT_FALSE(info->ordered());
  EXPECT_TRUE(info->app_metadata().empty());
  EXPECT_EQ(info->descriptor(), descriptor);

  arrow::ipc::DictionaryMemo memo;
  ASSERT_OK_AND_ASSIGN(auto schema, info->GetSchema(&memo));
  DevnetCatalog catalog;
  ASSERT_OK_AND_ASSIGN(auto plan, sql::PlanQuery(sql, catalog));
  EXPECT_TRUE(schema->Equals(*plan->output_schema())) << schema->ToString();
  ASSERT_EQ(schema->num_fields(), 2);
  EXPECT_EQ(schema->field(0)->name(), "block_num");

  // The ticket is Amp's bincode AmpTicket: the SQL, batch mode, no cursor.
  const AmpTicket ticket = TicketOf(*info);
  EXPECT_EQ(ticket.query, sql);
  EXPECT_FALSE(ticket.is_streaming);
  EXPECT_FALSE(ticket.cursor.has_value());
  EXPECT_EQ(endpoint.ticket.ticket, EncodeTicket(ticket));
}

TEST(DevnetServer, TicketCarriesStreamingDecisionAndResumeCursor) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const std::string plain = "SELECT block_num FROM eth_firehose.blocks";
  const std::string settings = "SELECT block_num FROM eth_firehose.blocks SETTINGS stream = true";
  struct Case {
    std::string sql;
    std::vector<std::pair<std::string, std::string>> headers;
    bool streaming;
  };
  const std::vector<Case> cases = {
      {plain, {}, false},
      {settings, {}, true},
      {plain, {{"amp-stream", "true"}}, true},
      {plain, {{"amp-stream", "1"}}, true},
      {plain, {{"amp-stream", "TRUE"}}, true},
      {settings, {{"amp-stream", "false"}}, false},
      {settings, {{"amp-stream", "0"}}, false},
      {settings, {{"amp-stream", "False"}}, false},
      {settings, {{"amp-stream", "yes"}}, true},  // not a recognized value: SETTINGS decides
      {plain, {{"amp-stream", ""}}, false},
  };
  for (const auto& c : cases) {
    ASSERT_OK_AND_ASSIGN(auto info,
                         client->GetFlightInfo(Headers(c.headers), SqlDescriptor(c.sql)));
    const AmpTicket ticket = TicketOf(*info);
    EXPECT_EQ(ticket.is_streaming, c.streaming)
        << c.sql << " with " << (c.headers.empty() ? "no header" : c.headers[0].second);
    EXPECT_EQ(ticket.query, c.sql);
  }

  ASSERT_OK_AND_ASSIGN(auto range, server->CanonicalRange(0, 9));
  Cursor cursor;
  cursor.networks["mainnet"] = NetworkCursor{9, range.hash};
  ASSERT_OK_AND_ASSIGN(auto with_cursor,
                       client->GetFlightInfo(Headers({{"amp-resume", cursor.ToJson()}}),
                                             SqlDescriptor(settings)));
  const AmpTicket t = TicketOf(*with_cursor);
  ASSERT_TRUE(t.cursor.has_value());
  EXPECT_EQ(*t.cursor, cursor.networks);

  // Malformed cursors are ignored silently, like serde_json::from_slice(..).ok().
  for (const std::string bad : {"{not json", "[1,2]", R"({"mainnet":{"number":"x"}})",
                                R"({"mainnet":{"number":1,"hash":"0x12"}})"}) {
    ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(Headers({{"amp-resume", bad}}),
                                                          SqlDescriptor(settings)));
    EXPECT_FALSE(TicketOf(*info).cursor.has_value()) << bad;
  }
}

TEST(DevnetServer, BatchQueryMatchesOracleWithSyncedRanges) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const std::string sql =
      "SELECT block_num, log_index, address, data FROM eth_firehose.logs "
      "WHERE block_num >= 5 AND block_num <= 17";
  QueryResult result = RunQuery(*client, sql);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_GE(result.messages.size(), 2u);

  // DoGet's schema is FlightInfo's schema.
  arrow::ipc::DictionaryMemo memo;
  ASSERT_OK_AND_ASSIGN(auto info_schema, result.info->GetSchema(&memo));
  EXPECT_TRUE(result.schema->Equals(*info_schema));

  // Every message carries the synced range [0, head] of the snapshot, not the WHERE range.
  ASSERT_OK_AND_ASSIGN(auto synced, server->CanonicalRange(0, server->Head()));
  EXPECT_EQ(synced.end, 29u);
  EXPECT_TRUE(synced.prev_hash.IsZero());
  ASSERT_TRUE(synced.timestamp.has_value());
  EXPECT_EQ(*synced.timestamp, 1'700'000'000u + 12u * 29u);
  for (size_t i = 0; i < result.messages.size(); ++i) {
    const auto& m = result.messages[i];
    ASSERT_EQ(m.meta.ranges.size(), 1u);
    EXPECT_EQ(m.meta.ranges[0], synced) << m.raw;
    EXPECT_EQ(m.meta.ranges_complete, i + 1 == result.messages.size()) << i;
  }
  // The last message is the 0-row completion.
  EXPECT_EQ(result.messages.back().batch->num_rows(), 0);

  std::vector<Message> data(result.messages.begin(), result.messages.end() - 1);
  auto actual = ToTable(result.schema, data);
  auto expected = Oracle(*server, sql, 0, server->Head());
  const uint64_t per_block = RowsPerBlock(TableId::kLogs, server->chain().options());
  ASSERT_GT(per_block, 0u);
  EXPECT_EQ(expected->num_rows(), static_cast<int64_t>(13 * per_block));
  ExpectSameRows(*actual, *expected);
}

TEST(DevnetServer, BatchSelectStarOfEveryTableMatchesOracle) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  for (const std::string table : {"blocks", "transactions", "logs"}) {
    const std::string sql = "SELECT * FROM eth_firehose." + table;
    QueryResult result = RunQuery(*client, sql);
    ASSERT_TRUE(result.status.ok()) << table << ": " << result.status;
    ASSERT_OK_AND_ASSIGN(auto id, TableFromName(table));
    EXPECT_TRUE(result.schema->Equals(*devnet::TableSchema(id))) << table;
    std::vector<Message> data(result.messages.begin(), result.messages.end() - 1);
    ExpectSameRows(*ToTable(result.schema, data), *Oracle(*server, sql, 0, server->Head()));
  }
}

TEST(DevnetServer, BatchWithNoRowsSendsOneEmptyDataBatchThenCompletion) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  QueryResult result =
      RunQuery(*client, "SELECT block_num FROM eth_firehose.blocks WHERE block_num > 1000");
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.messages[0].batch->num_rows(), 0);
  EXPECT_FALSE(result.messages[0].meta.ranges_complete);
  EXPECT_EQ(result.messages[1].batch->num_rows(), 0);
  EXPECT_TRUE(result.messages[1].meta.ranges_complete);
  ASSERT_EQ(result.messages[1].meta.ranges.size(), 1u);
  EXPECT_EQ(result.messages[1].meta.ranges[0].end, server->Head());
}

TEST(DevnetServer, BatchLimitAndAggregates) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  for (const std::string sql :
       {"SELECT block_num, hash FROM eth_firehose.blocks LIMIT 7",
        "SELECT COUNT(*) AS n, MIN(block_num) AS lo, MAX(block_num) AS hi "
        "FROM eth_firehose.transactions WHERE block_num BETWEEN 3 AND 8"}) {
    QueryResult result = RunQuery(*client, sql);
    ASSERT_TRUE(result.status.ok()) << sql << ": " << result.status;
    EXPECT_TRUE(result.messages.back().meta.ranges_complete);
    std::vector<Message> data(result.messages.begin(), result.messages.end() - 1);
    auto actual = ToTable(result.schema, data);
    auto expected = Oracle(*server, sql, 0, server->Head());
    EXPECT_EQ(actual->num_rows(), sql.find("LIMIT") != std::string::npos ? 7 : 1);
    ExpectSameRows(*actual, *expected);
  }
}

TEST(DevnetServer, LargeResultsAreSlicedNearTwoMiB) {
  DevnetOptions options = SmallOptions();
  options.history = 2000;
  options.txs_per_block = 4;
  options.logs_per_block = 8;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  const std::string sql = "SELECT * FROM eth_firehose.logs";
  QueryResult result = RunQuery(*client, sql);
  ASSERT_TRUE(result.status.ok()) << result.status;
  int64_t rows = 0;
  int64_t total = 0;
  size_t data_messages = 0;
  for (const auto& m : result.messages) {
    const int64_t size = arrow::util::TotalBufferSize(*m.batch);
    total += size;
    rows += m.batch->num_rows();
    if (m.batch->num_rows() > 0) ++data_messages;
    EXPECT_LE(size, 2 * 1024 * 1024 + 256 * 1024)
        << "message of " << m.batch->num_rows() << " rows";
  }
  EXPECT_GT(total, 4 * 1024 * 1024);
  EXPECT_GE(data_messages, 3u);
  EXPECT_EQ(rows, Oracle(*server, sql, 0, server->Head())->num_rows());
}

TEST(DevnetServer, QueryErrorsUseAmpGrpcCodes) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);

  auto path = client->GetFlightInfo(flight::FlightDescriptor::Path({"eth_firehose", "blocks"}));
  EXPECT_GRPC_CODE(path.status(), TransportCode::kInvalidArgument);
  EXPECT_NE(path.status().message().find("unsupported flight descriptor type"), std::string::npos)
      << path.status();

  std::string cmd = proto::EncodeStatementQuery("SELECT 1");
  const std::string good = "CommandStatementQuery";
  cmd.replace(cmd.find(good), good.size(), "CommandStatementXXXXX");
  auto wrong_type = client->GetFlightInfo(flight::FlightDescriptor::Command(cmd));
  EXPECT_GRPC_CODE(wrong_type.status(), TransportCode::kInvalidArgument);
  EXPECT_NE(wrong_type.status().message().find(
                "unsupported flight descriptor command: "
                "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementXXXXX"),
            std::string::npos)
      << wrong_type.status();

  auto raw_sql = client->GetFlightInfo(flight::FlightDescriptor::Command("SELECT 1"));
  EXPECT_GRPC_CODE(raw_sql.status(), TransportCode::kInvalidArgument);

  auto syntax = client->GetFlightInfo(SqlDescriptor("SELEC block_num FROM eth_firehose.blocks"));
  EXPECT_GRPC_CODE(syntax.status(), TransportCode::kInvalidArgument);

  // Unknown column, table or dataset: ampd fails to infer the output schema, INTERNAL.
  const std::string kInfer = "failed to infer SQL output schema | Caused by: ";
  auto column = client->GetFlightInfo(SqlDescriptor("SELECT nope FROM eth_firehose.blocks"));
  EXPECT_GRPC_CODE(column.status(), TransportCode::kInternal);
  EXPECT_NE(column.status().message().find(kInfer + "Schema error: No field named nope"),
            std::string::npos)
      << column.status();

  auto table = client->GetFlightInfo(SqlDescriptor("SELECT * FROM eth_firehose.nope"));
  EXPECT_GRPC_CODE(table.status(), TransportCode::kInternal);
  EXPECT_NE(table.status().message().find(
                kInfer + "Error during planning: table 'eth_firehose.nope' not found"),
            std::string::npos)
      << table.status();

  auto dataset = client->GetFlightInfo(SqlDescriptor("SELECT * FROM other_chain.blocks"));
  EXPECT_GRPC_CODE(dataset.status(), TransportCode::kInternal);
  EXPECT_NE(dataset.status().message().find(
                kInfer + "Error during planning: dataset 'other_chain' not found"),
            std::string::npos)
      << dataset.status();

  // DoGet: garbage ticket, ticket naming an unknown table, non-incremental streaming.
  EXPECT_GRPC_CODE(ReadToEnd(*client, flight::Ticket{"definitely not bincode"}),
                   TransportCode::kInvalidArgument);
  EXPECT_GRPC_CODE(ReadToEnd(*client, flight::Ticket{EncodeTicket(
                                          {"SELECT * FROM eth_firehose.nope", false, {}})}),
                   TransportCode::kInternal);
  // ampd prefixes streaming refusals with "invalid query: " and names the operation bare.
  // DISTINCT and ORDER BY DESC, which the devnet cannot run at all, are refused the same
  // way and at the same call: GetFlightInfo accepts them, DoGet refuses.
  const std::pair<std::string, std::string> kRefused[] = {
      {"SELECT block_num FROM eth_firehose.blocks LIMIT 3 SETTINGS stream = true", "Limit"},
      {"SELECT COUNT(*) FROM eth_firehose.blocks SETTINGS stream = true", "Aggregate"},
      {"SELECT DISTINCT miner FROM eth_firehose.blocks SETTINGS stream = true", "Distinct"},
      {"SELECT block_num FROM eth_firehose.blocks ORDER BY block_num DESC SETTINGS stream = true",
       "Sort"},
      {"SELECT hash FROM eth_firehose.blocks ORDER BY hash SETTINGS stream = true", "Sort"},
      {"SELECT miner, COUNT(*) FROM eth_firehose.blocks GROUP BY miner SETTINGS stream = true",
       "Aggregate"}};
  for (const auto& [sql, operation] : kRefused) {
    ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(SqlDescriptor(sql)));
    const Status st = ReadToEnd(*client, info->endpoints()[0].ticket);
    EXPECT_GRPC_CODE(st, TransportCode::kInvalidArgument);
    EXPECT_NE(st.message().find("invalid query: non-incremental queries are not supported for "
                                "streaming, query contains non-incremental operation: " +
                                operation),
              std::string::npos)
        << st;
    EXPECT_EQ(st.message().find('`'), std::string::npos) << st;
  }
  // As batch queries ampd would run them; the devnet cannot: INVALID_ARGUMENT at once.
  for (const std::string sql : {"SELECT DISTINCT miner FROM eth_firehose.blocks",
                                "SELECT block_num FROM eth_firehose.blocks ORDER BY block_num DESC",
                                "SELECT miner, COUNT(*) FROM eth_firehose.blocks GROUP BY miner"}) {
    auto refused = client->GetFlightInfo(SqlDescriptor(sql));
    EXPECT_GRPC_CODE(refused.status(), TransportCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("by the devnet"), std::string::npos)
        << refused.status();
  }
  // No query crashes the server (failure 11 of issue 10: 5,000 chained CTEs did).
  std::string cte_chain = "WITH c0 AS (SELECT * FROM eth_firehose.logs)";
  for (int i = 1; i < 5000; ++i) {
    cte_chain += ", c" + std::to_string(i) + " AS (SELECT * FROM c" + std::to_string(i - 1) + ")";
  }
  auto chain = client->GetFlightInfo(SqlDescriptor(cte_chain + " SELECT block_num FROM c4999"));
  EXPECT_GRPC_CODE(chain.status(), TransportCode::kInvalidArgument);
  // The same LIMIT query in batch mode is fine.
  ASSERT_OK_AND_ASSIGN(auto batch_info, client->GetFlightInfo(SqlDescriptor(
                                            "SELECT block_num FROM eth_firehose.blocks LIMIT 3")));
  ASSERT_OK(ReadToEnd(*client, batch_info->endpoints()[0].ticket));
}

TEST(DevnetServer, BadResumeCursorsAreInternalErrorsAtDoGet) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const std::string sql = "SELECT block_num FROM eth_firehose.blocks SETTINGS stream = true";
  ASSERT_OK_AND_ASSIGN(auto range, server->CanonicalRange(0, 5));

  // ampd reduces the cursor to the query's network: none for it (the empty cursor `{}`
  // too) is a ConvertCursor error, INTERNAL at DoGet.
  Cursor other_network;
  other_network.networks["base"] = NetworkCursor{5, range.hash};
  for (const std::string cursor : {other_network.ToJson(), std::string("{}")}) {
    ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(Headers({{"amp-resume", cursor}}),
                                                          SqlDescriptor(sql)));
    const Status st = ReadToEnd(*client, info->endpoints()[0].ticket);
    EXPECT_GRPC_CODE(st, TransportCode::kInternal);
    EXPECT_NE(st.message().find("failed to convert cursor"), std::string::npos) << st;
    EXPECT_NE(st.message().find("mainnet"), std::string::npos) << st;
  }
}

TEST(DevnetServer, OtherRpcsAreUnimplemented) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const auto descriptor = SqlDescriptor("SELECT block_num FROM eth_firehose.blocks");

  EXPECT_GRPC_CODE(client->ListFlights().status(), TransportCode::kUnimplemented);
  EXPECT_GRPC_CODE(client->GetSchema(descriptor).status(), TransportCode::kUnimplemented);
  EXPECT_GRPC_CODE(client->ListActions().status(), TransportCode::kUnimplemented);
  EXPECT_GRPC_CODE(client->PollFlightInfo(descriptor).status(), TransportCode::kUnimplemented);
  EXPECT_GRPC_CODE(Act(*client, "drop_everything", "{}").status(), TransportCode::kUnimplemented);
  EXPECT_GRPC_CODE(client->AuthenticateBasicToken({}, "user", "password").status(),
                   TransportCode::kUnimplemented);

  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  auto put = client->DoPut(descriptor, schema);
  if (put.ok()) {
    EXPECT_GRPC_CODE(put->writer->Close(), TransportCode::kUnimplemented);
  } else {
    EXPECT_GRPC_CODE(put.status(), TransportCode::kUnimplemented);
  }
  auto exchange = client->DoExchange(descriptor);
  if (exchange.ok()) {
    EXPECT_GRPC_CODE(exchange->writer->Close(), TransportCode::kUnimplemented);
  } else {
    EXPECT_GRPC_CODE(exchange.status(), TransportCode::kUnimplemented);
  }
}

TEST(DevnetServer, RequireTokenGuardsQueries) {
  DevnetOptions options = SmallOptions();
  options.require_token = "s3cret";
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  const auto descriptor = SqlDescriptor("SELECT block_num FROM eth_firehose.blocks");
  const auto good = Headers({{"authorization", "Bearer s3cret"}});

  EXPECT_GRPC_CODE(client->GetFlightInfo(descriptor).status(), TransportCode::kUnauthenticated);
  EXPECT_GRPC_CODE(
      client->GetFlightInfo(Headers({{"authorization", "Bearer wrong"}}), descriptor).status(),
      TransportCode::kUnauthenticated);
  EXPECT_GRPC_CODE(
      client->GetFlightInfo(Headers({{"authorization", "s3cret"}}), descriptor).status(),
      TransportCode::kUnauthenticated);

  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(good, descriptor));
  const auto& ticket = info->endpoints()[0].ticket;
  EXPECT_GRPC_CODE(ReadToEnd(*client, ticket), TransportCode::kUnauthenticated);
  EXPECT_GRPC_CODE(ReadToEnd(*client, ticket, Headers({{"authorization", "Bearer nope"}})),
                   TransportCode::kUnauthenticated);
  ASSERT_OK(ReadToEnd(*client, ticket, good));
}

// --history 0: no block yet, so no head to report; a reorg has nothing to replace.
TEST(DevnetServer, StatusOfAnEmptyChain) {
  DevnetOptions options = SmallOptions();
  options.history = 0;
  auto server = StartOrDie(options);
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto status, Act(*client, kActionStatus, ""));
  EXPECT_TRUE(status["head"].is_null()) << status.dump();
  EXPECT_TRUE(status["head_hash"].is_null()) << status.dump();
  EXPECT_EQ(status["produced"].get<uint64_t>(), 0u);
  EXPECT_GRPC_CODE(Act(*client, kActionReorg, R"({"depth":1})").status(),
                   TransportCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto produced, Act(*client, kActionProduce, R"({"count":2})"));
  EXPECT_EQ(produced["head"].get<uint64_t>(), 1u);
  EXPECT_TRUE(server->HasBlocks());
}

TEST(DevnetServer, ControlActions) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);

  ASSERT_OK_AND_ASSIGN(auto status, Act(*client, kActionStatus, ""));
  EXPECT_EQ(status["head"].get<uint64_t>(), 29u);
  ASSERT_OK_AND_ASSIGN(auto head_range, server->CanonicalRange(29, 29));
  EXPECT_EQ(status["head_hash"].get<std::string>(), head_range.hash.ToHex());
  EXPECT_EQ(status["produced"].get<uint64_t>(), server->chain().produced());
  const uint64_t generation = status["generation"].get<uint64_t>();

  ASSERT_OK_AND_ASSIGN(auto after_reorg, Act(*client, kActionReorg, R"({"depth":2})"));
  EXPECT_EQ(after_reorg["head"].get<uint64_t>(), 29u);
  EXPECT_NE(after_reorg["head_hash"].get<std::string>(), head_range.hash.ToHex());
  EXPECT_GT(after_reorg["generation"].get<uint64_t>(), generation);
  ASSERT_OK_AND_ASSIGN(auto new_head, server->CanonicalRange(27, 29));
  EXPECT_EQ(after_reorg["head_hash"].get<std::string>(), new_head.hash.ToHex());

  ASSERT_OK_AND_ASSIGN(auto produced, Act(*client, kActionProduce, R"({"count":3})"));
  EXPECT_EQ(produced["head"].get<uint64_t>(), 32u);
  EXPECT_EQ(server->Head(), 32u);
  ASSERT_OK_AND_ASSIGN(auto one_more, Act(*client, kActionProduce, ""));
  EXPECT_EQ(one_more["head"].get<uint64_t>(), 33u);

  ASSERT_OK_AND_ASSIGN(
      auto faults,
      Act(*client, kActionSetFaults,
          R"({"drop_stream_after_messages":7,"fail_next_calls":0,"message_delay_ms":3,)"
          R"("query_latency_ms":4,"bandwidth_bytes_per_second":5000})"));
  DevnetFaults expected;
  expected.drop_stream_after_messages = 7;
  expected.message_delay = std::chrono::milliseconds(3);
  expected.query_latency = std::chrono::milliseconds(4);
  expected.bandwidth_bytes_per_second = 5000;
  EXPECT_EQ(server->faults(), expected);
  EXPECT_EQ(faults["message_delay_ms"].get<int64_t>(), 3);
  ASSERT_OK_AND_ASSIGN(auto cleared, Act(*client, kActionSetFaults, "{}"));
  EXPECT_EQ(server->faults(), DevnetFaults{});
  EXPECT_EQ(cleared["drop_stream_after_messages"].get<uint64_t>(), 0u);

  for (const auto& [type, body] : std::vector<std::pair<std::string, std::string>>{
           {kActionSetFaults, "{oops"},
           {kActionSetFaults, R"({"fail_next_cals":1})"},
           {kActionSetFaults, R"({"message_delay_ms":-1})"},
           {kActionReorg, R"({"depth":0})"},
           {kActionReorg, R"({"depth":1000})"},
           {kActionReorg, ""},
           {kActionProduce, R"({"count":"x"})"}}) {
    EXPECT_GRPC_CODE(Act(*client, type, body).status(), TransportCode::kInvalidArgument);
  }
}

TEST(DevnetServer, LiveProducerAppendsBlocksUntilHalt) {
  DevnetOptions options = SmallOptions();
  options.history = 5;
  options.block_time_ms = 10;
  options.halt_at = 12;
  auto server = StartOrDie(options);
  EXPECT_TRUE(Eventually([&] { return server->Head() == 12; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server->Head(), 12u);
  ASSERT_OK(server->Shutdown());
}

TEST(DevnetServer, StartFailsOnBusyPortAndWaitReturnsAfterShutdown) {
  auto first = StartOrDie(SmallOptions());
  DevnetOptions same_port = SmallOptions();
  same_port.port = first->port();
  auto second = DevnetServer::Start(same_port);
  EXPECT_FALSE(second.ok());

  DevnetOptions bad = SmallOptions();
  bad.microbatch_blocks = 0;
  EXPECT_TRUE(DevnetServer::Start(bad).status().IsInvalid());

  EXPECT_EQ(first->url(), "grpc://127.0.0.1:" + std::to_string(first->port()));
  auto waiter = std::async(std::launch::async, [&] { return first->Wait(); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  ASSERT_OK(first->Shutdown());
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  ASSERT_OK(waiter.get());
  ASSERT_OK(first->Shutdown());  // idempotent
}

TEST(DevnetServer, ShutdownWithIdleStreamIsPrompt) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  ASSERT_OK_AND_ASSIGN(auto info,
                       client->GetFlightInfo(SqlDescriptor(
                           "SELECT block_num FROM eth_firehose.blocks SETTINGS stream = true")));
  ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(info->endpoints()[0].ticket));
  // Read the three microbatches of history; the stream is then idle.
  int completions = 0;
  while (completions < 3) {
    ASSERT_OK_AND_ASSIGN(auto chunk, reader->Next());
    ASSERT_NE(chunk.data, nullptr);
    if (ParseMetadata(chunk.app_metadata).ranges_complete) ++completions;
  }
  auto pending = std::async(std::launch::async, [&] { return reader->Next().status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  EXPECT_EQ(server->active_streams(), 1u);

  const auto start = Clock::now();
  ASSERT_OK(server->Shutdown());
  EXPECT_LT(SecondsSince(start), 2.0);
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  const Status end = pending.get();
  EXPECT_FALSE(end.ok());
  const auto code = GrpcCode(end);
  EXPECT_TRUE(code == TransportCode::kUnavailable || code == TransportCode::kCancelled) << end;
  EXPECT_EQ(server->active_streams(), 0u);
}

TEST(DevnetServer, CancelledStreamsAreReleased) {
  auto server = StartOrDie(SmallOptions());
  auto client = Connect(*server);
  const auto descriptor =
      SqlDescriptor("SELECT block_num, hash FROM eth_firehose.blocks SETTINGS stream = true");
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(descriptor));
  const auto& ticket = info->endpoints()[0].ticket;

  // Warm up gRPC's thread pools so the thread count below measures leaks only.
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(ticket));
    ASSERT_OK(reader->Next().status());
    reader->Cancel();
  }
  ASSERT_TRUE(Eventually([&] { return server->active_streams() == 0; }));
  const int baseline = ThreadCount();

  for (int i = 0; i < 40; ++i) {
    ASSERT_OK_AND_ASSIGN(auto reader, client->DoGet(ticket));
    if (i % 2 == 0) {
      // Cancel mid-history.
      ASSERT_OK(reader->Next().status());
    } else {
      // Cancel while idle (all three microbatches read).
      int completions = 0;
      while (completions < 3) {
        ASSERT_OK_AND_ASSIGN(auto chunk, reader->Next());
        if (ParseMetadata(chunk.app_metadata).ranges_complete) ++completions;
      }
    }
    reader->Cancel();
  }
  EXPECT_TRUE(Eventually([&] { return server->active_streams() == 0; }))
      << server->active_streams() << " streams still open";
  EXPECT_TRUE(Eventually([&] { return ThreadCount() <= baseline + 4; }))
      << ThreadCount() << " threads vs " << baseline << " before";
}

}  // namespace
}  // namespace amp::devnet::server::testing
