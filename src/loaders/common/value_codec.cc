#include "loaders/common/value_codec.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/extension_type.h>
#include <arrow/type.h>
#include <arrow/type_traits.h>
#include <arrow/util/float16.h>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace amp::loaders {
namespace {

using arrow::Type;

constexpr char kHexDigits[] = "0123456789abcdef";

// Two hex digits per byte value, so a byte costs one 2-byte copy (binaries dominate the
// encoded size of blockchain rows).
struct HexPairs {
  char pairs[256][2];
  constexpr HexPairs() : pairs() {
    for (int c = 0; c < 256; ++c) {
      pairs[c][0] = kHexDigits[c >> 4];
      pairs[c][1] = kHexDigits[c & 15];
    }
  }
};
constexpr HexPairs kHexPairs;

// 10^0 .. 10^19 (the powers of ten that fit in 64 bits).
constexpr std::array<uint64_t, 20> kPow10 = [] {
  std::array<uint64_t, 20> p{};
  p[0] = 1;
  for (size_t k = 1; k < p.size(); ++k) p[k] = p[k - 1] * 10;
  return p;
}();

template <typename T>
void AppendInteger(T value, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, r.ptr);
}

// `value` zero-padded to `width`: printf's %0*d when `sign_in_width` (the sign takes one
// of the characters), else the sign followed by `width` digits at least.
void AppendPadded(int64_t value, int width, bool sign_in_width, std::string* out) {
  const bool negative = value < 0;
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : value;
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), magnitude);
  const int digits = static_cast<int>(r.ptr - buf);
  if (negative) out->push_back('-');
  const int pad = width - digits - (negative && sign_in_width ? 1 : 0);
  if (pad > 0) out->append(static_cast<size_t>(pad), '0');
  out->append(buf, r.ptr);
}

