#include "loaders/redis/redis_codec.h"

#include <arrow/api.h>
#include <arrow/util/decimal.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

namespace amp::redis {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Two hex digits per byte value, so a byte costs one 2-byte copy (binaries dominate the
// encoded size of blockchain rows).
struct HexPairs {
  char pairs[256][2];
  constexpr HexPairs() : pairs() {
    for (int c = 0; c < 256; ++c) {
      pairs[c][0] = kHex[c >> 4];
      pairs[c][1] = kHex[c & 15];
    }
  }
};
constexpr HexPairs kHexPairs;

void AppendHex(std::string_view bytes, std::string* out) {
  const size_t base = out->size();
  out->resize(base + 2 + bytes.size() * 2);
  char* p = out->data() + base;
  *p++ = '0';
  *p++ = 'x';
  for (unsigned char c : bytes) {
    std::memcpy(p, kHexPairs.pairs[c], 2);
    p += 2;
  }
}

// Whether byte `c` needs escaping inside a JSON string literal.
constexpr bool NeedsJsonEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c == 0x7f; }

template <typename T>
void AppendInt(T value, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, r.ptr);
}

void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "Infinity" : "-Infinity");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), value);
    out->append(buf, r.ptr);
  }
}

// Howard Hinnant's civil-from-days / days-from-civil (public-domain algorithms).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

void AppendPadded(int64_t value, int width, std::string* out) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  if (value < 0) out->push_back('-');
  for (int i = static_cast<int>(digits.size()); i < width; ++i) out->push_back('0');
  out->append(digits);
}

void AppendDate(int64_t days, std::string* out) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  AppendPadded(y, 4, out);
  out->push_back('-');
  AppendPadded(m, 2, out);
  out->push_back('-');
  AppendPadded(d, 2, out);
}

Result<int64_t> ParseDate(std::string_view text, size_t* consumed) {
  // [-]Y{4,}-MM-DD
  size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && text[pos] == '-') {
    negative = true;
    ++pos;
  }
  size_t start = pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
  if (pos - start < 4 || pos + 6 > text.size() || text[pos] != '-' || text[pos + 3] != '-') {
    return Status::Invalid("not a date: '", text, "'");
  }
  int64_t y = 0;
  std::from_chars(text.data() + start, text.data() + pos, y);
  if (negative) y = -y;
  unsigned m = 0, d = 0;
  auto r1 = std::from_chars(text.data() + pos + 1, text.data() + pos + 3, m);
  auto r2 = std::from_chars(text.data() + pos + 4, text.data() + pos + 6, d);
  if (r1.ptr != text.data() + pos + 3 || r2.ptr != text.data() + pos + 6 || m < 1 || m > 12 ||
      d < 1 || d > 31) {
    return Status::Invalid("not a date: '", text, "'");
  }
  *consumed = pos + 6;
  return DaysFromCivil(y, m, d);
}

int UnitDigits(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 0;
    case arrow::TimeUnit::MILLI: return 3;
    case arrow::TimeUnit::MICRO: return 6;
    case arrow::TimeUnit::NANO: return 9;
  }
  return 0;
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
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return Status::Invalid("not a number: '", text, "'");
  }
  return v;
}

