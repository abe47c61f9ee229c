#include "loaders/postgres/pg_copy_reader.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/float16.h>
#include <arrow/visit_type_inline.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "loaders/common/value_codec.h"
#include "loaders/postgres/pg_connection.h"
#include "loaders/postgres/pg_error.h"

namespace amp::postgres {
namespace {

using arrow::Type;
using loaders::AppendFromJson;
using loaders::CheckJsonReadable;
using loaders::JsonValue;
using loaders::kPostgresJsonb;
using loaders::ListValueBuilder;
using loaders::ParseJson;
using loaders::Rescaled;
using loaders::RescaleByPowerOfTen;
using loaders::StartList;
using loaders::ToTwosComplement;
using loaders::WideUInt;

constexpr const char* kBlockStart = "_amp_block_start";
constexpr const char* kBlockEnd = "_amp_block_end";
constexpr uint64_t kMaxBigint = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
// Rows per record batch of the result: bounds the builders' reallocation cost.
constexpr int64_t kRowsPerBatch = 64 * 1024;

// PostgreSQL's epoch (2000-01-01 00:00:00 UTC) relative to the Unix epoch.
constexpr int64_t kPgEpochUnixDays = 10957;
constexpr int64_t kPgEpochUnixMicros = kPgEpochUnixDays * 86400LL * 1000000LL;
constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t Be64(const uint8_t* p) { return (uint64_t{Be32(p)} << 32) | Be32(p + 4); }

Status BadLength(int32_t len, int32_t want, const char* what) {
  return Status::Invalid("a ", what, " field of ", len, " bytes (expected ", want, ")");
}

Status Inexact(const std::string& what, const arrow::DataType& type) {
  return Status::Invalid(what, " cannot be represented exactly as ", type.ToString());
}

// Microseconds -> `unit`, exactly (seconds and milliseconds must divide).
Result<int64_t> MicrosToUnit(int64_t us, arrow::TimeUnit::type unit, const arrow::DataType& type) {
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      if (us % 1000000 != 0) return Inexact(std::to_string(us) + " us", type);
      return us / 1000000;
    case arrow::TimeUnit::MILLI:
      if (us % 1000 != 0) return Inexact(std::to_string(us) + " us", type);
      return us / 1000;
    case arrow::TimeUnit::MICRO: return us;
    case arrow::TimeUnit::NANO: {
      int64_t ns;
      if (__builtin_mul_overflow(us, int64_t{1000}, &ns)) {
        return Inexact(std::to_string(us) + " us", type);
      }
      return ns;
    }
  }
  return us;
}

// ---------------------------------------------------------------------------------------
// Exact numeric -> scaled integer.

// The numeric binary value as sign * magnitude * 10^-scale, exactly.
Status DecodeNumeric(const uint8_t* p, int32_t len, int32_t scale, WideUInt* magnitude,
                     bool* negative) {
  if (len < 8) return Status::Invalid("a numeric field of ", len, " bytes");
  const int ndigits = static_cast<int16_t>(Be16(p));
  const int weight = static_cast<int16_t>(Be16(p + 2));
  const uint16_t sign = Be16(p + 4);
  if (ndigits < 0 || len != 8 + 2 * ndigits) {
    return Status::Invalid("a numeric field of ", len, " bytes with ", ndigits, " digits");
  }
  if (sign == 0xC000) return Status::Invalid("numeric NaN has no Arrow decimal value");
  if (sign == 0xD000 || sign == 0xF000) {
    return Status::Invalid("numeric infinity has no Arrow decimal value");
  }
  if (sign != 0 && sign != 0x4000) return Status::Invalid("numeric sign word ", sign);
  *negative = sign == 0x4000;
  *magnitude = WideUInt();
  const Status overflow = Status::Invalid("numeric value is too large");
  for (int k = 0; k < ndigits; ++k) {
    const uint16_t digit = Be16(p + 8 + 2 * k);
    if (digit >= 10000) return Status::Invalid("numeric digit ", digit);
    if (!magnitude->MulAdd(10000, digit)) return overflow;
  }
  // magnitude * 10000^(weight - ndigits + 1) * 10^scale
  switch (RescaleByPowerOfTen(magnitude, 4 * (int64_t{weight} - ndigits + 1) + scale)) {
    case Rescaled::kExact: break;
    case Rescaled::kOverflow: return overflow;
    case Rescaled::kDigitsLost:
      return Status::Invalid("numeric value has more than ", scale, " fractional digits");
  }
  if (magnitude->n == 0) *negative = false;
  return Status::OK();
}

// ---------------------------------------------------------------------------------------
// Field decoders: one per COPY field (and per array element type).

class FieldDecoder {
 public:
  virtual ~FieldDecoder() = default;
  /// Appends one field; `len` < 0 is NULL.
  virtual Status Decode(const uint8_t* p, int32_t len) = 0;
};
using DecoderPtr = std::unique_ptr<FieldDecoder>;

template <typename BuilderT>
class DecoderBase : public FieldDecoder {
 public:
  explicit DecoderBase(arrow::ArrayBuilder* b) : b_(static_cast<BuilderT*>(b)) {}
  Status Decode(const uint8_t* p, int32_t len) final {
    if (len < 0) return b_->AppendNull();
    return Value(p, len);
  }

