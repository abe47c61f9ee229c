// amp::Client against the in-process scripted Flight server (no devnet): wire bytes,
// headers, metadata handling, validation, errors, large messages, cancellation, TLS.
#include "amp/client.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <thread>

#include "common/testing/status_matchers.h"
#include "flight/app_metadata.h"
#include "flight/testing/scripted_server.h"
#include "flight/testing/test_certs.h"
#include "proto/command.h"

namespace amp {
namespace {

namespace af = arrow::flight;
namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace amp::testing;  // the scripted server and its batches and ranges

constexpr char kBatchSql[] = "SELECT block_num FROM anvil.blocks";
constexpr char kStreamSql[] = "SELECT block_num FROM anvil.blocks SETTINGS stream = true";

BatchMetadata Md(std::vector<BlockRange> ranges, bool complete) {
  return BatchMetadata{std::move(ranges), complete};
}

// Every item of `stream` up to its end, or the first error.
Result<std::vector<StreamBatch>> ReadToEnd(BatchStream& stream) {
  std::vector<StreamBatch> items;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto item, stream.Next());
    if (!item) return items;
    items.push_back(std::move(*item));
  }
}

// Each test gets an empty HOME and no AMP_AUTH_TOKEN, so the developer's own Amp login
// never leaks into a test; both are restored afterwards.
class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Save("HOME", &saved_home_);
    Save("AMP_AUTH_TOKEN", &saved_token_);
    std::string tmpl = (fs::temp_directory_path() / "amp_client_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    setenv("HOME", home_.c_str(), 1);
    unsetenv("AMP_AUTH_TOKEN");
    auto server = ScriptedFlightServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    server_.reset();
    Restore("HOME", saved_home_);
    Restore("AMP_AUTH_TOKEN", saved_token_);
    fs::remove_all(home_);
  }

  static void Save(const char* name, std::optional<std::string>* out) {
    const char* v = std::getenv(name);
    if (v) *out = v;
  }
  static void Restore(const char* name, const std::optional<std::string>& v) {
    if (v) {
      setenv(name, v->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }

  // A batch query as ampd answers it: data batches with the tables' ranges, then a 0-row
  // batch with ranges_complete.
  ScriptedResponse BatchResponse() {
    ScriptedResponse r;
    r.schema = BlockNumSchema();
    auto range = TestRange("anvil", 0, 4);
    r.messages.push_back(ScriptedMessage::Make(BlockNumBatch({0, 1, 2}), Md({range}, false)));
    r.messages.push_back(ScriptedMessage::Make(BlockNumBatch({3, 4}), Md({range}, false)));
    r.messages.push_back(ScriptedMessage::Make(BlockNumBatch({}), Md({range}, true)));
    return r;
  }

  std::vector<RecordedCall> CallsOf(const std::string& method) {
    std::vector<RecordedCall> out;
    for (auto& c : server_->calls()) {
      if (c.method == method) out.push_back(c);
    }
    return out;
  }

  void WriteAuthCache(const std::string& content) {
    fs::create_directories(fs::path(home_) / ".amp" / "cache");
    std::ofstream(fs::path(home_) / ".amp" / "cache" / "amp_cli_auth") << content;
  }

  static const ErrorInfo& Info(const Status& st) {
    static const ErrorInfo kNone(ErrorClass::kFatal, "none", "none");
    const ErrorInfo* info = ErrorInfo::FromStatus(st);
    EXPECT_NE(info, nullptr) << st.ToString();
    return info ? *info : kNone;
  }

  std::optional<std::string> saved_home_, saved_token_;
  std::string home_;
  std::unique_ptr<ScriptedFlightServer> server_;
};

TEST_F(ClientTest, BatchQueryToArrowSendsExactBytes) {
  server_->Script(kBatchSql, BatchResponse());
  Client client(server_->url());
  ASSERT_TRUE(client.status().ok()) << client.status();
  auto table = client.sql(kBatchSql).to_arrow();
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->num_rows(), 5);
  EXPECT_TRUE((*table)->schema()->Equals(*BlockNumSchema()));
  auto column = std::static_pointer_cast<arrow::UInt64Array>(
      (*table)->CombineChunksToBatch().ValueOrDie()->column(0));
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(column->Value(i), static_cast<uint64_t>(i));

  auto infos = CallsOf("GetFlightInfo");
  auto gets = CallsOf("DoGet");
  ASSERT_EQ(infos.size(), 1u);
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(infos[0].command, proto::EncodeStatementQuery(kBatchSql));
  // The default scripted ticket contains NUL and 0xFF: it must come back byte for byte.
  EXPECT_EQ(gets[0].ticket.substr(0, 2), std::string("\x00\xff", 2));
  EXPECT_THAT(gets[0].ticket, HasSubstr("amp-ticket-"));
  for (const auto& call : {infos[0], gets[0]}) {
    EXPECT_FALSE(call.Header("authorization").has_value());
    EXPECT_FALSE(call.Header("amp-stream").has_value());
    EXPECT_FALSE(call.Header("amp-resume").has_value());
  }
}

