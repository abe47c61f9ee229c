// The block index of a table: how the "redis" loader finds rows by block without ever
// scanning the keyspace. `amp:idx:<t>` scores each row key (or collection member, see
// key_layout.h) with the row's last block; `amp:idxs:<t>` holds the first block of members
// whose span has more than one block. Undo, Truncate and ReadRows walk it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "amp/loader.h"
#include "loaders/redis/shared_state.h"
#include "loaders/redis/unit_body.h"

namespace amp::redis {

/// The Lua undo script (loaded by AppendScriptLoads).
std::string_view UndoScript();

/// Queues the undo of `table`'s rows whose span intersects `blocks` (one command).
void AddUndo(UnitBody& body, const std::string& undo_sha, const TableInfo& info,
             const BlockInterval& blocks);

/// Queues the index entries of one row stored as `member`.
void AddIndexEntry(UnitBody& body, const TableInfo& info, const std::string& member,
                   uint64_t start, uint64_t end, const std::string& start_text,
                   const std::string& end_text);

/// Queues the update of the description's `rows` flag after a unit that undid rows of
/// the table and added none: does its index still hold anything?
void AddRowsFlagFromIndex(std::string* buf, const TableInfo& info);

/// Deletes every row of `table` through its index, kTruncateChunk at a time (each chunk
/// atomic; a crash in between leaves a prefix deleted, and a rerun finishes it). Returns
/// whether the table has a description.
Result<bool> DeleteIndexedRows(SharedState& shared, RedisConnection& conn,
                               const std::string& table, const std::string& context);

}  // namespace amp::redis