bool ParseFixedDigits(std::string_view s, size_t* pos, int n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (int k = 0; k < n; ++k) {
    const char c = s[*pos + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

template <typename T>
bool ParseWhole(std::string_view text, T* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

enum class Parsed { kOk, kMalformed, kOutOfRange };

Parsed ParseTimestampParts(std::string_view text, int digits, bool utc_suffix_required,
                           const JsonDialect& dialect, int64_t* value) {
  size_t pos = 0;
  int64_t days, clock;
  if (!ParseIsoDate(text, &pos, dialect, &days) || pos >= text.size() || text[pos++] != 'T' ||
      !ParseIsoClock(text, &pos, digits, &clock)) {
    return Parsed::kMalformed;
  }
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (utc_suffix_required) {
    return Parsed::kMalformed;
  }
  if (pos != text.size()) return Parsed::kMalformed;
  // In 128 bits: the earliest int64 nanosecond (1677-09-21T00:12:43.145224192) is a day
  // count whose midnight is already below INT64_MIN.
  const __int128 wide = static_cast<__int128>(days) * 86400 * kPow10[digits] + clock;
  if (wide < std::numeric_limits<int64_t>::min() || wide > std::numeric_limits<int64_t>::max()) {
    return Parsed::kOutOfRange;
  }
  *value = static_cast<int64_t>(wide);
  return Parsed::kOk;
}

template <typename F>
void AppendJsonFloat(F value, std::string* out) {
  // JSON has no NaN/Infinity literals: spelled as strings.
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    AppendFloatText(value, out);
  }
}

void AppendJsonFloat32(float value, const JsonDialect& dialect, std::string* out) {
  if (dialect.float32_via_double) {
    AppendJsonFloat(static_cast<double>(value), out);
  } else {
    AppendJsonFloat(value, out);
  }
}

template <typename ArrayType>
std::string_view ViewOf(const arrow::Array& array, int64_t i) {
  return static_cast<const ArrayType&>(array).GetView(i);
}

template <typename T>
T ValueOf(const arrow::Array& array, int64_t i) {
  return reinterpret_cast<const T*>(array.data()->buffers[1]->data())[array.data()->offset + i];
}

template <typename ListType>
void AppendJsonList(const arrow::Array& array, int64_t i, const JsonDialect& dialect,
                    std::string* out) {
  const auto& list = static_cast<const ListType&>(array);
  const arrow::Array& values = *list.values();
  const int64_t start = list.value_offset(i);
  const int64_t length = list.value_length(i);
  out->push_back('[');
  for (int64_t j = 0; j < length; ++j) {
    if (j > 0) out->push_back(',');
    AppendJson(values, start + j, dialect, out);
  }
  out->push_back(']');
}

// Arrow's FormatValue: plain or E-notation, both valid JSON numbers.
std::string DecimalText(const arrow::Array& array, int64_t i) {
  switch (array.type_id()) {
    case Type::DECIMAL32: return static_cast<const arrow::Decimal32Array&>(array).FormatValue(i);
    case Type::DECIMAL64: return static_cast<const arrow::Decimal64Array&>(array).FormatValue(i);
    case Type::DECIMAL128: return static_cast<const arrow::Decimal128Array&>(array).FormatValue(i);
    default: return static_cast<const arrow::Decimal256Array&>(array).FormatValue(i);
  }
}

void AppendQuoted(std::string* out, auto&& write) {
  out->push_back('"');
  write();
  out->push_back('"');
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Calendar.

int UnitDigits(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 0;
    case arrow::TimeUnit::MILLI: return 3;
    case arrow::TimeUnit::MICRO: return 6;
    case arrow::TimeUnit::NANO: return 9;
  }
  return 0;
}

int64_t UnitsPerSecond(arrow::TimeUnit::type unit) {
  return static_cast<int64_t>(kPow10[UnitDigits(unit)]);
}

CivilDate CivilFromDays(int64_t days) {
  // Shift to 0000-03-01 so leap days fall at the end of a 400-year era.
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // March = 0
  CivilDate date;
  date.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  date.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  date.year = yoe + era * 400 + (date.month <= 2 ? 1 : 0);
  return date;
}

int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(year, 400);
  const int64_t yoe = year - era * 400;
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// ---------------------------------------------------------------------------------------
// Scalar text.

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

Result<std::string> ParseHex(std::string_view text) {
  if (text.size() < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') ||
      text.size() % 2 != 0) {
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
    const int hi = nibble(text[2 + 2 * i]), lo = nibble(text[3 + 2 * i]);
    if (hi < 0 || lo < 0) return Status::Invalid("not hex: '", text.substr(0, 40), "'");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

template <typename F>
static void AppendFloatTextOf(F value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "Infinity" : "-Infinity");
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), value);
    out->append(buf, r.ptr);
  }
}
void AppendFloatText(double value, std::string* out) { AppendFloatTextOf(value, out); }
void AppendFloatText(float value, std::string* out) { AppendFloatTextOf(value, out); }

template <typename F>
static bool ParseFloatTextOf(std::string_view text, F* out) {
  if (text == "NaN") {
    *out = std::numeric_limits<F>::quiet_NaN();
  } else if (text == "Infinity") {
    *out = std::numeric_limits<F>::infinity();
  } else if (text == "-Infinity") {
    *out = -std::numeric_limits<F>::infinity();
  } else {
    return ParseWhole(text, out);
  }
  return true;
}
bool ParseFloatText(std::string_view text, double* out) { return ParseFloatTextOf(text, out); }
bool ParseFloatText(std::string_view text, float* out) { return ParseFloatTextOf(text, out); }

void AppendIsoDate(int64_t days, const JsonDialect& dialect, std::string* out) {
  const CivilDate date = CivilFromDays(days);
  AppendPadded(date.year, 4, !dialect.four_digit_negative_years, out);
  out->push_back('-');
  AppendPadded(date.month, 2, true, out);
  out->push_back('-');
  AppendPadded(date.day, 2, true, out);
}

void AppendIsoClock(int64_t seconds, int64_t fraction, int digits, std::string* out) {
  // Each part as printf's %02d of an int: what the stored text has always been, also for
  // the out-of-day values a Time32/Time64 array may hold.
  AppendPadded(static_cast<int>(seconds / 3600), 2, true, out);
  out->push_back(':');
  AppendPadded(static_cast<int>(seconds / 60 % 60), 2, true, out);
  out->push_back(':');
  AppendPadded(static_cast<int>(seconds % 60), 2, true, out);
  if (digits > 0) {
    out->push_back('.');
    AppendPadded(fraction, digits, true, out);
  }
}

void AppendIsoTimestamp(int64_t value, int digits, bool utc_suffix, const JsonDialect& dialect,
                        std::string* out) {
  const int64_t per = static_cast<int64_t>(kPow10[digits]);
  const int64_t seconds = FloorDiv(value, per);
  const int64_t days = FloorDiv(seconds, 86400);
  AppendIsoDate(days, dialect, out);
  out->push_back('T');
  AppendIsoClock(seconds - days * 86400, value - seconds * per, digits, out);
  if (utc_suffix) out->push_back('Z');
}

bool ParseIsoDate(std::string_view s, size_t* pos, const JsonDialect& dialect, int64_t* days) {
  bool negative = false;
  if (*pos < s.size() && s[*pos] == '-') {
    negative = true;
    ++*pos;
  }
  size_t digits = 0;
  while (*pos + digits < s.size() && IsDigit(s[*pos + digits])) ++digits;
  if (digits == 0 || digits > 18 || digits < static_cast<size_t>(dialect.min_year_digits)) {
    return false;
  }
  int64_t year, month, day;
  if (!ParseFixedDigits(s, pos, static_cast<int>(digits), &year)) return false;
  if (negative) year = -year;
  if (*pos >= s.size() || s[(*pos)++] != '-') return false;
  if (!ParseFixedDigits(s, pos, 2, &month) || month < 1 || month > 12) return false;
  if (*pos >= s.size() || s[(*pos)++] != '-') return false;
  if (!ParseFixedDigits(s, pos, 2, &day) || day < 1 || day > 31) return false;
  *days = DaysFromCivil(year, static_cast<int>(month), static_cast<int>(day));
  return true;
}

bool ParseIsoClock(std::string_view s, size_t* pos, int digits, int64_t* out) {
  int64_t h, m, sec;
  if (!ParseFixedDigits(s, pos, 2, &h) || *pos >= s.size() || s[(*pos)++] != ':' ||
      !ParseFixedDigits(s, pos, 2, &m) || *pos >= s.size() || s[(*pos)++] != ':' ||
      !ParseFixedDigits(s, pos, 2, &sec) || h > 24 || m > 59 || sec > 60) {
    return false;
  }
  int64_t frac = 0;
  int frac_digits = 0;
  if (*pos < s.size() && s[*pos] == '.') {
    ++*pos;
    while (*pos < s.size() && IsDigit(s[*pos])) {
      if (frac_digits == digits) return false;  // finer than the unit
      frac = frac * 10 + (s[*pos] - '0');
      ++frac_digits;
      ++*pos;
    }
    if (frac_digits == 0) return false;
  }
  frac *= static_cast<int64_t>(kPow10[digits - frac_digits]);
  *out = (h * 3600 + m * 60 + sec) * static_cast<int64_t>(kPow10[digits]) + frac;
  return true;
}

Result<int64_t> ParseIsoTimestamp(std::string_view text, int digits, bool utc_suffix_required,
                                  const JsonDialect& dialect) {
  int64_t value = 0;
  switch (ParseTimestampParts(text, digits, utc_suffix_required, dialect, &value)) {
    case Parsed::kOk: return value;
    case Parsed::kOutOfRange:
      return Status::Invalid("timestamp '", text, "' is out of the int64 range of its unit");
    case Parsed::kMalformed: break;
  }
  return Status::Invalid("not an ISO 8601 ", utc_suffix_required ? "UTC " : "", "timestamp: '",
                         text, "'");
}

// ---------------------------------------------------------------------------------------
// JSON writing.

void AppendJsonString(std::string_view s, const JsonDialect& dialect, std::string* out) {
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    if (c >= 0x20 && c != '"' && c != '\\' && !(c == 0x7f && dialect.escape_delete)) continue;
    out->append(s.data() + run, k - run);
    run = k + 1;
    switch (c) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      case '\b':
        if (!dialect.short_control_escapes) break;
        out->append("\\b");
        continue;
      case '\f':
        if (!dialect.short_control_escapes) break;
        out->append("\\f");
        continue;
      default: break;
    }
    out->append("\\u00");
    out->append(kHexPairs.pairs[c], 2);
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

Status CheckJsonWritable(const arrow::DataType& type, const JsonDialect& dialect) {
  switch (type.id()) {
    case Type::NA: case Type::BOOL:
    case Type::INT8: case Type::INT16: case Type::INT32: case Type::INT64:
    case Type::UINT8: case Type::UINT16: case Type::UINT32: case Type::UINT64:
    case Type::HALF_FLOAT: case Type::FLOAT: case Type::DOUBLE:
    case Type::DECIMAL32: case Type::DECIMAL64: case Type::DECIMAL128: case Type::DECIMAL256:
    case Type::STRING: case Type::LARGE_STRING: case Type::STRING_VIEW:
    case Type::BINARY: case Type::LARGE_BINARY: case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
    case Type::TIMESTAMP: case Type::DATE32: case Type::DATE64:
    case Type::TIME32: case Type::TIME64:
      return Status::OK();
    case Type::DURATION:
      if (dialect.temporal_as_counts) return Status::OK();
      break;
    case Type::LIST: case Type::LARGE_LIST: case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW: case Type::LARGE_LIST_VIEW: case Type::STRUCT:
      for (const auto& child : type.fields()) {
        AMP_RETURN_NOT_OK(CheckJsonWritable(*child->type(), dialect));
      }
      return Status::OK();
    case Type::DICTIONARY:
      return CheckJsonWritable(*static_cast<const arrow::DictionaryType&>(type).value_type(),
                               dialect);
    case Type::EXTENSION:
      return CheckJsonWritable(*static_cast<const arrow::ExtensionType&>(type).storage_type(),
                               dialect);
    default: break;
  }
  return Status::TypeError("cannot encode Arrow type ", type.ToString(), " as JSON");
}

bool IsNullValue(const arrow::Array& array, int64_t i) {
  if (array.IsNull(i)) return true;
  if (array.type_id() == Type::DICTIONARY) {
    const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
    return IsNullValue(*dict.dictionary(), dict.GetValueIndex(i));
  }
  if (array.type_id() == Type::EXTENSION) {
    return IsNullValue(*static_cast<const arrow::ExtensionArray&>(array).storage(), i);
  }
  return false;
}

void AppendJson(const arrow::Array& array, int64_t i, const JsonDialect& dialect,
                std::string* out) {
  if (array.IsNull(i)) {
    out->append("null");
    return;
  }
  switch (array.type_id()) {
    case Type::BOOL:
      out->append(static_cast<const arrow::BooleanArray&>(array).Value(i) ? "true" : "false");
      return;
    case Type::INT8: return AppendInteger(ValueOf<int8_t>(array, i), out);
    case Type::INT16: return AppendInteger(ValueOf<int16_t>(array, i), out);
    case Type::INT32: return AppendInteger(ValueOf<int32_t>(array, i), out);
    case Type::INT64: return AppendInteger(ValueOf<int64_t>(array, i), out);
    case Type::UINT8: return AppendInteger(ValueOf<uint8_t>(array, i), out);
    case Type::UINT16: return AppendInteger(ValueOf<uint16_t>(array, i), out);
    case Type::UINT32: return AppendInteger(ValueOf<uint32_t>(array, i), out);
    case Type::UINT64: return AppendInteger(ValueOf<uint64_t>(array, i), out);
    case Type::DURATION: return AppendInteger(ValueOf<int64_t>(array, i), out);
    case Type::HALF_FLOAT:
      return AppendJsonFloat32(arrow::util::Float16::FromBits(ValueOf<uint16_t>(array, i)).ToFloat(),
                               dialect, out);
    case Type::FLOAT: return AppendJsonFloat32(ValueOf<float>(array, i), dialect, out);
    case Type::DOUBLE: return AppendJsonFloat(ValueOf<double>(array, i), out);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: {
      const std::string text = DecimalText(array, i);
      if (dialect.decimals_as_strings) return AppendJsonString(text, dialect, out);
      out->append(text);
      return;
    }
    case Type::STRING: return AppendJsonString(ViewOf<arrow::StringArray>(array, i), dialect, out);
    case Type::LARGE_STRING:
      return AppendJsonString(ViewOf<arrow::LargeStringArray>(array, i), dialect, out);
    case Type::STRING_VIEW:
      return AppendJsonString(ViewOf<arrow::StringViewArray>(array, i), dialect, out);
    case Type::BINARY:
      return AppendQuoted(out, [&] { AppendHex(ViewOf<arrow::BinaryArray>(array, i), out); });
    case Type::LARGE_BINARY:
      return AppendQuoted(out, [&] { AppendHex(ViewOf<arrow::LargeBinaryArray>(array, i), out); });
    case Type::BINARY_VIEW:
      return AppendQuoted(out, [&] { AppendHex(ViewOf<arrow::BinaryViewArray>(array, i), out); });
    case Type::FIXED_SIZE_BINARY:
      return AppendQuoted(out,
                          [&] { AppendHex(ViewOf<arrow::FixedSizeBinaryArray>(array, i), out); });
    case Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      const bool suffix = dialect.always_utc_suffix || !type.timezone().empty();
      return AppendQuoted(out, [&] {
        AppendIsoTimestamp(ValueOf<int64_t>(array, i), UnitDigits(type.unit()), suffix, dialect,
                           out);
      });
    }
    case Type::DATE32:
      return AppendQuoted(out, [&] { AppendIsoDate(ValueOf<int32_t>(array, i), dialect, out); });
    case Type::DATE64: {
      const int64_t ms = ValueOf<int64_t>(array, i);
      if (dialect.temporal_as_counts) return AppendInteger(ms, out);
      return AppendQuoted(out, [&] { AppendIsoDate(FloorDiv(ms, 86400000), dialect, out); });
    }
    case Type::TIME32:
    case Type::TIME64: {
      const int64_t v = array.type_id() == Type::TIME32 ? ValueOf<int32_t>(array, i)
                                                        : ValueOf<int64_t>(array, i);
      if (dialect.temporal_as_counts) return AppendInteger(v, out);
      const auto unit = static_cast<const arrow::TimeType&>(*array.type()).unit();
      const int64_t per = UnitsPerSecond(unit);
      return AppendQuoted(out, [&] {
        AppendIsoClock(FloorDiv(v, per), v - FloorDiv(v, per) * per, UnitDigits(unit), out);
      });
    }
    case Type::LIST: return AppendJsonList<arrow::ListArray>(array, i, dialect, out);
    case Type::LARGE_LIST: return AppendJsonList<arrow::LargeListArray>(array, i, dialect, out);
    case Type::FIXED_SIZE_LIST:
      return AppendJsonList<arrow::FixedSizeListArray>(array, i, dialect, out);
    case Type::LIST_VIEW: return AppendJsonList<arrow::ListViewArray>(array, i, dialect, out);
    case Type::LARGE_LIST_VIEW:
      return AppendJsonList<arrow::LargeListViewArray>(array, i, dialect, out);
    case Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(array);
      const auto& fields = st.type()->fields();
      out->push_back('{');
      for (size_t f = 0; f < fields.size(); ++f) {
        if (f > 0) out->push_back(',');
        AppendJsonString(fields[f]->name(), dialect, out);
        out->push_back(':');
        // field(f) applies the struct's offset (unlike the raw child data).
        AppendJson(*st.field(static_cast<int>(f)), i, dialect, out);
      }
      out->push_back('}');
      return;
    }
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      return AppendJson(*dict.dictionary(), dict.GetValueIndex(i), dialect, out);
    }
    case Type::EXTENSION:
      return AppendJson(*static_cast<const arrow::ExtensionArray&>(array).storage(), i, dialect,
                        out);
    default:  // not CheckJsonWritable
      out->append("null");
      return;
  }
}