TEST_F(ClientTest, CustomTicketIsPassedBackUnchanged) {
  auto response = BatchResponse();
  response.ticket = std::string("\x01\x00\x80opaque-bincode\x00", 18);
  server_->Script(kBatchSql, response);
  Client client(server_->url());
  auto info = client.GetInfo(kBatchSql);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ticket, *response.ticket);
  EXPECT_FALSE(info->streaming);
  ASSERT_TRUE(client.sql(kBatchSql).to_arrow().ok());
  auto gets = CallsOf("DoGet");
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(gets[0].ticket, *response.ticket);
}

TEST_F(ClientTest, HeadersOnBothCalls) {
  server_->Script(kStreamSql, BatchResponse());
  ClientOptions options;
  options.auth_token = "tok-123";
  Client client(server_->url(), options);

  Cursor cursor;
  cursor.networks["anvil"] = NetworkCursor{2, TestBlockHash("anvil", 2)};
  QueryOptions q;
  q.stream = false;
  q.resume = cursor;
  auto stream = client.sql(kStreamSql).stream(q);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_FALSE((*stream)->is_streaming());  // the header overrides the SQL

  auto infos = CallsOf("GetFlightInfo");
  auto gets = CallsOf("DoGet");
  ASSERT_EQ(infos.size(), 1u);
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(infos[0].Header("authorization"), "Bearer tok-123");
  EXPECT_EQ(gets[0].Header("authorization"), "Bearer tok-123");
  EXPECT_EQ(infos[0].Header("amp-stream"), "false");
  EXPECT_EQ(infos[0].Header("amp-resume"), cursor.ToJson());
  EXPECT_EQ(infos[0].Header("amp-resume"),
            R"({"anvil":{"hash":")" + TestBlockHash("anvil", 2).ToHex() + R"(","number":2}})");
  // amp-stream and amp-resume only matter to GetFlightInfo (they are baked into the ticket).
  EXPECT_FALSE(gets[0].Header("amp-stream").has_value());
  EXPECT_FALSE(gets[0].Header("amp-resume").has_value());

  q.stream = true;
  q.resume.reset();
  auto info = client.GetInfo(kBatchSql, q);
  ASSERT_FALSE(info.ok());  // kBatchSql is not scripted; we only look at the request
  EXPECT_EQ(CallsOf("GetFlightInfo").back().Header("amp-stream"), "true");
  EXPECT_FALSE(CallsOf("GetFlightInfo").back().Header("amp-resume").has_value());
}

