// Upsert identity: the key of a row is the value of each key column, compared as text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "amp/status.h"

namespace arrow {
class Array;
class RecordBatch;
}  // namespace arrow

namespace amp::loaders {

/// One key per row: each key column's value as text, length-prefixed so that ("ab", "c")
/// and ("a", "bc") differ; a null is the marker text "\x01null". `columns` are equally long
/// (`rows` each), in key order.
Result<std::vector<std::string>> RowKeys(const std::vector<std::shared_ptr<arrow::Array>>& columns,
                                         int64_t rows);
/// The same for the columns of `batch` named `key_columns`; Invalid naming a missing one.
Result<std::vector<std::string>> RowKeys(const arrow::RecordBatch& batch,
                                         const std::vector<std::string>& key_columns);

}  // namespace amp::loaders