 protected:
  virtual Status Value(const uint8_t* p, int32_t len) = 0;
  BuilderT* b_;
};

// Decoders that choose among several builder types at run time (Date32/Date64, Time32/64,
// a decimal width, any list or struct): the builder untyped, plus the Arrow type.
class TypedDecoder : public DecoderBase<arrow::ArrayBuilder> {
 public:
  TypedDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type)
      : DecoderBase(b), type_(type) {}

 protected:
  const arrow::DataType& type_;
};

class NullDecoder final : public DecoderBase<arrow::NullBuilder> {
 public:
  using DecoderBase::DecoderBase;
  Status Value(const uint8_t*, int32_t) override {
    return Status::Invalid("a value in a column of Arrow type null");
  }
};

class BoolDecoder final : public DecoderBase<arrow::BooleanBuilder> {
 public:
  using DecoderBase::DecoderBase;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != 1) return BadLength(len, 1, "boolean");
    return b_->Append(p[0] != 0);
  }
};

// smallint/integer/bigint -> any Arrow integer, range-checked.
template <typename ArrowType>
class IntDecoder final : public DecoderBase<arrow::NumericBuilder<ArrowType>> {
  using CType = typename ArrowType::c_type;

 public:
  IntDecoder(arrow::ArrayBuilder* b, int width, const arrow::DataType& type)
      : DecoderBase<arrow::NumericBuilder<ArrowType>>(b), width_(width), type_(type) {}
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != width_) return BadLength(len, width_, "integer");
    int64_t v = width_ == 2   ? static_cast<int16_t>(Be16(p))
                : width_ == 4 ? static_cast<int32_t>(Be32(p))
                              : static_cast<int64_t>(Be64(p));
    if constexpr (std::is_unsigned_v<CType>) {
      if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<CType>::max()) {
        return Inexact(std::to_string(v), type_);
      }
    } else {
      if (v < std::numeric_limits<CType>::min() || v > std::numeric_limits<CType>::max()) {
        return Inexact(std::to_string(v), type_);
      }
    }
    return this->b_->Append(static_cast<CType>(v));
  }

 private:
  const int width_;
  const arrow::DataType& type_;
};

class Float4Decoder final : public FieldDecoder {
 public:
  Float4Decoder(arrow::ArrayBuilder* b, bool half) : b_(b), half_(half) {}
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
    if (len != 4) return BadLength(len, 4, "real");
    const float f = std::bit_cast<float>(Be32(p));
    if (half_) {
      return static_cast<arrow::HalfFloatBuilder*>(b_)->Append(arrow::util::Float16::FromFloat(f));
    }
    return static_cast<arrow::FloatBuilder*>(b_)->Append(f);
  }

 private:
  arrow::ArrayBuilder* b_;
  const bool half_;
};

class Float8Decoder final : public DecoderBase<arrow::DoubleBuilder> {
 public:
  using DecoderBase::DecoderBase;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != 8) return BadLength(len, 8, "double precision");
    return b_->Append(std::bit_cast<double>(Be64(p)));
  }
};

