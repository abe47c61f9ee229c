// LoadResult (amp/load_options.h): the engine's vocabulary, so it lives with the engine
// that produces the results rather than with the facade that hands them out.
#include <cstdio>
#include <string>

#include "amp/load_options.h"

namespace amp {

std::string LoadResult::ToString() const {
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.2f", duration.count());
  if (!success) return "Failed to load to " + table_name + ": " + error;
  if (is_reorg) {
    std::string ranges;
    for (const auto& r : invalidation_ranges) ranges += (ranges.empty() ? "" : ", ") + r.ToString();
    return "Reorg detected: " + std::to_string(invalidation_ranges.size()) +
           " ranges invalidated (" + ranges + ")";
  }
  return "Loaded " + std::to_string(rows_loaded) + " rows to " + table_name + " in " + seconds + "s";
}

}  // namespace amp
