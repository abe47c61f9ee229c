#include "flight/stream_detection.h"

#include <cctype>
#include <string>
#include <vector>

#include <arrow/util/string.h>  // AsciiEqualsCaseInsensitive

namespace amp::flight {
namespace {

enum class TokenKind { kWord, kQuotedIdent, kString, kNumber, kPunct };

struct Token {
  TokenKind kind;
  std::string text;  // Words as written; quoted identifiers unquoted; punctuation 1 char.
};

bool IsWordStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsWordChar(char c) {
  return IsWordStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

// Splits `sql` into tokens, dropping whitespace and comments. Unterminated literals or
// comments simply end the token list: the server will reject such SQL anyway.
std::vector<Token> Tokenize(std::string_view sql) {
  std::vector<Token> tokens;
  size_t i = 0;
  const size_t n = sql.size();
  // Reads a literal delimited by `quote` where a doubled quote escapes it; `backslash`
  // also honours \x escapes (E'...' strings).
  auto read_quoted = [&](char quote, bool backslash) {
    std::string text;
    ++i;
    while (i < n) {
      char c = sql[i];
      if (backslash && c == '\\' && i + 1 < n) {
        text.push_back(sql[i + 1]);
        i += 2;
        continue;
      }
      if (c == quote) {
        if (i + 1 < n && sql[i + 1] == quote) {
          text.push_back(quote);
          i += 2;
          continue;
        }
        ++i;
        return text;
      }
      text.push_back(c);
      ++i;
    }
    return text;
  };

  while (i < n) {
    char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      // Block comments nest in DataFusion's (sqlparser's) tokenizer.
      int depth = 0;
      while (i < n) {
        if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else if (c == '\'') {
      tokens.push_back({TokenKind::kString, read_quoted('\'', false)});
    } else if ((c == 'e' || c == 'E') && i + 1 < n && sql[i + 1] == '\'') {
      ++i;
      tokens.push_back({TokenKind::kString, read_quoted('\'', true)});
    } else if (c == '"' || c == '`') {
      tokens.push_back({TokenKind::kQuotedIdent, read_quoted(c, false)});
    } else if (c == '$' && i + 1 < n && (sql[i + 1] == '$' || IsWordStart(sql[i + 1]))) {
      // $tag$ ... $tag$ dollar-quoted string; a lone $name is a placeholder word.
      size_t close = sql.find('$', i + 1);
      std::string_view tag = close == std::string_view::npos ? std::string_view()
                                                             : sql.substr(i, close - i + 1);
      bool valid_tag = !tag.empty();
      for (size_t k = 1; valid_tag && k + 1 < tag.size(); ++k) valid_tag = IsWordChar(tag[k]);
      if (valid_tag) {
        size_t end = sql.find(tag, i + tag.size());
        size_t body = i + tag.size();
        std::string text(sql.substr(body, end == std::string_view::npos ? n - body : end - body));
        tokens.push_back({TokenKind::kString, std::move(text)});
        i = end == std::string_view::npos ? n : end + tag.size();
      } else {
        size_t start = i++;
        while (i < n && IsWordChar(sql[i])) ++i;
        tokens.push_back({TokenKind::kWord, std::string(sql.substr(start, i - start))});
      }
    } else if (IsWordStart(c)) {
      size_t start = i;
      while (i < n && IsWordChar(sql[i])) ++i;
      tokens.push_back({TokenKind::kWord, std::string(sql.substr(start, i - start))});
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      size_t start = i;
      while (i < n && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '.' ||
                       sql[i] == '_')) {
        ++i;
      }
      tokens.push_back({TokenKind::kNumber, std::string(sql.substr(start, i - start))});
    } else {
      tokens.push_back({TokenKind::kPunct, std::string(1, c)});
      ++i;
    }
  }
  return tokens;
}

bool IsPunct(const Token& t, char c) { return t.kind == TokenKind::kPunct && t.text[0] == c; }

// Whether `next`, following a value, makes that value part of a larger expression.
bool ContinuesExpression(const Token& next) {
  if (next.kind == TokenKind::kPunct) {
    return !(IsPunct(next, ',') || IsPunct(next, ';') || IsPunct(next, ')'));
  }
  if (next.kind == TokenKind::kWord) {
    for (std::string_view op : {"and", "or", "is", "not", "in", "like", "ilike", "between"}) {
      if (arrow::internal::AsciiEqualsCaseInsensitive(next.text, op)) return true;
    }
  }
  return false;
}

}  // namespace

bool SqlRequestsStreaming(std::string_view sql) {
  std::vector<Token> tokens = Tokenize(sql);
  int depth = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (IsPunct(t, '(')) {
      ++depth;
      continue;
    }
    if (IsPunct(t, ')')) {
      if (depth > 0) --depth;
      continue;
    }
    if (depth != 0 || t.kind != TokenKind::kWord || !arrow::internal::AsciiEqualsCaseInsensitive(t.text, "settings")) {
      continue;
    }
    // SETTINGS key = value [, key = value]*
    size_t j = i + 1;
    while (j + 2 < tokens.size()) {
      const Token& key = tokens[j];
      if (key.kind != TokenKind::kWord && key.kind != TokenKind::kQuotedIdent) break;
      if (!IsPunct(tokens[j + 1], '=')) break;
      const Token& value = tokens[j + 2];
      // Only a bare boolean literal counts: `true AND x` or `true = y` is an expression.
      bool value_ends = j + 3 >= tokens.size() || !ContinuesExpression(tokens[j + 3]);
      if (arrow::internal::AsciiEqualsCaseInsensitive(key.text, "stream") && value.kind == TokenKind::kWord &&
          arrow::internal::AsciiEqualsCaseInsensitive(value.text, "true") && value_ends) {
        return true;
      }
      if (j + 3 < tokens.size() && IsPunct(tokens[j + 3], ',')) {
        j += 4;
        continue;
      }
      break;
    }
  }
  return false;
}

}  // namespace amp::flight
