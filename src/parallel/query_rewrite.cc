// Query text of parallel loads (query_rewrite.h), on the tokens of sql/lexer.h.
#include "parallel/query_rewrite.h"

#include <string>
#include <vector>

#include "sql/lexer.h"

namespace amp::parallel {
namespace {

using sql::IsKeyword;
using sql::IsPunct;
using sql::Token;
using sql::TokenKind;

// True when the last token of `body` is a `--` comment (so text appended to it must
// start on a new line).
bool EndsWithLineComment(std::string_view body) {
  auto tokens = sql::Lex(body);
  return tokens.ok() && !tokens->empty() && tokens->back().kind == TokenKind::kLineComment;
}

}  // namespace

Status CheckPartitionable(const SplitQuery& query) {
  std::string_view text = query.body;
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, sql::Lex(text));
  const Token* prev = nullptr;
  for (const Token& t : tokens) {
    if (t.IsComment()) continue;
    if (t.depth == 0 && t.kind == TokenKind::kWord &&
        !(prev != nullptr && IsPunct(text, *prev, '.'))) {
      for (std::string_view kw : {"LIMIT", "OFFSET", "FETCH"}) {
        if (IsKeyword(text, t, kw)) {
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

std::string PartitionQuery(const SplitQuery& query, std::string_view block_column,
                           BlockNumber start, BlockNumber end) {
  const std::string col = QuoteIdentifier(block_column);
  return sql::Wrap(query, "_amp_partition",
                   col + " >= " + std::to_string(start) + " AND " + col + " < " +
                       std::to_string(end),
                   col);
}

std::string LiveQuery(const SplitQuery& query) {
  std::string out = query.body;
  if (!query.settings.empty()) {
    out += "\n" + sql::SettingsText(query.settings);
  } else if (EndsWithLineComment(out)) {
    out += "\n";  // whatever a caller appends must not land in the comment
  }
  return out;
}

std::string LiveQueryFrom(const SplitQuery& query, std::string_view block_column,
                          BlockNumber min_block) {
  return sql::Wrap(query, "_amp_live",
                   QuoteIdentifier(block_column) + " >= " + std::to_string(min_block));
}

Result<std::string> HeadQuery(std::string_view table_name, std::string_view block_column) {
  AMP_ASSIGN_OR_RETURN(std::string table, sql::TableRef(table_name, "table_name"));
  if (block_column.empty()) return Status::Invalid("block_column is empty");
  return "SELECT MAX(" + QuoteIdentifier(block_column) + ") AS max_block FROM " + table;
}

Result<std::string> BlockHashQuery(std::string_view blocks_table, BlockNumber number) {
  AMP_ASSIGN_OR_RETURN(std::string table, sql::TableRef(blocks_table, "blocks_table"));
  return "SELECT \"block_num\", \"hash\" FROM " + table +
         " WHERE \"block_num\" = " + std::to_string(number);
}

Result<std::string> DefaultBlocksTable(std::string_view table_name) {
  AMP_ASSIGN_OR_RETURN(std::string name, sql::TableRef(table_name, "table_name"));
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, sql::Lex(name));
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
  std::string_view qualifier = std::string_view(name).substr(0, last_dot->begin);
  while (!qualifier.empty() && (qualifier.back() == ' ' || qualifier.back() == '\t' ||
                                qualifier.back() == '\n' || qualifier.back() == '\r' ||
                                qualifier.back() == '\f' || qualifier.back() == '\v')) {
    qualifier.remove_suffix(1);
  }
  return std::string(qualifier) + ".blocks";
}

}  // namespace amp::parallel
