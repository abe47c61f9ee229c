// ampsync: command-line front end over the amp library. Parsing only; the work is in the
// library. main() is the one place that turns a Status into an exit code.
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {

int ReportError(const Status& status) {
  int code = ExitCodeFor(status);
  if (code == kExitInterrupted) {
    std::cerr << "ampsync: interrupted\n";
  } else {
    std::cerr << "ampsync: error: " << status.message() << "\n";
  }
  return code;
}

}  // namespace amp::cli

int main(int argc, char** argv) {
  using namespace amp::cli;
  StopSignal::Install();  // before any thread starts, so all threads inherit the mask

  CLI::App app{"ampsync: load Amp blockchain SQL query results into your own database"};
  app.require_subcommand(1);
  std::map<CLI::App*, CommandRunner> runners;
  auto add = [&](CommandRunner runner) { runners[app.get_subcommands([](CLI::App*) { return true; }).back()] = std::move(runner); };
  add(RegisterQueryCommand(app));
  add(RegisterDevnetCommand(app));
  add(RegisterDemoCommand(app));
  add(RegisterLoadCommand(app));
  add(RegisterLoadersCommand(app));
  add(RegisterAuditCommand(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  for (auto& [sub, runner] : runners) {
    if (sub->parsed()) return runner();
  }
  return kExitUsage;
}
