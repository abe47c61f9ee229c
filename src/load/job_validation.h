// The checks a load makes of its options against its loader before it touches the
// destination, shared by the streaming driver and the parallel load so that both refuse
// the same jobs with the same words.
#pragma once

#include <string>

#include "amp/load_options.h"
#include "amp/loader.h"
#include "amp/status.h"

namespace amp::load {

/// OK, or a kFatal Invalid whose ErrorInfo source is `source` ("load", "parallel"):
///   UNSUPPORTED_MODE  the loader does not list options.mode among its modes;
///   INVALID_OPTIONS   mode upsert without key_columns.
Status ValidateJob(const Loader& loader, const LoadOptions& options, const std::string& source);

}  // namespace amp::load