// ---------------------------------------------------------------------------------------
// JSON parsing: nlohmann's SAX events into a JsonValue tree.

namespace {

class JsonValueBuilder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonValueBuilder(JsonValue* root) : root_(root) {}

  bool null() override { return Scalar(JsonValue::Kind::kNull); }
  bool boolean(bool v) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kBool;
    value->boolean = v;
    return true;
  }
  bool number_integer(number_integer_t v) override { return Number(v); }
  bool number_unsigned(number_unsigned_t v) override { return Number(v); }
  bool number_float(number_float_t, const string_t& text) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kNumber;
    value->text = text;
    return true;
  }
  bool string(string_t& s) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kString;
    value->text = std::move(s);
    return true;
  }
  bool binary(binary_t&) override { return false; }  // not produced by text JSON
  bool start_object(std::size_t) override { return Open(JsonValue::Kind::kObject); }
  bool key(string_t& k) override {
    stack_.back()->members.emplace_back(std::move(k), JsonValue());
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(JsonValue::Kind::kArray); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) override {
    if (error_.empty()) {
      error_ = "unexpected '" + last_token.substr(0, 32) + "' at offset " +
               std::to_string(position > 0 ? position - 1 : 0);
    }
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  static constexpr size_t kMaxDepth = 256;

  // The slot the next value fills: the root, the newest array item, or the member whose
  // key was just seen.
  JsonValue* Place() {
    if (stack_.empty()) return root_;
    JsonValue* parent = stack_.back();
    if (parent->kind == JsonValue::Kind::kArray) return &parent->items.emplace_back();
    return &parent->members.back().second;
  }
  bool Scalar(JsonValue::Kind kind) {
    Place()->kind = kind;
    return true;
  }
  template <typename T>
  bool Number(T v) {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kNumber;
    AppendInteger(v, &value->text);
    return true;
  }
  bool Open(JsonValue::Kind kind) {
    if (stack_.size() > kMaxDepth) {
      error_ = "nesting too deep";
      return false;
    }
    JsonValue* value = Place();
    value->kind = kind;
    stack_.push_back(value);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  JsonValue* root_;
  std::vector<JsonValue*> stack_;
  std::string error_;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text, const JsonDialect& dialect) {
  JsonValue root;
  JsonValueBuilder builder(&root);
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder,
                                            nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  if (!ok) {
    return Status::Invalid("malformed ", dialect.name, " text (",
                           builder.error().empty() ? std::string("rejected") : builder.error(),
                           ")");
  }
  return root;
}

// ---------------------------------------------------------------------------------------
// Exact decimal arithmetic and list builders.

bool WideUInt::MulAdd(uint64_t m, uint64_t add) {
  unsigned __int128 carry = add;
  for (int k = 0; k < n; ++k) {
    unsigned __int128 p = static_cast<unsigned __int128>(limbs[k]) * m + carry;
    limbs[k] = static_cast<uint64_t>(p);
    carry = p >> 64;
  }
  if (carry != 0) {
    if (n == kMaxLimbs) return false;
    limbs[n++] = static_cast<uint64_t>(carry);
  }
  return true;
}

uint64_t WideUInt::Div(uint64_t d) {
  unsigned __int128 rem = 0;
  for (int k = n - 1; k >= 0; --k) {
    unsigned __int128 cur = (rem << 64) | limbs[k];
    limbs[k] = static_cast<uint64_t>(cur / d);
    rem = cur % d;
  }
  while (n > 0 && limbs[n - 1] == 0) --n;
  return static_cast<uint64_t>(rem);
}

int WideUInt::BitLength() const {
  return n == 0 ? 0 : 64 * (n - 1) + std::bit_width(limbs[n - 1]);
}

Rescaled RescaleByPowerOfTen(WideUInt* magnitude, int64_t exponent) {
  while (exponent > 0 && magnitude->n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(exponent, 19));
    if (!magnitude->MulAdd(kPow10[step], 0)) return Rescaled::kOverflow;
    exponent -= step;
  }
  while (exponent < 0 && magnitude->n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(-exponent, 19));
    if (magnitude->Div(kPow10[step]) != 0) return Rescaled::kDigitsLost;
    exponent += step;
  }
  return Rescaled::kExact;
}

