// GoogleTest check that a loaded table holds exactly the rows of its oracle, shared by the
// end-to-end load tests (facade, parallel): a failure names the first column that differs.
#pragma once

#include <arrow/table.h>
#include <gtest/gtest.h>

namespace amp {

/// `actual` has `expected`'s row count, column names (in order) and values; both sorted
/// alike by the caller.
inline void ExpectSameTable(const arrow::Table& actual, const arrow::Table& expected) {
  ASSERT_EQ(actual.num_rows(), expected.num_rows()) << "missing or extra rows";
  ASSERT_EQ(actual.num_columns(), expected.num_columns());
  for (int c = 0; c < actual.num_columns(); ++c) {
    EXPECT_EQ(actual.schema()->field(c)->name(), expected.schema()->field(c)->name());
    EXPECT_TRUE(actual.column(c)->Equals(*expected.column(c)))
        << "column " << actual.schema()->field(c)->name() << " differs from the chain";
  }
}

}  // namespace amp
