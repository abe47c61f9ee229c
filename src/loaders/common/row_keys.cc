#include "loaders/common/row_keys.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>

namespace amp::loaders {

Result<std::vector<std::string>> RowKeys(const std::vector<std::shared_ptr<arrow::Array>>& columns,
                                         int64_t rows) {
  std::vector<std::string> keys(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    std::string key;
    for (const auto& column : columns) {
      AMP_ASSIGN_OR_RETURN(auto scalar, column->GetScalar(row));
      const std::string text = scalar->is_valid ? scalar->ToString() : std::string("\x01null");
      key += std::to_string(text.size()) + ":" + text + ";";
    }
    keys[static_cast<size_t>(row)] = std::move(key);
  }
  return keys;
}

Result<std::vector<std::string>> RowKeys(const arrow::RecordBatch& batch,
                                         const std::vector<std::string>& key_columns) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& name : key_columns) {
    auto column = batch.GetColumnByName(name);
    if (column == nullptr) return Status::Invalid("no key column ", name);
    columns.push_back(std::move(column));
  }
  return RowKeys(columns, batch.num_rows());
}

}  // namespace amp::loaders