bool ToTwosComplement(const WideUInt& magnitude, bool negative, int width, uint8_t* out) {
  if (magnitude.BitLength() > width * 8 - 1) return false;
  uint64_t words[WideUInt::kMaxLimbs] = {};
  std::copy(magnitude.limbs, magnitude.limbs + magnitude.n, words);
  if (negative) {
    bool carry = true;
    for (uint64_t& w : words) {
      w = ~w;
      if (carry) {
        ++w;
        carry = w == 0;
      }
    }
  }
  std::memcpy(out, words, width);  // little-endian host (x86-64, aarch64)
  return true;
}

Status StartList(arrow::ArrayBuilder* b, const arrow::DataType& type, int64_t n) {
  switch (type.id()) {
    case Type::LIST: return static_cast<arrow::ListBuilder*>(b)->Append(true, n);
    case Type::LARGE_LIST: return static_cast<arrow::LargeListBuilder*>(b)->Append(true, n);
    case Type::LIST_VIEW: return static_cast<arrow::ListViewBuilder*>(b)->Append(true, n);
    case Type::LARGE_LIST_VIEW:
      return static_cast<arrow::LargeListViewBuilder*>(b)->Append(true, n);
    case Type::FIXED_SIZE_LIST: {
      const int32_t size = static_cast<const arrow::FixedSizeListType&>(type).list_size();
      if (n != size) {
        return Status::Invalid("a list of ", n, " elements does not fit ", type.ToString());
      }
      return static_cast<arrow::FixedSizeListBuilder*>(b)->Append();
    }
    default: return Status::TypeError("not a list type: ", type.ToString());
  }
}

