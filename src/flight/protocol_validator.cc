#include "flight/protocol_validator.h"

#include <algorithm>
#include <vector>

#include "flight/app_metadata.h"

namespace amp::flight {
namespace {

// Batches of one microbatch carry identical ranges; the optional timestamp is not part of
// a range's identity (ampd always sends the same one, but it is informational).
bool SameRange(const BlockRange& a, const BlockRange& b) {
  return a.network == b.network && a.start == b.start && a.end == b.end && a.hash == b.hash &&
         a.prev_hash == b.prev_hash;
}

std::string Describe(const BlockRange& r) {
  return r.ToString() + " (prev_hash " + r.prev_hash.ToHex() + ", hash " + r.hash.ToHex() + ")";
}

std::string Join(const std::set<std::string>& names) {
  std::string out = "{";
  for (const auto& n : names) out += (out.size() > 1 ? ", " : "") + n;
  return out + "}";
}

}  // namespace

ProtocolValidator::ProtocolValidator(const std::optional<Cursor>& resume,
                                     const std::optional<std::set<std::string>>& networks) {
  if (networks) networks_ = *networks;
  if (!resume) return;
  for (const auto& [network, cursor] : resume->networks) {
    BlockRange seed;
    seed.network = network;
    seed.start = cursor.number;
    seed.end = cursor.number;
    seed.hash = cursor.hash;
    // The cursor is the end of the last completed microbatch.
    previous_[network] = Previous{std::move(seed), /*complete=*/true};
  }
}

Result<std::optional<BlockRange>> ProtocolValidator::Next(const BatchMetadata& metadata,
                                                          int64_t num_rows) {
  const auto& ranges = metadata.ranges;
  if (ranges.empty()) {
    // A keep-alive may name no range, and ampd's "no synced data" completion comes before
    // any range on its connection.
    if (num_rows == 0 && (!metadata.ranges_complete || !seen_range_)) {
      return std::optional<BlockRange>();
    }
    return ProtocolError("a streaming batch with " + std::to_string(num_rows) +
                         " rows carries no block ranges" +
                         (networks_.empty() ? std::string()
                                            : " (the stream's networks are " + Join(networks_) + ")"));
  }

  for (const auto& r : ranges) {
    if (r.start == 0 && !r.prev_hash.IsZero()) {
      return ProtocolError("range " + Describe(r) +
                           " starts at block 0 but has a non-zero prev_hash");
    }
    if (r.start > 0 && r.prev_hash.IsZero()) {
      return ProtocolError("range " + Describe(r) +
                           " has an all-zero prev_hash but does not start at block 0");
    }
  }

  std::set<std::string> incoming;
  for (const auto& r : ranges) {
    if (!incoming.insert(r.network).second) {
      return ProtocolError("two ranges for network '" + r.network + "' in one batch");
    }
  }
  if (networks_.empty()) {
    networks_ = incoming;
  } else if (incoming != networks_) {
    return ProtocolError("the set of networks changed from " + Join(networks_) + " to " +
                         Join(incoming));
  }

  std::vector<BlockRange> invalidations;
  for (const auto& r : ranges) {
    auto it = previous_.find(r.network);
    if (it == previous_.end()) continue;
    const Previous& p = it->second;
    if (SameRange(r, p.range)) continue;
    const BlockNumber next = p.range.end + 1;
    if (r.start == next) {
      if (r.prev_hash != p.range.hash) {
        return ProtocolError("broken hash chain: " + Describe(r) + " follows " +
                             Describe(p.range) + " but its prev_hash is not that range's hash");
      }
      if (!p.complete) {
        return ProtocolError("range " + Describe(r) + " started before the microbatch " +
                             p.range.ToString() + " was completed (no ranges_complete)");
      }
    } else if (r.start > next) {
      return ProtocolError("gap: " + p.range.ToString() + " is followed by " + r.ToString() +
                           ", blocks " + std::to_string(next) + "..=" +
                           std::to_string(r.start - 1) + " are missing");
    } else {
      if (r.prev_hash == p.range.hash) {
        return ProtocolError("invalid reorg: " + Describe(r) + " starts at or before the end of " +
                             Describe(p.range) + " yet chains to that range's end hash");
      }
      BlockRange invalidate;
      invalidate.network = r.network;
      invalidate.start = r.start;
      invalidate.end = std::max(r.end, p.range.end);
      invalidations.push_back(std::move(invalidate));
    }
  }
  if (invalidations.size() > 1) {
    return ProtocolError("reorgs on several networks in one batch are not supported");
  }
  seen_range_ = true;

  for (const auto& r : ranges) {
    auto it = previous_.find(r.network);
    if (it != previous_.end() && SameRange(r, it->second.range)) {
      it->second.complete = it->second.complete || metadata.ranges_complete;
    } else {
      previous_[r.network] = Previous{r, metadata.ranges_complete};
    }
  }
  if (invalidations.empty()) return std::optional<BlockRange>();
  return std::optional<BlockRange>(std::move(invalidations.front()));
}

}  // namespace amp::flight