// numeric -> UInt64 (scale 0) or a decimal of `width` bytes.
class NumericDecoder final : public TypedDecoder {
 public:
  NumericDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type)
      : TypedDecoder(b, type), is_uint64_(type.id() == Type::UINT64) {
    if (!is_uint64_) {
      const auto& dec = static_cast<const arrow::DecimalType&>(type);
      scale_ = dec.scale();
      width_ = dec.byte_width();
    }
  }
  Status Value(const uint8_t* p, int32_t len) override {
    WideUInt magnitude;
    bool negative = false;
    Status st = DecodeNumeric(p, len, scale_, &magnitude, &negative);
    if (!st.ok()) return Status::Invalid(st.message(), " (", type_.ToString(), ")");
    if (is_uint64_) {
      if (negative || magnitude.n > 1) return Inexact("numeric value", type_);
      return static_cast<arrow::UInt64Builder*>(b_)->Append(magnitude.n ? magnitude.limbs[0] : 0);
    }
    uint8_t bytes[32];
    if (!ToTwosComplement(magnitude, negative, width_, bytes)) {
      return Inexact("numeric value", type_);
    }
    return static_cast<arrow::FixedSizeBinaryBuilder*>(b_)->Append(bytes);
  }

 private:
  const bool is_uint64_;
  int32_t scale_ = 0;
  int width_ = 8;
};

// text and bytea: the bytes as they are.
template <typename BuilderT>
class BytesDecoder final : public DecoderBase<BuilderT> {
 public:
  using DecoderBase<BuilderT>::DecoderBase;
  Status Value(const uint8_t* p, int32_t len) override {
    return this->b_->Append(std::string_view(reinterpret_cast<const char*>(p), len));
  }
};

class FixedBytesDecoder final : public DecoderBase<arrow::FixedSizeBinaryBuilder> {
 public:
  using DecoderBase::DecoderBase;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != b_->byte_width()) return BadLength(len, b_->byte_width(), "bytea");
    return b_->Append(p);
  }
};

class TimestampDecoder final : public DecoderBase<arrow::TimestampBuilder> {
 public:
  TimestampDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type)
      : DecoderBase(b), type_(type), unit_(static_cast<const arrow::TimestampType&>(type).unit()) {}
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != 8) return BadLength(len, 8, "timestamp");
    const int64_t pg = static_cast<int64_t>(Be64(p));
    int64_t us;
    if (pg == std::numeric_limits<int64_t>::max() || pg == std::numeric_limits<int64_t>::min() ||
        __builtin_add_overflow(pg, kPgEpochUnixMicros, &us)) {
      return Inexact("timestamp " + std::to_string(pg) + " (infinite or out of range)", type_);
    }
    AMP_ASSIGN_OR_RETURN(int64_t v, MicrosToUnit(us, unit_, type_));
    return b_->Append(v);
  }

 private:
  const arrow::DataType& type_;
  const arrow::TimeUnit::type unit_;
};

class DateDecoder final : public TypedDecoder {
 public:
  using TypedDecoder::TypedDecoder;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != 4) return BadLength(len, 4, "date");
    const int32_t pg = static_cast<int32_t>(Be32(p));
    if (pg == std::numeric_limits<int32_t>::max() || pg == std::numeric_limits<int32_t>::min()) {
      return Inexact("infinite date", type_);
    }
    const int64_t days = int64_t{pg} + kPgEpochUnixDays;
    if (type_.id() == Type::DATE64) {
      return static_cast<arrow::Date64Builder*>(b_)->Append(days * 86400000);
    }
    if (days > std::numeric_limits<int32_t>::max()) {
      return Inexact("date " + std::to_string(pg), type_);
    }
    return static_cast<arrow::Date32Builder*>(b_)->Append(static_cast<int32_t>(days));
  }
};