TEST_F(ClientTest, TokenFromEnvironmentThenLoginCache) {
  server_->Script(kBatchSql, BatchResponse());
  WriteAuthCache(R"({"accessToken":"cache-tok","refreshToken":"r","userId":"u","expiry":)" +
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count() +
                                3'600'000) +
                 "}");
  {
    Client client(server_->url());
    ASSERT_TRUE(client.sql(kBatchSql).to_arrow().ok());
    EXPECT_EQ(CallsOf("GetFlightInfo").back().Header("authorization"), "Bearer cache-tok");
    EXPECT_EQ(CallsOf("DoGet").back().Header("authorization"), "Bearer cache-tok");
  }
  setenv("AMP_AUTH_TOKEN", "env-tok", 1);
  {
    Client client(server_->url());
    ASSERT_TRUE(client.sql(kBatchSql).to_arrow().ok());
    EXPECT_EQ(CallsOf("DoGet").back().Header("authorization"), "Bearer env-tok");
  }
}

TEST_F(ClientTest, ExpiredLoginFailsEveryCallWithoutLeakingTheToken) {
  WriteAuthCache(R"({"accessToken":"old-secret-tok","expiry":1000})");
  Client client(server_->url());
  ASSERT_FALSE(client.status().ok());
  EXPECT_THAT(client.status().message(),
              AllOf(HasSubstr("expired"), HasSubstr("amp auth login"), Not(HasSubstr("old-secret"))));
  auto table = client.sql(kBatchSql).to_arrow();
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(), client.status().message());
  EXPECT_TRUE(server_->calls().empty());
}

TEST_F(ClientTest, MalformedUrlFailsEveryCall) {
  Client client("localhost:1602");
  ASSERT_FALSE(client.status().ok());
  EXPECT_TRUE(client.status().IsInvalid());
  EXPECT_THAT(client.status().message(), AllOf(HasSubstr("'localhost:1602'"), HasSubstr("scheme")));
  EXPECT_EQ(Info(client.status()).error_class(), ErrorClass::kFatal);
  EXPECT_EQ(client.sql("SELECT 1").schema().status().message(), client.status().message());
  EXPECT_EQ(client.sql("SELECT 1").stream().status().message(), client.status().message());
}

TEST_F(ClientTest, SchemaComesFromGetFlightInfoAlone) {
  auto response = BatchResponse();
  response.schema = arrow::schema({arrow::field("block_num", arrow::uint64(), false),
                                   arrow::field("hash", arrow::fixed_size_binary(32), false)});
  server_->Script("SELECT 2", response);
  Client client(server_->url());
  auto schema = client.sql("SELECT 2").schema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE((*schema)->Equals(*response.schema));
  EXPECT_TRUE(CallsOf("DoGet").empty());
}

TEST_F(ClientTest, ZeroRowResults) {
  ScriptedResponse only_completion;
  only_completion.schema = BlockNumSchema();
  only_completion.messages.push_back(ScriptedMessage::Make(BlockNumBatch({}), Md({}, true)));
  server_->Script("SELECT nothing", only_completion);
  ScriptedResponse no_messages;
  no_messages.schema = BlockNumSchema();
  server_->Script("SELECT nothing at all", no_messages);

  Client client(server_->url());
  for (const char* sql : {"SELECT nothing", "SELECT nothing at all"}) {
    auto table = client.sql(sql).to_arrow();
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ((*table)->num_rows(), 0);
    EXPECT_TRUE((*table)->schema()->Equals(*BlockNumSchema()));
  }
}

TEST_F(ClientTest, BatchStreamExposesMetadataAndZeroRowBatches) {
  server_->Script(kBatchSql, BatchResponse());
  Client client(server_->url());
  auto stream = client.sql(kBatchSql).stream();
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_FALSE((*stream)->is_streaming());
  auto schema = (*stream)->schema();
  ASSERT_TRUE(schema.ok());
  EXPECT_TRUE((*schema)->Equals(*BlockNumSchema()));
  ASSERT_OK_AND_ASSIGN(std::vector<StreamBatch> items, ReadToEnd(**stream));
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].batch->num_rows(), 3);
  EXPECT_EQ(items[0].metadata.ranges, std::vector<BlockRange>{TestRange("anvil", 0, 4)});
  EXPECT_FALSE(items[0].is_keep_alive());
  EXPECT_FALSE(items[0].is_completion());
  EXPECT_TRUE(items[2].is_completion());
  EXPECT_EQ(items[2].batch->num_rows(), 0);
  // The end is sticky.
  auto after = (*stream)->Next();
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
}

