#include "cli_logging.h"

#include <iostream>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "progress_display.h"

namespace amp::cli {
namespace {

// Writes "LEVEL: message" lines to stderr through ProgressDisplay::PrintLines.
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string line;
    switch (msg.level) {
      case spdlog::level::trace: line = "TRACE: "; break;
      case spdlog::level::debug: line = "DEBUG: "; break;
      case spdlog::level::info: line = "INFO: "; break;
      case spdlog::level::warn: line = "WARNING: "; break;
      case spdlog::level::err: line = "ERROR: "; break;
      case spdlog::level::critical: line = "CRITICAL: "; break;
      default: break;
    }
    line.append(msg.payload.data(), msg.payload.size());
    line.push_back('\n');
    ProgressDisplay::PrintLines(std::cerr, line);
  }
  void flush_() override { std::cerr.flush(); }
};

}  // namespace

Status SetupLogging(const std::string& level) {
  spdlog::level::level_enum lvl;
  if (level == "trace") lvl = spdlog::level::trace;
  else if (level == "debug") lvl = spdlog::level::debug;
  else if (level == "info") lvl = spdlog::level::info;
  else if (level == "warn" || level == "warning") lvl = spdlog::level::warn;
  else if (level == "error") lvl = spdlog::level::err;
  else if (level == "off") lvl = spdlog::level::off;
  else return Status::Invalid("--log-level: unknown level '", level, "' (trace, debug, info, warn, error, off)");
  auto logger = std::make_shared<spdlog::logger>("ampsync", std::make_shared<StderrSink>());
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return Status::OK();
}

}  // namespace amp::cli
