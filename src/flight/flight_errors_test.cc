#include "flight/flight_errors.h"

#include <arrow/flight/transport.h>
#include <arrow/flight/types.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::flight {
namespace {

namespace af = arrow::flight;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The Status Arrow's synchronous gRPC client produces for a gRPC status from a non-Arrow
// server such as ampd (transport/grpc/util_internal.cc FromGrpcCode).
Status FromGrpc(const std::string& code, const std::string& msg) {
  using TC = af::TransportStatusCode;
  auto t = [&](TC c) { return af::internal::TransportStatus{c, msg}.ToStatus(); };
  if (code == "CANCELLED") return t(TC::kCancelled);
  if (code == "UNKNOWN") return t(TC::kUnknown);
  if (code == "INVALID_ARGUMENT") return t(TC::kInvalidArgument);
  if (code == "DEADLINE_EXCEEDED") return t(TC::kTimedOut);
  if (code == "NOT_FOUND") return t(TC::kNotFound);
  if (code == "ALREADY_EXISTS") return t(TC::kAlreadyExists);
  if (code == "PERMISSION_DENIED") return t(TC::kUnauthorized);
  if (code == "RESOURCE_EXHAUSTED") {
    return Status::Invalid("gRPC returned resource exhausted error, with message: ", msg);
  }
  if (code == "FAILED_PRECONDITION") {
    return Status::Invalid("gRPC returned precondition failed error, with message: ", msg);
  }
  if (code == "ABORTED") {
    return Status::IOError("gRPC returned aborted error, with message: ", msg)
        .WithDetail(std::make_shared<af::FlightStatusDetail>(af::FlightStatusCode::Internal));
  }
  if (code == "OUT_OF_RANGE") {
    return Status::Invalid("gRPC returned out-of-range error, with message: ", msg);
  }
  if (code == "UNIMPLEMENTED") return t(TC::kUnimplemented);
  if (code == "INTERNAL") return t(TC::kInternal);
  if (code == "UNAVAILABLE") return t(TC::kUnavailable);
  if (code == "DATA_LOSS") {
    return Status::IOError("gRPC returned data loss error, with message: ", msg)
        .WithDetail(std::make_shared<af::FlightStatusDetail>(af::FlightStatusCode::Internal));
  }
  if (code == "UNAUTHENTICATED") return t(TC::kUnauthenticated);
  ADD_FAILURE() << "unknown code " << code;
  return Status::UnknownError(msg);
}

const std::vector<std::string> kAllCodes = {
    "CANCELLED",          "UNKNOWN",          "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND",          "ALREADY_EXISTS",   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED",         "OUT_OF_RANGE",     "UNIMPLEMENTED",
    "INTERNAL",           "UNAVAILABLE",      "DATA_LOSS",        "UNAUTHENTICATED"};

TEST(GrpcCodeName, RecoversEveryCodeFromArrowsSyncTransport) {
  for (const auto& code : kAllCodes) {
    Status st = FromGrpc(code, "server said: x | Caused by: y");
    EXPECT_EQ(GrpcCodeName(st), code) << st.ToString();
    EXPECT_EQ(ServerMessage(st), "server said: x | Caused by: y") << code;
  }
}

TEST(GrpcCodeName, PrefersTransportStatusDetail) {
  Status st = Status::IOError("whatever").WithDetail(std::make_shared<af::TransportStatusDetail>(
      af::TransportStatusCode::kUnauthenticated, "token rejected",
      std::vector<std::pair<std::string, std::string>>{}));
  EXPECT_EQ(GrpcCodeName(st), "UNAUTHENTICATED");
  EXPECT_EQ(ServerMessage(st), "token rejected");
}

// Statuses rebuilt from an Arrow C++ server's x-arrow-status trailers: the server's own
// Arrow code and message, with the FlightStatusDetail derived from the gRPC code.
TEST(GrpcCodeName, InvertsStatusesFromArrowServers) {
  EXPECT_EQ(GrpcCodeName(Status::Invalid("bad sql")), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(Status::KeyError("no table")), "NOT_FOUND");
  EXPECT_EQ(GrpcCodeName(Status::NotImplemented("GetFlightInfo")), "UNIMPLEMENTED");
  EXPECT_EQ(GrpcCodeName(Status::AlreadyExists("x")), "ALREADY_EXISTS");
  EXPECT_EQ(GrpcCodeName(Status::Cancelled("x")), "CANCELLED");
  EXPECT_EQ(GrpcCodeName(af::MakeFlightError(af::FlightStatusCode::Unavailable, "later")),
            "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(af::MakeFlightError(af::FlightStatusCode::Internal, "boom")), "INTERNAL");
  EXPECT_EQ(GrpcCodeName(af::MakeFlightError(af::FlightStatusCode::TimedOut, "t")),
            "DEADLINE_EXCEEDED");
  EXPECT_EQ(GrpcCodeName(af::MakeFlightError(af::FlightStatusCode::Failed, "f")), "UNKNOWN");
  EXPECT_EQ(GrpcCodeName(Status::IOError("socket")), "UNAVAILABLE");
  EXPECT_EQ(ServerMessage(Status::Invalid("bad sql")), "bad sql");
}

TEST(ServerMessage, DropsTheEmptyClientContext) {
  Status st = Status::IOError("Flight returned internal error, with message: boom. Client context: OK")
                  .WithDetail(std::make_shared<af::FlightStatusDetail>(af::FlightStatusCode::Internal));
  EXPECT_EQ(ServerMessage(st), "boom");
  Status kept = Status::IOError("boom. Client context: IOError: read failed");
  EXPECT_EQ(ServerMessage(kept), "boom. Client context: IOError: read failed");
}

TEST(ServerMessage, DropsArrowsDebugContextAndRepeatedDetail) {
  // As Arrow 26 reports a mid-stream error from an Arrow C++ server.
  Status st =
      Status::IOError("execution failed. Detail: Internal. gRPC client debug context: "
                      "INTERNAL:execution failed. Detail: Internal")
          .WithDetail(std::make_shared<af::FlightStatusDetail>(af::FlightStatusCode::Internal));
  EXPECT_EQ(ServerMessage(st), "execution failed");
  EXPECT_EQ(GrpcCodeName(st), "INTERNAL");
  // ... and from a non-Arrow server such as ampd.
  Status ampd = Status::IOError("Flight returned internal error, with message: query failed | "
                                "Caused by: x. gRPC client debug context: INTERNAL:query "
                                "failed. Client context: OK")
                    .WithDetail(std::make_shared<af::FlightStatusDetail>(
                        af::FlightStatusCode::Internal));
  EXPECT_EQ(ServerMessage(ampd), "query failed | Caused by: x");
}

TEST(ClassifyGrpcCode, Table) {
  struct Row {
    const char* code;
    ErrorClass info;  // at GetFlightInfo (planning)
    ErrorClass before;
    ErrorClass mid_stream;
  };
  const ErrorClass R = ErrorClass::kRetryCall, C = ErrorClass::kReconnect, F = ErrorClass::kFatal;
  const Row rows[] = {
      {"UNAVAILABLE", R, R, R},
      {"DEADLINE_EXCEEDED", R, R, R},
      // A request over the server's limits (a 16 KB token) fails the same way every time.
      {"RESOURCE_EXHAUSTED", F, R, R},
      {"ABORTED", R, R, C},
      // ampd's "failed to infer SQL output schema" is INTERNAL at GetFlightInfo.
      {"INTERNAL", F, F, C},
      {"UNKNOWN", F, F, C},
      {"DATA_LOSS", F, F, C},
      {"INVALID_ARGUMENT", F, F, F},
      {"NOT_FOUND", F, F, F},
      {"PERMISSION_DENIED", F, F, F},
      {"UNAUTHENTICATED", F, F, F},
      {"UNIMPLEMENTED", F, F, F},
      {"FAILED_PRECONDITION", F, F, F},
      {"OUT_OF_RANGE", F, F, F},
      {"ALREADY_EXISTS", F, F, F},
      {"CANCELLED", F, F, F},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(ClassifyGrpcCode(row.code, false, "GetFlightInfo"), row.info) << row.code;
    EXPECT_EQ(ClassifyGrpcCode(row.code, false, "DoGet"), row.before) << row.code;
    EXPECT_EQ(ClassifyGrpcCode(row.code, true, "DoGet stream"), row.mid_stream) << row.code;
  }

}

CallContext Call(const std::string& rpc, bool mid_stream = false, bool tls = false) {
  CallContext c;
  c.rpc = rpc;
  c.host_port = "amp.example:1602";
  c.tls = tls;
  c.mid_stream = mid_stream;
  c.max_receive_message_bytes = 1234;
  return c;
}

TEST(FlightCallError, ResourceExhaustedAtGetFlightInfoIsNotRetried) {
  Status st = FlightCallError(FromGrpc("RESOURCE_EXHAUSTED", "header list size exceeds limit"),
                              Call("GetFlightInfo"));
  EXPECT_EQ(ErrorInfo::FromStatus(st)->error_class(), ErrorClass::kFatal);
  EXPECT_THAT(st.message(), HasSubstr("header list size exceeds limit"));
  Status later = FlightCallError(FromGrpc("RESOURCE_EXHAUSTED", "memory limit"), Call("DoGet stream", true));
  EXPECT_EQ(ErrorInfo::FromStatus(later)->error_class(), ErrorClass::kRetryCall);
}

TEST(FlightCallError, MessageFormatAndErrorInfo) {
  Status st = FlightCallError(FromGrpc("INVALID_ARGUMENT", "sql parse error: near FROM"),
                              Call("GetFlightInfo"));
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_EQ(st.message(),
            "[flight] GetFlightInfo failed (INVALID_ARGUMENT): sql parse error: near FROM");
  const ErrorInfo* info = ErrorInfo::FromStatus(st);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->source(), "flight");
  EXPECT_EQ(info->code(), "INVALID_ARGUMENT");
  EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
  EXPECT_TRUE(FlightCallError(Status::OK(), Call("DoGet")).ok());
}

TEST(FlightCallError, EveryCodeGetsItsClass) {
  for (const auto& code : kAllCodes) {
    for (bool mid : {false, true}) {
      Status st = FlightCallError(FromGrpc(code, "m"), Call("DoGet", mid));
      const ErrorInfo* info = ErrorInfo::FromStatus(st);
      ASSERT_NE(info, nullptr) << code;
      EXPECT_EQ(info->code(), code);
      EXPECT_EQ(info->error_class(), ClassifyGrpcCode(code, mid, mid ? "DoGet stream" : "DoGet")) << code;
      EXPECT_THAT(st.message(), HasSubstr("(" + code + "): m"));
    }
  }
}

TEST(FlightCallError, Hints) {
  Status unreachable = FlightCallError(FromGrpc("UNAVAILABLE", "failed to connect to all addresses"),
                                       Call("GetFlightInfo"));
  EXPECT_THAT(unreachable.message(),
              AllOf(HasSubstr("amp.example:1602"), HasSubstr("server is running"),
                    Not(HasSubstr("TLS"))));
  Status tls = FlightCallError(FromGrpc("UNAVAILABLE", "handshake failed"),
                               Call("GetFlightInfo", false, /*tls=*/true));
  EXPECT_THAT(tls.message(), AllOf(HasSubstr("speaks TLS"), HasSubstr("tls_root_certs_file")));
  Status lost = FlightCallError(FromGrpc("UNAVAILABLE", "eof"), Call("DoGet stream", true));
  EXPECT_THAT(lost.message(), HasSubstr("connection to amp.example:1602 was lost"));

  Status not_amp = FlightCallError(FromGrpc("UNIMPLEMENTED", ""), Call("GetFlightInfo"));
  EXPECT_THAT(not_amp.message(), HasSubstr("does not look like an Amp server"));
  Status auth = FlightCallError(FromGrpc("UNAUTHENTICATED", "no"), Call("GetFlightInfo"));
  EXPECT_THAT(auth.message(), HasSubstr("amp auth login"));
  Status cancelled = FlightCallError(FromGrpc("CANCELLED", ""), Call("DoGet stream", true));
  EXPECT_THAT(cancelled.message(), HasSubstr("max_receive_message_bytes (1234)"));
  Status big = FlightCallError(FromGrpc("RESOURCE_EXHAUSTED", "too big"), Call("DoGet stream", true));
  EXPECT_THAT(big.message(), HasSubstr("max_receive_message_bytes (1234)"));
}

}  // namespace
}  // namespace amp::flight
