// Planner: AST (ast.h) -> chain of stages (stages.h) with bound Arrow expressions, the
// output schema, block bounds and the streaming flags.
//
// Name resolution follows DataFusion: unquoted identifiers are already lower-cased by the
// parser; a column may be qualified by the table alias, the table name, or dataset.table.
// Literals take the type of what they are compared with (an integer literal compared with
// a UInt64 column becomes a UInt64 scalar; out-of-range literals turn the comparison into
// a constant that still yields NULL for NULL rows), so kernels never see mixed types
// that Arrow would cast lossily (it would cast UInt64 to Int64 for `block_num > -1`).
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <arrow/array.h>
#include <arrow/array/builder_base.h>
#include <arrow/buffer.h>
#include <arrow/compute/api_aggregate.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/compute/cast.h>
#include <arrow/compute/exec.h>
#include <arrow/compute/expression.h>
#include <arrow/compute/initialize.h>
#include <arrow/scalar.h>
#include <arrow/util/decimal.h>

#include "devnet/sql/engine.h"
#include "devnet/sql/parser.h"
#include "devnet/sql/stages.h"

namespace amp::devnet::sql {
namespace {

namespace cp = arrow::compute;
using ast::CompareOp;
using internal::AggregateKind;
using internal::Stage;

constexpr std::string_view kBlockNum = "block_num";
constexpr std::string_view kSpecialBlockNum = "_block_num";
constexpr const char* kAggregateInExpression =
    "aggregate functions inside expressions are not supported by the devnet";

Status InitializeCompute() {
  // Arrow >= 21 registers its kernels only on request.
  static const Status status = cp::Initialize();
  return status;
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

std::string Int128ToString(__int128 v) {
  if (v == 0) return "0";
  bool negative = v < 0;
  unsigned __int128 u = negative ? static_cast<unsigned __int128>(-(v + 1)) + 1
                                 : static_cast<unsigned __int128>(v);
  std::string digits;
  while (u > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

__int128 Pow10(int n) {
  __int128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

bool IsIntegerType(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
      return true;
    default:
      return false;
  }
}

std::pair<__int128, __int128> IntegerRange(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::UINT8:
      return {0, UINT8_MAX};
    case arrow::Type::UINT16:
      return {0, UINT16_MAX};
    case arrow::Type::UINT32:
      return {0, UINT32_MAX};
    case arrow::Type::UINT64:
      return {0, static_cast<__int128>(UINT64_MAX)};
    case arrow::Type::INT8:
      return {INT8_MIN, INT8_MAX};
    case arrow::Type::INT16:
      return {INT16_MIN, INT16_MAX};
    case arrow::Type::INT32:
      return {INT32_MIN, INT32_MAX};
    default:
      return {INT64_MIN, INT64_MAX};
  }
}

std::shared_ptr<arrow::Scalar> MakeIntegerScalar(arrow::Type::type id, __int128 v) {
  switch (id) {
    case arrow::Type::UINT8:
      return std::make_shared<arrow::UInt8Scalar>(static_cast<uint8_t>(v));
    case arrow::Type::UINT16:
      return std::make_shared<arrow::UInt16Scalar>(static_cast<uint16_t>(v));
    case arrow::Type::UINT32:
      return std::make_shared<arrow::UInt32Scalar>(static_cast<uint32_t>(v));
    case arrow::Type::UINT64:
      return std::make_shared<arrow::UInt64Scalar>(static_cast<uint64_t>(v));
    case arrow::Type::INT8:
      return std::make_shared<arrow::Int8Scalar>(static_cast<int8_t>(v));
    case arrow::Type::INT16:
      return std::make_shared<arrow::Int16Scalar>(static_cast<int16_t>(v));
    case arrow::Type::INT32:
      return std::make_shared<arrow::Int32Scalar>(static_cast<int32_t>(v));
    default:
      return std::make_shared<arrow::Int64Scalar>(static_cast<int64_t>(v));
  }
}

arrow::Decimal128 ToDecimal128(__int128 v) {
  return arrow::Decimal128(static_cast<int64_t>(v >> 64), static_cast<uint64_t>(v));
}

// A dataset or table name as DataFusion prints it: bare when it is a plain lower-case
// identifier, double-quoted otherwise.
std::string QuoteIdent(const std::string& ident) {
  auto lower = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  bool plain = !ident.empty() && (lower(ident[0]) || ident[0] == '_');
  for (char c : ident) {
    if (!(lower(c) || digit(c) || c == '_')) plain = false;
  }
  if (plain) return ident;
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string JoinName(const ast::ObjectName& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (i > 0) out += ".";
    out += QuoteIdent(name[i].value);
  }
  return out;
}

std::string HexOf(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string DescribeLiteral(const ast::Literal& lit) {
  switch (lit.kind) {
    case ast::Literal::Kind::kNull:
      return "NULL";
    case ast::Literal::Kind::kBool:
      return lit.bool_value ? "true" : "false";
    case ast::Literal::Kind::kInteger:
      return Int128ToString(lit.int_value);
    case ast::Literal::Kind::kString:
      return "'" + lit.bytes + "'";
    case ast::Literal::Kind::kHex:
      return lit.text;
  }
  return "?";
}

const char* CompareFunction(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return "equal";
    case CompareOp::kNe:
      return "not_equal";
    case CompareOp::kLt:
      return "less";
    case CompareOp::kLe:
      return "less_equal";
    case CompareOp::kGt:
      return "greater";
    case CompareOp::kGe:
      return "greater_equal";
  }
  return "equal";
}

const char* CompareSymbol(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return "=";
    case CompareOp::kNe:
      return "!=";
    case CompareOp::kLt:
      return "<";
    case CompareOp::kLe:
      return "<=";
    case CompareOp::kGt:
      return ">";
    case CompareOp::kGe:
      return ">=";
  }
  return "=";
}

// `a op b` == `b Flip(op) a`.
CompareOp Flip(CompareOp op) {
  switch (op) {
    case CompareOp::kLt:
      return CompareOp::kGt;
    case CompareOp::kLe:
      return CompareOp::kGe;
    case CompareOp::kGt:
      return CompareOp::kLt;
    case CompareOp::kGe:
      return CompareOp::kLe;
    default:
      return op;
  }
}

// NOT (a op b) == a Negate(op) b, for non-null operands.
CompareOp Negate(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return CompareOp::kNe;
    case CompareOp::kNe:
      return CompareOp::kEq;
    case CompareOp::kLt:
      return CompareOp::kGe;
    case CompareOp::kLe:
      return CompareOp::kGt;
    case CompareOp::kGt:
      return CompareOp::kLe;
    case CompareOp::kGe:
      return CompareOp::kLt;
  }
  return op;
}

// ---------------------------------------------------------------------------------------
// Typed expression tree: the resolved, coerced form of a WHERE clause or select item.
// It is lowered to an Arrow expression for execution and analysed for block bounds.
// ---------------------------------------------------------------------------------------

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  enum class Kind { kColumn, kLiteral, kCompare, kAnd, kOr, kNot, kIsNull, kIsValid, kIn };
  Kind kind = Kind::kLiteral;
  std::shared_ptr<arrow::DataType> type;
  bool nullable = true;
  int column = -1;                         // kColumn: index in the input relation
  std::shared_ptr<arrow::Scalar> scalar;   // kLiteral
  CompareOp op = CompareOp::kEq;           // kCompare
  std::shared_ptr<arrow::Array> value_set; // kIn (may hold a null)
  bool negated = false;                    // kIn: NOT IN
  std::vector<NodePtr> children;
};

NodePtr LiteralNode(std::shared_ptr<arrow::Scalar> scalar) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::kLiteral;
  node->type = scalar->type;
  node->nullable = !scalar->is_valid;
  node->scalar = std::move(scalar);
  return node;
}

NodePtr NullBoolNode() { return LiteralNode(arrow::MakeNullScalar(arrow::boolean())); }

NodePtr CompareNode(CompareOp op, NodePtr lhs, NodePtr rhs) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::kCompare;
  node->type = arrow::boolean();
  node->op = op;
  node->nullable = lhs->nullable || rhs->nullable;
  node->children = {std::move(lhs), std::move(rhs)};
  return node;
}

NodePtr LogicalNode(Node::Kind kind, std::vector<NodePtr> children) {
  auto node = std::make_shared<Node>();
  node->kind = kind;
  node->type = arrow::boolean();
  node->nullable = false;
  for (const auto& child : children) node->nullable = node->nullable || child->nullable;
  if (kind == Node::Kind::kIsNull || kind == Node::Kind::kIsValid) node->nullable = false;
  node->children = std::move(children);
  return node;
}

void CollectColumns(const Node& node, std::set<int>* columns) {
  if (node.kind == Node::Kind::kColumn) columns->insert(node.column);
  for (const auto& child : node.children) CollectColumns(*child, columns);
}

