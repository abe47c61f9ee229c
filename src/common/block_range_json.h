// A BlockRange as a JSON object, the one form both directions of the tree use: the ranges
// of a batch's app_metadata (amp-protocol.md §2.5) and the recent_ranges of a stored
// checkpoint (amp/checkpoint.h) are spelled alike, so one codec serves both.
//
//   {"hash":"0x…","network":"anvil","numbers":{"end":2,"start":0},"prev_hash":"0x…",
//    "timestamp":1700000002}
//
// Reading is lenient where that costs nothing (unknown keys, key order, a missing or null
// prev_hash or timestamp, and the flat form {network, start, end, hash} that amp-python's
// BlockRange.from_dict accepts) and strict where a lax reader would break reorg handling.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "amp/status.h"
#include "amp/types.h"

namespace amp {

/// The object form above; `timestamp` only when set. nlohmann's objects keep keys sorted,
/// as ampd's serde_json does.
nlohmann::json BlockRangeToJson(const BlockRange& range);

/// Parses one range object. `where` names it in errors ("ranges[0]"); an error is a plain
/// Invalid whose message says what is wrong, for the caller to put in its context. The
/// network must be a non-empty string unless `network_may_be_empty` (a stored hand-off
/// record of a source that reported no network).
Result<BlockRange> BlockRangeFromJson(const nlohmann::json& item, std::string_view where,
                                      bool network_may_be_empty = false);

}  // namespace amp
