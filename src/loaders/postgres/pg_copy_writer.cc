#include "loaders/postgres/pg_copy_writer.h"

#include <arrow/array.h>
#include <arrow/extension_type.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/float16.h>
#include <arrow/visit_type_inline.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "loaders/common/value_codec.h"

namespace amp::postgres {
namespace {

using loaders::FloorDiv;

// PostgreSQL's epoch (2000-01-01 00:00:00 UTC) relative to the Unix epoch.
constexpr int64_t kPgEpochUnixDays = 10957;
constexpr int64_t kPgEpochUnixMicros = kPgEpochUnixDays * 86400LL * 1000000LL;
constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

// ---------------------------------------------------------------------------------------
// Exact integer -> numeric digits.

constexpr int kMaxLimbs = 6;    // 256-bit magnitude + alignment multiply, with room to spare
constexpr int kMaxGroups = 48;  // base-10000 digits of a 384-bit number

void MulSmall(uint64_t* limbs, int* n, uint64_t m) {
  unsigned __int128 carry = 0;
  for (int k = 0; k < *n; ++k) {
    unsigned __int128 p = static_cast<unsigned __int128>(limbs[k]) * m + carry;
    limbs[k] = static_cast<uint64_t>(p);
    carry = p >> 64;
  }
  if (carry != 0) limbs[(*n)++] = static_cast<uint64_t>(carry);
}

// Divides in place by d (< 2^64); returns the remainder and trims zero top limbs.
uint64_t DivSmall(uint64_t* limbs, int* n, uint64_t d) {
  unsigned __int128 rem = 0;
  for (int k = *n - 1; k >= 0; --k) {
    unsigned __int128 cur = (rem << 64) | limbs[k];
    limbs[k] = static_cast<uint64_t>(cur / d);
    rem = cur % d;
  }
  while (*n > 0 && limbs[*n - 1] == 0) --*n;
  return static_cast<uint64_t>(rem);
}

}  // namespace

void AppendNumericValue(const uint64_t* magnitude, int num_limbs, bool negative,
                        int32_t scale, CopyBuffer* out) {
  uint64_t limbs[kMaxLimbs + 1] = {};
  int n = std::min(num_limbs, kMaxLimbs);
  std::copy(magnitude, magnitude + n, limbs);
  while (n > 0 && limbs[n - 1] == 0) --n;
  const int16_t dscale = static_cast<int16_t>(scale > 0 ? scale : 0);
  if (n == 0) {
    out->PutInt16(0);  // ndigits
    out->PutInt16(0);  // weight
    out->PutInt16(0);  // sign: zero is positive
    out->PutInt16(dscale);
    return;
  }
  if (n == 1 && scale == 0) {
    // The common case (block numbers, nonces, gas): an integer below 2^64, at most five
    // base-10000 digits, written with one buffer extension.
    uint16_t groups[5];  // least significant first
    int ng = 0;
    for (uint64_t v = limbs[0]; v != 0; v /= 10000) {
      groups[ng++] = static_cast<uint16_t>(v % 10000);
    }
    int first = 0;
    while (groups[first] == 0) ++first;  // trailing zero digits carry no information
    const int ndigits = ng - first;
    uint8_t* p = out->Extend(8 + 2 * static_cast<size_t>(ndigits));
    auto put16 = [&p](uint16_t v) {
      p[0] = static_cast<uint8_t>(v >> 8);
      p[1] = static_cast<uint8_t>(v);
      p += 2;
    };
    put16(static_cast<uint16_t>(ndigits));
    put16(static_cast<uint16_t>(ng - 1));  // weight
    put16(negative ? 0x4000 : 0);
    put16(0);  // dscale
    for (int k = ng - 1; k >= first; --k) put16(groups[k]);
    return;
  }
  // Digits are base 10000 aligned on the decimal point: scale the magnitude by 10^pad so
  // the fractional part is a whole number of groups (or, for negative scales, so the
  // implied trailing zeros are).
  static constexpr uint64_t kPow10[] = {1, 10, 100, 1000};
  int pad, frac_groups;
  if (scale > 0) {
    pad = (4 - scale % 4) % 4;
    frac_groups = (scale + pad) / 4;
  } else {
    pad = (-scale) % 4;
    frac_groups = -((-scale) / 4);
  }
  if (pad != 0) MulSmall(limbs, &n, kPow10[pad]);

  uint16_t groups[kMaxGroups];  // least significant first
  int ng = 0;
  while (n > 1) {
    // 10^16 = 10000^4: one wide division yields four digits.
    uint64_t rem = DivSmall(limbs, &n, 10000000000000000ULL);
    for (int k = 0; k < 4; ++k) {
      groups[ng++] = static_cast<uint16_t>(rem % 10000);
      rem /= 10000;
    }
  }
  for (uint64_t v = n == 1 ? limbs[0] : 0; v != 0; v /= 10000) {
    groups[ng++] = static_cast<uint16_t>(v % 10000);
  }
  while (ng > 0 && groups[ng - 1] == 0) --ng;  // zero groups above the top digit
  const int weight = ng - 1 - frac_groups;
  int first = 0;
  while (groups[first] == 0) ++first;  // trailing zero digits carry no information
  out->PutInt16(static_cast<int16_t>(ng - first));
  out->PutInt16(static_cast<int16_t>(weight));
  out->PutInt16(negative ? 0x4000 : 0);
  out->PutInt16(dscale);
  for (int k = ng - 1; k >= first; --k) out->PutInt16(static_cast<int16_t>(groups[k]));
}

void CopyBuffer::Grow(size_t min_capacity) {
  size_t capacity = std::max<size_t>(capacity_ * 2, 64 * 1024);
  while (capacity < min_capacity) capacity *= 2;
  auto next = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  if (size_ > 0) std::memcpy(next.get(), data_.get(), size_);
  data_ = std::move(next);
  capacity_ = capacity;
}

void AppendCopyHeader(CopyBuffer* out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // + the terminating NUL
  out->PutBytes(kSignature, sizeof(kSignature));
  out->PutInt32(0);  // flags: no OIDs
  out->PutInt32(0);  // header extension length
}

void AppendCopyTrailer(CopyBuffer* out) { out->PutInt16(-1); }

namespace {

// ---------------------------------------------------------------------------------------
// Field encoders: one per column (and per list child), built per batch.

class FieldEncoder {
 public:
  virtual ~FieldEncoder() = default;
  virtual bool IsNull(int64_t i) const = 0;
  /// Appends the field: int32 length + value, or -1 for NULL.
  virtual Status Encode(int64_t i, CopyBuffer* out) = 0;
};

using EncoderPtr = std::unique_ptr<FieldEncoder>;

// Null handling shared by the encoders of plain (non-dictionary) arrays; Derived
// implements EncodeValue(i, out) for non-null rows (length prefix included).
template <typename Derived>
class EncoderBase : public FieldEncoder {
 public:
  // These arrays (never null-typed, union or run-end encoded) say null only through their
  // validity bitmap: read it inline (Array::IsNull is an out-of-line call per value), and
  // not at all when the batch has no nulls in this column.
  explicit EncoderBase(const arrow::Array& array)
      : array_(array),
        validity_(array.null_count() > 0 ? array.null_bitmap_data() : nullptr),
        offset_(array.offset()) {}
  bool IsNull(int64_t i) const final {
    return validity_ != nullptr && !arrow::bit_util::GetBit(validity_, offset_ + i);
  }
  Status Encode(int64_t i, CopyBuffer* out) final {
    if (IsNull(i)) {
      out->PutInt32(-1);
      return Status::OK();
    }
    return static_cast<Derived*>(this)->EncodeValue(i, out);
  }

