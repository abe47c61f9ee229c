// The error shape of the parallel wing: ErrorInfo source "parallel" and a code naming the
// refusal (INVALID_OPTIONS, BEYOND_HEAD, ...), which the CLI maps to exit codes.
#pragma once

#include "amp/status.h"

namespace amp::parallel {

inline Status ParallelError(Status status, ErrorClass cls, const char* code) {
  return WithErrorInfo(std::move(status), cls, "parallel", code);
}

/// What a worker or step returns when the run is stopping (Ctrl+C, stop_on_error, or the
/// consumer of the results is gone).
inline Status Stopped() { return Status::Cancelled("[parallel] stopped"); }

}  // namespace amp::parallel
