#include "flight/flight_errors.h"

#include <arrow/flight/types.h>

#include <array>
#include <utility>

namespace amp::flight {
namespace {

using arrow::flight::FlightStatusCode;
using arrow::flight::FlightStatusDetail;
using arrow::flight::TransportStatusCode;
using arrow::flight::TransportStatusDetail;

// Prefixes Arrow's gRPC transport puts in front of the server's message, and the gRPC
// code each stands for. Both the current ("Flight returned ...") and the older
// ("gRPC returned ...") wordings are listed so a system Arrow of another version works.
// An empty code means the prefix does not identify the code.
constexpr std::array<std::pair<std::string_view, std::string_view>, 29> kArrowPrefixes = {{
    {"gRPC returned resource exhausted error, with message: ", "RESOURCE_EXHAUSTED"},
    {"gRPC returned precondition failed error, with message: ", "FAILED_PRECONDITION"},
    {"gRPC returned aborted error, with message: ", "ABORTED"},
    {"gRPC returned out-of-range error, with message: ", "OUT_OF_RANGE"},
    {"gRPC returned data loss error, with message: ", "DATA_LOSS"},
    {"gRPC cancelled call, with message: ", "CANCELLED"},
    {"gRPC returned invalid argument error, with message: ", "INVALID_ARGUMENT"},
    {"gRPC returned deadline exceeded error, with message: ", "DEADLINE_EXCEEDED"},
    {"gRPC returned not found error, with message: ", "NOT_FOUND"},
    {"gRPC returned already exists error, with message: ", "ALREADY_EXISTS"},
    {"gRPC returned permission denied error, with message: ", "PERMISSION_DENIED"},
    {"gRPC returned unimplemented error, with message: ", "UNIMPLEMENTED"},
    {"gRPC returned internal error, with message: ", "INTERNAL"},
    {"gRPC returned unavailable error, with message: ", "UNAVAILABLE"},
    {"gRPC returned unauthenticated error, with message: ", "UNAUTHENTICATED"},
    {"Flight RPC failed with message: ", "UNKNOWN"},
    {"Flight returned internal error, with message: ", "INTERNAL"},
    {"Flight returned invalid argument error, with message: ", "INVALID_ARGUMENT"},
    {"Flight returned timeout error, with message: ", "DEADLINE_EXCEEDED"},
    {"Flight returned not found error, with message: ", "NOT_FOUND"},
    {"Flight returned already exists error, with message: ", "ALREADY_EXISTS"},
    {"Flight cancelled call, with message: ", "CANCELLED"},
    {"Flight returned unauthenticated error, with message: ", "UNAUTHENTICATED"},
    {"Flight returned unauthorized error, with message: ", "PERMISSION_DENIED"},
    {"Flight returned unimplemented error, with message: ", "UNIMPLEMENTED"},
    {"Flight returned unavailable error, with message: ", "UNAVAILABLE"},
    {"gRPC failed with error code ", ""},
    {"Flight failed with error code ", ""},
    {"", ""},
}};

constexpr std::string_view kClientContextOk = ". Client context: OK";
constexpr std::string_view kDebugContext = ". gRPC client debug context: ";

std::string_view CodeFromTransport(TransportStatusCode code) {
  switch (code) {
    case TransportStatusCode::kOk: return "OK";
    case TransportStatusCode::kUnknown: return "UNKNOWN";
    case TransportStatusCode::kInternal: return "INTERNAL";
    case TransportStatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case TransportStatusCode::kTimedOut: return "DEADLINE_EXCEEDED";
    case TransportStatusCode::kNotFound: return "NOT_FOUND";
    case TransportStatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case TransportStatusCode::kCancelled: return "CANCELLED";
    case TransportStatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case TransportStatusCode::kUnauthorized: return "PERMISSION_DENIED";
    case TransportStatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case TransportStatusCode::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

std::string_view CodeFromFlightDetail(FlightStatusCode code) {
  switch (code) {
    case FlightStatusCode::Internal: return "INTERNAL";
    case FlightStatusCode::TimedOut: return "DEADLINE_EXCEEDED";
    case FlightStatusCode::Cancelled: return "CANCELLED";
    case FlightStatusCode::Unauthenticated: return "UNAUTHENTICATED";
    case FlightStatusCode::Unauthorized: return "PERMISSION_DENIED";
    case FlightStatusCode::Unavailable: return "UNAVAILABLE";
    case FlightStatusCode::Failed: return "UNKNOWN";
  }
  return "UNKNOWN";
}

std::string_view CodeFromArrow(const Status& status) {
  switch (status.code()) {
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
    case arrow::StatusCode::IndexError:
      return "INVALID_ARGUMENT";
    case arrow::StatusCode::KeyError: return "NOT_FOUND";
    case arrow::StatusCode::AlreadyExists: return "ALREADY_EXISTS";
    case arrow::StatusCode::NotImplemented: return "UNIMPLEMENTED";
    case arrow::StatusCode::Cancelled: return "CANCELLED";
    case arrow::StatusCode::OutOfMemory:
    case arrow::StatusCode::CapacityError:
      return "RESOURCE_EXHAUSTED";
    case arrow::StatusCode::IOError: return "UNAVAILABLE";
    default: return "UNKNOWN";
  }
}

// The Arrow prefix `message` starts with (an entry with an empty prefix when none).
const std::pair<std::string_view, std::string_view>& MatchPrefix(std::string_view message) {
  for (const auto& entry : kArrowPrefixes) {
    if (!entry.first.empty() && message.substr(0, entry.first.size()) == entry.first) {
      return entry;
    }
  }
  return kArrowPrefixes.back();
}

}  // namespace

std::string GrpcCodeName(const Status& status) {
  if (status.ok()) return "OK";
  if (auto transport = TransportStatusDetail::Unwrap(status)) {
    return std::string(CodeFromTransport(transport->get().code()));
  }
  const auto& prefix = MatchPrefix(status.message());
  if (!prefix.second.empty()) return std::string(prefix.second);
  if (auto detail = FlightStatusDetail::UnwrapStatus(status)) {
    return std::string(CodeFromFlightDetail(detail->code()));
  }
  return std::string(CodeFromArrow(status));
}

std::string ServerMessage(const Status& status) {
  std::string_view message = status.message();
  if (auto transport = TransportStatusDetail::Unwrap(status)) {
    message = transport->get().message();
  } else {
    const auto& prefix = MatchPrefix(message);
    if (!prefix.second.empty()) message.remove_prefix(prefix.first.size());
  }
  std::string text(message);
  // Arrow 26 appends gRPC's debug string, which repeats the code and message.
  size_t debug = text.find(kDebugContext);
  if (debug != std::string::npos) {
    size_t client_context = text.find(". Client context: ", debug);
    text.erase(debug, client_context == std::string::npos ? std::string::npos
                                                          : client_context - debug);
  }
  if (text.size() >= kClientContextOk.size() &&
      text.compare(text.size() - kClientContextOk.size(), kClientContextOk.size(),
                   kClientContextOk) == 0) {
    text.resize(text.size() - kClientContextOk.size());
  }
  // An Arrow C++ server's status detail, rebuilt from its trailers, repeats the code.
  if (auto detail = FlightStatusDetail::UnwrapStatus(status)) {
    std::string suffix = ". Detail: " + detail->ToString();
    if (text.size() >= suffix.size() &&
        text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
      text.resize(text.size() - suffix.size());
    }
  }
  return text;
}

ErrorClass ClassifyGrpcCode(std::string_view code, bool mid_stream, std::string_view rpc) {
  if (code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED") return ErrorClass::kRetryCall;
  if (code == "RESOURCE_EXHAUSTED") {
    // Planning allocates little: at GetFlightInfo it is the request that is too big.
    return rpc == "GetFlightInfo" ? ErrorClass::kFatal : ErrorClass::kRetryCall;
  }
  if (code == "ABORTED") return mid_stream ? ErrorClass::kReconnect : ErrorClass::kRetryCall;
  if (code == "INTERNAL" || code == "UNKNOWN" || code == "DATA_LOSS") {
    return mid_stream ? ErrorClass::kReconnect : ErrorClass::kFatal;
  }
  // INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED,
  // FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, CANCELLED and anything unknown.
  return ErrorClass::kFatal;
}

Status FlightCallError(const Status& status, const CallContext& call) {
  if (status.ok()) return status;
  const std::string code = GrpcCodeName(status);
  std::string message = ServerMessage(status);
  std::string hint;
  if (code == "UNAVAILABLE") {
    if (call.mid_stream) {
      hint = "the connection to " + call.host_port + " was lost";
    } else {
      hint = "could not reach an Amp server at " + call.host_port +
             ": check that the server is running and that the URL is right";
      if (call.tls) {
        hint +=
            "; with grpc+tls:// also check that the server speaks TLS (use grpc:// for a plain "
            "server such as ampd or the devnet) and that its certificate is trusted "
            "(ClientOptions.tls_root_certs_file)";
      }
    }
  } else if (code == "UNIMPLEMENTED") {
    hint = "the server at " + call.host_port +
           " does not look like an Amp server (it does not implement " + call.rpc +
           " for Flight SQL statement queries)";
  } else if (code == "UNAUTHENTICATED" || code == "PERMISSION_DENIED") {
    hint =
        "check the auth token (ClientOptions.auth_token, AMP_AUTH_TOKEN, or `amp auth login` "
        "for ~/.amp/cache/amp_cli_auth)";
  } else if (code == "RESOURCE_EXHAUSTED") {
    hint = "the server hit a resource limit, or a message exceeded "
           "ClientOptions.max_receive_message_bytes (" +
           std::to_string(call.max_receive_message_bytes) + ")";
  } else if (code == "CANCELLED") {
    // A Cancel() by the user is reported by the stream itself, so this cancel came from
    // elsewhere. The gRPC inside Arrow 26 reports an oversized incoming message this way
    // (its RESOURCE_EXHAUSTED stays internal), so name that limit.
    hint = "the call was cancelled by the server or by gRPC, for example because a message "
           "exceeded ClientOptions.max_receive_message_bytes (" +
           std::to_string(call.max_receive_message_bytes) + ")";
  } else if (code == "DEADLINE_EXCEEDED" && call.rpc == "GetFlightInfo") {
    hint = "no answer within ClientOptions.info_timeout";
  }
  std::string text = "[flight] " + call.rpc + " failed (" + code + "): " + message;
  if (!hint.empty()) text += "; " + hint;
  return WithErrorInfo(Status(status.code(), std::move(text)),
                       ClassifyGrpcCode(code, call.mid_stream, call.rpc), "flight", code);
}

}  // namespace amp::flight
