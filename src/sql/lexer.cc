#include "sql/lexer.h"

#include <cctype>

#include <arrow/util/string.h>  // AsciiEqualsCaseInsensitive

namespace amp::sql {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Identifier characters; bytes >= 0x80 are taken as parts of UTF-8 identifiers.
bool IsWordChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

bool IsWordStart(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || u >= 0x80;
}

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

Status LexError(const std::string& what, size_t offset) {
  return Status::Invalid("query rewrite: ", what, " at byte ", offset);
}

// End of the literal opened at `i` by `quote` where a doubled quote escapes it (and, with
// `backslash`, \x too); npos when it is never closed.
size_t QuotedEnd(std::string_view sql, size_t i, char quote, bool backslash) {
  for (size_t j = i + 1; j < sql.size(); ++j) {
    if (backslash && sql[j] == '\\') {
      ++j;
    } else if (sql[j] == quote) {
      if (j + 1 < sql.size() && sql[j + 1] == quote) {
        ++j;
      } else {
        return j + 1;
      }
    }
  }
  return std::string_view::npos;
}

// End of the nesting block comment opened at `i`; npos when it is never closed.
size_t BlockCommentEnd(std::string_view sql, size_t i) {
  int nesting = 0;
  size_t j = i;
  while (j + 1 < sql.size()) {
    if (sql[j] == '/' && sql[j + 1] == '*') {
      ++nesting;
      j += 2;
    } else if (sql[j] == '*' && sql[j + 1] == '/') {
      j += 2;
      if (--nesting == 0) return j;
    } else {
      ++j;
    }
  }
  return std::string_view::npos;
}

// The `$tag$` opening a dollar-quoted string at `i`, or empty when `$` starts a
// placeholder word ($1, $name) instead.
std::string_view DollarTag(std::string_view sql, size_t i) {
  if (i + 1 >= sql.size() || !(sql[i + 1] == '$' || IsWordStart(sql[i + 1]))) return {};
  size_t close = sql.find('$', i + 1);
  if (close == std::string_view::npos) return {};
  for (size_t k = i + 1; k < close; ++k) {
    if (!IsWordChar(sql[k])) return {};
  }
  return sql.substr(i, close - i + 1);
}

// Numbers, including 1.5, .5, 1e-5 and 0xff, as one token.
size_t NumberEnd(std::string_view sql, size_t i) {
  size_t j = i;
  while (j < sql.size() && (IsWordChar(sql[j]) || sql[j] == '.')) {
    if ((sql[j] == 'e' || sql[j] == 'E') && j + 1 < sql.size() &&
        (sql[j + 1] == '+' || sql[j + 1] == '-') && !(j > i + 1 && sql[i + 1] == 'x')) {
      j += 2;
      continue;
    }
    ++j;
  }
  return j;
}

// Lexes all of `sql`, stopping at the first unterminated literal or comment. The first
// problem found (that one, or unbalanced parentheses) goes to `problem`.
std::vector<Token> LexUntilProblem(std::string_view sql, Status* problem) {
  std::vector<Token> tokens;
  std::vector<size_t> open_parens;  // offsets of unclosed '('
  auto note = [&](Status status) {
    if (problem->ok()) *problem = std::move(status);
  };
  const size_t n = sql.size();
  size_t i = 0;
  while (i < n) {
    const char c = sql[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    Token tok{TokenKind::kPunct, i, i + 1, static_cast<int>(open_parens.size())};
    size_t end = i + 1;
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t nl = sql.find('\n', i);
      tok.kind = TokenKind::kLineComment;
      end = nl == std::string_view::npos ? n : nl;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      tok.kind = TokenKind::kBlockComment;
      end = BlockCommentEnd(sql, i);
      if (end == std::string_view::npos) {
        note(LexError("unterminated /* comment", i));
        break;
      }
    } else if (c == '\'' || ((c == 'E' || c == 'e') && i + 1 < n && sql[i + 1] == '\'' &&
                             (i == 0 || !IsWordChar(sql[i - 1])))) {
      tok.kind = TokenKind::kString;
      end = QuotedEnd(sql, c == '\'' ? i : i + 1, '\'', c != '\'');
      if (end == std::string_view::npos) {
        note(LexError("unterminated string literal", i));
        break;
      }
    } else if (c == '"' || c == '`') {
      tok.kind = TokenKind::kQuotedIdent;
      end = QuotedEnd(sql, i, c, false);
      if (end == std::string_view::npos) {
        note(LexError("unterminated quoted identifier", i));
        break;
      }
    } else if (std::string_view tag = c == '$' ? DollarTag(sql, i) : std::string_view();
               !tag.empty()) {
      tok.kind = TokenKind::kString;
      size_t close = sql.find(tag, i + tag.size());
      if (close == std::string_view::npos) {
        note(LexError("unterminated dollar-quoted string", i));
        break;
      }
      end = close + tag.size();
    } else if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(sql[i + 1]))) {
      tok.kind = TokenKind::kWord;
      end = NumberEnd(sql, i);
    } else if (IsWordChar(c)) {
      tok.kind = TokenKind::kWord;
      end = i;
      while (end < n && IsWordChar(sql[end])) ++end;
    } else if (c == '(') {
      open_parens.push_back(i);
    } else if (c == ')') {
      if (open_parens.empty()) {
        note(LexError("unbalanced parentheses: ')' without '('", i));
      } else {
        open_parens.pop_back();
      }
      tok.depth = static_cast<int>(open_parens.size());
    }
    tok.end = end;
    tokens.push_back(tok);
    i = end;
  }
  if (!open_parens.empty()) {
    note(LexError("unbalanced parentheses: '(' never closed", open_parens.back()));
  }
  return tokens;
}

}  // namespace

Result<std::vector<Token>> Lex(std::string_view sql) {
  Status problem;
  std::vector<Token> tokens = LexUntilProblem(sql, &problem);
  if (!problem.ok()) return problem;
  return tokens;
}

std::vector<Token> LexLeniently(std::string_view sql) {
  Status ignored;
  return LexUntilProblem(sql, &ignored);
}

std::string_view TextOf(std::string_view sql, const Token& token) {
  return sql.substr(token.begin, token.end - token.begin);
}

bool IsPunct(std::string_view sql, const Token& token, char c) {
  return token.kind == TokenKind::kPunct && sql[token.begin] == c;
}

bool IsKeyword(std::string_view sql, const Token& token, std::string_view keyword) {
  return token.kind == TokenKind::kWord &&
         arrow::internal::AsciiEqualsCaseInsensitive(TextOf(sql, token), keyword);
}

std::string IdentifierName(std::string_view sql, const Token& token) {
  std::string_view text = TextOf(sql, token);
  if (token.kind != TokenKind::kQuotedIdent) return std::string(text);
  const char quote = text.front();
  std::string out;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    out.push_back(text[i]);
    if (text[i] == quote) ++i;  // doubled quote
  }
  return out;
}

}  // namespace amp::sql