TEST_F(ClientTest, BatchQueryWithoutAppMetadataIsAccepted) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  r.messages.push_back(ScriptedMessage::Raw(BlockNumBatch({7}), std::nullopt));
  server_->Script(kBatchSql, r);
  Client client(server_->url());
  auto stream = client.sql(kBatchSql).stream();
  ASSERT_TRUE(stream.ok());
  auto item = (*stream)->Next();
  ASSERT_TRUE(item.ok()) << item.status();
  ASSERT_TRUE(item->has_value());
  EXPECT_TRUE((*item)->metadata.ranges.empty());
  EXPECT_FALSE((*item)->metadata.ranges_complete);
}

// A streaming session with a keep-alive, two microbatches and then the doc's reorg.
TEST_F(ClientTest, StreamingQueryValidatesAndReportsReorgs) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  auto add = [&](std::vector<uint64_t> rows, const BlockRange& range, bool complete) {
    r.messages.push_back(ScriptedMessage::Make(BlockNumBatch(rows), Md({range}, complete)));
  };
  auto r0 = TestRange("anvil", 0, 0), r1 = TestRange("anvil", 1, 1), r2 = TestRange("anvil", 2, 2);
  auto reorg = TestRange("anvil", 2, 3, /*fork=*/1, /*prev_fork=*/0);
  add({}, r0, false);  // keep-alive at the start of a microbatch
  add({0}, r0, false);
  add({}, r0, true);
  add({1}, r1, false);
  add({}, r1, true);
  add({2}, r2, false);
  add({}, r2, true);
  add({2, 3}, reorg, false);
  add({}, reorg, true);
  r.hold_open = false;
  server_->Script(kStreamSql, r);

  Client client(server_->url());
  auto stream = client.sql(kStreamSql).stream();
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE((*stream)->is_streaming());
  ASSERT_OK_AND_ASSIGN(std::vector<StreamBatch> items, ReadToEnd(**stream));
  ASSERT_EQ(items.size(), 9u);
  EXPECT_TRUE(items[0].is_keep_alive());
  EXPECT_TRUE(items[2].is_completion());
  for (size_t i = 0; i < items.size(); ++i) {
    if (i == 7) continue;
    EXPECT_FALSE(items[i].invalidates.has_value()) << i;
  }
  ASSERT_TRUE(items[7].invalidates.has_value());
  EXPECT_EQ(items[7].invalidates->network, "anvil");
  EXPECT_EQ(items[7].invalidates->start, 2u);
  EXPECT_EQ(items[7].invalidates->end, 3u);
  EXPECT_EQ(items[7].batch->num_rows(), 2);  // the reorg batch itself is delivered
}

TEST_F(ClientTest, ResumeCursorSeedsValidation) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  // Resuming at block 10, the server skips a block: a gap relative to the cursor.
  r.messages.push_back(
      ScriptedMessage::Make(BlockNumBatch({12}), Md({TestRange("anvil", 12, 12)}, false)));
  server_->Script(kStreamSql, r);
  Client client(server_->url());
  QueryOptions q;
  q.resume = Cursor{};
  q.resume->networks["anvil"] = NetworkCursor{10, TestBlockHash("anvil", 10)};
  auto stream = client.sql(kStreamSql).stream(q);
  ASSERT_TRUE(stream.ok());
  auto item = (*stream)->Next();
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(item.status().message(), HasSubstr("gap: anvil[10..=10] is followed by anvil[12..=12]"));
  EXPECT_EQ(ClassOf(item.status()), ErrorClass::kFatal);  // a reconnect would meet it again
  // Errors are sticky.
  EXPECT_EQ((*stream)->Next().status().message(), item.status().message());
}

