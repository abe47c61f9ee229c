// File: facade/testing/drain_results.h
// Test helper: every result of a load, read to its end on the calling thread (a load that
// follows a live head ends only once stopped or failed).
#pragma once

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amp/load.h"

namespace amp::testing {

inline std::vector<LoadResult> DrainResults(LoadResults& results) {
  std::vector<LoadResult> all;
  for (const LoadResult& r : results) all.push_back(r);
  return all;
}

/// A load refused once it knows its input (its schema, its options): the load starts, then
/// ends with exactly one failed result whose error names `error_part`. Returns that result.
inline LoadResult ExpectOnlyAFailedResult(Result<LoadResults>& results, const std::string& error_part) {
  EXPECT_TRUE(results.ok()) << results.status().ToString();
  if (!results.ok()) return {};
  std::vector<LoadResult> all = DrainResults(*results);
  EXPECT_EQ(all.size(), 1u);
  if (all.empty()) return {};
  EXPECT_FALSE(all[0].success);
  EXPECT_THAT(all[0].error, ::testing::HasSubstr(error_part));
  return all[0];
}

}  // namespace amp::testing
