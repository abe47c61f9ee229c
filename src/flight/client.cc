// Implementation of amp/client.h on top of arrow::flight::FlightClient.
//
// One FlightClient (one gRPC channel, connected lazily by gRPC) is shared by all calls of
// an amp::Client; each query makes its own GetFlightInfo and DoGet RPCs, which gRPC allows
// concurrently on one channel.
#include "amp/client.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/ipc/dictionary.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "flight/app_metadata.h"
#include "flight/auth_token.h"
#include "flight/flight_errors.h"
#include "flight/protocol_validator.h"
#include "flight/server_url.h"
#include "flight/stream_detection.h"
#include "proto/command.h"

namespace amp {

namespace af = arrow::flight;

bool StreamBatch::is_keep_alive() const {
  return (batch == nullptr || batch->num_rows() == 0) && !metadata.ranges_complete;
}

bool StreamBatch::is_completion() const {
  return (batch == nullptr || batch->num_rows() == 0) && metadata.ranges_complete;
}

namespace {

constexpr const char* kAuthorizationHeader = "authorization";
constexpr const char* kStreamHeader = "amp-stream";
constexpr const char* kResumeHeader = "amp-resume";

Status ConfigError(Status status, const char* code) {
  return WithErrorInfo(status, ErrorClass::kFatal, "flight", code);
}

Result<std::string> ReadRootCerts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ConfigError(Status::IOError("cannot read ClientOptions.tls_root_certs_file '", path,
                                       "': ", std::strerror(errno)),
                       "TLS_CONFIG");
  }
  std::stringstream content;
  content << in.rdbuf();
  std::string pem = content.str();
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return ConfigError(Status::Invalid("ClientOptions.tls_root_certs_file '", path,
                                       "' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
                       "TLS_CONFIG");
  }
  return pem;
}

// The BatchStream of one DoGet.
class FlightBatchStream final : public BatchStream {
 public:
  FlightBatchStream(std::unique_ptr<af::FlightStreamReader> reader, bool streaming,
                    const std::optional<Cursor>& resume, flight::CallContext call)
      : reader_(std::move(reader)),
        streaming_(streaming),
        validator_(streaming ? resume : std::nullopt),
        call_(std::move(call)) {}

  // An Amp stream never ends by itself: tell the server explicitly that an abandoned one
  // is over rather than relying on what the reader's destructor does.
  ~FlightBatchStream() override {
    if (!finished_) reader_->Cancel();
  }

  Result<std::shared_ptr<arrow::Schema>> schema() override {
    if (schema_) return schema_;
    AMP_RETURN_NOT_OK(failed_);
    auto schema = reader_->GetSchema();
    if (!schema.ok()) return Fail(MapError(schema.status(), /*mid_stream=*/false));
    schema_ = *schema;
    return schema_;
  }

  Result<std::optional<StreamBatch>> Next() override {
    AMP_RETURN_NOT_OK(failed_);
    if (finished_) return std::optional<StreamBatch>();
    // Reading the schema first separates "DoGet failed" (nothing was sent) from a stream
    // that broke after data started flowing; the two are classified differently.
    if (!schema_) AMP_RETURN_NOT_OK(schema().status());

    auto chunk = reader_->Next();
    if (!chunk.ok()) return Fail(MapError(chunk.status(), /*mid_stream=*/true));
    if (chunk->data == nullptr && chunk->app_metadata == nullptr) {
      finished_ = true;
      return std::optional<StreamBatch>();
    }
    if (chunk->data == nullptr) {
      // Amp never sends metadata-only messages; one could carry a completion marker that
      // we would otherwise drop silently.
      return Fail(flight::ProtocolError("a Flight message with app_metadata but no record batch"));
    }

    StreamBatch item;
    item.batch = std::move(chunk->data);
    const auto& raw = chunk->app_metadata;
    if (raw != nullptr && raw->size() > 0) {
      auto metadata = flight::ParseAppMetadata(std::string_view(
          reinterpret_cast<const char*>(raw->data()), static_cast<size_t>(raw->size())));
      if (!metadata.ok()) return Fail(metadata.status());
      item.metadata = std::move(*metadata);
    } else if (streaming_) {
      return Fail(flight::ProtocolError("a streaming batch of " +
                                        std::to_string(item.batch->num_rows()) +
                                        " rows arrived without app_metadata"));
    }
    if (streaming_) {
      auto invalidates = validator_.Next(item.metadata, item.batch->num_rows());
      if (!invalidates.ok()) return Fail(invalidates.status());
      item.invalidates = std::move(*invalidates);
    }
    return std::optional<StreamBatch>(std::move(item));
  }

