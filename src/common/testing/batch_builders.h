// Compact record-batch fixtures for tests: MakeBatch({{"name", array}, ...}).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

namespace amp {

/// A batch whose columns are the given arrays, named, with their types (all nullable).
inline std::shared_ptr<arrow::RecordBatch> MakeBatch(
    const std::vector<std::pair<std::string, std::shared_ptr<arrow::Array>>>& columns) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& [name, array] : columns) {
    fields.push_back(arrow::field(name, array->type()));
    arrays.push_back(array);
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), arrays.empty() ? 0 : arrays[0]->length(),
                                  arrays);
}

}  // namespace amp