 protected:
  const arrow::Array& array_;
  const uint8_t* validity_;
  int64_t offset_;
};

// Encoders of fixed-width values (integers, floats, temporal counts) read `values_[i]`.
template <typename Derived, typename CType>
class ValuesEncoder : public EncoderBase<Derived> {
 public:
  explicit ValuesEncoder(const arrow::Array& a)
      : EncoderBase<Derived>(a), values_(a.data()->GetValues<CType>(1)) {}

 protected:
  const CType* values_;
};

class NullEncoder final : public FieldEncoder {
 public:
  bool IsNull(int64_t) const override { return true; }
  Status Encode(int64_t, CopyBuffer* out) override {
    out->PutInt32(-1);
    return Status::OK();
  }
};

class BoolEncoder final : public EncoderBase<BoolEncoder> {
 public:
  explicit BoolEncoder(const arrow::Array& a)
      : EncoderBase(a), bools_(static_cast<const arrow::BooleanArray&>(a)) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    out->PutInt32(1);
    out->PutUInt8(bools_.Value(i) ? 1 : 0);
    return Status::OK();
  }

 private:
  const arrow::BooleanArray& bools_;
};

template <typename PgInt>
void PutInt(PgInt v, CopyBuffer* out) {
  if constexpr (sizeof(PgInt) == 2) {
    out->PutInt16(v);
  } else if constexpr (sizeof(PgInt) == 4) {
    out->PutInt32(v);
  } else {
    out->PutInt64(v);
  }
}

// Arrow integer CType -> PostgreSQL integer PgInt (always widening or equal).
template <typename CType, typename PgInt>
class IntEncoder final : public ValuesEncoder<IntEncoder<CType, PgInt>, CType> {
 public:
  using ValuesEncoder<IntEncoder<CType, PgInt>, CType>::ValuesEncoder;
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    out->PutInt32(sizeof(PgInt));
    PutInt<PgInt>(static_cast<PgInt>(this->values_[i]), out);
    return Status::OK();
  }
};

