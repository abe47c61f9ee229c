// The JSON carried in every Amp FlightData message's app_metadata (amp-protocol.md §2.5):
//
//   {"ranges":[{"hash":"0x…","network":"anvil","numbers":{"end":2,"start":0},
//               "prev_hash":"0x…","timestamp":1700000002}],"ranges_complete":false}
//
// Parsing is strict where a lax reader would silently break reorg handling (Python's
// BatchMetadata.from_flight_data returns empty ranges on bad JSON): a missing or malformed
// range is an Invalid status of class kReconnect that names the problem and quotes the
// offending JSON. It is lenient where that costs nothing: unknown keys are ignored, key
// order is free, `timestamp` and `prev_hash` are optional, and the flat range form
// {network, start, end, hash, prev_hash} that amp-python's BlockRange.from_dict accepts is
// accepted too.
#pragma once

#include <string>
#include <string_view>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::flight {

/// Parses one message's app_metadata. `json` must be non-empty (a missing app_metadata is
/// the caller's decision: allowed for batch queries, an error for streams).
Result<BatchMetadata> ParseAppMetadata(std::string_view json);

/// Serializes `metadata` exactly as ampd does (serde_json, compact, keys sorted, timestamp
/// only when set). Used by test servers; the client never sends metadata.
std::string FormatAppMetadata(const BatchMetadata& metadata);

/// An Invalid status of class kFatal (source "flight", code "PROTOCOL_ERROR"): the server
/// broke the Amp streaming protocol. A reconnect cannot fix that: the server would answer
/// the same resume cursor with the same data, so the stream stops (the CLI exits 1).
Status ProtocolError(std::string message);

}  // namespace amp::flight
