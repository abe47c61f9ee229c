// Validation of a streaming query's block ranges, batch after batch, and reorg detection:
// a port of the rules of the Amp Rust client (crates/clients/flight/src/validation.rs and
// ProtocolStream in client.rs; amp-protocol.md §2.7).
//
// Per network we keep the previous range p (from the previous batch, or seeded from the
// resume cursor as the one-block range [number, number] ending at the cursor's hash) and
// check each incoming range r:
//   - prev_hash is zero iff start == 0;
//   - at most one range per network in a batch; once the first non-empty batch has fixed
//     the set of networks, every batch carries exactly that set (never an empty one);
//   - r == p (ignoring the timestamp): the same microbatch again, nothing to check;
//   - r.start == p.end + 1: the next microbatch; r.prev_hash must equal p.hash (else a
//     "broken hash chain"), and p must have been completed by a ranges_complete message;
//   - r.start >  p.end + 1: a gap;
//   - r.start <= p.end: a reorg; r.prev_hash must differ from p.hash (else an invalid
//     reorg). The consumer must invalidate [r.start, max(r.end, p.end)] on that network.
//
// Decisions beyond the Rust rules (documented because the brief left them open):
//   - A range that replaces an incomplete microbatch (p never got ranges_complete) is
//     accepted only as a reorg; moving forward past an incomplete microbatch is an error,
//     since the consumer would otherwise commit a partial microbatch. The reorg's
//     invalidation range is the usual [r.start, max(r.end, p.end)].
//   - ampd answers a stream over tables with no synced data with a 0-row batch whose
//     ranges are empty (and ends the stream), so 0-row batches with no ranges are accepted
//     until the first range has been seen. Any other batch without ranges is an error.
//   - Networks named only in the resume cursor are not part of the stable set (the server
//     reduces the cursor to the query's network), unless the caller names the stream's
//     networks: a stream resumed from its own checkpoint passes them, so a batch that adds
//     or switches a network is refused after a reconnect exactly as within one connection.
//   - A 0-row batch with no ranges that does not complete anything is a keep-alive
//     (amp-protocol.md §2.3) and is accepted at any point.
//   - A reorg on two networks in one batch cannot be expressed by StreamBatch::invalidates
//     and is an error (Amp streams are single-network).
// Every violation is Status::Invalid with ErrorInfo{kFatal, "flight", "PROTOCOL_ERROR"}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::flight {

class ProtocolValidator {
 public:
  /// `resume`: the cursor sent in amp-resume, whose blocks seed the previous ranges.
  /// `networks`: the stream's set of networks when known (a resumed stream's checkpoint);
  /// unset: fixed by the first batch with ranges.
  explicit ProtocolValidator(const std::optional<Cursor>& resume = std::nullopt,
                             const std::optional<std::set<std::string>>& networks = std::nullopt);

  /// Checks the metadata of the next batch (`num_rows` rows) and advances the state.
  /// Returns the range to invalidate when the batch starts a reorg, else nullopt.
  /// After an error the validator must not be used further.
  Result<std::optional<BlockRange>> Next(const BatchMetadata& metadata, int64_t num_rows);

  struct Previous {
    BlockRange range;
    bool complete = false;  ///< A batch with this range had ranges_complete = true.
  };
  /// The previous range of each network (for tests and diagnostics).
  const std::map<std::string, Previous>& previous() const { return previous_; }

 private:
  std::map<std::string, Previous> previous_;
  std::set<std::string> networks_;  ///< Empty until the first batch with ranges (or seeded).
  bool seen_range_ = false;         ///< A batch with ranges was accepted.
};

}  // namespace amp::flight
