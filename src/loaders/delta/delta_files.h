// The Parquet data files of a Delta table: writing them through Arrow's Parquet writer with
// the _amp_ block stats the log records, and reading live files back in a layout's storage
// types. No log access here: the caller decides which files are live.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "amp/types.h"
#include "loaders/delta/delta_layout.h"
#include "loaders/delta/delta_log.h"
#include "loaders/delta/delta_options.h"

namespace parquet::arrow {
class FileWriter;
}  // namespace parquet::arrow

namespace amp::delta {

/// A closed data file: its add action (stats included) and where it is on disk.
struct WrittenFile {
  AddFile add;
  std::string abs_path;
};

/// Streams file-schema batches (data columns without partition columns, then the two _amp_
/// columns) into one new Parquet file and tracks the _amp_ stats. A sink destroyed before
/// Close() deletes its file.
class FileSink {
 public:
  static Result<std::unique_ptr<FileSink>> Open(const Options& options, const std::string& table_dir,
                                                const std::string& partition_dir, PartitionValues partition_values,
                                                const std::shared_ptr<arrow::Schema>& schema);
  ~FileSink();

  Status Write(const arrow::RecordBatch& batch);
  int64_t rows() const { return rows_; }
  /// Finishes the file; its add action has dataChange = true.
  Result<WrittenFile> Close();

 private:
  FileSink() = default;
  WrittenFile file_;
  std::shared_ptr<arrow::io::FileOutputStream> out_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  int64_t rows_ = 0;
  int64_t min_start_ = INT64_MAX, max_start_ = INT64_MIN, min_end_ = INT64_MAX, max_end_ = INT64_MIN;
};

/// Writes the rows of `table` (storage-typed, with the layout's file columns) as new files of
/// at most target_file_rows rows in the partition `partition_values`.
Result<std::vector<WrittenFile>> WriteTableFiles(const Options& options, const std::string& table_dir,
                                                 const TableLayout& layout,
                                                 const std::shared_ptr<arrow::Table>& table,
                                                 const PartitionValues& partition_values, bool data_change);

/// Reads a live file as a storage-typed table: the layout's columns (all, or those named in
/// `only`; columns the file lacks, from before a schema evolution, become nulls, partition
/// columns come from the add action), then the two _amp_ columns.
Result<std::shared_ptr<arrow::Table>> ReadLiveFile(const std::string& table_dir, const AddFile& add,
                                                   const TableLayout& layout,
                                                   const std::vector<std::string>* only = nullptr);

/// How a file relates to a block interval, from its stats alone.
enum class Overlap { kNone, kAll, kSome };
Overlap FileOverlap(const AddFile& add, const BlockInterval& blocks);

/// Per row of `rows` (file `path` read by ReadLiveFile): does it belong to a block in `blocks`?
Result<std::vector<bool>> RowsInBlocks(const arrow::Table& rows, const std::string& path,
                                       const BlockInterval& blocks);

/// The rows of `table` whose `keep` entry is true.
Result<std::shared_ptr<arrow::Table>> FilterTable(const std::shared_ptr<arrow::Table>& table,
                                                  const std::vector<bool>& keep);

}  // namespace amp::delta
