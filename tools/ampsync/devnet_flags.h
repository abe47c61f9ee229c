// Command-line flags that describe a devnet, shared by `ampsync devnet` and `ampsync demo`.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "amp/devnet.h"

namespace amp::cli {

/// Flag values before conversion to DevnetOptions (durations and ranges in text form).
struct DevnetFlags {
  DevnetOptions options;
  std::string reorg_depth = "1-3";
  uint64_t halt_at = 0;
  uint64_t keep_alive_ms = 30'000;
  uint64_t message_delay_ms = 0;
  uint64_t query_latency_ms = 0;
  /// "A", "A-B", optionally ":internal" or ":unavailable" (default internal). Empty: unset.
  std::string fail_queries_touching;
  /// Comma-separated table names, e.g. "logs". Empty: every table synced.
  std::string unsynced_tables;
  std::string chunking = "large";
  uint64_t reorg_delay_ms = 0;
};

/// Parses a --fail-queries-touching value; Invalid naming the flag when unusable.
Result<DevnetBlockFault> ParseBlockFault(std::string_view text);

/// Adds the chain, server and fault flags to `cmd`, with `flags` holding the defaults.
void AddDevnetFlags(CLI::App& cmd, DevnetFlags& flags);

/// Converts the parsed flags; Invalid naming the flag when a value is unusable.
Result<DevnetOptions> ToDevnetOptions(const DevnetFlags& flags);

}  // namespace amp::cli