template <typename CType>
class FloatEncoder final : public ValuesEncoder<FloatEncoder<CType>, CType> {
 public:
  using ValuesEncoder<FloatEncoder<CType>, CType>::ValuesEncoder;
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    if constexpr (std::is_same_v<CType, double>) {
      out->PutInt32(8);
      out->PutInt64(std::bit_cast<int64_t>(this->values_[i]));
    } else if constexpr (std::is_same_v<CType, float>) {
      out->PutInt32(4);
      out->PutInt32(std::bit_cast<int32_t>(this->values_[i]));
    } else {  // uint16_t half-float bits -> float4
      float f = arrow::util::Float16::FromBits(this->values_[i]).ToFloat();
      out->PutInt32(4);
      out->PutInt32(std::bit_cast<int32_t>(f));
    }
    return Status::OK();
  }
};

// text and bytea: the value's bytes as they are.
template <typename ArrayType>
class BytesEncoder final : public EncoderBase<BytesEncoder<ArrayType>> {
 public:
  explicit BytesEncoder(const arrow::Array& a)
      : EncoderBase<BytesEncoder<ArrayType>>(a), typed_(static_cast<const ArrayType&>(a)) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    std::string_view v = typed_.GetView(i);
    if (v.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::Invalid("value of ", v.size(), " bytes exceeds the 2 GiB field limit");
    }
    out->PutInt32(static_cast<int32_t>(v.size()));
    out->PutBytes(v.data(), v.size());
    return Status::OK();
  }

 private:
  const ArrayType& typed_;
};

class UInt64NumericEncoder final : public ValuesEncoder<UInt64NumericEncoder, uint64_t> {
 public:
  using ValuesEncoder<UInt64NumericEncoder, uint64_t>::ValuesEncoder;
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    // Length first: patch it once the digit count is known.
    size_t at = out->size();
    out->PutInt32(0);
    uint64_t v = values_[i];
    AppendNumericValue(&v, 1, false, 0, out);
    out->PatchInt32(at, static_cast<int32_t>(out->size() - at - 4));
    return Status::OK();
  }
};

