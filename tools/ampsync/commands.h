// Subcommands of the ampsync CLI. Each Register* adds its CLI11 subcommand and returns the
// function main() runs when it was chosen; that function returns the process exit code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::cli {

using CommandRunner = std::function<int()>;

CommandRunner RegisterQueryCommand(CLI::App& app);
CommandRunner RegisterDevnetCommand(CLI::App& app);
CommandRunner RegisterDemoCommand(CLI::App& app);
CommandRunner RegisterLoadCommand(CLI::App& app);
CommandRunner RegisterLoadersCommand(CLI::App& app);
CommandRunner RegisterAuditCommand(CLI::App& app);
CommandRunner RegisterRunCommand(CLI::App& app);
CommandRunner RegisterOptimizeCommand(CLI::App& app);
CommandRunner RegisterResetCommand(CLI::App& app);

/// The loader behind `--to URI`: a bad URI is a usage error (exit 2), a loader that refuses
/// its options keeps its own error.
Result<std::unique_ptr<Loader>> OpenDestination(const std::string& to);

/// Prints "ampsync: error: <message>" to stderr and returns the exit code for `status`.
int ReportError(const Status& status);

}  // namespace amp::cli