arrow::ArrayBuilder* ListValueBuilder(arrow::ArrayBuilder* b, const arrow::DataType& type) {
  switch (type.id()) {
    case Type::LIST: return static_cast<arrow::ListBuilder*>(b)->value_builder();
    case Type::LARGE_LIST: return static_cast<arrow::LargeListBuilder*>(b)->value_builder();
    case Type::LIST_VIEW: return static_cast<arrow::ListViewBuilder*>(b)->value_builder();
    case Type::LARGE_LIST_VIEW:
      return static_cast<arrow::LargeListViewBuilder*>(b)->value_builder();
    case Type::FIXED_SIZE_LIST:
      return static_cast<arrow::FixedSizeListBuilder*>(b)->value_builder();
    default: return nullptr;
  }
}

// ---------------------------------------------------------------------------------------
// JSON -> Arrow builders.

namespace {

Status Mismatch(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect) {
  static const char* kKinds[] = {"null", "boolean", "number", "string", "array", "object"};
  return Status::Invalid(dialect.name, " ", kKinds[static_cast<int>(v.kind)],
                         v.kind == JsonValue::Kind::kNumber || v.kind == JsonValue::Kind::kString
                             ? " " + v.text.substr(0, 64)
                             : std::string(),
                         " does not fit ", type.ToString());
}

Status Inexact(const std::string& what, const arrow::DataType& type) {
  return Status::Invalid(what, " cannot be represented exactly as ", type.ToString());
}

template <typename BuilderT, typename CType>
Status AppendInt(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                 arrow::ArrayBuilder* b) {
  CType value;
  if (v.kind != JsonValue::Kind::kNumber || !ParseWhole(std::string_view(v.text), &value)) {
    return Mismatch(v, type, dialect);
  }
  return static_cast<BuilderT*>(b)->Append(value);
}

template <typename F>
bool ParseJsonFloat(const JsonValue& v, F* out) {
  // Non-finite values are spelled as strings (JSON has no literal for them).
  if (v.kind == JsonValue::Kind::kString) {
    return (v.text == "NaN" || v.text == "Infinity" || v.text == "-Infinity") &&
           ParseFloatText(v.text, out);
  }
  return v.kind == JsonValue::Kind::kNumber && ParseWhole(std::string_view(v.text), out);
}

Status AppendDecimal(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                     arrow::ArrayBuilder* b) {
  const bool as_string = dialect.decimals_as_strings && v.kind == JsonValue::Kind::kString;
  if (v.kind != JsonValue::Kind::kNumber && !as_string) return Mismatch(v, type, dialect);
  // The number text -> sign * digits * 10^exponent, then exact rescaling to the scale.
  const auto& dec = static_cast<const arrow::DecimalType&>(type);
  const std::string& t = v.text;
  const std::string what = std::string(dialect.name) + " number " + t.substr(0, 64);
  size_t pos = 0;
  bool negative = false;
  if (pos < t.size() && (t[pos] == '-' || t[pos] == '+')) negative = t[pos++] == '-';
  WideUInt magnitude;
  int64_t exponent = 0;
  bool any_digit = false, after_point = false;
  for (; pos < t.size(); ++pos) {
    const char c = t[pos];
    if (IsDigit(c)) {
      any_digit = true;
      if (!magnitude.MulAdd(10, static_cast<uint64_t>(c - '0'))) return Inexact(what, type);
      if (after_point) --exponent;
    } else if (c == '.' && !after_point) {
      after_point = true;
    } else {
      break;
    }
  }
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    int64_t e = 0;
    std::string_view rest = std::string_view(t).substr(pos + 1);
    if (!rest.empty() && rest[0] == '+') rest.remove_prefix(1);
    if (!ParseWhole(rest, &e) || e > 1000 || e < -1000) return Mismatch(v, type, dialect);
    exponent += e;
    pos = t.size();
  }
  if (!any_digit || pos != t.size()) return Mismatch(v, type, dialect);
  if (RescaleByPowerOfTen(&magnitude, exponent + dec.scale()) != Rescaled::kExact) {
    return Inexact(what, type);
  }
  uint8_t bytes[32];
  if (!ToTwosComplement(magnitude, negative && magnitude.n > 0, dec.byte_width(), bytes)) {
    return Inexact(what, type);
  }
  return static_cast<arrow::FixedSizeBinaryBuilder*>(b)->Append(bytes);
}

