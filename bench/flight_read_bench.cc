// amp_flight_read_bench: read throughput of amp::Client against pyarrow.flight.
//
// Starts an in-process devnet (halted, no live blocks) and reads one batch query, by
// default `SELECT * FROM eth_firehose.logs` over all of its blocks, into a null sink:
// alternately with amp::Client (this process) and with bench/pyarrow_flight_read.py (a
// subprocess, the same query through pyarrow.flight), `--repeats` times each. Both count
// rows and bytes the same way (arrow::util::TotalBufferSize per record batch) and time from
// GetFlightInfo to the end of the DoGet stream; the table reports each client's best run.
// The server is shared and in this process, so both clients pay the same server cost; the
// ratio compares the client stacks (gRPC receive, IPC decode, metadata handling).
//
// Exit status: 0 when every run succeeded and both clients read the same rows and bytes.
// The speed itself is never judged here.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "amp/client.h"
#include "amp/devnet.h"

#ifndef AMP_BENCH_PYTHON
#define AMP_BENCH_PYTHON "python3"
#endif
#ifndef AMP_BENCH_PYARROW_SCRIPT
#define AMP_BENCH_PYARROW_SCRIPT "bench/pyarrow_flight_read.py"
#endif

namespace {

constexpr const char* kWarmUpSql = "SELECT block_num FROM eth_firehose.blocks WHERE block_num = 0";

struct Run {
  int64_t rows = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

struct BenchArgs {
  uint64_t blocks = 100'000;
  uint32_t logs_per_block = 8;
  uint32_t txs_per_block = 4;
  int repeats = 3;
  bool quick = false;
  std::string sql = "SELECT * FROM eth_firehose.logs";
  std::string python = AMP_BENCH_PYTHON;
  std::string script = AMP_BENCH_PYARROW_SCRIPT;
};

amp::Result<Run> ReadWithAmpClient(const std::string& url, const std::string& sql) {
  amp::Client client(url);
  AMP_RETURN_NOT_OK(client.status());
  // Warm-up: gRPC connects lazily; the connection set-up stays outside the clock (the
  // pyarrow script does the same).
  AMP_RETURN_NOT_OK(client.GetInfo(kWarmUpSql).status());
  Run run;
  auto start = std::chrono::steady_clock::now();
  AMP_ASSIGN_OR_RETURN(auto stream, client.Execute(sql));
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto item, stream->Next());
    if (!item) break;
    run.rows += item->batch->num_rows();
    run.bytes += arrow::util::TotalBufferSize(*item->batch);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

amp::Result<Run> ReadWithPyarrow(const BenchArgs& args, const std::string& url) {
  std::string cmd = ShellQuote(args.python) + " " + ShellQuote(args.script) + " --server " + ShellQuote(url) +
                    " --sql " + ShellQuote(args.sql);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return amp::Status::IOError("cannot run ", cmd);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int rc = pclose(pipe);
  if (rc != 0) return amp::Status::IOError("`", cmd, "` failed (status ", rc, "); output: ", output);
  auto doc = nlohmann::json::parse(output, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("rows") || !doc.contains("bytes") || !doc.contains("seconds")) {
    return amp::Status::Invalid("unexpected output of ", args.script, ": ", output);
  }
  return Run{doc["rows"].get<int64_t>(), doc["bytes"].get<int64_t>(), doc["seconds"].get<double>()};
}

void PrintRow(const std::string& client, const Run& best) {
  double mb = static_cast<double>(best.bytes) / 1e6;
  std::cout << fmt::format("{:<16} {:>12} {:>10.1f} {:>10.3f} {:>14.0f} {:>10.1f}\n", client, best.rows, mb,
                           best.seconds, best.rows / best.seconds, mb / best.seconds);
}

int Main(const BenchArgs& args) {
  amp::DevnetOptions options;
  options.port = 0;
  options.history = args.blocks;
  options.halt_at = args.blocks - 1;
  options.block_time_ms = 0;
  options.logs_per_block = args.logs_per_block;
  options.txs_per_block = args.txs_per_block;
  auto started = amp::DevnetServer::Start(options);
  if (!started.ok()) {
    std::cerr << "amp_flight_read_bench: cannot start the devnet: " << started.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<amp::DevnetServer> devnet = std::move(*started);
  const std::string url = devnet->url();
  std::cout << "devnet " << url << ": " << args.blocks << " blocks, " << args.logs_per_block
            << " logs/block; query: " << args.sql << "\n";

  std::vector<Run> ours, theirs;
  for (int i = 0; i < args.repeats; ++i) {
    auto a = ReadWithAmpClient(url, args.sql);
    if (!a.ok()) {
      std::cerr << "amp_flight_read_bench: amp::Client run failed: " << a.status().ToString() << "\n";
      return 1;
    }
    ours.push_back(*a);
    auto p = ReadWithPyarrow(args, url);
    if (!p.ok()) {
      std::cerr << "amp_flight_read_bench: pyarrow run failed: " << p.status().ToString() << "\n";
      return 1;
    }
    theirs.push_back(*p);
    std::cout << fmt::format("run {}: amp::Client {:.3f} s, pyarrow {:.3f} s\n", i + 1, a->seconds, p->seconds)
              << std::flush;
  }
  (void)devnet->Shutdown();

  auto best = [](const std::vector<Run>& runs) {
    return *std::min_element(runs.begin(), runs.end(),
                             [](const Run& x, const Run& y) { return x.seconds < y.seconds; });
  };
  Run b_ours = best(ours), b_theirs = best(theirs);
  std::cout << fmt::format("\n{:<16} {:>12} {:>10} {:>10} {:>14} {:>10}\n", "client", "rows", "MB", "best s",
                           "rows/s", "MB/s");
  PrintRow("amp::Client", b_ours);
  PrintRow("pyarrow.flight", b_theirs);
  bool same = b_ours.rows == b_theirs.rows && b_ours.bytes == b_theirs.bytes;
  for (const Run& r : ours) same = same && r.rows == b_ours.rows && r.bytes == b_ours.bytes;
  for (const Run& r : theirs) same = same && r.rows == b_theirs.rows && r.bytes == b_theirs.bytes;
  if (!same || b_ours.rows == 0) {
    std::cerr << "amp_flight_read_bench: the clients read different results (or none): rows " << b_ours.rows
              << " vs " << b_theirs.rows << ", bytes " << b_ours.bytes << " vs " << b_theirs.bytes << "\n";
    return 1;
  }
  // Same rows and bytes, so the throughput ratio is the inverse ratio of the times.
  std::cout << fmt::format("ratio ours/pyarrow: {:.2f}x (rows/s)\n", b_theirs.seconds / b_ours.seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  BenchArgs args;
  CLI::App app{"Read throughput of amp::Client vs pyarrow.flight against an in-process devnet"};
  CLI::Option* blocks = app.add_option("--blocks", args.blocks, "Blocks in the devnet (all read by the default query)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  app.add_option("--logs-per-block", args.logs_per_block, "Rows per block in eth_firehose.logs")
      ->capture_default_str();
  app.add_option("--repeats", args.repeats, "Runs per client (alternating); the best is reported")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--quick", args.quick, "Smoke run: one run per client, 2000 blocks unless --blocks");
  app.add_option("--sql", args.sql, "Query to read")->capture_default_str();
  app.add_option("--python", args.python, "Python with pyarrow")->capture_default_str();
  app.add_option("--pyarrow-script", args.script, "bench/pyarrow_flight_read.py")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (args.quick) {
    if (blocks->count() == 0) args.blocks = 2'000;
    args.repeats = 1;
  }
  return Main(args);
}
