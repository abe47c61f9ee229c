// The syntax tree of the devnet's SQL dialect, as produced by parser.h and consumed by the
// planner. It only represents what the dialect supports: constructs the devnet rejects
// (JOIN, GROUP BY, UNION, ...) never reach the tree, the parser reports them instead.
//
// Identifiers are already normalized the way DataFusion does it: unquoted identifiers are
// lower-cased, quoted ones ("Col", `col`) keep their exact text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace amp::devnet::sql::ast {

/// An identifier; `pos` is its byte offset in the SQL text (for messages).
struct Ident {
  std::string value;
  bool quoted = false;
  size_t pos = 0;
};

/// `a.b.c`: one or more identifiers.
using ObjectName = std::vector<Ident>;

/// A literal as written, before any type is chosen for it (the planner coerces literals
/// to the type of the column they are compared with).
struct Literal {
  enum class Kind { kNull, kBool, kInteger, kString, kHex };
  Kind kind = Kind::kNull;
  bool bool_value = false;
  /// kInteger: the value; at most 38 decimal digits, so it always fits.
  __int128 int_value = 0;
  /// kString: the string; kHex: the decoded bytes.
  std::string bytes;
  /// kHex: the literal as written (0xABCD or X'ABCD'), for messages.
  std::string text;
};

struct Query;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

struct Expr {
  enum class Kind {
    kColumn,    // name (1-3 parts)
    kLiteral,   // literal
    kCompare,   // children[0] op children[1]
    kAnd,       // children[0] AND children[1]
    kOr,        // children[0] OR children[1]
    kNot,       // NOT children[0]
    kIsNull,    // children[0] IS [NOT] NULL (negated = IS NOT NULL)
    kInList,    // children[0] [NOT] IN (children[1..])
    kBetween,   // children[0] [NOT] BETWEEN children[1] AND children[2]
    kFunction,  // name(children...) / name(*) (star_arg) / name(DISTINCT ...)
  };
  Kind kind = Kind::kLiteral;
  size_t pos = 0;
  ObjectName name;
  Literal literal;
  CompareOp op = CompareOp::kEq;
  bool negated = false;
  bool star_arg = false;
  bool distinct = false;
  std::vector<ExprPtr> children;
};

struct SelectItem {
  enum class Kind { kExpr, kWildcard, kQualifiedWildcard };
  Kind kind = Kind::kExpr;
  ExprPtr expr;
  std::optional<Ident> alias;
  ObjectName qualifier;  // kQualifiedWildcard: `t` of `t.*`
  size_t pos = 0;
};

/// A FROM item: a table name, or a parenthesized subquery; optional alias.
struct TableFactor {
  ObjectName name;
  std::unique_ptr<Query> subquery;
  std::optional<Ident> alias;
  size_t pos = 0;
};

struct Select {
  bool distinct = false;  // SELECT DISTINCT (planned only to be refused, see PlanOptions)
  std::vector<SelectItem> items;
  std::optional<TableFactor> from;
  ExprPtr where;
  // GROUP BY and HAVING, likewise planned only to be refused.
  std::vector<ExprPtr> group_by;
  ExprPtr having;
  size_t pos = 0;
};

struct Cte {
  Ident name;
  std::unique_ptr<Query> query;
};

struct OrderItem {
  ExprPtr expr;
  bool ascending = true;
};

/// `SETTINGS key = value`; the value is a literal or, when `is_identifier`, a bare word.
struct Setting {
  Ident key;
  Literal value;
  bool is_identifier = false;
};

/// [WITH ...] body [ORDER BY ...] [LIMIT n] [OFFSET m] [SETTINGS ...]
/// The body is either a SELECT or a parenthesized query.
struct Query {
  std::vector<Cte> ctes;
  std::unique_ptr<Select> select;
  std::unique_ptr<Query> nested;
  std::vector<OrderItem> order_by;
  std::optional<uint64_t> limit;
  std::optional<uint64_t> offset;
  std::vector<Setting> settings;
  size_t pos = 0;
};

}  // namespace amp::devnet::sql::ast
