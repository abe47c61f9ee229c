// Turns the arrow::Status of a failed Flight call into an ampsync Status:
//   "[flight] GetFlightInfo failed (INVALID_ARGUMENT): <server message>[; <hint>]"
// with an amp::ErrorInfo{class, "flight", <gRPC code name>} attached.
//
// Recovering the gRPC code. Arrow's synchronous gRPC transport folds gRPC codes into Arrow
// status codes and a FlightStatusDetail, losing some (RESOURCE_EXHAUSTED, FAILED_PRECONDITION
// and OUT_OF_RANGE all become a bare Invalid; ABORTED and DATA_LOSS become IOError+Internal
// like INTERNAL). In order, we use:
//   1. arrow::flight::TransportStatusDetail (exact Flight transport code) when attached;
//   2. for the folded codes, the fixed prefix Arrow's transport writes for that gRPC code
//      ("gRPC returned resource exhausted error, ..."): text authored by the transport
//      library as a stand-in for the code, never the server's message;
//   3. the FlightStatusDetail code (Unavailable, TimedOut, Unauthenticated, ...);
//   4. the Arrow status code (Invalid -> INVALID_ARGUMENT, KeyError -> NOT_FOUND, ...).
// An Arrow C++ server (our devnet) also sends x-arrow-status trailers, from which Arrow
// rebuilds the server's own Status; steps 3-4 invert that mapping.
//
// Classes come from the code and the call that failed only (never from message text):
//   UNAVAILABLE, DEADLINE_EXCEEDED                                -> kRetryCall
//   RESOURCE_EXHAUSTED      -> kFatal at GetFlightInfo (the request itself is too large,
//                              e.g. a 16 KB token over the header limit: the same request
//                              fails again), else kRetryCall (a server memory limit while
//                              executing may clear)
//   ABORTED                 -> kRetryCall before data flows, kReconnect mid-stream
//                              (the stream's position is lost; reopen from the checkpoint)
//   INTERNAL, UNKNOWN, DATA_LOSS -> kReconnect mid-stream; kFatal before data flows (ampd
//                              uses INTERNAL for deterministic failures such as a resume
//                              cursor for the wrong network, which a retry would repeat)
//   INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED,
//   FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, CANCELLED (user cancel) -> kFatal
#pragma once

#include <string>
#include <string_view>

#include "amp/status.h"

namespace amp::flight {

/// The gRPC status code name ("UNAVAILABLE", ...) of a failed Flight call's Status.
std::string GrpcCodeName(const Status& status);

/// The server's message: `status.message()` without the prefix Arrow's transport adds
/// and without a trailing ". Client context: OK".
std::string ServerMessage(const Status& status);

/// The class of a gRPC code; `mid_stream`: the failure ended a DoGet stream after the
/// server had started sending data (the schema message or later); `rpc`: the call
/// ("GetFlightInfo", "DoGet", "DoGet stream").
ErrorClass ClassifyGrpcCode(std::string_view code, bool mid_stream, std::string_view rpc = "DoGet");

/// \brief What the error mapping needs to know about the call that failed.
struct CallContext {
  std::string rpc;        ///< "GetFlightInfo", "DoGet", "DoGet stream".
  std::string host_port;  ///< The server, for unreachable-server messages.
  bool tls = false;
  bool mid_stream = false;
  int64_t max_receive_message_bytes = 0;  ///< For the RESOURCE_EXHAUSTED hint.
};

/// The ampsync Status for a failed Flight call (OK stays OK).
Status FlightCallError(const Status& status, const CallContext& call);

}  // namespace amp::flight
