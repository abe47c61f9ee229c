#include "loaders/postgres/pg_copy_reader.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/float16.h>

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

#include "loaders/postgres/pg_connection.h"
#include "loaders/postgres/pg_error.h"

namespace amp::postgres {
namespace {

using arrow::Type;

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

constexpr int kNumLimbs = 6;  // 384 bits: a Decimal256 plus headroom for the arithmetic

struct BigUInt {
  uint64_t limbs[kNumLimbs] = {};
  int n = 0;  // used limbs (no zero top limb)

  // *this = *this * m + add; false on overflow.
  bool MulAdd(uint64_t m, uint64_t add) {
    unsigned __int128 carry = add;
    for (int k = 0; k < n; ++k) {
      unsigned __int128 p = static_cast<unsigned __int128>(limbs[k]) * m + carry;
      limbs[k] = static_cast<uint64_t>(p);
      carry = p >> 64;
    }
    if (carry != 0) {
      if (n == kNumLimbs) return false;
      limbs[n++] = static_cast<uint64_t>(carry);
    }
    return true;
  }
  // Divides by d; returns the remainder.
  uint64_t Div(uint64_t d) {
    unsigned __int128 rem = 0;
    for (int k = n - 1; k >= 0; --k) {
      unsigned __int128 cur = (rem << 64) | limbs[k];
      limbs[k] = static_cast<uint64_t>(cur / d);
      rem = cur % d;
    }
    while (n > 0 && limbs[n - 1] == 0) --n;
    return static_cast<uint64_t>(rem);
  }
  int BitLength() const { return n == 0 ? 0 : 64 * (n - 1) + std::bit_width(limbs[n - 1]); }
};

// 10^0 .. 10^19 (the powers of ten that fit in 64 bits).
constexpr std::array<uint64_t, 20> kPow10 = [] {
  std::array<uint64_t, 20> p{};
  p[0] = 1;
  for (size_t k = 1; k < p.size(); ++k) p[k] = p[k - 1] * 10;
  return p;
}();

// The numeric binary value as sign * magnitude * 10^-scale, exactly.
Status DecodeNumeric(const uint8_t* p, int32_t len, int32_t scale, BigUInt* magnitude,
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
  *magnitude = BigUInt();
  const Status overflow = Status::Invalid("numeric value is too large");
  for (int k = 0; k < ndigits; ++k) {
    const uint16_t digit = Be16(p + 8 + 2 * k);
    if (digit >= 10000) return Status::Invalid("numeric digit ", digit);
    if (!magnitude->MulAdd(10000, digit)) return overflow;
  }
  // magnitude * 10000^(weight - ndigits + 1) * 10^scale
  int64_t exponent = 4 * (int64_t{weight} - ndigits + 1) + scale;
  while (exponent > 0 && magnitude->n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(exponent, 19));
    if (!magnitude->MulAdd(kPow10[step], 0)) return overflow;
    exponent -= step;
  }
  while (exponent < 0 && magnitude->n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(-exponent, 19));
    if (magnitude->Div(kPow10[step]) != 0) {
      return Status::Invalid("numeric value has more than ", scale, " fractional digits");
    }
    exponent += step;
  }
  if (magnitude->n == 0) *negative = false;
  return Status::OK();
}

