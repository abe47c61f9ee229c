// One row writer per data structure (the `data_structure` option): how a row of a batch
// becomes Redis commands in the unit's body, with its block index entries. Hash and stream
// rows are field/value pairs (nulls left out); string, set, sorted_set and list rows are
// JSON documents. Every row carries _amp_block_start/_amp_block_end; list documents also
// _amp_seq, so equal rows stay distinct elements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loaders/redis/shared_state.h"
#include "loaders/redis/unit_body.h"

namespace arrow {
class Array;
class RecordBatch;
}  // namespace arrow

namespace amp::redis {

/// The Lua script behind stream rows (loaded by AppendScriptLoads).
std::string_view XaddScript();

/// The batch's columns by the table's column index (nullptr: not in the batch; a batch
/// may carry a subset, in any order). Errors: kFatal for a column the table lacks or
/// holds with another type.
Result<std::vector<const arrow::Array*>> ColumnsInTableOrder(const TableInfo& info,
                                                             const arrow::RecordBatch& batch);

/// Block number of row `i` of an integer column, or an error for null/negative.
Result<uint64_t> BlockAt(const arrow::Array& column, int64_t i, const std::string& name);

/// What every row of one Append shares.
struct WriterContext {
  const TableInfo& info;
  const std::vector<const arrow::Array*>& columns;  ///< ColumnsInTableOrder
  int64_t ttl = 0;
  /// Hash: the key may hold an older version of the row (upserts, custom patterns).
  bool may_exist = false;
  /// Row keys a pattern can repeat are type-checked before the MULTI; keys made with
  /// {_amp_seq} are new by construction.
  bool check_row_keys = false;
  std::string xadd_sha;
};

/// One row: its index in the batch, its block span and its {_amp_seq} id.
struct RowPlace {
  int64_t row = 0;
  uint64_t start = 0, end = 0;
  const std::string& start_text;
  const std::string& end_text;
  uint64_t seq = 0;
};

class RowWriter {
 public:
  virtual ~RowWriter() = default;
  /// Queues the row stored under `key` (its own key, or its collection's).
  virtual void Write(const RowPlace& place, const std::string& key, UnitBody& body) = 0;
};

std::unique_ptr<RowWriter> MakeRowWriter(const WriterContext& context);

}  // namespace amp::redis
