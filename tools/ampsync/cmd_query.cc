// `ampsync query`: run one SQL query against an Amp server and print the result.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <mutex>

#include <arrow/record_batch.h>
#include <nlohmann/json.hpp>

#include "amp/client.h"
#include "commands.h"
#include "exit_codes.h"
#include "output_format.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

struct QueryArgs {
  std::string server = "grpc://127.0.0.1:1602";
  std::string sql;
  std::string format;
  bool stream = false;
  bool metadata_only = false;
  std::string token;
  std::string tls_ca;
  std::string resume;
  uint64_t max_messages = 0;
};

nlohmann::json RangesJson(const std::vector<BlockRange>& ranges) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : ranges) {
    nlohmann::json j = {{"network", r.network},
                        {"numbers", {{"start", r.start}, {"end", r.end}}},
                        {"hash", r.hash.ToHex()},
                        {"prev_hash", r.prev_hash.ToHex()}};
    if (r.timestamp) j["timestamp"] = *r.timestamp;
    out.push_back(std::move(j));
  }
  return out;
}

std::string RangesText(const std::vector<BlockRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) out += (out.empty() ? "" : " ") + r.ToString();
  return out.empty() ? "(no ranges)" : out;
}

Status RunQuery(const QueryArgs& args) {
  ClientOptions options;
  options.auth_token = args.token;
  options.tls_root_certs_file = args.tls_ca;
  // Flag values are checked before anything touches the network: they are usage errors.
  OutputFormat format = isatty(STDOUT_FILENO) ? OutputFormat::kTable : OutputFormat::kCsv;
  if (!args.format.empty()) {
    auto parsed = ParseOutputFormat(args.format);
    if (!parsed.ok()) return UsageError(parsed.status());
    format = *parsed;
  }
  Client client(args.server, options);
  if (!client.status().ok()) return UsageError(client.status());

  QueryOptions query_options;
  if (args.stream) query_options.stream = true;
  if (!args.resume.empty()) {
    auto cursor = Cursor::FromJson(args.resume);
    if (!cursor.ok()) return UsageError(cursor.status().WithMessage("--resume: ", cursor.status().message()));
    query_options.resume = std::move(*cursor);
  }

  AMP_ASSIGN_OR_RETURN(std::unique_ptr<BatchStream> stream, client.sql(args.sql).stream(query_options));
  BatchStream* raw = stream.get();
  int stop_id = StopSignal::OnStop([raw] { raw->Cancel(); });
  struct Unregister {
    int id;
    ~Unregister() { StopSignal::Remove(id); }
  } unregister{stop_id};

  AMP_ASSIGN_OR_RETURN(auto schema, stream->schema());
  BatchPrinter printer(std::cout, format, schema, stream->is_streaming() ? 20 : 10'000);
  // Block ranges are annotations for people: on stdout beside a table, on stderr when stdout
  // carries CSV/JSON for a program.
  std::ostream& notes = format == OutputFormat::kTable ? std::cout : std::cerr;
  uint64_t messages = 0;
  while (true) {
    auto next = stream->Next();
    if (!next.ok()) {
      printer.Flush();
      if (StopSignal::requested()) return Status::Cancelled("interrupted");
      return next.status();
    }
    if (!next->has_value()) break;
    const StreamBatch& item = **next;
    ++messages;
    if (args.metadata_only) {
      nlohmann::json line = {{"rows", item.batch->num_rows()},
                             {"ranges", RangesJson(item.metadata.ranges)},
                             {"ranges_complete", item.metadata.ranges_complete}};
      if (item.invalidates) {
        line["invalidates"] = {{"network", item.invalidates->network},
                               {"start", item.invalidates->start},
                               {"end", item.invalidates->end}};
      }
      std::cout << line.dump() << "\n" << std::flush;
    } else if (stream->is_streaming()) {
      if (item.invalidates) {
        printer.Flush();
        notes << "-- reorg: invalidate " << item.invalidates->ToString() << "\n";
      }
      if (item.batch->num_rows() > 0) {
        notes << "-- " << RangesText(item.metadata.ranges) << ": " << item.batch->num_rows() << " rows\n";
        AMP_RETURN_NOT_OK(printer.Print(*item.batch));
        printer.Flush();
      } else if (item.is_completion()) {
        notes << "-- " << RangesText(item.metadata.ranges) << " complete\n" << std::flush;
      }
    } else {
      AMP_RETURN_NOT_OK(printer.Print(*item.batch));
    }
    if (args.max_messages && messages >= args.max_messages) {
      stream->Cancel();
      break;
    }
  }
  if (!args.metadata_only) printer.Flush();
  if (StopSignal::requested()) return Status::Cancelled("interrupted");
  return Status::OK();
}

}  // namespace

CommandRunner RegisterQueryCommand(CLI::App& app) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand("query", "Run a SQL query against an Amp server and print the rows");
  cmd->add_option("sql", args->sql, "The SQL query")->required();
  cmd->add_option("--server,-s", args->server, "Amp Flight URL: grpc://host:port or grpc+tls://host:port")
      ->capture_default_str();
  cmd->add_option("--format,-f", args->format,
                  "Output: table (default on a terminal), csv (default otherwise) or jsonl");
  cmd->add_flag("--stream", args->stream,
                "Run as a stream (amp-stream header): print batches with their block ranges as they "
                "arrive until Ctrl+C");
  cmd->add_flag("--metadata-only", args->metadata_only,
                "Print one JSON line per Flight message (rows, ranges, ranges_complete) instead of rows");
  cmd->add_option("--token", args->token,
                  "Bearer token (default: $AMP_AUTH_TOKEN, then ~/.amp/cache/amp_cli_auth)");
  cmd->add_option("--tls-ca", args->tls_ca, "PEM file of trusted CAs for grpc+tls:// (default: system roots)");
  cmd->add_option("--resume", args->resume, "Resume cursor JSON sent as amp-resume, e.g. '{\"mainnet\":{\"number\":9,\"hash\":\"0x…\"}}'");
  cmd->add_option("--max-messages", args->max_messages, "Stop after this many Flight messages (0: no limit)");
  return [args] {
    Status st = RunQuery(*args);
    return st.ok() ? kExitOk : ReportError(st);
  };
}

}  // namespace amp::cli