class TimeDecoder final : public TypedDecoder {
 public:
  using TypedDecoder::TypedDecoder;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len != 8) return BadLength(len, 8, "time");
    const int64_t us = static_cast<int64_t>(Be64(p));
    if (us < 0 || us > kMicrosPerDay) return Inexact("time " + std::to_string(us), type_);
    const auto unit = static_cast<const arrow::TimeType&>(type_).unit();
    AMP_ASSIGN_OR_RETURN(int64_t v, MicrosToUnit(us, unit, type_));
    if (type_.id() == Type::TIME32) {
      return static_cast<arrow::Time32Builder*>(b_)->Append(static_cast<int32_t>(v));
    }
    return static_cast<arrow::Time64Builder*>(b_)->Append(v);
  }
};

class JsonbDecoder final : public TypedDecoder {
 public:
  using TypedDecoder::TypedDecoder;
  Status Value(const uint8_t* p, int32_t len) override {
    if (len < 1 || p[0] != 1) return Status::Invalid("jsonb field without format version 1");
    AMP_ASSIGN_OR_RETURN(
        JsonValue value,
        ParseJson(std::string_view(reinterpret_cast<const char*>(p + 1), len - 1), kPostgresJsonb));
    return AppendFromJson(value, type_, kPostgresJsonb, b_);
  }
};

// One-dimensional PostgreSQL array -> an Arrow list of `element`s.
class ArrayDecoder final : public TypedDecoder {
 public:
  ArrayDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type, uint32_t element_oid,
               DecoderPtr element)
      : TypedDecoder(b, type), element_oid_(element_oid), element_(std::move(element)) {}
  Status Value(const uint8_t* p, int32_t len) override {
    if (len < 12) return Status::Invalid("an array field of ", len, " bytes");
    const int32_t ndim = static_cast<int32_t>(Be32(p));
    const uint32_t oid = Be32(p + 8);
    if (oid != element_oid_) {
      return Status::Invalid("array elements of type OID ", oid, ", expected ", element_oid_);
    }
    if (ndim == 0) return StartList(b_, type_, 0);
    if (ndim != 1) return Status::Invalid("a ", ndim, "-dimensional array");
    if (len < 20) return Status::Invalid("an array field of ", len, " bytes");
    const int32_t count = static_cast<int32_t>(Be32(p + 12));
    if (count < 0) return Status::Invalid("an array of ", count, " elements");
    AMP_RETURN_NOT_OK(StartList(b_, type_, count));
    size_t pos = 20;
    for (int32_t k = 0; k < count; ++k) {
      if (pos + 4 > static_cast<size_t>(len)) return Status::Invalid("array field cut short");
      const int32_t elen = static_cast<int32_t>(Be32(p + pos));
      pos += 4;
      if (elen > 0 && pos + elen > static_cast<size_t>(len)) {
        return Status::Invalid("array field cut short");
      }
      AMP_RETURN_NOT_OK(element_->Decode(p + pos, elen));
      if (elen > 0) pos += elen;
    }
    if (pos != static_cast<size_t>(len)) return Status::Invalid("array field has trailing bytes");
    return Status::OK();
  }

 private:
  const uint32_t element_oid_;
  DecoderPtr element_;
};

Status Unreadable(const arrow::DataType& type, PgKind kind) {
  return Status::NotImplemented("cannot read PostgreSQL type #", static_cast<int>(kind),
                                " back into Arrow ", type.ToString());
}

template <typename ArrowType>
Result<DecoderPtr> MakeInt(arrow::ArrayBuilder* b, const arrow::DataType& type, PgKind kind) {
  switch (kind) {
    case PgKind::kInt2: return std::make_unique<IntDecoder<ArrowType>>(b, 2, type);
    case PgKind::kInt4: return std::make_unique<IntDecoder<ArrowType>>(b, 4, type);
    case PgKind::kInt8: return std::make_unique<IntDecoder<ArrowType>>(b, 8, type);
    default: return Unreadable(type, kind);
  }
}

template <typename D>
Result<DecoderPtr> Expect(PgKind kind, PgKind want, const arrow::DataType& type,
                          arrow::ArrayBuilder* b) {
  if (kind != want) return Unreadable(type, kind);
  if constexpr (std::is_constructible_v<D, arrow::ArrayBuilder*, const arrow::DataType&>) {
    return std::make_unique<D>(b, type);
  } else {
    return std::make_unique<D>(b);
  }
}

