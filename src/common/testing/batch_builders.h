// Compact array and record-batch fixtures for tests: ArrayFromJson(type, "[1, null]"),
// MakeBatch({{"name", array}, ...}).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/array.h>
#include <arrow/json/from_string.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

namespace amp {

/// An array of `type` written in Arrow's JSON notation. A fixture that does not parse is
/// a bug in the test itself: the binary stops there, naming it.
inline std::shared_ptr<arrow::Array> ArrayFromJson(const std::shared_ptr<arrow::DataType>& type,
                                                   const std::string& json) {
  auto array = arrow::json::ArrayFromJSONString(type, json);
  if (!array.ok()) {
    std::fprintf(stderr, "bad %s fixture %s: %s\n", type->ToString().c_str(), json.c_str(),
                 array.status().ToString().c_str());
    std::abort();
  }
  return *array;
}

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