// Lowers to an Arrow expression whose field refs are `remap[column]`.
cp::Expression ToArrow(const Node& node, const std::vector<int>& remap) {
  switch (node.kind) {
    case Node::Kind::kColumn:
      return cp::field_ref(arrow::FieldRef(remap[static_cast<size_t>(node.column)]));
    case Node::Kind::kLiteral:
      return cp::literal(arrow::Datum(node.scalar));
    case Node::Kind::kCompare:
      return cp::call(CompareFunction(node.op), {ToArrow(*node.children[0], remap),
                                                 ToArrow(*node.children[1], remap)});
    case Node::Kind::kAnd:
      return cp::and_(ToArrow(*node.children[0], remap), ToArrow(*node.children[1], remap));
    case Node::Kind::kOr:
      return cp::or_(ToArrow(*node.children[0], remap), ToArrow(*node.children[1], remap));
    case Node::Kind::kNot:
      return cp::not_(ToArrow(*node.children[0], remap));
    case Node::Kind::kIsNull:
      return cp::is_null(ToArrow(*node.children[0], remap));
    case Node::Kind::kIsValid:
      return cp::is_valid(ToArrow(*node.children[0], remap));
    case Node::Kind::kIn: {
      // INCONCLUSIVE gives SQL's semantics: NULL input -> NULL; no match but a NULL in
      // the list -> NULL (so NOT IN with a NULL never selects a row).
      cp::Expression in = cp::call("is_in", {ToArrow(*node.children[0], remap)},
                                   cp::SetLookupOptions(node.value_set,
                                                        cp::SetLookupOptions::INCONCLUSIVE));
      return node.negated ? cp::not_(std::move(in)) : in;
    }
  }
  return cp::literal(false);
}

// ---------------------------------------------------------------------------------------
// Relations (what a FROM item provides) and block bounds
// ---------------------------------------------------------------------------------------

struct RelColumn {
  std::shared_ptr<arrow::Field> field;
  /// The source table's block_num / _block_num, unchanged and under the same name.
  bool block = false;
};

struct Relation {
  std::vector<RelColumn> columns;
  /// Qualifier paths a column reference may use: {"b"} for an alias, or {"blocks"} and
  /// {"eth_firehose", "blocks"} for an unaliased table.
  std::vector<std::vector<std::string>> qualifiers;
  /// Prefix of derived names ("eth_firehose.blocks" in "max(eth_firehose.blocks.x)").
  std::string display_qualifier;

  std::shared_ptr<arrow::Schema> schema() const {
    arrow::FieldVector fields;
    for (const auto& column : columns) fields.push_back(column.field);
    return arrow::schema(std::move(fields));
  }
};

struct Range {
  uint64_t lo = 0;
  uint64_t hi = UINT64_MAX;
  static Range Empty() { return Range{1, 0}; }
  bool empty() const { return lo > hi; }
};

Range Intersect(const Range& a, const Range& b) {
  Range r{std::max(a.lo, b.lo), std::min(a.hi, b.hi)};
  return r.empty() ? Range::Empty() : r;
}

