#include "devnet/server/server_state.h"

#include <algorithm>
#include <thread>

#include <arrow/flight/types.h>

namespace amp::devnet::server {
namespace {

using arrow::flight::FlightStatusCode;
using arrow::flight::MakeFlightError;

// How often sleeping and idle streams look at cancellation and shutdown: short enough
// that Shutdown and client cancels are prompt, long enough to cost nothing.
constexpr auto kPollInterval = std::chrono::milliseconds(10);

}  // namespace

void FaultInjector::Set(const DevnetFaults& faults) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_ = faults;
}

DevnetFaults FaultInjector::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_;
}

bool FaultInjector::TakeCallFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  if (faults_.fail_next_calls == 0) return false;
  --faults_.fail_next_calls;
  return true;
}

std::shared_ptr<const ChainSnapshot> ServerState::ShownSnapshot() {
  auto current = chain->Snapshot();
  if (config.reorg_delay.count() == 0) return current;
  std::lock_guard<std::mutex> lock(shown_mu);
  if (shown == nullptr || current->reorgs() == shown->reorgs()) {
    shown = std::move(current);
    return shown;
  }
  // A reorg the wire has not shown yet: keep showing the chain from before it until the
  // delay has passed since the first such reorg; then everything since at once.
  const auto due = chain->ReorgTime(shown->reorgs() + 1) + config.reorg_delay;
  if (std::chrono::steady_clock::now() >= due) shown = std::move(current);
  return shown;
}

Status UnavailableError(const std::string& message) {
  return MakeFlightError(FlightStatusCode::Unavailable, message);
}

Status InternalError(const std::string& message) {
  return MakeFlightError(FlightStatusCode::Internal, message);
}

Status UnauthenticatedError(const std::string& message) {
  return MakeFlightError(FlightStatusCode::Unauthenticated, message);
}

Status CancelledError(const std::string& message) {
  return MakeFlightError(FlightStatusCode::Cancelled, message);
}

Status CheckCallAlive(const ServerState& state, const arrow::flight::ServerCallContext& context) {
  if (state.shutting_down.load(std::memory_order_relaxed)) {
    return UnavailableError("devnet server is shutting down");
  }
  if (context.is_cancelled()) return CancelledError("call cancelled by the client");
  return Status::OK();
}

Status SleepWhileAlive(const ServerState& state, const arrow::flight::ServerCallContext& context,
                       std::chrono::steady_clock::duration duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (true) {
    AMP_RETURN_NOT_OK(CheckCallAlive(state, context));
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return Status::OK();
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, kPollInterval));
  }
}

}  // namespace amp::devnet::server
