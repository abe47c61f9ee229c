// Implementation of amp/client.h on top of arrow::flight::FlightClient.
//
// One FlightClient (one gRPC channel, connected lazily by gRPC) is shared by all calls of
// an amp::Client; each query makes its own GetFlightInfo and DoGet RPCs, which gRPC allows
// concurrently on one channel.
//
// Cancellation. Arrow's FlightClient::DoGet reads the schema before it returns, and ampd
// sends the schema only with its first microbatch: a stream resumed at an idle head, or
// over a replica behind the cursor, blocks inside DoGet for as long as the chain is quiet.
// FlightStreamReader::Cancel() cannot help (there is no reader yet), Arrow's StopToken is
// only polled between messages, and FlightClient::Close() does not cancel calls. So the
// channel is made through a thin transport of our own that wraps Arrow's gRPC transport
// and hands each DoGet's data stream to a CallCanceller before Arrow starts reading; its
// TryCancel() reaches the gRPC call wherever it blocks. A GetFlightInfo the caller stops
// waiting for is abandoned to its deadline (PendingInfo).
#include "amp/client.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/ipc/dictionary.h>

#include <arrow/flight/transport.h>
#include <arrow/util/uri.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stop_token>
#include <thread>

#include "flight/app_metadata.h"
#include "flight/auth_token.h"
#include "flight/flight_errors.h"
#include "flight/protocol_validator.h"
#include "flight/server_url.h"
#include "sql/query_text.h"
#include "proto/command.h"

namespace amp {

namespace af = arrow::flight;
namespace afi = arrow::flight::internal;

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

Status CancelledError(const char* rpc) {
  return WithErrorInfo(Status::Cancelled("[flight] ", rpc, " cancelled by the client"),
                       ErrorClass::kFatal, "flight", "CANCELLED");
}

// --- Cancellable DoGet: see the top of this file. ---

// Where Cancel() finds the gRPC call of one DoGet, from before it starts until it ends.
class CallCanceller {
 public:
  void Attach(afi::ClientDataStream* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = stream;
    if (cancelled_) stream_->TryCancel();
  }
  void Detach(afi::ClientDataStream* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == stream) stream_ = nullptr;
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (stream_) stream_->TryCancel();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  mutable std::mutex mu_;
  afi::ClientDataStream* stream_ = nullptr;  ///< Guarded: Detach() runs before it dies.
  bool cancelled_ = false;
};

// The canceller of the DoGet being started on this thread (set around FlightClient::DoGet).
thread_local std::shared_ptr<CallCanceller> t_canceller;

// Calls the protected DoFinish() of another stream (the wrapped one).
struct FinishAccess : afi::ClientDataStream {
  static Status Finish(afi::ClientDataStream* stream) {
    return (stream->*(&FinishAccess::DoFinish))();
  }
};

// Arrow's data stream of one DoGet, registered with a CallCanceller while it lives.
class CancellableDataStream final : public afi::ClientDataStream {
 public:
  CancellableDataStream(std::unique_ptr<afi::ClientDataStream> inner,
                        std::shared_ptr<CallCanceller> canceller)
      : inner_(std::move(inner)), canceller_(std::move(canceller)) {
    if (canceller_) canceller_->Attach(inner_.get());
  }
  ~CancellableDataStream() override {
    if (canceller_) canceller_->Detach(inner_.get());
  }
  bool ReadData(afi::FlightData* data) override { return inner_->ReadData(data); }
  arrow::Result<bool> WriteData(const af::FlightPayload& payload) override {
    return inner_->WriteData(payload);
  }
  Status WritesDone() override { return inner_->WritesDone(); }
  bool ReadPutMetadata(std::shared_ptr<arrow::Buffer>* out) override {
    return inner_->ReadPutMetadata(out);
  }
  void TryCancel() override { inner_->TryCancel(); }

 protected:
  Status DoFinish() override { return FinishAccess::Finish(inner_.get()); }

 private:
  std::unique_ptr<afi::ClientDataStream> inner_;
  std::shared_ptr<CallCanceller> canceller_;
};

// Our URL schemes for Arrow's transport registry, and the gRPC scheme each stands for.
constexpr const char* kPlainScheme = "ampsync+grpc";
constexpr const char* kTlsScheme = "ampsync+grpc+tls";

// Arrow's gRPC client transport, with DoGet's stream made cancellable. Only the calls the
// Amp client makes are forwarded; the others keep the base class's "not supported".
class CancellableTransport final : public afi::ClientTransport {
 public:
  static Result<std::unique_ptr<afi::ClientTransport>> Make() {
    return std::unique_ptr<afi::ClientTransport>(new CancellableTransport());
  }

  Status Init(const af::FlightClientOptions& options, const af::Location& location,
              const arrow::util::Uri& uri) override {
    const std::string scheme = location.scheme();
    const std::string grpc_scheme = scheme == kTlsScheme ? "grpc+tls" : "grpc";
    const std::string text = location.ToString();
    const std::string real = grpc_scheme + text.substr(text.find("://"));
    AMP_ASSIGN_OR_RETURN(auto real_location, af::Location::Parse(real));
    arrow::util::Uri real_uri;
    AMP_RETURN_NOT_OK(real_uri.Parse(real));
    (void)uri;
    AMP_ASSIGN_OR_RETURN(inner_, afi::GetDefaultTransportRegistry()->MakeClient(grpc_scheme));
    return inner_->Init(options, real_location, real_uri);
  }
  Status Close() override { return inner_ ? inner_->Close() : Status::OK(); }
  Status GetFlightInfo(const af::FlightCallOptions& options, const af::FlightDescriptor& descriptor,
                       std::unique_ptr<af::FlightInfo>* info) override {
    return inner_->GetFlightInfo(options, descriptor, info);
  }
  Status DoGet(const af::FlightCallOptions& options, const af::Ticket& ticket,
               std::unique_ptr<afi::ClientDataStream>* stream) override {
    std::unique_ptr<afi::ClientDataStream> inner;
    AMP_RETURN_NOT_OK(inner_->DoGet(options, ticket, &inner));
    *stream = std::make_unique<CancellableDataStream>(std::move(inner), t_canceller);
    return Status::OK();
  }

