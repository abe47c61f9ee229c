// DevnetServer (include/amp/devnet.h): wires the chain, the live block producer and the
// Flight service together and owns their lifecycle.
#include "amp/devnet.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>

#include "devnet/chain.h"
#include "devnet/server/flight_service.h"
#include "devnet/server/server_state.h"
#include "devnet/tables.h"

namespace amp {

namespace {

using devnet::server::FlightService;
using devnet::server::ServerState;

// Streams notice shutdown within a few milliseconds; this only bounds a call stuck in
// something that does not poll (e.g. a client not reading while gRPC's window is full).
constexpr auto kShutdownGrace = std::chrono::seconds(5);

devnet::ChainOptions ToChainOptions(const DevnetOptions& o) {
  devnet::ChainOptions c;
  c.seed = o.seed;
  c.network = o.network;
  c.history = o.history;
  c.block_time_ms = o.block_time_ms;
  c.txs_per_block = o.txs_per_block;
  c.logs_per_block = o.logs_per_block;
  c.reorg_every = o.reorg_every;
  c.reorg_depth_min = o.reorg_depth_min;
  c.reorg_depth_max = o.reorg_depth_max;
  c.halt_at = o.halt_at;
  c.genesis_time = o.genesis_time;
  c.skew = o.skew;
  c.skew_window = o.skew_window;
  c.skew_hot_percent = o.skew_hot_percent;
  return c;
}

Status Validate(const DevnetOptions& o) {
  if (o.network.empty()) return Status::Invalid("devnet: network must not be empty");
  if (o.microbatch_blocks < 1) return Status::Invalid("devnet: microbatch_blocks must be >= 1");
  if (o.reorg_depth_min < 1 || o.reorg_depth_min > o.reorg_depth_max) {
    return Status::Invalid("devnet: need 1 <= reorg_depth_min <= reorg_depth_max, got ",
                           o.reorg_depth_min, " and ", o.reorg_depth_max);
  }
  if (o.port < 0 || o.port > 65535) return Status::Invalid("devnet: bad port ", o.port);
  if (o.keep_alive.count() < 0) return Status::Invalid("devnet: keep_alive must be >= 0");
  if (o.reorg_delay.count() < 0) return Status::Invalid("devnet: reorg_delay must be >= 0");
  for (const std::string& name : o.unsynced_tables) {
    auto table = devnet::TableFromName(name);
    if (!table.ok()) return Status::Invalid("devnet: unsynced table: ", table.status().message());
  }
  if (o.skew > 1) {
    if (o.skew_window < 1) return Status::Invalid("devnet: skew_window must be at least 1");
    if (o.skew_hot_percent < 1 || o.skew_hot_percent > 100) {
      return Status::Invalid("devnet: skew_hot_percent must be 1..100, got ", o.skew_hot_percent);
    }
    // A hot block's rows are counted in uint32 and generated in one batch.
    constexpr uint64_t kMaxRowsPerBlock = 1'000'000;
    if (uint64_t{o.txs_per_block} * o.skew > kMaxRowsPerBlock ||
        uint64_t{o.logs_per_block} * o.skew > kMaxRowsPerBlock) {
      return Status::Invalid("devnet: skew ", o.skew, " makes hot blocks larger than ",
                             kMaxRowsPerBlock, " rows");
    }
  }
  return Status::OK();
}

}  // namespace

struct DevnetServer::Impl {
  DevnetOptions options;
  std::shared_ptr<ServerState> state;
  std::unique_ptr<FlightService> service;
  int port = 0;

  std::thread producer;
  std::mutex producer_mu;
  std::condition_variable producer_cv;
  bool stop_producer = false;

  std::mutex shutdown_mu;  // serializes Shutdown()
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  Status shutdown_status;

