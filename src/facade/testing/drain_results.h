// File: facade/testing/drain_results.h
// Test helper: every result of a load, read to its end on the calling thread (a load that
// follows a live head ends only once stopped or failed).
#pragma once

#include <vector>

#include "amp/load.h"

namespace amp::testing {

inline std::vector<LoadResult> DrainResults(LoadResults& results) {
  std::vector<LoadResult> all;
  for (const LoadResult& r : results) all.push_back(r);
  return all;
}

}  // namespace amp::testing
