// One lossless codec between Arrow values and text / JSON, shared by the destinations that
// store values as text: the PostgreSQL loader (jsonb columns, pg_copy_writer/pg_copy_reader)
// and the Redis loader (hash and stream fields, JSON members, key components, redis_codec).
//
// Why here (src/loaders/common, library amp_loaders) and not in src/common: only loaders
// store Arrow values as text, and the spellings below are storage formats (data already in
// destinations and the audit's read-back depend on them), so the codec belongs to the
// loader framework rather than to the vocabulary every layer sees. The Delta checkpoint
// codec and the audit digest keep their own walkers: they serve other formats.
//
// Spellings (both dialects):
//   integers exact decimal digits; floats the shortest text that round-trips, non-finite as
//   "NaN", "Infinity", "-Infinity" (quoted strings in JSON, which has no literal for them);
//   decimals exact decimal text (Arrow's FormatValue: plain or E-notation); binaries "0x" +
//   lowercase hex; dates ISO 8601 "YYYY-MM-DD" (proleptic Gregorian, sign for years before
//   year 0, more digits past 9999); times "HH:MM:SS[.fraction]" with all the digits of the
//   unit; timestamps date + 'T' + time [+ 'Z'] in UTC; lists JSON arrays; structs JSON
//   objects with the field names as keys, in field order; null "null".
// The two dialects differ where the two stores have always differed (JsonDialect): each
// must keep producing byte for byte what it stored before.
//
// value_codec.cc writes (scalars, civil dates, decimal arithmetic, JSON out);
// value_codec_read.cc reads JSON back into Arrow builders.
//
// Civil dates: one days <-> year/month/day conversion (Howard Hinnant's algorithms) for
// every day an Arrow date32 or date64 can hold. Arrow's vendored copy of Hinnant's date library holds years in a
// `short` (+-32767), which cannot hold every date32 value, hence this one.
//
//   std::string json;
//   AppendJson(*array, row, kPostgresJsonb, &json);       // {"a":1,"h":"0x5f3a"}
//   AMP_ASSIGN_OR_RETURN(JsonValue v, ParseJson(json, kPostgresJsonb));  // numbers as text
//   AMP_RETURN_NOT_OK(AppendFromJson(v, *array->type(), kPostgresJsonb, builder));
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/type_fwd.h>

#include "amp/status.h"

namespace amp::loaders {

// --- Calendar and time units. ---

/// Floor division (rounds toward negative infinity), for pre-epoch values.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

/// Decimal digits of a time unit's sub-second part (0, 3, 6, 9).
int UnitDigits(arrow::TimeUnit::type unit);
/// 10^UnitDigits(unit).
int64_t UnitsPerSecond(arrow::TimeUnit::type unit);

struct CivilDate {
  int64_t year = 1970;
  int month = 1;  ///< 1..12
  int day = 1;    ///< 1..31
};
/// Days since 1970-01-01 -> proleptic Gregorian date, and back.
CivilDate CivilFromDays(int64_t days);
int64_t DaysFromCivil(int64_t year, int month, int day);

// --- Exact decimal arithmetic (decimals and PostgreSQL numerics, both ways). ---

/// \brief An unsigned integer of up to 384 bits: a Decimal256 magnitude plus headroom for
/// rescaling it by powers of ten without loss.
struct WideUInt {
  static constexpr int kMaxLimbs = 6;
  uint64_t limbs[kMaxLimbs] = {};  ///< Little-endian.
  int n = 0;                       ///< Limbs in use (no zero top limb).

