#include "amp/status.h"

namespace amp {

const char* ToString(ErrorClass cls) {
  switch (cls) {
    case ErrorClass::kRetryCall: return "retry-call";
    case ErrorClass::kRetryCommit: return "retry-commit";
    case ErrorClass::kReconnect: return "reconnect";
    case ErrorClass::kFatal: return "fatal";
  }
  return "unknown";
}

std::string ErrorInfo::ToString() const {
  return "[" + source_ + (code_.empty() ? "" : " " + code_) + ", " + amp::ToString(cls_) + "]";
}

const ErrorInfo* ErrorInfo::FromStatus(const Status& status) {
  const auto& detail = status.detail();
  if (detail && std::string_view(detail->type_id()) == kTypeId) {
    return static_cast<const ErrorInfo*>(detail.get());
  }
  return nullptr;
}

Status WithErrorInfo(const Status& status, ErrorClass cls, std::string source, std::string code) {
  if (status.ok()) return status;
  return status.WithDetail(std::make_shared<ErrorInfo>(cls, std::move(source), std::move(code)));
}

ErrorClass ClassOf(const Status& status) {
  if (const ErrorInfo* info = ErrorInfo::FromStatus(status)) return info->error_class();
  switch (status.code()) {
    case arrow::StatusCode::IOError:
    case arrow::StatusCode::OutOfMemory:
      return ErrorClass::kRetryCall;
    default:
      return ErrorClass::kFatal;
  }
}

}  // namespace amp