// Decimal32/64/128/256 (little-endian two's complement of `width` bytes) -> numeric.
class DecimalEncoder final : public EncoderBase<DecimalEncoder> {
 public:
  explicit DecimalEncoder(const arrow::Array& a)
      : EncoderBase(a),
        fixed_(static_cast<const arrow::FixedSizeBinaryArray&>(a)),
        width_(fixed_.byte_width()),
        scale_(static_cast<const arrow::DecimalType&>(*a.type()).scale()) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    const uint8_t* bytes = fixed_.GetValue(i);
    uint64_t limbs[4] = {};
    int n = 0;
    bool negative = false;
    if (width_ == 4 || width_ == 8) {
      int64_t v;
      if (width_ == 4) {
        int32_t v32;
        std::memcpy(&v32, bytes, 4);
        v = v32;
      } else {
        std::memcpy(&v, bytes, 8);
      }
      negative = v < 0;
      limbs[0] = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
      n = 1;
    } else {
      n = width_ / 8;
      std::memcpy(limbs, bytes, width_);
      negative = (limbs[n - 1] >> 63) != 0;
      if (negative) {  // two's complement negate: invert and add one
        bool carry = true;
        for (int k = 0; k < n; ++k) {
          limbs[k] = ~limbs[k];
          if (carry) {
            limbs[k] += 1;
            carry = limbs[k] == 0;
          }
        }
      }
    }
    size_t at = out->size();
    out->PutInt32(0);
    AppendNumericValue(limbs, n, negative, scale_, out);
    out->PatchInt32(at, static_cast<int32_t>(out->size() - at - 4));
    return Status::OK();
  }

 private:
  const arrow::FixedSizeBinaryArray& fixed_;
  const int width_;
  const int32_t scale_;
};

// Timestamps, dates and times: an integer in some unit -> PostgreSQL microseconds/days.
Status OutOfRange(const char* what, int64_t v) {
  return Status::Invalid(what, " value ", v, " is outside the PostgreSQL range");
}

// Arrow timestamp in `unit` since the Unix epoch -> microseconds since 2000-01-01.
Result<int64_t> ToPgMicros(int64_t v, arrow::TimeUnit::type unit) {
  int64_t us = 0;
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      if (__builtin_mul_overflow(v, int64_t{1000000}, &us)) return OutOfRange("timestamp", v);
      break;
    case arrow::TimeUnit::MILLI:
      if (__builtin_mul_overflow(v, int64_t{1000}, &us)) return OutOfRange("timestamp", v);
      break;
    case arrow::TimeUnit::MICRO: us = v; break;
    case arrow::TimeUnit::NANO: us = FloorDiv(v, 1000); break;
  }
  int64_t pg;
  if (__builtin_sub_overflow(us, kPgEpochUnixMicros, &pg)) return OutOfRange("timestamp", v);
  return pg;
}

class TimestampEncoder final : public ValuesEncoder<TimestampEncoder, int64_t> {
 public:
  explicit TimestampEncoder(const arrow::Array& a)
      : ValuesEncoder<TimestampEncoder, int64_t>(a),
        unit_(static_cast<const arrow::TimestampType&>(*a.type()).unit()) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    AMP_ASSIGN_OR_RETURN(int64_t pg, ToPgMicros(values_[i], unit_));
    out->PutInt32(8);
    out->PutInt64(pg);
    return Status::OK();
  }

 private:
  const arrow::TimeUnit::type unit_;
};

template <typename CType>
class DateEncoder final : public ValuesEncoder<DateEncoder<CType>, CType> {
 public:
  using ValuesEncoder<DateEncoder<CType>, CType>::ValuesEncoder;
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    int64_t days = this->values_[i];  // date32: days
    if constexpr (std::is_same_v<CType, int64_t>) days = FloorDiv(days, 86400000);  // date64
    days -= kPgEpochUnixDays;
    if (days < std::numeric_limits<int32_t>::min() ||
        days > std::numeric_limits<int32_t>::max()) {
      return OutOfRange("date", static_cast<int64_t>(this->values_[i]));
    }
    out->PutInt32(4);
    out->PutInt32(static_cast<int32_t>(days));
    return Status::OK();
  }
};

template <typename CType>
class TimeEncoder final : public ValuesEncoder<TimeEncoder<CType>, CType> {
 public:
  explicit TimeEncoder(const arrow::Array& a)
      : ValuesEncoder<TimeEncoder<CType>, CType>(a),
        unit_(static_cast<const arrow::TimeType&>(*a.type()).unit()) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    int64_t v = this->values_[i];
    int64_t us = 0;
    switch (unit_) {
      case arrow::TimeUnit::SECOND: us = v * 1000000; break;
      case arrow::TimeUnit::MILLI: us = v * 1000; break;
      case arrow::TimeUnit::MICRO: us = v; break;
      case arrow::TimeUnit::NANO: us = FloorDiv(v, 1000); break;
    }
    if (us < 0 || us > kMicrosPerDay) return OutOfRange("time", v);
    out->PutInt32(8);
    out->PutInt64(us);
    return Status::OK();
  }

 private:
  const arrow::TimeUnit::type unit_;
};

