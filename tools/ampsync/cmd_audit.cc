// `ampsync audit`: compare a query's rows with what a destination table holds, block by
// block (amp/audit.h), print the report, and exit 0 only when they match (kExitMismatch
// when they do not).
#include <iostream>
#include <memory>

#include "amp/audit.h"
#include "amp/client.h"
#include "amp/load.h"
#include "commands.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

struct AuditArgs {
  std::string server = "grpc://127.0.0.1:1602";
  std::string query;
  std::string to;
  std::string table;
  std::optional<uint64_t> from_block;
  std::optional<uint64_t> to_block;
  std::string block_column;
  std::string stream_id;
  uint64_t chunk_blocks = 10'000;
  size_t max_listed = 20;
  std::string token;
  bool progress = false;
};

int RunAudit(const AuditArgs& args) {
  ClientOptions client_options;
  client_options.auth_token = args.token;
  Client client(args.server, client_options);
  if (!client.status().ok()) return ReportError(UsageError(client.status()));
  auto destination = ParseConnectionUri(args.to);
  if (!destination.ok()) {
    const Status& st = destination.status();
    return ReportError(UsageError(st.WithMessage("--to: ", st.message())));
  }
  if (args.from_block && args.to_block && *args.from_block > *args.to_block) {
    return ReportError(UsageError(Status::Invalid("--from-block ", *args.from_block,
                                                  " is after --to-block ", *args.to_block)));
  }
  if (args.chunk_blocks == 0) {
    return ReportError(UsageError(Status::Invalid("--chunk-blocks must be positive")));
  }

  AuditOptions options;
  options.from_block = args.from_block;
  options.to_block = args.to_block;
  options.block_column = args.block_column;
  options.stream_id = args.stream_id;
  options.chunk_blocks = args.chunk_blocks;
  std::stop_source stop;
  options.stop_token = stop.get_token();
  // Also into the source's calls: a stop reaches a GetFlightInfo or DoGet in progress.
  options.query_options.stop = stop.get_token();
  if (args.progress) {
    options.on_chunk = [](const BlockInterval& done, const AuditReport& so_far) {
      std::cerr << "ampsync audit: blocks " << done.start << "..=" << done.end << " of "
                << so_far.range.start << "..=" << so_far.range.end << ": "
                << so_far.missing.size() << " missing, " << so_far.duplicate.size()
                << " duplicate, " << so_far.stale.size() << " stale" << std::endl;
    };
  }
  int stop_id = StopSignal::OnStop([&stop] { stop.request_stop(); });
  auto report = Audit(client, args.query, *destination, args.table, options);
  StopSignal::Remove(stop_id);
  if (!report.ok()) return ReportError(report.status());
  std::cout << report->ToString(args.max_listed) << std::flush;
  return report->ok() ? kExitOk : kExitMismatch;
}

}  // namespace

CommandRunner RegisterAuditCommand(CLI::App& app) {
  auto args = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand(
      "audit", "Compare a query's rows with a destination table block by block");
  cmd->add_option("--server,-s", args->server, "Amp Flight URL")->capture_default_str();
  cmd->add_option("--query,-q", args->query, "The SQL query that was loaded")->required();
  cmd->add_option("--to", args->to, "Destination URI, e.g. postgresql://user@127.0.0.1:5432/db")
      ->required();
  cmd->add_option("--table,-t", args->table, "Destination table")->required();
  cmd->add_option("--from-block", args->from_block, "First block to compare (default 0)");
  cmd->add_option("--to-block", args->to_block,
                  "Last block to compare (default: the destination's checkpoint, else the "
                  "source's head)");
  cmd->add_option("--block-column", args->block_column,
                  "Integer column with each row's block (default: _block_num, else block_num)");
  cmd->add_option("--stream-id", args->stream_id,
                  "Checkpoint key of the load, if it was not the default (query + table)");
  cmd->add_option("--chunk-blocks", args->chunk_blocks, "Largest number of blocks read at once")
      ->capture_default_str();
  cmd->add_option("--max-listed", args->max_listed, "Block runs listed per category")
      ->capture_default_str();
  cmd->add_option("--token", args->token,
                  "Bearer token (default: $AMP_AUTH_TOKEN, then the amp login cache)");
  cmd->add_flag("--progress", args->progress, "Print progress on stderr after each chunk");
  return [args] { return RunAudit(*args); };
}

}  // namespace amp::cli
