// File: amp/audit.h
//
// `ampsync audit`: checks that a destination table holds exactly what the source query
// returns, block by block. For every block in the audited interval both sides are reduced
// to a row count and an order-independent digest of the rows; the blocks that differ are
// reported as missing, duplicate or stale.
//
//   amp::Client client("grpc://127.0.0.1:1602");
//   AMP_ASSIGN_OR_RETURN(auto destination, amp::ParseConnectionUri("postgresql://me@db/chain"));
//   AMP_ASSIGN_OR_RETURN(amp::AuditReport report,
//       amp::Audit(client, "SELECT * FROM eth_firehose.logs", destination, "logs", {}));
//   std::cout << report.ToString();
//   if (!report.ok()) ...
//
// How it works:
//   - The source is the batch form of the query (amp-stream: false; the SQL text, SETTINGS
//     included, is never edited), restricted to a block interval by wrapping it:
//       SELECT * FROM (<query>) AS _amp_audit WHERE _amp_audit."<block column>" BETWEEN A AND B
//     so the query needs a block column (`_block_num`, else `block_num`, or
//     AuditOptions::block_column): without one the audit fails saying so.
//   - The destination is read back with Loader::ReadRows (amp/loader.h) over the same
//     interval; rows are assigned to blocks by the same block column.
//   - The interval is walked in chunks (at most chunk_blocks blocks, fewer when blocks are
//     dense: see chunk_rows), so memory stays bounded by one chunk of rows whatever the
//     table size.
//   - Digest of a block: the row count, and the sum and xor (mod 2^128) of a 128-bit hash
//     (XXH3) of each row's canonical encoding. The encoding is type-aware (Int64 1, UInt64 1,
//     "1" and 1.0 all differ), covers nested types, and treats representations of one
//     value alike (Utf8 / LargeUtf8 / Utf8View; the binary types; the list types;
//     dictionary and extension types as their values; every NaN; -0.0 and 0.0).
//     Two multisets of rows are taken as equal when count, sum and xor are: a false match
//     needs a 128-bit coincidence.
//   - Default interval: from 0 to the destination's committed checkpoint (the cursor of
//     stream MakeStreamId(query, table), or AuditOptions::stream_id) when there is one,
//     else to the source's head (the end of the batch query's ranges). Rows of blocks
//     outside the interval are not looked at: pass to_block to check beyond the head.
//   - The source and the destination are read at different instants: audit a stream that
//     is still loading up to its checkpoint (the default), and expect a reorg during the
//     audit to show up as stale blocks near the head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "amp/client.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "amp/status.h"
#include "amp/types.h"

namespace amp {

struct AuditReport;

struct AuditOptions {
  /// First block audited (default 0).
  std::optional<BlockNumber> from_block;
  /// Last block audited (default: the destination's checkpoint, else the source's head).
  std::optional<BlockNumber> to_block;
  /// The column holding each row's block number. Empty: `_block_num`, else `block_num`.
  std::string block_column;
  /// Checkpoint key of the load being audited. Empty: MakeStreamId(query, table).
  std::string stream_id;
  /// Largest chunk, in blocks, read from each side at once.
  uint64_t chunk_blocks = 10'000;
  /// Chunks shrink so that they hold about this many rows (estimated from the last chunk).
  uint64_t chunk_rows = 500'000;
  /// QueryOptions for the source (stream is forced to false).
  QueryOptions query_options;
  /// Requesting a stop ends the audit between chunks with Cancelled.
  std::stop_token stop_token;
  /// Called after each chunk with the blocks done so far and the report up to them.
  std::function<void(const BlockInterval& done, const AuditReport& so_far)> on_chunk;
};

struct AuditReport {
  /// The audited interval.
  BlockInterval range{0, 0};
  /// Blocks with rows on either side.
  uint64_t blocks_checked = 0;
  uint64_t rows_source = 0;
  uint64_t rows_destination = 0;
  /// The source has rows for these blocks, the destination none.
  std::vector<BlockNumber> missing;
  /// The destination holds the source's rows of these blocks exactly k > 1 times.
  std::vector<BlockNumber> duplicate;
  /// The destination's rows differ from the source's otherwise: other content, some rows
  /// missing or extra, or rows for a block the source has none.
  std::vector<BlockNumber> stale;
  /// Where the end of the interval came from: "option", "checkpoint" or "source head".
  std::string end_from;

  bool ok() const { return missing.empty() && duplicate.empty() && stale.empty(); }
  /// A readable summary: totals, then each non-empty category with up to `max_listed`
  /// entries, runs compressed ("100..=120"), e.g.
  ///   audit of blocks 0..=99 (end: checkpoint): MISMATCH
  ///     blocks with rows: 100, rows: source 800, destination 807
  ///     missing: 1 block: 5
  ///     stale: 3 blocks: 9, 40..=41
  std::string ToString(size_t max_listed = 20) const;
};

/// Compares `query`'s rows with those loaded into `table` of `loader`. Errors: the query has
/// no block column (kFatal, Invalid), the loader cannot read rows back (NotImplemented),
/// source or destination failures as they come (their ErrorInfo kept), Cancelled.
Result<AuditReport> Audit(const Client& client, const std::string& query, Loader& loader,
                          const std::string& table, const AuditOptions& options = {});

/// The same, creating the loader from `destination` (BuiltinLoaders()).
Result<AuditReport> Audit(const Client& client, const std::string& query,
                          const ConnectionSpec& destination, const std::string& table,
                          const AuditOptions& options = {});

/// "5, 7..=9, 12" for sorted block numbers, at most `max_listed` entries, then
/// " (and N more)". Exposed for tests.
std::string FormatBlockList(const std::vector<BlockNumber>& blocks, size_t max_listed);

}  // namespace amp
