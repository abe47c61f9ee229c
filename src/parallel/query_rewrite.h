// Query rewriting for parallel loads: the user's SQL is wrapped, never spliced.
//
// SplitSettings() lexes the statement (quoted strings with '' escapes, "quoted
// identifiers", -- and /* */ comments, parentheses) and separates a top-level trailing
// `SETTINGS k = v, ...` clause from the body; the `stream` setting is dropped (workers run
// batch queries; the live stream sets streaming with the amp-stream header), the others
// are kept and re-attached outside the wrapper. Nothing inside strings, comments, quoted
// identifiers or subqueries is ever matched as a keyword.
//
//   PartitionQuery(split, "block_num", 100, 200) ==
//     SELECT * FROM (
//     <body>
//     ) AS _amp_partition WHERE "block_num" >= 100 AND "block_num" < 200 ORDER BY "block_num"
//     [SETTINGS <kept settings>]
//
// The ORDER BY lets a worker commit at block boundaries while the partition streams in.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::parallel {

struct QuerySetting {
  std::string key;    ///< As written (compared case-insensitively).
  std::string value;  ///< The value's source text, e.g. "true", "'abc'", "1000".
};

struct SplitQuery {
  /// The statement without its top-level SETTINGS clause, trailing ';' and surrounding
  /// whitespace. Comments inside it are kept (a `--` comment is safe: the wrapper puts the
  /// body on lines of its own).
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

/// Invalid when the body cannot be partitioned by wrapping without changing its result:
/// a top-level LIMIT, OFFSET or FETCH (the limit would apply per partition).
Status CheckPartitionable(const SplitQuery& query);

/// `name` as a double-quoted SQL identifier ("" doubled inside).
std::string QuoteIdentifier(std::string_view name);

/// The worker query for blocks [start, end) (see the top of this file).
std::string PartitionQuery(const SplitQuery& query, std::string_view block_column,
                           BlockNumber start, BlockNumber end);

/// The live stream's query of hybrid mode: the body plus the kept settings (streaming is
/// requested with the amp-stream header, so no `stream` setting is needed).
std::string LiveQuery(const SplitQuery& query);

/// Batch query for hybrid head detection:
///   SELECT MAX("<block_column>") AS max_block FROM <table_name>
/// The head itself is taken from the synced range the server reports in app_metadata
/// (the max is the fallback when the server reports none). `table_name` is used as SQL
/// text (it may be dataset-qualified or quoted); Invalid if it is empty or holds ';'.
Result<std::string> HeadQuery(std::string_view table_name, std::string_view block_column);

/// Batch query for one block's hash:
///   SELECT "block_num", "hash" FROM <blocks_table> WHERE "block_num" = <number>
Result<std::string> BlockHashQuery(std::string_view blocks_table, BlockNumber number);

/// The default blocks table for `table_name`: its dataset qualifier + ".blocks"
/// ("eth_firehose.logs" -> "eth_firehose.blocks", "\"_/x@1.0.0\".logs" ->
/// "\"_/x@1.0.0\".blocks"); Invalid when table_name has no dataset qualifier.
Result<std::string> DefaultBlocksTable(std::string_view table_name);

}  // namespace amp::parallel
