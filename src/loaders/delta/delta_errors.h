// How the "delta" loader classifies its failures (amp/status.h ErrorInfo, source "delta"):
// configuration and schema problems are kFatal before anything is written; failures of the
// local file system are kRetryCommit, since retrying the unit is the best we can do (a full
// disk may be freed).
#pragma once

#include "amp/status.h"

namespace amp::delta {

inline Status DeltaError(const Status& status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "delta", code);
}
inline Status Fatal(const Status& status, const char* code = "FATAL") {
  return DeltaError(status, ErrorClass::kFatal, code);
}
inline Status IoErr(const Status& status) { return DeltaError(status, ErrorClass::kRetryCommit, "IO"); }

}  // namespace amp::delta