TEST_F(ClientTest, StreamingProtocolErrors) {
  struct Case {
    std::string name;
    ScriptedMessage message;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"no app_metadata", ScriptedMessage::Raw(BlockNumBatch({1}), std::nullopt),
       "without app_metadata"},
      {"empty app_metadata", ScriptedMessage::Raw(BlockNumBatch({1}), std::string()),
       "without app_metadata"},
      {"not json", ScriptedMessage::Raw(BlockNumBatch({1}), std::string("{ranges")),
       "not valid JSON; got '{ranges'"},
      {"rows without ranges", ScriptedMessage::Make(BlockNumBatch({1}), Md({}, false)),
       "carries no block ranges"},
  };
  int i = 0;
  for (const auto& c : cases) {
    ScriptedResponse r;
    r.schema = BlockNumSchema();
    r.messages.push_back(c.message);
    std::string sql = std::string(kStreamSql) + " -- " + std::to_string(i++);
    server_->Script(sql, r);
    Client client(server_->url());
    auto stream = client.sql(sql).stream();
    ASSERT_TRUE(stream.ok()) << c.name;
    auto item = (*stream)->Next();
    ASSERT_FALSE(item.ok()) << c.name;
    EXPECT_THAT(item.status().message(), HasSubstr(c.expected)) << c.name;
    EXPECT_EQ(Info(item.status()).error_class(), ErrorClass::kFatal) << c.name;
    EXPECT_EQ(Info(item.status()).code(), "PROTOCOL_ERROR") << c.name;
  }
}

TEST_F(ClientTest, BatchQueryWithMalformedMetadataIsAnError) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  r.messages.push_back(ScriptedMessage::Raw(BlockNumBatch({1}), std::string(R"({"ranges":7})")));
  server_->Script(kBatchSql, r);
  Client client(server_->url());
  auto table = client.sql(kBatchSql).to_arrow();
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.status().message(), HasSubstr(R"("ranges" is not an array; got '{"ranges":7}')"));
}

TEST_F(ClientTest, EndpointCountMustBeOne) {
  for (int n : {0, 2}) {
    auto r = BatchResponse();
    r.num_endpoints = n;
    std::string sql = "SELECT " + std::to_string(n);
    server_->Script(sql, r);
    Client client(server_->url());
    auto table = client.sql(sql).to_arrow();
    ASSERT_FALSE(table.ok());
    EXPECT_THAT(table.status().message(),
                HasSubstr("returned " + std::to_string(n) + " endpoints; an Amp server always "
                          "returns exactly one"));
  }
}