  void Cancel() override {
    cancelled_.store(true);
    reader_->Cancel();
  }

  bool is_streaming() const override { return streaming_; }

 private:
  Status MapError(const Status& status, bool mid_stream) {
    if (cancelled_.load()) {
      return WithErrorInfo(Status::Cancelled("[flight] DoGet stream cancelled by the client"),
                           ErrorClass::kFatal, "flight", "CANCELLED");
    }
    flight::CallContext call = call_;
    call.mid_stream = mid_stream;
    call.rpc = mid_stream ? "DoGet stream" : "DoGet";
    return flight::FlightCallError(status, call);
  }

  // Errors are sticky: after one, the stream is unusable.
  Status Fail(Status status) {
    failed_ = status;
    return status;
  }

  std::unique_ptr<af::FlightStreamReader> reader_;
  const bool streaming_;
  flight::ProtocolValidator validator_;
  flight::CallContext call_;
  std::shared_ptr<arrow::Schema> schema_;
  Status failed_;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

class Client::Impl {
 public:
  Impl(const std::string& url, ClientOptions options) : options_(std::move(options)) {
    status_ = Init(url);
  }

  const Status& status() const { return status_; }

  Result<QueryInfo> GetInfo(const std::string& query, const QueryOptions& options) const {
    AMP_RETURN_NOT_OK(status_);
    af::FlightCallOptions call = BaseCallOptions();
    if (options_.info_timeout.count() > 0) {
      call.timeout = af::TimeoutDuration(options_.info_timeout.count() / 1000.0);
    }
    if (options.stream) call.headers.emplace_back(kStreamHeader, *options.stream ? "true" : "false");
    // An empty cursor would make ampd fail the DoGet (no cursor for the query's network),
    // so "resume from nothing" is sent as no header at all.
    if (options.resume && !options.resume->empty()) {
      call.headers.emplace_back(kResumeHeader, options.resume->ToJson());
    }
    auto descriptor = af::FlightDescriptor::Command(proto::EncodeStatementQuery(query));
    auto info = flight_->GetFlightInfo(call, descriptor);
    if (!info.ok()) return flight::FlightCallError(info.status(), Context("GetFlightInfo"));

    const auto& endpoints = (*info)->endpoints();
    if (endpoints.size() != 1) {
      return WithErrorInfo(
          Status::Invalid("[flight] GetFlightInfo returned ", endpoints.size(),
                          " endpoints; an Amp server always returns exactly one (is ",
                          address_.HostPort(), " an Amp server?)"),
          ErrorClass::kFatal, "flight", "PROTOCOL_ERROR");
    }
    QueryInfo result;
    arrow::ipc::DictionaryMemo memo;
    auto schema = (*info)->GetSchema(&memo);
    if (!schema.ok() || *schema == nullptr) {
      return WithErrorInfo(
          Status::Invalid("[flight] GetFlightInfo returned no decodable schema",
                          schema.ok() ? std::string() : ": " + schema.status().message()),
          ErrorClass::kFatal, "flight", "PROTOCOL_ERROR");
    }
    result.schema = *schema;
    result.ticket = endpoints.front().ticket.ticket;
    result.streaming = options.stream.value_or(flight::SqlRequestsStreaming(query));
    return result;
  }

  Result<std::unique_ptr<BatchStream>> Execute(const std::string& query,
                                               const QueryOptions& options) const {
    AMP_ASSIGN_OR_RETURN(auto info, GetInfo(query, options));
    // The ticket goes back byte for byte; DoGet has no deadline because streams never end.
    auto reader = flight_->DoGet(BaseCallOptions(), af::Ticket{info.ticket});
    if (!reader.ok()) return flight::FlightCallError(reader.status(), Context("DoGet"));
    return std::unique_ptr<BatchStream>(std::make_unique<FlightBatchStream>(
        std::move(*reader), info.streaming, options.resume, Context("DoGet")));
  }

