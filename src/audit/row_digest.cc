#include "audit/row_digest.h"

#include <arrow/array.h>
#include <arrow/extension_type.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/float16.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash.h>

namespace amp::audit {
namespace {

using arrow::Type;

// ---------------------------------------------------------------------------------------
// Canonical value encoders (see the header for the format).

void PutU64(uint64_t v, std::string* out) {
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian hosts only (x86-64, aarch64)
  out->append(b, 8);
}
void PutU32(uint32_t v, std::string* out) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}
void PutBytes(std::string_view v, std::string* out) {
  PutU64(v.size(), out);
  out->append(v);
}

class ValueEncoder {
 public:
  virtual ~ValueEncoder() = default;
  /// Appends the encoding of value i (null included).
  virtual void Encode(int64_t i, std::string* out) = 0;
};
using EncoderPtr = std::unique_ptr<ValueEncoder>;

Result<EncoderPtr> MakeEncoder(const std::shared_ptr<arrow::Array>& array);

// Null handling for arrays whose validity bitmap is their own.
template <typename Derived>
class Base : public ValueEncoder {
 public:
  explicit Base(std::shared_ptr<arrow::Array> array) : array_(std::move(array)) {}
  void Encode(int64_t i, std::string* out) final {
    if (array_->IsNull(i)) {
      out->push_back('\0');
      return;
    }
    static_cast<Derived*>(this)->Value(i, out);
  }

 protected:
  std::shared_ptr<arrow::Array> array_;
};

class NullEncoder final : public ValueEncoder {
 public:
  void Encode(int64_t, std::string* out) override { out->push_back('\0'); }
};

class BoolEncoder final : public Base<BoolEncoder> {
 public:
  using Base::Base;
  void Value(int64_t i, std::string* out) {
    out->push_back('b');
    out->push_back(static_cast<const arrow::BooleanArray&>(*array_).Value(i) ? 1 : 0);
  }
};

// A fixed-width array's values start at its data buffer plus the slice offset.
template <typename CType>
const CType* FixedWidthValues(const arrow::Array& a) {
  return reinterpret_cast<const CType*>(a.data()->buffers[1]->data()) + a.data()->offset;
}

template <typename CType>
class IntEncoder final : public Base<IntEncoder<CType>> {
 public:
  explicit IntEncoder(std::shared_ptr<arrow::Array> a)
      : Base<IntEncoder<CType>>(a),
        values_(FixedWidthValues<CType>(*a)) {}
  void Value(int64_t i, std::string* out) {
    if constexpr (std::is_signed_v<CType>) {
      out->push_back('i');
      PutU64(static_cast<uint64_t>(static_cast<int64_t>(values_[i])), out);
    } else {
      out->push_back('u');
      PutU64(static_cast<uint64_t>(values_[i]), out);
    }
  }

 private:
  const CType* values_;
};

void PutDouble(double d, std::string* out) {
  out->push_back('f');
  if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
  if (d == 0) d = 0;  // -0.0 == 0.0: one encoding
  PutU64(std::bit_cast<uint64_t>(d), out);
}

template <typename CType>
class FloatEncoder final : public Base<FloatEncoder<CType>> {
 public:
  explicit FloatEncoder(std::shared_ptr<arrow::Array> a)
      : Base<FloatEncoder<CType>>(a),
        values_(FixedWidthValues<CType>(*a)) {}
  void Value(int64_t i, std::string* out) {
    if constexpr (std::is_same_v<CType, uint16_t>) {
      PutDouble(arrow::util::Float16::FromBits(values_[i]).ToDouble(), out);
    } else {
      PutDouble(static_cast<double>(values_[i]), out);
    }
  }

