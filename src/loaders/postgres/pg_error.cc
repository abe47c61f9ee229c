#include "loaders/postgres/pg_error.h"

#include <cctype>

namespace amp::postgres {
namespace {

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsSqlStateChar(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) ||
         std::isupper(static_cast<unsigned char>(c));
}

Status Classified(ErrorClass cls, std::string message, std::string code) {
  Status st = cls == ErrorClass::kFatal ? Status::Invalid(std::move(message))
                                        : Status::IOError(std::move(message));
  return WithErrorInfo(st, cls, kErrorSource, std::move(code));
}

}  // namespace

ErrorClass ClassifySqlState(std::string_view s) {
  if (s.size() != 5) return ErrorClass::kFatal;
  if (s == "25P02" || s == "55P03") return ErrorClass::kRetryCommit;
  if (s == "57P01" || s == "57P02" || s == "57P03" || s == "57014") {
    return ErrorClass::kRetryCall;
  }
  std::string_view cls = s.substr(0, 2);
  if (cls == "40") return ErrorClass::kRetryCommit;
  if (cls == "08" || cls == "53" || cls == "58") return ErrorClass::kRetryCall;
  return ErrorClass::kFatal;
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 4)) {
      text.replace(pos, secret.size(), "****");
    }
  }
  return text;
}

Status ResultError(const PGresult* result, const PGconn* conn, std::string_view context) {
  std::string message(kErrorPrefix);
  message.append(context);
  message.append(": ");
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (sqlstate != nullptr && *sqlstate != '\0') {
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
    const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT);
    message.append(primary ? primary : "(no message)");
    if (detail) message.append(" (").append(detail).append(")");
    if (hint) message.append(" Hint: ").append(hint);
    message.append(" [SQLSTATE ").append(sqlstate).append("]");
    return Classified(ClassifySqlState(sqlstate), std::move(message), sqlstate);
  }
  // No server error: libpq itself failed (connection lost, out of memory, protocol).
  std::string_view text = TrimRight(conn ? PQerrorMessage(conn) : "");
  if (result != nullptr && text.empty()) text = TrimRight(PQresultErrorMessage(result));
  message.append(text.empty() ? "unknown libpq failure" : text);
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    return Classified(ErrorClass::kRetryCall, std::move(message), "connection-lost");
  }
  return Classified(ErrorClass::kFatal, std::move(message), "");
}

std::string SqlStateFromVerboseMessage(std::string_view message) {
  // Verbose server errors read "<SEVERITY>:  <SQLSTATE>: <text>".
  for (std::string_view severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    for (size_t pos = message.find(severity); pos != std::string_view::npos;
         pos = message.find(severity, pos + 1)) {
      std::string_view rest = message.substr(pos + severity.size());
      if (rest.size() >= 7 && rest[5] == ':' && rest[6] == ' ') {
        bool ok = true;
        for (int k = 0; k < 5; ++k) ok = ok && IsSqlStateChar(rest[k]);
        if (ok) return std::string(rest.substr(0, 5));
      }
    }
  }
  return "";
}

Status ConnectError(std::string_view libpq_message, std::string_view context,
                    const std::vector<std::string>& secrets) {
  std::string sqlstate = SqlStateFromVerboseMessage(libpq_message);
  // Drop the verbose LOCATION lines (server source positions): noise for users.
  std::string text;
  size_t start = 0;
  while (start < libpq_message.size()) {
    size_t end = libpq_message.find('\n', start);
    if (end == std::string_view::npos) end = libpq_message.size();
    std::string_view line = libpq_message.substr(start, end - start);
    if (line.rfind("LOCATION:", 0) != 0 && !TrimRight(line).empty()) {
      if (!text.empty()) text.push_back(' ');
      text.append(TrimRight(line));
    }
    start = end + 1;
  }
  std::string message(kErrorPrefix);
  message.append(context).append(": ").append(text.empty() ? "connection failed" : text);
  message = Redact(std::move(message), secrets);
  ErrorClass cls = sqlstate.empty() ? ErrorClass::kRetryCall : ClassifySqlState(sqlstate);
  return Classified(cls, std::move(message), sqlstate.empty() ? "connect" : sqlstate);
}

Status FatalError(std::string message, std::string code) {
  return Classified(ErrorClass::kFatal, std::move(message), std::move(code));
}

}  // namespace amp::postgres
