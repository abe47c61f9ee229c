// The client's one owner of query text: everything that asks a question of the user's SQL
// or restricts it goes through here, on the tokens of sql/lexer.h. The user's text is
// never edited, only cut at token boundaries and wrapped.
//
// The SETTINGS rule, the same for every wrapper (parallel partitions, the hybrid live
// stream, audit): a top-level trailing `SETTINGS k = v, ...` clause is lifted off the
// user's query (SplitSettings) and re-attached outside the wrapper (Wrap), because a
// subquery cannot carry it; the `stream` setting is dropped, since whoever runs a wrapped
// query decides streaming itself (batch workers and audit run batch queries, the live
// stream asks with the amp-stream header).
//
//   Wrap(split, "_amp_partition", "\"block_num\" >= 100", "\"block_num\"") ==
//     SELECT * FROM (
//     <body>
//     ) AS _amp_partition WHERE "block_num" >= 100 ORDER BY "block_num"
//     [SETTINGS <kept settings>]
//
// The body sits on lines of its own, so a trailing `--` comment in it cannot swallow the
// closing parenthesis.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"

namespace amp::sql {

/// Client-side copy of the server's "is this a streaming query?" decision: true iff the
/// top-level query has a `SETTINGS` entry whose key is `stream` (case-insensitive) and
/// whose value is the bare boolean literal `true` (`stream = 1` and `stream = 'true'` do
/// not count). Only needed to know how to treat the batches before the first arrives;
/// the server's own decision is in the opaque ticket, which we deliberately do not decode.
bool RequestsStreaming(std::string_view sql);

struct QuerySetting {
  std::string key;    ///< As written (compared case-insensitively).
  std::string value;  ///< The value's source text, e.g. "true", "'abc'", "1000".
};

struct SplitQuery {
  /// The statement without its top-level SETTINGS clause, trailing ';' and surrounding
  /// whitespace. Comments inside it are kept.
  std::string body;
  /// Settings other than `stream`, in their original order.
  std::vector<QuerySetting> settings;
  /// Whether a `stream` setting was present (and removed).
  bool had_stream_setting = false;
  /// The `stream` setting's value text when present.
  std::string stream_value;
};

/// Splits `sql`. Invalid (naming the problem and its byte offset) for: an empty statement,
/// more than one statement, unbalanced parentheses, an unterminated string, quoted
/// identifier or comment, a malformed SETTINGS clause.
Result<SplitQuery> SplitSettings(std::string_view sql);

/// `SETTINGS k = v, ...` for `settings` (empty when there are none).
std::string SettingsText(const std::vector<QuerySetting>& settings);

/// The only way to restrict a user query: `split`'s body as the subquery `alias`, filtered
/// by `predicate` (SQL text), ordered by `order_by` when it is not empty, with the kept
/// settings after it (see the top of this file).
std::string Wrap(const SplitQuery& split, std::string_view alias, std::string_view predicate,
                 std::string_view order_by = {});

/// `name` as a double-quoted SQL identifier ("" doubled inside).
std::string QuoteIdentifier(std::string_view name);

/// `name` trimmed of surrounding whitespace, when it is usable as the raw SQL text of a
/// table reference (see amp/parallel.h): not empty, lexable, without ';' or comments.
/// Invalid otherwise, naming it as `what`.
Result<std::string> TableRef(std::string_view name, std::string_view what);

}  // namespace amp::sql
