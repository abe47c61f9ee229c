// Turning libpq failures into amp::Status: the SQLSTATE classifier that decides what the
// engine does about an error (retry the call, replay the unit, stop), message formatting
// ("[postgres] <what we were doing>: <server message> (SQLSTATE xxxxx)"), and secret
// redaction for messages that might echo connection strings.
//
// Classification (ClassifySqlState), exact codes first, then classes:
//   40001 serialization_failure, 40P01 deadlock, other class 40, 25P02 (the transaction
//   was already aborted), 55P03 lock_not_available          -> kRetryCommit
//   class 08 (connection), 57P01/57P02/57P03 (admin/crash shutdown, cannot connect now),
//   57014 (query canceled / statement timeout), class 53 (53300 too many connections,
//   out of memory, disk full), class 58 (system / I/O error)  -> kRetryCall
//   everything else: 28 (auth), 3D000 (unknown database), 42 (syntax, undefined or
//   duplicate objects, permissions), 22 (data), 23 (constraints), XX (internal) ... -> kFatal
// A lost connection (libpq reports no SQLSTATE, PQstatus() == CONNECTION_BAD) is kRetryCall.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include "amp/status.h"

namespace amp::postgres {

/// Source name in every ErrorInfo this loader attaches.
inline constexpr const char* kErrorSource = "postgres";
/// Prefix of every message.
inline constexpr std::string_view kErrorPrefix = "[postgres] ";

ErrorClass ClassifySqlState(std::string_view sqlstate);

/// Replaces every occurrence of each non-empty secret in `text` with "****".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

/// The Status of a failed statement: `result` (may be null) carries the server's SQLSTATE
/// and message; without one the connection's error message is used and the error is
/// classified by the connection state. `context` says what failed, e.g.
/// `COPY into "public"."logs"`.
Status ResultError(const PGresult* result, const PGconn* conn, std::string_view context);

/// The Status of a failed connection attempt: `libpq_message` is PQerrorMessage() of a
/// connection made with PQERRORS_VERBOSE (so server errors carry their SQLSTATE, which
/// is the only structured signal libpq gives for startup failures). 28xxx/3D000 and
/// other server-reported fatal codes -> kFatal; no SQLSTATE (refused, unreachable,
/// timeout, DNS) and retryable codes -> kRetryCall. The message is redacted.
Status ConnectError(std::string_view libpq_message, std::string_view context,
                    const std::vector<std::string>& secrets);

/// A kFatal error (configuration, schema or usage problem): Invalid + ErrorInfo.
Status FatalError(std::string message, std::string code = "");

/// Extracts the SQLSTATE from a verbose libpq message ("FATAL:  28P01: ..."), or "".
std::string SqlStateFromVerboseMessage(std::string_view message);

}  // namespace amp::postgres
