// File: amp/status.h
//
// ampsync reports every failure as an arrow::Status (re-exported as amp::Status and
// amp::Result<T>): the Arrow, Flight and Parquet calls we make already speak it, so a
// second error type would only add conversions.
//
// What the caller should *do* about an error travels with it as an amp::ErrorInfo detail,
// never parsed from the message text:
//
//   AMP_ASSIGN_OR_RETURN(auto table, client.sql("SELECT 1").to_arrow());
//   ...
//   if (amp::ClassOf(status) == amp::ErrorClass::kRetryCall) { /* back off, retry */ }
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <string>

namespace amp {

using Status = arrow::Status;
template <typename T>
using Result = arrow::Result<T>;

/// \brief What a caller should do about an error.
///
/// Mirrors the retry guidance of absl::StatusCode: kUnavailable -> retry the call,
/// kAborted -> retry at the transaction level, kFailedPrecondition -> fix the system first.
enum class ErrorClass : uint8_t {
  kRetryCall,    ///< Transient (server unavailable, timeout): retry this call with backoff.
  kRetryCommit,  ///< Roll back and replay the whole unit of work (serialization failure).
  kReconnect,    ///< The stream broke (dropped, failed mid-stream): reopen from the checkpoint.
  kFatal,        ///< Configuration, SQL, permission or schema problem: stop, do not retry.
};

const char* ToString(ErrorClass cls);

/// \brief Classification attached to a Status: the class, the component that failed
/// ("flight", "devnet", "postgres", ...) and its native code (gRPC code name, SQLSTATE).
class ErrorInfo : public arrow::StatusDetail {
 public:
  ErrorInfo(ErrorClass cls, std::string source, std::string code)
      : cls_(cls), source_(std::move(source)), code_(std::move(code)) {}

  static constexpr const char* kTypeId = "amp::ErrorInfo";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;

  ErrorClass error_class() const { return cls_; }
  const std::string& source() const { return source_; }
  const std::string& code() const { return code_; }

  /// The ErrorInfo attached to `status`, or nullptr.
  static const ErrorInfo* FromStatus(const Status& status);

 private:
  ErrorClass cls_;
  std::string source_;
  std::string code_;
};

/// Returns `status` with an ErrorInfo attached (replacing any previous detail).
Status WithErrorInfo(const Status& status, ErrorClass cls, std::string source,
                     std::string code);

/// The class of an error: its ErrorInfo when attached, otherwise derived from the
/// arrow::StatusCode (IOError -> kRetryCall, Invalid/KeyError/TypeError/... -> kFatal).
ErrorClass ClassOf(const Status& status);

}  // namespace amp

/// Propagates a non-OK Status to the caller.
#define AMP_RETURN_NOT_OK(expr) ARROW_RETURN_NOT_OK(expr)
/// `AMP_ASSIGN_OR_RETURN(auto x, MakeX())`: unwraps a Result or returns its Status.
/// WARNING: expands into several statements; do not use as the body of an unbraced if.
#define AMP_ASSIGN_OR_RETURN(lhs, rexpr) ARROW_ASSIGN_OR_RAISE(lhs, rexpr)