// text into the string types, bytea into the binary ones (a fixed width is checked).
Result<DecoderPtr> MakeBytesDecoder(const arrow::DataType& type, PgKind kind,
                                    arrow::ArrayBuilder* b) {
  return arrow::VisitType(type, [&](const auto& concrete) -> Result<DecoderPtr> {
    using T = std::decay_t<decltype(concrete)>;
    if constexpr (std::is_same_v<T, arrow::FixedSizeBinaryType>) {
      return Expect<FixedBytesDecoder>(kind, PgKind::kBytea, type, b);
    } else if constexpr (IsBytesType<T>()) {
      return Expect<BytesDecoder<typename arrow::TypeTraits<T>::BuilderType>>(
          kind, IsTextType<T>() ? PgKind::kText : PgKind::kBytea, type, b);
    } else {
      return Unreadable(type, kind);
    }
  });
}

// `type` is the Arrow type (whose builder is `b`), `kind` how its values were stored.
Result<DecoderPtr> MakeDecoder(const arrow::DataType& type, PgKind kind, uint32_t element_oid,
                               PgKind element_kind, arrow::ArrayBuilder* b) {
  if (IsBytesTypeId(type.id())) return MakeBytesDecoder(type, kind, b);
  switch (type.id()) {
    case Type::NA: return Expect<NullDecoder>(kind, PgKind::kText, type, b);
    case Type::BOOL: return Expect<BoolDecoder>(kind, PgKind::kBool, type, b);
    case Type::INT8: return MakeInt<arrow::Int8Type>(b, type, kind);
    case Type::INT16: return MakeInt<arrow::Int16Type>(b, type, kind);
    case Type::INT32: return MakeInt<arrow::Int32Type>(b, type, kind);
    case Type::INT64: return MakeInt<arrow::Int64Type>(b, type, kind);
    case Type::UINT8: return MakeInt<arrow::UInt8Type>(b, type, kind);
    case Type::UINT16: return MakeInt<arrow::UInt16Type>(b, type, kind);
    case Type::UINT32: return MakeInt<arrow::UInt32Type>(b, type, kind);
    case Type::UINT64:
      if (kind == PgKind::kNumeric) return std::make_unique<NumericDecoder>(b, type);
      return MakeInt<arrow::UInt64Type>(b, type, kind);
    case Type::HALF_FLOAT:
    case Type::FLOAT:
      if (kind != PgKind::kFloat4) return Unreadable(type, kind);
      return std::make_unique<Float4Decoder>(b, type.id() == Type::HALF_FLOAT);
    case Type::DOUBLE: return Expect<Float8Decoder>(kind, PgKind::kFloat8, type, b);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      return Expect<NumericDecoder>(kind, PgKind::kNumeric, type, b);
    case Type::TIMESTAMP:
      if (kind != PgKind::kTimestamp && kind != PgKind::kTimestamptz) {
        return Unreadable(type, kind);
      }
      return std::make_unique<TimestampDecoder>(b, type);
    case Type::DATE32:
    case Type::DATE64:
      return Expect<DateDecoder>(kind, PgKind::kDate, type, b);
    case Type::TIME32:
    case Type::TIME64:
      return Expect<TimeDecoder>(kind, PgKind::kTime, type, b);
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW:
    case Type::STRUCT:
      if (kind == PgKind::kJsonb) {
        AMP_RETURN_NOT_OK(CheckJsonReadable(type));
        return std::make_unique<JsonbDecoder>(b, type);
      }
      if (kind == PgKind::kArray && type.id() != Type::STRUCT) {
        const arrow::DataType& element = *type.field(0)->type();
        AMP_ASSIGN_OR_RETURN(auto child, MakeDecoder(element, element_kind, 0, PgKind::kText,
                                                     ListValueBuilder(b, type)));
        return std::make_unique<ArrayDecoder>(b, type, element_oid, std::move(child));
      }
      return Unreadable(type, kind);
    case Type::DICTIONARY:
      return Status::NotImplemented("dictionary-encoded ", type.ToString(),
                                    " cannot be read back (decoded values only)");
    case Type::EXTENSION:
      return Status::NotImplemented("extension type ", type.ToString(),
                                    " cannot be read back");
    default: return Unreadable(type, kind);
  }
}

}  // namespace

