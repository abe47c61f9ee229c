// The Redis loader's value encoding and key patterns (docs/loaders/redis.md, "Encoding"):
// how an Arrow value becomes the text of a hash field / stream field, a JSON value (string,
// set, sorted_set and list members; List and Struct columns everywhere), or a component of
// a key, and how ReadRows turns that text back into the same Arrow value. Every mapping is
// lossless: integers (UInt64 included) as exact decimal digits, decimals as exact decimal
// text, binaries as 0x-prefixed lowercase hex (raw bytes in hash/stream fields of format-2
// tables, see BinaryForm), timestamps as ISO 8601 UTC with all the
// digits of their unit, floats as the shortest text that round-trips.
//
//   AMP_ASSIGN_OR_RETURN(auto pattern, KeyPattern::Parse("{table}:{tx_hash}", *schema));
//   std::string key;
//   pattern.Append(row_context, &key);     // "transactions:0x5f3a..."
//
// Key components are escaped so that distinct values never give the same key: '%', ':',
// '{', '}', space and control bytes of string values become %XX, a null becomes "%N"
// (which no escaped value can produce), binaries are their full hex. Placeholders must be
// separated by literal text containing ':' (always escaped inside values), so a key
// determines its components.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "amp/status.h"

namespace arrow {
class Array;
class ArrayBuilder;
class DataType;
class Schema;
}  // namespace arrow

namespace amp::redis {

/// OK when the loader can store and read back values of `type` (recursively for nested
/// types); otherwise Invalid saying which type is not supported.
Status CheckSupportedType(const arrow::DataType& type);

/// Appends the text form of the non-null value `array[i]` (hash and stream fields).
void AppendText(const arrow::Array& array, int64_t i, std::string* out);

/// How binary columns are stored in hash and stream fields (the table description's
/// `format`): kHex is format 1 ("0x" + lowercase hex, as in JSON), kRaw is format 2 (the
/// bytes themselves: half the size, and values up to 64 bytes keep a hash in Redis's
/// compact listpack encoding). Keys and JSON always use hex.
enum class BinaryForm { kHex, kRaw };

/// Appends the hash/stream field form of the non-null value `array[i]`: AppendText, except
/// binaries with kRaw (their bytes, unchanged).
void AppendField(const arrow::Array& array, int64_t i, BinaryForm binary, std::string* out);

/// The inverse of AppendField.
Status AppendFromField(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                       std::string_view text, BinaryForm binary);

/// Appends the JSON form of `array[i]` ("null" for a null).
void AppendJson(const arrow::Array& array, int64_t i, std::string* out);

/// Appends `text` as a JSON string literal (quotes and escapes).
void AppendJsonString(std::string_view text, std::string* out);

/// Appends the key-component form of `array[i]` (escaped text; "%N" for null).
void AppendKeyComponent(const arrow::Array& array, int64_t i, std::string* out);

/// Appends `text` escaped as a key component.
void AppendEscapedKeyText(std::string_view text, std::string* out);

/// Appends to `builder` (made by arrow::MakeBuilder for `type`) the value whose text form
/// is `text` (the inverse of AppendText).
Status AppendFromText(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                      std::string_view text);

/// Appends the value whose JSON form is `value` (the inverse of AppendJson; null appends
/// a null), through the shared codec's reader (loaders/common/value_codec.h, Redis
/// dialect): each type takes the JSON kind AppendJson writes for it, and nothing else.
Status AppendFromJson(arrow::ArrayBuilder* builder, const arrow::DataType& type,
                      const nlohmann::json& value);

/// ISO 8601 UTC text of a timestamp `value` in units of 10^-digits seconds
/// (digits 0, 3, 6, 9), e.g. "2023-11-14T22:13:20.123456789Z"; and its inverse.
std::string FormatTimestamp(int64_t value, int digits);
Result<int64_t> ParseTimestamp(std::string_view text, int digits);

/// \brief A parsed key pattern: literal text and {placeholders}.
///
/// Placeholders: a column of the schema, {table}, {_amp_block_start}, {_amp_block_end},
/// {_amp_seq} (a per-table counter the loader reserves, unique per row forever).
class KeyPattern {
 public:
  enum class Source { kLiteral, kColumn, kTable, kBlockStart, kBlockEnd, kSeq };
  struct Part {
    Source source = Source::kLiteral;
    std::string text;  ///< Literal text, or the placeholder name.
    int column = -1;   ///< kColumn: index in the schema.
  };

  /// Parses `pattern` against `schema`; an unknown placeholder is an Invalid naming it and
  /// the table's columns; so are unbalanced braces, an empty pattern and placeholders not
  /// separated by ':'.
  static Result<KeyPattern> Parse(const std::string& pattern, const arrow::Schema& schema,
                                  const std::string& table);

  const std::vector<Part>& parts() const { return parts_; }
  const std::string& text() const { return text_; }
  bool Uses(Source source) const;
  bool UsesColumn(const std::string& name) const;

 private:
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace amp::redis
