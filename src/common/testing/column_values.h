// A column of a table as plain values, so tests compare content with EXPECT_EQ:
//
//   EXPECT_EQ(ColumnValues<arrow::UInt64Type>(*table, "block_num"), (std::vector<uint64_t>{1, 2}));
#pragma once

#include <arrow/array.h>
#include <arrow/table.h>
#include <arrow/type_traits.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace amp {

/// The values of column `name` of `table` (of Arrow type T: a primitive or a string type),
/// over every chunk; a missing column fails the test and gives no values. Nulls read as
/// the type's zero value.
template <typename T>
auto ColumnValues(const arrow::Table& table, const std::string& name) {
  using ArrayType = typename arrow::TypeTraits<T>::ArrayType;
  using View = decltype(std::declval<const ArrayType&>().GetView(0));
  using Value = std::conditional_t<std::is_same_v<View, std::string_view>, std::string, View>;
  std::vector<Value> out;
  auto column = table.GetColumnByName(name);
  EXPECT_NE(column, nullptr) << "no column " << name;
  if (column == nullptr) return out;
  for (const auto& chunk : column->chunks()) {
    const auto& array = static_cast<const ArrayType&>(*chunk);
    for (int64_t i = 0; i < array.length(); ++i) {
      out.push_back(Value(array.GetView(i)));
    }
  }
  return out;
}

}  // namespace amp
