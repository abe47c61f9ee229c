// ampsync: command-line front end over the amp library. Parsing only; the work is in the
// library. Global options (--log-level, -v) are set up here; exit codes come from ReportError.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "cli_logging.h"
#include "commands.h"
#include "exit_codes.h"
#include "stop_signal.h"

int main(int argc, char** argv) {
  using namespace amp::cli;
  StopSignal::Install();  // before any thread starts, so all threads inherit the mask

  CLI::App app{"ampsync: load Amp blockchain SQL query results into your own database"};
  app.require_subcommand(1);
  // Global options, accepted before or after the subcommand.
  app.fallthrough();
  std::string log_level = "info";
  int verbose = 0;
  CLI::Option* log_level_opt =
      app.add_option("--log-level", log_level,
                     "Library log lines on stderr: trace, debug, info, warn, error, off")
          ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "More log output (-v debug, -vv trace)");
  std::map<CLI::App*, CommandRunner> runners;
  auto add = [&](CommandRunner runner) { runners[app.get_subcommands([](CLI::App*) { return true; }).back()] = std::move(runner); };
  add(RegisterQueryCommand(app));
  add(RegisterDevnetCommand(app));
  add(RegisterDemoCommand(app));
  add(RegisterLoadCommand(app));
  add(RegisterLoadersCommand(app));
  add(RegisterAuditCommand(app));
  add(RegisterRunCommand(app));
  add(RegisterOptimizeCommand(app));
  add(RegisterResetCommand(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (log_level_opt->count() == 0 && verbose > 0) log_level = verbose > 1 ? "trace" : "debug";
  if (amp::Status st = SetupLogging(log_level); !st.ok()) {
    std::cerr << "ampsync: error: " << st.message() << "\n";
    return kExitUsage;
  }
  for (auto& [sub, runner] : runners) {
    if (!sub->parsed()) continue;
    const int rc = runner();
    if (rc == kExitInterrupted) {
      // Stopped cleanly (commits finished, outputs flushed below). A GetFlightInfo the stop
      // abandoned may still be inside gRPC on a thread of its own: exit without running
      // static destructors under it.
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      std::_Exit(rc);
    }
    return rc;
  }
  return kExitUsage;
}