 private:
  const CType* values_;
};

class DecimalEncoder final : public Base<DecimalEncoder> {
 public:
  explicit DecimalEncoder(std::shared_ptr<arrow::Array> a)
      : Base(a),
        width_(static_cast<const arrow::FixedSizeBinaryType&>(*a->type()).byte_width()),
        scale_(static_cast<const arrow::DecimalType&>(*a->type()).scale()) {}
  void Value(int64_t i, std::string* out) {
    const uint8_t* v = static_cast<const arrow::FixedSizeBinaryArray&>(*array_).GetValue(i);
    out->push_back('d');
    PutU32(static_cast<uint32_t>(scale_), out);
    char wide[32];
    const char fill = (v[width_ - 1] & 0x80) ? '\xff' : '\0';  // sign extension
    std::memset(wide, fill, sizeof(wide));
    std::memcpy(wide, v, width_);
    out->append(wide, sizeof(wide));
  }

 private:
  const int width_;
  const int32_t scale_;
};

template <typename ArrayType>
class BytesEncoder final : public Base<BytesEncoder<ArrayType>> {
 public:
  BytesEncoder(std::shared_ptr<arrow::Array> a, char tag)
      : Base<BytesEncoder<ArrayType>>(a), tag_(tag) {}
  void Value(int64_t i, std::string* out) {
    out->push_back(tag_);
    PutBytes(static_cast<const ArrayType&>(*this->array_).GetView(i), out);
  }

 private:
  const char tag_;
};

// Integers with a unit (timestamps, times, durations) and dates.
template <typename CType>
class TemporalEncoder final : public Base<TemporalEncoder<CType>> {
 public:
  TemporalEncoder(std::shared_ptr<arrow::Array> a, char tag, int unit)
      : Base<TemporalEncoder<CType>>(a),
        values_(FixedWidthValues<CType>(*a)),
        tag_(tag),
        unit_(unit) {}
  void Value(int64_t i, std::string* out) {
    out->push_back(tag_);
    if (unit_ >= 0) out->push_back(static_cast<char>(unit_));
    PutU64(static_cast<uint64_t>(static_cast<int64_t>(values_[i])), out);
  }

 private:
  const CType* values_;
  const char tag_;
  const int unit_;  // -1: none (dates)
};

template <typename ListArrayType>
class ListEncoder final : public Base<ListEncoder<ListArrayType>> {
 public:
  ListEncoder(std::shared_ptr<arrow::Array> a, EncoderPtr values)
      : Base<ListEncoder<ListArrayType>>(a), values_(std::move(values)) {}
  void Value(int64_t i, std::string* out) {
    const auto& list = static_cast<const ListArrayType&>(*this->array_);
    const int64_t start = list.value_offset(i);
    const int64_t length = list.value_length(i);
    out->push_back('L');
    PutU64(static_cast<uint64_t>(length), out);
    for (int64_t k = 0; k < length; ++k) values_->Encode(start + k, out);
  }

 private:
  EncoderPtr values_;
};

class MapEncoder final : public Base<MapEncoder> {
 public:
  MapEncoder(std::shared_ptr<arrow::Array> a, EncoderPtr keys, EncoderPtr items)
      : Base(a), keys_(std::move(keys)), items_(std::move(items)) {}
  void Value(int64_t i, std::string* out) {
    const auto& map = static_cast<const arrow::MapArray&>(*array_);
    const int64_t start = map.value_offset(i);
    const int64_t length = map.value_length(i);
    out->push_back('P');
    PutU64(static_cast<uint64_t>(length), out);
    for (int64_t k = 0; k < length; ++k) {
      keys_->Encode(start + k, out);
      items_->Encode(start + k, out);
    }
  }

 private:
  EncoderPtr keys_, items_;
};

class StructEncoder final : public Base<StructEncoder> {
 public:
  StructEncoder(std::shared_ptr<arrow::Array> a, std::vector<EncoderPtr> fields)
      : Base(a), fields_(std::move(fields)) {}
  void Value(int64_t i, std::string* out) {
    const auto& type = *array_->type();
    out->push_back('S');
    PutU32(static_cast<uint32_t>(fields_.size()), out);
    for (size_t f = 0; f < fields_.size(); ++f) {
      PutBytes(type.field(static_cast<int>(f))->name(), out);
      fields_[f]->Encode(i, out);
    }
  }

