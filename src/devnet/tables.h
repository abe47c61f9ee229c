// The eth_firehose dataset of the devnet: schemas (amp-protocol.md §3.3, firehose variant
// for transactions, and the firehose calls table) and deterministic row generation for a
// block range of a snapshot.
//
// transactions follows Amp's providers-firehose table exactly, including its column order
// (… input, v, r, s, gas_used …: v comes before r and s there).
//
// Content: a block's rows are drawn from a PRNG seeded by (seed, number, version, table)
// plus the block hash (tx_hash derives from block hash and tx_index), so they change with
// every reorg of that block and never depend on the range requested. Logs are spread
// evenly over the block's transactions; topic0 is one of 8 common event signatures
// (Transfer ~45%) or null; nullable columns contain nulls; decimals reach ~10^30 and
// transactions.value sometimes exceeds 2^64. With ChainOptions::skew, hot blocks carry skew
// times the transactions and logs of an ordinary block (RowsInBlock); ordinary blocks, and
// every block when skew is off, are exactly as without it. Thread-safe (pure functions).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "amp/status.h"
#include "devnet/chain.h"

namespace amp::devnet {

inline constexpr std::string_view kDatasetName = "eth_firehose";

enum class TableId { kBlocks, kTransactions, kLogs, kCalls };

/// calls: frames per transaction (a root call and one inner call).
inline constexpr uint32_t kCallsPerTx = 2;

/// "blocks", "transactions", "logs", "calls" -> TableId; KeyError naming the known tables
/// otherwise.
Result<TableId> TableFromName(std::string_view name);
std::string_view TableName(TableId table);

/// Full schema of a table, `_block_num` first, exact names/types/nullability of Amp.
std::shared_ptr<arrow::Schema> TableSchema(TableId table);

/// Rows of `table` for blocks [start, end] (inclusive, end <= snapshot.head()) in
/// block order (then tx_index / log_index), as one batch. Content depends only on the
/// options and the blocks' (number, version, hash), so it is the oracle for any
/// destination. Invalid if start > end or end > head; CapacityError if a binary column
/// would exceed 2 GiB (ask for microbatch-sized ranges, e.g. <= 100k blocks).
Result<std::shared_ptr<arrow::RecordBatch>> GenerateRows(TableId table, const ChainSnapshot& snapshot,
                                                         BlockNumber start, BlockNumber end);

/// Number of rows `table` has in an ordinary block (every block unless options.skew > 1).
uint64_t RowsPerBlock(TableId table, const ChainOptions& options);
/// Rows of `table` in block n: RowsPerBlock, times options.skew in a hot block.
uint64_t RowsInBlock(TableId table, const ChainOptions& options, BlockNumber n);
/// The most rows any block of `table` has (RowsPerBlock when skew is off).
uint64_t MaxRowsPerBlock(TableId table, const ChainOptions& options);
/// Rows of `table` in blocks [start, end] (0 when start > end). O(1).
uint64_t RowsInBlocks(TableId table, const ChainOptions& options, BlockNumber start,
                      BlockNumber end);

}  // namespace amp::devnet