  void RunProducer() {
    const auto period = std::chrono::milliseconds(options.block_time_ms);
    auto next = std::chrono::steady_clock::now() + period;
    std::unique_lock<std::mutex> lock(producer_mu);
    while (true) {
      if (producer_cv.wait_until(lock, next, [&] { return stop_producer; })) return;
      if (options.halt_at.has_value() && !state->chain->empty() &&
          state->chain->head() >= *options.halt_at) {
        return;
      }
      lock.unlock();
      state->chain->ProduceBlock();
      lock.lock();
      // Fixed schedule, no drift; after a stall, do not burst to catch up.
      next = std::max(next + period, std::chrono::steady_clock::now());
    }
  }
};

DevnetServer::DevnetServer() : impl_(std::make_unique<Impl>()) {}

DevnetServer::~DevnetServer() {
  if (impl_) (void)Shutdown();
}

Result<std::unique_ptr<DevnetServer>> DevnetServer::Start(DevnetOptions options) {
  AMP_RETURN_NOT_OK(Validate(options));
  std::unique_ptr<DevnetServer> server(new DevnetServer());
  Impl& impl = *server->impl_;
  impl.options = options;

  auto state = std::make_shared<ServerState>();
  state->config.network = options.network;
  state->config.microbatch_blocks = options.microbatch_blocks;
  state->config.keep_alive = options.keep_alive;
  state->config.keep_alive_at_microbatch_start = options.keep_alive_at_microbatch_start;
  state->config.require_token = options.require_token;
  state->config.chunking = options.chunking;
  state->config.reorg_delay = options.reorg_delay;
  for (const std::string& name : options.unsynced_tables) {
    state->config.unsynced.insert(*devnet::TableFromName(name));
  }
  state->chain = std::make_shared<devnet::Chain>(ToChainOptions(options));
  state->faults.Set(options.faults);
  state->shown = state->chain->Snapshot();
  impl.state = state;

  AMP_ASSIGN_OR_RETURN(auto location,
                       arrow::flight::Location::ForGrpcTcp(options.host, options.port));
  arrow::flight::FlightServerOptions server_options(location);
  impl.service = std::make_unique<FlightService>(state);
  auto st = impl.service->Init(server_options);
  if (!st.ok()) {
    // Nothing to shut down: keep ~DevnetServer from touching the unstarted service.
    impl.done = true;
    impl.shutdown_status = st;
    return Status::IOError("devnet: cannot serve Flight on ", options.host, ":", options.port,
                           ": ", st.message());
  }
  impl.port = impl.service->port();
  if (options.block_time_ms > 0) impl.producer = std::thread([&impl] { impl.RunProducer(); });
  return server;
}

int DevnetServer::port() const { return impl_->port; }

std::string DevnetServer::url() const {
  const std::string& host = impl_->options.host;
  const bool wildcard = host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
  return "grpc://" + (wildcard ? std::string("127.0.0.1") : host) + ":" +
         std::to_string(impl_->port);
}

const DevnetOptions& DevnetServer::options() const { return impl_->options; }

void DevnetServer::SetFaults(DevnetFaults faults) { impl_->state->faults.Set(faults); }

DevnetFaults DevnetServer::faults() const { return impl_->state->faults.Get(); }

BlockNumber DevnetServer::Head() const { return impl_->state->chain->head(); }

bool DevnetServer::HasBlocks() const { return !impl_->state->chain->empty(); }

BlockNumber DevnetServer::ProduceBlock() { return impl_->state->chain->ProduceBlock(); }

Status DevnetServer::Reorg(uint32_t depth) { return impl_->state->chain->Reorg(depth); }

Result<BlockRange> DevnetServer::CanonicalRange(BlockNumber start, BlockNumber end) const {
  auto snapshot = impl_->state->chain->Snapshot();
  if (snapshot->empty()) return Status::Invalid("devnet: the chain has no block yet");
  if (start > end || end > snapshot->head()) {
    return Status::Invalid("devnet: range [", start, ", ", end, "] is not within [0, ",
                           snapshot->head(), "]");
  }
  return snapshot->Range(start, end);
}

Result<std::shared_ptr<arrow::RecordBatch>> DevnetServer::CanonicalRows(std::string_view table,
                                                                        BlockNumber start,
                                                                        BlockNumber end) const {
  AMP_ASSIGN_OR_RETURN(auto id, devnet::TableFromName(table));
  auto snapshot = impl_->state->chain->Snapshot();
  if (snapshot->empty()) return Status::Invalid("devnet: the chain has no block yet");
  if (start > end || end > snapshot->head()) {
    return Status::Invalid("devnet: range [", start, ", ", end, "] is not within [0, ",
                           snapshot->head(), "]");
  }
  // An unsynced table has no rows at all: that is what a client can ever load from it.
  if (impl_->state->config.unsynced.count(id) > 0) {
    return arrow::RecordBatch::MakeEmpty(devnet::TableSchema(id));
  }
  return devnet::GenerateRows(id, *snapshot, start, end);
}

devnet::Chain& DevnetServer::chain() { return *impl_->state->chain; }

size_t DevnetServer::active_streams() const { return impl_->state->active_streams.load(); }

Status DevnetServer::Shutdown() {
  Impl& impl = *impl_;
  std::lock_guard<std::mutex> serialize(impl.shutdown_mu);
  {
    std::lock_guard<std::mutex> lock(impl.done_mu);
    if (impl.done) return impl.shutdown_status;
  }
  // Streams poll this flag, so open streams (idle ones included) end right away and the
  // gRPC shutdown below does not wait for them.
  impl.state->shutting_down.store(true);
  {
    std::lock_guard<std::mutex> lock(impl.producer_mu);
    impl.stop_producer = true;
  }
  impl.producer_cv.notify_all();
  if (impl.producer.joinable()) impl.producer.join();
  const auto deadline = std::chrono::system_clock::now() + kShutdownGrace;
  Status st = impl.service->Shutdown(&deadline);
  if (st.ok()) st = impl.service->Wait();
  {
    std::lock_guard<std::mutex> lock(impl.done_mu);
    impl.done = true;
    impl.shutdown_status = st;
  }
  impl.done_cv.notify_all();
  return st;
}

Status DevnetServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->done_mu);
  impl_->done_cv.wait(lock, [&] { return impl_->done; });
  return impl_->shutdown_status;
}

}  // namespace amp