Range Hull(const Range& a, const Range& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return Range{std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
}

std::optional<Range> IntersectOpt(const std::optional<Range>& a, const std::optional<Range>& b) {
  if (!a) return b;
  if (!b) return a;
  return Intersect(*a, *b);
}

std::optional<Range> HullOpt(const std::optional<Range>& a, const std::optional<Range>& b) {
  if (!a || !b) return std::nullopt;
  return Hull(*a, *b);
}

bool IsBlockColumn(const Node& node, const Relation& rel) {
  return node.kind == Node::Kind::kColumn && rel.columns[static_cast<size_t>(node.column)].block;
}

std::optional<Range> RangeOfComparison(CompareOp op, const arrow::Scalar& literal) {
  if (!literal.is_valid) return Range::Empty();  // comparison with NULL is never true
  if (literal.type->id() != arrow::Type::UINT64) return std::nullopt;
  uint64_t v = static_cast<const arrow::UInt64Scalar&>(literal).value;
  switch (op) {
    case CompareOp::kEq:
      return Range{v, v};
    case CompareOp::kNe:
      return std::nullopt;
    case CompareOp::kLt:
      return v == 0 ? Range::Empty() : Range{0, v - 1};
    case CompareOp::kLe:
      return Range{0, v};
    case CompareOp::kGt:
      return v == UINT64_MAX ? Range::Empty() : Range{v + 1, UINT64_MAX};
    case CompareOp::kGe:
      return Range{v, UINT64_MAX};
  }
  return std::nullopt;
}

// Bounds on the block number of rows for which `node` is TRUE (positive) or FALSE
// (!positive); nullopt = no bound. Block columns are non-null, so a comparison of one with
// a non-null literal is FALSE exactly when the negated comparison is TRUE.
std::optional<Range> BoundsOf(const Node& node, bool positive, const Relation& rel) {
  switch (node.kind) {
    case Node::Kind::kAnd: {
      auto a = BoundsOf(*node.children[0], positive, rel);
      auto b = BoundsOf(*node.children[1], positive, rel);
      return positive ? IntersectOpt(a, b) : HullOpt(a, b);
    }
    case Node::Kind::kOr: {
      auto a = BoundsOf(*node.children[0], positive, rel);
      auto b = BoundsOf(*node.children[1], positive, rel);
      return positive ? HullOpt(a, b) : IntersectOpt(a, b);
    }
    case Node::Kind::kNot:
      return BoundsOf(*node.children[0], !positive, rel);
    case Node::Kind::kCompare: {
      const Node* lhs = node.children[0].get();
      const Node* rhs = node.children[1].get();
      CompareOp op = node.op;
      if (rhs->kind == Node::Kind::kColumn && lhs->kind == Node::Kind::kLiteral) {
        std::swap(lhs, rhs);
        op = Flip(op);
      }
      if (!IsBlockColumn(*lhs, rel) || rhs->kind != Node::Kind::kLiteral) return std::nullopt;
      if (!rhs->scalar->is_valid) return Range::Empty();
      return RangeOfComparison(positive ? op : Negate(op), *rhs->scalar);
    }
    case Node::Kind::kIn: {
      const Node& lhs = *node.children[0];
      if (!IsBlockColumn(lhs, rel) || node.value_set->type_id() != arrow::Type::UINT64) {
        return std::nullopt;
      }
      // IN is TRUE only on a listed value; NOT IN is TRUE on anything else.
      if (positive != node.negated) {
        const auto& values = static_cast<const arrow::UInt64Array&>(*node.value_set);
        Range r = Range::Empty();
        for (int64_t i = 0; i < values.length(); ++i) {
          if (values.IsValid(i)) r = Hull(r, Range{values.Value(i), values.Value(i)});
        }
        return r;
      }
      return std::nullopt;
    }
    case Node::Kind::kLiteral: {
      if (node.type->id() != arrow::Type::BOOL) return std::nullopt;
      const auto& b = static_cast<const arrow::BooleanScalar&>(*node.scalar);
      // WHERE false / WHERE NULL selects nothing.
      if (!b.is_valid || b.value != positive) return Range::Empty();
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// Whether the rows for which `node` is TRUE (positive) or FALSE (!positive) are exactly
// those whose block number lies in BoundsOf(node, positive): a conjunction of comparisons
// of a block column with literals (or a constant). Then the query's source rows are
// known from the block range alone, which lets MakeRowlessExecutor() answer from row
// counts. Anything else (OR of ranges, !=, IN, other columns) is not exact.
bool IsExactBlockFilter(const Node& node, bool positive, const Relation& rel) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      return positive && IsExactBlockFilter(*node.children[0], true, rel) &&
             IsExactBlockFilter(*node.children[1], true, rel);
    case Node::Kind::kOr:  // NOT (a OR b) == NOT a AND NOT b
      return !positive && IsExactBlockFilter(*node.children[0], false, rel) &&
             IsExactBlockFilter(*node.children[1], false, rel);
    case Node::Kind::kNot:
      return IsExactBlockFilter(*node.children[0], !positive, rel);
    case Node::Kind::kCompare: {
      const Node* lhs = node.children[0].get();
      const Node* rhs = node.children[1].get();
      CompareOp op = node.op;
      if (rhs->kind == Node::Kind::kColumn && lhs->kind == Node::Kind::kLiteral) {
        std::swap(lhs, rhs);
        op = Flip(op);
      }
      if (!IsBlockColumn(*lhs, rel) || rhs->kind != Node::Kind::kLiteral) return false;
      if (!rhs->scalar->is_valid) return true;  // never TRUE, never FALSE: empty either way
      if (rhs->scalar->type->id() != arrow::Type::UINT64) return false;
      return (positive ? op : Negate(op)) != CompareOp::kNe;
    }
    case Node::Kind::kLiteral:
      return node.type->id() == arrow::Type::BOOL;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------
// Literal coercion
// ---------------------------------------------------------------------------------------

/// A literal converted to a column's type, or the side of the type's range it falls off.
struct Coerced {
  std::shared_ptr<arrow::Scalar> scalar;
  int out_of_range = 0;  // -1: below the type's minimum, +1: above its maximum
};

Result<std::shared_ptr<arrow::Scalar>> CastScalar(const std::shared_ptr<arrow::Scalar>& scalar,
                                                  const std::shared_ptr<arrow::DataType>& type,
                                                  bool safe = true) {
  cp::CastOptions options = safe ? cp::CastOptions::Safe(type) : cp::CastOptions::Unsafe(type);
  AMP_ASSIGN_OR_RETURN(arrow::Datum out, cp::Cast(arrow::Datum(scalar), options));
  return out.scalar();
}

Status CannotCompare(const std::string& desc, const arrow::DataType& type, std::string_view what) {
  return Status::Invalid("cannot compare ", desc, " of type ", type.ToString(), " with ", what);
}

std::shared_ptr<arrow::Scalar> DefaultIntegerScalar(__int128 v) {
  if (v >= INT64_MIN && v <= INT64_MAX) {
    return std::make_shared<arrow::Int64Scalar>(static_cast<int64_t>(v));
  }
  if (v >= 0 && v <= static_cast<__int128>(UINT64_MAX)) {
    return std::make_shared<arrow::UInt64Scalar>(static_cast<uint64_t>(v));
  }
  return std::make_shared<arrow::Decimal128Scalar>(ToDecimal128(v), arrow::decimal128(38, 0));
}

Result<Coerced> CoerceInteger(__int128 v, const std::shared_ptr<arrow::DataType>& type,
                              const std::string& desc) {
  const auto id = type->id();
  if (IsIntegerType(id)) {
    auto [lo, hi] = IntegerRange(id);
    if (v < lo) return Coerced{nullptr, -1};
    if (v > hi) return Coerced{nullptr, +1};
    return Coerced{MakeIntegerScalar(id, v), 0};
  }
  if (id == arrow::Type::DECIMAL128) {
    const auto& decimal = static_cast<const arrow::Decimal128Type&>(*type);
    const int precision = decimal.precision();
    const int scale = decimal.scale();
    if (scale >= 0 && scale <= 38 && precision <= 38) {
      const __int128 bound = Pow10(precision) - 1;
      const __int128 magnitude = v < 0 ? -v : v;
      if (scale > 0 && magnitude > bound / Pow10(scale)) return Coerced{nullptr, v < 0 ? -1 : +1};
      const __int128 scaled = v * Pow10(scale);
      if (scaled > bound) return Coerced{nullptr, +1};
      if (scaled < -bound) return Coerced{nullptr, -1};
      return Coerced{std::make_shared<arrow::Decimal128Scalar>(ToDecimal128(scaled), type), 0};
    }
  }
  switch (id) {
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW: {
      std::shared_ptr<arrow::Scalar> source;
      if (id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING ||
          id == arrow::Type::STRING_VIEW) {
        // DataFusion compares a string column with a number as strings.
        source = std::make_shared<arrow::StringScalar>(Int128ToString(v));
      } else {
        source = DefaultIntegerScalar(v);
      }
      const bool is_float = id == arrow::Type::HALF_FLOAT || id == arrow::Type::FLOAT ||
                            id == arrow::Type::DOUBLE;
      auto cast = CastScalar(source, type, /*safe=*/!is_float);
      if (!cast.ok()) {
        return Status::Invalid("cannot convert integer literal ", Int128ToString(v), " to ",
                               type->ToString(), " to compare it with ", desc, ": ",
                               cast.status().message());
      }
      return Coerced{*cast, 0};
    }
    default:
      return CannotCompare(desc, *type, "integer literal " + Int128ToString(v));
  }
}

// Bytes (from a hex literal) for a binary-family type; FixedSizeBinary needs the exact width.
Result<Coerced> CoerceBytes(const std::string& bytes, const std::string& as_written,
                            const std::shared_ptr<arrow::DataType>& type, const std::string& desc) {
  auto buffer = arrow::Buffer::FromString(bytes);
  switch (type->id()) {
    case arrow::Type::FIXED_SIZE_BINARY: {
      const int width = static_cast<const arrow::FixedSizeBinaryType&>(*type).byte_width();
      if (static_cast<int>(bytes.size()) != width) {
        return Status::Invalid("hex literal ", as_written, " is ", bytes.size(), " bytes but ",
                               desc, " is ", type->ToString(), " (", width,
                               " bytes): the widths must match");
      }
      return Coerced{std::make_shared<arrow::FixedSizeBinaryScalar>(buffer, type), 0};
    }
    case arrow::Type::BINARY:
      return Coerced{std::make_shared<arrow::BinaryScalar>(buffer), 0};
    case arrow::Type::LARGE_BINARY:
      return Coerced{std::make_shared<arrow::LargeBinaryScalar>(buffer), 0};
    case arrow::Type::BINARY_VIEW:
      return Coerced{std::make_shared<arrow::BinaryViewScalar>(buffer), 0};
    default:
      return CannotCompare(desc, *type, "hex literal " + as_written);
  }
}

bool IsBinaryFamily(arrow::Type::type id) {
  return id == arrow::Type::FIXED_SIZE_BINARY || id == arrow::Type::BINARY ||
         id == arrow::Type::LARGE_BINARY || id == arrow::Type::BINARY_VIEW;
}

std::optional<__int128> ParseIntegerString(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  if (s.empty() || s.size() > 38 || s.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  __int128 v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return negative ? -v : v;
}

Result<Coerced> CoerceString(const std::string& text, const std::shared_ptr<arrow::DataType>& type,
                             const std::string& desc) {
  const auto id = type->id();
  const std::string quoted = "string literal '" + text + "'";
  if (id == arrow::Type::STRING) return Coerced{std::make_shared<arrow::StringScalar>(text), 0};
  if (IsBinaryFamily(id)) {
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      std::string bytes;
      std::string_view digits = std::string_view(text).substr(2);
      bool ok = digits.size() % 2 == 0;
      for (size_t i = 0; ok && i < digits.size(); i += 2) {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        int hi = hex(digits[i]);
        int lo = hex(digits[i + 1]);
        ok = hi >= 0 && lo >= 0;
        bytes.push_back(static_cast<char>(hi * 16 + lo));
      }
      if (!ok) {
        return Status::Invalid("invalid hex string '", text, "' compared with ", desc, " of type ",
                               type->ToString());
      }
      return CoerceBytes(bytes, "'" + text + "'", type, desc);
    }
    if (id == arrow::Type::FIXED_SIZE_BINARY) {
      return Status::Invalid(CannotCompare(desc, *type, quoted).message(),
                             ": use a hex literal such as '0x...' or 0x...");
    }
    return CoerceBytes(text, quoted, type, desc);  // DataFusion casts the UTF-8 bytes
  }
  if (IsIntegerType(id) || id == arrow::Type::DECIMAL128 || id == arrow::Type::DECIMAL256) {
    auto v = ParseIntegerString(text);
    if (!v) {
      return Status::Invalid("cannot cast ", quoted, " to ", type->ToString(),
                             " to compare it with ", desc);
    }
    return CoerceInteger(*v, type, desc);
  }
  auto source = std::make_shared<arrow::StringScalar>(text);
  auto cast = CastScalar(source, type);
  if (!cast.ok() && id == arrow::Type::TIMESTAMP) {
    // A timestamp without a zone means UTC, as in DataFusion.
    const auto& ts_type = static_cast<const arrow::TimestampType&>(*type);
    auto naive = CastScalar(source, arrow::timestamp(ts_type.unit()));
    if (naive.ok() && (*naive)->is_valid) {
      return Coerced{std::make_shared<arrow::TimestampScalar>(
                         static_cast<const arrow::TimestampScalar&>(**naive).value, type),
                     0};
    }
  }
  if (!cast.ok()) {
    return Status::Invalid("cannot cast ", quoted, " to ", type->ToString(),
                           " to compare it with ", desc, ": ", cast.status().message());
  }
  return Coerced{*cast, 0};
}

Result<Coerced> CoerceLiteral(const ast::Literal& lit, const std::shared_ptr<arrow::DataType>& type,
                              const std::string& desc) {
  switch (lit.kind) {
    case ast::Literal::Kind::kNull:
      return Coerced{arrow::MakeNullScalar(type), 0};
    case ast::Literal::Kind::kBool:
      if (type->id() == arrow::Type::BOOL) {
        return Coerced{std::make_shared<arrow::BooleanScalar>(lit.bool_value), 0};
      }
      return CannotCompare(desc, *type, std::string("boolean literal ") +
                                            (lit.bool_value ? "true" : "false"));
    case ast::Literal::Kind::kInteger:
      return CoerceInteger(lit.int_value, type, desc);
    case ast::Literal::Kind::kString:
      return CoerceString(lit.bytes, type, desc);
    case ast::Literal::Kind::kHex:
      return CoerceBytes(lit.bytes, lit.text, type, desc);
  }
  return Status::Invalid("unknown literal");
}

// The type a literal gets when nothing gives it one (e.g. `SELECT 1`): DataFusion's defaults.
std::shared_ptr<arrow::Scalar> DefaultScalar(const ast::Literal& lit) {
  switch (lit.kind) {
    case ast::Literal::Kind::kNull:
      return std::make_shared<arrow::NullScalar>();
    case ast::Literal::Kind::kBool:
      return std::make_shared<arrow::BooleanScalar>(lit.bool_value);
    case ast::Literal::Kind::kInteger:
      return DefaultIntegerScalar(lit.int_value);
    case ast::Literal::Kind::kString:
      return std::make_shared<arrow::StringScalar>(lit.bytes);
    case ast::Literal::Kind::kHex:
      return std::make_shared<arrow::BinaryScalar>(arrow::Buffer::FromString(lit.bytes));
  }
  return std::make_shared<arrow::NullScalar>();
}

// The smallest value of an integer or decimal128 type (for constant comparisons).
std::shared_ptr<arrow::Scalar> MinimumOf(const std::shared_ptr<arrow::DataType>& type) {
  if (type->id() == arrow::Type::DECIMAL128) {
    const auto& decimal = static_cast<const arrow::Decimal128Type&>(*type);
    const __int128 minimum = -(Pow10(decimal.precision()) - 1);
    return std::make_shared<arrow::Decimal128Scalar>(ToDecimal128(minimum), type);
  }
  return MakeIntegerScalar(type->id(), IntegerRange(type->id()).first);
}

// ---------------------------------------------------------------------------------------
// Expression resolution
// ---------------------------------------------------------------------------------------

bool IsAggregateName(const ast::ObjectName& name) {
  if (name.size() != 1) return false;
  const std::string& n = name[0].value;
  return n == "min" || n == "max" || n == "count";
}

bool IsAggregateCall(const ast::Expr& e) {
  return e.kind == ast::Expr::Kind::kFunction && IsAggregateName(e.name);
}

Result<int> FindColumn(const Relation& rel, const ast::ObjectName& name) {
  if (name.size() > 3) {
    return Status::Invalid("unsupported compound identifier ", JoinName(name));
  }
  const std::string& column = name.back().value;
  std::vector<std::string> qualifier;
  for (size_t i = 0; i + 1 < name.size(); ++i) qualifier.push_back(name[i].value);
  bool qualifier_ok = qualifier.empty() ||
                      std::find(rel.qualifiers.begin(), rel.qualifiers.end(), qualifier) !=
                          rel.qualifiers.end();
  if (qualifier_ok) {
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].field->name() == column) return static_cast<int>(i);
    }
  }
  std::string valid;
  for (size_t i = 0; i < rel.columns.size(); ++i) {
    if (i > 0) valid += ", ";
    if (!rel.display_qualifier.empty()) valid += rel.display_qualifier + ".";
    valid += QuoteIdent(rel.columns[i].field->name());
  }
  return Status::Invalid("No field named ", JoinName(name), ". Valid fields are ", valid, ".");
}

std::string DisplayColumn(const Relation& rel, const ast::ObjectName& name) {
  auto index = FindColumn(rel, name);
  std::string column = index.ok() ? rel.columns[static_cast<size_t>(*index)].field->name()
                                  : name.back().value;
  if (rel.display_qualifier.empty()) return column;
  return rel.display_qualifier + "." + column;
}

// DataFusion-like display of an expression, used as the default output column name.
std::string Display(const ast::Expr& e, const Relation& rel) {
  auto child = [&](size_t i) { return Display(*e.children[i], rel); };
  switch (e.kind) {
    case ast::Expr::Kind::kColumn:
      return DisplayColumn(rel, e.name);
    case ast::Expr::Kind::kLiteral: {
      const ast::Literal& lit = e.literal;
      switch (lit.kind) {
        case ast::Literal::Kind::kNull:
          return "NULL";
        case ast::Literal::Kind::kBool:
          return std::string("Boolean(") + (lit.bool_value ? "true" : "false") + ")";
        case ast::Literal::Kind::kInteger: {
          auto scalar = DefaultIntegerScalar(lit.int_value);
          std::string type = scalar->type->id() == arrow::Type::INT64    ? "Int64"
                             : scalar->type->id() == arrow::Type::UINT64 ? "UInt64"
                                                                         : "Decimal128";
          return type + "(" + Int128ToString(lit.int_value) + ")";
        }
        case ast::Literal::Kind::kString:
          return "Utf8(\"" + lit.bytes + "\")";
        case ast::Literal::Kind::kHex:
          return "Binary(\"" + HexOf(lit.bytes) + "\")";
      }
      return "?";
    }
    case ast::Expr::Kind::kCompare:
      return child(0) + " " + CompareSymbol(e.op) + " " + child(1);
    case ast::Expr::Kind::kAnd:
      return child(0) + " AND " + child(1);
    case ast::Expr::Kind::kOr:
      return child(0) + " OR " + child(1);
    case ast::Expr::Kind::kNot:
      return "NOT " + child(0);
    case ast::Expr::Kind::kIsNull:
      return child(0) + (e.negated ? " IS NOT NULL" : " IS NULL");
    case ast::Expr::Kind::kInList: {
      std::string out = child(0) + (e.negated ? " NOT IN ([" : " IN ([");
      for (size_t i = 1; i < e.children.size(); ++i) {
        if (i > 1) out += ", ";
        out += child(i);
      }
      return out + "])";
    }
    case ast::Expr::Kind::kBetween:
      return child(0) + (e.negated ? " NOT BETWEEN " : " BETWEEN ") + child(1) + " AND " + child(2);
    case ast::Expr::Kind::kFunction: {
      std::string out = e.name.size() == 1 ? e.name[0].value : JoinName(e.name);
      out += "(";
      if (e.star_arg) out += "*";
      for (size_t i = 0; i < e.children.size(); ++i) {
        if (i > 0) out += ", ";
        out += child(i);
      }
      return out + ")";
    }
  }
  return "?";
}

/// A resolved operand: a typed node, or a literal still waiting for a type.
struct Operand {
  NodePtr node;
  const ast::Literal* literal = nullptr;
  std::string desc;  // "column x" / "expression", for messages

  bool is_null_literal() const {
    return literal != nullptr && literal->kind == ast::Literal::Kind::kNull;
  }
};

class Resolver {
 public:
  /// `aggregate_error`: the message for an aggregate call found where none is allowed.
  Resolver(const Relation& rel, std::string aggregate_error)
      : rel_(rel), aggregate_error_(std::move(aggregate_error)) {}

  Result<Operand> Resolve(const ast::Expr& e) {
    switch (e.kind) {
      case ast::Expr::Kind::kLiteral: {
        Operand op;
        op.literal = &e.literal;
        op.desc = "literal " + DescribeLiteral(e.literal);
        return op;
      }
      case ast::Expr::Kind::kColumn: {
        AMP_ASSIGN_OR_RETURN(int index, FindColumn(rel_, e.name));
        const auto& field = rel_.columns[static_cast<size_t>(index)].field;
        auto node = std::make_shared<Node>();
        node->kind = Node::Kind::kColumn;
        node->column = index;
        node->type = field->type();
        node->nullable = field->nullable();
        return Operand{node, nullptr, "column " + field->name()};
      }
      case ast::Expr::Kind::kCompare: {
        AMP_ASSIGN_OR_RETURN(auto lhs, Resolve(*e.children[0]));
        AMP_ASSIGN_OR_RETURN(auto rhs, Resolve(*e.children[1]));
        AMP_ASSIGN_OR_RETURN(auto node, Compare(e.op, std::move(lhs), std::move(rhs)));
        return FromNode(std::move(node));
      }
      case ast::Expr::Kind::kAnd:
      case ast::Expr::Kind::kOr: {
        const char* what = e.kind == ast::Expr::Kind::kAnd ? "AND" : "OR";
        AMP_ASSIGN_OR_RETURN(auto lhs, ResolveBool(*e.children[0], what));
        AMP_ASSIGN_OR_RETURN(auto rhs, ResolveBool(*e.children[1], what));
        return FromNode(LogicalNode(
            e.kind == ast::Expr::Kind::kAnd ? Node::Kind::kAnd : Node::Kind::kOr, {lhs, rhs}));
      }
      case ast::Expr::Kind::kNot: {
        AMP_ASSIGN_OR_RETURN(auto operand, ResolveBool(*e.children[0], "NOT"));
        return FromNode(LogicalNode(Node::Kind::kNot, {operand}));
      }
      case ast::Expr::Kind::kIsNull: {
        AMP_ASSIGN_OR_RETURN(auto operand, ResolveTyped(*e.children[0]));
        return FromNode(LogicalNode(e.negated ? Node::Kind::kIsValid : Node::Kind::kIsNull,
                                      {operand}));
      }
      case ast::Expr::Kind::kInList:
        return InList(e);
      case ast::Expr::Kind::kBetween: {
        AMP_ASSIGN_OR_RETURN(auto value, Resolve(*e.children[0]));
        AMP_ASSIGN_OR_RETURN(auto low, Resolve(*e.children[1]));
        AMP_ASSIGN_OR_RETURN(auto high, Resolve(*e.children[2]));
        if (e.negated) {  // x < low OR x > high
          AMP_ASSIGN_OR_RETURN(auto below, Compare(CompareOp::kLt, value, low));
          AMP_ASSIGN_OR_RETURN(auto above, Compare(CompareOp::kGt, value, high));
          return FromNode(LogicalNode(Node::Kind::kOr, {below, above}));
        }
        AMP_ASSIGN_OR_RETURN(auto from, Compare(CompareOp::kGe, value, low));
        AMP_ASSIGN_OR_RETURN(auto to, Compare(CompareOp::kLe, value, high));
        return FromNode(LogicalNode(Node::Kind::kAnd, {from, to}));
      }
      case ast::Expr::Kind::kFunction:
        if (IsAggregateCall(e)) return Status::Invalid(aggregate_error_);
        return Status::Invalid("function '", JoinName(e.name), "' is not supported by the devnet");
    }
    return Status::Invalid("unsupported expression");
  }

  /// Resolves and gives a literal its default type.
  Result<NodePtr> ResolveTyped(const ast::Expr& e) {
    AMP_ASSIGN_OR_RETURN(auto operand, Resolve(e));
    return Typed(operand);
  }

  /// Resolves an expression that must be boolean (`what`: the clause, for messages).
  Result<NodePtr> ResolveBool(const ast::Expr& e, std::string_view what) {
    AMP_ASSIGN_OR_RETURN(auto operand, Resolve(e));
    if (operand.is_null_literal()) return NullBoolNode();
    NodePtr node = Typed(operand);
    if (node->type->id() != arrow::Type::BOOL) {
      return Status::Invalid("expected a boolean expression in ", what, ", found ", operand.desc,
                             " of type ", node->type->ToString());
    }
    return node;
  }

 private:
  static Operand FromNode(NodePtr node) { return Operand{std::move(node), nullptr, "expression"}; }

  static NodePtr Typed(const Operand& operand) {
    return operand.node ? operand.node : LiteralNode(DefaultScalar(*operand.literal));
  }

  Result<NodePtr> Compare(CompareOp op, Operand a, Operand b) {
    // Anything compared with NULL is NULL.
    if (a.is_null_literal() || b.is_null_literal()) return NullBoolNode();
    if (!a.node && !b.node) {
      a.node = Typed(a);
      b.node = Typed(b);
    }
    if (!a.node) {
      std::swap(a, b);
      op = Flip(op);
    }
    if (!b.node) {
      AMP_ASSIGN_OR_RETURN(Coerced coerced, CoerceLiteral(*b.literal, a.node->type, a.desc));
      if (coerced.scalar) return CompareNode(op, a.node, LiteralNode(coerced.scalar));
      // The literal is outside the column's type: the comparison has the same value for
      // every non-null row, and must stay NULL on NULL rows: `a >= MIN` is that TRUE,
      // `a < MIN` that FALSE.
      const bool below = coerced.out_of_range < 0;
      bool result = false;
      switch (op) {
        case CompareOp::kNe:
          result = true;
          break;
        case CompareOp::kEq:
          result = false;
          break;
        case CompareOp::kGt:
        case CompareOp::kGe:
          result = below;
          break;
        case CompareOp::kLt:
        case CompareOp::kLe:
          result = !below;
          break;
      }
      return CompareNode(result ? CompareOp::kGe : CompareOp::kLt, a.node,
                         LiteralNode(MinimumOf(a.node->type)));
    }
    // Two typed sides: Arrow decides (it casts e.g. UInt32 to UInt64); check it can.
    auto probe = arrow::schema({arrow::field("l", a.node->type), arrow::field("r", b.node->type)});
    auto bound = cp::call(CompareFunction(op), {cp::field_ref(0), cp::field_ref(1)}).Bind(*probe);
    if (!bound.ok()) {
      return Status::Invalid("cannot compare ", a.desc, " of type ", a.node->type->ToString(),
                             " with ", b.desc, " of type ", b.node->type->ToString());
    }
    return CompareNode(op, a.node, b.node);
  }

  Result<Operand> InList(const ast::Expr& e) {
    AMP_ASSIGN_OR_RETURN(auto value, Resolve(*e.children[0]));
    if (value.is_null_literal()) return FromNode(NullBoolNode());
    NodePtr lhs = Typed(value);
    bool has_null = false;
    std::vector<std::shared_ptr<arrow::Scalar>> items;
    for (size_t i = 1; i < e.children.size(); ++i) {
      const ast::Expr& item = *e.children[i];
      if (item.kind != ast::Expr::Kind::kLiteral) {
        return Status::Invalid("IN lists with non-literal values are not supported by the devnet");
      }
      if (item.literal.kind == ast::Literal::Kind::kNull) {
        has_null = true;
        continue;
      }
      AMP_ASSIGN_OR_RETURN(Coerced coerced, CoerceLiteral(item.literal, lhs->type, value.desc));
      // A value outside the column's type matches no row: leave it out.
      if (coerced.scalar) items.push_back(std::move(coerced.scalar));
    }
    AMP_ASSIGN_OR_RETURN(auto builder, arrow::MakeBuilder(lhs->type));
    for (const auto& item : items) AMP_RETURN_NOT_OK(builder->AppendScalar(*item));
    if (has_null) AMP_RETURN_NOT_OK(builder->AppendNull());
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kIn;
    node->type = arrow::boolean();
    node->negated = e.negated;
    AMP_ASSIGN_OR_RETURN(node->value_set, builder->Finish());
    node->nullable = lhs->nullable || has_null;
    node->children = {lhs};
    // Fail at plan time, not on the first batch, if Arrow has no kernel for the type.
    auto probe = arrow::schema({arrow::field("v", lhs->type)});
    std::vector<int> identity = {0};
    auto column = std::make_shared<Node>(*lhs);
    column->kind = Node::Kind::kColumn;
    column->column = 0;
    auto probe_node = std::make_shared<Node>(*node);
    probe_node->children = {column};
    if (auto bound = ToArrow(*probe_node, identity).Bind(*probe); !bound.ok()) {
      return Status::Invalid("IN lists over ", lhs->type->ToString(),
                             " are not supported by the devnet: ", bound.status().message());
    }
    return FromNode(std::move(node));
  }

  const Relation& rel_;
  std::string aggregate_error_;
};

// ---------------------------------------------------------------------------------------
// Planner
// ---------------------------------------------------------------------------------------

/// CTEs in scope, innermost (latest) first. A CTE's body sees the CTEs defined before it.
struct CteScope {
  std::string name;
  const ast::Query* query = nullptr;
  std::shared_ptr<const CteScope> next;
  mutable bool used = false;  // referenced while planning
};
using ScopePtr = std::shared_ptr<const CteScope>;

/// What the planner learns about one stage beyond the stage itself.
struct StageInfo {
  std::optional<Range> bounds;  // implied by the stage's WHERE on its block columns
  // Set when the WHERE selects exactly the rows of this block range (no WHERE: all).
  std::optional<Range> exact_bounds = Range{};
  bool barrier = false;         // LIMIT/OFFSET/aggregate: outer filters must not narrow it
  std::optional<std::string> non_incremental;
};

struct Chain {
  std::vector<Stage> stages;
  std::vector<StageInfo> infos;
  std::optional<TableRef> source;
};

bool IsSemanticVersion(std::string_view v) {
  // MAJOR.MINOR.PATCH[-prerelease][+build]
  size_t end = v.find_first_of("-+");
  std::string_view core = v.substr(0, end);
  int parts = 0;
  size_t start = 0;
  while (true) {
    size_t dot = core.find('.', start);
    std::string_view part = core.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts != 3) return false;
  if (end != std::string_view::npos && end + 1 >= v.size()) return false;
  return true;
}

// "namespace/name@revision" (namespace and revision optional) -> TableRef fields.
Result<TableRef> ParseDatasetReference(const std::string& schema, const std::string& table) {
  TableRef ref;
  ref.table = table;
  std::string_view rest = schema;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.revision = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!IsSemanticVersion(ref.revision)) {
      return Status::Invalid("Invalid version '", ref.revision, "' in dataset schema '", schema,
                             "', only semantic versions are supported");
    }
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    ref.namespace_name = std::string(rest.substr(0, slash));
    rest = rest.substr(slash + 1);
    if (ref.namespace_name.empty() || rest.find('/') != std::string_view::npos) {
      return Status::Invalid("Failed to parse dataset reference '", schema,
                             "': expected namespace/name@version");
    }
  }
  if (rest.empty()) {
    return Status::Invalid("Failed to parse dataset reference '", schema, "': empty dataset name");
  }
  ref.dataset = std::string(rest);
  return ref;
}