TEST_F(ClientTest, ServerErrorsAreClassified) {
  auto info_invalid = BatchResponse();
  info_invalid.info_error = Status::Invalid("table not found: anvil.nope");
  server_->Script("q1", info_invalid);
  auto info_unavailable = BatchResponse();
  info_unavailable.info_error = af::MakeFlightError(af::FlightStatusCode::Unavailable, "busy");
  server_->Script("q2", info_unavailable);
  auto doget_invalid = BatchResponse();
  doget_invalid.do_get_error = Status::Invalid("non-incremental queries are not supported");
  server_->Script("q3", doget_invalid);
  auto mid_stream = BatchResponse();
  mid_stream.final_error = af::MakeFlightError(af::FlightStatusCode::Internal, "execution failed");
  server_->Script("q4", mid_stream);

  Client client(server_->url());
  auto s1 = client.sql("q1").to_arrow().status();
  EXPECT_THAT(s1.message(),
              HasSubstr("[flight] GetFlightInfo failed (INVALID_ARGUMENT): table not found: anvil.nope"));
  EXPECT_EQ(Info(s1).error_class(), ErrorClass::kFatal);
  EXPECT_EQ(Info(s1).code(), "INVALID_ARGUMENT");

  auto s2 = client.sql("q2").to_arrow().status();
  EXPECT_THAT(s2.message(), HasSubstr("GetFlightInfo failed (UNAVAILABLE): busy"));
  EXPECT_EQ(Info(s2).error_class(), ErrorClass::kRetryCall);

  auto s3 = client.sql("q3").to_arrow().status();
  EXPECT_THAT(s3.message(),
              HasSubstr("[flight] DoGet failed (INVALID_ARGUMENT): non-incremental queries"));
  EXPECT_EQ(Info(s3).error_class(), ErrorClass::kFatal);

  auto stream = client.sql("q4").stream();
  ASSERT_TRUE(stream.ok());
  int delivered = 0;
  Status s4;
  while (true) {
    auto item = (*stream)->Next();
    if (!item.ok()) {
      s4 = item.status();
      break;
    }
    ASSERT_TRUE(item->has_value()) << "the stream must end with the error";
    ++delivered;
  }
  EXPECT_EQ(delivered, 3);
  EXPECT_EQ(s4.message(), "[flight] DoGet stream failed (INTERNAL): execution failed");
  EXPECT_EQ(Info(s4).error_class(), ErrorClass::kReconnect);
}

TEST_F(ClientTest, UnreachableServer) {
  // Take a free port, then close it.
  int port;
  {
    auto tmp = ScriptedFlightServer::Start();
    ASSERT_TRUE(tmp.ok());
    port = (*tmp)->port();
  }
  Client client("grpc://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client.status().ok());
  auto st = client.sql("SELECT 1").to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), AllOf(HasSubstr("GetFlightInfo failed (UNAVAILABLE)"),
                                  HasSubstr("127.0.0.1:" + std::to_string(port)),
                                  HasSubstr("server is running")));
  EXPECT_EQ(Info(st).error_class(), ErrorClass::kRetryCall);
}

// A Flight server that is not Amp: no RPC implemented.
class BareFlightServer : public af::FlightServerBase {};

TEST_F(ClientTest, NonAmpFlightServer) {
  BareFlightServer bare;
  auto location = af::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie();
  ASSERT_TRUE(bare.Init(af::FlightServerOptions(location)).ok());
  Client client("grpc://127.0.0.1:" + std::to_string(bare.port()));
  auto st = client.sql("SELECT 1").schema().status();
  EXPECT_THAT(st.message(), AllOf(HasSubstr("(UNIMPLEMENTED)"),
                                  HasSubstr("does not look like an Amp server")));
  EXPECT_EQ(Info(st).error_class(), ErrorClass::kFatal);
  ASSERT_TRUE(bare.Shutdown().ok());
}

// One 20 MiB binary value in one message: far above gRPC's 4 MiB default receive limit.
TEST_F(ClientTest, ReceivesAMessageLargerThanFourMiB) {
  constexpr int64_t kSize = 20LL << 20;
  auto schema = arrow::schema({arrow::field("payload", arrow::binary(), false)});
  arrow::BinaryBuilder builder;
  std::string value(kSize, 'x');
  value[kSize - 1] = 'z';
  ASSERT_TRUE(builder.Append(value).ok());
  auto array = builder.Finish().ValueOrDie();
  ScriptedResponse r;
  r.schema = schema;
  r.messages.push_back(ScriptedMessage::Make(arrow::RecordBatch::Make(schema, 1, {array}),
                                             Md({TestRange("anvil", 0, 0)}, false)));
  server_->Script("SELECT big", r);

  Client client(server_->url());
  auto table = client.sql("SELECT big").to_arrow();
  ASSERT_TRUE(table.ok()) << table.status();
  auto column = std::static_pointer_cast<arrow::BinaryArray>((*table)->column(0)->chunk(0));
  ASSERT_EQ(column->value_length(0), kSize);
  EXPECT_EQ(column->GetView(0).back(), 'z');

  // And the option really drives gRPC's limit: 1 MiB refuses the same message.
  ClientOptions small;
  small.max_receive_message_bytes = 1 << 20;
  Client limited(server_->url(), small);
  auto st = limited.sql("SELECT big").to_arrow().status();
  ASSERT_FALSE(st.ok());
  // gRPC fails the call with RESOURCE_EXHAUSTED internally; the gRPC bundled with Arrow 26
  // surfaces that as CANCELLED. Either way the message names the option to raise.
  EXPECT_THAT(Info(st).code(), ::testing::AnyOf("RESOURCE_EXHAUSTED", "CANCELLED"));
  EXPECT_THAT(st.message(), HasSubstr("max_receive_message_bytes (1048576)"));
  EXPECT_EQ(Info(st).error_class(), Info(st).code() == "CANCELLED" ? ErrorClass::kFatal
                                                                     : ErrorClass::kRetryCall);
}