Status CheckReadable(const arrow::DataType& type, const PgType& pg) {
  if (type.id() == Type::EXTENSION || type.id() == Type::DICTIONARY) {
    return MakeDecoder(type, pg.kind, pg.element_oid, pg.element_kind, nullptr).status();
  }
  AMP_ASSIGN_OR_RETURN(auto builder, arrow::MakeBuilder(type.GetSharedPtr()));
  return MakeDecoder(type, pg.kind, pg.element_oid, pg.element_kind, builder.get()).status();
}

// ---------------------------------------------------------------------------------------
// CopyDecoder.

class CopyDecoder::Impl {
 public:
  explicit Impl(std::vector<ReadColumn> columns) : columns_(std::move(columns)) {}

  Status Init() {
    arrow::FieldVector fields;
    for (const ReadColumn& col : columns_) {
      const arrow::DataType& type = *col.field->type();
      if (type.id() == Type::EXTENSION || type.id() == Type::DICTIONARY) {
        return Named(col, MakeDecoder(type, col.type.kind, 0, PgKind::kText, nullptr).status());
      }
      auto builder = arrow::MakeBuilder(col.field->type());
      if (!builder.ok()) return Named(col, builder.status());
      auto decoder = MakeDecoder(type, col.type.kind, col.type.element_oid, col.type.element_kind,
                                 builder->get());
      if (!decoder.ok()) return Named(col, decoder.status());
      builders_.push_back(std::move(*builder));
      decoders_.push_back(std::move(*decoder));
      fields.push_back(col.field);
    }
    schema_ = arrow::schema(std::move(fields));
    return Status::OK();
  }

  Status Consume(std::string_view data) {
    if (trailer_seen_ && !data.empty()) return Status::Invalid("COPY data after the trailer");
    if (pos_ > 0 && pos_ >= buffer_.size() / 2) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    buffer_.append(data);
    while (!trailer_seen_) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(buffer_.data()) + pos_;
      const size_t avail = buffer_.size() - pos_;
      if (!header_seen_) {
        static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with the NUL
        if (avail < 19) return Status::OK();
        if (std::memcmp(p, kSignature, sizeof(kSignature)) != 0) {
          return Status::Invalid("not binary COPY data (bad signature)");
        }
        if ((Be32(p + 11) & (1u << 16)) != 0) {
          return Status::Invalid("binary COPY data with OIDs is not supported");
        }
        const uint32_t ext = Be32(p + 15);
        if (avail < 19 + static_cast<size_t>(ext)) return Status::OK();
        pos_ += 19 + ext;
        header_seen_ = true;
        continue;
      }
      if (avail < 2) return Status::OK();
      const int16_t count = static_cast<int16_t>(Be16(p));
      if (count == -1) {
        trailer_seen_ = true;
        pos_ += 2;
        if (pos_ != buffer_.size()) return Status::Invalid("COPY data after the trailer");
        break;
      }
      if (count != static_cast<int16_t>(decoders_.size())) {
        return Status::Invalid("COPY row ", rows_, " has ", count, " fields, expected ",
                               decoders_.size());
      }
      // Decode only complete rows: first check that every field is there.
      size_t need = 2;
      for (int16_t f = 0; f < count; ++f) {
        if (avail < need + 4) return Status::OK();
        const int32_t len = static_cast<int32_t>(Be32(p + need));
        need += 4 + (len > 0 ? static_cast<size_t>(len) : 0);
      }
      if (avail < need) return Status::OK();
      size_t at = 2;
      for (int16_t f = 0; f < count; ++f) {
        const int32_t len = static_cast<int32_t>(Be32(p + at));
        at += 4;
        if (len < -1) return Status::Invalid("COPY field length ", len);
        Status st = decoders_[f]->Decode(p + at, len);
        if (!st.ok()) {
          return Status::Invalid("column ", QuoteIdent(columns_[f].field->name()), ", row ",
                                 rows_, ": ", st.message());
        }
        if (len > 0) at += static_cast<size_t>(len);
      }
      pos_ += need;
      ++rows_;
      if (++pending_ >= kRowsPerBatch) AMP_RETURN_NOT_OK(Flush());
    }
    return Status::OK();
  }

  Result<std::shared_ptr<arrow::Table>> Finish() {
    if (!trailer_seen_) return Status::Invalid("binary COPY data ended without its trailer");
    AMP_RETURN_NOT_OK(Flush());
    return arrow::Table::FromRecordBatches(schema_, batches_);
  }

  int64_t rows() const { return rows_; }

 private:
  static Status Named(const ReadColumn& col, const Status& st) {
    return st.WithMessage("column ", QuoteIdent(col.field->name()), ": ", st.message());
  }

  Status Flush() {
    if (pending_ == 0) return Status::OK();
    arrow::ArrayVector arrays;
    for (auto& builder : builders_) {
      AMP_ASSIGN_OR_RETURN(auto array, builder->Finish());
      arrays.push_back(std::move(array));
    }
    batches_.push_back(arrow::RecordBatch::Make(schema_, pending_, std::move(arrays)));
    pending_ = 0;
    return Status::OK();
  }

  std::vector<ReadColumn> columns_;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders_;
  std::vector<DecoderPtr> decoders_;
  std::shared_ptr<arrow::Schema> schema_;
  arrow::RecordBatchVector batches_;
  std::string buffer_;
  size_t pos_ = 0;
  bool header_seen_ = false;
  bool trailer_seen_ = false;
  int64_t rows_ = 0;
  int64_t pending_ = 0;
};

