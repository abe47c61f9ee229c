// `ampsync devnet`: run the Amp-compatible devnet server until Ctrl+C / SIGTERM.
#include <iostream>
#include <memory>

#include "commands.h"
#include "devnet_flags.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {

CommandRunner RegisterDevnetCommand(CLI::App& app) {
  auto flags = std::make_shared<DevnetFlags>();
  CLI::App* cmd = app.add_subcommand(
      "devnet", "Serve an Amp-compatible Flight server over a deterministic synthetic chain");
  AddDevnetFlags(*cmd, *flags);
  return [flags]() -> int {
    auto options = ToDevnetOptions(*flags);
    if (!options.ok()) {
      std::cerr << "ampsync: error: " << options.status().message() << "\n";
      return kExitUsage;
    }
    auto server = DevnetServer::Start(*options);
    if (!server.ok()) return ReportError(server.status());
    DevnetServer* devnet = server->get();
    // One line on stdout that scripts can parse for the chosen port.
    std::cout << "ampsync devnet: listening on " << devnet->url() << " (network "
              << options->network << ", head " << devnet->Head() << ")" << std::endl;
    StopSignal::OnStop([devnet] { (void)devnet->Shutdown(); });
    Status st = devnet->Wait();
    std::cerr << "ampsync devnet: stopped at head " << devnet->Head() << "\n";
    return st.ok() ? kExitOk : ReportError(st);
  };
}

}  // namespace amp::cli
