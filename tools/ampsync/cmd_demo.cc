// `ampsync demo`: the README's main job for now. Starts an in-process devnet with live
// blocks and reorgs, follows it with a streaming query, prints each microbatch and every
// reorg as it arrives, and ends with a check that what was received (reorgs applied)
// equals the canonical chain.
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <arrow/array.h>
#include <arrow/record_batch.h>

#include "amp/client.h"
#include "commands.h"
#include "devnet_flags.h"
#include "exit_codes.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

struct DemoArgs {
  DevnetFlags devnet;
  double duration_s = 20;
};

std::string ShortHash(const std::string_view bytes) {
  BlockHash h;
  std::copy(bytes.begin(), bytes.end(), h.bytes.begin());
  return h.ToHex().substr(0, 10) + "…";
}

Status RunDemo(const DemoArgs& args) {
  AMP_ASSIGN_OR_RETURN(DevnetOptions options, ToDevnetOptions(args.devnet));
  AMP_ASSIGN_OR_RETURN(auto devnet, DevnetServer::Start(options));
  std::cout << "devnet: " << devnet->url() << ", history " << options.history << " blocks, a block every "
            << options.block_time_ms << " ms, a reorg every " << options.reorg_every << " blocks\n";

  Client client(devnet->url());
  const std::string sql = "SELECT block_num, hash, parent_hash FROM eth_firehose.blocks SETTINGS stream = true";
  std::cout << "query:  " << sql << "\n\n";
  AMP_ASSIGN_OR_RETURN(auto stream, client.sql(sql).stream());
  BatchStream* raw = stream.get();
  bool timed_out = false;
  int stop_id = StopSignal::OnStop([raw] { raw->Cancel(); });
  std::thread timer;
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  if (args.duration_s > 0) {
    timer = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::duration<double>(args.duration_s), [&] { return finished; })) {
        timed_out = true;
        raw->Cancel();
      }
    });
  }

  std::map<BlockNumber, std::string> received;  // block -> hash, reorgs applied
  uint64_t rows = 0, microbatches = 0, reorgs = 0;
  BlockNumber completed_through = 0;
  bool any_completed = false;
  Status result;
  while (true) {
    auto next = stream->Next();
    if (!next.ok()) {
      if (!timed_out && !StopSignal::requested()) result = next.status();
      break;
    }
    if (!next->has_value()) break;
    const StreamBatch& item = **next;
    if (item.invalidates) {
      ++reorgs;
      std::cout << "REORG   " << item.invalidates->ToString() << ": dropping "
                << item.invalidates->num_blocks() << " block(s) and reloading\n";
      received.erase(received.lower_bound(item.invalidates->start),
                     received.upper_bound(item.invalidates->end));
    }
    const auto& batch = *item.batch;
    if (batch.num_rows() > 0) {
      auto nums = std::static_pointer_cast<arrow::UInt64Array>(batch.GetColumnByName("block_num"));
      auto hashes = std::static_pointer_cast<arrow::FixedSizeBinaryArray>(batch.GetColumnByName("hash"));
      for (int64_t i = 0; i < batch.num_rows(); ++i) received[nums->Value(i)] = std::string(hashes->GetView(i));
      rows += batch.num_rows();
      if (batch.num_rows() <= 3) {
        for (int64_t i = 0; i < batch.num_rows(); ++i) {
          std::cout << "block   " << nums->Value(i) << "  hash " << ShortHash(hashes->GetView(i)) << "\n";
        }
      }
    }
    if (item.is_completion() && !item.metadata.ranges.empty()) {
      ++microbatches;
      const BlockRange& r = item.metadata.ranges.front();
      completed_through = r.end;
      any_completed = true;
      if (r.num_blocks() > 3) {
        std::cout << "caught up " << r.ToString() << " (" << r.num_blocks() << " blocks)\n";
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  if (timer.joinable()) timer.join();
  StopSignal::Remove(stop_id);
  AMP_RETURN_NOT_OK(result);

  // Check: the received blocks with reorgs applied must equal the canonical chain. A reorg
  // that happened after the last completed microbatch can only have replaced blocks within
  // reorg_depth_max of it, so everything below that is final and must match exactly.
  uint64_t stale = 0, missing = 0;
  BlockNumber verified_through = 0;
  bool verified_any = false;
  if (any_completed) {
    const uint64_t margin = options.reorg_every ? options.reorg_depth_max : 0;
    if (completed_through >= margin) {
      verified_through = completed_through - margin;
      verified_any = true;
      AMP_ASSIGN_OR_RETURN(auto canonical, devnet->CanonicalRows("blocks", 0, verified_through));
      auto hashes = std::static_pointer_cast<arrow::FixedSizeBinaryArray>(canonical->GetColumnByName("hash"));
      for (int64_t i = 0; i < canonical->num_rows(); ++i) {
        auto it = received.find(static_cast<BlockNumber>(i));
        if (it == received.end()) {
          ++missing;
        } else if (it->second != hashes->GetView(i)) {
          ++stale;
        }
      }
    }
  }
  std::cout << "\nsummary: " << microbatches << " microbatches, " << rows << " rows, " << reorgs
            << " reorgs handled, blocks 0.." << completed_through << " received\n";
  if (verified_any) {
    std::cout << "check:   blocks 0.." << verified_through << " against the canonical chain: " << missing
              << " missing, " << stale << " stale\n";
  }
  AMP_RETURN_NOT_OK(devnet->Shutdown());
  if (missing || stale) return Status::Invalid("received chain differs from the canonical chain");
  if (StopSignal::requested()) return Status::Cancelled("interrupted");
  return Status::OK();
}

}  // namespace

CommandRunner RegisterDemoCommand(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  DevnetOptions& o = args->devnet.options;
  o.port = 0;
  o.history = 5'000;
  o.block_time_ms = 400;
  o.reorg_every = 12;
  args->devnet.reorg_depth = "1-4";
  CLI::App* cmd = app.add_subcommand(
      "demo", "Start an in-process devnet and follow its head with a streaming query, reorgs included");
  AddDevnetFlags(*cmd, args->devnet);
  cmd->add_option("--duration", args->duration_s, "Seconds to run (0: until Ctrl+C)")->capture_default_str();
  return [args] {
    Status st = RunDemo(*args);
    return st.ok() ? kExitOk : ReportError(st);
  };
}

}  // namespace amp::cli