Result<std::string> ParseHex(std::string_view text) {
  if (text.size() < 2 || text[0] != '0' || text[1] != 'x' || text.size() % 2 != 0) {
    return Status::Invalid("not 0x-prefixed hex: '", text.substr(0, 40), "'");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out((text.size() - 2) / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(text[2 + 2 * i]), lo = nibble(text[3 + 2 * i]);
    if (hi < 0 || lo < 0) return Status::Invalid("not hex: '", text.substr(0, 40), "'");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
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

// JSON numbers for these; every other scalar is a JSON string of its text form.
bool IsJsonNumber(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::INT8: case arrow::Type::INT16: case arrow::Type::INT32:
    case arrow::Type::INT64: case arrow::Type::UINT8: case arrow::Type::UINT16:
    case arrow::Type::UINT32: case arrow::Type::UINT64:
    case arrow::Type::TIME32: case arrow::Type::TIME64: case arrow::Type::DURATION:
    case arrow::Type::DATE64:
      return true;
    default:
      return false;
  }
}

template <typename BuilderT, typename T>
Status AppendParsed(arrow::ArrayBuilder* builder, std::string_view text) {
  T value{};
  AMP_RETURN_NOT_OK(ParseIntegral(text, &value));
  return static_cast<BuilderT*>(builder)->Append(value);
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
    case arrow::Type::BOOL:
      out->append(static_cast<const arrow::BooleanArray&>(array).Value(i) ? "true" : "false");
      return;
    case arrow::Type::INT8: AppendInt(static_cast<const arrow::Int8Array&>(array).Value(i), out); return;
    case arrow::Type::INT16: AppendInt(static_cast<const arrow::Int16Array&>(array).Value(i), out); return;
    case arrow::Type::INT32: AppendInt(static_cast<const arrow::Int32Array&>(array).Value(i), out); return;
    case arrow::Type::INT64: AppendInt(static_cast<const arrow::Int64Array&>(array).Value(i), out); return;
    case arrow::Type::UINT8: AppendInt(static_cast<const arrow::UInt8Array&>(array).Value(i), out); return;
    case arrow::Type::UINT16: AppendInt(static_cast<const arrow::UInt16Array&>(array).Value(i), out); return;
    case arrow::Type::UINT32: AppendInt(static_cast<const arrow::UInt32Array&>(array).Value(i), out); return;
    case arrow::Type::UINT64: AppendInt(static_cast<const arrow::UInt64Array&>(array).Value(i), out); return;
    case arrow::Type::DATE64: AppendInt(static_cast<const arrow::Date64Array&>(array).Value(i), out); return;
    case arrow::Type::TIME32: AppendInt(static_cast<const arrow::Time32Array&>(array).Value(i), out); return;
    case arrow::Type::TIME64: AppendInt(static_cast<const arrow::Time64Array&>(array).Value(i), out); return;
    case arrow::Type::DURATION: AppendInt(static_cast<const arrow::DurationArray&>(array).Value(i), out); return;
    case arrow::Type::FLOAT: AppendDouble(static_cast<const arrow::FloatArray&>(array).Value(i), out); return;
    case arrow::Type::DOUBLE: AppendDouble(static_cast<const arrow::DoubleArray&>(array).Value(i), out); return;
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
      AppendHex(BinaryValue(array, i), out);
      return;
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      out->append(FormatTimestamp(static_cast<const arrow::TimestampArray&>(array).Value(i),
                                  UnitDigits(type.unit())));
      return;
    }
    case arrow::Type::DATE32:
      AppendDate(static_cast<const arrow::Date32Array&>(array).Value(i), out);
      return;
    default:
      // Nested values: their JSON text.
      AppendJson(array, i, out);
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
  out->push_back('"');
  // Runs of bytes that need no escape (nearly all text) are copied in one append.
  size_t run = 0;
  while (run < text.size() && !NeedsJsonEscape(static_cast<unsigned char>(text[run]))) ++run;
  out->append(text.data(), run);
  text.remove_prefix(run);
  for (unsigned char c : text) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJson(const arrow::Array& array, int64_t i, std::string* out) {
  if (array.IsNull(i)) {
    out->append("null");
    return;
  }
  const auto id = array.type_id();
  switch (id) {
    case arrow::Type::BOOL:
      AppendText(array, i, out);
      return;
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      std::string text;
      AppendText(array, i, &text);
      if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
        AppendJsonString(text, out);
      } else {
        out->append(text);
      }
      return;
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST: {
      std::shared_ptr<arrow::Array> values;
      int64_t begin = 0, end = 0;
      if (id == arrow::Type::LIST) {
        const auto& l = static_cast<const arrow::ListArray&>(array);
        values = l.values();
        begin = l.value_offset(i);
        end = begin + l.value_length(i);
      } else if (id == arrow::Type::LARGE_LIST) {
        const auto& l = static_cast<const arrow::LargeListArray&>(array);
        values = l.values();
        begin = l.value_offset(i);
        end = begin + l.value_length(i);
      } else {
        const auto& l = static_cast<const arrow::FixedSizeListArray&>(array);
        values = l.values();
        begin = l.value_offset(i);
        end = begin + l.value_length(i);
      }
      out->push_back('[');
      for (int64_t k = begin; k < end; ++k) {
        if (k > begin) out->push_back(',');
        AppendJson(*values, k, out);
      }
      out->push_back(']');
      return;
    }
    case arrow::Type::STRUCT: {
      const auto& s = static_cast<const arrow::StructArray&>(array);
      const auto& type = *s.struct_type();
      out->push_back('{');
      for (int f = 0; f < type.num_fields(); ++f) {
        if (f > 0) out->push_back(',');
        AppendJsonString(type.field(f)->name(), out);
        out->push_back(':');
        // field(f) applies the struct's offset (unlike raw child data).
        AppendJson(*s.field(f), i, out);
      }
      out->push_back('}');
      return;
    }
    default:
      if (IsJsonNumber(id)) {
        AppendText(array, i, out);
      } else if (IsBinaryType(id)) {
        // "0x..." needs no escaping: written in place, without a temporary.
        out->push_back('"');
        AppendHex(BinaryValue(array, i), out);
        out->push_back('"');
      } else {
        std::string text;
        AppendText(array, i, &text);
        AppendJsonString(text, out);
      }
  }
}

void AppendEscapedKeyText(std::string_view text, std::string* out) {
  for (unsigned char c : text) {
    if (c == '%' || c == ':' || c == '{' || c == '}' || c <= 0x20 || c == 0x7f) {
      out->push_back('%');
      out->push_back(static_cast<char>(std::toupper(kHex[c >> 4])));
      out->push_back(static_cast<char>(std::toupper(kHex[c & 15])));
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
    AppendHex(BinaryValue(array, i), out);  // never escaped: [0-9a-fx] only
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
  if (binary != BinaryForm::kRaw) return AppendFromText(builder, type, text);
  switch (type.id()) {
    case arrow::Type::BINARY: return static_cast<arrow::BinaryBuilder*>(builder)->Append(text);
    case arrow::Type::LARGE_BINARY: return static_cast<arrow::LargeBinaryBuilder*>(builder)->Append(text);
    case arrow::Type::BINARY_VIEW: return static_cast<arrow::BinaryViewBuilder*>(builder)->Append(text);
    case arrow::Type::FIXED_SIZE_BINARY: {
      const int width = static_cast<const arrow::FixedSizeBinaryType&>(type).byte_width();
      if (static_cast<int>(text.size()) != width) {
        return Status::Invalid("expected ", width, " bytes, got ", text.size());
      }
      return static_cast<arrow::FixedSizeBinaryBuilder*>(builder)->Append(text);
    }
    default:
      return AppendFromText(builder, type, text);
  }
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
    case arrow::Type::INT8: return AppendParsed<arrow::Int8Builder, int8_t>(builder, text);
    case arrow::Type::INT16: return AppendParsed<arrow::Int16Builder, int16_t>(builder, text);
    case arrow::Type::INT32: return AppendParsed<arrow::Int32Builder, int32_t>(builder, text);
    case arrow::Type::INT64: return AppendParsed<arrow::Int64Builder, int64_t>(builder, text);
    case arrow::Type::UINT8: return AppendParsed<arrow::UInt8Builder, uint8_t>(builder, text);
    case arrow::Type::UINT16: return AppendParsed<arrow::UInt16Builder, uint16_t>(builder, text);
    case arrow::Type::UINT32: return AppendParsed<arrow::UInt32Builder, uint32_t>(builder, text);
    case arrow::Type::UINT64: return AppendParsed<arrow::UInt64Builder, uint64_t>(builder, text);
    case arrow::Type::DATE64: return AppendParsed<arrow::Date64Builder, int64_t>(builder, text);
    case arrow::Type::TIME32: return AppendParsed<arrow::Time32Builder, int32_t>(builder, text);
    case arrow::Type::TIME64: return AppendParsed<arrow::Time64Builder, int64_t>(builder, text);
    case arrow::Type::DURATION: return AppendParsed<arrow::DurationBuilder, int64_t>(builder, text);
    case arrow::Type::FLOAT: {
      AMP_ASSIGN_OR_RETURN(double v, ParseDouble(text));
      return static_cast<arrow::FloatBuilder*>(builder)->Append(static_cast<float>(v));
    }
    case arrow::Type::DOUBLE: {
      AMP_ASSIGN_OR_RETURN(double v, ParseDouble(text));
      return static_cast<arrow::DoubleBuilder*>(builder)->Append(v);
    }
    case arrow::Type::DECIMAL128: {
      const auto& dt = static_cast<const arrow::Decimal128Type&>(type);
      arrow::Decimal128 value;
      int32_t precision = 0, scale = 0;
      AMP_RETURN_NOT_OK(arrow::Decimal128::FromString(text, &value, &precision, &scale));
      if (scale != dt.scale()) {
        AMP_ASSIGN_OR_RETURN(value, value.Rescale(scale, dt.scale()));
      }
      return static_cast<arrow::Decimal128Builder*>(builder)->Append(value);
    }
    case arrow::Type::DECIMAL256: {
      const auto& dt = static_cast<const arrow::Decimal256Type&>(type);
      arrow::Decimal256 value;
      int32_t precision = 0, scale = 0;
      AMP_RETURN_NOT_OK(arrow::Decimal256::FromString(text, &value, &precision, &scale));
      if (scale != dt.scale()) {
        AMP_ASSIGN_OR_RETURN(value, value.Rescale(scale, dt.scale()));
      }
      return static_cast<arrow::Decimal256Builder*>(builder)->Append(value);
    }
    case arrow::Type::STRING: return static_cast<arrow::StringBuilder*>(builder)->Append(text);
    case arrow::Type::LARGE_STRING: return static_cast<arrow::LargeStringBuilder*>(builder)->Append(text);
    case arrow::Type::STRING_VIEW: return static_cast<arrow::StringViewBuilder*>(builder)->Append(text);
    case arrow::Type::BINARY: case arrow::Type::LARGE_BINARY: case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY: {
      AMP_ASSIGN_OR_RETURN(std::string bytes, ParseHex(text));
      switch (type.id()) {
        case arrow::Type::BINARY: return static_cast<arrow::BinaryBuilder*>(builder)->Append(bytes);
        case arrow::Type::LARGE_BINARY: return static_cast<arrow::LargeBinaryBuilder*>(builder)->Append(bytes);
        case arrow::Type::BINARY_VIEW: return static_cast<arrow::BinaryViewBuilder*>(builder)->Append(bytes);
        default: {
          const int width = static_cast<const arrow::FixedSizeBinaryType&>(type).byte_width();
          if (static_cast<int>(bytes.size()) != width) {
            return Status::Invalid("expected ", width, " bytes, got ", bytes.size());
          }
          return static_cast<arrow::FixedSizeBinaryBuilder*>(builder)->Append(bytes);
        }
      }
    }
    case arrow::Type::TIMESTAMP: {
      const auto& dt = static_cast<const arrow::TimestampType&>(type);
      AMP_ASSIGN_OR_RETURN(int64_t v, ParseTimestamp(text, UnitDigits(dt.unit())));
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
      auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (json.is_discarded()) return Status::Invalid("not JSON: '", text.substr(0, 80), "'");
      return AppendFromJson(builder, type, json);
    }
  }
}

Status AppendFromJson(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                      const nlohmann::json& value) {
  if (value.is_null()) return builder->AppendNull();
  const auto id = type.id();
  switch (id) {
    case arrow::Type::BOOL:
      if (!value.is_boolean()) return Status::Invalid("expected a JSON boolean: ", value.dump());
      return static_cast<arrow::BooleanBuilder*>(builder)->Append(value.get<bool>());
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      double v = 0;
      if (value.is_string()) {
        AMP_ASSIGN_OR_RETURN(v, ParseDouble(value.get_ref<const std::string&>()));
      } else if (value.is_number()) {
        v = value.get<double>();
      } else {
        return Status::Invalid("expected a JSON number: ", value.dump());
      }
      if (id == arrow::Type::FLOAT) {
        return static_cast<arrow::FloatBuilder*>(builder)->Append(static_cast<float>(v));
      }
      return static_cast<arrow::DoubleBuilder*>(builder)->Append(v);
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST: {
      if (!value.is_array()) return Status::Invalid("expected a JSON array: ", value.dump());
      const auto& child = *type.field(0)->type();
      arrow::ArrayBuilder* values = nullptr;
      if (id == arrow::Type::LIST) {
        auto* b = static_cast<arrow::ListBuilder*>(builder);
        AMP_RETURN_NOT_OK(b->Append());
        values = b->value_builder();
      } else if (id == arrow::Type::LARGE_LIST) {
        auto* b = static_cast<arrow::LargeListBuilder*>(builder);
        AMP_RETURN_NOT_OK(b->Append());
        values = b->value_builder();
      } else {
        auto* b = static_cast<arrow::FixedSizeListBuilder*>(builder);
        AMP_RETURN_NOT_OK(b->Append());
        values = b->value_builder();
      }
      for (const auto& item : value) AMP_RETURN_NOT_OK(AppendFromJson(values, child, item));
      return Status::OK();
    }
    case arrow::Type::STRUCT: {
      if (!value.is_object()) return Status::Invalid("expected a JSON object: ", value.dump());
      auto* b = static_cast<arrow::StructBuilder*>(builder);
      AMP_RETURN_NOT_OK(b->Append());
      for (int f = 0; f < type.num_fields(); ++f) {
        const auto& field = type.field(f);
        auto it = value.find(field->name());
        static const nlohmann::json kNull;
        AMP_RETURN_NOT_OK(AppendFromJson(b->field_builder(f), *field->type(),
                                         it == value.end() ? kNull : *it));
      }
      return Status::OK();
    }
    default:
      if (value.is_string()) return AppendFromText(builder, type, value.get_ref<const std::string&>());
      if (value.is_boolean()) return AppendFromText(builder, type, value.get<bool>() ? "true" : "false");
      if (value.is_number_integer() || value.is_number_unsigned()) {
        return AppendFromText(builder, type, value.dump());
      }
      return Status::Invalid("unexpected JSON value for ", type.ToString(), ": ", value.dump());
  }
}

std::string FormatTimestamp(int64_t value, int digits) {
  int64_t per_second = 1;
  for (int k = 0; k < digits; ++k) per_second *= 10;
  const int64_t seconds = FloorDiv(value, per_second);
  const int64_t fraction = value - seconds * per_second;
  const int64_t days = FloorDiv(seconds, 86400);
  const int64_t sod = seconds - days * 86400;
  std::string out;
  AppendDate(days, &out);
  out.push_back('T');
  AppendPadded(sod / 3600, 2, &out);
  out.push_back(':');
  AppendPadded(sod / 60 % 60, 2, &out);
  out.push_back(':');
  AppendPadded(sod % 60, 2, &out);
  if (digits > 0) {
    out.push_back('.');
    AppendPadded(fraction, digits, &out);
  }
  out.push_back('Z');
  return out;
}

Result<int64_t> ParseTimestamp(std::string_view text, int digits) {
  auto bad = [&] { return Status::Invalid("not an ISO 8601 UTC timestamp: '", text, "'"); };
  size_t pos = 0;
  auto days = ParseDate(text, &pos);
  if (!days.ok()) return bad();
  // THH:MM:SS
  if (pos + 9 > text.size() || text[pos] != 'T' || text[pos + 3] != ':' || text[pos + 6] != ':') {
    return bad();
  }
  int hh = 0, mm = 0, ss = 0;
  if (std::from_chars(text.data() + pos + 1, text.data() + pos + 3, hh).ptr != text.data() + pos + 3 ||
      std::from_chars(text.data() + pos + 4, text.data() + pos + 6, mm).ptr != text.data() + pos + 6 ||
      std::from_chars(text.data() + pos + 7, text.data() + pos + 9, ss).ptr != text.data() + pos + 9) {
    return bad();
  }
  pos += 9;
  int64_t fraction = 0;
  int frac_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (frac_digits >= digits) return bad();  // more precision than the unit holds
      fraction = fraction * 10 + (text[pos] - '0');
      ++frac_digits;
      ++pos;
    }
  }
  for (int k = frac_digits; k < digits; ++k) fraction *= 10;
  if (pos + 1 != text.size() || text[pos] != 'Z') return bad();
  int64_t per_second = 1;
  for (int k = 0; k < digits; ++k) per_second *= 10;
  const int64_t seconds = *days * 86400 + hh * 3600 + mm * 60 + ss;
  return seconds * per_second + fraction;
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
