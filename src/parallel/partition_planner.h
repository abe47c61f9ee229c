// Partition planning for parallel loads: which blocks are left to load, and how they are
// cut into partitions that workers take from a shared queue.
//
// Ranges are half-open, [start, end). Blocks an earlier run already committed (read back
// from the destination's per-partition checkpoints) are subtracted first, so a rerun with
// any partition_size loads exactly the gaps.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "amp/parallel.h"
#include "amp/status.h"
#include "amp/types.h"

namespace amp::parallel {

struct BlockSpan {
  BlockNumber start = 0;
  BlockNumber end = 0;  ///< Exclusive.
  uint64_t size() const { return end - start; }
  friend bool operator==(const BlockSpan&, const BlockSpan&) = default;
};

/// Sorted, merged union of `spans` (overlapping or adjacent spans coalesce; empty ones
/// are dropped).
std::vector<BlockSpan> Normalize(std::vector<BlockSpan> spans);

/// The parts of `range` not covered by `done`, in block order.
std::vector<BlockSpan> Subtract(BlockSpan range, const std::vector<BlockSpan>& done);

/// Cuts `gaps` (disjoint, sorted) into partitions of at most `partition_size` blocks; unset:
/// ceil(total / num_workers), where total is the gaps' block count (the seed's default when
/// nothing was loaded before). A partition never spans two gaps. Ids are 0-based in
/// block order; `query` is left empty.
std::vector<PartitionPlan> PlanPartitions(const std::vector<BlockSpan>& gaps, int num_workers,
                                          std::optional<uint64_t> partition_size);

/// How many partitions PlanPartitions() would return for the same arguments, without
/// building them: lets a caller refuse a plan too large to hold (say partition_size 1 over
/// billions of blocks) before allocating it. O(number of gaps).
uint64_t CountPartitions(const std::vector<BlockSpan>& gaps, int num_workers,
                         std::optional<uint64_t> partition_size);

}  // namespace amp::parallel