// ---------------------------------------------------------------------------------------
// jsonb (structs, lists of structs, nested lists): the shared codec's PostgreSQL dialect.

class JsonbEncoder final : public FieldEncoder {
 public:
  explicit JsonbEncoder(const arrow::Array& array) : array_(array) {}
  bool IsNull(int64_t i) const override { return loaders::IsNullValue(array_, i); }
  Status Encode(int64_t i, CopyBuffer* out) override {
    if (IsNull(i)) {
      out->PutInt32(-1);
      return Status::OK();
    }
    scratch_.clear();
    loaders::AppendJson(array_, i, loaders::kPostgresJsonb, &scratch_);
    if (scratch_.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::Invalid("JSON value of ", scratch_.size(), " bytes is too large");
    }
    out->PutInt32(static_cast<int32_t>(scratch_.size() + 1));
    out->PutUInt8(1);  // jsonb binary format version
    out->PutBytes(scratch_.data(), scratch_.size());
    return Status::OK();
  }

  static Result<EncoderPtr> Make(const arrow::Array& array) {
    AMP_RETURN_NOT_OK(loaders::CheckJsonWritable(*array.type(), loaders::kPostgresJsonb));
    return std::make_unique<JsonbEncoder>(array);
  }

 private:
  const arrow::Array& array_;
  std::string scratch_;
};

// ---------------------------------------------------------------------------------------
// Arrays, dictionaries, dispatch.

Result<EncoderPtr> MakeFieldEncoder(const arrow::Array& array, PgKind kind,
                                    uint32_t element_oid, PgKind element_kind);

template <typename ListType>
class ArrayEncoder final : public EncoderBase<ArrayEncoder<ListType>> {
 public:
  ArrayEncoder(const arrow::Array& a, EncoderPtr child, uint32_t element_oid)
      : EncoderBase<ArrayEncoder<ListType>>(a),
        list_(static_cast<const ListType&>(a)),
        child_(std::move(child)),
        element_oid_(element_oid) {}
  Status EncodeValue(int64_t i, CopyBuffer* out) {
    const int64_t start = list_.value_offset(i);
    const int64_t length = list_.value_length(i);
    if (length > std::numeric_limits<int32_t>::max()) {
      return Status::Invalid("list of ", length, " elements is too long");
    }
    const size_t at = out->size();
    out->PutInt32(0);  // length, patched below
    if (length == 0) {
      out->PutInt32(0);  // ndim 0: the empty array
      out->PutInt32(0);
      out->PutInt32(static_cast<int32_t>(element_oid_));
    } else {
      bool has_null = false;
      for (int64_t j = 0; j < length && !has_null; ++j) has_null = child_->IsNull(start + j);
      out->PutInt32(1);
      out->PutInt32(has_null ? 1 : 0);
      out->PutInt32(static_cast<int32_t>(element_oid_));
      out->PutInt32(static_cast<int32_t>(length));
      out->PutInt32(1);  // lower bound
      for (int64_t j = 0; j < length; ++j) AMP_RETURN_NOT_OK(child_->Encode(start + j, out));
    }
    const size_t body = out->size() - at - 4;
    if (body > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::Invalid("array value of ", body, " bytes is too large");
    }
    out->PatchInt32(at, static_cast<int32_t>(body));
    return Status::OK();
  }

 private:
  const ListType& list_;
  EncoderPtr child_;
  const uint32_t element_oid_;
};