class Planner {
 public:
  Planner(const Catalog& catalog, const PlanOptions& options)
      : catalog_(catalog), options_(options) {}

  /// Set in PlanOptions::defer_non_incremental mode: why the devnet cannot run the query
  /// as a batch (the first such construct).
  const std::optional<std::string>& batch_refusal() const { return batch_refusal_; }

  /// Plans `query` onto the end of `chain`; returns the relation it produces (unqualified).
  Result<Relation> PlanQuery(const ast::Query& query, const ScopePtr& scope, Chain* chain) {
    // Each subquery and each CTE reference plans its body here, one level deeper: a
    // chain of CTEs (c1 over c0, c2 over c1, ...) nests as deeply as parentheses, which the
    // parser cannot see, so it is capped here (failure 11 of issue 10: a stack overflow).
    if (depth_ >= kMaxPlanDepth) {
      return Status::Invalid("query is nested too deeply (more than ", kMaxPlanDepth,
                             " levels of subqueries and CTE references)");
    }
    ++depth_;
    struct Leave {
      int* depth;
      ~Leave() { --*depth; }
    } leave{&depth_};
    ScopePtr local = scope;
    std::set<std::string> names;
    std::vector<ScopePtr> defined;
    for (const ast::Cte& cte : query.ctes) {
      if (!names.insert(cte.name.value).second) {
        return Status::Invalid("WITH query name \"", cte.name.value, "\" specified more than once");
      }
      auto entry = std::make_shared<CteScope>();
      entry->name = cte.name.value;
      entry->query = cte.query.get();
      entry->next = local;
      local = entry;
      defined.push_back(std::move(entry));
    }
    AMP_ASSIGN_OR_RETURN(Relation result, PlanBody(query, local, chain));
    // DataFusion plans every CTE, used or not: an unused one with an unknown table or
    // column is still an error. Used ones were planned where referenced; planning each
    // unused one once here keeps nested WITHs linear.
    for (const ScopePtr& entry : defined) {
      if (entry->used) continue;
      Chain scratch;
      AMP_RETURN_NOT_OK(PlanQuery(*entry->query, entry->next, &scratch).status());
    }
    return result;
  }