Status AppendBytes(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                   arrow::ArrayBuilder* b) {
  if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
  auto bytes = ParseHex(v.text);
  if (!bytes.ok()) return Mismatch(v, type, dialect);
  switch (type.id()) {
    case Type::BINARY: return static_cast<arrow::BinaryBuilder*>(b)->Append(*bytes);
    case Type::LARGE_BINARY: return static_cast<arrow::LargeBinaryBuilder*>(b)->Append(*bytes);
    case Type::BINARY_VIEW: return static_cast<arrow::BinaryViewBuilder*>(b)->Append(*bytes);
    default: {
      auto* fixed = static_cast<arrow::FixedSizeBinaryBuilder*>(b);
      if (static_cast<int>(bytes->size()) != fixed->byte_width()) return Mismatch(v, type, dialect);
      return fixed->Append(reinterpret_cast<const uint8_t*>(bytes->data()));
    }
  }
}

Status AppendTemporal(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                      arrow::ArrayBuilder* b) {
  if (dialect.temporal_as_counts && type.id() != Type::TIMESTAMP && type.id() != Type::DATE32) {
    switch (type.id()) {
      case Type::DATE64: return AppendInt<arrow::Date64Builder, int64_t>(v, type, dialect, b);
      case Type::TIME32: return AppendInt<arrow::Time32Builder, int32_t>(v, type, dialect, b);
      case Type::TIME64: return AppendInt<arrow::Time64Builder, int64_t>(v, type, dialect, b);
      default: return AppendInt<arrow::DurationBuilder, int64_t>(v, type, dialect, b);
    }
  }
  if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
  const std::string what = std::string(dialect.name) + " ";  // "jsonb timestamp ..."
  switch (type.id()) {
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      int64_t value = 0;
      switch (ParseTimestampParts(v.text, UnitDigits(ts.unit()), dialect.always_utc_suffix,
                                  dialect, &value)) {
        case Parsed::kOk: return static_cast<arrow::TimestampBuilder*>(b)->Append(value);
        case Parsed::kOutOfRange: return Inexact(what + "timestamp " + v.text, type);
        case Parsed::kMalformed: return Mismatch(v, type, dialect);
      }
      return Mismatch(v, type, dialect);
    }
    case Type::DATE32:
    case Type::DATE64: {
      size_t pos = 0;
      int64_t days;
      if (!ParseIsoDate(v.text, &pos, dialect, &days) || pos != v.text.size()) {
        return Mismatch(v, type, dialect);
      }
      if (type.id() == Type::DATE64) {
        return static_cast<arrow::Date64Builder*>(b)->Append(days * 86400000);
      }
      if (days < std::numeric_limits<int32_t>::min() ||
          days > std::numeric_limits<int32_t>::max()) {
        return Inexact(what + "date " + v.text, type);
      }
      return static_cast<arrow::Date32Builder*>(b)->Append(static_cast<int32_t>(days));
    }
    case Type::DURATION: return Mismatch(v, type, dialect);
    default: {  // TIME32, TIME64
      const auto unit = static_cast<const arrow::TimeType&>(type).unit();
      size_t pos = 0;
      int64_t clock;
      if (!ParseIsoClock(v.text, &pos, UnitDigits(unit), &clock) || pos != v.text.size()) {
        return Mismatch(v, type, dialect);
      }
      if (type.id() == Type::TIME32) {
        return static_cast<arrow::Time32Builder*>(b)->Append(static_cast<int32_t>(clock));
      }
      return static_cast<arrow::Time64Builder*>(b)->Append(clock);
    }
  }
}

}  // namespace

