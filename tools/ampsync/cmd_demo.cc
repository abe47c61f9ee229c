// `ampsync demo`: the README's main job. Starts an in-process devnet (history, then live
// blocks with scheduled reorgs), runs three hybrid parallel loads (blocks, transactions,
// logs: catch up with N workers, then hand over to the live stream) into a local Delta
// Lake root, shows their progress on one line, and when the chain halts and every load
// has reached the head, stops them and audits each table against the canonical chain
// (exit 0 only when all three match).
//
// The devnet's chain halts at history + (duration - 15 s) worth of live blocks, so that the
// loads end on a still head and the audit compares everything, reorgs included.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "amp/audit.h"
#include "amp/client.h"
#include "amp/load.h"
#include "amp/parallel.h"
#include "commands.h"
#include "devnet_flags.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct DemoArgs {
  DevnetFlags devnet;
  double duration_s = 60;
  int workers = 4;
  std::string to;  ///< Destination URI; empty: delta:// under `dir`.
  std::string dir = "ampsync-demo";
};

// One table's load and what its results said.
struct TableLoad {
  std::string table;
  std::string query;
  std::optional<LoadResults> results;
  std::thread consumer;
  std::mutex mu;
  ParallelProgress progress;
  int64_t rows = 0;
  int partitions = 0;
  int live_units = 0;
  int reorgs = 0;
  std::optional<BlockNumber> live_block;
  std::string error;
};

std::string Count(double n) {
  char buf[32];
  if (n >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1fM", n / 1e6);
  } else if (n >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.0fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", n);
  }
  return buf;
}

// One line for the three loads: catch-up percentage and rate, then each table's live block.
std::string ProgressLine(std::vector<std::unique_ptr<TableLoad>>& loads, BlockNumber head,
                         double elapsed) {
  uint64_t done = 0, total = 0;
  double rate = 0;
  int64_t rows = 0;
  int reorgs = 0;
  std::string live;
  bool all_live = true;
  for (auto& l : loads) {
    std::lock_guard<std::mutex> lock(l->mu);
    done += l->progress.blocks_done;
    total += l->progress.blocks_total;
    rate += l->progress.rows_per_second;
    rows += l->rows;
    reorgs += l->reorgs;
    if (l->live_block) {
      live += " " + l->table + "@" + std::to_string(*l->live_block);
    } else {
      all_live = false;
    }
  }
  char buf[256];
  if (!all_live) {
    std::snprintf(buf, sizeof(buf), "[%5.1fs] catch-up %s/%s blocks (%.0f%%)  %s rows  %s rows/s",
                  elapsed, Count(done).c_str(), Count(total).c_str(),
                  total ? 100.0 * done / total : 0.0, Count(rows).c_str(), Count(rate).c_str());
  } else {
    std::snprintf(buf, sizeof(buf), "[%5.1fs] live, head %llu:", elapsed,
                  static_cast<unsigned long long>(head));
  }
  return std::string(buf) + live + "  reorgs " + std::to_string(reorgs);
}

