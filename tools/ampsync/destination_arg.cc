// OpenDestination (commands.h): `--to URI` of the commands that act on a destination
// directly (optimize, reset), parsed and opened the one way.
#include "amp/builtin_loaders.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"

namespace amp::cli {

Result<std::unique_ptr<Loader>> OpenDestination(const std::string& to) {
  auto destination = ParseConnectionUri(to);
  if (!destination.ok()) {
    const Status& st = destination.status();
    return UsageError(st.WithMessage("--to: ", st.message()));
  }
  return BuiltinLoaders().Create(destination->loader, destination->config);
}

}  // namespace amp::cli
