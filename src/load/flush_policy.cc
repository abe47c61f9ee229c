#include "load/flush_policy.h"

#include <algorithm>

namespace amp::load {
namespace {

// How long a complete unit may wait for the next event before it commits anyway (capped
// by flush_interval): a halted chain sends none.
constexpr std::chrono::milliseconds kIdleWindow{200};

}  // namespace

std::string_view ToString(FlushReason reason) {
  switch (reason) {
    case FlushReason::kNone: return "";
    case FlushReason::kBatch: return "batch";
    case FlushReason::kStop: return "stop";
    case FlushReason::kReorg: return "reorg";
    case FlushReason::kReconnect: return "reconnect";
    case FlushReason::kLive: return "live";
    case FlushReason::kSize: return "catchup";
    case FlushReason::kInterval: return "interval";
    case FlushReason::kIdle: return "idle";
  }
  return "";
}

FlushLimits FlushLimits::From(const LoadOptions& options) {
  FlushLimits limits;
  limits.max_rows = options.batch_size;
  limits.max_bytes = options.flush_bytes;
  limits.max_age = options.flush_interval;
  limits.full_microbatch_blocks = options.server_microbatch_blocks;
  return limits;
}

FlushReason FlushPolicy::AtWatermark(const WatermarkFacts& facts) {
  bool live = false;
  if (facts.microbatch_blocks > 0) {
    const uint64_t blocks = facts.microbatch_blocks;
    const uint64_t full = longest_microbatch_ > 0 ? longest_microbatch_ : limits_.full_microbatch_blocks;
    live = blocks == 1 || blocks < full;
    longest_microbatch_ = std::max(longest_microbatch_, blocks);
  }
  if (!streaming_) return FlushReason::kBatch;
  if (facts.stop_requested) return FlushReason::kStop;
  if (facts.unit_has_undo || facts.microbatch_blocks == 0) return FlushReason::kReorg;
  if (facts.reconnected) return FlushReason::kReconnect;
  if (live) return FlushReason::kLive;
  if (ReachedSize(facts.unit_rows, facts.unit_bytes)) return FlushReason::kSize;
  if (facts.unit_age >= limits_.max_age) return FlushReason::kInterval;
  return FlushReason::kNone;
}

std::optional<std::chrono::steady_clock::duration> FlushPolicy::IdleWait() const {
  if (!streaming_) return std::nullopt;
  return std::min<std::chrono::steady_clock::duration>(limits_.max_age, kIdleWindow);
}

}  // namespace amp::load
