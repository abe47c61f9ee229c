#include "flight/testing/scripted_server.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "flight/app_metadata.h"
#include "proto/command.h"

namespace amp::testing {

namespace af = arrow::flight;

namespace {

// Replays a ScriptedResponse's messages as FlightData, with app_metadata attached.
class ScriptedDataStream : public af::FlightDataStream {
 public:
  ScriptedDataStream(std::shared_ptr<const ScriptedResponse> response,
                     const af::ServerCallContext* context, const std::atomic<bool>* stopping,
                     std::atomic<int>* cancelled_streams)
      : response_(std::move(response)),
        context_(context),
        stopping_(stopping),
        cancelled_streams_(cancelled_streams) {}

  std::shared_ptr<arrow::Schema> schema() override { return response_->schema; }

  arrow::Result<af::FlightPayload> GetSchemaPayload() override {
    if (response_->silent) return HoldUntilCancelled();
    af::FlightPayload payload;
    arrow::ipc::DictionaryFieldMapper mapper(*response_->schema);
    ARROW_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(*response_->schema, options_, mapper,
                                                     &payload.ipc_message));
    return payload;
  }

  arrow::Result<af::FlightPayload> Next() override {
    if (next_ < response_->messages.size()) {
      const ScriptedMessage& message = response_->messages[next_++];
      if (message.batch == nullptr) {
        return Status::Invalid("scripted message ", next_ - 1, " has no record batch");
      }
      af::FlightPayload payload;
      ARROW_RETURN_NOT_OK(
          arrow::ipc::GetRecordBatchPayload(*message.batch, options_, &payload.ipc_message));
      if (message.app_metadata) payload.app_metadata = arrow::Buffer::FromString(*message.app_metadata);
      return payload;
    }
    if (!response_->final_error.ok()) return response_->final_error;
    if (response_->hold_open) {
      // The context outlives this call: Next() runs inside the DoGet handler.
      return HoldUntilCancelled();
    }
    return af::FlightPayload{};  // No IPC metadata: end of stream.
  }

 private:
  // Sends nothing until the client cancels the call (counted) or the server stops.
  arrow::Status HoldUntilCancelled() {
    while (!context_->is_cancelled() && !stopping_->load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (context_->is_cancelled()) {
      cancelled_streams_->fetch_add(1);
      return Status::Cancelled("client cancelled the stream");
    }
    return af::MakeFlightError(af::FlightStatusCode::Unavailable, "server shutting down");
  }

  std::shared_ptr<const ScriptedResponse> response_;
  const af::ServerCallContext* context_;
  const std::atomic<bool>* stopping_;
  std::atomic<int>* cancelled_streams_;
  arrow::ipc::IpcWriteOptions options_ = arrow::ipc::IpcWriteOptions::Defaults();
  size_t next_ = 0;
};

std::multimap<std::string, std::string> CopyHeaders(const af::ServerCallContext& context) {
  std::multimap<std::string, std::string> headers;
  for (const auto& [key, value] : context.incoming_headers()) {
    headers.emplace(std::string(key), std::string(value));
  }
  return headers;
}

}  // namespace

class ScriptedFlightServer::Service : public af::FlightServerBase {
 public:
  explicit Service(std::atomic<int>* cancelled_streams) : cancelled_streams_(cancelled_streams) {}

  Status GetFlightInfo(const af::ServerCallContext& context, const af::FlightDescriptor& request,
                       std::unique_ptr<af::FlightInfo>* info) override {
    RecordedCall call = Received("GetFlightInfo", context);
    call.command = request.cmd;
    if (request.type != af::FlightDescriptor::CMD) {
      Record(call);
      return Status::Invalid("unsupported flight descriptor type");
    }
    auto sql = proto::DecodeStatementQuery(request.cmd);
    if (sql.ok()) call.sql = *sql;
    Record(call);
    if (!sql.ok()) return sql.status();

    auto response = Lookup(*sql, call);
    if (!response.ok()) return response.status();
    std::shared_ptr<const ScriptedResponse> scripted = *response;
    if (!scripted->info_error.ok()) return scripted->info_error;
    if (scripted->hold_info) {
      while (!context.is_cancelled() && !stopping_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return af::MakeFlightError(af::FlightStatusCode::Unavailable, "no answer");
    }

    std::vector<af::FlightEndpoint> endpoints;
    for (int i = 0; i < scripted->num_endpoints; ++i) {
      std::string ticket = scripted->ticket.value_or(
          std::string("\x00\xff", 2) + "amp-ticket-" + std::to_string(NextTicketId()));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        tickets_[ticket] = scripted;
      }
      af::FlightEndpoint endpoint;
      endpoint.ticket.ticket = std::move(ticket);
      endpoints.push_back(std::move(endpoint));
    }
    ARROW_ASSIGN_OR_RAISE(auto flight_info,
                          af::FlightInfo::Make(*scripted->schema, request, endpoints, -1, -1));
    *info = std::make_unique<af::FlightInfo>(std::move(flight_info));
    return Status::OK();
  }

