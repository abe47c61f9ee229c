// Tiny batches coalesced before they reach a loader, for every destination at once.
//
// ampd sends one Flight message per storage file it reads, often a single row, so a
// microbatch can arrive as thousands of one-row RecordBatches. Every loader pays per
// Append: PostgreSQL a COPY encode and a socket flush, Redis a round trip to reserve row
// ids, Delta Lake a conversion per column and a Parquet write call (and, for upserts, a
// Parquet file per Append). CoalescingSession sits between the load engine and the
// loader's session and hands the loader few large batches instead.
//
// Exactly-once is untouched: batches are only ever held within a unit of work and in
// order. Held rows are appended before the unit's next Undo (a reorg), before Commit (the
// watermark that ends the unit) and before a checkpoint read, so each coalesced batch
// commits in the same unit, in the same order relative to undos, as its parts; Abort and
// Begin drop what is held (an aborted unit leaves nothing). Block spans are kept: rows that
// carry their own block column may be merged across microbatches (the loader tags each row
// with its block); rows tagged with their microbatch's range are only merged with rows of
// the same range. Batches of another table or schema, 0-row batches and batches already
// `pass_rows` long are never merged (held rows go first).
#pragma once

#include <cstdint>
#include <memory>

#include "amp/loader.h"

namespace amp::streaming {

struct CoalesceOptions {
  /// Batches with at least this many rows go to the loader as they are.
  int64_t pass_rows = 8192;
  /// Held rows are appended once they reach this many rows or bytes: enough to make the
  /// per-Append cost vanish, small enough that the destination keeps working while the
  /// stream is read (PostgreSQL inserts one COPY chunk while the next is coalesced).
  int64_t max_rows = 8192;
  int64_t max_bytes = 8LL << 20;
  /// The destination table has a block column (TableSpec::block_column): each row is
  /// tagged with its own block, so batches of different microbatches may be merged.
  bool rows_carry_blocks = false;
};

/// Wraps `inner`; every LoaderSession call is forwarded, Appends coalesced as above.
std::unique_ptr<LoaderSession> CoalesceAppends(std::unique_ptr<LoaderSession> inner,
                                               CoalesceOptions options = {});

}  // namespace amp::streaming
