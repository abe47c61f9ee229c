// amp::Client batch queries against an in-process devnet: every result is compared with
// the canonical rows of the chain (devnet/tables.h GenerateRows), projected, filtered and
// aggregated in C++, never through the devnet's own SQL engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration_test_util.h"

namespace amp::integration {
namespace {

using ::testing::HasSubstr;

std::string Hex(const uint8_t* bytes, int length) {
  static const char* kDigits = "0123456789abcdef";
  std::string out = "0x";
  for (int i = 0; i < length; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

class ClientBatchTest : public DevnetClientTest {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 300;
    Start(options);
  }

  std::shared_ptr<arrow::Table> Query(const std::string& sql) {
    auto table = client().sql(sql).to_arrow();
    EXPECT_TRUE(table.ok()) << sql << "\n -> " << table.status().ToString();
    if (!table.ok()) return nullptr;
    return (*table)->CombineChunks().ValueOrDie();
  }
};

TEST_F(ClientBatchTest, SelectStarBetweenEqualsTheOracleForEveryTable) {
  for (TableId table : {TableId::kBlocks, TableId::kTransactions, TableId::kLogs}) {
    const std::string name(devnet::TableName(table));
    SCOPED_TRACE(name);
    auto actual = Query("SELECT * FROM eth_firehose." + name + " WHERE block_num BETWEEN 37 AND 151");
    auto expected = OracleRows(server(), table, 37, 151);
    ASSERT_NE(actual, nullptr);
    EXPECT_GT(expected->num_rows(), 0);
    // SELECT * returns the full table, `_block_num` first, with Amp's exact schema.
    EXPECT_TRUE(actual->schema()->Equals(*devnet::TableSchema(table), false))
        << actual->schema()->ToString();
    ExpectTablesEqual(actual, expected, name);
  }
}

TEST_F(ClientBatchTest, QuotedDatasetReferenceGivesTheSameRows) {
  auto plain = Query("SELECT * FROM eth_firehose.blocks WHERE block_num BETWEEN 0 AND 99");
  auto quoted = Query("SELECT * FROM \"_/eth_firehose@1.0.0\".blocks WHERE block_num BETWEEN 0 AND 99");
  ExpectTablesEqual(quoted, OracleRows(server(), TableId::kBlocks, 0, 99), "quoted");
  ExpectTablesEqual(quoted, plain, "quoted vs plain");
}

TEST_F(ClientBatchTest, ProjectionsWithAliases) {
  auto actual = Query(
      "SELECT block_num AS n, hash AS block_hash, gas_used, miner m, base_fee_per_gas AS fee "
      "FROM eth_firehose.blocks WHERE block_num BETWEEN 10 AND 40");
  auto expected = Project(OracleRows(server(), TableId::kBlocks, 10, 40),
                          {{"block_num", "n"},
                           {"hash", "block_hash"},
                           {"gas_used", "gas_used"},
                           {"miner", "m"},
                           {"base_fee_per_gas", "fee"}});
  ExpectTablesEqual(actual, expected, "blocks projection");

  // Quoted names, including keywords and a column named like a table's.
  auto txs = Query(
      "SELECT tx_hash AS h, \"from\" AS sender, \"to\", \"value\", block_num "
      "FROM eth_firehose.transactions WHERE block_num BETWEEN 100 AND 120");
  auto expected_txs = Project(OracleRows(server(), TableId::kTransactions, 100, 120),
                              {{"tx_hash", "h"},
                               {"from", "sender"},
                               {"to", "to"},
                               {"value", "value"},
                               {"block_num", "block_num"}});
  ExpectTablesEqual(txs, expected_txs, "transactions projection");
}

TEST_F(ClientBatchTest, LogsFilteredOnAHexTopic0) {
  auto all = OracleRows(server(), TableId::kLogs, 20, 180);
  auto topic0 = Column<arrow::FixedSizeBinaryArray>(all, "topic0");
  ASSERT_NE(topic0, nullptr);
  // The topic of the first log that has one (Transfer dominates the devnet's logs).
  int64_t first = 0;
  while (first < topic0->length() && topic0->IsNull(first)) ++first;
  ASSERT_LT(first, topic0->length());
  const std::string wanted(reinterpret_cast<const char*>(topic0->GetValue(first)), 32);
  const std::string hex = Hex(topic0->GetValue(first), 32);

  auto expected = FilterRows(all, [&](int64_t r) {
    return topic0->IsValid(r) &&
           std::memcmp(topic0->GetValue(r), wanted.data(), wanted.size()) == 0;
  });
  // The filter must actually filter, or this test would prove nothing.
  ASSERT_GT(expected->num_rows(), 0);
  ASSERT_LT(expected->num_rows(), all->num_rows());

  ExpectTablesEqual(
      Query("SELECT * FROM eth_firehose.logs WHERE block_num BETWEEN 20 AND 180 AND topic0 = " + hex),
      expected, "bare hex literal");
  // The quoted form, upper case, with the predicates the other way round.
  std::string upper = hex;
  for (size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  ExpectTablesEqual(Query("SELECT * FROM eth_firehose.logs WHERE topic0 = '" + upper +
                          "' AND block_num >= 20 AND block_num <= 180"),
                    expected, "quoted hex literal");

  // IS NULL is the complement among rows without a topic.
  auto nulls = FilterRows(all, [&](int64_t r) { return topic0->IsNull(r); });
  ASSERT_GT(nulls->num_rows(), 0);
  ExpectTablesEqual(
      Query("SELECT * FROM eth_firehose.logs WHERE block_num BETWEEN 20 AND 180 AND topic0 IS NULL"),
      nulls, "topic0 IS NULL");
}

TEST_F(ClientBatchTest, AggregatesAreExact) {
  auto logs = OracleRows(server(), TableId::kLogs, 40, 139);
  auto actual = Query(
      "SELECT MIN(block_num) AS lo, MAX(block_num) AS hi, COUNT(*) AS n, COUNT(topic0) AS with_topic, "
      "MAX(log_index) AS max_log_index FROM eth_firehose.logs WHERE block_num BETWEEN 40 AND 139");
  ASSERT_NE(actual, nullptr);
  ASSERT_EQ(actual->num_rows(), 1);
  auto scalar = [&](const char* name) {
    return actual->GetColumnByName(name)->GetScalar(0).ValueOrDie();
  };
  // Known from the devnet's shape: 4 logs in every block.
  EXPECT_EQ(scalar("lo")->ToString(), "40");
  EXPECT_EQ(scalar("hi")->ToString(), "139");
  EXPECT_EQ(scalar("n")->ToString(), "400");
  EXPECT_EQ(logs->num_rows(), 400);
  // And from the oracle.
  auto topic0 = Column<arrow::FixedSizeBinaryArray>(logs, "topic0");
  EXPECT_EQ(scalar("with_topic")->ToString(),
            std::to_string(topic0->length() - topic0->null_count()));
  auto max_index = arrow::compute::MinMax(logs->GetColumnByName("log_index")).ValueOrDie();
  EXPECT_TRUE(scalar("max_log_index")
                  ->Equals(*max_index.scalar_as<arrow::StructScalar>().value[1]))
      << scalar("max_log_index")->ToString();

  // Over the whole chain, on a nullable decimal column too.
  const BlockNumber head = server().Head();
  auto blocks = OracleRows(server(), TableId::kBlocks, 0, head);
  auto agg = Query(
      "SELECT MIN(gas_used) AS lo, MAX(gas_used) AS hi, COUNT(*) AS n, "
      "MAX(base_fee_per_gas) AS fee, MIN(timestamp) AS t0 FROM eth_firehose.blocks");
  ASSERT_NE(agg, nullptr);
  ASSERT_EQ(agg->num_rows(), 1);
  auto minmax = [&](const char* column) {
    auto mm = arrow::compute::MinMax(blocks->GetColumnByName(column)).ValueOrDie();
    return mm.scalar_as<arrow::StructScalar>().value;
  };
  auto value = [&](const char* name) { return agg->GetColumnByName(name)->GetScalar(0).ValueOrDie(); };
  EXPECT_TRUE(value("lo")->Equals(*minmax("gas_used")[0])) << value("lo")->ToString();
  EXPECT_TRUE(value("hi")->Equals(*minmax("gas_used")[1])) << value("hi")->ToString();
  EXPECT_EQ(value("n")->ToString(), std::to_string(head + 1));
  EXPECT_TRUE(value("fee")->Equals(*minmax("base_fee_per_gas")[1])) << value("fee")->ToString();
  EXPECT_TRUE(value("t0")->Equals(*minmax("timestamp")[0])) << value("t0")->ToString();
}

TEST_F(ClientBatchTest, LimitAndOffset) {
  auto txs = OracleRows(server(), TableId::kTransactions, 50, 59);
  ExpectTablesEqual(
      Query("SELECT * FROM eth_firehose.transactions WHERE block_num >= 50 ORDER BY block_num LIMIT 7"),
      txs->Slice(0, 7), "LIMIT 7");
  ExpectTablesEqual(
      Query("SELECT * FROM eth_firehose.transactions WHERE block_num >= 50 LIMIT 5 OFFSET 4"),
      txs->Slice(4, 5), "LIMIT 5 OFFSET 4");
  auto none = Query("SELECT * FROM eth_firehose.transactions LIMIT 0");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->num_rows(), 0);
  EXPECT_TRUE(none->schema()->Equals(*devnet::TableSchema(TableId::kTransactions), false));
  // A LIMIT beyond the rows there are returns all of them.
  ExpectTablesEqual(
      Query("SELECT * FROM eth_firehose.transactions WHERE block_num BETWEEN 50 AND 59 LIMIT 1000"),
      txs, "LIMIT above the row count");
}

TEST_F(ClientBatchTest, SubqueryAndCteGiveTheSameRows) {
  const std::string base =
      "SELECT block_num, hash, parent_hash FROM eth_firehose.blocks WHERE block_num BETWEEN 5 AND 60";
  auto expected = Project(OracleRows(server(), TableId::kBlocks, 5, 60),
                          {{"block_num", "block_num"}, {"hash", "hash"}, {"parent_hash", "parent_hash"}});
  ExpectTablesEqual(Query(base), expected, "direct");
  ExpectTablesEqual(Query("SELECT * FROM (" + base + ") AS t"), expected, "subquery");
  ExpectTablesEqual(Query("WITH t AS (" + base + ") SELECT * FROM t"), expected, "CTE");
  // Filter and projection applied outside the inner query.
  ExpectTablesEqual(Query("SELECT t.block_num, t.hash, t.parent_hash FROM "
                          "(SELECT * FROM eth_firehose.blocks) t WHERE t.block_num BETWEEN 5 AND 60"),
                    expected, "outer filter");
  ExpectTablesEqual(Query("WITH a AS (SELECT * FROM eth_firehose.blocks WHERE block_num >= 5), "
                          "b AS (SELECT block_num, hash, parent_hash FROM a) "
                          "SELECT * FROM b WHERE b.block_num <= 60"),
                    expected, "two CTEs");
}

TEST_F(ClientBatchTest, SchemaFromFlightInfoEqualsTheDoGetSchema) {
  const std::vector<std::string> queries = {
      "SELECT * FROM eth_firehose.logs WHERE block_num < 10",
      "SELECT block_num AS n, hash FROM eth_firehose.blocks",
      "SELECT COUNT(*) AS n, MAX(gas_price) FROM eth_firehose.transactions",
      "SELECT * FROM eth_firehose.blocks WHERE block_num > 100000",  // no rows
  };
  for (const auto& sql : queries) {
    SCOPED_TRACE(sql);
    ASSERT_OK_AND_ASSIGN(auto info, client().GetInfo(sql));
    ASSERT_NE(info.schema, nullptr);
    EXPECT_FALSE(info.streaming);
    EXPECT_FALSE(info.ticket.empty());
    ASSERT_OK_AND_ASSIGN(auto from_builder, client().sql(sql).schema());
    EXPECT_TRUE(from_builder->Equals(*info.schema));
    ASSERT_OK_AND_ASSIGN(auto stream, client().sql(sql).stream());
    ASSERT_OK_AND_ASSIGN(auto doget_schema, stream->schema());
    EXPECT_TRUE(doget_schema->Equals(*info.schema, false))
        << "GetFlightInfo: " << info.schema->ToString() << "\nDoGet: " << doget_schema->ToString();
    ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*stream));
    for (const auto& b : batches) EXPECT_TRUE(b.batch->schema()->Equals(*doget_schema, false));
  }
  EXPECT_TRUE(client().sql(queries[0]).schema().ValueOrDie()->Equals(
      *devnet::TableSchema(TableId::kLogs), false));