  Status DoGet(const af::ServerCallContext& context, const af::Ticket& request,
               std::unique_ptr<af::FlightDataStream>* stream) override {
    RecordedCall call = Received("DoGet", context);
    call.ticket = request.ticket;
    Record(call);
    std::shared_ptr<const ScriptedResponse> scripted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = tickets_.find(request.ticket);
      if (it == tickets_.end()) return Status::Invalid("TICKET_DECODING_ERROR: unknown ticket");
      scripted = it->second;
    }
    if (!scripted->do_get_error.ok()) return scripted->do_get_error;
    *stream = std::make_unique<ScriptedDataStream>(scripted, &context, &stopping_,
                                                   cancelled_streams_);
    return Status::OK();
  }

  void Script(const std::string& sql, ScriptedResponse response) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripts_[sql] = std::make_shared<const ScriptedResponse>(std::move(response));
  }

  void SetHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = std::move(handler);
  }

  std::vector<RecordedCall> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

  void Stop() { stopping_.store(true); }

 private:
  // A call as it arrived; the caller adds what its request carries.
  static RecordedCall Received(const char* method, const af::ServerCallContext& context) {
    RecordedCall call;
    call.method = method;
    call.headers = CopyHeaders(context);
    return call;
  }

  void Record(RecordedCall call) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(std::move(call));
  }

  uint64_t NextTicketId() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ++ticket_counter_;
  }

  Result<std::shared_ptr<const ScriptedResponse>> Lookup(const std::string& sql,
                                                         const RecordedCall& call) {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = scripts_.find(sql);
      if (it != scripts_.end()) return it->second;
      handler = handler_;
    }
    if (!handler) return Status::Invalid("no script for query: ", sql);
    return std::make_shared<const ScriptedResponse>(handler(sql, call));
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const ScriptedResponse>> scripts_;
  std::map<std::string, std::shared_ptr<const ScriptedResponse>> tickets_;
  Handler handler_;
  std::vector<RecordedCall> calls_;
  uint64_t ticket_counter_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int>* cancelled_streams_;
};

ScriptedMessage ScriptedMessage::Make(std::shared_ptr<arrow::RecordBatch> batch,
                                      const BatchMetadata& metadata) {
  return ScriptedMessage{std::move(batch), flight::FormatAppMetadata(metadata)};
}

ScriptedMessage ScriptedMessage::Raw(std::shared_ptr<arrow::RecordBatch> batch,
                                     std::optional<std::string> app_metadata) {
  return ScriptedMessage{std::move(batch), std::move(app_metadata)};
}