 private:
  std::vector<EncoderPtr> fields_;
};

class DictionaryEncoder final : public ValueEncoder {
 public:
  DictionaryEncoder(std::shared_ptr<arrow::Array> a, EncoderPtr values)
      : array_(std::move(a)), values_(std::move(values)) {}
  void Encode(int64_t i, std::string* out) override {
    const auto& dict = static_cast<const arrow::DictionaryArray&>(*array_);
    if (dict.IsNull(i)) {
      out->push_back('\0');
      return;
    }
    values_->Encode(dict.GetValueIndex(i), out);
  }

 private:
  std::shared_ptr<arrow::Array> array_;
  EncoderPtr values_;
};

// Whatever else (unions, intervals, run-end encoded, ...): the type and the value's text.
class TextEncoder final : public ValueEncoder {
 public:
  explicit TextEncoder(std::shared_ptr<arrow::Array> a)
      : array_(std::move(a)), type_(array_->type()->ToString()) {}
  void Encode(int64_t i, std::string* out) override {
    if (array_->IsNull(i)) {
      out->push_back('\0');
      return;
    }
    out->push_back('X');
    PutBytes(type_, out);
    auto scalar = array_->GetScalar(i);
    PutBytes(scalar.ok() ? (*scalar)->ToString() : scalar.status().ToString(), out);
  }