class DictionaryEncoder final : public FieldEncoder {
 public:
  DictionaryEncoder(const arrow::DictionaryArray& a, EncoderPtr values)
      : dict_(a), values_(std::move(values)) {}
  bool IsNull(int64_t i) const override {
    return dict_.IsNull(i) || values_->IsNull(dict_.GetValueIndex(i));
  }
  Status Encode(int64_t i, CopyBuffer* out) override {
    if (dict_.IsNull(i)) {
      out->PutInt32(-1);
      return Status::OK();
    }
    return values_->Encode(dict_.GetValueIndex(i), out);
  }

 private:
  const arrow::DictionaryArray& dict_;
  EncoderPtr values_;
};

Status Mismatch(const arrow::Array& array, PgKind kind) {
  return Status::TypeError("cannot encode Arrow type ", array.type()->ToString(),
                           " as PostgreSQL type #", static_cast<int>(kind));
}

template <typename CType>
Result<EncoderPtr> MakeIntEncoder(const arrow::Array& array, PgKind kind) {
  switch (kind) {
    case PgKind::kInt2:
      if constexpr (sizeof(CType) <= 2 && !(std::is_unsigned_v<CType> && sizeof(CType) == 2)) {
        return std::make_unique<IntEncoder<CType, int16_t>>(array);
      }
      break;
    case PgKind::kInt4:
      if constexpr (sizeof(CType) <= 4 && !(std::is_unsigned_v<CType> && sizeof(CType) == 4)) {
        return std::make_unique<IntEncoder<CType, int32_t>>(array);
      }
      break;
    case PgKind::kInt8:
      if constexpr (sizeof(CType) <= 8 && !(std::is_unsigned_v<CType> && sizeof(CType) == 8)) {
        return std::make_unique<IntEncoder<CType, int64_t>>(array);
      }
      break;
    case PgKind::kNumeric:
      if constexpr (std::is_same_v<CType, uint64_t>) {
        return std::make_unique<UInt64NumericEncoder>(array);
      }
      break;
    default: break;
  }
  return Mismatch(array, kind);
}

template <typename ListType>
Result<EncoderPtr> MakeListEncoder(const arrow::Array& array, PgKind kind,
                                   uint32_t element_oid, PgKind element_kind) {
  const auto& list = static_cast<const ListType&>(array);
  if (kind == PgKind::kArray) {
    AMP_ASSIGN_OR_RETURN(auto child, MakeFieldEncoder(*list.values(), element_kind, 0,
                                                      PgKind::kText));
    return std::make_unique<ArrayEncoder<ListType>>(array, std::move(child), element_oid);
  }
  if (kind == PgKind::kJsonb) return JsonbEncoder::Make(array);
  return Mismatch(array, kind);
}

template <typename Encoder>
Result<EncoderPtr> Expect(const arrow::Array& array, PgKind kind, PgKind want) {
  if (kind != want) return Mismatch(array, kind);
  return std::make_unique<Encoder>(array);
}

// text from the string types, bytea from the binary ones.
Result<EncoderPtr> MakeBytesEncoder(const arrow::Array& array, PgKind kind) {
  return arrow::VisitType(*array.type(), [&](const auto& type) -> Result<EncoderPtr> {
    using T = std::decay_t<decltype(type)>;
    if constexpr (IsBytesType<T>()) {
      return Expect<BytesEncoder<typename arrow::TypeTraits<T>::ArrayType>>(
          array, kind, IsTextType<T>() ? PgKind::kText : PgKind::kBytea);
    } else {
      return Mismatch(array, kind);
    }
  });
}