// Little-endian two's complement of `width` bytes; false when it does not fit.
bool ToTwosComplement(const BigUInt& magnitude, bool negative, int width, uint8_t* out) {
  if (magnitude.BitLength() > width * 8 - 1) return false;
  uint64_t words[kNumLimbs] = {};
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

// ---------------------------------------------------------------------------------------
// A minimal JSON reader for jsonb text: numbers are kept as their text so decimals and
// 64-bit integers come back exactly.

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // kNumber: as written; kString: decoded
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : s_(text) {}

  Result<JsonValue> Parse() {
    JsonValue v;
    AMP_RETURN_NOT_OK(Value(&v, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing characters");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::Invalid("malformed jsonb text (", what, " at offset ", pos_, ")");
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  Status Value(JsonValue* v, int depth) {
    if (depth > 256) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end");
    const char c = s_[pos_];
    if (c == '{') {
      v->kind = JsonValue::Kind::kObject;
      ++pos_;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return Status::OK();
      }
      while (true) {
        SkipSpace();
        std::string key;
        AMP_RETURN_NOT_OK(String(&key));
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':'");
        ++pos_;
        JsonValue member;
        AMP_RETURN_NOT_OK(Value(&member, depth + 1));
        v->members.emplace_back(std::move(key), std::move(member));
        SkipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return Status::OK();
        }
        return Error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v->kind = JsonValue::Kind::kArray;
      ++pos_;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return Status::OK();
      }
      while (true) {
        JsonValue item;
        AMP_RETURN_NOT_OK(Value(&item, depth + 1));
        v->items.push_back(std::move(item));
        SkipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return Status::OK();
        }
        return Error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->kind = JsonValue::Kind::kString;
      return String(&v->text);
    }
    if (Literal("null")) {
      v->kind = JsonValue::Kind::kNull;
      return Status::OK();
    }
    if (Literal("true")) {
      v->kind = JsonValue::Kind::kBool;
      v->boolean = true;
      return Status::OK();
    }
    if (Literal("false")) {
      v->kind = JsonValue::Kind::kBool;
      v->boolean = false;
      return Status::OK();
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = pos_;
      ++pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) ||
                                  s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E' ||
                                  s_[pos_] == '+' || s_[pos_] == '-')) {
        ++pos_;
      }
      v->kind = JsonValue::Kind::kNumber;
      v->text = std::string(s_.substr(start, pos_ - start));
      return Status::OK();
    }
    return Error("unexpected character");
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  Status Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return Error("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Error("bad \\u escape");
      }
    }
    *out = v;
    return Status::OK();
  }
  Status String(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected a string");
    ++pos_;
    while (true) {
      const size_t run = pos_;
      while (pos_ < s_.size() && s_[pos_] != '"' && s_[pos_] != '\\') ++pos_;
      out->append(s_.data() + run, pos_ - run);
      if (pos_ >= s_.size()) return Error("unterminated string");
      if (s_[pos_] == '"') {
        ++pos_;
        return Status::OK();
      }
      ++pos_;  // backslash
      if (pos_ >= s_.size()) return Error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          AMP_RETURN_NOT_OK(Hex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            uint32_t low;
            AMP_RETURN_NOT_OK(Hex4(&low));
            if (low < 0xDC00 || low >= 0xE000) return Error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Error("bad escape");
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Days since 1970-01-01 of a proleptic Gregorian date (inverse of the writer's
// CivilFromDays).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
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

// "[-]YYYY-MM-DD" (as the writer's AppendDate prints it) -> days since 1970-01-01.
bool ParseIsoDate(std::string_view s, size_t* pos, int64_t* days) {
  bool negative = false;
  if (*pos < s.size() && s[*pos] == '-') {
    negative = true;
    ++*pos;
  }
  size_t digits = 0;
  while (*pos + digits < s.size() && std::isdigit(static_cast<unsigned char>(s[*pos + digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 18) return false;
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

// "HH:MM:SS[.fraction]" -> units of `unit` since midnight.
bool ParseIsoClock(std::string_view s, size_t* pos, arrow::TimeUnit::type unit, int64_t* out) {
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
    while (*pos < s.size() && std::isdigit(static_cast<unsigned char>(s[*pos]))) {
      if (frac_digits == UnitDigits(unit)) return false;  // finer than the unit
      frac = frac * 10 + (s[*pos] - '0');
      ++frac_digits;
      ++*pos;
    }
    if (frac_digits == 0) return false;
  }
  frac *= static_cast<int64_t>(kPow10[UnitDigits(unit) - frac_digits]);
  *out = (h * 3600 + m * 60 + sec) * UnitsPerSecond(unit) + frac;
  return true;
}

// ---------------------------------------------------------------------------------------
// JSON -> Arrow builders (jsonb columns).

Status CheckJsonType(const arrow::DataType& type) {
  switch (type.id()) {
    case Type::NA:
    case Type::BOOL:
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
    case Type::HALF_FLOAT:
    case Type::FLOAT:
    case Type::DOUBLE:
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
    case Type::TIMESTAMP:
    case Type::DATE32:
    case Type::DATE64:
    case Type::TIME32:
    case Type::TIME64: return Status::OK();
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: return CheckJsonType(*type.field(0)->type());
    case Type::STRUCT: {
      std::set<std::string> names;
      for (const auto& field : type.fields()) {
        if (!names.insert(field->name()).second) {
          return Status::NotImplemented("struct ", type.ToString(), " has two fields named \"",
                                        field->name(), "\" (jsonb keeps one key)");
        }
        AMP_RETURN_NOT_OK(CheckJsonType(*field->type()));
      }
      return Status::OK();
    }
    default:
      return Status::NotImplemented("cannot read ", type.ToString(), " back from jsonb");
  }
}

Status JsonMismatch(const JsonValue& v, const arrow::DataType& type) {
  static const char* kKinds[] = {"null", "boolean", "number", "string", "array", "object"};
  return Status::Invalid("jsonb ", kKinds[static_cast<int>(v.kind)],
                         v.kind == JsonValue::Kind::kNumber || v.kind == JsonValue::Kind::kString
                             ? " " + v.text.substr(0, 64)
                             : std::string(),
                         " does not fit ", type.ToString());
}

template <typename T>
bool ParseNumberText(const std::string& text, T* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

template <typename BuilderT, typename CType>
Status AppendJsonInt(const JsonValue& v, const arrow::DataType& type, arrow::ArrayBuilder* b) {
  CType value;
  if (v.kind != JsonValue::Kind::kNumber || !ParseNumberText(v.text, &value)) {
    return JsonMismatch(v, type);
  }
  return static_cast<BuilderT*>(b)->Append(value);
}

template <typename F>
bool ParseJsonFloat(const JsonValue& v, F* out) {
  if (v.kind == JsonValue::Kind::kString) {
    // The writer spells non-finite values as strings (JSON has no literal for them).
    if (v.text == "NaN") *out = std::numeric_limits<F>::quiet_NaN();
    else if (v.text == "Infinity") *out = std::numeric_limits<F>::infinity();
    else if (v.text == "-Infinity") *out = -std::numeric_limits<F>::infinity();
    else return false;
    return true;
  }
  return v.kind == JsonValue::Kind::kNumber && ParseNumberText(v.text, out);
}

Status AppendJsonDecimal(const JsonValue& v, const arrow::DataType& type, arrow::ArrayBuilder* b) {
  if (v.kind != JsonValue::Kind::kNumber) return JsonMismatch(v, type);
  // The number text -> sign * digits * 10^exponent, then exact rescaling via numeric math.
  const auto& dec = static_cast<const arrow::DecimalType&>(type);
  const std::string& t = v.text;
  size_t pos = 0;
  bool negative = false;
  if (pos < t.size() && (t[pos] == '-' || t[pos] == '+')) negative = t[pos++] == '-';
  BigUInt magnitude;
  int64_t exponent = 0;
  bool any_digit = false, after_point = false;
  for (; pos < t.size(); ++pos) {
    const char c = t[pos];
    if (c >= '0' && c <= '9') {
      any_digit = true;
      if (!magnitude.MulAdd(10, static_cast<uint64_t>(c - '0'))) {
        return Inexact("jsonb number " + t.substr(0, 64), type);
      }
      if (after_point) --exponent;
    } else if (c == '.' && !after_point) {
      after_point = true;
    } else {
      break;
    }
  }
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    int64_t e = 0;
    std::string rest = t.substr(pos + 1);
    if (!rest.empty() && rest[0] == '+') rest.erase(0, 1);
    if (!ParseNumberText(rest, &e) || e > 1000 || e < -1000) return JsonMismatch(v, type);
    exponent += e;
    pos = t.size();
  }
  if (!any_digit || pos != t.size()) return JsonMismatch(v, type);
  exponent += dec.scale();
  while (exponent > 0 && magnitude.n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(exponent, 19));
    if (!magnitude.MulAdd(kPow10[step], 0)) return Inexact("jsonb number " + t, type);
    exponent -= step;
  }
  while (exponent < 0 && magnitude.n > 0) {
    const int step = static_cast<int>(std::min<int64_t>(-exponent, 19));
    if (magnitude.Div(kPow10[step]) != 0) return Inexact("jsonb number " + t, type);
    exponent += step;
  }
  uint8_t bytes[32];
  if (!ToTwosComplement(magnitude, negative && magnitude.n > 0, dec.byte_width(), bytes)) {
    return Inexact("jsonb number " + t, type);
  }
  return static_cast<arrow::FixedSizeBinaryBuilder*>(b)->Append(bytes);
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

arrow::ArrayBuilder* ListValues(arrow::ArrayBuilder* b, const arrow::DataType& type) {
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

Status AppendHex(const JsonValue& v, const arrow::DataType& type, arrow::ArrayBuilder* b) {
  if (v.kind != JsonValue::Kind::kString || v.text.size() < 2 || v.text[0] != '0' ||
      (v.text[1] != 'x' && v.text[1] != 'X') || v.text.size() % 2 != 0) {
    return JsonMismatch(v, type);
  }
  std::string bytes;
  bytes.reserve(v.text.size() / 2 - 1);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t k = 2; k < v.text.size(); k += 2) {
    const int hi = nibble(v.text[k]), lo = nibble(v.text[k + 1]);
    if (hi < 0 || lo < 0) return JsonMismatch(v, type);
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  switch (type.id()) {
    case Type::BINARY: return static_cast<arrow::BinaryBuilder*>(b)->Append(bytes);
    case Type::LARGE_BINARY: return static_cast<arrow::LargeBinaryBuilder*>(b)->Append(bytes);
    case Type::BINARY_VIEW: return static_cast<arrow::BinaryViewBuilder*>(b)->Append(bytes);
    default: {
      auto* fixed = static_cast<arrow::FixedSizeBinaryBuilder*>(b);
      if (static_cast<int>(bytes.size()) != fixed->byte_width()) return JsonMismatch(v, type);
      return fixed->Append(reinterpret_cast<const uint8_t*>(bytes.data()));
    }
  }
}

Status AppendJson(const JsonValue& v, const arrow::DataType& type, arrow::ArrayBuilder* b) {
  if (v.kind == JsonValue::Kind::kNull) return b->AppendNull();
  switch (type.id()) {
    case Type::NA: return JsonMismatch(v, type);
    case Type::BOOL:
      if (v.kind != JsonValue::Kind::kBool) return JsonMismatch(v, type);
      return static_cast<arrow::BooleanBuilder*>(b)->Append(v.boolean);
    case Type::INT8: return AppendJsonInt<arrow::Int8Builder, int8_t>(v, type, b);
    case Type::INT16: return AppendJsonInt<arrow::Int16Builder, int16_t>(v, type, b);
    case Type::INT32: return AppendJsonInt<arrow::Int32Builder, int32_t>(v, type, b);
    case Type::INT64: return AppendJsonInt<arrow::Int64Builder, int64_t>(v, type, b);
    case Type::UINT8: return AppendJsonInt<arrow::UInt8Builder, uint8_t>(v, type, b);
    case Type::UINT16: return AppendJsonInt<arrow::UInt16Builder, uint16_t>(v, type, b);
    case Type::UINT32: return AppendJsonInt<arrow::UInt32Builder, uint32_t>(v, type, b);
    case Type::UINT64: return AppendJsonInt<arrow::UInt64Builder, uint64_t>(v, type, b);
    case Type::HALF_FLOAT: {
      float f;
      if (!ParseJsonFloat(v, &f)) return JsonMismatch(v, type);
      return static_cast<arrow::HalfFloatBuilder*>(b)->Append(arrow::util::Float16::FromFloat(f));
    }
    case Type::FLOAT: {
      float f;
      if (!ParseJsonFloat(v, &f)) return JsonMismatch(v, type);
      return static_cast<arrow::FloatBuilder*>(b)->Append(f);
    }
    case Type::DOUBLE: {
      double d;
      if (!ParseJsonFloat(v, &d)) return JsonMismatch(v, type);
      return static_cast<arrow::DoubleBuilder*>(b)->Append(d);
    }
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: return AppendJsonDecimal(v, type, b);
    case Type::STRING:
      if (v.kind != JsonValue::Kind::kString) return JsonMismatch(v, type);
      return static_cast<arrow::StringBuilder*>(b)->Append(v.text);
    case Type::LARGE_STRING:
      if (v.kind != JsonValue::Kind::kString) return JsonMismatch(v, type);
      return static_cast<arrow::LargeStringBuilder*>(b)->Append(v.text);
    case Type::STRING_VIEW:
      if (v.kind != JsonValue::Kind::kString) return JsonMismatch(v, type);
      return static_cast<arrow::StringViewBuilder*>(b)->Append(v.text);
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: return AppendHex(v, type, b);
    case Type::TIMESTAMP: {
      if (v.kind != JsonValue::Kind::kString) return JsonMismatch(v, type);
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      size_t pos = 0;
      int64_t days, clock, value;
      if (!ParseIsoDate(v.text, &pos, &days) || pos >= v.text.size() || v.text[pos++] != 'T' ||
          !ParseIsoClock(v.text, &pos, ts.unit(), &clock)) {
        return JsonMismatch(v, type);
      }
      if (pos < v.text.size() && v.text[pos] == 'Z') ++pos;
      if (pos != v.text.size()) return JsonMismatch(v, type);
      if (__builtin_mul_overflow(days, 86400 * UnitsPerSecond(ts.unit()), &value) ||
          __builtin_add_overflow(value, clock, &value)) {
        return Inexact("jsonb timestamp " + v.text, type);
      }
      return static_cast<arrow::TimestampBuilder*>(b)->Append(value);
    }
    case Type::DATE32:
    case Type::DATE64: {
      size_t pos = 0;
      int64_t days;
      if (v.kind != JsonValue::Kind::kString || !ParseIsoDate(v.text, &pos, &days) ||
          pos != v.text.size()) {
        return JsonMismatch(v, type);
      }
      if (type.id() == Type::DATE64) {
        return static_cast<arrow::Date64Builder*>(b)->Append(days * 86400000);
      }
      if (days < std::numeric_limits<int32_t>::min() ||
          days > std::numeric_limits<int32_t>::max()) {
        return Inexact("jsonb date " + v.text, type);
      }
      return static_cast<arrow::Date32Builder*>(b)->Append(static_cast<int32_t>(days));
    }
    case Type::TIME32:
    case Type::TIME64: {
      const auto unit = static_cast<const arrow::TimeType&>(type).unit();
      size_t pos = 0;
      int64_t clock;
      if (v.kind != JsonValue::Kind::kString || !ParseIsoClock(v.text, &pos, unit, &clock) ||
          pos != v.text.size()) {
        return JsonMismatch(v, type);
      }
      if (type.id() == Type::TIME32) {
        return static_cast<arrow::Time32Builder*>(b)->Append(static_cast<int32_t>(clock));
      }
      return static_cast<arrow::Time64Builder*>(b)->Append(clock);
    }
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      if (v.kind != JsonValue::Kind::kArray) return JsonMismatch(v, type);
      AMP_RETURN_NOT_OK(StartList(b, type, static_cast<int64_t>(v.items.size())));
      arrow::ArrayBuilder* values = ListValues(b, type);
      const arrow::DataType& element = *type.field(0)->type();
      for (const JsonValue& item : v.items) AMP_RETURN_NOT_OK(AppendJson(item, element, values));
      return Status::OK();
    }
    case Type::STRUCT: {
      if (v.kind != JsonValue::Kind::kObject) return JsonMismatch(v, type);
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
          AMP_RETURN_NOT_OK(AppendJson(*member, *type.field(f)->type(), sb->field_builder(f)));
        }
      }
      return Status::OK();
    }
    default: return Status::NotImplemented("cannot read ", type.ToString(), " from jsonb");
  }
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
class NumericDecoder final : public FieldDecoder {
 public:
  NumericDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type)
      : b_(b), type_(type), is_uint64_(type.id() == Type::UINT64) {
    if (!is_uint64_) {
      const auto& dec = static_cast<const arrow::DecimalType&>(type);
      scale_ = dec.scale();
      width_ = dec.byte_width();
    }
  }
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
    BigUInt magnitude;
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
  arrow::ArrayBuilder* b_;
  const arrow::DataType& type_;
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

class DateDecoder final : public FieldDecoder {
 public:
  DateDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type) : b_(b), type_(type) {}
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
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

 private:
  arrow::ArrayBuilder* b_;
  const arrow::DataType& type_;
};

class TimeDecoder final : public FieldDecoder {
 public:
  TimeDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type) : b_(b), type_(type) {}
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
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

 private:
  arrow::ArrayBuilder* b_;
  const arrow::DataType& type_;
};

class JsonbDecoder final : public FieldDecoder {
 public:
  JsonbDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type) : b_(b), type_(type) {}
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
    if (len < 1 || p[0] != 1) return Status::Invalid("jsonb field without format version 1");
    JsonParser parser(std::string_view(reinterpret_cast<const char*>(p + 1), len - 1));
    AMP_ASSIGN_OR_RETURN(JsonValue value, parser.Parse());
    return AppendJson(value, type_, b_);
  }

 private:
  arrow::ArrayBuilder* b_;
  const arrow::DataType& type_;
};

// One-dimensional PostgreSQL array -> an Arrow list of `element`s.
class ArrayDecoder final : public FieldDecoder {
 public:
  ArrayDecoder(arrow::ArrayBuilder* b, const arrow::DataType& type, uint32_t element_oid,
               DecoderPtr element)
      : b_(b), type_(type), element_oid_(element_oid), element_(std::move(element)) {}
  Status Decode(const uint8_t* p, int32_t len) override {
    if (len < 0) return b_->AppendNull();
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
  arrow::ArrayBuilder* b_;
  const arrow::DataType& type_;
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
  return std::make_unique<D>(b);
}

// `type` is the Arrow type (whose builder is `b`), `kind` how its values were stored.
Result<DecoderPtr> MakeDecoder(const arrow::DataType& type, PgKind kind, uint32_t element_oid,
                               PgKind element_kind, arrow::ArrayBuilder* b) {
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
      if (kind != PgKind::kNumeric) return Unreadable(type, kind);
      return std::make_unique<NumericDecoder>(b, type);
    case Type::STRING:
      return Expect<BytesDecoder<arrow::StringBuilder>>(kind, PgKind::kText, type, b);
    case Type::LARGE_STRING:
      return Expect<BytesDecoder<arrow::LargeStringBuilder>>(kind, PgKind::kText, type, b);
    case Type::STRING_VIEW:
      return Expect<BytesDecoder<arrow::StringViewBuilder>>(kind, PgKind::kText, type, b);
    case Type::BINARY:
      return Expect<BytesDecoder<arrow::BinaryBuilder>>(kind, PgKind::kBytea, type, b);
    case Type::LARGE_BINARY:
      return Expect<BytesDecoder<arrow::LargeBinaryBuilder>>(kind, PgKind::kBytea, type, b);
    case Type::BINARY_VIEW:
      return Expect<BytesDecoder<arrow::BinaryViewBuilder>>(kind, PgKind::kBytea, type, b);
    case Type::FIXED_SIZE_BINARY:
      return Expect<FixedBytesDecoder>(kind, PgKind::kBytea, type, b);
    case Type::TIMESTAMP:
      if (kind != PgKind::kTimestamp && kind != PgKind::kTimestamptz) {
        return Unreadable(type, kind);
      }
      return std::make_unique<TimestampDecoder>(b, type);
    case Type::DATE32:
    case Type::DATE64:
      if (kind != PgKind::kDate) return Unreadable(type, kind);
      return std::make_unique<DateDecoder>(b, type);
    case Type::TIME32:
    case Type::TIME64:
      if (kind != PgKind::kTime) return Unreadable(type, kind);
      return std::make_unique<TimeDecoder>(b, type);
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW:
    case Type::STRUCT:
      if (kind == PgKind::kJsonb) {
        AMP_RETURN_NOT_OK(CheckJsonType(type));
        return std::make_unique<JsonbDecoder>(b, type);
      }
      if (kind == PgKind::kArray && type.id() != Type::STRUCT) {
        const arrow::DataType& element = *type.field(0)->type();
        AMP_ASSIGN_OR_RETURN(auto child, MakeDecoder(element, element_kind, 0, PgKind::kText,
                                                     ListValues(b, type)));
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
