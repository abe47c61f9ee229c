// ReportError (commands.h): the one place that turns a Status into an error line and an exit
// code; in the library (not main.cc) so the shared load runner and its tests can use it.
#include <iostream>

#include "commands.h"
#include "exit_codes.h"

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