  /// *this = *this * m + add; false on overflow.
  bool MulAdd(uint64_t m, uint64_t add);
  /// Divides by `d`; returns the remainder.
  uint64_t Div(uint64_t d);
  int BitLength() const;
};

/// How multiplying a WideUInt by 10^exponent went.
enum class Rescaled { kExact, kOverflow, kDigitsLost };
/// `*magnitude` * 10^exponent; kDigitsLost when a negative exponent would drop nonzero
/// digits, kOverflow past 384 bits.
Rescaled RescaleByPowerOfTen(WideUInt* magnitude, int64_t exponent);

/// The little-endian two's complement of (negative ? -magnitude : magnitude) in `width`
/// bytes (4, 8, 16 or 32: Arrow's decimal layout); false when it does not fit.
bool ToTwosComplement(const WideUInt& magnitude, bool negative, int width, uint8_t* out);

// --- List builders. ---

/// Starts a list of `n` elements in `builder` (List, LargeList, ListView, LargeListView or
/// FixedSizeList of exactly `n`, else Invalid).
Status StartList(arrow::ArrayBuilder* builder, const arrow::DataType& type, int64_t n);
/// The element builder of a list builder (nullptr for other types).
arrow::ArrayBuilder* ListValueBuilder(arrow::ArrayBuilder* builder, const arrow::DataType& type);

// --- The two dialects. ---

/// Where the stored spellings of the PostgreSQL jsonb columns and the Redis fields differ.
struct JsonDialect {
  /// What errors call the text ("jsonb number 5 does not fit int8").
  const char* name = "jsonb";
  /// Escape U+007F as \u007f (Redis) or leave it as is (PostgreSQL).
  bool escape_delete = false;
  /// \b and \f for backspace and form feed (PostgreSQL) instead of \u0008, \u000c.
  bool short_control_escapes = true;
  /// Float32 printed as the shortest text of the double it widens to (Redis), instead of
  /// its own shortest text.
  bool float32_via_double = false;
  /// Decimals as JSON strings (Redis) instead of JSON numbers.
  bool decimals_as_strings = false;
  /// Date64, Time32/64 and Duration as their integer counts (Redis) instead of ISO text
  /// (PostgreSQL; durations have no spelling there and are not encodable).
  bool temporal_as_counts = false;
  /// Timestamps end in 'Z' always (Redis) or only when the type has a time zone.
  bool always_utc_suffix = false;
  /// Negative years padded to four digits after the sign, "-0001" (Redis), or to four
  /// characters sign included, "-001" (PostgreSQL, printf's %04d).
  bool four_digit_negative_years = false;
  /// Reading: the fewest year digits a date may have (Redis wrote at least four).
  int min_year_digits = 1;
};

/// PostgreSQL jsonb columns (pg_copy_writer.h, pg_copy_reader.h).
inline constexpr JsonDialect kPostgresJsonb{};
/// Redis hash/stream fields, JSON members and keys (redis_codec.h).
inline constexpr JsonDialect kRedisText{.name = "JSON",
                                        .escape_delete = true,
                                        .short_control_escapes = false,
                                        .float32_via_double = true,
                                        .decimals_as_strings = true,
                                        .temporal_as_counts = true,
                                        .always_utc_suffix = true,
                                        .four_digit_negative_years = true,
                                        .min_year_digits = 4};

// --- Scalar text. ---

/// "0x" + two lowercase hex digits per byte.
void AppendHex(std::string_view bytes, std::string* out);
/// The inverse of AppendHex ("0x" or "0X", either case of digits); Invalid otherwise.
Result<std::string> ParseHex(std::string_view text);

/// The shortest text that round-trips, or NaN / Infinity / -Infinity (unquoted).
void AppendFloatText(double value, std::string* out);
void AppendFloatText(float value, std::string* out);
/// The inverse: "NaN", "Infinity", "-Infinity" or a number; false otherwise.
bool ParseFloatText(std::string_view text, double* out);
bool ParseFloatText(std::string_view text, float* out);

/// "YYYY-MM-DD" of days since 1970-01-01.
void AppendIsoDate(int64_t days, const JsonDialect& dialect, std::string* out);
/// "HH:MM:SS[.fraction]": `seconds` in the day, `fraction` in units of 10^-digits s.
void AppendIsoClock(int64_t seconds, int64_t fraction, int digits, std::string* out);
/// Date + 'T' + clock of `value` in units of 10^-digits seconds since the epoch, + 'Z'
/// when `utc_suffix`.
void AppendIsoTimestamp(int64_t value, int digits, bool utc_suffix, const JsonDialect& dialect,
                        std::string* out);

/// Parses "[-]Y...Y-MM-DD" at `*pos` (advancing it) into days since 1970-01-01; false when
/// malformed (fewer than dialect.min_year_digits or more than 18 year digits, month or day
/// out of range).
bool ParseIsoDate(std::string_view text, size_t* pos, const JsonDialect& dialect, int64_t* days);
/// Parses "HH:MM:SS[.fraction]" at `*pos` into units of 10^-digits seconds; false when
/// malformed or when the fraction has more digits than `digits`.
bool ParseIsoClock(std::string_view text, size_t* pos, int digits, int64_t* out);
/// The whole of `text` as a timestamp in units of 10^-digits seconds: date 'T' clock, then
/// 'Z' (required when `utc_suffix_required`, else optional). Invalid naming the text.
Result<int64_t> ParseIsoTimestamp(std::string_view text, int digits, bool utc_suffix_required,
                                  const JsonDialect& dialect);

// --- JSON. ---

/// `text` as a JSON string literal.
void AppendJsonString(std::string_view text, const JsonDialect& dialect, std::string* out);

/// OK when AppendJson can write values of `type` in `dialect`; TypeError "cannot encode
/// Arrow type T as JSON" otherwise (Map, Union, Interval, ...).
Status CheckJsonWritable(const arrow::DataType& type, const JsonDialect& dialect);

/// Whether `array[i]` is null, seeing through dictionaries (a null dictionary value).
bool IsNullValue(const arrow::Array& array, int64_t i);

/// Appends the JSON of `array[i]` ("null" for a null). `array`'s type must pass
/// CheckJsonWritable.
void AppendJson(const arrow::Array& array, int64_t i, const JsonDialect& dialect,
                std::string* out);

/// \brief A parsed JSON value that keeps every number as the text it was written as, so
/// 64-bit integers and decimals come back exactly.
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  ///< kNumber: as written; kString: decoded.
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;  ///< In document order.
};

/// Parses one JSON document (nlohmann's SAX parser, which hands over each number's text;
/// nesting up to 256 levels). Invalid "malformed <dialect.name> text (...)" otherwise.
Result<JsonValue> ParseJson(std::string_view text, const JsonDialect& dialect);

/// Appends to `builder` (made by arrow::MakeBuilder for `type`) the value whose JSON is
/// `value` in `dialect` (the inverse of AppendJson; JSON null appends a null). Structs
/// take their fields by key (the last of equal keys wins, missing keys are null). Invalid
/// naming the JSON and the type when the value does not fit exactly.
Status AppendFromJson(const JsonValue& value, const arrow::DataType& type,
                      const JsonDialect& dialect, arrow::ArrayBuilder* builder);

/// OK when AppendFromJson can read values of `type`; NotImplemented saying why otherwise
/// (a struct with two fields of the same name keeps only one JSON key).
Status CheckJsonReadable(const arrow::DataType& type);

}  // namespace amp::loaders
