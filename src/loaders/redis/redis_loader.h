// The "redis" loader: loads query results into Redis (hiredis) as hashes, JSON strings,
// streams, sets, sorted sets or lists, with reorg undo through a per-table block index
// and the resume checkpoint committed in the same MULTI/EXEC as the rows (exactly-once).
// User documentation: docs/loaders/redis.md.
//
//   LoaderRegistry registry;
//   RegisterRedisLoader(registry);
//   AMP_ASSIGN_OR_RETURN(auto loader, registry.Create("redis",
//       {{"host", "127.0.0.1"}, {"port", "6379"}, {"password", "env:REDIS_PASSWORD"}}));
//   // or ParseConnectionUri("redis://127.0.0.1:6379/0?data_structure=string")
//
// Design in brief (details in the files named, and the doc):
//  * Keys (all under the `prefix` option): rows `{table}:{_amp_block_start}:{_amp_seq}` by
//    default (key_pattern), the table's description `amp:table:<t>` (hash: columns and
//    their Arrow types, data structure), the block index `amp:idx:<t>` (sorted set: member
//    = row key, score = the row's last block; `amp:idxs:<t>` holds first blocks when they
//    differ), checkpoints `amp:state:<stream_id>` with the stream list `amp:streams`.
//  * A unit is one MULTI/EXEC: type checks of the keys it will write first (one Lua call
//    per 1000 keys, nothing written on a mismatch), then MULTI, the undo (a Lua script that
//    walks the index: never a SCAN), the rows and index entries, the checkpoint, EXEC,
//    pipelined `pipeline` commands at a time. With the default key patterns every key is
//    known or new up front, so the unit is streamed as it is encoded; custom row-key
//    patterns buffer it and send it at Commit() after checking every row key.
//  * ReadRows (for `ampsync audit`) walks the index for the block span and decodes the
//    stored text back into the query's Arrow types.
//
// The folder, one seam a file:
//   redis_options       the option table, the settings, redis:// URIs
//   key_layout          where every key lives; row keys from the key pattern
//   table_description   EnsureTable: spec checks, the stored description of a table
//   row_writers         one writer per data structure: a row -> commands + index entries
//   block_index         the block index: undo (Lua), index entries, chunked deletes
//   key_type_check      the WRONGTYPE checks before a unit writes (Lua)
//   redis_session       a unit = one MULTI/EXEC: streamed or buffered, pipelined, commit
//   stored_checkpoints  reading checkpoints back; progress that outlives its table
//   redis_reader        ReadRows
//   table_reset         Truncate, DropTable, ResetProgress
//   redis_client        the hiredis connection, RESP encoding, error classes
//   redis_codec         Arrow values <-> stored text and JSON; key patterns
#pragma once

#include <memory>

#include "amp/loader.h"

namespace amp {

/// Registers the "redis" loader (URI scheme redis://; options in redis_options.h).
void RegisterRedisLoader(LoaderRegistry& registry);

namespace redis {

/// The factory behind the registry entry (config validated by the registry). Does no
/// I/O: connection errors surface at the first EnsureTable / OpenSession.
Result<std::unique_ptr<Loader>> MakeRedisLoader(const LoaderConfig& config);

}  // namespace redis
}  // namespace amp