 private:
  Result<Relation> PlanBody(const ast::Query& query, const ScopePtr& local, Chain* chain) {
    if (query.select) return PlanSelect(*query.select, query, local, chain);

    // A parenthesized query: its own ORDER BY/LIMIT apply on top of the inner one's.
    AMP_ASSIGN_OR_RETURN(Relation inner, PlanQuery(*query.nested, local, chain));
    if (query.order_by.empty() && !query.limit && !query.offset) return inner;
    Stage stage;
    stage.input_schema = inner.schema();
    for (size_t i = 0; i < inner.columns.size(); ++i) {
      stage.narrow_indices.push_back(static_cast<int>(i));
      stage.outputs.push_back(internal::StageOutput{static_cast<int>(i), {}});
    }
    stage.narrow_schema = stage.input_schema;
    stage.output_schema = stage.input_schema;
    AMP_RETURN_NOT_OK(DeferOrderBy(CheckOrderBy(query, inner, inner, /*aggregate=*/false)));
    StageInfo info;
    ApplyLimitAndFlags(query, /*aggregate=*/false, &stage, &info);
    chain->stages.push_back(std::move(stage));
    chain->infos.push_back(std::move(info));
    return inner;
  }

  Result<Relation> PlanFrom(const ast::TableFactor& from, const ScopePtr& scope, Chain* chain) {
    if (from.subquery) {
      AMP_ASSIGN_OR_RETURN(Relation rel, PlanQuery(*from.subquery, scope, chain));
      Qualify(&rel, from.alias ? from.alias->value : "");
      return rel;
    }
    const ast::ObjectName& name = from.name;
    if (name.size() == 1) {
      for (const CteScope* entry = scope.get(); entry != nullptr; entry = entry->next.get()) {
        if (entry->name == name[0].value) {
          entry->used = true;
          AMP_ASSIGN_OR_RETURN(Relation rel, PlanQuery(*entry->query, entry->next, chain));
          Qualify(&rel, from.alias ? from.alias->value : entry->name);
          return rel;
        }
      }
      return Status::Invalid("Found unqualified table '", JoinName(name),
                             "', all tables must be qualified with a dataset name");
    }
    if (name.size() > 2) {
      return Status::Invalid("Found table qualified with catalog '", JoinName(name),
                             "', tables must only be qualified with a dataset name");
    }
    AMP_ASSIGN_OR_RETURN(TableRef ref, ParseDatasetReference(name[0].value, name[1].value));
    AMP_ASSIGN_OR_RETURN(auto schema, catalog_.TableSchema(ref));
    if (!schema) return Status::Invalid("catalog returned no schema for ", JoinName(name));
    chain->source = ref;
    Relation rel;
    for (const auto& field : schema->fields()) {
      const bool block = (field->name() == kBlockNum || field->name() == kSpecialBlockNum) &&
                         field->type()->id() == arrow::Type::UINT64 && !field->nullable();
      rel.columns.push_back(RelColumn{field, block});
    }
    if (from.alias) {
      rel.qualifiers = {{from.alias->value}};
      rel.display_qualifier = QuoteIdent(from.alias->value);
    } else {
      rel.qualifiers = {{name[1].value}, {name[0].value, name[1].value}};
      rel.display_qualifier = QuoteIdent(name[0].value) + "." + QuoteIdent(name[1].value);
    }
    return rel;
  }

