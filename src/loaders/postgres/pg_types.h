// The Arrow -> PostgreSQL type mapping of the postgres loader, and SQL identifier quoting.
//
// One function, MapArrowType(), decides for every Arrow type which column type the loader
// creates and which binary COPY encoding it writes (pg_copy_writer.h); the table in
// docs/loaders/postgresql.md is this mapping in prose. PgType::sql is spelled exactly as
// PostgreSQL's format_type() prints it, so comparing an existing table's columns with
// the mapping is a string comparison.
//
//   AMP_ASSIGN_OR_RETURN(PgType t, MapArrowType(*arrow::uint64()));  // t.sql == "numeric(20,0)"
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <arrow/type.h>
#include <arrow/type_traits.h>

#include "amp/status.h"

namespace arrow {
class DataType;
}  // namespace arrow

namespace amp::postgres {

/// Type OIDs of the PostgreSQL built-in types the loader writes (pg_type.dat; stable).
inline constexpr uint32_t kBoolOid = 16;
inline constexpr uint32_t kByteaOid = 17;
inline constexpr uint32_t kInt8Oid = 20;
inline constexpr uint32_t kInt2Oid = 21;
inline constexpr uint32_t kInt4Oid = 23;
inline constexpr uint32_t kTextOid = 25;
inline constexpr uint32_t kFloat4Oid = 700;
inline constexpr uint32_t kFloat8Oid = 701;
inline constexpr uint32_t kDateOid = 1082;
inline constexpr uint32_t kTimeOid = 1083;
inline constexpr uint32_t kTimestampOid = 1114;
inline constexpr uint32_t kTimestamptzOid = 1184;
inline constexpr uint32_t kNumericOid = 1700;
inline constexpr uint32_t kJsonbOid = 3802;

/// How a value is encoded in binary COPY (the PostgreSQL type's binary send format).
enum class PgKind : uint8_t {
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kFloat4,
  kFloat8,
  kNumeric,
  kText,
  kBytea,
  kTimestamp,    ///< Microseconds since 2000-01-01 00:00:00 (no zone).
  kTimestamptz,  ///< Microseconds since 2000-01-01 00:00:00 UTC.
  kDate,         ///< Days since 2000-01-01.
  kTime,         ///< Microseconds since midnight.
  kJsonb,        ///< Version byte 1 + JSON text.
  kArray,        ///< One-dimensional array of `element`.
};

/// The destination column type of one Arrow type.
struct PgType {
  PgKind kind = PgKind::kText;
  /// format_type() spelling, usable in DDL: "bigint", "numeric(38,0)", "bytea[]".
  std::string sql;
  uint32_t oid = 0;
  /// kArray only: the element's kind and OID (elements are never arrays or jsonb).
  PgKind element_kind = PgKind::kText;
  uint32_t element_oid = 0;
};

/// The mapping (see the header comment). Dictionary types map as their value type.
/// TypeError naming the type for types without a mapping (Map, Union, Duration,
/// Interval, extension types over those, ...); callers add the column name.
Result<PgType> MapArrowType(const arrow::DataType& type);

/// Returns `name` as a quoted SQL identifier: "name" with embedded quotes doubled.
std::string QuoteIdent(std::string_view name);

/// "schema"."table", both quoted.
std::string QualifiedName(std::string_view schema, std::string_view table);

/// The Arrow type classes whose values COPY carries as their bytes: text (IsTextType) or
/// bytea (the binary ones), for the writer's and the reader's dispatch.
template <typename T>
constexpr bool IsBytesType() {
  return arrow::is_base_binary_type<T>::value || arrow::is_binary_view_like_type<T>::value ||
         std::is_same_v<T, arrow::FixedSizeBinaryType>;
}
constexpr bool IsBytesTypeId(arrow::Type::type id) {
  return arrow::is_base_binary_like(id) || arrow::is_binary_view_like(id) ||
         id == arrow::Type::FIXED_SIZE_BINARY;
}
template <typename T>
constexpr bool IsTextType() {
  return std::is_same_v<T, arrow::StringType> || std::is_same_v<T, arrow::LargeStringType> ||
         std::is_same_v<T, arrow::StringViewType>;
}

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1); the
/// loader rejects longer names instead of letting two of them silently collide.
inline constexpr size_t kMaxIdentifierBytes = 63;

}  // namespace amp::postgres
