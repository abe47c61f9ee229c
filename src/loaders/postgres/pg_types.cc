#include "loaders/postgres/pg_types.h"

#include <arrow/extension_type.h>
#include <arrow/type.h>
#include <arrow/type_traits.h>

#include <string>

#include "sql/query_text.h"

namespace amp::postgres {
namespace {

PgType Scalar(PgKind kind, std::string sql, uint32_t oid) {
  PgType t;
  t.kind = kind;
  t.sql = std::move(sql);
  t.oid = oid;
  return t;
}

PgType Jsonb() { return Scalar(PgKind::kJsonb, "jsonb", kJsonbOid); }

// OID of the array type whose elements have `element_oid` (pg_type.dat typarray).
uint32_t ArrayOidOf(uint32_t element_oid) {
  switch (element_oid) {
    case kBoolOid: return 1000;
    case kByteaOid: return 1001;
    case kInt2Oid: return 1005;
    case kInt4Oid: return 1007;
    case kTextOid: return 1009;
    case kInt8Oid: return 1016;
    case kFloat4Oid: return 1021;
    case kFloat8Oid: return 1022;
    case kTimestampOid: return 1115;
    case kDateOid: return 1182;
    case kTimeOid: return 1183;
    case kTimestamptzOid: return 1185;
    case kNumericOid: return 1231;
    default: return 0;
  }
}

std::string NumericSql(int32_t precision, int32_t scale) {
  return "numeric(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
}

const arrow::DataType& Unwrap(const arrow::DataType& type) {
  if (type.id() == arrow::Type::EXTENSION) {
    return Unwrap(*static_cast<const arrow::ExtensionType&>(type).storage_type());
  }
  if (type.id() == arrow::Type::DICTIONARY) {
    return Unwrap(*static_cast<const arrow::DictionaryType&>(type).value_type());
  }
  return type;
}

Result<PgType> MapScalar(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::NA:
      // An all-null column (e.g. `SELECT NULL AS x`): text is the least surprising home.
      return Scalar(PgKind::kText, "text", kTextOid);
    case Type::BOOL: return Scalar(PgKind::kBool, "boolean", kBoolOid);
    case Type::INT8:
    case Type::INT16:
    case Type::UINT8: return Scalar(PgKind::kInt2, "smallint", kInt2Oid);
    case Type::INT32:
    case Type::UINT16: return Scalar(PgKind::kInt4, "integer", kInt4Oid);
    case Type::INT64:
    case Type::UINT32: return Scalar(PgKind::kInt8, "bigint", kInt8Oid);
    case Type::UINT64: return Scalar(PgKind::kNumeric, NumericSql(20, 0), kNumericOid);
    case Type::HALF_FLOAT:
    case Type::FLOAT: return Scalar(PgKind::kFloat4, "real", kFloat4Oid);
    case Type::DOUBLE: return Scalar(PgKind::kFloat8, "double precision", kFloat8Oid);
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: return Scalar(PgKind::kText, "text", kTextOid);
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: return Scalar(PgKind::kBytea, "bytea", kByteaOid);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: {
      const auto& dec = static_cast<const arrow::DecimalType&>(type);
      return Scalar(PgKind::kNumeric, NumericSql(dec.precision(), dec.scale()), kNumericOid);
    }
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (ts.timezone().empty()) {
        return Scalar(PgKind::kTimestamp, "timestamp without time zone", kTimestampOid);
      }
      return Scalar(PgKind::kTimestamptz, "timestamp with time zone", kTimestamptzOid);
    }
    case Type::DATE32:
    case Type::DATE64: return Scalar(PgKind::kDate, "date", kDateOid);
    case Type::TIME32:
    case Type::TIME64: return Scalar(PgKind::kTime, "time without time zone", kTimeOid);
    default:
      return Status::TypeError("no PostgreSQL mapping for Arrow type ", type.ToString());
  }
}

// Lists whose elements can become a PostgreSQL array (or, nested, jsonb).
bool IsListLike(arrow::Type::type id) { return arrow::is_list(id) || arrow::is_list_view(id); }

// Whether jsonb can represent `type` (the JSON encoder's coverage).
Status CheckJsonable(const arrow::DataType& outer) {
  const arrow::DataType& type = Unwrap(outer);
  if (IsListLike(type.id())) return CheckJsonable(*type.field(0)->type());
  if (type.id() == arrow::Type::STRUCT) {
    for (const auto& field : type.fields()) AMP_RETURN_NOT_OK(CheckJsonable(*field->type()));
    return Status::OK();
  }
  return MapScalar(type).status();
}

}  // namespace

Result<PgType> MapArrowType(const arrow::DataType& outer) {
  const arrow::DataType& type = Unwrap(outer);
  if (type.id() == arrow::Type::STRUCT) {
    AMP_RETURN_NOT_OK(CheckJsonable(type));
    return Jsonb();
  }
  if (IsListLike(type.id())) {
    const arrow::DataType& element = Unwrap(*type.field(0)->type());
    if (!IsListLike(element.id()) && element.id() != arrow::Type::STRUCT &&
        element.id() != arrow::Type::NA) {
      auto scalar = MapScalar(element);
      if (scalar.ok()) {
        PgType t;
        t.kind = PgKind::kArray;
        t.sql = scalar->sql + "[]";
        t.oid = ArrayOidOf(scalar->oid);
        t.element_kind = scalar->kind;
        t.element_oid = scalar->oid;
        return t;
      }
      return Status::TypeError("no PostgreSQL mapping for Arrow type ", outer.ToString(),
                               " (element ", element.ToString(), ")");
    }
    // Nested lists (PostgreSQL arrays must be rectangular) and lists of structs.
    AMP_RETURN_NOT_OK(CheckJsonable(type));
    return Jsonb();
  }
  auto scalar = MapScalar(type);
  if (!scalar.ok() && &type != &outer) {
    return Status::TypeError("no PostgreSQL mapping for Arrow type ", outer.ToString());
  }
  return scalar;
}

// PostgreSQL's rule for a quoted identifier is SQL's own (wrap in ", double any " inside),
// so the one client-side spelling serves.
std::string QuoteIdent(std::string_view name) { return sql::QuoteIdentifier(name); }

std::string QualifiedName(std::string_view schema, std::string_view table) {
  return QuoteIdent(schema) + "." + QuoteIdent(table);
}

}  // namespace amp::postgres
