// `ampsync reset --to URI --table NAME [--query SQL] [--truncate]`: forgets the progress
// recorded in a destination (Loader::ResetProgress), the fix a load names when it refuses
// a checkpoint whose table was dropped, recreated or emptied since. With --query, only that
// load's progress (its stream cursor, parallel ranges and hybrid plan: the job id is the
// one `ampsync load` derives from the same query text and table); without, every load's
// progress into the table. --truncate also deletes the table's rows, in the same
// transaction where the destination allows it, so that the next load starts from an empty
// table and cannot duplicate what is left.
#include <iostream>
#include <memory>

#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"

namespace amp::cli {
namespace {

struct ResetArgs {
  std::string to;
  std::string table;
  std::string query;
  bool truncate = false;
};

int RunReset(const ResetArgs& args) {
  if (args.table.empty()) return ReportError(UsageError(Status::Invalid("--table: the table name is empty")));
  auto loader = OpenDestination(args.to);
  if (!loader.ok()) return ReportError(loader.status());
  const std::string job_id = args.query.empty() ? std::string() : MakeStreamId(args.query, args.table);
  auto forgotten = (*loader)->ResetProgress(args.table, job_id, args.truncate);
  if (!forgotten.ok()) return ReportError(forgotten.status());
  std::cout << "reset " << args.table << " in " << args.to << ": forgot " << *forgotten
            << " checkpoint" << (*forgotten == 1 ? "" : "s")
            << (job_id.empty() ? "" : " of job " + job_id)
            << (args.truncate ? ", deleted every row" : "") << "\n";
  return kExitOk;
}

}  // namespace

CommandRunner RegisterResetCommand(CLI::App& app) {
  auto args = std::make_shared<ResetArgs>();
  CLI::App* cmd = app.add_subcommand(
      "reset", "Forget a destination table's load progress (checkpoints), optionally with its rows");
  cmd->add_option("--to", args->to, "Destination URI (as given to ampsync load)")->required();
  cmd->add_option("--table", args->table, "Destination table")->required();
  cmd->add_option("--query", args->query,
                  "Only the progress of the load of this query (the exact --query text); "
                  "default: every load into the table");
  cmd->add_flag("--truncate", args->truncate,
                "Also delete every row of the table (and every load's progress into it), in "
                "the same transaction where the destination allows it");
  return [args] { return RunReset(*args); };
}

}  // namespace amp::cli
