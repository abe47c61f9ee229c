// `ampsync optimize --to URI --table NAME`: compacts a destination table's storage
// (Loader::Optimize; Delta Lake merges small files). An explicit operation: loads never run
// it per batch (a Delta destination can run it once after a load with optimize_after_load).
#include <iostream>
#include <memory>

#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"

namespace amp::cli {
namespace {

struct OptimizeArgs {
  std::string to;
  std::string table;
};

int RunOptimize(const OptimizeArgs& args) {
  auto loader = OpenDestination(args.to);
  if (!loader.ok()) return ReportError(loader.status());
  auto exists = (*loader)->TableExists(args.table);
  if (exists.ok() && !*exists) {
    return ReportError(WithErrorInfo(
        Status::KeyError("table '", args.table, "' does not exist in ", args.to),
        ErrorClass::kFatal, "optimize", "NO_TABLE"));
  }
  Status st = (*loader)->Optimize(args.table);
  if (!st.ok()) return ReportError(st);
  std::cout << "optimized " << args.table << " in " << args.to << "\n";
  return kExitOk;
}

}  // namespace

CommandRunner RegisterOptimizeCommand(CLI::App& app) {
  auto args = std::make_shared<OptimizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "optimize", "Compact a destination table's storage (Delta Lake: merge small files)");
  cmd->add_option("--to", args->to, "Destination URI, e.g. delta:///data/lake")->required();
  cmd->add_option("--table", args->table, "Destination table")->required();
  return [args] { return RunOptimize(*args); };
}

}  // namespace amp::cli
