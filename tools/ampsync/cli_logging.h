// Logging of the ampsync command line: the library (e.g. the parallel executor's "Worker 0
// processing blocks 0 to 250000" and "Partition 0 completed: ..." lines) logs through
// spdlog's default logger; the CLI points that logger at stderr with a plain pattern
// ("INFO: <message>"), routed through the active progress display so a live status line
// is never garbled. Levels: --log-level (trace|debug|info|warn|error|off, default info) and
// -v / -vv (debug / trace).
#pragma once

#include <string>

#include "amp/status.h"

namespace amp::cli {

/// "trace" | "debug" | "info" | "warn" | "error" | "off".
Status SetupLogging(const std::string& level);

}  // namespace amp::cli