std::optional<std::string> RecordedCall::Header(const std::string& key) const {
  auto it = headers.find(key);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

Result<std::unique_ptr<ScriptedFlightServer>> ScriptedFlightServer::Start(Options options) {
  std::unique_ptr<ScriptedFlightServer> server(new ScriptedFlightServer());
  server->tls_ = !options.tls_cert_pem.empty();
  server->service_ = std::make_unique<Service>(&server->cancelled_streams_);
  AMP_ASSIGN_OR_RETURN(auto location, server->tls_ ? af::Location::ForGrpcTls("localhost", 0)
                                                   : af::Location::ForGrpcTcp("127.0.0.1", 0));
  af::FlightServerOptions server_options(location);
  if (server->tls_) {
    server_options.tls_certificates.push_back(
        af::CertKeyPair{options.tls_cert_pem, options.tls_key_pem});
  }
  AMP_RETURN_NOT_OK(server->service_->Init(server_options));
  return server;
}

ScriptedFlightServer::~ScriptedFlightServer() { (void)Shutdown(); }

void ScriptedFlightServer::Script(const std::string& sql, ScriptedResponse response) {
  service_->Script(sql, std::move(response));
}

void ScriptedFlightServer::SetHandler(Handler handler) { service_->SetHandler(std::move(handler)); }

void ScriptedFlightServer::ServeInOrder(std::vector<ScriptedResponse> responses) {
  struct Sequence {
    std::mutex mu;
    std::vector<ScriptedResponse> responses;
    size_t served = 0;
  };
  auto sequence = std::make_shared<Sequence>();
  sequence->responses = std::move(responses);
  SetHandler([sequence](const std::string&, const RecordedCall&) {
    std::lock_guard<std::mutex> lock(sequence->mu);
    const size_t i = std::min(sequence->served++, sequence->responses.size() - 1);
    return sequence->responses.at(i);
  });
}

void ScriptedFlightServer::AwaitCall(const std::string& method) const {
  for (int i = 0; i < 500; ++i) {
    for (const auto& call : calls()) {
      if (call.method == method) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ScriptedFlightServer::AwaitCancelledStreams(int n) const {
  for (int i = 0; i < 500 && cancelled_streams() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cancelled_streams();
}

ScriptedResponse UnansweredResponse(bool ScriptedResponse::*hold) {
  ScriptedResponse response;
  response.schema = BlockNumSchema();
  response.*hold = true;
  return response;
}

std::jthread ActAfterCall(const ScriptedFlightServer& server, std::string method,
                          std::function<void()> action) {
  return std::jthread([&server, method = std::move(method), action = std::move(action)] {
    server.AwaitCall(method);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    action();
  });
}

int ScriptedFlightServer::port() const { return service_->port(); }

std::string ScriptedFlightServer::url() const {
  return tls_ ? "grpc+tls://localhost:" + std::to_string(port())
              : "grpc://127.0.0.1:" + std::to_string(port());
}

std::vector<RecordedCall> ScriptedFlightServer::calls() const { return service_->calls(); }

Status ScriptedFlightServer::Shutdown() {
  if (shut_down_ || !service_) return Status::OK();
  shut_down_ = true;
  service_->Stop();
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  AMP_RETURN_NOT_OK(service_->Shutdown(&deadline));
  return service_->Wait();
}

BlockHash TestBlockHash(const std::string& network, BlockNumber number, int fork) {
  // FNV-1a over (network, number, fork), expanded to 32 bytes with a splitmix-style mixer.
  uint64_t h = 1469598103934665603ULL;
  auto mix_byte = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  for (char c : network) mix_byte(static_cast<uint8_t>(c));
  for (int i = 0; i < 8; ++i) mix_byte(static_cast<uint8_t>(number >> (8 * i)));
  for (int i = 0; i < 4; ++i) mix_byte(static_cast<uint8_t>(static_cast<uint32_t>(fork) >> (8 * i)));
  BlockHash hash;
  uint64_t state = h;
  for (size_t i = 0; i < 32; i += 8) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t k = 0; k < 8; ++k) hash.bytes[i + k] = static_cast<uint8_t>(z >> (8 * k));
  }
  if (hash.IsZero()) hash.bytes[0] = 1;
  return hash;
}

BlockRange TestRange(const std::string& network, BlockNumber start, BlockNumber end, int fork,
                     std::optional<int> prev_fork) {
  BlockRange range;
  range.network = network;
  range.start = start;
  range.end = end;
  range.hash = TestBlockHash(network, end, fork);
  if (start > 0) range.prev_hash = TestBlockHash(network, start - 1, prev_fork.value_or(fork));
  return range;
}

std::shared_ptr<arrow::Schema> BlockNumSchema() {
  return arrow::schema({arrow::field("block_num", arrow::uint64(), /*nullable=*/false)});
}

std::shared_ptr<arrow::RecordBatch> BlockNumBatch(const std::vector<uint64_t>& block_nums) {
  arrow::UInt64Builder builder;
  (void)builder.AppendValues(block_nums);
  std::shared_ptr<arrow::Array> array;
  (void)builder.Finish(&array);
  return arrow::RecordBatch::Make(BlockNumSchema(), static_cast<int64_t>(block_nums.size()),
                                  {array});
}

}  // namespace amp::testing
