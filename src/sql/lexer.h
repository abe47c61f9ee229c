// The client's one SQL lexer. Everything that reads or restricts query text (stream
// detection, SETTINGS splitting, partition and audit wrappers, table-reference checks)
// works on these tokens, so a keyword is only recognised where the server's parser
// (sqlparser, as used by DataFusion) would see one: never inside a string, a quoted
// identifier, a comment, or (with `depth`) a parenthesised subquery.
//
// The devnet in src/devnet/sql keeps a lexer of its own on purpose: it is the independent
// oracle these tokens are tested against.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"

namespace amp::sql {

enum class TokenKind {
  kWord,          // keyword, unquoted identifier, placeholder ($1, $name) or number
  kQuotedIdent,   // "..." or `...`
  kString,        // '...', E'...', $tag$...$tag$
  kLineComment,   // -- ...
  kBlockComment,  // /* ... */ (nesting)
  kPunct,         // any other single character
};

struct Token {
  TokenKind kind;
  size_t begin = 0;  // byte offsets into the lexed text
  size_t end = 0;
  int depth = 0;  // parenthesis depth outside this token
  bool IsComment() const {
    return kind == TokenKind::kLineComment || kind == TokenKind::kBlockComment;
  }
};

/// Tokens of `sql` (whitespace dropped, comments kept). Invalid, naming the problem and
/// its byte offset, for an unterminated string, quoted identifier or comment and for
/// unbalanced parentheses.
Result<std::vector<Token>> Lex(std::string_view sql);

/// The tokens before the first unterminated literal or comment, with a stray ')' taken
/// as depth 0: for questions asked of SQL the server will judge itself.
std::vector<Token> LexLeniently(std::string_view sql);

std::string_view TextOf(std::string_view sql, const Token& token);
bool IsPunct(std::string_view sql, const Token& token, char c);
/// An unquoted word equal to `keyword` ignoring ASCII case.
bool IsKeyword(std::string_view sql, const Token& token, std::string_view keyword);
/// The name a word or quoted identifier stands for: as written, or unquoted with doubled
/// quotes undone.
std::string IdentifierName(std::string_view sql, const Token& token);

}  // namespace amp::sql
