// `ampsync load`: load a query's results into a destination, once or following the chain
// head (--stream), and `ampsync loaders list|describe`: the built-in loaders and their
// options.
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

#include "amp/client.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

struct LoadArgs {
  std::string server = "grpc://127.0.0.1:1602";
  std::string query;
  std::string to;
  std::string table;
  bool stream = false;
  std::string mode = "append";
  std::vector<std::string> key;
  std::string block_column;
  bool no_block_column = false;
  int64_t batch_size = 100'000;
  bool no_resume = false;
  int max_attempts = 10;
  std::string token;
  bool quiet = false;
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

Status RunLoad(const LoadArgs& args) {
  auto mode = LoadModeFromString(args.mode);
  if (!mode.ok()) return UsageError(mode.status());
  ClientOptions client_options;
  client_options.auth_token = args.token;
  Client client(args.server, client_options);
  if (!client.status().ok()) return UsageError(client.status());
  if (Status st = client.configure_connection("destination", args.to); !st.ok()) {
    return UsageError(st.WithMessage("--to: ", st.message()));
  }

  LoadOptions options;
  if (args.stream) options.stream = true;
  options.mode = *mode;
  options.key_columns = SplitComma(args.key);
  if (args.no_block_column) {
    options.block_column = "";
  } else if (!args.block_column.empty()) {
    options.block_column = args.block_column;
  }
  options.batch_size = args.batch_size;
  options.resume = !args.no_resume;
  options.retry.max_attempts = args.max_attempts;

  AMP_ASSIGN_OR_RETURN(LoadResults results, client.sql(args.query).load("destination", args.table, options));
  int stop_id = StopSignal::OnStop([&results] { results.Stop(); });
  int64_t total_rows = 0, units = 0, reorgs = 0;
  const auto started = std::chrono::steady_clock::now();
  for (const LoadResult& r : results) {
    if (r.success && !r.is_reorg) {
      total_rows += r.rows_loaded;
      ++units;
    }
    if (r.is_reorg) ++reorgs;
    if (!args.quiet || !r.success) {
      std::ostream& out = r.success ? std::cout : std::cerr;
      out << r.ToString();
      if (auto it = r.metadata.find("block_range"); it != r.metadata.end() && r.success) {
        out << " [" << it->second << "]";
      }
      out << std::endl;
    }
  }
  StopSignal::Remove(stop_id);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "ampsync load: " << total_rows << " rows in " << units << " commits, " << reorgs
            << " reorgs, " << seconds << " s" << std::endl;
  AMP_RETURN_NOT_OK(results.status());
  if (StopSignal::requested()) return Status::Cancelled("interrupted");
  return Status::OK();
}

const char* TypeName(OptionSpec::Type type) {
  switch (type) {
    case OptionSpec::Type::kString: return "string";
    case OptionSpec::Type::kInt: return "int";
    case OptionSpec::Type::kBool: return "bool";
    case OptionSpec::Type::kSecret: return "secret";
  }
  return "?";
}

int DescribeLoader(const std::string& name) {
  const LoaderRegistry& registry = LoaderRegistry::Builtin();
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
    std::cout << "| " << o.name << " | " << TypeName(o.type) << " | " << o.default_value << " | "
              << (o.required ? "yes" : "no") << " | " << o.doc << " |\n";
  }
  std::cout << "\nValues of the form env:NAME are read from the environment variable NAME.\n";
  return kExitOk;
}

}  // namespace

CommandRunner RegisterLoadCommand(CLI::App& app) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand("load", "Load a query's results into a destination table");
  cmd->add_option("--server,-s", args->server, "Amp Flight URL")->capture_default_str();
  cmd->add_option("--query,-q", args->query, "The SQL query")->required();
  cmd->add_option("--to", args->to, "Destination URI, e.g. postgresql://user@127.0.0.1:5432/db")->required();
  cmd->add_option("--table,-t", args->table, "Destination table")->required();
  cmd->add_flag("--stream", args->stream,
                "Follow the chain head (streaming query) until Ctrl+C; reruns resume from the "
                "destination's checkpoint");
  cmd->add_option("--mode", args->mode, "append | overwrite | upsert")->capture_default_str();
  cmd->add_option("--key", args->key, "Upsert key column(s), comma-separated");
  cmd->add_option("--block-column", args->block_column,
                  "UInt64 column with each row's block (default: _block_num, else block_num)");
  cmd->add_flag("--no-block-column", args->no_block_column,
                "Rows carry no block number: tag them with their microbatch's range");
  cmd->add_option("--batch-size", args->batch_size, "Rows per commit while catching up")->capture_default_str();
  cmd->add_flag("--no-resume", args->no_resume, "Ignore the destination's checkpoint");
  cmd->add_option("--max-attempts", args->max_attempts,
                  "Consecutive failed attempts (with backoff) before giving up")->capture_default_str();
  cmd->add_option("--token", args->token, "Bearer token (default: $AMP_AUTH_TOKEN, then the amp login cache)");
  cmd->add_flag("--quiet", args->quiet, "Print only the summary and errors");
  return [args] {
    Status st = RunLoad(*args);
    return st.ok() ? kExitOk : ReportError(st);
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
    const LoaderRegistry& registry = LoaderRegistry::Builtin();
    for (const auto& n : registry.names()) std::cout << n << "\t" << registry.Find(n)->description << "\n";
    return kExitOk;
  };
}

}  // namespace amp::cli
