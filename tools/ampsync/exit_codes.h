// Exit codes of the ampsync command line (documented in docs/cli.md).
#pragma once

#include "amp/status.h"

namespace amp::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        ///< Runtime failure not covered below.
inline constexpr int kExitUsage = 2;        ///< Bad command line or option value.
inline constexpr int kExitRejected = 3;     ///< The server or destination refused: SQL, auth, schema.
inline constexpr int kExitUnavailable = 4;  ///< Unreachable or unavailable (retry later).
inline constexpr int kExitMismatch = 5;     ///< `ampsync audit`: source and destination differ.
inline constexpr int kExitInterrupted = 130;  ///< Ctrl+C / SIGTERM: stopped cleanly.

/// Marks a bad flag value (exit 2) rather than a failure of the work itself.
inline Status UsageError(const Status& status) {
  return WithErrorInfo(status, ErrorClass::kFatal, "cli", "usage");
}

/// Maps a failure to its exit code through its ErrorClass.
inline int ExitCodeFor(const Status& status) {
  if (status.ok()) return kExitOk;
  if (const ErrorInfo* info = ErrorInfo::FromStatus(status);
      info && info->source() == "cli" && info->code() == "usage") {
    return kExitUsage;
  }
  if (status.IsCancelled()) return kExitInterrupted;
  // A protocol violation is not retried (a reconnect meets the same data) but is no
  // rejection either: docs/cli.md gives it exit 1.
  if (const ErrorInfo* info = ErrorInfo::FromStatus(status); info && info->code() == "PROTOCOL_ERROR") {
    return kExitError;
  }
  switch (ClassOf(status)) {
    case ErrorClass::kFatal: return kExitRejected;
    case ErrorClass::kRetryCall: return kExitUnavailable;
    case ErrorClass::kReconnect:
    case ErrorClass::kRetryCommit: return kExitError;
  }
  return kExitError;
}

}  // namespace amp::cli