  static void Qualify(Relation* rel, const std::string& alias) {
    rel->qualifiers.clear();
    rel->display_qualifier.clear();
    if (!alias.empty()) {
      rel->qualifiers = {{alias}};
      rel->display_qualifier = QuoteIdent(alias);
    }
  }

  struct PlainItem {
    std::string name;
    NodePtr node;
    bool block = false;
    std::shared_ptr<arrow::Field> source_field;  // when the item is a bare column
  };

  struct AggregateItem {
    std::string name;
    AggregateKind kind = AggregateKind::kCountStar;
    NodePtr arg;
    std::shared_ptr<arrow::Scalar> constant;
  };

  Result<Relation> PlanSelect(const ast::Select& select, const ast::Query& query,
                              const ScopePtr& scope, Chain* chain) {
    if (!select.from) return Status::Invalid("SELECT without FROM is not supported by the devnet");
    AMP_ASSIGN_OR_RETURN(Relation input, PlanFrom(*select.from, scope, chain));

    Stage stage;
    StageInfo info;
    stage.input_schema = input.schema();
    std::vector<int> identity(input.columns.size());
    for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);

    if (select.where) {
      Resolver resolver(input, "aggregate functions are not allowed in WHERE");
      AMP_ASSIGN_OR_RETURN(NodePtr where, resolver.ResolveBool(*select.where, "WHERE"));
      info.bounds = BoundsOf(*where, /*positive=*/true, input);
      info.exact_bounds.reset();
      if (IsExactBlockFilter(*where, /*positive=*/true, input)) {
        info.exact_bounds = info.bounds.value_or(Range{});
      }
      AMP_ASSIGN_OR_RETURN(auto bound, ToArrow(*where, identity).Bind(*stage.input_schema));
      stage.filter = std::move(bound);
    }

    // GROUP BY / HAVING: ampd runs them as a batch and refuses them in a stream (an
    // Aggregate); the devnet plans them only for their output schema (a grouped column
    // has its own type) and the refusal.
    const bool grouped = !select.group_by.empty() || select.having != nullptr;
    if (grouped) {
      AMP_RETURN_NOT_OK(Defer(select.group_by.empty() ? "HAVING is not supported by the devnet"
                                                      : "GROUP BY is not supported by the devnet"));
      Resolver keys(input, "aggregate functions are not allowed in GROUP BY");
      for (const auto& key : select.group_by) AMP_RETURN_NOT_OK(keys.ResolveTyped(*key).status());
    }

    bool aggregate = false;
    for (const auto& item : select.items) {
      if (item.kind == ast::SelectItem::Kind::kExpr && IsAggregateCall(*item.expr)) {
        aggregate = true;
      }
    }

