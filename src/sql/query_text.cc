#include "sql/query_text.h"

#include <arrow/util/string.h>  // AsciiEqualsCaseInsensitive

#include "sql/lexer.h"

namespace amp::sql {
namespace {

using Code = std::vector<const Token*>;  // the non-comment tokens of a statement

Status SettingsError(const std::string& what, size_t offset) {
  return Status::Invalid("query rewrite: malformed SETTINGS clause: ", what, " at byte ",
                         offset);
}

bool IsAnyKeyword(std::string_view sql, const Token& t,
                  std::initializer_list<std::string_view> keywords) {
  for (std::string_view keyword : keywords) {
    if (IsKeyword(sql, t, keyword)) return true;
  }
  return false;
}

// Whether `next`, following a setting's value, makes that value part of a larger
// expression (`stream = true AND x` is not the literal true).
bool ContinuesExpression(std::string_view sql, const Token& next) {
  if (next.kind == TokenKind::kPunct) {
    return !(IsPunct(sql, next, ',') || IsPunct(sql, next, ';') || IsPunct(sql, next, ')'));
  }
  return IsAnyKeyword(sql, next, {"and", "or", "is", "not", "in", "like", "ilike", "between"});
}

// Words after which a top-level `settings` is a column or alias, not the clause.
bool PrecedesIdentifier(std::string_view sql, const Token& t) {
  if (t.kind == TokenKind::kPunct) return !IsPunct(sql, t, ')');
  return IsAnyKeyword(sql, t, {"SELECT", "DISTINCT", "AS",   "BY",      "ON",   "AND",
                               "OR",     "NOT",      "WHERE", "HAVING", "WHEN", "THEN",
                               "ELSE",   "IN",       "IS",    "LIKE",   "ILIKE", "BETWEEN",
                               "CASE",   "ALL",      "ANY",   "FROM",   "JOIN", "USING"});
}

// Whether the top-level word `code[i]` ("settings") starts the SETTINGS clause rather
// than naming a column: it must follow the end of an expression or clause and be followed
// by something that can start a setting (or nothing, which is then reported as malformed).
bool IsSettingsClause(std::string_view sql, const Code& code, size_t i) {
  if (i == 0 || PrecedesIdentifier(sql, *code[i - 1])) return false;
  if (i + 1 >= code.size()) return true;
  const Token& next = *code[i + 1];
  if (next.kind == TokenKind::kPunct) return false;  // settings.x, settings = 1, settings)
  return !IsAnyKeyword(sql, next,
                       {"FROM", "AS", "WHERE", "AND", "OR", "ORDER", "GROUP", "LIMIT",
                        "OFFSET", "UNION", "EXCEPT", "INTERSECT", "JOIN", "ON", "HAVING", "IS",
                        "IN", "ASC", "DESC"});
}

std::string_view TrimSpace(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Parses `SETTINGS k = v, ...` from code[first] (the token after SETTINGS) to the end.
Status ParseSettings(std::string_view sql, const Code& code, size_t first,
                     size_t settings_offset, SplitQuery* out) {
  if (first >= code.size()) return SettingsError("no setting after SETTINGS", settings_offset);
  size_t i = first;
  while (true) {
    if (i >= code.size()) return SettingsError("a setting must follow the ','", code[i - 1]->begin);
    const Token& key = *code[i];
    const std::string key_text(TextOf(sql, key));
    if (key.kind != TokenKind::kWord && key.kind != TokenKind::kQuotedIdent) {
      return SettingsError("expected a setting name, found '" + key_text + "'", key.begin);
    }
    ++i;
    if (i >= code.size() || !IsPunct(sql, *code[i], '=')) {
      return SettingsError("expected '=' after setting '" + key_text + "'",
                           i < code.size() ? code[i]->begin : key.end);
    }
    ++i;
    // A value: an optionally signed number, a string, a word (true, false, ...) or a
    // quoted identifier.
    std::string value;
    if (i < code.size() && (IsPunct(sql, *code[i], '-') || IsPunct(sql, *code[i], '+'))) {
      value = std::string(TextOf(sql, *code[i]));
      ++i;
    }
    if (i >= code.size() || code[i]->kind == TokenKind::kPunct) {
      return SettingsError("expected a value for setting '" + key_text + "'",
                           i < code.size() ? code[i]->begin : code[i - 1]->end);
    }
    value += TextOf(sql, *code[i]);
    ++i;
    if (arrow::internal::AsciiEqualsCaseInsensitive(IdentifierName(sql, key), "stream")) {
      out->had_stream_setting = true;
      out->stream_value = value;
    } else {
      out->settings.push_back(QuerySetting{key_text, std::move(value)});
    }
    if (i >= code.size()) return Status::OK();
    if (!IsPunct(sql, *code[i], ',')) {
      return SettingsError("expected ',' or the end of the statement after the value of "
                           "setting '" + key_text + "', found '" +
                               std::string(TextOf(sql, *code[i])) + "'",
                           code[i]->begin);
    }
    ++i;
  }
}

}  // namespace

bool RequestsStreaming(std::string_view sql) {
  std::vector<Token> all = LexLeniently(sql);
  Code tokens;
  for (const Token& t : all) {
    if (!t.IsComment()) tokens.push_back(&t);
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i]->depth != 0 || !IsKeyword(sql, *tokens[i], "settings")) continue;
    // SETTINGS key = value [, key = value]*
    size_t j = i + 1;
    while (j + 2 < tokens.size()) {
      const Token& key = *tokens[j];
      if (key.kind != TokenKind::kWord && key.kind != TokenKind::kQuotedIdent) break;
      if (!IsPunct(sql, *tokens[j + 1], '=')) break;
      const Token& value = *tokens[j + 2];
      // Only a bare boolean literal counts: `true AND x` or `true = y` is an expression.
      bool value_ends = j + 3 >= tokens.size() || !ContinuesExpression(sql, *tokens[j + 3]);
      if (arrow::internal::AsciiEqualsCaseInsensitive(IdentifierName(sql, key), "stream") &&
          IsKeyword(sql, value, "true") && value_ends) {
        return true;
      }
      if (j + 3 >= tokens.size() || !IsPunct(sql, *tokens[j + 3], ',')) break;
      j += 4;
    }
  }
  return false;
}