 private:
  std::unique_ptr<afi::ClientTransport> inner_;
};

Status RegisterTransport() {
  static const Status registered = [] {
    auto* registry = afi::GetDefaultTransportRegistry();
    for (const char* scheme : {kPlainScheme, kTlsScheme}) {
      Status st = registry->RegisterClient(scheme, &CancellableTransport::Make);
      if (!st.ok()) return st;
    }
    return Status::OK();
  }();
  return registered;
}

// A GetFlightInfo run on a thread of its own, so that the caller can stop waiting for it.
// Arrow's async GetFlightInfo could be cancelled, but its status folds gRPC codes that its
// synchronous call keeps (RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ...), and our classes
// depend on them. A stopped call is abandoned: it keeps the FlightClient alive and ends
// by itself at its deadline (ClientOptions::info_timeout) or the server's answer.
class PendingInfo {
 public:
  using Answer = arrow::Result<std::unique_ptr<af::FlightInfo>>;

  static Answer Run(std::shared_ptr<af::FlightClient> flight, af::FlightCallOptions call,
                    af::FlightDescriptor descriptor, const std::stop_token& stop) {
    auto pending = std::make_shared<PendingInfo>();
    std::thread([pending, flight = std::move(flight), call = std::move(call),
                 descriptor = std::move(descriptor)]() mutable {
      Answer answer = flight->GetFlightInfo(call, descriptor);
      std::lock_guard<std::mutex> lock(pending->mu_);
      pending->answer_ = std::move(answer);
      pending->done_ = true;
      pending->cv_.notify_all();
    }).detach();
    std::unique_lock<std::mutex> lock(pending->mu_);
    pending->cv_.wait(lock, stop, [&] { return pending->done_; });
    if (!pending->done_) return CancelledError("GetFlightInfo");
    return std::move(pending->answer_);
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool done_ = false;
  Answer answer_ = Status::UnknownError("no answer");
};

// The BatchStream of one DoGet.
class FlightBatchStream final : public BatchStream {
 public:
  FlightBatchStream(std::unique_ptr<af::FlightStreamReader> reader, bool streaming,
                    const QueryOptions& options, flight::CallContext call,
                    std::shared_ptr<CallCanceller> canceller)
      : reader_(std::move(reader)),
        streaming_(streaming),
        validator_(streaming ? options.resume : std::nullopt,
                   streaming ? options.networks : std::nullopt),
        call_(std::move(call)),
        canceller_(std::move(canceller)),
        on_stop_(options.stop, [this] { Cancel(); }) {}

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
    if (canceller_) canceller_->Cancel();
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
  std::shared_ptr<CallCanceller> canceller_;  ///< Reaches the gRPC call (see the top).
  std::stop_callback<std::function<void()>> on_stop_;  ///< Last: destroyed first.
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
    if (options.stop.stop_requested()) return CancelledError("GetFlightInfo");
    Result<std::unique_ptr<af::FlightInfo>> info =
        options.stop.stop_possible() ? PendingInfo::Run(flight_, call, descriptor, options.stop)
                                     : flight_->GetFlightInfo(call, descriptor);
    if (!info.ok()) {
      if (info.status().IsCancelled() && options.stop.stop_requested()) return info.status();
      return flight::FlightCallError(info.status(), Context("GetFlightInfo"));
    }

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
    result.streaming = options.stream.value_or(sql::RequestsStreaming(query));
    return result;
  }

  Result<std::unique_ptr<BatchStream>> Execute(const std::string& query,
                                               const QueryOptions& options) const {
    AMP_ASSIGN_OR_RETURN(auto info, GetInfo(query, options));
    // The ticket goes back byte for byte; DoGet has no deadline because streams never end.
    // Arrow waits for the schema inside DoGet: the canceller reaches that wait.
    auto canceller = std::make_shared<CallCanceller>();
    Result<std::unique_ptr<af::FlightStreamReader>> reader;
    {
      std::stop_callback on_stop(options.stop, [&canceller] { canceller->Cancel(); });
      t_canceller = canceller;
      reader = flight_->DoGet(BaseCallOptions(), af::Ticket{info.ticket});
      t_canceller.reset();
    }
    if (!reader.ok()) {
      if (canceller->cancelled()) return CancelledError("DoGet");
      return flight::FlightCallError(reader.status(), Context("DoGet"));
    }
    return std::unique_ptr<BatchStream>(std::make_unique<FlightBatchStream>(
        std::move(*reader), info.streaming, options, Context("DoGet"), std::move(canceller)));
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

    // Our cancellable wrapper of Arrow's gRPC transport (see the top of this file).
    if (Status registered = RegisterTransport(); !registered.ok()) {
      return ConfigError(Status::IOError("[flight] cannot register the Flight transport: ",
                                         registered.message()),
                         "CONNECT");
    }
    std::string uri = address_.LocationUri();
    uri = (address_.tls ? kTlsScheme : kPlainScheme) + uri.substr(uri.find("://"));
    auto location = af::Location::Parse(uri);
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
  /// Shared with abandoned GetFlightInfo calls (PendingInfo), which may outlive the Client.
  std::shared_ptr<af::FlightClient> flight_;
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
