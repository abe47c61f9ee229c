// amp::Client error reporting against an in-process devnet: SQL errors, unknown tables,
// non-incremental streams, bad resume cursors, bearer-token checks, unreachable servers,
// malformed URLs, TLS against a plain server, and cancellation of a blocked Next().
// Every error must carry the gRPC code and the class a caller acts on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "devnet/server/catalog.h"
#include "devnet/sql/engine.h"
#include "integration_test_util.h"

namespace amp::integration {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kLogsStream[] = "SELECT * FROM eth_firehose.logs SETTINGS stream = true";

/// What the devnet's planner says about `sql`: the text the server sends back.
std::string ServerText(const std::string& sql) {
  devnet::server::DevnetCatalog catalog;
  auto plan = devnet::sql::PlanQuery(sql, catalog);
  EXPECT_FALSE(plan.ok()) << sql;
  return plan.ok() ? std::string("<planned>") : plan.status().message();
}

class ClientErrorsTest : public DevnetClientTest {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 100;
    options.microbatch_blocks = 10;
    Start(options);
  }
};

TEST_F(ClientErrorsTest, BadSqlIsAFatalInvalidArgument) {
  for (const std::string sql : {"SELEC * FROM eth_firehose.blocks",
                                "SELECT * FROM eth_firehose.logs WHERE topic0 = 0x1234",
                                "SELECT * FROM logs"}) {
    SCOPED_TRACE(sql);
    const std::string server_text = ServerText(sql);
    ASSERT_FALSE(server_text.empty());
    auto st = client().sql(sql).to_arrow().status();
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(st.IsInvalid()) << st.ToString();
    EXPECT_EQ(CodeOf(st), "INVALID_ARGUMENT") << st.ToString();
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
    EXPECT_THAT(st.message(), AllOf(HasSubstr(server_text), HasSubstr("GetFlightInfo")));
    // schema() fails the same way, before any DoGet.
    EXPECT_EQ(CodeOf(client().sql(sql).schema().status()), "INVALID_ARGUMENT");
  }
}

// As ampd: an unknown table, dataset or column fails the output-schema inference at
// GetFlightInfo with INTERNAL, which no retry fixes.
TEST_F(ClientErrorsTest, UnknownTableDatasetOrColumnIsAFatalInternalNamingIt) {
  auto st = client().sql("SELECT * FROM eth_firehose.nope").to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(CodeOf(st), "INTERNAL") << st.ToString();
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("failed to infer SQL output schema"),
                                  HasSubstr("table 'eth_firehose.nope' not found"),
                                  HasSubstr("GetFlightInfo")));

  auto dataset = client().sql("SELECT * FROM \"_/other@1.0.0\".blocks").to_arrow().status();
  EXPECT_EQ(CodeOf(dataset), "INTERNAL") << dataset.ToString();
  EXPECT_EQ(ClassOf(dataset), ErrorClass::kFatal);
  EXPECT_THAT(dataset.message(), HasSubstr("dataset 'other' not found"));

  auto column = client().sql("SELECT nope FROM eth_firehose.blocks").to_arrow().status();
  EXPECT_EQ(CodeOf(column), "INTERNAL") << column.ToString();
  EXPECT_EQ(ClassOf(column), ErrorClass::kFatal);
  EXPECT_THAT(column.message(), HasSubstr("No field named nope"));
}

TEST_F(ClientErrorsTest, NonIncrementalStreamsAreRejected) {
  // LIMIT with SETTINGS stream = true: GetFlightInfo accepts it, DoGet rejects it.
  const std::string limit = "SELECT * FROM eth_firehose.blocks LIMIT 5 SETTINGS stream = true";
  ASSERT_OK_AND_ASSIGN(auto info, client().GetInfo(limit));
  EXPECT_TRUE(info.streaming);
  auto st = FirstError(client(), limit);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(CodeOf(st), "INVALID_ARGUMENT") << st.ToString();
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("invalid query: non-incremental"),
                                  HasSubstr("operation: Limit")));

  // An aggregate made a stream by the amp-stream header.
  QueryOptions stream;
  stream.stream = true;
  auto agg = FirstError(client(), "SELECT COUNT(*) FROM eth_firehose.logs", stream);
  EXPECT_EQ(CodeOf(agg), "INVALID_ARGUMENT") << agg.ToString();
  EXPECT_THAT(agg.message(), AllOf(HasSubstr("non-incremental"), HasSubstr("Aggregate")));

  // The same LIMIT as a batch query is fine.
  ASSERT_OK_AND_ASSIGN(auto table,
                       client().sql("SELECT * FROM eth_firehose.blocks LIMIT 5").to_arrow());
  ExpectTablesEqual(table, OracleRows(server(), TableId::kBlocks, 0, 4), "batch LIMIT");
}