TEST_F(ClientTest, CancelFromAnotherThread) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  r.messages.push_back(
      ScriptedMessage::Make(BlockNumBatch({0}), Md({TestRange("anvil", 0, 0)}, false)));
  r.hold_open = true;  // like ampd waiting for new blocks
  server_->Script(kStreamSql, r);
  Client client(server_->url());
  auto stream = client.sql(kStreamSql).stream();
  ASSERT_TRUE(stream.ok());
  auto first = (*stream)->Next();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());

  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (*stream)->Cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto blocked = (*stream)->Next();  // blocks until the cancel
  canceller.join();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  ASSERT_FALSE(blocked.ok());
  EXPECT_TRUE(blocked.status().IsCancelled()) << blocked.status();
  EXPECT_EQ(Info(blocked.status()).code(), "CANCELLED");
  EXPECT_EQ(Info(blocked.status()).error_class(), ErrorClass::kFatal);
  EXPECT_EQ(server_->AwaitCancelledStreams(), 1);
}

// ampd sends even the schema only with its first microbatch, and Arrow's DoGet waits for
// the schema: a stop must reach that wait (and a GetFlightInfo without an answer).
// Query options whose stop is requested once the server has received a `method` call.
struct StopOnCall {
  StopOnCall(const ScriptedFlightServer& server, const std::string& method) {
    options.stop = stop.get_token();
    stopper = testing::ActAfterCall(server, method, [this] { stop.request_stop(); });
  }
  std::stop_source stop;
  QueryOptions options;
  std::jthread stopper;
};

TEST_F(ClientTest, StopReachesADoGetThatHasSentNothing) {
  server_->Script(kStreamSql, UnansweredResponse(&ScriptedResponse::silent));
  Client client(server_->url());
  StopOnCall stop(*server_, "DoGet");
  QueryOptions& options = stop.options;
  auto stream = client.sql(kStreamSql).stream(options);
  stop.stopper.join();
  ASSERT_FALSE(stream.ok());
  EXPECT_TRUE(stream.status().IsCancelled()) << stream.status();
  EXPECT_EQ(Info(stream.status()).code(), "CANCELLED");
  EXPECT_EQ(Info(stream.status()).error_class(), ErrorClass::kFatal);
  EXPECT_EQ(server_->AwaitCancelledStreams(), 1) << "the cancel must reach the server";

  // Already requested: nothing is sent.
  const size_t calls = server_->calls().size();
  auto again = client.sql(kStreamSql).stream(options);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.status().IsCancelled()) << again.status();
  EXPECT_EQ(server_->calls().size(), calls);
}

TEST_F(ClientTest, StopReachesAnUnansweredGetFlightInfo) {
  server_->Script(kStreamSql, UnansweredResponse(&ScriptedResponse::hold_info));
  Client client(server_->url());
  StopOnCall stop(*server_, "GetFlightInfo");
  auto info = client.GetInfo(kStreamSql, stop.options);
  stop.stopper.join();
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(info.status().IsCancelled()) << info.status();
  EXPECT_EQ(Info(info.status()).code(), "CANCELLED");
  // The client outlives nothing here: destroying it while the abandoned call still waits
  // for the server must be safe (the call holds the channel until its deadline).
}