    Relation output;
    if (aggregate) {
      AMP_RETURN_NOT_OK(PlanAggregateItems(select, input, &stage, &output, grouped));
    } else {
      AMP_RETURN_NOT_OK(PlanPlainItems(select, input, &stage, &output));
    }
    AMP_RETURN_NOT_OK(CheckUniqueNames(output));
    if (select.distinct) AMP_RETURN_NOT_OK(Defer("DISTINCT is not supported by the devnet"));
    AMP_RETURN_NOT_OK(DeferOrderBy(CheckOrderBy(query, input, output, aggregate)));
    ApplyLimitAndFlags(query, aggregate, &stage, &info);
    if (select.distinct && !info.non_incremental) info.non_incremental = "Distinct";
    if (grouped && !info.non_incremental) info.non_incremental = "Aggregate";
    chain->stages.push_back(std::move(stage));
    chain->infos.push_back(std::move(info));
    return output;
  }

  Status PlanPlainItems(const ast::Select& select, const Relation& input, Stage* stage,
                        Relation* output) {
    std::vector<PlainItem> items;
    auto add_column = [&](size_t index) {
      const RelColumn& column = input.columns[index];
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kColumn;
      node->column = static_cast<int>(index);
      node->type = column.field->type();
      node->nullable = column.field->nullable();
      items.push_back(PlainItem{column.field->name(), node, column.block, column.field});
    };
    for (const auto& item : select.items) {
      switch (item.kind) {
        case ast::SelectItem::Kind::kWildcard:
          for (size_t i = 0; i < input.columns.size(); ++i) add_column(i);
          break;
        case ast::SelectItem::Kind::kQualifiedWildcard: {
          std::vector<std::string> qualifier;
          for (const auto& part : item.qualifier) qualifier.push_back(part.value);
          if (std::find(input.qualifiers.begin(), input.qualifiers.end(), qualifier) ==
              input.qualifiers.end()) {
            return Status::Invalid("Invalid qualifier ", JoinName(item.qualifier));
          }
          for (size_t i = 0; i < input.columns.size(); ++i) add_column(i);
          break;
        }
        case ast::SelectItem::Kind::kExpr: {
          Resolver resolver(input,
                            kAggregateInExpression);
          AMP_ASSIGN_OR_RETURN(NodePtr node, resolver.ResolveTyped(*item.expr));
          PlainItem plain;
          plain.node = node;
          if (node->kind == Node::Kind::kColumn) {
            const RelColumn& column = input.columns[static_cast<size_t>(node->column)];
            plain.source_field = column.field;
            plain.name = item.alias ? item.alias->value : column.field->name();
            // The value is the source block number whatever it is called now, so filters
            // and ORDER BY on the new name still bound and order by block (the parallel
            // loader's wrapper filters on the name the user's query gives it).
            plain.block = column.block;
          } else {
            plain.name = item.alias ? item.alias->value : Display(*item.expr, input);
          }
          items.push_back(std::move(plain));
          break;
        }
      }
    }

    std::set<int> used;
    for (const auto& item : items) CollectColumns(*item.node, &used);
    std::vector<int> remap(input.columns.size(), -1);
    arrow::FieldVector narrow_fields;
    for (int index : used) {
      remap[static_cast<size_t>(index)] = static_cast<int>(stage->narrow_indices.size());
      stage->narrow_indices.push_back(index);
      narrow_fields.push_back(input.columns[static_cast<size_t>(index)].field);
    }
    stage->narrow_schema = arrow::schema(std::move(narrow_fields));

    arrow::FieldVector output_fields;
    for (const auto& item : items) {
      internal::StageOutput out;
      std::shared_ptr<arrow::Field> field;
      if (item.source_field) {
        out.narrow_index = remap[static_cast<size_t>(item.node->column)];
        field = item.source_field->WithName(item.name);
      } else {
        AMP_ASSIGN_OR_RETURN(out.expr, ToArrow(*item.node, remap).Bind(*stage->narrow_schema));
        field = arrow::field(item.name, out.expr.type()->GetSharedPtr(), item.node->nullable);
      }
      stage->outputs.push_back(std::move(out));
      output_fields.push_back(field);
      output->columns.push_back(RelColumn{field, item.block});
    }
    stage->output_schema = arrow::schema(std::move(output_fields));
    return Status::OK();
  }

  /// `grouped`: a deferred GROUP BY, whose plan only serves its schema: a column outside
  /// an aggregate is taken as MIN(column), which has the column's type.
  Status PlanAggregateItems(const ast::Select& select, const Relation& input, Stage* stage,
                            Relation* output, bool grouped = false) {
    auto not_grouped = [](const std::string& what) {
      return Status::Invalid(what,
                             " must appear in the GROUP BY clause or be used in an aggregate "
                             "function (GROUP BY is not supported by the devnet)");
    };
    std::vector<AggregateItem> items;
    for (const auto& item : select.items) {
      if (item.kind != ast::SelectItem::Kind::kExpr) {
        return not_grouped(input.columns.empty()
                               ? std::string("*")
                               : "column \"" + input.columns[0].field->name() + "\"");
      }
      const ast::Expr& e = *item.expr;
      AggregateItem agg;
      agg.name = item.alias ? item.alias->value : Display(e, input);
      if (!IsAggregateCall(e)) {
        Resolver resolver(input, kAggregateInExpression);
        AMP_ASSIGN_OR_RETURN(NodePtr node, resolver.ResolveTyped(e));
        std::set<int> columns;
        CollectColumns(*node, &columns);
        if (!columns.empty() && grouped) {
          // A bare key column is output under its own name, as DataFusion names it.
          if (!item.alias && e.kind == ast::Expr::Kind::kColumn) agg.name = e.name.back().value;
          agg.kind = AggregateKind::kMin;
          agg.arg = std::move(node);
          items.push_back(std::move(agg));
          continue;
        }
        if (!columns.empty()) {
          const auto& field = input.columns[static_cast<size_t>(*columns.begin())].field;
          return not_grouped("column \"" + field->name() + "\"");
        }
        AMP_ASSIGN_OR_RETURN(auto bound, ToArrow(*node, {}).Bind(*arrow::schema({})));
        AMP_ASSIGN_OR_RETURN(arrow::Datum value,
                             cp::ExecuteScalarExpression(bound, cp::ExecBatch({}, 1)));
        if (!value.is_scalar()) return Status::Invalid("constant select item is not a scalar");
        agg.kind = AggregateKind::kConstant;
        agg.constant = value.scalar();
        items.push_back(std::move(agg));
        continue;
      }
      const std::string& function = e.name[0].value;
      if (function == "count" && e.star_arg) {
        agg.kind = AggregateKind::kCountStar;
        items.push_back(std::move(agg));
        continue;
      }
      if (e.star_arg || e.children.size() != 1) {
        return Status::Invalid("aggregate function ", function, "() takes exactly one argument",
                               function == "count" ? " or *" : "");
      }
      Resolver resolver(input, "aggregate function calls cannot be nested");
      AMP_ASSIGN_OR_RETURN(agg.arg, resolver.ResolveTyped(*e.children[0]));
      if (function == "count") {
        agg.kind = AggregateKind::kCount;
      } else {
        agg.kind = function == "min" ? AggregateKind::kMin : AggregateKind::kMax;
        // Probe the kernel now: an unsupported type must fail planning, not the stream.
        AMP_ASSIGN_OR_RETURN(auto empty, arrow::MakeEmptyArray(agg.arg->type));
        if (auto probe = cp::MinMax(empty); !probe.ok()) {
          return Status::Invalid(function, "() over ", agg.arg->type->ToString(),
                                 " is not supported by the devnet");
        }
      }
      items.push_back(std::move(agg));
    }

    std::set<int> used;
    for (const auto& item : items) {
      if (item.arg) CollectColumns(*item.arg, &used);
    }
    std::vector<int> remap(input.columns.size(), -1);
    arrow::FieldVector narrow_fields;
    for (int index : used) {
      remap[static_cast<size_t>(index)] = static_cast<int>(stage->narrow_indices.size());
      stage->narrow_indices.push_back(index);
      narrow_fields.push_back(input.columns[static_cast<size_t>(index)].field);
    }
    stage->narrow_schema = arrow::schema(std::move(narrow_fields));
    stage->aggregate = true;

    arrow::FieldVector output_fields;
    for (const auto& item : items) {
      internal::StageAggregate agg;
      agg.kind = item.kind;
      std::shared_ptr<arrow::Field> field;
      switch (item.kind) {
        case AggregateKind::kCountStar:
        case AggregateKind::kCount:
          field = arrow::field(item.name, arrow::int64(), /*nullable=*/false);
          break;
        case AggregateKind::kMin:
        case AggregateKind::kMax:
          field = arrow::field(item.name, item.arg->type, /*nullable=*/true);
          break;
        case AggregateKind::kConstant:
          agg.constant = item.constant;
          field = arrow::field(item.name, item.constant->type, !item.constant->is_valid);
          break;
      }
      if (item.arg) {
        if (item.arg->kind == Node::Kind::kColumn) {
          agg.narrow_index = remap[static_cast<size_t>(item.arg->column)];
        } else {
          AMP_ASSIGN_OR_RETURN(agg.arg, ToArrow(*item.arg, remap).Bind(*stage->narrow_schema));
        }
      }
      stage->aggregates.push_back(std::move(agg));
      output_fields.push_back(field);
      output->columns.push_back(RelColumn{field, false});
    }
    stage->output_schema = arrow::schema(std::move(output_fields));
    return Status::OK();
  }

  static Status CheckUniqueNames(const Relation& rel) {
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      const std::string& name = rel.columns[i].field->name();
      auto [it, inserted] = seen.emplace(name, i);
      if (!inserted) {
        return Status::Invalid("Projections require unique expression names but the expression \"",
                               name, "\" at position ", it->second, " and \"", name,
                               "\" at position ", i,
                               " have the same name. Consider aliasing (\"AS\") one of them.");
      }
    }
    return Status::OK();
  }

  // Rows are produced in block order, so only an ascending order on the block number is
  // accepted (and costs nothing); an aggregate produces a single row, any order holds.
  static Status CheckOrderBy(const ast::Query& query, const Relation& input,
                             const Relation& output, bool aggregate) {
    static constexpr const char* kOnlyBlockOrder =
        "ORDER BY is supported by the devnet only on block_num or _block_num, ascending "
        "(rows are produced in block order)";
    for (const auto& item : query.order_by) {
      if (!item.ascending) return Status::Invalid(kOnlyBlockOrder, "; DESC is not supported");
      if (item.expr->kind != ast::Expr::Kind::kColumn) return Status::Invalid(kOnlyBlockOrder);
      const ast::ObjectName& name = item.expr->name;
      std::optional<bool> block;
      if (name.size() == 1) {
        for (const auto& column : output.columns) {
          if (column.field->name() == name[0].value) block = column.block;
        }
      }
      if (!block) {
        AMP_ASSIGN_OR_RETURN(int index, FindColumn(input, name));
        block = input.columns[static_cast<size_t>(index)].block;
      }
      if (!*block && !aggregate) return Status::Invalid(kOnlyBlockOrder);
    }
    return Status::OK();
  }

  // A construct the devnet cannot execute but ampd would, and which is non-incremental:
  // ampd refuses it in a stream only, at DoGet. Deferred, it is recorded (the plan can
  // then only be refused); otherwise it is the error.
  Status Defer(const std::string& message) {
    if (!options_.defer_non_incremental) return Status::Invalid(message);
    if (!batch_refusal_) batch_refusal_ = message;
    return Status::OK();
  }
  Status DeferOrderBy(const Status& st) {
    // Only the devnet's own limitation is deferred; an unknown column stays an error.
    if (st.ok() || st.message().rfind("ORDER BY is supported by the devnet", 0) != 0) return st;
    return Defer(st.message());
  }

  static void ApplyLimitAndFlags(const ast::Query& query, bool aggregate, Stage* stage,
                                 StageInfo* info) {
    stage->limit = query.limit;
    stage->offset = query.offset.value_or(0);
    // Outermost first, as Amp's plan walk meets them: Limit above Sort above Aggregate.
    if (query.limit || query.offset) {
      info->non_incremental = "Limit";
    } else if (!query.order_by.empty()) {
      info->non_incremental = "Sort";
    } else if (aggregate) {
      info->non_incremental = "Aggregate";
    }
    info->barrier = query.limit.has_value() || query.offset.has_value() || aggregate;
  }

  static constexpr int kMaxPlanDepth = 200;  // as the parser's nesting cap
  const Catalog& catalog_;
  PlanOptions options_;
  std::optional<std::string> batch_refusal_;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------
// The Plan
// ---------------------------------------------------------------------------------------

