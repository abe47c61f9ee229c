// The Amp ticket: what GetFlightInfo hands out and DoGet redeems.
//
// Amp's server serializes `AmpTicket{query: String, is_streaming: bool,
// cursor: Option<BTreeMap<String, (u64, [u8; 32])>>}` with bincode 2's standard config
// (amp-protocol.md §1.3). The devnet produces byte-identical tickets so a client that
// inspects, stores or replays them sees exactly what a real Amp server would give it.
//
// bincode 2 standard config, as used here:
//   - unsigned integers are varints: < 251 is one byte; otherwise a marker byte
//     251/252/253 followed by a little-endian u16/u32/u64;
//   - String: varint byte length + UTF-8 bytes;  bool: one byte 0 or 1;
//   - Option: tag byte 0 (None) or 1 (Some) + value;
//   - map: varint entry count + (key, value) pairs in key order;
//   - tuple: fields in order;  [u8; 32]: 32 raw bytes, no length.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::devnet::server {

struct AmpTicket {
  std::string query;
  bool is_streaming = false;
  /// network -> (block number, block hash) of the last block the client completed.
  std::optional<std::map<std::string, NetworkCursor>> cursor;

  friend bool operator==(const AmpTicket&, const AmpTicket&) = default;
};

/// Serializes `ticket` exactly as Amp's bincode::encode_to_vec(standard()) does.
std::string EncodeTicket(const AmpTicket& ticket);

/// Parses a ticket. Invalid (-> gRPC INVALID_ARGUMENT, like Amp's TICKET_DECODING_ERROR)
/// for truncated input, bad varints, bool/Option tags other than 0/1, non-UTF-8 strings
/// and trailing bytes.
Result<AmpTicket> DecodeTicket(std::string_view bytes);

/// Appends `value` as a bincode 2 standard-config varint (exposed for tests).
void AppendVarint(uint64_t value, std::string* out);

}  // namespace amp::devnet::server