TEST_F(ClientTest, DroppingAnOpenStreamDoesNotBlock) {
  ScriptedResponse r;
  r.schema = BlockNumSchema();
  r.messages.push_back(
      ScriptedMessage::Make(BlockNumBatch({0}), Md({TestRange("anvil", 0, 0)}, false)));
  r.hold_open = true;
  server_->Script(kStreamSql, r);
  Client client(server_->url());
  auto start = std::chrono::steady_clock::now();
  {
    auto stream = client.sql(kStreamSql).stream();
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Next().ok());
  }  // destroyed mid-stream without Cancel()
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(server_->AwaitCancelledStreams(), 1);
}

TEST_F(ClientTest, ConcurrentQueriesShareOneClient) {
  server_->Script(kBatchSql, BatchResponse());
  Client client(server_->url());
  std::vector<std::thread> threads;
  std::atomic<int> rows{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto table = client.sql(kBatchSql).to_arrow();
        if (table.ok()) rows += static_cast<int>((*table)->num_rows());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(rows.load(), 4 * 5 * 5);
}

class ClientTlsTest : public ClientTest {
 protected:
  std::string WriteCa() {
    std::string path = (fs::path(home_) / "ca.pem").string();
    std::ofstream(path) << testing::kTestCaCertPem;
    return path;
  }
};

TEST_F(ClientTlsTest, TrustedCertificate) {
  ScriptedFlightServer::Options options;
  options.tls_cert_pem = testing::kTestServerCertPem;
  options.tls_key_pem = testing::kTestServerKeyPem;
  auto tls_server = ScriptedFlightServer::Start(options);
  ASSERT_TRUE(tls_server.ok()) << tls_server.status();
  (*tls_server)->Script(kBatchSql, BatchResponse());
  ClientOptions client_options;
  client_options.tls_root_certs_file = WriteCa();
  Client client((*tls_server)->url(), client_options);
  ASSERT_TRUE(client.status().ok()) << client.status();
  auto table = client.sql(kBatchSql).to_arrow();
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->num_rows(), 5);

  // Without our CA the system roots do not trust the certificate.
  Client untrusted((*tls_server)->url());
  auto st = untrusted.sql(kBatchSql).to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Info(st).code(), "UNAVAILABLE");
  EXPECT_THAT(st.message(), HasSubstr("certificate is trusted"));
}

TEST_F(ClientTlsTest, TlsAgainstAPlainServer) {
  server_->Script(kBatchSql, BatchResponse());
  Client client("grpc+tls://127.0.0.1:" + std::to_string(server_->port()));
  auto st = client.sql(kBatchSql).to_arrow().status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Info(st).code(), "UNAVAILABLE");
  EXPECT_THAT(st.message(), AllOf(HasSubstr("speaks TLS"), HasSubstr("use grpc://")));
}

TEST_F(ClientTlsTest, UnreadableRootCertificates) {
  ClientOptions options;
  options.tls_root_certs_file = (fs::path(home_) / "missing.pem").string();
  Client client("grpc+tls://localhost:1", options);
  ASSERT_FALSE(client.status().ok());
  EXPECT_THAT(client.status().message(),
              AllOf(HasSubstr("tls_root_certs_file"), HasSubstr("missing.pem")));

  std::string not_pem = (fs::path(home_) / "not.pem").string();
  std::ofstream(not_pem) << "hello";
  options.tls_root_certs_file = not_pem;
  Client client2("grpc+tls://localhost:1", options);
  EXPECT_THAT(client2.status().message(), HasSubstr("holds no PEM certificate"));
}

}  // namespace
}  // namespace amp
