#include "parallel/source_head.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <vector>

#include "parallel/parallel_error.h"
#include "parallel/query_rewrite.h"

namespace amp::parallel {

Result<std::optional<Head>> DetectHead(const Client& client, const ParallelConfig& config,
                                       const std::stop_token& stop) {
  AMP_ASSIGN_OR_RETURN(auto sql, HeadQuery(config.table_name, config.block_column));
  QueryOptions options;
  options.stream = false;
  options.stop = stop;
  AMP_ASSIGN_OR_RETURN(auto stream, client.Execute(sql, options));
  std::vector<BlockRange> ranges;
  std::optional<BlockNumber> max_value;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto next, stream->Next());
    if (!next) break;
    if (!next->metadata.ranges.empty()) ranges = next->metadata.ranges;
    const auto& batch = next->batch;
    if (batch == nullptr || batch->num_rows() == 0 || batch->num_columns() == 0) continue;
    const auto& column = batch->column(0);
    if (column->type_id() == arrow::Type::UINT64 && column->IsValid(0)) {
      max_value = std::static_pointer_cast<arrow::UInt64Array>(column)->Value(0);
    } else if (column->type_id() == arrow::Type::INT64 && column->IsValid(0)) {
      max_value = static_cast<BlockNumber>(std::static_pointer_cast<arrow::Int64Array>(column)->Value(0));
    }
  }
  if (ranges.size() > 1) {
    return ParallelError(Status::Invalid("head detection: '", config.table_name, "' spans ",
                                         ranges.size(), " networks; a parallel load needs one"),
                         ErrorClass::kFatal, "MULTI_NETWORK");
  }
  if (ranges.size() == 1) {
    return std::optional<Head>(Head{ranges[0].network, ranges[0].end, ranges[0].hash});
  }
  if (max_value) return std::optional<Head>(Head{"", *max_value, BlockHash{}});
  return std::optional<Head>();
}

// The hash of block `number`, read from the blocks table (hybrid hand-off cursor).
Result<BlockHash> BlockHashAt(const Client& client, const std::string& blocks_table,
                              BlockNumber number, const std::stop_token& stop) {
  AMP_ASSIGN_OR_RETURN(auto sql, BlockHashQuery(blocks_table, number));
  QueryOptions options;
  options.stream = false;
  options.stop = stop;
  auto fail = [&](const std::string& why) {
    return ParallelError(
        Status::Invalid("hybrid hand-off needs the hash of block ", number, " from '",
                        blocks_table, "': ", why,
                        " (set ParallelConfig::blocks_table / --blocks-table to a table with "
                        "block_num and hash columns)"),
        ErrorClass::kFatal, "HANDOFF_HASH");
  };
  auto stream = client.Execute(sql, options);
  if (!stream.ok()) {
    if (ClassOf(stream.status()) != ErrorClass::kFatal || stream.status().IsCancelled()) {
      return stream.status();
    }
    return fail(stream.status().message());
  }
  while (true) {
    auto next = (*stream)->Next();
    if (!next.ok()) {
      if (ClassOf(next.status()) != ErrorClass::kFatal || next.status().IsCancelled()) {
        return next.status();
      }
      return fail(next.status().message());
    }
    if (!*next) break;
    const auto& batch = (*next)->batch;
    if (batch == nullptr || batch->num_rows() == 0) continue;
    auto column = batch->GetColumnByName("hash");
    if (column == nullptr) return fail("the result has no 'hash' column");
    std::string_view bytes;
    if (column->type_id() == arrow::Type::FIXED_SIZE_BINARY) {
      bytes = std::static_pointer_cast<arrow::FixedSizeBinaryArray>(column)->GetView(0);
    } else if (column->type_id() == arrow::Type::BINARY) {
      bytes = std::static_pointer_cast<arrow::BinaryArray>(column)->GetView(0);
    } else {
      return fail("its 'hash' column has type " + column->type()->ToString());
    }
    if (bytes.size() != 32) return fail("its hash is not 32 bytes");
    BlockHash hash;
    std::copy(bytes.begin(), bytes.end(), hash.bytes.begin());
    return hash;
  }
  return fail("no such block");
}

}  // namespace amp::parallel
