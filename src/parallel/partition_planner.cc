// Partition planning for parallel loads (partition_planner.h).
//
// All arithmetic stays within [0, UINT64_MAX]: spans are half-open with end <= UINT64_MAX,
// sizes are differences, and a partition end is computed as start + min(size, left), which
// never passes the end of its gap.
#include "parallel/partition_planner.h"

#include <algorithm>
#include <string>

namespace amp::parallel {

std::vector<BlockSpan> Normalize(std::vector<BlockSpan> spans) {
  std::erase_if(spans, [](const BlockSpan& s) { return s.end <= s.start; });
  std::sort(spans.begin(), spans.end(), [](const BlockSpan& a, const BlockSpan& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });
  std::vector<BlockSpan> out;
  for (const BlockSpan& s : spans) {
    if (!out.empty() && s.start <= out.back().end) {
      out.back().end = std::max(out.back().end, s.end);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::vector<BlockSpan> Subtract(BlockSpan range, const std::vector<BlockSpan>& done) {
  std::vector<BlockSpan> out;
  if (range.end <= range.start) return out;
  BlockNumber cursor = range.start;  // first block not yet accounted for
  for (const BlockSpan& d : Normalize(done)) {
    if (d.end <= cursor) continue;
    if (d.start >= range.end) break;
    if (d.start > cursor) out.push_back(BlockSpan{cursor, d.start});
    cursor = std::max(cursor, d.end);
    if (cursor >= range.end) return out;
  }
  if (cursor < range.end) out.push_back(BlockSpan{cursor, range.end});
  return out;
}

namespace {

// Blocks per partition (0 when there is nothing to load).
uint64_t PartitionSize(const std::vector<BlockSpan>& gaps, int num_workers,
                       std::optional<uint64_t> partition_size) {
  // Disjoint spans below UINT64_MAX: their total fits in a uint64_t.
  uint64_t total = 0;
  for (const BlockSpan& g : gaps) {
    if (g.end > g.start) total += g.size();
  }
  if (total == 0) return 0;
  if (partition_size.has_value() && *partition_size > 0) return *partition_size;
  const uint64_t workers = static_cast<uint64_t>(std::max(num_workers, 1));
  return total / workers + (total % workers != 0 ? 1 : 0);
}

}  // namespace

uint64_t CountPartitions(const std::vector<BlockSpan>& gaps, int num_workers,
                         std::optional<uint64_t> partition_size) {
  const uint64_t size = PartitionSize(gaps, num_workers, partition_size);
  uint64_t count = 0;
  for (const BlockSpan& g : gaps) {
    if (g.end > g.start) count += g.size() / size + (g.size() % size != 0 ? 1 : 0);
  }
  return count;
}

std::vector<PartitionPlan> PlanPartitions(const std::vector<BlockSpan>& gaps, int num_workers,
                                          std::optional<uint64_t> partition_size) {
  std::vector<PartitionPlan> out;
  const uint64_t size = PartitionSize(gaps, num_workers, partition_size);
  if (size == 0) return out;
  int id = 0;
  for (const BlockSpan& g : gaps) {
    BlockNumber start = g.start;
    while (start < g.end) {
      const uint64_t len = std::min(size, g.end - start);
      PartitionPlan part;
      part.partition_id = id++;
      part.start = start;
      part.end = start + len;
      out.push_back(std::move(part));
      start += len;
    }
  }
  return out;
}

}  // namespace amp::parallel