CopyDecoder::CopyDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CopyDecoder::~CopyDecoder() = default;

Result<std::unique_ptr<CopyDecoder>> CopyDecoder::Make(std::vector<ReadColumn> columns) {
  auto impl = std::make_unique<Impl>(std::move(columns));
  AMP_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<CopyDecoder>(new CopyDecoder(std::move(impl)));
}

Status CopyDecoder::Consume(std::string_view data) { return impl_->Consume(data); }
Result<std::shared_ptr<arrow::Table>> CopyDecoder::Finish() { return impl_->Finish(); }
int64_t CopyDecoder::rows() const { return impl_->rows(); }

// ---------------------------------------------------------------------------------------
// COPY TO STDOUT and ReadRows.

Status CopyOut(PgConnection& conn, const std::string& copy_sql, std::string_view context,
               const std::function<Status(std::string_view)>& sink) {
  PGconn* pg = conn.get();
  {
    PgResult res(PQexec(pg, copy_sql.c_str()));
    if (!res || PQresultStatus(res.get()) != PGRES_COPY_OUT) {
      return ResultError(res.get(), pg, context);
    }
  }
  Status sink_status;
  while (true) {
    char* buf = nullptr;
    const int n = PQgetCopyData(pg, &buf, /*async=*/0);
    if (n > 0) {
      if (sink_status.ok()) {
        sink_status = sink(std::string_view(buf, static_cast<size_t>(n)));
        if (!sink_status.ok()) {
          // Stop the server from sending the rest; what is in flight is drained below.
          if (PGcancel* cancel = PQgetCancel(pg)) {
            char err[256];
            PQcancel(cancel, err, sizeof(err));
            PQfreeCancel(cancel);
          }
        }
      }
      PQfreemem(buf);
      continue;
    }
    break;  // -1: done (the final result follows); -2: error (reported by the result)
  }
  Status result;
  bool have_result = false;
  while (PgResult r{PQgetResult(pg)}) {
    if (have_result) continue;
    have_result = true;
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) result = ResultError(r.get(), pg, context);
  }
  if (!sink_status.ok()) return sink_status;
  if (result.ok() && !have_result) result = ResultError(nullptr, pg, context);
  return result;
}

