// File: amp/types.h
//
// Vocabulary of the Amp streaming protocol: block numbers and intervals, block hashes,
// block ranges as they appear in a batch's app_metadata, and the resume cursor sent in the
// `amp-resume` header.
// Wire formats: ../shared/reference/amp-protocol.md §2.5 (BlockRange JSON) and §2.6 (cursor).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"

namespace amp {

using BlockNumber = uint64_t;

/// The highest block number: an open end ("every block from here on").
inline constexpr BlockNumber kMaxBlock = UINT64_MAX;

/// Inclusive block interval [start, end].
struct BlockInterval {
  BlockNumber start = 0;
  BlockNumber end = kMaxBlock;
  friend bool operator==(const BlockInterval&, const BlockInterval&) = default;
};

/// \brief A 32-byte block hash. Text form: "0x" + 64 lowercase hex digits.
struct BlockHash {
  std::array<uint8_t, 32> bytes{};

  /// Parses "0x"-prefixed (or bare) 64-digit hex, either case. Anything else is Invalid.
  static Result<BlockHash> FromHex(std::string_view text);
  std::string ToHex() const;
  bool IsZero() const;
  friend bool operator==(const BlockHash&, const BlockHash&) = default;
  friend auto operator<=>(const BlockHash&, const BlockHash&) = default;
};

/// \brief An inclusive block range [start, end] on one network, with the hash of `end`
/// and the hash of the parent of `start` (all zero for genesis).
struct BlockRange {
  std::string network;
  BlockNumber start = 0;
  BlockNumber end = 0;
  BlockHash hash;
  BlockHash prev_hash;
  std::optional<uint64_t> timestamp;  ///< Unix seconds of the end block, when known.

  uint64_t num_blocks() const { return end - start + 1; }
  bool Contains(BlockNumber n) const { return n >= start && n <= end; }
  friend bool operator==(const BlockRange&, const BlockRange&) = default;
  std::string ToString() const;  ///< e.g. "mainnet[10..=19]"
};

/// \brief The parsed app_metadata of one Flight message.
struct BatchMetadata {
  std::vector<BlockRange> ranges;
  bool ranges_complete = false;
};

/// \brief Where a network's stream resumes: the last completed block and its hash.
struct NetworkCursor {
  BlockNumber number = 0;
  BlockHash hash;
  friend bool operator==(const NetworkCursor&, const NetworkCursor&) = default;
};

/// \brief The `amp-resume` cursor: network -> last completed block.
///
/// Build it from the last batch with ranges_complete = true (number = range.end,
/// hash = range.hash). JSON form: {"mainnet":{"number":2,"hash":"0x…"}}.
struct Cursor {
  std::map<std::string, NetworkCursor> networks;

  static Cursor FromRanges(const std::vector<BlockRange>& ranges);
  static Result<Cursor> FromJson(std::string_view json);
  std::string ToJson() const;
  bool empty() const { return networks.empty(); }
  friend bool operator==(const Cursor&, const Cursor&) = default;
};

}  // namespace amp
