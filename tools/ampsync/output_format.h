// Rendering of Arrow values for `ampsync query`: an aligned table for terminals, CSV and
// JSON lines for pipes. Binary values print as 0x-prefixed lowercase hex (as Amp's JSON
// Lines endpoint does, plus the prefix), decimals exactly, timestamps as ISO 8601 UTC,
// lists and structs as JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <arrow/record_batch.h>

#include "amp/status.h"

namespace amp::cli {

enum class OutputFormat { kTable, kCsv, kJsonl };

Result<OutputFormat> ParseOutputFormat(const std::string& name);

/// Writes batches in one format. Table output buffers up to `table_max_rows` rows to
/// size its columns, then flushes (so a never-ending stream still prints).
class BatchPrinter {
 public:
  BatchPrinter(std::ostream& out, OutputFormat format, std::shared_ptr<arrow::Schema> schema,
               size_t table_max_rows = 200);
  Status Print(const arrow::RecordBatch& batch);
  /// Flushes buffered table rows.
  void Flush();

 private:
  void PrintTable();
  std::ostream& out_;
  OutputFormat format_;
  std::shared_ptr<arrow::Schema> schema_;
  size_t table_max_rows_;
  bool header_done_ = false;
  std::vector<std::vector<std::string>> pending_;  // table rows not yet printed
  std::vector<size_t> widths_;                      // fixed at the first table flush
};

/// Text of one value (null -> "NULL" in text, null in JSON).
std::string FormatValueText(const arrow::Array& array, int64_t row);
/// JSON of one value.
std::string FormatValueJson(const arrow::Array& array, int64_t row);

}  // namespace amp::cli