Result<EncoderPtr> MakeFieldEncoder(const arrow::Array& array, PgKind kind,
                                    uint32_t element_oid, PgKind element_kind) {
  using arrow::Type;
  if (IsBytesTypeId(array.type_id())) return MakeBytesEncoder(array, kind);
  switch (array.type_id()) {
    case Type::NA: return std::make_unique<NullEncoder>();
    case Type::BOOL: return Expect<BoolEncoder>(array, kind, PgKind::kBool);
    case Type::INT8: return MakeIntEncoder<int8_t>(array, kind);
    case Type::INT16: return MakeIntEncoder<int16_t>(array, kind);
    case Type::INT32: return MakeIntEncoder<int32_t>(array, kind);
    case Type::INT64: return MakeIntEncoder<int64_t>(array, kind);
    case Type::UINT8: return MakeIntEncoder<uint8_t>(array, kind);
    case Type::UINT16: return MakeIntEncoder<uint16_t>(array, kind);
    case Type::UINT32: return MakeIntEncoder<uint32_t>(array, kind);
    case Type::UINT64: return MakeIntEncoder<uint64_t>(array, kind);
    case Type::HALF_FLOAT: return Expect<FloatEncoder<uint16_t>>(array, kind, PgKind::kFloat4);
    case Type::FLOAT: return Expect<FloatEncoder<float>>(array, kind, PgKind::kFloat4);
    case Type::DOUBLE: return Expect<FloatEncoder<double>>(array, kind, PgKind::kFloat8);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: return Expect<DecimalEncoder>(array, kind, PgKind::kNumeric);
    case Type::TIMESTAMP:
      if (kind != PgKind::kTimestamp && kind != PgKind::kTimestamptz) {
        return Mismatch(array, kind);
      }
      return std::make_unique<TimestampEncoder>(array);
    case Type::DATE32: return Expect<DateEncoder<int32_t>>(array, kind, PgKind::kDate);
    case Type::DATE64: return Expect<DateEncoder<int64_t>>(array, kind, PgKind::kDate);
    case Type::TIME32: return Expect<TimeEncoder<int32_t>>(array, kind, PgKind::kTime);
    case Type::TIME64: return Expect<TimeEncoder<int64_t>>(array, kind, PgKind::kTime);
    case Type::LIST:
      return MakeListEncoder<arrow::ListArray>(array, kind, element_oid, element_kind);
    case Type::LARGE_LIST:
      return MakeListEncoder<arrow::LargeListArray>(array, kind, element_oid, element_kind);
    case Type::FIXED_SIZE_LIST:
      return MakeListEncoder<arrow::FixedSizeListArray>(array, kind, element_oid,
                                                        element_kind);
    case Type::LIST_VIEW:
      return MakeListEncoder<arrow::ListViewArray>(array, kind, element_oid, element_kind);
    case Type::LARGE_LIST_VIEW:
      return MakeListEncoder<arrow::LargeListViewArray>(array, kind, element_oid,
                                                        element_kind);
    case Type::STRUCT:
      if (kind != PgKind::kJsonb) return Mismatch(array, kind);
      return JsonbEncoder::Make(array);
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      AMP_ASSIGN_OR_RETURN(auto values,
                           MakeFieldEncoder(*dict.dictionary(), kind, element_oid, element_kind));
      return std::make_unique<DictionaryEncoder>(dict, std::move(values));
    }
    case Type::EXTENSION:
      return MakeFieldEncoder(*static_cast<const arrow::ExtensionArray&>(array).storage(),
                              kind, element_oid, element_kind);
    default: return Mismatch(array, kind);
  }
}

// The per-row block numbers, as bigint.
Result<std::vector<int64_t>> ReadBlockColumn(const arrow::Array& array) {
  std::vector<int64_t> out(static_cast<size_t>(array.length()));
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  auto fill = [&](auto* typed) -> Status {
    for (int64_t i = 0; i < array.length(); ++i) {
      if (typed->IsNull(i)) return Status::Invalid("null block number in row ", i);
      auto v = typed->Value(i);
      if constexpr (std::is_signed_v<decltype(v)>) {
        if (v < 0) return Status::Invalid("negative block number ", v, " in row ", i);
      }
      if (static_cast<uint64_t>(v) > kMax) {
        return Status::Invalid("block number ", v, " in row ", i, " exceeds 2^63-1");
      }
      out[i] = static_cast<int64_t>(v);
    }
    return Status::OK();
  };
  AMP_RETURN_NOT_OK(arrow::VisitType(*array.type(), [&](const auto& type) -> Status {
    using T = std::decay_t<decltype(type)>;
    if constexpr (std::is_same_v<T, arrow::UInt64Type> || std::is_same_v<T, arrow::Int64Type> ||
                  std::is_same_v<T, arrow::UInt32Type> || std::is_same_v<T, arrow::Int32Type>) {
      return fill(static_cast<const typename arrow::TypeTraits<T>::ArrayType*>(&array));
    } else {
      return Status::TypeError("block column has type ", array.type()->ToString(),
                               ", expected an integer type");
    }
  }));
  return out;
}

