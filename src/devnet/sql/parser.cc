#include "devnet/sql/parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include <arrow/util/string.h>  // AsciiEqualsCaseInsensitive

namespace amp::devnet::sql {
namespace {

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

enum class Tok { kWord, kQuoted, kString, kNumber, kHex, kSymbol, kEof };

struct Token {
  Tok kind = Tok::kEof;
  std::string text;  // word: as written; quoted/string: unescaped; number: as written;
                     // hex: decoded bytes; symbol: the operator
  std::string raw;   // hex: as written
  size_t pos = 0;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsWordStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsWordChar(char c) {
  return IsWordStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status SyntaxErrorAt(std::string_view sql, size_t pos, std::string_view what) {
  return Status::Invalid("sql parser error: ", what, " at ", DescribePosition(sql, pos));
}

Result<std::string> DecodeHexDigits(std::string_view sql, size_t pos, std::string_view digits,
                                    std::string_view as_written) {
  if (digits.size() % 2 != 0) {
    return Status::Invalid("sql parser error: hex literal ", as_written,
                           " has an odd number of digits at ", DescribePosition(sql, pos));
  }
  std::string bytes;
  bytes.reserve(digits.size() / 2);
  for (size_t i = 0; i < digits.size(); i += 2) {
    int hi = HexValue(digits[i]);
    int lo = HexValue(digits[i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::Invalid("sql parser error: invalid hex literal ", as_written, " at ",
                             DescribePosition(sql, pos));
    }
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  return bytes;
}

Result<std::vector<Token>> Lex(std::string_view sql) {
  std::vector<Token> tokens;
  size_t i = 0;
  const size_t n = sql.size();
  auto quoted_body = [&](char quote, size_t start, std::string_view what) -> Result<std::string> {
    // `start` is the opening quote; a doubled quote stands for one.
    std::string out;
    size_t j = start + 1;
    while (true) {
      if (j >= n) {
        return SyntaxErrorAt(sql, start, std::string("Unterminated ") + std::string(what));
      }
      if (sql[j] == quote) {
        if (j + 1 < n && sql[j + 1] == quote) {
          out.push_back(quote);
          j += 2;
          continue;
        }
        i = j + 1;
        return out;
      }
      out.push_back(sql[j++]);
    }
  };
  while (i < n) {
    char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t start = i;
      int depth = 0;
      while (true) {
        if (i + 1 >= n) return SyntaxErrorAt(sql, start, "Unterminated block comment");
        if (sql[i] == '/' && sql[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (sql[i] == '*' && sql[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      continue;
    }
    Token tok;
    tok.pos = i;
    if ((c == 'x' || c == 'X') && i + 1 < n && sql[i + 1] == '\'') {
      size_t start = i;
      i += 1;
      AMP_ASSIGN_OR_RETURN(std::string digits, quoted_body('\'', i, "string literal"));
      std::string as_written(sql.substr(start, i - start));
      AMP_ASSIGN_OR_RETURN(tok.text, DecodeHexDigits(sql, start, digits, as_written));
      tok.kind = Tok::kHex;
      tok.raw = std::move(as_written);
    } else if (IsWordStart(c)) {
      size_t start = i;
      while (i < n && IsWordChar(sql[i])) ++i;
      tok.kind = Tok::kWord;
      tok.text = std::string(sql.substr(start, i - start));
    } else if (c == '"' || c == '`') {
      AMP_ASSIGN_OR_RETURN(tok.text, quoted_body(c, i, "quoted identifier"));
      tok.kind = Tok::kQuoted;
    } else if (c == '\'') {
      AMP_ASSIGN_OR_RETURN(tok.text, quoted_body('\'', i, "string literal"));
      tok.kind = Tok::kString;
    } else if (c == '0' && i + 1 < n && (sql[i + 1] == 'x' || sql[i + 1] == 'X')) {
      size_t start = i;
      i += 2;
      while (i < n && IsWordChar(sql[i])) ++i;
      std::string as_written(sql.substr(start, i - start));
      if (as_written.size() == 2) {
        return Status::Invalid("sql parser error: invalid hex literal ", as_written, " at ",
                               DescribePosition(sql, start));
      }
      AMP_ASSIGN_OR_RETURN(tok.text,
                           DecodeHexDigits(sql, start, std::string_view(as_written).substr(2),
                                           as_written));
      tok.kind = Tok::kHex;
      tok.raw = std::move(as_written);
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      size_t start = i;
      while (i < n && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
      if (i < n && sql[i] == '.') {
        ++i;
        while (i < n && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
      }
      if (i < n && (sql[i] == 'e' || sql[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (sql[j] == '+' || sql[j] == '-')) ++j;
        if (j < n && std::isdigit(static_cast<unsigned char>(sql[j]))) {
          i = j;
          while (i < n && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
        }
      }
      tok.kind = Tok::kNumber;
      tok.text = std::string(sql.substr(start, i - start));
    } else {
      static constexpr std::array<std::string_view, 11> kTwoChar = {
          "<=", ">=", "<>", "!=", "==", "||", "::", "<<", ">>", "=>", "->"};
      tok.kind = Tok::kSymbol;
      if (i + 1 < n &&
          std::find(kTwoChar.begin(), kTwoChar.end(), sql.substr(i, 2)) != kTwoChar.end()) {
        tok.text = std::string(sql.substr(i, 2));
        i += 2;
      } else if (std::string_view("(),.;*=<>+-/%&|^~[]:?!@#{}").find(c) != std::string_view::npos) {
        tok.text = std::string(1, c);
        ++i;
      } else {
        return SyntaxErrorAt(sql, i, std::string("Unexpected character '") + c + "'");
      }
    }
    tokens.push_back(std::move(tok));
  }
  Token eof;
  eof.kind = Tok::kEof;
  eof.pos = n;
  tokens.push_back(std::move(eof));
  return tokens;
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

// Words that end an expression or a FROM item: they are never taken as an implicit alias
// nor as a bare column name.
constexpr std::string_view kReserved[] = {
    "SELECT", "FROM",     "WHERE",    "GROUP",    "HAVING",  "ORDER",       "LIMIT",
    "OFFSET", "FETCH",    "UNION",    "EXCEPT",   "INTERSECT", "MINUS",     "WINDOW",
    "QUALIFY", "SETTINGS", "FORMAT",  "INTO",     "JOIN",    "INNER",       "LEFT",
    "RIGHT",  "FULL",     "CROSS",    "NATURAL",  "OUTER",   "ON",          "USING",
    "LATERAL", "AND",     "OR",       "NOT",      "IS",      "IN",          "BETWEEN",
    "LIKE",   "ILIKE",    "SIMILAR",  "REGEXP",   "RLIKE",   "AS",          "WITH",
    "FOR",    "TABLESAMPLE", "ANTI",  "SEMI",     "ASOF",    "PREWHERE",    "SORT",
    "CLUSTER", "DISTRIBUTE", "ASC",   "DESC",     "NULLS",   "BY",          "DISTINCT",
    "ALL",    "CASE",     "WHEN",     "THEN",     "ELSE",    "END",         "CAST",
    "EXISTS", "NULL",     "TRUE",     "FALSE",    "PIVOT",   "UNPIVOT",     "OVER",
    "STRAIGHT_JOIN", "APPLY", "TRY_CAST", "INTERVAL", "ROWS", "ROW", "RECURSIVE",
};

bool IsReservedWord(const Token& t) {
  if (t.kind != Tok::kWord) return false;
  for (std::string_view kw : kReserved) {
    if (arrow::internal::AsciiEqualsCaseInsensitive(t.text, kw)) return true;
  }
  return false;
}

Status Unsupported(std::string_view construct) {
  return Status::Invalid(construct, " is not supported by the devnet");
}

constexpr int kMaxDepth = 200;
constexpr int kMaxExprDepth = 1000;
// CTEs in one statement. The planner walks CTE scopes as linked lists (lookups, and their
// destruction, recurse or scan per CTE), so their number is bounded like nesting.
constexpr int kMaxCtes = 1000;

class Parser {
 public:
  Parser(std::string_view sql, std::vector<Token> tokens)
      : sql_(sql), tokens_(std::move(tokens)) {}

  Result<std::unique_ptr<ast::Query>> ParseStatement() {
    const Token& first = Peek();
    if (first.kind == Tok::kEof) return Expected("an SQL statement");
    if (first.kind == Tok::kWord && !Kw(first, "SELECT") && !Kw(first, "WITH")) {
      if (Kw(first, "VALUES")) return Unsupported("VALUES");
      return Status::Invalid(Upper(first.text), " statements are not supported by the devnet; ",
                             "only SELECT queries are");
    }
    AMP_ASSIGN_OR_RETURN(auto query, ParseQueryInner());
    if (IsSymbol(Peek(), ";")) {
      Advance();
      if (Peek().kind != Tok::kEof) {
        return Status::Invalid("only a single SQL statement is supported, found more after ';' at ",
                               DescribePosition(sql_, Peek().pos));
      }
    }
    if (Peek().kind != Tok::kEof) return Expected("end of statement");
    return query;
  }

 private:
  // --- token helpers -------------------------------------------------------------------
  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(index_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Advance() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return t;
  }
  static bool Kw(const Token& t, std::string_view kw) {
    return t.kind == Tok::kWord && arrow::internal::AsciiEqualsCaseInsensitive(t.text, kw);
  }
  static bool IsSymbol(const Token& t, std::string_view s) {
    return t.kind == Tok::kSymbol && t.text == s;
  }
  bool AcceptKw(std::string_view kw) {
    if (Kw(Peek(), kw)) {
      Advance();
      return true;
    }
    return false;
  }
  bool AcceptSymbol(std::string_view s) {
    if (IsSymbol(Peek(), s)) {
      Advance();
      return true;
    }
    return false;
  }
  Status ExpectKw(std::string_view kw) {
    if (AcceptKw(kw)) return Status::OK();
    return Expected(kw);
  }
  Status ExpectSymbol(std::string_view s) {
    if (AcceptSymbol(s)) return Status::OK();
    return Expected(s);
  }
  std::string Describe(const Token& t) const {
    switch (t.kind) {
      case Tok::kEof:
        return "EOF";
      case Tok::kQuoted:
        return "\"" + t.text + "\"";
      case Tok::kString:
        return "'" + t.text + "'";
      case Tok::kHex:
        return t.raw;
      default:
        return t.text;
    }
  }
  Status Expected(std::string_view what) const {
    const Token& t = Peek();
    return Status::Invalid("sql parser error: Expected: ", what, ", found: ", Describe(t), " at ",
                           DescribePosition(sql_, t.pos));
  }

  struct DepthGuard {
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    int* depth_;
  };
  Status CheckDepth() const {
    if (depth_ > kMaxDepth) {
      return Status::Invalid("query is nested too deeply (more than ", kMaxDepth, " levels)");
    }
    return Status::OK();
  }

  Result<ast::Ident> ParseIdent(std::string_view what) {
    const Token& t = Peek();
    if (t.kind == Tok::kQuoted) {
      Advance();
      return ast::Ident{t.text, true, t.pos};
    }
    if (t.kind == Tok::kWord && !IsReservedWord(t)) {
      Advance();
      return ast::Ident{Lower(t.text), false, t.pos};
    }
    return Expected(what);
  }

  Result<ast::ObjectName> ParseObjectName(std::string_view what) {
    ast::ObjectName name;
    AMP_ASSIGN_OR_RETURN(auto first, ParseIdent(what));
    name.push_back(std::move(first));
    while (IsSymbol(Peek(), ".")) {
      Advance();
      AMP_ASSIGN_OR_RETURN(auto part, ParseIdent("an identifier"));
      name.push_back(std::move(part));
    }
    return name;
  }

  // An optional alias: `AS name`, or a bare (non-reserved) word / quoted identifier.
  Result<std::optional<ast::Ident>> ParseOptionalAlias() {
    if (AcceptKw("AS")) {
      AMP_ASSIGN_OR_RETURN(auto alias, ParseIdent("an alias after AS"));
      return std::optional<ast::Ident>(std::move(alias));
    }
    const Token& t = Peek();
    if (t.kind == Tok::kQuoted || (t.kind == Tok::kWord && !IsReservedWord(t))) {
      AMP_ASSIGN_OR_RETURN(auto alias, ParseIdent("an alias"));
      return std::optional<ast::Ident>(std::move(alias));
    }
    return std::optional<ast::Ident>();
  }

  Result<uint64_t> ParseCount(std::string_view clause) {
    const Token& t = Peek();
    if (t.kind != Tok::kNumber) {
      if (IsSymbol(t, "-")) {
        return Status::Invalid(clause, " must be a non-negative integer, at ",
                               DescribePosition(sql_, t.pos));
      }
      return Expected(std::string("a non-negative integer after ") + std::string(clause));
    }
    unsigned __int128 value = 0;
    bool ok = t.text.find_first_not_of("0123456789") == std::string::npos;
    for (size_t i = 0; ok && i < t.text.size(); ++i) {
      value = value * 10 + static_cast<unsigned>(t.text[i] - '0');
      ok = value <= UINT64_MAX;
    }
    if (!ok) {
      return Status::Invalid(clause, " must be a non-negative integer below 2^64, found ", t.text,
                             " at ", DescribePosition(sql_, t.pos));
    }
    Advance();
    return static_cast<uint64_t>(value);
  }

  // --- queries ---------------------------------------------------------------------------
  Result<std::unique_ptr<ast::Query>> ParseQueryInner() {
    DepthGuard guard(&depth_);
    AMP_RETURN_NOT_OK(CheckDepth());
    auto query = std::make_unique<ast::Query>();
    query->pos = Peek().pos;
    if (AcceptKw("WITH")) {
      if (Kw(Peek(), "RECURSIVE")) return Unsupported("WITH RECURSIVE");
      do {
        ast::Cte cte;
        AMP_ASSIGN_OR_RETURN(cte.name, ParseIdent("a CTE name"));
        if (IsSymbol(Peek(), "(")) return Unsupported("a column list on a CTE");
        AMP_RETURN_NOT_OK(ExpectKw("AS"));
        if (AcceptKw("NOT")) AMP_RETURN_NOT_OK(ExpectKw("MATERIALIZED"));
        else AcceptKw("MATERIALIZED");
        AMP_RETURN_NOT_OK(ExpectSymbol("("));
        AMP_ASSIGN_OR_RETURN(cte.query, ParseQueryInner());
        AMP_RETURN_NOT_OK(ExpectSymbol(")"));
        if (++ctes_ > kMaxCtes) {
          return Status::Invalid("query has too many CTEs (more than ", kMaxCtes, ")");
        }
        query->ctes.push_back(std::move(cte));
      } while (AcceptSymbol(","));
    }
    if (IsSymbol(Peek(), "(")) {
      Advance();
      AMP_ASSIGN_OR_RETURN(query->nested, ParseQueryInner());
      AMP_RETURN_NOT_OK(ExpectSymbol(")"));
    } else if (Kw(Peek(), "SELECT")) {
      AMP_ASSIGN_OR_RETURN(query->select, ParseSelect());
    } else if (Kw(Peek(), "VALUES")) {
      return Unsupported("VALUES");
    } else {
      return Expected("SELECT, WITH or (");
    }
    for (std::string_view set_op : {"UNION", "EXCEPT", "INTERSECT", "MINUS"}) {
      if (Kw(Peek(), set_op)) return Unsupported(set_op);
    }
    if (AcceptKw("ORDER")) {
      AMP_RETURN_NOT_OK(ExpectKw("BY"));
      do {
        ast::OrderItem item;
        AMP_ASSIGN_OR_RETURN(item.expr, ParseExpr());
        if (AcceptKw("DESC")) {
          item.ascending = false;
        } else {
          AcceptKw("ASC");
        }
        if (AcceptKw("NULLS")) {
          if (!AcceptKw("FIRST") && !AcceptKw("LAST")) return Expected("FIRST or LAST");
        }
        query->order_by.push_back(std::move(item));
      } while (AcceptSymbol(","));
    }
    // LIMIT and OFFSET in either order, as sqlparser accepts.
    for (int round = 0; round < 2; ++round) {
      if (!query->limit && AcceptKw("LIMIT")) {
        if (AcceptKw("ALL")) {
          query->limit = std::nullopt;
        } else {
          AMP_ASSIGN_OR_RETURN(uint64_t limit, ParseCount("LIMIT"));
          query->limit = limit;
          if (IsSymbol(Peek(), ",")) return Unsupported("LIMIT <offset>, <count>");
        }
      } else if (!query->offset && AcceptKw("OFFSET")) {
        AMP_ASSIGN_OR_RETURN(uint64_t offset, ParseCount("OFFSET"));
        query->offset = offset;
        if (!AcceptKw("ROWS")) AcceptKw("ROW");
      }
    }
    if (Kw(Peek(), "FETCH")) return Unsupported("FETCH");
    if (Kw(Peek(), "FOR")) return Unsupported("FOR UPDATE/SHARE");
    if (Kw(Peek(), "LIMIT") || Kw(Peek(), "OFFSET")) return Expected("end of statement");
    if (AcceptKw("SETTINGS")) {
      do {
        ast::Setting setting;
        AMP_ASSIGN_OR_RETURN(setting.key, ParseIdent("a setting name"));
        AMP_RETURN_NOT_OK(ExpectSymbol("="));
        AMP_RETURN_NOT_OK(ParseSettingValue(&setting));
        query->settings.push_back(std::move(setting));
      } while (AcceptSymbol(","));
    }
    if (Kw(Peek(), "FORMAT")) return Unsupported("FORMAT");
    return query;
  }

  Status ParseSettingValue(ast::Setting* setting) {
    const Token& t = Peek();
    if ((t.kind == Tok::kWord && !Kw(t, "TRUE") && !Kw(t, "FALSE") && !Kw(t, "NULL") &&
         !IsReservedWord(t)) ||
        t.kind == Tok::kQuoted) {
      Advance();
      setting->is_identifier = true;
      setting->value.kind = ast::Literal::Kind::kString;
      setting->value.bytes = t.text;
      return Status::OK();
    }
    if (t.kind == Tok::kNumber || t.kind == Tok::kString || t.kind == Tok::kHex ||
        IsSymbol(t, "-") || IsSymbol(t, "+") || Kw(t, "TRUE") || Kw(t, "FALSE") ||
        Kw(t, "NULL")) {
      AMP_ASSIGN_OR_RETURN(auto expr, ParseUnary());
      setting->value = expr->literal;
      return Status::OK();
    }
    return Expected("a setting value");
  }

  Result<std::unique_ptr<ast::Select>> ParseSelect() {
    auto select = std::make_unique<ast::Select>();
    select->pos = Peek().pos;
    AMP_RETURN_NOT_OK(ExpectKw("SELECT"));
    if (AcceptKw("DISTINCT")) {
      if (Kw(Peek(), "ON")) return Unsupported("DISTINCT ON");
      select->distinct = true;  // the planner refuses it, where and how ampd would
    }
    AcceptKw("ALL");
    if (Kw(Peek(), "TOP")) return Unsupported("TOP");
    do {
      AMP_ASSIGN_OR_RETURN(auto item, ParseSelectItem());
      select->items.push_back(std::move(item));
    } while (AcceptSymbol(","));
    if (Kw(Peek(), "INTO")) return Unsupported("SELECT INTO");
    if (AcceptKw("FROM")) {
      AMP_ASSIGN_OR_RETURN(auto from, ParseTableFactor());
      select->from = std::move(from);
      const Token& t = Peek();
      for (std::string_view join_kw : {"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
                                        "NATURAL", "OUTER", "ANTI", "SEMI", "ASOF",
                                        "STRAIGHT_JOIN", "APPLY", "LATERAL"}) {
        if (Kw(t, join_kw)) return Unsupported("JOIN");
      }
      if (IsSymbol(t, ",")) return Unsupported("JOIN (several tables in FROM)");
      if (Kw(t, "TABLESAMPLE")) return Unsupported("TABLESAMPLE");
      if (Kw(t, "PIVOT") || Kw(t, "UNPIVOT")) return Unsupported(Upper(t.text));
    }
    if (AcceptKw("WHERE")) {
      AMP_ASSIGN_OR_RETURN(select->where, ParseExpr());
    }
    if (AcceptKw("GROUP")) {
      AMP_RETURN_NOT_OK(ExpectKw("BY"));
      if (Kw(Peek(), "ALL")) return Unsupported("GROUP BY ALL");
      do {
        AMP_ASSIGN_OR_RETURN(auto key, ParseExpr());
        select->group_by.push_back(std::move(key));
      } while (AcceptSymbol(","));
    }
    if (AcceptKw("HAVING")) {
      AMP_ASSIGN_OR_RETURN(select->having, ParseExpr());
    }
    if (Kw(Peek(), "WINDOW")) return Unsupported("WINDOW");
    if (Kw(Peek(), "QUALIFY")) return Unsupported("QUALIFY");
    if (Kw(Peek(), "CLUSTER") || Kw(Peek(), "DISTRIBUTE") || Kw(Peek(), "SORT")) {
      return Unsupported(Upper(Peek().text) + " BY");
    }
    return select;
  }

  Result<ast::SelectItem> ParseSelectItem() {
    ast::SelectItem item;
    item.pos = Peek().pos;
    if (IsSymbol(Peek(), "*")) {
      Advance();
      item.kind = ast::SelectItem::Kind::kWildcard;
      AMP_RETURN_NOT_OK(RejectWildcardOptions());
      return item;
    }
    // `t.*` / `d.t.*`: an identifier chain ending in `.*`.
    size_t j = 0;
    while ((Peek(j).kind == Tok::kWord || Peek(j).kind == Tok::kQuoted) &&
           IsSymbol(Peek(j + 1), ".")) {
      j += 2;
      if (IsSymbol(Peek(j), "*")) {
        for (size_t part = 0; part < j / 2; ++part) {
          AMP_ASSIGN_OR_RETURN(auto ident, ParseIdent("a qualifier"));
          item.qualifier.push_back(std::move(ident));
          AMP_RETURN_NOT_OK(ExpectSymbol("."));
        }
        AMP_RETURN_NOT_OK(ExpectSymbol("*"));
        item.kind = ast::SelectItem::Kind::kQualifiedWildcard;
        AMP_RETURN_NOT_OK(RejectWildcardOptions());
        return item;
      }
    }
    AMP_ASSIGN_OR_RETURN(item.expr, ParseExpr());
    AMP_ASSIGN_OR_RETURN(item.alias, ParseOptionalAlias());
    return item;
  }

  Status RejectWildcardOptions() {
    for (std::string_view opt : {"EXCLUDE", "EXCEPT", "REPLACE", "RENAME", "ILIKE"}) {
      if (Kw(Peek(), opt)) return Unsupported("SELECT * " + Upper(opt));
    }
    return Status::OK();
  }

  Result<ast::TableFactor> ParseTableFactor() {
    ast::TableFactor factor;
    factor.pos = Peek().pos;
    if (Kw(Peek(), "LATERAL")) return Unsupported("LATERAL");
    if (Kw(Peek(), "UNNEST")) return Unsupported("UNNEST");
    if (IsSymbol(Peek(), "(")) {
      if (!Kw(Peek(1), "SELECT") && !Kw(Peek(1), "WITH") && !IsSymbol(Peek(1), "(")) {
        Advance();
        return Expected("a subquery (SELECT ...)");
      }
      Advance();
      AMP_ASSIGN_OR_RETURN(factor.subquery, ParseQueryInner());
      AMP_RETURN_NOT_OK(ExpectSymbol(")"));
    } else {
      AMP_ASSIGN_OR_RETURN(factor.name, ParseObjectName("a table name"));
      if (IsSymbol(Peek(), "(")) return Unsupported("table function");
    }
    AMP_ASSIGN_OR_RETURN(factor.alias, ParseOptionalAlias());
    if (factor.alias && IsSymbol(Peek(), "(")) return Unsupported("a column list on a table alias");
    return factor;
  }

  // --- expressions -----------------------------------------------------------------------
  Result<ast::ExprPtr> ParseExpr() {
    DepthGuard guard(&depth_);
    AMP_RETURN_NOT_OK(CheckDepth());
    ++expr_nesting_;
    auto expr = ParseOr();
    --expr_nesting_;
    // AND/OR chains are parsed iteratively into left-deep trees; bound their depth once
    // per outermost expression so later recursive passes cannot exhaust the stack.
    if (expr.ok() && expr_nesting_ == 0 && !WithinDepth(**expr, kMaxExprDepth)) {
      return Status::Invalid("expression is nested too deeply (more than ", kMaxExprDepth,
                             " levels of operators)");
    }
    return expr;
  }

  static bool WithinDepth(const ast::Expr& e, int budget) {
    if (budget <= 0) return false;
    for (const auto& child : e.children) {
      if (!WithinDepth(*child, budget - 1)) return false;
    }
    return true;
  }

  static ast::ExprPtr MakeBinary(ast::Expr::Kind kind, size_t pos, ast::ExprPtr lhs,
                                 ast::ExprPtr rhs) {
    auto e = std::make_unique<ast::Expr>();
    e->kind = kind;
    e->pos = pos;
    e->children.push_back(std::move(lhs));
    e->children.push_back(std::move(rhs));
    return e;
  }

  Result<ast::ExprPtr> ParseOr() {
    AMP_ASSIGN_OR_RETURN(auto lhs, ParseAnd());
    while (Kw(Peek(), "OR")) {
      size_t pos = Advance().pos;
      AMP_ASSIGN_OR_RETURN(auto rhs, ParseAnd());
      lhs = MakeBinary(ast::Expr::Kind::kOr, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Result<ast::ExprPtr> ParseAnd() {
    AMP_ASSIGN_OR_RETURN(auto lhs, ParseNot());
    while (Kw(Peek(), "AND")) {
      size_t pos = Advance().pos;
      AMP_ASSIGN_OR_RETURN(auto rhs, ParseNot());
      lhs = MakeBinary(ast::Expr::Kind::kAnd, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Result<ast::ExprPtr> ParseNot() {
    if (Kw(Peek(), "NOT")) {
      if (Kw(Peek(1), "EXISTS")) return Unsupported("EXISTS");
      size_t pos = Advance().pos;
      DepthGuard guard(&depth_);
      AMP_RETURN_NOT_OK(CheckDepth());
      AMP_ASSIGN_OR_RETURN(auto operand, ParseNot());
      auto e = std::make_unique<ast::Expr>();
      e->kind = ast::Expr::Kind::kNot;
      e->pos = pos;
      e->children.push_back(std::move(operand));
      return e;
    }
    return ParsePredicate();
  }

  static std::optional<ast::CompareOp> CompareOpOf(const Token& t) {
    if (t.kind != Tok::kSymbol) return std::nullopt;
    if (t.text == "=" || t.text == "==") return ast::CompareOp::kEq;
    if (t.text == "!=" || t.text == "<>") return ast::CompareOp::kNe;
    if (t.text == "<") return ast::CompareOp::kLt;
    if (t.text == "<=") return ast::CompareOp::kLe;
    if (t.text == ">") return ast::CompareOp::kGt;
    if (t.text == ">=") return ast::CompareOp::kGe;
    return std::nullopt;
  }

  Result<ast::ExprPtr> ParsePredicate() {
    AMP_ASSIGN_OR_RETURN(auto lhs, ParseOperand());
    while (true) {
      const Token& t = Peek();
      if (auto op = CompareOpOf(t)) {
        size_t pos = Advance().pos;
        if (Kw(Peek(), "ANY") || Kw(Peek(), "ALL") || Kw(Peek(), "SOME")) {
          return Unsupported(Upper(Peek().text) + " comparisons");
        }
        AMP_ASSIGN_OR_RETURN(auto rhs, ParseOperand());
        auto e = MakeBinary(ast::Expr::Kind::kCompare, pos, std::move(lhs), std::move(rhs));
        e->op = *op;
        lhs = std::move(e);
        continue;
      }
      if (Kw(t, "IS")) {
        size_t pos = Advance().pos;
        bool negated = AcceptKw("NOT");
        if (AcceptKw("NULL")) {
          auto e = std::make_unique<ast::Expr>();
          e->kind = ast::Expr::Kind::kIsNull;
          e->pos = pos;
          e->negated = negated;
          e->children.push_back(std::move(lhs));
          lhs = std::move(e);
          continue;
        }
        for (std::string_view what : {"TRUE", "FALSE", "UNKNOWN", "DISTINCT"}) {
          if (Kw(Peek(), what)) {
            return Unsupported(std::string("IS ") + (negated ? "NOT " : "") + std::string(what));
          }
        }
        return Expected("NULL after IS");
      }
      bool negated = false;
      if (Kw(t, "NOT") && (Kw(Peek(1), "IN") || Kw(Peek(1), "BETWEEN") || Kw(Peek(1), "LIKE") ||
                           Kw(Peek(1), "ILIKE") || Kw(Peek(1), "SIMILAR") ||
                           Kw(Peek(1), "REGEXP") || Kw(Peek(1), "RLIKE"))) {
        Advance();
        negated = true;
      }
      const Token& k = Peek();
      if (Kw(k, "IN")) {
        size_t pos = Advance().pos;
        AMP_RETURN_NOT_OK(ExpectSymbol("("));
        if (Kw(Peek(), "SELECT") || Kw(Peek(), "WITH")) return Unsupported("IN (subquery)");
        auto e = std::make_unique<ast::Expr>();
        e->kind = ast::Expr::Kind::kInList;
        e->pos = pos;
        e->negated = negated;
        e->children.push_back(std::move(lhs));
        if (IsSymbol(Peek(), ")")) return Expected("an expression in the IN list");
        do {
          AMP_ASSIGN_OR_RETURN(auto item, ParseExpr());
          e->children.push_back(std::move(item));
        } while (AcceptSymbol(","));
        AMP_RETURN_NOT_OK(ExpectSymbol(")"));
        lhs = std::move(e);
        continue;
      }
      if (Kw(k, "BETWEEN")) {
        size_t pos = Advance().pos;
        AMP_ASSIGN_OR_RETURN(auto low, ParseOperand());
        AMP_RETURN_NOT_OK(ExpectKw("AND"));
        AMP_ASSIGN_OR_RETURN(auto high, ParseOperand());
        auto e = std::make_unique<ast::Expr>();
        e->kind = ast::Expr::Kind::kBetween;
        e->pos = pos;
        e->negated = negated;
        e->children.push_back(std::move(lhs));
        e->children.push_back(std::move(low));
        e->children.push_back(std::move(high));
        lhs = std::move(e);
        continue;
      }
      for (std::string_view pattern_kw : {"LIKE", "ILIKE", "SIMILAR", "REGEXP", "RLIKE"}) {
        if (Kw(k, pattern_kw)) return Unsupported(pattern_kw);
      }
      if (negated) return Expected("IN, BETWEEN or LIKE after NOT");
      return lhs;
    }
  }

  // An operand of a comparison: arithmetic is not part of the dialect, so this is a
  // unary expression that must not be followed by an arithmetic operator.
  Result<ast::ExprPtr> ParseOperand() {
    AMP_ASSIGN_OR_RETURN(auto operand, ParseUnary());
    const Token& t = Peek();
    if (t.kind == Tok::kSymbol) {
      if (t.text == "::") return Unsupported("CAST ('::')");
      if (t.text == "[") return Unsupported("subscript ('[...]')");
      for (std::string_view op : {"+", "-", "*", "/", "%", "||", "&", "|", "^", "<<", ">>", "->"}) {
        if (t.text == op) {
          return Unsupported("operator '" + std::string(op) + "'");
        }
      }
    }
    if (Kw(t, "COLLATE")) return Unsupported("COLLATE");
    if (Kw(t, "AT")) return Unsupported("AT TIME ZONE");
    return operand;
  }

  Result<ast::ExprPtr> ParseUnary() {
    const Token& t = Peek();
    if (IsSymbol(t, "-") || IsSymbol(t, "+")) {
      bool minus = t.text == "-";
      size_t pos = Advance().pos;
      if (Peek().kind != Tok::kNumber) {
        return Unsupported(std::string("unary operator '") + (minus ? "-" : "+") +
                           "' on a non-literal");
      }
      AMP_ASSIGN_OR_RETURN(auto literal, ParsePrimary());
      literal->pos = pos;
      if (minus) literal->literal.int_value = -literal->literal.int_value;
      return literal;
    }
    if (IsSymbol(t, "~") || IsSymbol(t, "!")) return Unsupported("operator '" + t.text + "'");
    return ParsePrimary();
  }

  Result<ast::ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    auto e = std::make_unique<ast::Expr>();
    e->pos = t.pos;
    switch (t.kind) {
      case Tok::kNumber: {
        if (t.text.find_first_not_of("0123456789") != std::string::npos) {
          return Status::Invalid("non-integer numeric literal ", t.text,
                                 " is not supported by the devnet, at ",
                                 DescribePosition(sql_, t.pos));
        }
        std::string_view digits = t.text;
        while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
        if (digits.size() > 38) {
          return Status::Invalid("integer literal ", t.text, " is out of range, at ",
                                 DescribePosition(sql_, t.pos));
        }
        __int128 value = 0;
        for (char c : digits) value = value * 10 + (c - '0');
        e->kind = ast::Expr::Kind::kLiteral;
        e->literal.kind = ast::Literal::Kind::kInteger;
        e->literal.int_value = value;
        Advance();
        return e;
      }
      case Tok::kString:
        e->kind = ast::Expr::Kind::kLiteral;
        e->literal.kind = ast::Literal::Kind::kString;
        e->literal.bytes = t.text;
        Advance();
        return e;
      case Tok::kHex:
        e->kind = ast::Expr::Kind::kLiteral;
        e->literal.kind = ast::Literal::Kind::kHex;
        e->literal.bytes = t.text;
        e->literal.text = t.raw;
        Advance();
        return e;
      case Tok::kSymbol:
        if (t.text == "(") {
          Advance();
          if (Kw(Peek(), "SELECT") || Kw(Peek(), "WITH")) return Unsupported("scalar subquery");
          AMP_ASSIGN_OR_RETURN(auto inner, ParseExpr());
          if (IsSymbol(Peek(), ",")) return Unsupported("tuple expression");
          AMP_RETURN_NOT_OK(ExpectSymbol(")"));
          return inner;
        }
        if (t.text == "?" || t.text == "$" || t.text == ":" || t.text == "@") {
          return Unsupported("query parameter");
        }
        if (t.text == "[") return Unsupported("array literal");
        if (t.text == "{") return Unsupported("struct literal");
        return Expected("an expression");
      case Tok::kWord: {
        if (Kw(t, "NULL")) {
          Advance();
          e->kind = ast::Expr::Kind::kLiteral;
          e->literal.kind = ast::Literal::Kind::kNull;
          return e;
        }
        if (Kw(t, "TRUE") || Kw(t, "FALSE")) {
          Advance();
          e->kind = ast::Expr::Kind::kLiteral;
          e->literal.kind = ast::Literal::Kind::kBool;
          e->literal.bool_value = Kw(t, "TRUE");
          return e;
        }
        if (Kw(t, "CASE")) return Unsupported("CASE");
        if (Kw(t, "CAST") || Kw(t, "TRY_CAST")) return Unsupported(Upper(t.text));
        if (Kw(t, "EXISTS")) return Unsupported("EXISTS");
        if (Kw(t, "INTERVAL")) return Unsupported("INTERVAL");
        if ((Kw(t, "DATE") || Kw(t, "TIME") || Kw(t, "TIMESTAMP")) &&
            Peek(1).kind == Tok::kString) {
          return Unsupported("typed literal " + Upper(t.text) + " '...'");
        }
        if (IsReservedWord(t)) return Expected("an expression");
        break;
      }
      case Tok::kQuoted:
        break;
      case Tok::kEof:
        return Expected("an expression");
    }
    // Column reference or function call.
    AMP_ASSIGN_OR_RETURN(e->name, ParseObjectName("an expression"));
    if (IsSymbol(Peek(), "(")) {
      Advance();
      e->kind = ast::Expr::Kind::kFunction;
      if (AcceptSymbol("*")) {
        e->star_arg = true;
      } else if (!IsSymbol(Peek(), ")")) {
        if (Kw(Peek(), "DISTINCT")) return Unsupported("DISTINCT");
        AcceptKw("ALL");
        do {
          AMP_ASSIGN_OR_RETURN(auto arg, ParseExpr());
          e->children.push_back(std::move(arg));
        } while (AcceptSymbol(","));
        if (Kw(Peek(), "ORDER")) return Unsupported("ORDER BY inside a function call");
      }
      AMP_RETURN_NOT_OK(ExpectSymbol(")"));
      if (Kw(Peek(), "OVER")) return Unsupported("window function (OVER)");
      if (Kw(Peek(), "FILTER")) return Unsupported("aggregate FILTER");
      if (Kw(Peek(), "WITHIN")) return Unsupported("WITHIN GROUP");
      return e;
    }
    e->kind = ast::Expr::Kind::kColumn;
    return e;
  }

  std::string_view sql_;
  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;
  int expr_nesting_ = 0;
  int ctes_ = 0;
};

}  // namespace

std::string DescribePosition(std::string_view sql, size_t pos) {
  size_t line = 1;
  size_t column = 1;
  for (size_t i = 0; i < pos && i < sql.size(); ++i) {
    if (sql[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "Line: " + std::to_string(line) + ", Column: " + std::to_string(column);
}

Result<std::unique_ptr<ast::Query>> ParseQuery(std::string_view sql) {
  AMP_ASSIGN_OR_RETURN(auto tokens, Lex(sql));
  Parser parser(sql, std::move(tokens));
  return parser.ParseStatement();
}

}  // namespace amp::devnet::sql
