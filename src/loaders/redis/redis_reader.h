// ReadRows of the "redis" loader (for `ampsync audit`): walks the block index for the
// rows whose span intersects an interval and decodes their stored text back into the
// query's Arrow types (redis_codec.h, the inverse of the row writers).
#pragma once

#include <memory>

#include "amp/loader.h"
#include "loaders/redis/shared_state.h"

namespace arrow {
class Table;
}

namespace amp::redis {

/// The rows of `spec.name` whose block span intersects `blocks`: the columns of
/// spec.schema (without _amp_block_start/_amp_block_end) plus _amp_block_start. Errors:
/// KeyError when the table does not exist, kFatal when a requested column is not stored
/// with the same type or a stored row cannot be decoded.
Result<std::shared_ptr<arrow::Table>> ReadTableRows(SharedState& shared, const TableSpec& spec,
                                                    const BlockInterval& blocks);

}  // namespace amp::redis