// The rows of `batch` appended to `buffer`, handed to `sink` whenever it holds at least
// `chunk_bytes`; what is left at the end stays in `buffer`.
Status EncodeRows(const arrow::RecordBatch& batch, const std::vector<CopyColumn>& columns,
                  const BlockTags& tags, size_t chunk_bytes, CopyBuffer* buffer,
                  const std::function<Status(std::string_view)>& sink) {
  std::vector<EncoderPtr> encoders;
  encoders.reserve(columns.size());
  for (const CopyColumn& col : columns) {
    const arrow::Array& array = *batch.column(col.batch_index);
    auto encoder = MakeFieldEncoder(array, col.type.kind, col.type.element_oid,
                                    col.type.element_kind);
    if (!encoder.ok()) {
      return Status::TypeError("column ",
                               QuoteIdent(batch.schema()->field(col.batch_index)->name()), ": ",
                               encoder.status().message());
    }
    encoders.push_back(std::move(*encoder));
  }
  if (columns.size() + 2 > 1600) {  // MaxHeapAttributeNumber
    return Status::Invalid("too many columns for PostgreSQL: ", columns.size() + 2);
  }
  std::vector<int64_t> per_row;
  int64_t fixed_start = 0, fixed_end = 0;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (tags.per_row != nullptr) {
    auto blocks = ReadBlockColumn(*tags.per_row);
    if (!blocks.ok()) return Status::Invalid("block column: ", blocks.status().message());
    per_row = std::move(*blocks);
  } else {
    if (tags.start > kMax || tags.end > kMax) {
      return Status::Invalid("block range [", tags.start, ", ", tags.end,
                             "] exceeds 2^63-1 (bigint)");
    }
    fixed_start = static_cast<int64_t>(tags.start);
    fixed_end = static_cast<int64_t>(tags.end);
  }

  const int16_t num_fields = static_cast<int16_t>(columns.size() + 2);
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    buffer->PutInt16(num_fields);
    for (size_t c = 0; c < encoders.size(); ++c) {
      Status st = encoders[c]->Encode(row, buffer);
      if (!st.ok()) {
        return Status::Invalid(
            "column ", QuoteIdent(batch.schema()->field(columns[c].batch_index)->name()),
            ", row ", row, ": ", st.message());
      }
    }
    const int64_t start = per_row.empty() ? fixed_start : per_row[row];
    const int64_t end = per_row.empty() ? fixed_end : per_row[row];
    buffer->PutInt32(8);
    buffer->PutInt64(start);
    buffer->PutInt32(8);
    buffer->PutInt64(end);
    if (buffer->size() >= chunk_bytes) {
      AMP_RETURN_NOT_OK(sink(buffer->view()));
      buffer->Clear();
    }
  }
  return Status::OK();
}

}  // namespace

Status WriteCopyData(const arrow::RecordBatch& batch, const std::vector<CopyColumn>& columns,
                     const BlockTags& tags, size_t chunk_bytes, CopyBuffer* buffer,
                     const std::function<Status(std::string_view)>& sink) {
  buffer->Clear();
  AppendCopyHeader(buffer);
  AMP_RETURN_NOT_OK(EncodeRows(batch, columns, tags, chunk_bytes, buffer, sink));
  AppendCopyTrailer(buffer);
  AMP_RETURN_NOT_OK(sink(buffer->view()));
  buffer->Clear();
  return Status::OK();
}

Status WriteCopyRows(const arrow::RecordBatch& batch, const std::vector<CopyColumn>& columns,
                     const BlockTags& tags, size_t chunk_bytes, CopyBuffer* buffer,
                     const std::function<Status(std::string_view)>& sink) {
  AMP_RETURN_NOT_OK(EncodeRows(batch, columns, tags, chunk_bytes, buffer, sink));
  if (buffer->size() > 0) {
    AMP_RETURN_NOT_OK(sink(buffer->view()));
    buffer->Clear();
  }
  return Status::OK();
}

}  // namespace amp::postgres
