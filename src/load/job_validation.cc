#include "load/job_validation.h"

#include <algorithm>

namespace amp::load {

Status ValidateJob(const Loader& loader, const LoadOptions& options, const std::string& source) {
  const auto& modes = loader.capabilities().modes;
  if (std::find(modes.begin(), modes.end(), options.mode) == modes.end()) {
    return WithErrorInfo(Status::Invalid("loader '", loader.name(), "' does not support mode ",
                                         ToString(options.mode)),
                         ErrorClass::kFatal, source, "UNSUPPORTED_MODE");
  }
  if (options.mode == LoadMode::kUpsert && options.key_columns.empty()) {
    return WithErrorInfo(Status::Invalid("mode upsert needs LoadOptions::key_columns"),
                         ErrorClass::kFatal, source, "INVALID_OPTIONS");
  }
  return Status::OK();
}

}  // namespace amp::load