Result<SplitQuery> SplitSettings(std::string_view sql) {
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(sql));

  // The statement ends at the first top-level ';'; after it only comments, whitespace and
  // further ';' may follow.
  size_t statement_end = sql.size();
  Code code;
  bool ended = false;
  for (const Token& t : tokens) {
    if (ended) {
      if (t.IsComment() || IsPunct(sql, t, ';')) continue;
      return Status::Invalid("query rewrite: more than one statement: unexpected '",
                             TextOf(sql, t), "' after ';' at byte ", t.begin);
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

std::string SettingsText(const std::vector<QuerySetting>& settings) {
  if (settings.empty()) return {};
  std::string out = "SETTINGS ";
  for (size_t i = 0; i < settings.size(); ++i) {
    if (i > 0) out += ", ";
    out += settings[i].key + " = " + settings[i].value;
  }
  return out;
}

std::string Wrap(const SplitQuery& split, std::string_view alias, std::string_view predicate,
                 std::string_view order_by) {
  std::string out = "SELECT * FROM (\n" + split.body + "\n) AS ";
  out += alias;
  out += " WHERE ";
  out += predicate;
  if (!order_by.empty()) {
    out += " ORDER BY ";
    out += order_by;
  }
  if (!split.settings.empty()) out += "\n" + SettingsText(split.settings);
  return out;
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

Result<std::string> TableRef(std::string_view name, std::string_view what) {
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
  return std::string(trimmed);
}

}  // namespace amp::sql