class PlanImpl final : public Plan {
 public:
  PlanImpl(Chain chain, bool streaming, std::optional<std::string> batch_refusal)
      : stages_(std::make_shared<const std::vector<Stage>>(std::move(chain.stages))),
        source_(std::move(*chain.source)),
        streaming_(streaming),
        batch_refusal_(std::move(batch_refusal)) {
    output_schema_ = stages_->back().output_schema;
    // Walk outward from the table: every WHERE restricts the source rows, until a LIMIT
    // or aggregate, above which a filter no longer says which source rows matter.
    Range range;
    for (const StageInfo& info : chain.infos) {
      if (info.bounds) range = Intersect(range, *info.bounds);
      if (info.barrier) break;
    }
    bounds_.min = range.lo;
    bounds_.max = range.hi;
    for (auto it = chain.infos.rbegin(); it != chain.infos.rend(); ++it) {
      if (it->non_incremental) {
        non_incremental_ = it->non_incremental;
        break;
      }
    }
    if (IsRowlessAggregate(stages_->front()) && chain.infos.front().exact_bounds) {
      rowless_range_ = chain.infos.front().exact_bounds;
      outer_stages_ =
          std::make_shared<const std::vector<Stage>>(stages_->begin() + 1, stages_->end());
    }
  }

  const std::shared_ptr<arrow::Schema>& output_schema() const override { return output_schema_; }
  const TableRef& source_table() const override { return source_; }
  bool streaming_setting() const override { return streaming_; }
  bool is_incremental() const override { return !non_incremental_.has_value(); }
  std::optional<std::string> non_incremental_operation() const override { return non_incremental_; }
  BlockBounds block_bounds() const override { return bounds_; }
  std::optional<std::string> batch_refusal() const override { return batch_refusal_; }
  Result<std::unique_ptr<Executor>> MakeExecutor() const override {
    if (batch_refusal_) return Status::Invalid(*batch_refusal_);
    return internal::MakeChainExecutor(stages_);
  }

  Result<std::unique_ptr<Executor>> MakeRowlessExecutor(
      uint64_t head, const RowsInBlocksFn& rows_in_blocks) const override {
    if (!rowless_range_ || !rows_in_blocks) return std::unique_ptr<Executor>();
    const Stage& stage = stages_->front();
    const Range range = Intersect(*rowless_range_, Range{0, head});
    const uint64_t rows = range.empty() ? 0 : rows_in_blocks(range.lo, range.hi);
    // rows_in_blocks(b, hi) only shrinks as b grows (and (lo, b) only grows with b), so
    // the first and last blocks with rows are found by bisection.
    std::optional<uint64_t> first, last;
    auto need = [&](AggregateKind kind) {
      return std::any_of(stage.aggregates.begin(), stage.aggregates.end(),
                         [&](const auto& a) { return a.kind == kind; });
    };
    if (rows > 0 && need(AggregateKind::kMin)) {
      uint64_t a = range.lo, b = range.hi;
      while (a < b) {
        const uint64_t mid = a + (b - a) / 2;
        if (rows_in_blocks(range.lo, mid) > 0) {
          b = mid;
        } else {
          a = mid + 1;
        }
      }
      first = a;
    }
    if (rows > 0 && need(AggregateKind::kMax)) {
      uint64_t a = range.lo, b = range.hi;
      while (a < b) {
        const uint64_t mid = a + (b - a) / 2 + 1;
        if (rows_in_blocks(mid, range.hi) > 0) {
          a = mid;
        } else {
          b = mid - 1;
        }
      }
      last = a;
    }
    arrow::ArrayVector columns;
    for (size_t i = 0; i < stage.aggregates.size(); ++i) {
      const internal::StageAggregate& agg = stage.aggregates[i];
      const auto& type = stage.output_schema->field(static_cast<int>(i))->type();
      std::shared_ptr<arrow::Scalar> value;
      switch (agg.kind) {
        case AggregateKind::kCountStar:
        case AggregateKind::kCount:  // the block column has no nulls
          value = std::make_shared<arrow::Int64Scalar>(static_cast<int64_t>(rows));
          break;
        case AggregateKind::kMin:
        case AggregateKind::kMax: {
          const auto& v = agg.kind == AggregateKind::kMin ? first : last;
          value = v ? std::static_pointer_cast<arrow::Scalar>(
                          std::make_shared<arrow::UInt64Scalar>(*v))
                    : arrow::MakeNullScalar(type);
          break;
        }
        case AggregateKind::kConstant:
          value = agg.constant;
          break;
      }
      AMP_ASSIGN_OR_RETURN(auto array, arrow::MakeArrayFromScalar(*value, 1));
      columns.push_back(std::move(array));
    }
    auto row = arrow::RecordBatch::Make(stage.output_schema, 1, std::move(columns));
    if (stage.offset > 0 || (stage.limit && *stage.limit == 0)) row = row->Slice(0, 0);
    std::shared_ptr<arrow::RecordBatch> answer = row;
    if (!outer_stages_->empty()) {
      // The SELECTs around the aggregate run on its row as usual.
      auto outer = internal::MakeChainExecutor(outer_stages_);
      std::shared_ptr<arrow::RecordBatch> first_out;
      if (outer->done()) {
        AMP_ASSIGN_OR_RETURN(first_out, arrow::RecordBatch::MakeEmpty(output_schema_));
      } else {
        AMP_ASSIGN_OR_RETURN(first_out, outer->Consume(row));
      }
      AMP_ASSIGN_OR_RETURN(auto rest, outer->Finish());
      AMP_ASSIGN_OR_RETURN(answer, arrow::ConcatenateRecordBatches({first_out, rest}));
    }
    return std::unique_ptr<Executor>(new RowlessExecutor(std::move(answer), output_schema_));
  }

 private:
  // The answer of MakeRowlessExecutor(): nothing to consume, one result at Finish().
  class RowlessExecutor final : public Executor {
   public:
    RowlessExecutor(std::shared_ptr<arrow::RecordBatch> answer,
                    std::shared_ptr<arrow::Schema> schema)
        : answer_(std::move(answer)), schema_(std::move(schema)) {}
    Result<std::shared_ptr<arrow::RecordBatch>> Consume(
        const std::shared_ptr<arrow::RecordBatch>&) override {
      if (answer_ == nullptr) return Status::Invalid("SQL executor: Consume() after Finish()");
      return arrow::RecordBatch::MakeEmpty(schema_);
    }
    Result<std::shared_ptr<arrow::RecordBatch>> Finish() override {
      if (answer_ == nullptr) return Status::Invalid("SQL executor: Finish() called twice");
      return std::move(answer_);
    }
    bool done() const override { return true; }

   private:
    std::shared_ptr<arrow::RecordBatch> answer_;
    std::shared_ptr<arrow::Schema> schema_;
  };

  // An aggregate over the source table whose values follow from per-block row counts:
  // COUNT(*), constants, and COUNT/MIN/MAX of a (non-null UInt64) block column.
  static bool IsRowlessAggregate(const Stage& stage) {
    if (!stage.aggregate) return false;
    for (const internal::StageAggregate& agg : stage.aggregates) {
      switch (agg.kind) {
        case AggregateKind::kCountStar:
        case AggregateKind::kConstant:
          break;
        case AggregateKind::kCount:
        case AggregateKind::kMin:
        case AggregateKind::kMax: {
          if (agg.narrow_index < 0) return false;
          const int column = stage.narrow_indices[static_cast<size_t>(agg.narrow_index)];
          const auto& field = stage.input_schema->field(column);
          if ((field->name() != kBlockNum && field->name() != kSpecialBlockNum) ||
              field->type()->id() != arrow::Type::UINT64 || field->nullable()) {
            return false;
          }
          break;
        }
      }
    }
    return true;
  }

  std::shared_ptr<const std::vector<Stage>> stages_;
  std::optional<Range> rowless_range_;  // set when MakeRowlessExecutor() can answer
  std::shared_ptr<const std::vector<Stage>> outer_stages_;
  std::shared_ptr<arrow::Schema> output_schema_;
  TableRef source_;
  bool streaming_;
  std::optional<std::string> non_incremental_;
  std::optional<std::string> batch_refusal_;
  BlockBounds bounds_;
};

// Amp's rule (helpers.rs is_streaming): a top-level setting named `stream` (any case) whose
// value is the boolean literal true. `stream = 1` and `stream = 'true'` do not count.
bool StreamingSetting(const ast::Query& query) {
  for (const auto& setting : query.settings) {
    std::string key = setting.key.value;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (key == "stream" && !setting.is_identifier &&
        setting.value.kind == ast::Literal::Kind::kBool && setting.value.bool_value) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Plan>> PlanQuery(std::string_view sql, const Catalog& catalog) {
  return PlanQuery(sql, catalog, PlanOptions{});
}

Result<std::unique_ptr<Plan>> PlanQuery(std::string_view sql, const Catalog& catalog,
                                        const PlanOptions& options) {
  AMP_RETURN_NOT_OK(InitializeCompute());
  AMP_ASSIGN_OR_RETURN(auto query, ParseQuery(sql));
  Planner planner(catalog, options);
  Chain chain;
  AMP_RETURN_NOT_OK(planner.PlanQuery(*query, nullptr, &chain).status());
  if (!chain.source || chain.stages.empty()) {
    return Status::Invalid("query reads no table");
  }
  return std::make_unique<PlanImpl>(std::move(chain), StreamingSetting(*query),
                                    planner.batch_refusal());
}

}  // namespace amp::devnet::sql
