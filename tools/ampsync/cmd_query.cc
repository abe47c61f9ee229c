// `ampsync query`: run one SQL query against an Amp server and print the result.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

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
  std::optional<uint64_t> wait_for_data;  ///< Seconds; unset: forever.
};

// Sleeps `delay` unless `stop` is requested first; false when stopped.
bool SleepUnlessStopped(std::chrono::milliseconds delay, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, delay, [] { return false; });
  return !stop.stop_requested();
}

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

  // One stop source for every call: a SIGINT/SIGTERM reaches a GetFlightInfo or a DoGet
  // that has sent nothing yet (ampd sends the schema with its first microbatch), the reads
  // of the stream, and the waits for data below.
  std::stop_source stop;
  int stop_id = StopSignal::OnStop([&stop] { stop.request_stop(); });
  struct Unregister {
    int id;
    ~Unregister() { StopSignal::Remove(id); }
  } unregister{stop_id};
  query_options.stop = stop.get_token();
  auto interrupted = [&] { return stop.stop_requested() || StopSignal::requested(); };

  std::unique_ptr<BatchPrinter> printer;
  std::ostream& notes = format == OutputFormat::kTable ? std::cout : std::cerr;
  uint64_t messages = 0;
  int polls = 0;
  const auto started = std::chrono::steady_clock::now();
  // A resumed stream over a server behind the cursor (or at an idle head) sends nothing,
  // not even the schema: say so after a while instead of waiting silently.
  std::mutex notice_mu;
  bool message_seen = false;
  std::optional<std::jthread> notice;
  if (query_options.resume && !query_options.resume->empty() && args.stream) {
    const auto& [network, c] = *query_options.resume->networks.begin();
    const std::string text = "-- waiting for the server to reach block " + std::to_string(c.number + 1) +
                             " of " + network + ": nothing arrived since resuming after block " +
                             std::to_string(c.number) + " (a server behind the cursor, or a chain "
                             "without new blocks, sends nothing until then)\n";
    notice.emplace([&notes, &notice_mu, &message_seen, text](std::stop_token done) {
      std::mutex mu;
      std::condition_variable_any cv;
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, done, std::chrono::seconds(2), [] { return false; }) || done.stop_requested()) {
        return;
      }
      std::lock_guard<std::mutex> seen(notice_mu);
      if (!message_seen) notes << text << std::flush;
    });
  }
  auto message_arrived = [&] {
    if (!notice) return;
    {
      std::lock_guard<std::mutex> seen(notice_mu);
      message_seen = true;
    }
    notice.reset();  // stops and joins the timer
  };
  while (true) {
    auto opened = client.sql(args.sql).stream(query_options);
    if (!opened.ok()) {
      if (interrupted()) return Status::Cancelled("interrupted");
      return opened.status();
    }
    std::unique_ptr<BatchStream> stream = std::move(*opened);
    auto schema = stream->schema();
    if (!schema.ok()) {
      if (interrupted()) return Status::Cancelled("interrupted");
      return schema.status();
    }
    if (!printer) {
      printer = std::make_unique<BatchPrinter>(std::cout, format, *schema,
                                               stream->is_streaming() ? 20 : 10'000);
    }
    // Block ranges are annotations for people: on stdout beside a table, on stderr when
    // stdout carries CSV/JSON for a program.
    bool unsynced = false;  // ampd's "nothing synced" answer, before any range
    bool ranges_seen = false;
    bool limit_reached = false;
    while (true) {
      auto next = stream->Next();
      if (!next.ok()) {
        printer->Flush();
        if (interrupted()) return Status::Cancelled("interrupted");
        return next.status();
      }
      if (!next->has_value()) break;
      message_arrived();
      const StreamBatch& item = **next;
      ++messages;
      if (!item.metadata.ranges.empty()) ranges_seen = true;
      unsynced = item.is_completion() && item.metadata.ranges.empty() && !ranges_seen;
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
          printer->Flush();
          notes << "-- reorg: invalidate " << item.invalidates->ToString() << "\n";
        }
        if (item.batch->num_rows() > 0) {
          notes << "-- " << RangesText(item.metadata.ranges) << ": " << item.batch->num_rows() << " rows\n";
          AMP_RETURN_NOT_OK(printer->Print(*item.batch));
          printer->Flush();
        } else if (item.is_completion() && !unsynced) {
          notes << "-- " << RangesText(item.metadata.ranges) << " complete\n" << std::flush;
        }
      } else {
        AMP_RETURN_NOT_OK(printer->Print(*item.batch));
      }
      if (args.max_messages && messages >= args.max_messages) {
        stream->Cancel();
        limit_reached = true;
        break;
      }
    }
    if (limit_reached || !stream->is_streaming() || !unsynced) break;
    // A stream over a table with nothing synced yet: ampd ends it after an empty
    // completion. Wait for data (with backoff) for as long as --wait-for-data allows.
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    auto delay = std::chrono::milliseconds(std::min<int64_t>(30'000, 250LL << std::min(polls, 7)));
    ++polls;
    if (args.wait_for_data) {
      const auto limit = std::chrono::milliseconds(*args.wait_for_data * 1000);
      if (waited >= limit) {
        return WithErrorInfo(Status::IOError("the server still has no synced data for this query "
                                             "after ", *args.wait_for_data, " s (--wait-for-data)"),
                             ErrorClass::kRetryCall, "cli", "NO_DATA");
      }
      delay = std::min(delay, limit - waited);
    }
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%.1f", delay.count() / 1000.0);
    notes << "-- waiting for data: the server has nothing synced for this query yet; polling "
             "again in " << secs << " s\n" << std::flush;
    if (!SleepUnlessStopped(delay, stop.get_token())) return Status::Cancelled("interrupted");
  }
  if (!args.metadata_only && printer) printer->Flush();
  if (interrupted()) return Status::Cancelled("interrupted");
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
  cmd->add_option("--wait-for-data", args->wait_for_data,
                  "With --stream: seconds to wait while the server has nothing synced for the query "
                  "(default: forever); then exit 4");
  return [args] {
    Status st = RunQuery(*args);
    return st.ok() ? kExitOk : ReportError(st);
  };
}

}  // namespace amp::cli
