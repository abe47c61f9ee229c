// `ampsync load`: load a query's results into a destination, once, following the chain
// head (--stream), or in parallel (--workers N: a backfill of --from-block..--to-block, or
// hybrid mode up to the head and then live); and `ampsync loaders list|describe`: the
// built-in loaders and their options. The flags become a LoadJob (load_job.h), which
// `ampsync run job.toml` builds from a file and runs through the same RunLoadJob().
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

#include "amp/builtin_loaders.h"
#include "amp/client.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"
#include "load_job.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

struct LoadArgs {
  LoadJob job;
  std::string to;
  std::string mode = "append";
  std::vector<std::string> key;
  std::string block_column;
  bool no_block_column = false;
  int64_t batch_size = 0;
  bool no_resume = false;
  // Parallel flags (text where the value has a special form).
  int workers = 0;
  uint64_t from_block = 0;
  std::string to_block;
  uint64_t partition_size = 0;
  uint64_t reorg_buffer = 0;
  std::string source_table;
  bool stop_on_error = false;
  std::string progress = "auto";
};

// The flag objects, to tell "given" from "left at its default".
struct LoadFlags {
  CLI::Option* workers = nullptr;
  CLI::Option* batch_size = nullptr;
  CLI::Option* block_column = nullptr;
  CLI::Option* partition_size = nullptr;
  CLI::Option* reorg_buffer = nullptr;
  std::vector<CLI::Option*> parallel_only;  // meaningless without --workers
};

std::vector<std::string> SplitComma(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

// Block numbers and counts: digits only (CLI11 would wrap "-1" around to 2^64 - 1).
const CLI::Validator kBlockCount(
    [](std::string& value) -> std::string {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
        return "expected a non-negative integer, got '" + value + "'";
      }
      return "";
    },
    "");

// Flags -> LoadJob. Usage errors name the flag.
Result<LoadJob> ToLoadJob(LoadArgs& args, const LoadFlags& flags) {
  LoadJob job = args.job;
  job.destination.name = "destination";
  job.destination.uri = args.to;
  job.mode = args.mode;
  job.key_columns = SplitComma(args.key);
  if (args.no_block_column) {
    if (flags.block_column->count() > 0) {
      return UsageError(Status::Invalid("--block-column and --no-block-column exclude each other"));
    }
    job.block_column = "";
  } else if (flags.block_column->count() > 0) {
    job.block_column = args.block_column;
  }
  if (flags.batch_size->count() > 0) job.batch_size = args.batch_size;
  job.resume = !args.no_resume;
  auto progress = ParseProgressMode(args.progress);
  if (!progress.ok()) return UsageError(Status::Invalid("--progress: ", progress.status().message()));
  job.progress = *progress;

  if (flags.workers->count() == 0) {
    for (CLI::Option* opt : flags.parallel_only) {
      if (opt->count() > 0) {
        return UsageError(Status::Invalid(opt->get_name(), " only applies to parallel loads: add --workers N"));
      }
    }
    return job;
  }
  ParallelJob parallel;
  parallel.workers = args.workers;
  parallel.source_table = args.source_table;
  parallel.from_block = args.from_block;
  if (!args.to_block.empty() && args.to_block != "latest") {
    const std::string& t = args.to_block;
    if (t.find_first_not_of("0123456789_") != std::string::npos || t.front() == '_') {
      return UsageError(Status::Invalid("--to-block: expected a block number (the last block to load) or "
                                        "'latest', got '", t, "'"));
    }
    std::string digits;
    for (char c : t) {
      if (c != '_') digits.push_back(c);
    }
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(digits.c_str(), &end, 10);
    if (errno == ERANGE || end == nullptr || *end != '\0') {
      return UsageError(Status::Invalid("--to-block: '", t, "' is out of range"));
    }
    parallel.to_block = v;
  }
  if (flags.partition_size->count() > 0) parallel.partition_size = args.partition_size;
  if (flags.reorg_buffer->count() > 0) parallel.reorg_buffer = args.reorg_buffer;
  parallel.stop_on_error = args.stop_on_error;
  job.parallel = parallel;
  return job;
}

int DescribeLoader(const std::string& name) {
  const LoaderRegistry& registry = BuiltinLoaders();
  const LoaderRegistry::Entry* entry = registry.Find(name);
  if (entry == nullptr) {
    std::string known;
    for (const auto& n : registry.names()) known += (known.empty() ? "" : ", ") + n;
    std::cerr << "ampsync: error: unknown loader '" << name << "' (built-in: " << known << ")\n";
    return kExitUsage;
  }
  std::cout << entry->name << ": " << entry->description << "\n";
  if (!entry->uri_schemes.empty()) {
    std::cout << "URI schemes:";
    for (const auto& s : entry->uri_schemes) std::cout << " " << s << "://";
    std::cout << "\n";
  }
  std::cout << "\n| option | type | default | required | description |\n|---|---|---|---|---|\n";
  for (const auto& o : entry->options) {
    std::cout << "| " << o.name << " | " << ToString(o.type) << " | " << o.default_value << " | "
              << (o.required ? "yes" : "no") << " | " << o.doc << " |\n";
  }
  std::cout << "\nValues of the form env:NAME are read from the environment variable NAME.\n";
  return kExitOk;
}

}  // namespace

