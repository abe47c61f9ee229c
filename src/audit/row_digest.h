// Row digests for `ampsync audit` (amp/audit.h): a 128-bit hash of each row's canonical
// encoding, folded per block into an order-independent digest, and the verdict that
// compares a block's source and destination digests.
//
// Canonical encoding (self-delimiting, so no two different rows encode alike): per value a
// tag byte, then the value:
//   null 0x00 | bool 'b' u8 | signed integers 'i' int64 | unsigned 'u' uint64 |
//   floats 'f' float64 bits (half/float widened exactly; every NaN one NaN, -0.0 as 0.0) |
//   decimals 'd' int32 scale + 256-bit two's complement | strings 's' u64 length + bytes |
//   binary and fixed-size binary 'B' u64 length + bytes | timestamp 't' unit + int64 (the
//   zone is ignored: the instant counts) | date32 'D' int64 days | date64 'M' int64 ms |
//   time32/64 'T' unit + int64 | duration 'R' unit + int64 | lists of any kind 'L' u64
//   count + elements | struct 'S' u32 count + (u64 name length + name + value) per field |
//   map 'P' u64 count + (key, value) per entry | dictionary and extension: their values |
//   anything else 'X' + type name + the value's text.
// All integers little-endian. Row hash: XXH3-128 of the concatenated column encodings.
//
//   std::map<BlockNumber, BlockDigest> digests;
//   AMP_RETURN_NOT_OK(AccumulateBlocks(batch, {"block_num", "hash"}, "block_num",
//                                      {0, 99}, &digests));
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"
#include "amp/types.h"

namespace arrow {
class Array;
class RecordBatch;
}  // namespace arrow

namespace amp::audit {

using Hash128 = unsigned __int128;

/// \brief Order-independent digest of a multiset of rows: count, and sum and xor of the
/// rows' 128-bit hashes (both mod 2^128).
struct BlockDigest {
  uint64_t rows = 0;
  Hash128 sum = 0;
  Hash128 xor_all = 0;

  void Add(Hash128 row_hash) {
    ++rows;
    sum += row_hash;
    xor_all ^= row_hash;
  }
  friend bool operator==(const BlockDigest&, const BlockDigest&) = default;
};

enum class BlockVerdict {
  kMatch,      ///< Same rows (or no rows on either side).
  kMissing,    ///< Source rows, no destination rows.
  kDuplicate,  ///< The destination holds the source's multiset k > 1 times.
  kStale,      ///< Anything else.
};

/// The verdict for one block; a null digest means that side has no rows for the block.
/// Duplicate: destination count = k * source count (k > 1), sum = k * source sum and
/// xor = source xor for odd k, 0 for even k.
BlockVerdict Compare(const BlockDigest* source, const BlockDigest* destination);

/// \brief Hashes whole rows of a fixed list of columns (the arrays must outlive it).
class RowHasher {
 public:
  /// TypeError for a column type it cannot encode (none today: unknown types fall back to
  /// their text form).
  static Result<std::unique_ptr<RowHasher>> Make(
      const std::vector<std::shared_ptr<arrow::Array>>& columns);
  ~RowHasher();
  Hash128 Hash(int64_t row);

  class Impl;

 private:
  explicit RowHasher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Block numbers of an integer column as uint64 (Invalid on a null or a negative value,
/// TypeError for a non-integer column).
Result<std::vector<BlockNumber>> BlockNumbers(const arrow::Array& column);

/// Adds the rows of `batch` whose block (column `block_column`) lies in `keep` to
/// `digests`, hashing the columns named in `columns`, in that order. KeyError naming a
/// column the batch lacks.
Status AccumulateBlocks(const arrow::RecordBatch& batch, const std::vector<std::string>& columns,
                        const std::string& block_column, const BlockInterval& keep,
                        std::map<BlockNumber, BlockDigest>* digests);

}  // namespace amp::audit