TEST_F(ClientErrorsTest, UnusableResumeCursors) {
  // A hash never produced at that height is no error (ampd restarts at that block): the
  // first batch starts at the cursor's block, which the client reports as a rewind.
  Cursor unknown;
  unknown.networks["mainnet"] = NetworkCursor{50, BlockHash{}};
  unknown.networks["mainnet"].hash.bytes.fill(0xab);
  QueryOptions options;
  options.resume = unknown;
  ASSERT_OK_AND_ASSIGN(auto restarted, client().sql(kLogsStream).stream(options));
  std::optional<StreamBatch> first;
  while (!first.has_value() || first->metadata.ranges.empty()) {
    ASSERT_OK_AND_ASSIGN(first, restarted->Next());
    ASSERT_TRUE(first.has_value()) << "stream ended";
  }
  EXPECT_EQ(first->metadata.ranges[0].start, 50u);
  ASSERT_TRUE(first->invalidates.has_value());
  EXPECT_EQ(first->invalidates->start, 50u);
  restarted->Cancel();

  // A cursor for another network only: ampd's ConvertCursor error, INTERNAL at DoGet.
  Cursor other;
  other.networks["base"] = NetworkCursor{3, BlockHash{}};
  options.resume = other;
  auto wrong = FirstError(client(), kLogsStream, options);
  EXPECT_EQ(CodeOf(wrong), "INTERNAL") << wrong.ToString();
  EXPECT_EQ(ClassOf(wrong), ErrorClass::kFatal);  // before any data: a retry would repeat it
  EXPECT_THAT(wrong.message(), AllOf(HasSubstr("failed to convert cursor"), HasSubstr("mainnet")));
}

TEST_F(ClientErrorsTest, CancelFromAnotherThreadUnblocksAnIdleNext) {
  auto consumer = OpenStream(kLogsStream);
  ASSERT_NE(consumer, nullptr);
  ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
  EXPECT_EQ(server().active_streams(), 1u);
  BatchStream& stream = consumer->stream();
  auto next = std::async(std::launch::async, [&] { return stream.Next(); });
  // Caught up: the server sends nothing, so Next() must still be waiting.
  EXPECT_EQ(next.wait_for(200ms), std::future_status::timeout);
  const auto t0 = Clock::now();
  stream.Cancel();
  ASSERT_EQ(next.wait_for(1s), std::future_status::ready) << "Next() still blocked after Cancel()";
  EXPECT_LT(SecondsSince(t0), 1.0);
  auto item = next.get();
  ASSERT_FALSE(item.ok());
  EXPECT_TRUE(item.status().IsCancelled()) << item.status().ToString();
  EXPECT_EQ(CodeOf(item.status()), "CANCELLED");
  EXPECT_EQ(ClassOf(item.status()), ErrorClass::kFatal);
  // The server notices and releases the stream.
  EXPECT_TRUE(Eventually([&] { return server().active_streams() == 0; }));
  // Later calls keep failing the same way.
  EXPECT_TRUE(stream.Next().status().IsCancelled());
}

TEST_F(ClientErrorsTest, DestroyingAnIdleStreamReleasesIt) {
  {
    auto consumer = OpenStream(kLogsStream);
    ASSERT_NE(consumer, nullptr);
    ASSERT_OK(consumer->ReadUntilCaughtUp(server()));
    EXPECT_EQ(server().active_streams(), 1u);
    const auto t0 = Clock::now();
    consumer.reset();
    EXPECT_LT(SecondsSince(t0), 1.0);
  }
  EXPECT_TRUE(Eventually([&] { return server().active_streams() == 0; }));
}

TEST_F(ClientErrorsTest, UnreachableServerIsRetryableAndNamesHostPort) {
  // A port that was just in use and is now closed.
  DevnetOptions options = SmallDevnet();
  options.history = 1;
  auto gone = DevnetServer::Start(options);
  ASSERT_TRUE(gone.ok());
  const int port = (*gone)->port();
  ASSERT_OK((*gone)->Shutdown());
  gone->reset();

  ClientOptions client_options;
  client_options.info_timeout = 5000ms;
  Client client("grpc://127.0.0.1:" + std::to_string(port), client_options);
  ASSERT_TRUE(client.status().ok());  // no network round-trip at construction
  const auto t0 = Clock::now();
  auto st = client.sql("SELECT * FROM eth_firehose.blocks").to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_LT(SecondsSince(t0), 5.0);
  EXPECT_EQ(ClassOf(st), ErrorClass::kRetryCall) << st.ToString();
  EXPECT_EQ(CodeOf(st), "UNAVAILABLE") << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(ClassOf(FirstError(client, kLogsStream)), ErrorClass::kRetryCall);
}

TEST_F(ClientErrorsTest, MalformedUrlsFailEveryCall) {
  for (const std::string url : {"localhost:1602", "http://127.0.0.1:1602", "grpc://",
                                "grpc://127.0.0.1:notaport", "grpc://127.0.0.1:99999"}) {
    SCOPED_TRACE(url);
    Client client(url);
    ASSERT_FALSE(client.status().ok());
    EXPECT_TRUE(client.status().IsInvalid()) << client.status().ToString();
    EXPECT_EQ(ClassOf(client.status()), ErrorClass::kFatal);
    EXPECT_THAT(client.status().message(), HasSubstr("'" + url + "'"));
    auto st = client.sql("SELECT * FROM eth_firehose.blocks").to_arrow().status();
    EXPECT_EQ(st.message(), client.status().message());
    EXPECT_EQ(client.sql(kLogsStream).stream().status().message(), client.status().message());
  }
}