Result<std::shared_ptr<arrow::Table>> ReadTableRows(PgConnection& conn,
                                                    const std::string& schema,
                                                    const TableSpec& spec,
                                                    const BlockInterval& blocks) {
  const std::string qualified = QualifiedName(schema, spec.name);
  const std::string prefix(kErrorPrefix);
  if (spec.name.empty() || spec.schema == nullptr) {
    return FatalError(prefix + "ReadRows needs a table name and a schema", "usage");
  }
  std::vector<ReadColumn> columns;
  std::string select;
  for (const auto& field : spec.schema->fields()) {
    if (field->name() == kBlockStart || field->name() == kBlockEnd) continue;
    auto mapped = MapArrowType(*field->type());
    if (!mapped.ok()) {
      return FatalError(prefix + "read " + qualified + ", column " + QuoteIdent(field->name()) +
                            ": " + mapped.status().message(),
                        "type");
    }
    Status readable = CheckReadable(*field->type(), *mapped);
    if (!readable.ok()) {
      return Status::NotImplemented(prefix, "read ", qualified, ", column ",
                                    QuoteIdent(field->name()), ": ", readable.message());
    }
    select += QuoteIdent(field->name()) + ", ";
    columns.push_back({field, std::move(*mapped)});
  }
  PgType bigint;
  bigint.kind = PgKind::kInt8;
  bigint.sql = "bigint";
  bigint.oid = kInt8Oid;
  columns.push_back({arrow::field(kBlockStart, arrow::uint64(), /*nullable=*/false), bigint});
  select += QuoteIdent(kBlockStart);

  // The table must hold these columns in these types, or binary decoding would misread them.
  AMP_ASSIGN_OR_RETURN(
      auto res, conn.Query("SELECT attname::text, format_type(atttypid, atttypmod) FROM "
                           "pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND "
                           "NOT attisdropped",
                           {qualified}, "inspect " + qualified));
  std::map<std::string, std::string> existing;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    existing[PQgetvalue(res.get(), r, 0)] = PQgetvalue(res.get(), r, 1);
  }
  if (existing.empty()) {
    return FatalError(prefix + "table " + qualified + " does not exist", "schema");
  }
  auto check = [&](const std::string& name, const std::string& type) -> Status {
    auto it = existing.find(name);
    if (it == existing.end()) {
      return FatalError(prefix + "table " + qualified + " has no column " + QuoteIdent(name),
                        "schema");
    }
    if (it->second != type) {
      return FatalError(prefix + "table " + qualified + ", column " + QuoteIdent(name) +
                            " has type " + it->second + ", expected " + type,
                        "schema");
    }
    return Status::OK();
  };
  for (const ReadColumn& col : columns) AMP_RETURN_NOT_OK(check(col.field->name(), col.type.sql));
  AMP_RETURN_NOT_OK(check(kBlockEnd, "bigint"));

  if (blocks.start > blocks.end || blocks.start > kMaxBigint) {
    arrow::FieldVector fields;
    for (const ReadColumn& col : columns) fields.push_back(col.field);
    return arrow::Table::MakeEmpty(arrow::schema(std::move(fields)));
  }
  AMP_ASSIGN_OR_RETURN(auto decoder, CopyDecoder::Make(columns));
  const uint64_t end = std::min(blocks.end, kMaxBigint);  // kMaxBlock: "to the end"
  const std::string sql = "COPY (SELECT " + select + " FROM " + qualified + " WHERE " +
                          QuoteIdent(kBlockEnd) + " >= " + std::to_string(blocks.start) +
                          " AND " + QuoteIdent(kBlockStart) + " <= " + std::to_string(end) +
                          ") TO STDOUT (FORMAT binary)";
  const std::string context = "read blocks [" + std::to_string(blocks.start) + ", " +
                              std::to_string(end) + "] of " + qualified;
  AMP_RETURN_NOT_OK(CopyOut(conn, sql, context, [&](std::string_view chunk) -> Status {
    Status st = decoder->Consume(chunk);
    if (!st.ok()) return FatalError(prefix + context + ": " + st.message(), "decode");
    return st;
  }));
  auto table = decoder->Finish();
  if (!table.ok()) return FatalError(prefix + context + ": " + table.status().message(), "decode");
  return table;
}

}  // namespace amp::postgres
