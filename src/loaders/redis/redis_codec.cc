#include "loaders/redis/redis_codec.h"

#include <arrow/api.h>
#include <arrow/util/decimal.h>
#include <arrow/visit_type_inline.h>

#include <charconv>
#include <set>

#include "loaders/common/value_codec.h"

namespace amp::redis {
namespace {

using loaders::kRedisText;

Result<int64_t> ParseDate(std::string_view text, size_t* consumed) {
  // [-]Y{4,}-MM-DD
  size_t pos = 0;
  int64_t days = 0;
  if (!loaders::ParseIsoDate(text, &pos, kRedisText, &days)) {
    return Status::Invalid("not a date: '", text, "'");
  }
  *consumed = pos;
  return days;
}

template <typename T>
Status ParseIntegral(std::string_view text, T* out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return Status::Invalid("not an integer of the column's type: '", text, "'");
  }
  return Status::OK();
}

Result<double> ParseDouble(std::string_view text) {
  double v = 0;
  if (!loaders::ParseFloatText(text, &v)) return Status::Invalid("not a number: '", text, "'");
  return v;
}

std::string_view BinaryValue(const arrow::Array& array, int64_t i) {
  switch (array.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      return static_cast<const arrow::BinaryArray&>(array).GetView(i);
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      return static_cast<const arrow::LargeBinaryArray&>(array).GetView(i);
    case arrow::Type::STRING_VIEW:
    case arrow::Type::BINARY_VIEW:
      return static_cast<const arrow::BinaryViewArray&>(array).GetView(i);
    case arrow::Type::FIXED_SIZE_BINARY:
      return static_cast<const arrow::FixedSizeBinaryArray&>(array).GetView(i);
    default:
      return {};
  }
}

bool IsBinaryType(arrow::Type::type id) {
  return id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY ||
         id == arrow::Type::BINARY_VIEW || id == arrow::Type::FIXED_SIZE_BINARY;
}

bool IsNested(arrow::Type::type id) {
  return id == arrow::Type::LIST || id == arrow::Type::LARGE_LIST ||
         id == arrow::Type::FIXED_SIZE_LIST || id == arrow::Type::STRUCT;
}

// A document the reader parsed with nlohmann, as the codec's JSON value: lossless for what
// AppendJson writes (integers fit 64 bits, floats are doubles whose shortest text
// round-trips, decimals are strings).
loaders::JsonValue ToJsonValue(const nlohmann::json& json) {
  using Kind = loaders::JsonValue::Kind;
  loaders::JsonValue value;
  switch (json.type()) {
    case nlohmann::json::value_t::boolean:
      value.kind = Kind::kBool;
      value.boolean = json.get<bool>();
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      value.kind = Kind::kNumber;
      value.text = json.dump();
      break;
    case nlohmann::json::value_t::number_float:
      value.kind = Kind::kNumber;
      loaders::AppendFloatText(json.get<double>(), &value.text);
      break;
    case nlohmann::json::value_t::string:
      value.kind = Kind::kString;
      value.text = json.get<std::string>();
      break;
    case nlohmann::json::value_t::array:
      value.kind = Kind::kArray;
      for (const auto& item : json) value.items.push_back(ToJsonValue(item));
      break;
    case nlohmann::json::value_t::object:
      value.kind = Kind::kObject;
      for (const auto& [key, member] : json.items()) {
        value.members.emplace_back(key, ToJsonValue(member));
      }
      break;
    default: break;  // null (and discarded, binary: not produced by text JSON)
  }
  return value;
}

// Decimal text at any scale, rescaled exactly to the column's (Rescale refuses to drop
// digits).
template <typename DecimalT, typename BuilderT>
Status AppendDecimalText(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                         std::string_view text) {
  const int32_t want = static_cast<const arrow::DecimalType&>(type).scale();
  DecimalT value;
  int32_t precision = 0, scale = 0;
  AMP_RETURN_NOT_OK(DecimalT::FromString(text, &value, &precision, &scale));
  if (scale != want) {
    AMP_ASSIGN_OR_RETURN(value, value.Rescale(scale, want));
  }
  return static_cast<BuilderT*>(builder)->Append(value);
}

// Integers, and the integer counts of Date64, Time32/64 and Duration, from decimal text.
Status AppendIntegerText(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                         std::string_view text) {
  return arrow::VisitType(type, [&](const auto& concrete) -> Status {
    using T = std::decay_t<decltype(concrete)>;
    if constexpr (arrow::is_integer_type<T>::value || std::is_same_v<T, arrow::Date64Type> ||
                  arrow::is_time_type<T>::value || arrow::is_duration_type<T>::value) {
      typename T::c_type value{};
      AMP_RETURN_NOT_OK(ParseIntegral(text, &value));
      return static_cast<typename arrow::TypeTraits<T>::BuilderType*>(builder)->Append(value);
    } else {
      return Status::NotImplemented("not an integer type: ", type.ToString());
    }
  });
}

// The bytes themselves into a string or binary builder (a fixed width is checked).
Status AppendBytes(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                   std::string_view bytes) {
  return arrow::VisitType(type, [&](const auto& concrete) -> Status {
    using T = std::decay_t<decltype(concrete)>;
    if constexpr (std::is_same_v<T, arrow::FixedSizeBinaryType>) {
      if (static_cast<int>(bytes.size()) != concrete.byte_width()) {
        return Status::Invalid("expected ", concrete.byte_width(), " bytes, got ", bytes.size());
      }
      return static_cast<arrow::FixedSizeBinaryBuilder*>(builder)->Append(bytes);
    } else if constexpr (arrow::is_base_binary_type<T>::value ||
                         arrow::is_binary_view_like_type<T>::value) {
      return static_cast<typename arrow::TypeTraits<T>::BuilderType*>(builder)->Append(bytes);
    } else {
      return Status::NotImplemented("not a string or binary type: ", type.ToString());
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------

Status CheckSupportedType(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::NA: case arrow::Type::BOOL:
    case arrow::Type::INT8: case arrow::Type::INT16: case arrow::Type::INT32:
    case arrow::Type::INT64: case arrow::Type::UINT8: case arrow::Type::UINT16:
    case arrow::Type::UINT32: case arrow::Type::UINT64:
    case arrow::Type::FLOAT: case arrow::Type::DOUBLE:
    case arrow::Type::DECIMAL128: case arrow::Type::DECIMAL256:
    case arrow::Type::STRING: case arrow::Type::LARGE_STRING: case arrow::Type::STRING_VIEW:
    case arrow::Type::BINARY: case arrow::Type::LARGE_BINARY: case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY:
    case arrow::Type::TIMESTAMP: case arrow::Type::DATE32: case arrow::Type::DATE64:
    case arrow::Type::TIME32: case arrow::Type::TIME64: case arrow::Type::DURATION:
      return Status::OK();
    case arrow::Type::LIST: case arrow::Type::LARGE_LIST: case arrow::Type::FIXED_SIZE_LIST:
    case arrow::Type::STRUCT:
      for (const auto& child : type.fields()) {
        AMP_RETURN_NOT_OK(CheckSupportedType(*child->type()));
      }
      return Status::OK();
    default:
      return Status::Invalid("Arrow type ", type.ToString(), " is not supported by the redis loader");
  }
}

void AppendText(const arrow::Array& array, int64_t i, std::string* out) {
  switch (array.type_id()) {
    case arrow::Type::FLOAT:
      loaders::AppendFloatText(static_cast<double>(
                                   static_cast<const arrow::FloatArray&>(array).Value(i)),
                               out);
      return;
    case arrow::Type::DOUBLE:
      loaders::AppendFloatText(static_cast<const arrow::DoubleArray&>(array).Value(i), out);
      return;
    case arrow::Type::DECIMAL128:
      out->append(static_cast<const arrow::Decimal128Array&>(array).FormatValue(i));
      return;
    case arrow::Type::DECIMAL256:
      out->append(static_cast<const arrow::Decimal256Array&>(array).FormatValue(i));
      return;
    case arrow::Type::STRING: case arrow::Type::LARGE_STRING: case arrow::Type::STRING_VIEW:
      out->append(BinaryValue(array, i));
      return;
    case arrow::Type::BINARY: case arrow::Type::LARGE_BINARY: case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY:
      loaders::AppendHex(BinaryValue(array, i), out);
      return;
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      loaders::AppendIsoTimestamp(static_cast<const arrow::TimestampArray&>(array).Value(i),
                                  loaders::UnitDigits(type.unit()), /*utc_suffix=*/true,
                                  kRedisText, out);
      return;
    }
    case arrow::Type::DATE32:
      loaders::AppendIsoDate(static_cast<const arrow::Date32Array&>(array).Value(i), kRedisText,
                             out);
      return;
    default:
      // Booleans, integers and the integer counts of Date64/Time/Duration are their own JSON;
      // nested values are their JSON text.
      loaders::AppendJson(array, i, kRedisText, out);
      return;
  }
}

void AppendField(const arrow::Array& array, int64_t i, BinaryForm binary, std::string* out) {
  if (binary == BinaryForm::kRaw && IsBinaryType(array.type_id())) {
    out->append(BinaryValue(array, i));
    return;
  }
  AppendText(array, i, out);
}

void AppendJsonString(std::string_view text, std::string* out) {
  loaders::AppendJsonString(text, kRedisText, out);
}

void AppendJson(const arrow::Array& array, int64_t i, std::string* out) {
  loaders::AppendJson(array, i, kRedisText, out);
}

void AppendEscapedKeyText(std::string_view text, std::string* out) {
  for (unsigned char c : text) {
    if (c == '%' || c == ':' || c == '{' || c == '}' || c <= 0x20 || c == 0x7f) {
      out->push_back('%');
      static constexpr char kUpperHex[] = "0123456789ABCDEF";
      out->push_back(kUpperHex[c >> 4]);
      out->push_back(kUpperHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

void AppendKeyComponent(const arrow::Array& array, int64_t i, std::string* out) {
  if (array.IsNull(i)) {
    out->append("%N");
    return;
  }
  const auto id = array.type_id();
  if (IsBinaryType(id)) {
    loaders::AppendHex(BinaryValue(array, i), out);  // never escaped: [0-9a-fx] only
    return;
  }
  std::string text;
  AppendText(array, i, &text);
  AppendEscapedKeyText(text, out);
}

// ---------------------------------------------------------------------------------------
// Decoding.

Status AppendFromField(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                       std::string_view text, BinaryForm binary) {
  if (binary == BinaryForm::kRaw && IsBinaryType(type.id())) {
    return AppendBytes(builder, type, text);
  }
  return AppendFromText(builder, type, text);
}

Status AppendFromText(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                      std::string_view text) {
  switch (type.id()) {
    case arrow::Type::NA:
      return builder->AppendNull();
    case arrow::Type::BOOL:
      if (text == "true") return static_cast<arrow::BooleanBuilder*>(builder)->Append(true);
      if (text == "false") return static_cast<arrow::BooleanBuilder*>(builder)->Append(false);
      return Status::Invalid("not a boolean: '", text, "'");
    case arrow::Type::INT8: case arrow::Type::INT16: case arrow::Type::INT32:
    case arrow::Type::INT64: case arrow::Type::UINT8: case arrow::Type::UINT16:
    case arrow::Type::UINT32: case arrow::Type::UINT64: case arrow::Type::DATE64:
    case arrow::Type::TIME32: case arrow::Type::TIME64: case arrow::Type::DURATION:
      return AppendIntegerText(builder, type, text);
    case arrow::Type::FLOAT: {
      AMP_ASSIGN_OR_RETURN(double v, ParseDouble(text));
      return static_cast<arrow::FloatBuilder*>(builder)->Append(static_cast<float>(v));
    }
    case arrow::Type::DOUBLE: {
      AMP_ASSIGN_OR_RETURN(double v, ParseDouble(text));
      return static_cast<arrow::DoubleBuilder*>(builder)->Append(v);
    }
    case arrow::Type::DECIMAL128:
      return AppendDecimalText<arrow::Decimal128, arrow::Decimal128Builder>(builder, type, text);
    case arrow::Type::DECIMAL256:
      return AppendDecimalText<arrow::Decimal256, arrow::Decimal256Builder>(builder, type, text);
    case arrow::Type::STRING: case arrow::Type::LARGE_STRING: case arrow::Type::STRING_VIEW:
      return AppendBytes(builder, type, text);
    case arrow::Type::BINARY: case arrow::Type::LARGE_BINARY: case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY: {
      AMP_ASSIGN_OR_RETURN(std::string bytes, loaders::ParseHex(text));
      return AppendBytes(builder, type, bytes);
    }
    case arrow::Type::TIMESTAMP: {
      const auto& dt = static_cast<const arrow::TimestampType&>(type);
      AMP_ASSIGN_OR_RETURN(int64_t v, ParseTimestamp(text, loaders::UnitDigits(dt.unit())));
      return static_cast<arrow::TimestampBuilder*>(builder)->Append(v);
    }
    case arrow::Type::DATE32: {
      size_t consumed = 0;
      AMP_ASSIGN_OR_RETURN(int64_t days, ParseDate(text, &consumed));
      if (consumed != text.size()) return Status::Invalid("not a date: '", text, "'");
      return static_cast<arrow::Date32Builder*>(builder)->Append(static_cast<int32_t>(days));
    }
    default: {
      if (!IsNested(type.id())) {
        return Status::NotImplemented("cannot decode type ", type.ToString());
      }
      auto json = loaders::ParseJson(text, kRedisText);
      if (!json.ok()) return Status::Invalid("not JSON: '", text.substr(0, 80), "'");
      return loaders::AppendFromJson(*json, type, kRedisText, builder);
    }
  }
}

Status AppendFromJson(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                      const nlohmann::json& value) {
  return loaders::AppendFromJson(ToJsonValue(value), type, kRedisText, builder);
}

std::string FormatTimestamp(int64_t value, int digits) {
  std::string out;
  loaders::AppendIsoTimestamp(value, digits, /*utc_suffix=*/true, kRedisText, &out);
  return out;
}

Result<int64_t> ParseTimestamp(std::string_view text, int digits) {
  return loaders::ParseIsoTimestamp(text, digits, /*utc_suffix_required=*/true, kRedisText);
}

// ---------------------------------------------------------------------------------------
// KeyPattern.

Result<KeyPattern> KeyPattern::Parse(const std::string& pattern, const arrow::Schema& schema,
                                     const std::string& table) {
  auto columns = [&] {
    std::string list;
    for (const auto& f : schema.fields()) list += (list.empty() ? "" : ", ") + f->name();
    return list;
  };
  if (pattern.empty()) return Status::Invalid("key_pattern is empty");
  KeyPattern out;
  out.text_ = pattern;
  size_t pos = 0;
  bool separated = true;  // ':' seen since the last placeholder
  while (pos < pattern.size()) {
    const size_t open = pattern.find('{', pos);
    const size_t close_stray = pattern.find('}', pos);
    if (close_stray != std::string::npos && (open == std::string::npos || close_stray < open)) {
      return Status::Invalid("key_pattern '", pattern, "' has an unmatched '}'");
    }
    if (open == std::string::npos || open > pos) {
      Part lit;
      lit.text = pattern.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
      if (lit.text.find(':') != std::string::npos) separated = true;
      out.parts_.push_back(std::move(lit));
      if (open == std::string::npos) break;
    }
    const size_t close = pattern.find('}', open);
    if (close == std::string::npos) {
      return Status::Invalid("key_pattern '", pattern, "' has an unmatched '{'");
    }
    const std::string name = pattern.substr(open + 1, close - open - 1);
    if (name.find('{') != std::string::npos) {
      return Status::Invalid("key_pattern '", pattern, "' has nested braces");
    }
    if (!separated) {
      return Status::Invalid("key_pattern '", pattern, "': placeholder {", name,
                             "} must be separated from the previous one by text containing ':' "
                             "(otherwise distinct rows could get the same key)");
    }
    Part part;
    part.text = name;
    const int column = schema.GetFieldIndex(name);
    if (column >= 0) {
      part.source = Source::kColumn;
      part.column = column;
    } else if (name == "table") {
      part.source = Source::kTable;
    } else if (name == "_amp_block_start") {
      part.source = Source::kBlockStart;
    } else if (name == "_amp_block_end") {
      part.source = Source::kBlockEnd;
    } else if (name == "_amp_seq") {
      part.source = Source::kSeq;
    } else {
      return Status::Invalid("key_pattern placeholder {", name, "} is not a column of table '",
                             table, "' (columns: ", columns(),
                             "; built-in: table, _amp_block_start, _amp_block_end, _amp_seq)");
    }
    separated = false;
    out.parts_.push_back(std::move(part));
    pos = close + 1;
  }
  return out;
}

bool KeyPattern::Uses(Source source) const {
  for (const auto& p : parts_) {
    if (p.source == source) return true;
  }
  return false;
}

bool KeyPattern::UsesColumn(const std::string& name) const {
  for (const auto& p : parts_) {
    if (p.source == Source::kColumn && p.text == name) return true;
  }
  return false;
}

}  // namespace amp::redis
