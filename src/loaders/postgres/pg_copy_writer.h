// Arrow record batches -> PostgreSQL binary COPY data (`COPY ... FROM STDIN WITH (FORMAT
// binary)`), encoded straight from the Arrow buffers: no per-value text formatting, no
// intermediate rows.
//
// Stream layout (PostgreSQL docs, "COPY: Binary Format"): the 19-byte header
// "PGCOPY\n\377\r\n\0" + int32 flags 0 + int32 extension length 0; per row an int16 field
// count, then per field an int32 byte length (-1 = NULL) and the value in the type's
// binary send format, all integers big-endian; the int16 -1 trailer.
//
// Per-type value formats (PgKind):
//   bool 1 byte; int2/int4/int8; float4/float8 IEEE bits; text and bytea raw bytes;
//   numeric: int16 ndigits, int16 weight, int16 sign (0 / 0x4000), int16 dscale, then
//     ndigits base-10000 digits (most significant first), built from Decimal32..256 and
//     UInt64 with exact integer arithmetic (no overflow, no rounding);
//   timestamp/timestamptz: int64 microseconds since 2000-01-01, nanoseconds truncated
//     towards negative infinity (floor), so -1 ns is 1969-12-31 23:59:59.999999;
//   date: int32 days since 2000-01-01; time: int64 microseconds since midnight;
//   jsonb: version byte 1 + JSON text (see pg_types.h for what becomes jsonb);
//   arrays: int32 ndim (1, or 0 when empty), int32 has-null flag, int32 element OID,
//     per dimension int32 size + int32 lower bound 1, then the elements as fields.
// Every row also gets the two int8 fields `_amp_block_start`, `_amp_block_end`.
//
//   CopyBuffer buffer;
//   AMP_RETURN_NOT_OK(WriteCopyData(batch, columns, tags, 1 << 20, &buffer,
//       [&](std::string_view chunk) { return PutCopyData(conn, chunk); }));
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"
#include "loaders/postgres/pg_types.h"

namespace arrow {
class Array;
class RecordBatch;
}  // namespace arrow

namespace amp::postgres {

/// \brief A growable byte buffer with big-endian writers, reused across batches so a load
/// allocates its COPY buffer once.
class CopyBuffer {
 public:
  CopyBuffer() = default;
  CopyBuffer(const CopyBuffer&) = delete;
  CopyBuffer& operator=(const CopyBuffer&) = delete;

  size_t size() const { return size_; }
  const uint8_t* data() const { return data_.get(); }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_.get()), size_};
  }
  void Clear() { size_ = 0; }

  /// Returns a pointer to `n` new bytes at the end (valid until the next append).
  uint8_t* Extend(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    uint8_t* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  void PutBytes(const void* bytes, size_t n) {
    if (n > 0) std::memcpy(Extend(n), bytes, n);
  }
  void PutUInt8(uint8_t v) { *Extend(1) = v; }
  void PutInt16(int16_t v) { PutBigEndian(static_cast<uint16_t>(v)); }
  void PutInt32(int32_t v) { PutBigEndian(static_cast<uint32_t>(v)); }
  void PutInt64(int64_t v) { PutBigEndian(static_cast<uint64_t>(v)); }
  /// Overwrites 4 bytes at `offset` (a length placeholder written earlier).
  void PatchInt32(size_t offset, int32_t v) {
    uint32_t be = __builtin_bswap32(static_cast<uint32_t>(v));
    std::memcpy(data_.get() + offset, &be, 4);
  }

 private:
  void PutBigEndian(uint16_t v) {
    v = __builtin_bswap16(v);
    std::memcpy(Extend(2), &v, 2);
  }
  void PutBigEndian(uint32_t v) {
    v = __builtin_bswap32(v);
    std::memcpy(Extend(4), &v, 4);
  }
  void PutBigEndian(uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(Extend(8), &v, 8);
  }
  void Grow(size_t min_capacity);

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

/// One COPY column: which batch column, encoded as which PostgreSQL type.
struct CopyColumn {
  int batch_index = 0;
  PgType type;
};

/// Where the `_amp_block_start` / `_amp_block_end` fields of each row come from: the
/// integer column `per_row` (both fields = that row's value) when set, else the fixed
/// microbatch range. Values must fit in bigint.
struct BlockTags {
  const arrow::Array* per_row = nullptr;
  uint64_t start = 0;
  uint64_t end = 0;
};

/// Appends the binary COPY header / trailer.
void AppendCopyHeader(CopyBuffer* out);
void AppendCopyTrailer(CopyBuffer* out);

/// Encodes the header, every row of `batch` (fields in `columns` order, then the two block
/// fields) and the trailer into `buffer`, handing it to `sink` (and clearing it) whenever
/// it holds at least `chunk_bytes`, and once more at the end. Rows are never split across
/// chunks' boundaries on purpose, but nothing relies on that (COPY data is a byte stream).
///
/// Errors (Invalid, naming the column and row): a value the destination type cannot hold
/// (timestamp/date beyond int64 microseconds / int32 days, a block number above 2^63-1,
/// a null block number), a column whose Arrow type does not match its CopyColumn type.
/// The sink's error is returned as is.
Status WriteCopyData(const arrow::RecordBatch& batch, const std::vector<CopyColumn>& columns,
                     const BlockTags& tags, size_t chunk_bytes, CopyBuffer* buffer,
                     const std::function<Status(std::string_view)>& sink);

/// The rows of `batch` only (no header, no trailer), for a COPY that spans several
/// batches: appended to whatever `buffer` already holds (e.g. the header of a COPY just
/// started), handed to `sink` whenever it holds at least `chunk_bytes` and once more at
/// the end if anything is left, so `buffer` is empty on success. Errors as WriteCopyData.
Status WriteCopyRows(const arrow::RecordBatch& batch, const std::vector<CopyColumn>& columns,
                     const BlockTags& tags, size_t chunk_bytes, CopyBuffer* buffer,
                     const std::function<Status(std::string_view)>& sink);

/// Appends the numeric binary value (without the length prefix) of
/// sign * magnitude * 10^-scale; `magnitude` is little-endian 64-bit limbs. Exposed for
/// tests.
void AppendNumericValue(const uint64_t* magnitude, int num_limbs, bool negative,
                        int32_t scale, CopyBuffer* out);

}  // namespace amp::postgres
