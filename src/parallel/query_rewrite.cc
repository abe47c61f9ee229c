// Query rewriting for parallel loads (query_rewrite.h).
//
// Everything here works on tokens of a small SQL lexer rather than on the raw text, so a
// keyword is only ever recognised where the server's parser would see one: never inside
// a string, a quoted identifier, a comment or (for clause keywords) a parenthesised
// subquery. The user's text itself is never edited, only cut at token boundaries and
// wrapped.
#include "parallel/query_rewrite.h"

#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include <arrow/util/string.h>  // AsciiEqualsCaseInsensitive

namespace amp::parallel {
namespace {

enum class TokenKind {
  kWord,         // identifier or keyword (unquoted), also numbers
  kQuotedIdent,  // "..." or `...`
  kString,       // '...', E'...', X'...'
  kLineComment,  // -- ...
  kBlockComment, // /* ... */
  kPunct,        // any other single character
};

struct Token {
  TokenKind kind;
  size_t begin = 0;  // byte offsets into the lexed text
  size_t end = 0;
  int depth = 0;     // parenthesis depth before this token
  bool IsComment() const {
    return kind == TokenKind::kLineComment || kind == TokenKind::kBlockComment;
  }
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Identifier characters; bytes >= 0x80 are taken as parts of UTF-8 identifiers.
bool IsWordChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

Status LexError(const std::string& what, size_t offset) {
  return Status::Invalid("query rewrite: ", what, " at byte ", offset);
}

// Tokens of `sql` (whitespace dropped, comments kept), with parenthesis depth. Fails on
// unterminated strings, quoted identifiers and comments and on unbalanced parentheses.
Result<std::vector<Token>> Lex(std::string_view sql) {
  std::vector<Token> tokens;
  std::vector<size_t> open_parens;  // offsets of unclosed '('
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    char c = sql[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    Token tok{TokenKind::kPunct, i, i + 1, static_cast<int>(open_parens.size())};
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t nl = sql.find('\n', i);
      tok.kind = TokenKind::kLineComment;
      tok.end = nl == std::string_view::npos ? n : nl;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      // Block comments nest, as in sqlparser (Amp's parser) and the devnet.
      size_t j = i + 2;
      int nesting = 1;
      while (j + 1 < n && nesting > 0) {
        if (sql[j] == '/' && sql[j + 1] == '*') {
          ++nesting;
          j += 2;
        } else if (sql[j] == '*' && sql[j + 1] == '/') {
          --nesting;
          j += 2;
        } else {
          ++j;
        }
      }
      if (nesting > 0) return LexError("unterminated /* comment", i);
      tok.kind = TokenKind::kBlockComment;
      tok.end = j;
    } else if (c == '\'' ||
               ((c == 'E' || c == 'e') && i + 1 < n && sql[i + 1] == '\'' &&
                (i == 0 || !IsWordChar(sql[i - 1])))) {
      // '...' with '' as an escaped quote; E'...' additionally takes backslash escapes.
      bool backslash = c != '\'';
      size_t j = backslash ? i + 2 : i + 1;
      bool closed = false;
      while (j < n) {
        if (backslash && sql[j] == '\\') {
          j += 2;
          continue;
        }
        if (sql[j] == '\'') {
          if (j + 1 < n && sql[j + 1] == '\'') {
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        ++j;
      }
      if (!closed) return LexError("unterminated string literal", i);
      tok.kind = TokenKind::kString;
      tok.end = j;
    } else if (c == '"' || c == '`') {
      // "..." with "" as an escaped quote (likewise for backticks).
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        if (sql[j] == c) {
          if (j + 1 < n && sql[j + 1] == c) {
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        ++j;
      }
      if (!closed) return LexError("unterminated quoted identifier", i);
      tok.kind = TokenKind::kQuotedIdent;
      tok.end = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      // Numbers, including 1.5, .5, 1e-5 and 0xff, as one token.
      size_t j = i;
      while (j < n && (IsWordChar(sql[j]) || sql[j] == '.')) {
        if ((sql[j] == 'e' || sql[j] == 'E') && j + 1 < n &&
            (sql[j + 1] == '+' || sql[j + 1] == '-') && !(j > i + 1 && sql[i + 1] == 'x')) {
          j += 2;
          continue;
        }
        ++j;
      }
      tok.kind = TokenKind::kWord;
      tok.end = j;
    } else if (IsWordChar(c)) {
      size_t j = i;
      while (j < n && IsWordChar(sql[j])) ++j;
      tok.kind = TokenKind::kWord;
      tok.end = j;
    } else if (c == '(') {
      open_parens.push_back(i);
    } else if (c == ')') {
      if (open_parens.empty()) return LexError("unbalanced parentheses: ')' without '('", i);
      open_parens.pop_back();
      tok.depth = static_cast<int>(open_parens.size());
    }
    tokens.push_back(tok);
    i = tok.end;
  }
  if (!open_parens.empty()) {
    return LexError("unbalanced parentheses: '(' never closed", open_parens.back());
  }
  return tokens;
}

std::string_view Text(std::string_view sql, const Token& t) {
  return sql.substr(t.begin, t.end - t.begin);
}

bool IsPunct(std::string_view sql, const Token& t, char c) {
  return t.kind == TokenKind::kPunct && sql[t.begin] == c;
}

bool IsKeyword(std::string_view sql, const Token& t, std::string_view keyword) {
  return t.kind == TokenKind::kWord && arrow::internal::AsciiEqualsCaseInsensitive(Text(sql, t), keyword);
}

// The identifier a key token names: unquoted as written, quoted without its quotes.
std::string IdentifierName(std::string_view sql, const Token& t) {
  std::string_view text = Text(sql, t);
  if (t.kind != TokenKind::kQuotedIdent) return std::string(text);
  char q = text.front();
  std::string out;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    out.push_back(text[i]);
    if (text[i] == q) ++i;  // doubled quote
  }
  return out;
}

// Words after which a top-level `settings` is a column or alias, not the clause.
bool PrecedesIdentifier(std::string_view sql, const Token& t) {
  if (t.kind == TokenKind::kPunct) return !IsPunct(sql, t, ')');
  if (t.kind != TokenKind::kWord) return false;
  static constexpr std::string_view kWords[] = {
      "SELECT", "DISTINCT", "AS",  "BY",   "ON",   "AND", "OR",    "NOT",
      "WHERE",  "HAVING",   "WHEN", "THEN", "ELSE", "IN",  "IS",    "LIKE",
      "ILIKE",  "BETWEEN",  "CASE", "ALL",  "ANY",  "FROM", "JOIN", "USING"};
  for (std::string_view w : kWords) {
    if (arrow::internal::AsciiEqualsCaseInsensitive(Text(sql, t), w)) return true;
  }
  return false;
}

// Whether the top-level word `tokens[i]` ("settings") starts the SETTINGS clause rather
// than naming a column: it must follow the end of an expression or clause and be followed
// by something that can start a setting (or nothing, which is then reported as malformed).
bool IsSettingsClause(std::string_view sql, const std::vector<const Token*>& code, size_t i) {
  if (i == 0) return false;
  if (PrecedesIdentifier(sql, *code[i - 1])) return false;
  if (i + 1 < code.size()) {
    const Token& next = *code[i + 1];
    if (next.kind == TokenKind::kPunct) return false;  // settings.x, settings = 1, settings)
    static constexpr std::string_view kFollowers[] = {
        "FROM", "AS", "WHERE", "AND", "OR", "ORDER", "GROUP", "LIMIT", "OFFSET",
        "UNION", "EXCEPT", "INTERSECT", "JOIN", "ON", "HAVING", "IS", "IN", "ASC", "DESC"};
    for (std::string_view w : kFollowers) {
      if (IsKeyword(sql, next, w)) return false;
    }
  }
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Parses `SETTINGS k = v, ...` from code[first] (the token after SETTINGS) to the end.
Status ParseSettings(std::string_view sql, const std::vector<const Token*>& code, size_t first,
                     size_t settings_offset, SplitQuery* out) {
  if (first >= code.size()) {
    return LexError("malformed SETTINGS clause: no setting after SETTINGS", settings_offset);
  }
  size_t i = first;
  while (true) {
    if (i >= code.size()) {
      return LexError("malformed SETTINGS clause: a setting must follow the ','",
                      code[i - 1]->begin);
    }
    const Token& key = *code[i];
    if (key.kind != TokenKind::kWord && key.kind != TokenKind::kQuotedIdent) {
      return LexError("malformed SETTINGS clause: expected a setting name, found '" +
                          std::string(Text(sql, key)) + "'",
                      key.begin);
    }
    ++i;
    if (i >= code.size() || !IsPunct(sql, *code[i], '=')) {
      size_t at = i < code.size() ? code[i]->begin : key.end;
      return LexError("malformed SETTINGS clause: expected '=' after setting '" +
                          std::string(Text(sql, key)) + "'",
                      at);
    }
    ++i;
    // A value: an optionally signed number, a string, a word (true, false, ...) or a
    // quoted identifier.
    std::string value;
    if (i < code.size() && (IsPunct(sql, *code[i], '-') || IsPunct(sql, *code[i], '+'))) {
      value = std::string(Text(sql, *code[i]));
      ++i;
    }
    if (i >= code.size() || code[i]->kind == TokenKind::kPunct) {
      size_t at = i < code.size() ? code[i]->begin : code[i - 1]->end;
      return LexError("malformed SETTINGS clause: expected a value for setting '" +
                          std::string(Text(sql, key)) + "'",
                      at);
    }
    value += Text(sql, *code[i]);
    ++i;
    if (arrow::internal::AsciiEqualsCaseInsensitive(IdentifierName(sql, key), "stream")) {
      out->had_stream_setting = true;
      out->stream_value = value;
    } else {
      out->settings.push_back(QuerySetting{std::string(Text(sql, key)), std::move(value)});
    }
    if (i >= code.size()) return Status::OK();
    if (!IsPunct(sql, *code[i], ',')) {
      return LexError("malformed SETTINGS clause: expected ',' or the end of the statement "
                      "after the value of setting '" +
                          std::string(Text(sql, key)) + "', found '" +
                          std::string(Text(sql, *code[i])) + "'",
                      code[i]->begin);
    }
    ++i;
  }
}

// True when the last token of `body` is a `--` comment (so text appended to it must
// start on a new line).
bool EndsWithLineComment(std::string_view body) {
  auto tokens = Lex(body);
  return tokens.ok() && !tokens->empty() && tokens->back().kind == TokenKind::kLineComment;
}

std::string SettingsText(const std::vector<QuerySetting>& settings) {
  std::string out = "SETTINGS ";
  for (size_t i = 0; i < settings.size(); ++i) {
    if (i > 0) out += ", ";
    out += settings[i].key;
    out += " = ";
    out += settings[i].value;
  }
  return out;
}

// Checks that `name` is usable as SQL text for a table: non-empty, one clean token run
// without ';' or comments.
Status CheckTableText(std::string_view name, std::string_view what) {
  std::string_view trimmed = TrimSpace(name);
  if (trimmed.empty()) return Status::Invalid(what, " is empty");
  auto tokens = Lex(trimmed);
  if (!tokens.ok()) {
    return Status::Invalid(what, " '", name, "' is not a valid table name: ",
                           tokens.status().message());
  }
  for (const Token& t : *tokens) {
    if (t.IsComment() || IsPunct(trimmed, t, ';')) {
      return Status::Invalid(what, " '", name,
                             "' is not a valid table name (it holds ';' or a comment)");
    }
  }
  return Status::OK();
}

}  // namespace

Result<SplitQuery> SplitSettings(std::string_view sql) {
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(sql));

  // The statement ends at the first top-level ';'; after it only comments, whitespace and
  // further ';' may follow.
  size_t statement_end = sql.size();
  std::vector<const Token*> code;  // non-comment tokens of the statement
  bool ended = false;
  for (const Token& t : tokens) {
    if (ended) {
      if (t.IsComment() || IsPunct(sql, t, ';')) continue;
      return LexError("more than one statement: unexpected '" + std::string(Text(sql, t)) +
                          "' after ';'",
                      t.begin);
    }
    if (t.depth == 0 && IsPunct(sql, t, ';')) {
      ended = true;
      statement_end = t.begin;
      continue;
    }
    if (!t.IsComment()) code.push_back(&t);
  }
  if (code.empty()) return Status::Invalid("query rewrite: empty statement");

  SplitQuery out;
  size_t body_end = statement_end;
  for (size_t i = 0; i < code.size(); ++i) {
    const Token& t = *code[i];
    if (t.depth == 0 && IsKeyword(sql, t, "SETTINGS") && IsSettingsClause(sql, code, i)) {
      AMP_RETURN_NOT_OK(ParseSettings(sql, code, i + 1, t.begin, &out));
      body_end = t.begin;
      break;
    }
  }
  out.body = std::string(TrimSpace(sql.substr(0, body_end)));
  return out;
}

Status CheckPartitionable(const SplitQuery& query) {
  std::string_view sql = query.body;
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(sql));
  const Token* prev = nullptr;
  for (const Token& t : tokens) {
    if (t.IsComment()) continue;
    if (t.depth == 0 && t.kind == TokenKind::kWord &&
        !(prev != nullptr && IsPunct(sql, *prev, '.'))) {
      for (std::string_view kw : {"LIMIT", "OFFSET", "FETCH"}) {
        if (IsKeyword(sql, t, kw)) {
          return Status::Invalid(
              "query cannot be partitioned: its top-level ", kw, " (at byte ", t.begin,
              " of the query) picks rows from the whole block range, so every partition "
              "would evaluate the entire query, and partitions could disagree on the rows "
              "it picks; load it without parallel workers, or remove the ", kw);
        }
      }
    }
    prev = &t;
  }
  return Status::OK();
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string PartitionQuery(const SplitQuery& query, std::string_view block_column,
                           BlockNumber start, BlockNumber end) {
  const std::string col = QuoteIdentifier(block_column);
  std::string out = "SELECT * FROM (\n";
  out += query.body;
  out += "\n) AS _amp_partition WHERE ";
  out += col + " >= " + std::to_string(start) + " AND " + col + " < " + std::to_string(end);
  out += " ORDER BY " + col;
  if (!query.settings.empty()) {
    out += "\n";
    out += SettingsText(query.settings);
  }
  return out;
}

std::string LiveQuery(const SplitQuery& query) {
  std::string out = query.body;
  if (!query.settings.empty()) {
    out += "\n";
    out += SettingsText(query.settings);
  } else if (EndsWithLineComment(out)) {
    out += "\n";  // whatever a caller appends must not land in the comment
  }
  return out;
}

Result<std::string> HeadQuery(std::string_view table_name, std::string_view block_column) {
  AMP_RETURN_NOT_OK(CheckTableText(table_name, "table_name"));
  if (block_column.empty()) return Status::Invalid("block_column is empty");
  std::string col = QuoteIdentifier(block_column);
  return "SELECT MAX(" + col + ") AS max_block FROM " + std::string(TrimSpace(table_name));
}

Result<std::string> BlockHashQuery(std::string_view blocks_table, BlockNumber number) {
  AMP_RETURN_NOT_OK(CheckTableText(blocks_table, "blocks_table"));
  return "SELECT \"block_num\", \"hash\" FROM " + std::string(TrimSpace(blocks_table)) +
         " WHERE \"block_num\" = " + std::to_string(number);
}

Result<std::string> DefaultBlocksTable(std::string_view table_name) {
  AMP_RETURN_NOT_OK(CheckTableText(table_name, "table_name"));
  std::string_view name = TrimSpace(table_name);
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(name));
  // The qualifier ends at the last '.' between name parts (never one inside quotes).
  const Token* last_dot = nullptr;
  for (const Token& t : tokens) {
    if (IsPunct(name, t, '.')) last_dot = &t;
  }
  if (last_dot == nullptr || last_dot->begin == 0) {
    return Status::Invalid("table_name '", table_name,
                           "' has no dataset qualifier (like 'eth_firehose.logs'), so the "
                           "blocks table cannot be derived; set blocks_table");
  }
  if (last_dot->end >= name.size()) {
    return Status::Invalid("table_name '", table_name, "' ends with '.'");
  }
  return std::string(TrimSpace(name.substr(0, last_dot->begin))) + ".blocks";
}

}  // namespace amp::parallel
