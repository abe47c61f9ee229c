// Hand-written lexer and recursive-descent parser for the devnet's SQL dialect (see
// engine.h for what it accepts). One statement, optionally followed by `;`.
//
// Errors are Invalid:
//  - syntax errors read like sqlparser's: "sql parser error: Expected: <what>, found: <token>
//    at Line: L, Column: C";
//  - constructs the devnet does not support name the construct:
//    "JOIN is not supported by the devnet".
#pragma once

#include <string>
#include <string_view>

#include "amp/status.h"
#include "devnet/sql/ast.h"

namespace amp::devnet::sql {

/// Parses one query. The tree keeps byte offsets into `sql` for later messages.
Result<std::unique_ptr<ast::Query>> ParseQuery(std::string_view sql);

/// "Line: L, Column: C" of byte offset `pos` in `sql` (1-based, as sqlparser reports).
std::string DescribePosition(std::string_view sql, size_t pos);

}  // namespace amp::devnet::sql
