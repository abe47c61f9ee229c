// The writing half of value_codec.h: scalar spellings, civil dates, exact decimal arithmetic
// and JSON out (value_codec_read.cc reads JSON back into Arrow).
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

#include "loaders/common/value_codec_internal.h"

namespace amp::loaders {
namespace {

using arrow::Type;
using internal::AppendInteger;
using internal::IsDigit;
using internal::kPow10;
using internal::ParseWhole;

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

namespace internal {

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

}  // namespace internal

Result<int64_t> ParseIsoTimestamp(std::string_view text, int digits, bool utc_suffix_required,
                                  const JsonDialect& dialect) {
  int64_t value = 0;
  switch (internal::ParseTimestampParts(text, digits, utc_suffix_required, dialect, &value)) {
    case internal::Parsed::kOk: return value;
    case internal::Parsed::kOutOfRange:
      return Status::Invalid("timestamp '", text, "' is out of the int64 range of its unit");
    case internal::Parsed::kMalformed: break;
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
// Exact decimal arithmetic.

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

}  // namespace amp::loaders