CommandRunner RegisterLoadCommand(CLI::App& app) {
  auto args = std::make_shared<LoadArgs>();
  auto flags = std::make_shared<LoadFlags>();
  LoadJob& job = args->job;
  CLI::App* cmd = app.add_subcommand("load", "Load a query's results into a destination table");
  cmd->add_option("--server,-s", job.server, "Amp Flight URL")->capture_default_str();
  cmd->add_option("--query,-q", job.query, "The SQL query")->required();
  cmd->add_option("--to", args->to, "Destination URI, e.g. postgresql://user@127.0.0.1:5432/db")->required();
  cmd->add_option("--table,-t", job.table, "Destination table")->required();
  cmd->add_flag("--stream", job.stream,
                "Follow the chain head (streaming query) until Ctrl+C; reruns resume from the "
                "destination's checkpoint");
  cmd->add_option("--mode", args->mode, "append | overwrite | upsert")->capture_default_str();
  cmd->add_option("--key", args->key, "Upsert key column(s), comma-separated");
  flags->block_column = cmd->add_option(
      "--block-column", args->block_column,
      "UInt64 column with each row's block (default: _block_num, else block_num; with "
      "--workers: the column partitions are cut on, default block_num)");
  cmd->add_flag("--no-block-column", args->no_block_column,
                "Rows carry no block number: tag them with their microbatch's range");
  flags->batch_size = cmd->add_option(
      "--batch-size", args->batch_size,
      "Rows per commit (default 100000; with --workers 10000 per partition commit)");
  cmd->add_flag("--no-resume", args->no_resume, "Ignore the destination's checkpoint");
  cmd->add_flag("--reset", job.reset,
                "Start over: delete the table's rows and forget this load's progress (in one "
                "transaction where the destination allows), then load");
  cmd->add_option("--max-attempts", job.max_attempts,
                  "Consecutive failed attempts (with backoff) before giving up")->capture_default_str();
  cmd->add_option("--retention-blocks", job.retention_blocks,
                  "Streaming: completed microbatches ending within this many blocks of the newest "
                  "are kept for reorg undo (default 128); a reorg deeper than that fails a load "
                  "without a block column")
      ->check(kBlockCount);
  cmd->add_option("--wait-for-data", job.wait_for_data,
                  "Streaming: seconds to wait while the server has nothing synced for the query "
                  "(default: forever); then exit 4")
      ->check(kBlockCount);
  cmd->add_option("--token", job.token, "Bearer token (default: $AMP_AUTH_TOKEN, then the amp login cache)");
  cmd->add_flag("--quiet", job.quiet, "Print only the summary and errors");

  // Parallel backfill / hybrid mode (docs/parallel-streaming.md).
  flags->workers = cmd->add_option("--workers", args->workers,
                                   "Load in parallel with N workers (1-256): a backfill with "
                                   "--to-block, else hybrid (catch up, then follow the head)");
  auto parallel = [&](CLI::Option* opt) {
    flags->parallel_only.push_back(opt);
    return opt;
  };
  parallel(cmd->add_option("--from-block", args->from_block, "First block to load (default 0)")
               ->check(kBlockCount));
  parallel(cmd->add_option("--to-block", args->to_block,
                           "Last block to load, inclusive, or 'latest' (default): catch up to the "
                           "head in parallel, then stream live"));
  flags->partition_size = parallel(cmd->add_option("--partition-size", args->partition_size,
                           "Blocks per partition (default: the range / --workers)")
               ->check(kBlockCount));
  flags->reorg_buffer = parallel(cmd->add_option("--reorg-buffer", args->reorg_buffer,
                           "Hybrid: the live stream takes over this many blocks before the head "
                           "(default 200)")
               ->check(kBlockCount));
  parallel(cmd->add_option("--source-table", args->source_table,
                           "The Amp table the query reads, e.g. eth_firehose.blocks (default: the "
                           "query's single FROM table)"));
  parallel(cmd->add_flag("--stop-on-error", args->stop_on_error,
                         "Stop the whole load when a partition fails"));
  parallel(cmd->add_flag("--dry-run", job.dry_run,
                         "Print the plan with every rewritten query; write nothing"));
  parallel(cmd->add_option("--progress", args->progress,
                           "Live progress line on stderr: auto (on a terminal), always, never"));
  return [args, flags] {
    auto job = ToLoadJob(*args, *flags);
    if (!job.ok()) return ReportError(job.status());
    return RunLoadJob(*job, [](std::string_view field) { return FlagName(field); });
  };
}

CommandRunner RegisterLoadersCommand(CLI::App& app) {
  auto name = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("loaders", "List the built-in loaders or describe one's options");
  CLI::App* list = cmd->add_subcommand("list", "List the built-in loaders");
  CLI::App* describe = cmd->add_subcommand("describe", "Print a loader's options table");
  describe->add_option("name", *name, "Loader name")->required();
  cmd->require_subcommand(1);
  return [list, describe, name] {
    if (describe->parsed()) return DescribeLoader(*name);
    (void)list;
    const LoaderRegistry& registry = BuiltinLoaders();
    for (const auto& n : registry.names()) std::cout << n << "\t" << registry.Find(n)->description << "\n";
    return kExitOk;
  };
}

}  // namespace amp::cli