  // Available before any data: GetFlightInfo is not slowed by a per-message delay, while the
  // DoGet schema (the first message) is.
  server().SetFaults({.message_delay = 1500ms});
  auto t0 = Clock::now();
  ASSERT_OK_AND_ASSIGN(auto early, client().sql(queries[1]).schema());
  EXPECT_LT(SecondsSince(t0), 1.0);
  EXPECT_EQ(early->num_fields(), 2);
  server().SetFaults({});
}

TEST_F(ClientBatchTest, EveryMessageCarriesTheChainRangeAndTheLastCompletes) {
  for (const std::string sql : {"SELECT * FROM eth_firehose.logs",
                                "SELECT * FROM eth_firehose.blocks WHERE block_num > 100000",
                                "SELECT COUNT(*) FROM eth_firehose.transactions"}) {
    SCOPED_TRACE(sql);
    const BlockNumber head = server().Head();
    ASSERT_OK_AND_ASSIGN(auto expected_range, server().CanonicalRange(0, head));
    ASSERT_OK_AND_ASSIGN(auto stream, client().sql(sql).stream());
    EXPECT_FALSE(stream->is_streaming());
    ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*stream));
    ASSERT_GE(batches.size(), 2u) << "at least one data batch, then the completion";
    for (size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      ASSERT_EQ(b.metadata.ranges.size(), 1u) << "message " << i;
      EXPECT_EQ(b.metadata.ranges[0], expected_range)
          << "message " << i << ": " << b.metadata.ranges[0].ToString();
      EXPECT_EQ(b.metadata.ranges[0].network, "mainnet");
      EXPECT_FALSE(b.invalidates.has_value());
      const bool last = i + 1 == batches.size();
      EXPECT_EQ(b.metadata.ranges_complete, last) << "message " << i;
    }
    EXPECT_TRUE(batches.back().is_completion());
    EXPECT_EQ(batches.back().batch->num_rows(), 0);
    // The stream stays ended.
    ASSERT_OK_AND_ASSIGN(auto after, stream->Next());
    EXPECT_FALSE(after.has_value());
  }
  // The ranges follow the chain: a new block moves [0, head].
  const BlockNumber head = server().ProduceBlock();
  ASSERT_OK_AND_ASSIGN(auto stream, client().sql("SELECT block_num FROM eth_firehose.blocks").stream());
  ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*stream));
  ASSERT_FALSE(batches.empty());
  ASSERT_OK_AND_ASSIGN(auto range, server().CanonicalRange(0, head));
  EXPECT_EQ(batches.back().metadata.ranges.at(0), range);
  ASSERT_OK_AND_ASSIGN(auto table, ToTable(batches.front().batch->schema(), batches));
  EXPECT_EQ(table->num_rows(), static_cast<int64_t>(head + 1));
}

TEST_F(ClientBatchTest, LargeResultSpanningManyMessages) {
  // All logs of the chain at 64 logs per block: several MiB, sliced into ~2 MiB messages.
  DevnetOptions options = SmallDevnet();
  options.history = 2000;
  options.txs_per_block = 8;
  options.logs_per_block = 64;
  auto big = DevnetServer::Start(options);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  Client client((*big)->url());
  ASSERT_OK_AND_ASSIGN(auto stream, client.sql("SELECT * FROM eth_firehose.logs").stream());
  ASSERT_OK_AND_ASSIGN(auto schema, stream->schema());
  ASSERT_OK_AND_ASSIGN(auto batches, ReadAll(*stream));
  EXPECT_GT(batches.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto actual, ToTable(schema, batches));
  ExpectTablesEqual(actual, OracleRows(**big, TableId::kLogs, 0, 1999), "all logs");
  EXPECT_TRUE((*big)->Shutdown().ok());
}

}  // namespace
}  // namespace amp::integration
