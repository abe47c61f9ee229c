// Planning a parallel load, in one pass through the rooms it needs, each visited once:
//
//   1. validate    the job's options against its loader (load/job_validation.h shares the
//                  checks with the streaming driver), then the query text (SETTINGS
//                  stream lifted out, partitionable);
//   2. the source  the schema the workers will receive (GetFlightInfo), the head (a
//                  historical load may not reach beyond it; a hybrid one hands over below
//                  it) and the hash of the hand-off block;
//   3. the destination  the table created from that schema (a real run; kOverwrite empties
//                  it) and what earlier runs committed: partition progress, the hand-off
//                  record, the live stream's checkpoint;
//   4. the plan    pure: a stored hand-off wins over the one just detected (a rerun hands
//                  over where the first run decided), the blocks already done are
//                  subtracted, and what is left is cut into partitions.
// A hybrid run detects the head even when a stored hand-off record will win, so that the
// walk never goes back to the server after reading the destination.
#pragma once

#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include "amp/checkpoint.h"
#include "amp/loader.h"
#include "amp/parallel.h"
#include "amp/status.h"
#include "load/load_driver.h"
#include "parallel/partition_planner.h"
#include "parallel/query_rewrite.h"
#include "parallel/source_head.h"

namespace amp::parallel {

/// Everything a run needs to know before its workers start.
struct PreparedPlan {
  ParallelPlan plan;
  SplitQuery split;
  TableSpec spec;
  /// Hybrid: the hand-off record, stored by an earlier run or new.
  std::optional<HandoffRecord> handoff;
  bool handoff_is_new = false;  ///< Not yet saved in the destination.
};

/// Step 1: kFatal Invalid (source "parallel") naming what the job cannot do.
Status ValidateParallelJob(const streaming::LoadJob& job);

/// What the source said (step 2).
struct SourceFacts {
  std::shared_ptr<arrow::Schema> schema;
  std::optional<Head> head;              ///< Unset: the source table has no data yet.
  std::optional<NetworkCursor> handoff;  ///< Hybrid: the hand-off block for `head`.
};

/// What earlier runs committed (step 3); empty for kOverwrite, which starts over.
struct DurableState {
  std::vector<BlockSpan> done;          ///< Normalized.
  std::optional<HandoffRecord> handoff;  ///< A stored record with a head.
  bool live_exists = false;
};

/// The block a hybrid load hands over after: head - reorg_buffer, never before
/// min_block - 1 (nothing below min_block is loaded); nullopt when min_block lies beyond
/// the head (the live stream starts at the server's first block).
std::optional<BlockNumber> HandoffBlock(BlockNumber head, BlockNumber min_block,
                                        uint64_t reorg_buffer);

/// Step 4 (pure).
Result<PreparedPlan> PlanLoad(const streaming::LoadJob& job, SplitQuery split,
                              const SourceFacts& source, const DurableState& durable);

/// Steps 1 to 4. `write`: create (and for kOverwrite empty) the destination table (a real
/// run) or only read it (a dry run). `session` reads the durable records.
Result<PreparedPlan> Prepare(const streaming::LoadJob& job, LoaderSession& session, bool write,
                             const std::stop_token& stop);

}  // namespace amp::parallel
