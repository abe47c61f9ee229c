// Whether, and why, a unit of work should commit now: the commit cadence of amp/load.h in
// one object, asked by the streaming driver at every microbatch boundary (AtWatermark),
// when the stream goes quiet (IdleWait), and by parallel partition workers after every
// batch (ReachedSize; they then cut at a block boundary, so that a block's rows never
// straddle two commits). The reason names the LoadResult "phase" of the committed unit.
//
//   FlushPolicy policy(FlushLimits::From(options), /*streaming=*/true);
//   const FlushReason why = policy.AtWatermark(facts);
//   if (why != FlushReason::kNone) Commit(ToString(why));
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "amp/load_options.h"

namespace amp::load {

enum class FlushReason {
  kNone,       ///< Keep the unit open.
  kBatch,      ///< A batch load: its one unit ends with the result.
  kStop,       ///< A stop was requested.
  kReorg,      ///< The unit holds an undo, or the watermark is a rewind point.
  kReconnect,  ///< The stream reconnected since the last commit.
  kLive,       ///< A microbatch shorter than a full one: the server is at the chain head.
  kSize,       ///< batch_size rows or flush_bytes bytes (catch-up).
  kInterval,   ///< flush_interval passed since the unit began.
  kIdle,       ///< Nothing followed a complete unit within IdleWait().
};

/// The LoadResult phase: "catchup" for kSize, "" for kNone, else the reason's name.
std::string_view ToString(FlushReason reason);

/// The size and time limits of a unit (LoadOptions: batch_size, flush_bytes,
/// flush_interval, server_microbatch_blocks).
struct FlushLimits {
  int64_t max_rows = std::numeric_limits<int64_t>::max();
  int64_t max_bytes = std::numeric_limits<int64_t>::max();
  std::chrono::steady_clock::duration max_age = std::chrono::steady_clock::duration::max();
  uint64_t full_microbatch_blocks = 0;  ///< Before any microbatch was seen.

  static FlushLimits From(const LoadOptions& options);
};

/// What is known at a microbatch boundary.
struct WatermarkFacts {
  /// Blocks of the microbatch that ended (0: a watermark without ranges, a rewind point).
  uint64_t microbatch_blocks = 0;
  bool stop_requested = false;
  bool unit_has_undo = false;  ///< A reorg undo was applied in the unit.
  bool reconnected = false;    ///< The stream reconnected since the last commit.
  int64_t unit_rows = 0;
  int64_t unit_bytes = 0;
  std::chrono::steady_clock::duration unit_age{};
};

class FlushPolicy {
 public:
  FlushPolicy(FlushLimits limits, bool streaming) : limits_(limits), streaming_(streaming) {}

  /// Why the unit should commit at this watermark (kNone: keep it open). Remembers the
  /// longest microbatch seen, which tells a live microbatch from a full one.
  FlushReason AtWatermark(const WatermarkFacts& facts);
  /// How long a complete unit (ending at a watermark) waits for the next event before it
  /// commits with kIdle; nullopt for batch loads, which commit once at the end.
  std::optional<std::chrono::steady_clock::duration> IdleWait() const;
  /// Whether rows and bytes held reach the size limit (kSize).
  bool ReachedSize(int64_t rows, int64_t bytes = 0) const {
    return rows >= limits_.max_rows || bytes >= limits_.max_bytes;
  }

  const FlushLimits& limits() const { return limits_; }

 private:
  FlushLimits limits_;
  bool streaming_;
  uint64_t longest_microbatch_ = 0;
};

}  // namespace amp::load
