// The app_metadata JSON the devnet attaches to every record batch it sends:
// {"ranges":[<BlockRange>...],"ranges_complete":<bool>} (amp-protocol.md §2.5).
//
// Amp produces it with serde_json without `preserve_order`, so the output is compact and
// object keys are sorted alphabetically; the devnet reproduces those bytes exactly so that
// clients are tested against what they will receive from a real server.
#pragma once

#include <string>
#include <vector>

#include "amp/types.h"

namespace amp::devnet::server {

/// Compact JSON with keys in alphabetical order; `timestamp` only when known.
std::string EncodeAppMetadata(const std::vector<BlockRange>& ranges, bool ranges_complete);

}  // namespace amp::devnet::server
