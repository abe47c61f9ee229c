// State shared by the devnet's Flight service, its DoGet streams and the public
// DevnetServer handle: configuration, the chain, the fault injector and the shutdown flag.
// Streams hold a shared_ptr to it, so it outlives every call that still runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <arrow/flight/server.h>

#include "amp/devnet.h"
#include "amp/status.h"
#include "devnet/chain.h"
#include "devnet/tables.h"

namespace amp::devnet::server {

/// Immutable after start.
struct ServerConfig {
  std::string network;
  uint64_t microbatch_blocks = 1000;
  std::chrono::milliseconds keep_alive{30'000};
  bool keep_alive_at_microbatch_start = true;
  std::string require_token;
  DevnetChunking chunking = DevnetChunking::kLarge;
  std::chrono::milliseconds reorg_delay{0};
  /// Tables that stay empty ("nothing synced", DevnetOptions::unsynced_tables).
  std::set<TableId> unsynced;
};

/// Thread-safe holder of the current faults.
class FaultInjector {
 public:
  void Set(const DevnetFaults& faults);
  DevnetFaults Get() const;
  /// True (and one fewer failure left) if fail_next_calls is still positive.
  bool TakeCallFailure();

 private:
  mutable std::mutex mu_;
  DevnetFaults faults_;
};

struct ServerState {
  ServerConfig config;
  std::shared_ptr<Chain> chain;
  FaultInjector faults;
  std::atomic<bool> shutting_down{false};
  std::atomic<size_t> active_streams{0};

  /// The chain as queries see it: the chain itself, except that with config.reorg_delay
  /// a reorg stays hidden (the last snapshot before it is shown, not growing) until the
  /// delay has passed since it. Thread-safe; the same pointer while nothing new is shown.
  std::shared_ptr<const ChainSnapshot> ShownSnapshot();
  /// True when queries on `table` see nothing synced in `snapshot`.
  bool Unsynced(TableId table, const ChainSnapshot& snapshot) const {
    return snapshot.empty() || config.unsynced.count(table) > 0;
  }

  std::mutex shown_mu;
  std::shared_ptr<const ChainSnapshot> shown;  // set at start
};

// gRPC codes the way Arrow's transport derives them from a returned Status: a
// FlightStatusDetail decides when present (Unavailable, Internal, Unauthenticated,
// Cancelled); otherwise Invalid -> INVALID_ARGUMENT, KeyError -> NOT_FOUND,
// NotImplemented -> UNIMPLEMENTED, and anything else -> UNKNOWN, hence these helpers.
Status UnavailableError(const std::string& message);
Status InternalError(const std::string& message);
Status UnauthenticatedError(const std::string& message);
Status CancelledError(const std::string& message);

/// OK while the call should go on; CANCELLED once the client went away; UNAVAILABLE once
/// the server shuts down.
Status CheckCallAlive(const ServerState& state, const arrow::flight::ServerCallContext& context);

/// Sleeps `duration` in short slices, returning early with CheckCallAlive's error.
Status SleepWhileAlive(const ServerState& state, const arrow::flight::ServerCallContext& context,
                       std::chrono::steady_clock::duration duration);

}  // namespace amp::devnet::server