Status AppendFromJson(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                      arrow::ArrayBuilder* b) {
  if (v.kind == JsonValue::Kind::kNull) return b->AppendNull();
  switch (type.id()) {
    case Type::NA: return Mismatch(v, type, dialect);
    case Type::BOOL:
      if (v.kind != JsonValue::Kind::kBool) return Mismatch(v, type, dialect);
      return static_cast<arrow::BooleanBuilder*>(b)->Append(v.boolean);
    case Type::INT8: return AppendInt<arrow::Int8Builder, int8_t>(v, type, dialect, b);
    case Type::INT16: return AppendInt<arrow::Int16Builder, int16_t>(v, type, dialect, b);
    case Type::INT32: return AppendInt<arrow::Int32Builder, int32_t>(v, type, dialect, b);
    case Type::INT64: return AppendInt<arrow::Int64Builder, int64_t>(v, type, dialect, b);
    case Type::UINT8: return AppendInt<arrow::UInt8Builder, uint8_t>(v, type, dialect, b);
    case Type::UINT16: return AppendInt<arrow::UInt16Builder, uint16_t>(v, type, dialect, b);
    case Type::UINT32: return AppendInt<arrow::UInt32Builder, uint32_t>(v, type, dialect, b);
    case Type::UINT64: return AppendInt<arrow::UInt64Builder, uint64_t>(v, type, dialect, b);
    case Type::HALF_FLOAT: {
      float f;
      if (!ParseJsonFloat(v, &f)) return Mismatch(v, type, dialect);
      return static_cast<arrow::HalfFloatBuilder*>(b)->Append(arrow::util::Float16::FromFloat(f));
    }
    case Type::FLOAT: {
      float f;
      if (dialect.float32_via_double) {
        double d;
        if (!ParseJsonFloat(v, &d)) return Mismatch(v, type, dialect);
        f = static_cast<float>(d);
      } else if (!ParseJsonFloat(v, &f)) {
        return Mismatch(v, type, dialect);
      }
      return static_cast<arrow::FloatBuilder*>(b)->Append(f);
    }
    case Type::DOUBLE: {
      double d;
      if (!ParseJsonFloat(v, &d)) return Mismatch(v, type, dialect);
      return static_cast<arrow::DoubleBuilder*>(b)->Append(d);
    }
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: return AppendDecimal(v, type, dialect, b);
    case Type::STRING:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::StringBuilder*>(b)->Append(v.text);
    case Type::LARGE_STRING:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::LargeStringBuilder*>(b)->Append(v.text);
    case Type::STRING_VIEW:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::StringViewBuilder*>(b)->Append(v.text);
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: return AppendBytes(v, type, dialect, b);
    case Type::TIMESTAMP:
    case Type::DATE32:
    case Type::DATE64:
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION: return AppendTemporal(v, type, dialect, b);
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      if (v.kind != JsonValue::Kind::kArray) return Mismatch(v, type, dialect);
      AMP_RETURN_NOT_OK(StartList(b, type, static_cast<int64_t>(v.items.size())));
      arrow::ArrayBuilder* values = ListValueBuilder(b, type);
      const arrow::DataType& element = *type.field(0)->type();
      for (const JsonValue& item : v.items) {
        AMP_RETURN_NOT_OK(AppendFromJson(item, element, dialect, values));
      }
      return Status::OK();
    }
    case Type::STRUCT: {
      if (v.kind != JsonValue::Kind::kObject) return Mismatch(v, type, dialect);
      auto* sb = static_cast<arrow::StructBuilder*>(b);
      AMP_RETURN_NOT_OK(sb->Append());
      for (int f = 0; f < type.num_fields(); ++f) {
        const std::string& name = type.field(f)->name();
        const JsonValue* member = nullptr;
        for (const auto& [key, value] : v.members) {
          if (key == name) member = &value;  // the last one wins, as in jsonb
        }
        if (member == nullptr) {
          AMP_RETURN_NOT_OK(sb->field_builder(f)->AppendNull());
        } else {
          AMP_RETURN_NOT_OK(
              AppendFromJson(*member, *type.field(f)->type(), dialect, sb->field_builder(f)));
        }
      }
      return Status::OK();
    }
    default:
      return Status::NotImplemented("cannot read ", type.ToString(), " from ", dialect.name);
  }
}

Status CheckJsonReadable(const arrow::DataType& type) {
  switch (type.id()) {
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: return CheckJsonReadable(*type.field(0)->type());
    case Type::STRUCT: {
      std::set<std::string> names;
      for (const auto& field : type.fields()) {
        if (!names.insert(field->name()).second) {
          return Status::NotImplemented("struct ", type.ToString(), " has two fields named \"",
                                        field->name(), "\" (jsonb keeps one key)");
        }
        AMP_RETURN_NOT_OK(CheckJsonReadable(*field->type()));
      }
      return Status::OK();
    }
    case Type::DURATION:
    case Type::DICTIONARY:
    case Type::EXTENSION: break;
    default:
      if (CheckJsonWritable(type, kPostgresJsonb).ok()) return Status::OK();
      break;
  }
  return Status::NotImplemented("cannot read ", type.ToString(), " back from jsonb");
}

}  // namespace amp::loaders