TEST_F(ClientErrorsTest, TlsAgainstThePlainDevnetFailsClearlyAndQuickly) {
  ClientOptions options;
  options.info_timeout = 3000ms;
  Client client("grpc+tls://127.0.0.1:" + std::to_string(server().port()), options);
  ASSERT_TRUE(client.status().ok()) << client.status().ToString();
  const auto t0 = Clock::now();
  auto st = client.sql("SELECT * FROM eth_firehose.blocks").to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_LT(SecondsSince(t0), 3.0 + 2.0) << "the TLS handshake must not hang";
  EXPECT_THAT(CodeOf(st), AnyOf("UNAVAILABLE", "DEADLINE_EXCEEDED")) << st.ToString();
  EXPECT_THAT(st.message(), AllOf(HasSubstr("TLS"), HasSubstr("grpc://"),
                                  HasSubstr("127.0.0.1:" + std::to_string(server().port()))));
}

// ---------------------------------------------------------------------------------------
// Bearer tokens (the devnet's require_token, which Amp leaves to its gateway).

constexpr char kToken[] = "devnet-secret-token-7f3a";

class ClientAuthTest : public DevnetClientTest {
 protected:
  void SetUp() override {
    DevnetClientTest::SetUp();
    DevnetOptions options = SmallDevnet();
    options.history = 50;
    options.microbatch_blocks = 10;
    options.require_token = kToken;
    auto server = DevnetServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  void ExpectUnauthenticated(const Client& client, const std::string& leaked_token) {
    ASSERT_TRUE(client.status().ok()) << client.status().ToString();
    auto st = client.sql("SELECT * FROM eth_firehose.blocks").to_arrow().status();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(CodeOf(st), "UNAUTHENTICATED") << st.ToString();
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
    EXPECT_THAT(st.message(), HasSubstr("auth token"));
    EXPECT_THAT(st.ToString(), Not(HasSubstr(kToken)));
    if (!leaked_token.empty()) {
      EXPECT_THAT(st.ToString(), Not(HasSubstr(leaked_token)));
    }
    EXPECT_EQ(CodeOf(FirstError(client, kLogsStream)), "UNAUTHENTICATED");
  }

  void ExpectWorks(const Client& client) {
    ASSERT_TRUE(client.status().ok()) << client.status().ToString();
    auto table = client.sql("SELECT * FROM eth_firehose.blocks").to_arrow();
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    ExpectTablesEqual(*table, OracleRows(server(), TableId::kBlocks, 0, 49), "with token");
    // Streams need the header on DoGet too.
    auto stream = client.sql(kLogsStream).stream();
    ASSERT_TRUE(stream.ok()) << stream.status().ToString();
    StreamConsumer consumer(std::move(*stream), 10);
    ASSERT_OK(consumer.ReadUntilCaughtUp(server()));
    ASSERT_OK_AND_ASSIGN(auto rows, consumer.Committed());
    ExpectMatchesChain(server(), TableId::kLogs, rows, 0, 49);
  }
};

TEST_F(ClientAuthTest, NoTokenIsUnauthenticated) { ExpectUnauthenticated(Client(server().url()), ""); }

TEST_F(ClientAuthTest, WrongTokenIsUnauthenticated) {
  ClientOptions options;
  options.auth_token = "wrong-token-123";
  ExpectUnauthenticated(Client(server().url(), options), "wrong-token-123");
}

TEST_F(ClientAuthTest, RightTokenFromOptions) {
  ClientOptions options;
  options.auth_token = kToken;
  ExpectWorks(Client(server().url(), options));
}

TEST_F(ClientAuthTest, RightTokenFromTheEnvironment) {
  setenv("AMP_AUTH_TOKEN", kToken, 1);
  ExpectWorks(Client(server().url()));
  // The explicit option wins over the environment.
  ClientOptions options;
  options.auth_token = "wrong-token-123";
  ExpectUnauthenticated(Client(server().url(), options), "wrong-token-123");
  setenv("AMP_AUTH_TOKEN", "wrong-token-456", 1);
  options.auth_token = kToken;
  ExpectWorks(Client(server().url(), options));
}

TEST_F(ClientAuthTest, RightTokenFromTheLoginCache) {
  std::filesystem::create_directories(std::filesystem::path(home_) / ".amp" / "cache");
  std::ofstream(std::filesystem::path(home_) / ".amp" / "cache" / "amp_cli_auth")
      << "{\"accessToken\":\"" << kToken
      << "\",\"refreshToken\":\"r\",\"userId\":\"u\",\"accounts\":[],\"expiry\":4102444800000}";
  ExpectWorks(Client(server().url()));
}

}  // namespace
}  // namespace amp::integration
