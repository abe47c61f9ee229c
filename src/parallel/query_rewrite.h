// Query text of parallel loads: the user's SQL is wrapped through sql::Wrap, never
// spliced, under the one SETTINGS rule of sql/query_text.h (lifted off the body, `stream`
// dropped, the others re-attached outside the wrapper).
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
#include "sql/query_text.h"

namespace amp::parallel {

// The SETTINGS split and identifier quoting belong to the client's query-text module;
// the planner names them here because partitions are their main user.
using sql::QuerySetting;
using sql::QuoteIdentifier;
using sql::SplitQuery;
using sql::SplitSettings;

/// Invalid when the body cannot be partitioned by wrapping without changing its result:
/// a top-level LIMIT, OFFSET or FETCH (the limit would apply per partition).
Status CheckPartitionable(const SplitQuery& query);

/// The worker query for blocks [start, end) (see the top of this file).
std::string PartitionQuery(const SplitQuery& query, std::string_view block_column,
                           BlockNumber start, BlockNumber end);

/// The live stream's query of hybrid mode: the body plus the kept settings (streaming is
/// requested with the amp-stream header, so no `stream` setting is needed).
std::string LiveQuery(const SplitQuery& query);

/// The live stream's query restricted to blocks from `min_block` on (the hybrid hand-off):
/// the body wrapped as `_amp_live` with `"<block_column>" >= min_block`.
std::string LiveQueryFrom(const SplitQuery& query, std::string_view block_column,
                          BlockNumber min_block);

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