Status RunDemo(const DemoArgs& args) {
  DevnetFlags flags = args.devnet;
  const double live_seconds = std::max(5.0, args.duration_s - 15.0);
  if (flags.halt_at == 0 && flags.options.block_time_ms > 0) {
    flags.halt_at = flags.options.history +
                    static_cast<uint64_t>(live_seconds * 1000 / flags.options.block_time_ms);
  }
  AMP_ASSIGN_OR_RETURN(DevnetOptions options, ToDevnetOptions(flags));
  AMP_ASSIGN_OR_RETURN(auto devnet, DevnetServer::Start(options));
  std::string to = args.to;
  if (to.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.dir, ec);
    const auto root = std::filesystem::absolute(args.dir).lexically_normal().string();
    if (ec) return Status::IOError("cannot create the demo directory ", root, ": ", ec.message());
    to = "delta://" + root;
  }
  std::cout << "devnet:      " << devnet->url() << ": " << options.history
            << " blocks of history, then a block every " << options.block_time_ms
            << " ms with a reorg every " << options.reorg_every << " blocks, halting at block "
            << flags.halt_at << "\n"
            << "destination: " << to << "\n"
            << "loads:       blocks, transactions, logs; " << args.workers
            << " workers each catch up, then follow the head live\n\n";

  Session session(devnet->url());
  AMP_RETURN_NOT_OK(session.configure_connection("demo", to));
  std::vector<std::unique_ptr<TableLoad>> loads;
  for (const char* table : {"blocks", "transactions", "logs"}) {
    auto load = std::make_unique<TableLoad>();
    load->table = table;
    load->query = std::string("SELECT * FROM eth_firehose.") + table;
    loads.push_back(std::move(load));
  }
  // On a terminal the progress line replaces the workers' INFO lines (--log-level debug
  // brings them back); redirected output keeps them.
  if (isatty(STDOUT_FILENO) && spdlog::get_level() == spdlog::level::info) {
    spdlog::set_level(spdlog::level::warn);
  }
  const auto started = Clock::now();
  for (auto& l : loads) {
    TableLoad* raw = l.get();
    ParallelConfig parallel;
    parallel.num_workers = args.workers;
    parallel.table_name = "eth_firehose." + l->table;
    parallel.batch_size = 100'000;
    parallel.reorg_buffer = 64;
    parallel.on_progress = [raw](const ParallelProgress& p) {
      std::lock_guard<std::mutex> lock(raw->mu);
      raw->progress = p;
    };
    LoadOptions load_options;
    load_options.stream = true;
    load_options.parallel = parallel;
    // Every demo starts over (its devnet is new): the tables are emptied once at the start.
    load_options.mode = LoadMode::kOverwrite;
    AMP_ASSIGN_OR_RETURN(auto results, session.sql(l->query).load("demo", l->table, load_options));
    l->results.emplace(std::move(results));
    l->consumer = std::thread([raw] {
      for (const LoadResult& r : *raw->results) {
        std::lock_guard<std::mutex> lock(raw->mu);
        if (!r.success) {
          raw->error = r.error;
          continue;
        }
        if (r.is_reorg) {
          ++raw->reorgs;
          continue;
        }
        raw->rows += r.rows_loaded;
        if (r.metadata.count("partition_id")) ++raw->partitions;
        auto phase = r.metadata.find("parallel_phase");
        if (phase != r.metadata.end() && phase->second == "live") {
          ++raw->live_units;
          auto cursor = Cursor::FromJson(r.metadata.count("cursor") ? r.metadata.at("cursor") : "");
          if (cursor.ok() && !cursor->networks.empty()) {
            raw->live_block = cursor->networks.begin()->second.number;
          }
        }
      }
    });
  }

  // Follow until the chain halted and every load is at its head (or time / Ctrl+C is up).
  const bool tty = isatty(STDOUT_FILENO);
  const auto deadline = started + std::chrono::duration<double>(args.duration_s + 60);
  std::string last_line;
  bool at_head = false;
  while (!StopSignal::requested() && Clock::now() < deadline) {
    if (StopSignal::WaitFor(std::chrono::milliseconds(tty ? 250 : 2000))) break;
    const BlockNumber head = devnet->Head();
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const std::string line = ProgressLine(loads, head, elapsed);
    if (tty) {
      std::cout << "\r\033[K" << line << std::flush;
    } else if (line != last_line) {
      std::cout << line << "\n" << std::flush;  // a pipe or a log collector sees it now
    }
    last_line = line;
    bool failed = false;
    at_head = head == flags.halt_at;
    for (auto& l : loads) {
      std::lock_guard<std::mutex> lock(l->mu);
      failed |= !l->error.empty();
      at_head &= l->live_block == head;
    }
    if (failed || at_head) break;
  }
  if (tty) std::cout << "\n";
  for (auto& l : loads) l->results->Stop();
  for (auto& l : loads) l->consumer.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  std::cout << "\nsummary (" << static_cast<int>(seconds) << " s):\n";
  Status failure;
  for (auto& l : loads) {
    std::printf("  %-13s %10lld rows, %d catch-up partitions, %d live commits, %d reorgs%s\n",
                l->table.c_str(), static_cast<long long>(l->rows), l->partitions, l->live_units,
                l->reorgs, l->live_block ? (", at block " + std::to_string(*l->live_block)).c_str() : "");
    if (!l->error.empty()) {
      failure = Status::IOError("the load of ", l->table, " failed: ", l->error);
      std::cout << "  " << l->table << " FAILED: " << l->error << "\n";
    }
  }
  std::cout.flush();
  if (!failure.ok()) return failure;
  if (StopSignal::requested()) return Status::Cancelled("interrupted");

  // The audit: each table against the canonical chain, up to its committed checkpoint.
  std::cout << "\naudit against the canonical chain" << (at_head ? " (chain halted at block " + std::to_string(flags.halt_at) + ")" : "") << ":\n";
  AMP_ASSIGN_OR_RETURN(auto destination, session.connection("demo"));
  bool all_ok = true;
  for (auto& l : loads) {
    AMP_ASSIGN_OR_RETURN(auto report, Audit(session.client(), l->query, destination, l->table));
    std::cout << "  " << l->table << ": " << report.ToString() << "\n";
    all_ok &= report.ok();
  }
  AMP_RETURN_NOT_OK(devnet->Shutdown());
  if (!all_ok) {
    return WithErrorInfo(Status::Invalid("a destination table differs from the canonical chain"),
                         ErrorClass::kFatal, "audit", "MISMATCH");
  }
  std::cout << "\nall three tables equal the canonical chain. Data: " << to << "\n";
  return Status::OK();
}

}  // namespace

CommandRunner RegisterDemoCommand(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  DevnetOptions& o = args->devnet.options;
  o.port = 0;
  o.history = 50'000;
  o.block_time_ms = 250;
  o.reorg_every = 20;
  o.microbatch_blocks = 100;
  args->devnet.reorg_depth = "1-6";
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Start an in-process devnet and load blocks, transactions and logs into Delta Lake: "
      "parallel catch-up, then live through reorgs, then an audit against the chain");
  AddDevnetFlags(*cmd, args->devnet);
  cmd->add_option("--duration", args->duration_s,
                  "Seconds of the demo (the chain halts about 15 s before, so the loads end at "
                  "its head)")
      ->capture_default_str();
  cmd->add_option("--workers", args->workers, "Catch-up workers per table")->capture_default_str();
  cmd->add_option("--dir", args->dir, "Directory of the Delta Lake tables (created)")
      ->capture_default_str();
  cmd->add_option("--to", args->to, "Destination URI instead (e.g. postgresql://..., memory://demo)");
  return [args] {
    Status st = RunDemo(*args);
    return st.ok() ? kExitOk : ReportError(st);
  };
}

}  // namespace amp::cli