 private:
  Status Init(const std::string& url) {
    auto address = flight::ParseServerUrl(url);
    if (!address.ok()) return ConfigError(address.status(), "INVALID_URL");
    address_ = *address;

    auto token = flight::ResolveAuthToken(flight::AuthInputs::FromEnvironment(options_.auth_token));
    if (!token.ok()) return token.status();
    token_ = std::move(*token);

    af::FlightClientOptions client_options = af::FlightClientOptions::Defaults();
    if (address_.tls && !options_.tls_root_certs_file.empty()) {
      AMP_ASSIGN_OR_RETURN(client_options.tls_root_certs,
                           ReadRootCerts(options_.tls_root_certs_file));
    }
    // gRPC's 4 MiB receive default is too small for one huge row; <= 0 means unlimited.
    int64_t limit = options_.max_receive_message_bytes;
    int grpc_limit = limit <= 0 ? -1 : static_cast<int>(std::min<int64_t>(limit, INT_MAX));
    client_options.generic_options.emplace_back("grpc.max_receive_message_length", grpc_limit);

    auto location = af::Location::Parse(address_.LocationUri());
    if (!location.ok()) {
      return ConfigError(Status::Invalid("invalid Amp server URL '", url,
                                         "': ", location.status().message()),
                         "INVALID_URL");
    }
    // Connect only creates the channel; gRPC connects on the first call.
    auto client = af::FlightClient::Connect(*location, client_options);
    if (!client.ok()) {
      return ConfigError(Status::IOError("[flight] cannot create a Flight client for ",
                                         address_.HostPort(), ": ", client.status().message()),
                         "CONNECT");
    }
    flight_ = std::move(*client);
    return Status::OK();
  }

  af::FlightCallOptions BaseCallOptions() const {
    af::FlightCallOptions call;
    if (token_) call.headers.emplace_back(kAuthorizationHeader, "Bearer " + *token_);
    // gRPC hands IPC bodies over at arbitrary offsets; realign (only) misaligned buffers so
    // consumers may read values in place without undefined behaviour.
    call.read_options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
    return call;
  }

  flight::CallContext Context(std::string rpc) const {
    flight::CallContext call;
    call.rpc = std::move(rpc);
    call.host_port = address_.HostPort();
    call.tls = address_.tls;
    call.max_receive_message_bytes = options_.max_receive_message_bytes;
    return call;
  }

  ClientOptions options_;
  Status status_;
  flight::ServerAddress address_;
  std::optional<std::string> token_;
  std::unique_ptr<af::FlightClient> flight_;
};

Client::Client(std::string url, ClientOptions options)
    : url_(std::move(url)), impl_(std::make_unique<Impl>(url_, std::move(options))) {}

Client::~Client() = default;

const Status& Client::status() const { return impl_->status(); }

Result<Client::QueryInfo> Client::GetInfo(const std::string& query,
                                          const QueryOptions& options) const {
  return impl_->GetInfo(query, options);
}

Result<std::unique_ptr<BatchStream>> Client::Execute(const std::string& query,
                                                     const QueryOptions& options) const {
  return impl_->Execute(query, options);
}

Result<std::shared_ptr<arrow::Schema>> QueryBuilder::schema(const QueryOptions& options) const {
  AMP_ASSIGN_OR_RETURN(auto info, client_.GetInfo(query_, options));
  return info.schema;
}

Result<std::shared_ptr<arrow::Table>> QueryBuilder::to_arrow(const QueryOptions& options) const {
  AMP_ASSIGN_OR_RETURN(auto stream, client_.Execute(query_, options));
  AMP_ASSIGN_OR_RETURN(auto schema, stream->schema());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto item, stream->Next());
    if (!item) break;
    // 0-row batches (completion markers) add nothing but are harmless to keep.
    batches.push_back(std::move(item->batch));
  }
  return arrow::Table::FromRecordBatches(schema, batches);
}

Result<std::unique_ptr<BatchStream>> QueryBuilder::stream(const QueryOptions& options) const {
  return client_.Execute(query_, options);
}

}  // namespace amp
