// Truncate, DropTable and ResetProgress of the "redis" loader: rows are deleted through the
// block index (block_index.h), and the checkpoints that describe the table are forgotten
// in one MULTI/EXEC, so a later load never resumes past rows that are gone.
#pragma once

#include <cstdint>
#include <string>

#include "loaders/redis/shared_state.h"

namespace amp::redis {

/// Deletes every row of `table`, then forgets its streams' checkpoints in one transaction.
Status TruncateTable(SharedState& shared, RedisConnection& conn, const std::string& table);

/// TruncateTable, then deletes the description, the index and the row id counter.
Status DropTable(SharedState& shared, RedisConnection& conn, const std::string& table);

/// Forgets the checkpoints of `job_id` ("<job>", "<job>/..."), or every one that wrote the
/// table when no job is named or when `truncate` (which also deletes the rows), and those
/// jobs' plans. Returns how many were forgotten.
Result<int64_t> ResetTableProgress(SharedState& shared, RedisConnection& conn, const std::string& table,
                                   const std::string& job_id, bool truncate);

}  // namespace amp::redis