 private:
  std::shared_ptr<arrow::Array> array_;
  const std::string type_;
};

int UnitOf(const arrow::DataType& type) {
  switch (type.id()) {
    case Type::TIMESTAMP: return static_cast<const arrow::TimestampType&>(type).unit();
    case Type::TIME32:
    case Type::TIME64: return static_cast<const arrow::TimeType&>(type).unit();
    case Type::DURATION: return static_cast<const arrow::DurationType&>(type).unit();
    default: return -1;
  }
}

// Every list layout digests alike (each row's length, then its elements); only the array
// class that exposes values() differs.
template <typename ListArrayType>
Result<EncoderPtr> MakeListEncoder(const std::shared_ptr<arrow::Array>& a) {
  AMP_ASSIGN_OR_RETURN(auto values, MakeEncoder(static_cast<const ListArrayType&>(*a).values()));
  return std::make_unique<ListEncoder<ListArrayType>>(a, std::move(values));
}

Result<EncoderPtr> MakeEncoder(const std::shared_ptr<arrow::Array>& array) {
  const auto& a = array;
  switch (a->type_id()) {
    case Type::NA: return std::make_unique<NullEncoder>();
    case Type::BOOL: return std::make_unique<BoolEncoder>(a);
    case Type::INT8: return std::make_unique<IntEncoder<int8_t>>(a);
    case Type::INT16: return std::make_unique<IntEncoder<int16_t>>(a);
    case Type::INT32: return std::make_unique<IntEncoder<int32_t>>(a);
    case Type::INT64: return std::make_unique<IntEncoder<int64_t>>(a);
    case Type::UINT8: return std::make_unique<IntEncoder<uint8_t>>(a);
    case Type::UINT16: return std::make_unique<IntEncoder<uint16_t>>(a);
    case Type::UINT32: return std::make_unique<IntEncoder<uint32_t>>(a);
    case Type::UINT64: return std::make_unique<IntEncoder<uint64_t>>(a);
    case Type::HALF_FLOAT: return std::make_unique<FloatEncoder<uint16_t>>(a);
    case Type::FLOAT: return std::make_unique<FloatEncoder<float>>(a);
    case Type::DOUBLE: return std::make_unique<FloatEncoder<double>>(a);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: return std::make_unique<DecimalEncoder>(a);
    case Type::STRING: return std::make_unique<BytesEncoder<arrow::StringArray>>(a, 's');
    case Type::LARGE_STRING: return std::make_unique<BytesEncoder<arrow::LargeStringArray>>(a, 's');
    case Type::STRING_VIEW: return std::make_unique<BytesEncoder<arrow::StringViewArray>>(a, 's');
    case Type::BINARY: return std::make_unique<BytesEncoder<arrow::BinaryArray>>(a, 'B');
    case Type::LARGE_BINARY: return std::make_unique<BytesEncoder<arrow::LargeBinaryArray>>(a, 'B');
    case Type::BINARY_VIEW: return std::make_unique<BytesEncoder<arrow::BinaryViewArray>>(a, 'B');
    case Type::FIXED_SIZE_BINARY:
      return std::make_unique<BytesEncoder<arrow::FixedSizeBinaryArray>>(a, 'B');
    case Type::TIMESTAMP:
      return std::make_unique<TemporalEncoder<int64_t>>(a, 't', UnitOf(*a->type()));
    case Type::DATE32: return std::make_unique<TemporalEncoder<int32_t>>(a, 'D', -1);
    case Type::DATE64: return std::make_unique<TemporalEncoder<int64_t>>(a, 'M', -1);
    case Type::TIME32:
      return std::make_unique<TemporalEncoder<int32_t>>(a, 'T', UnitOf(*a->type()));
    case Type::TIME64:
      return std::make_unique<TemporalEncoder<int64_t>>(a, 'T', UnitOf(*a->type()));
    case Type::DURATION:
      return std::make_unique<TemporalEncoder<int64_t>>(a, 'R', UnitOf(*a->type()));
    case Type::LIST:
      return MakeListEncoder<arrow::ListArray>(a);
    case Type::LARGE_LIST:
      return MakeListEncoder<arrow::LargeListArray>(a);
    case Type::FIXED_SIZE_LIST:
      return MakeListEncoder<arrow::FixedSizeListArray>(a);
    case Type::LIST_VIEW:
      return MakeListEncoder<arrow::ListViewArray>(a);
    case Type::LARGE_LIST_VIEW:
      return MakeListEncoder<arrow::LargeListViewArray>(a);
    case Type::MAP: {
      const auto& map = static_cast<const arrow::MapArray&>(*a);
      AMP_ASSIGN_OR_RETURN(auto keys, MakeEncoder(map.keys()));
      AMP_ASSIGN_OR_RETURN(auto items, MakeEncoder(map.items()));
      return std::make_unique<MapEncoder>(a, std::move(keys), std::move(items));
    }
    case Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(*a);
      std::vector<EncoderPtr> fields;
      for (int f = 0; f < st.num_fields(); ++f) {
        // field(f) is already sliced like the struct itself.
        AMP_ASSIGN_OR_RETURN(auto field, MakeEncoder(st.field(f)));
        fields.push_back(std::move(field));
      }
      return std::make_unique<StructEncoder>(a, std::move(fields));
    }
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(*a);
      AMP_ASSIGN_OR_RETURN(auto values, MakeEncoder(dict.dictionary()));
      return std::make_unique<DictionaryEncoder>(a, std::move(values));
    }
    case Type::EXTENSION:
      return MakeEncoder(static_cast<const arrow::ExtensionArray&>(*a).storage());
    default: return std::make_unique<TextEncoder>(a);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

BlockVerdict Compare(const BlockDigest* source, const BlockDigest* destination) {
  const bool has_source = source != nullptr && source->rows > 0;
  const bool has_destination = destination != nullptr && destination->rows > 0;
  if (!has_source && !has_destination) return BlockVerdict::kMatch;
  if (!has_destination) return BlockVerdict::kMissing;
  if (!has_source) return BlockVerdict::kStale;
  if (*source == *destination) return BlockVerdict::kMatch;
  if (destination->rows % source->rows == 0) {
    const uint64_t k = destination->rows / source->rows;
    if (k > 1 && destination->sum == source->sum * static_cast<Hash128>(k) &&
        destination->xor_all == ((k & 1) ? source->xor_all : Hash128{0})) {
      return BlockVerdict::kDuplicate;
    }
  }
  return BlockVerdict::kStale;
}

class RowHasher::Impl {
 public:
  std::vector<EncoderPtr> encoders;
  std::string scratch;
};

RowHasher::RowHasher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RowHasher::~RowHasher() = default;

Result<std::unique_ptr<RowHasher>> RowHasher::Make(
    const std::vector<std::shared_ptr<arrow::Array>>& columns) {
  auto impl = std::make_unique<Impl>();
  for (const auto& column : columns) {
    AMP_ASSIGN_OR_RETURN(auto encoder, MakeEncoder(column));
    impl->encoders.push_back(std::move(encoder));
  }
  return std::unique_ptr<RowHasher>(new RowHasher(std::move(impl)));
}

Hash128 RowHasher::Hash(int64_t row) {
  std::string& scratch = impl_->scratch;
  scratch.clear();
  for (auto& encoder : impl_->encoders) encoder->Encode(row, &scratch);
  const XXH128_hash_t h = XXH3_128bits(scratch.data(), scratch.size());
  return (static_cast<Hash128>(h.high64) << 64) | h.low64;
}

Result<std::vector<BlockNumber>> BlockNumbers(const arrow::Array& column) {
  std::vector<BlockNumber> out(static_cast<size_t>(column.length()));
  auto fill = [&](const auto& typed) -> Status {
    for (int64_t i = 0; i < column.length(); ++i) {
      if (typed.IsNull(i)) return Status::Invalid("null block number in row ", i);
      const auto v = typed.Value(i);
      if constexpr (std::is_signed_v<decltype(v)>) {
        if (v < 0) return Status::Invalid("negative block number ", v, " in row ", i);
      }
      out[i] = static_cast<BlockNumber>(v);
    }
    return Status::OK();
  };
  switch (column.type_id()) {
    case Type::UINT64:
      AMP_RETURN_NOT_OK(fill(static_cast<const arrow::UInt64Array&>(column)));
      break;
    case Type::INT64:
      AMP_RETURN_NOT_OK(fill(static_cast<const arrow::Int64Array&>(column)));
      break;
    case Type::UINT32:
      AMP_RETURN_NOT_OK(fill(static_cast<const arrow::UInt32Array&>(column)));
      break;
    case Type::INT32:
      AMP_RETURN_NOT_OK(fill(static_cast<const arrow::Int32Array&>(column)));
      break;
    default:
      return Status::TypeError("block column of type ", column.type()->ToString(),
                               ", expected an integer type");
  }
  return out;
}

Status AccumulateBlocks(const arrow::RecordBatch& batch, const std::vector<std::string>& columns,
                        const std::string& block_column, const BlockInterval& keep,
                        std::map<BlockNumber, BlockDigest>* digests) {
  if (batch.num_rows() == 0) return Status::OK();
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (const std::string& name : columns) {
    auto array = batch.GetColumnByName(name);
    if (array == nullptr) return Status::KeyError("the rows lack column \"", name, "\"");
    arrays.push_back(std::move(array));
  }
  auto block_array = batch.GetColumnByName(block_column);
  if (block_array == nullptr) {
    return Status::KeyError("the rows lack the block column \"", block_column, "\"");
  }
  AMP_ASSIGN_OR_RETURN(std::vector<BlockNumber> blocks, BlockNumbers(*block_array));
  AMP_ASSIGN_OR_RETURN(auto hasher, RowHasher::Make(arrays));
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    const BlockNumber block = blocks[row];
    if (block < keep.start || block > keep.end) continue;
    (*digests)[block].Add(hasher->Hash(row));
  }
  return Status::OK();
}

}  // namespace amp::audit
