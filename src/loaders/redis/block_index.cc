#include "loaders/redis/block_index.h"

#include <hiredis/hiredis.h>

namespace amp::redis {
namespace {

constexpr size_t kTruncateChunk = 1000;

// Deletes the rows of one table whose block span intersects [ARGV[4], ARGV[5]] ("inf":
// unbounded), found through the block index, never by scanning the keyspace. The index
// `idx` scores each member with the row's last block; `idxs` holds the first block of the
// members whose span has more than one block. ARGV[6] > 0 limits the members visited (the
// chunked Truncate, with an unbounded end only).
constexpr const char* kUndoScript = R"lua(
local idx, idxs, kind = ARGV[1], ARGV[2], ARGV[3]
local b_inf = ARGV[5] == 'inf'
local b = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local has_starts = redis.call('EXISTS', idxs) == 1
local upper = '+inf'
if (not b_inf) and (not has_starts) then upper = ARGV[5] end
local res
if limit > 0 then
  res = redis.call('ZRANGEBYSCORE', idx, ARGV[4], upper, 'WITHSCORES', 'LIMIT', 0, limit)
else
  res = redis.call('ZRANGEBYSCORE', idx, ARGV[4], upper, 'WITHSCORES')
end
local n = 0
for i = 1, #res, 2 do
  local m = res[i]
  local drop = true
  if (not b_inf) and has_starts then
    local s = redis.call('ZSCORE', idxs, m)
    if not s then s = res[i + 1] end
    drop = tonumber(s) <= b
  end
  if drop then
    if kind == 'hash' or kind == 'string' then
      redis.call('DEL', m)
    else
      local colon = string.find(m, ':', 1, true)
      local len = tonumber(string.sub(m, 1, colon - 1))
      local key = string.sub(m, colon + 1, colon + len)
      local elem = string.sub(m, colon + len + 1)
      if kind == 'set' then redis.call('SREM', key, elem)
      elseif kind == 'sorted_set' then redis.call('ZREM', key, elem)
      elseif kind == 'list' then redis.call('LREM', key, 1, elem)
      elseif kind == 'stream' then redis.call('XDEL', key, elem) end
    end
    redis.call('ZREM', idx, m)
    if has_starts then redis.call('ZREM', idxs, m) end
    n = n + 1
  end
end
return n
)lua";

// After a unit that undid rows of a table and added none: does the table still hold rows
// (its block index is not empty)? KEYS: the description, the block index.
constexpr const char* kRowsFlagScript =
    "redis.call('HSET', KEYS[1], 'rows', redis.call('ZCARD', KEYS[2]) > 0 and '1' or '0') "
    "return 1";

}  // namespace

std::string_view UndoScript() { return kUndoScript; }

void AddUndo(UnitBody& body, const std::string& undo_sha, const TableInfo& info,
             const BlockInterval& blocks) {
  // Scores are doubles: exact for block numbers below 2^53.
  constexpr uint64_t kExact = uint64_t{1} << 53;
  const std::string end = blocks.end >= kExact ? "inf" : std::to_string(blocks.end);
  body.Command({"EVALSHA", undo_sha, "0", info.idx, info.idxs, StructureName(info.structure),
                std::to_string(blocks.start), end, "0"});
}

void AddIndexEntry(UnitBody& body, const TableInfo& info, const std::string& member,
                   uint64_t start, uint64_t end, const std::string& start_text,
                   const std::string& end_text) {
  body.Command({"ZADD", info.idx, end_text, member});
  if (start != end) body.Command({"ZADD", info.idxs, start_text, member});
}

void AddRowsFlagFromIndex(std::string* buf, const TableInfo& info) {
  AppendCommand(buf, {"EVAL", kRowsFlagScript, "2", info.meta, info.idx});
}

Result<bool> DeleteIndexedRows(SharedState& shared, RedisConnection& conn,
                               const std::string& table, const std::string& context) {
  AMP_ASSIGN_OR_RETURN(auto kind_reply,
                       conn.Command({"HGET", shared.keys.Description(table), "data_structure"}, context));
  const std::string undo_sha = shared.Shas().undo;
  if (IsNil(*kind_reply)) return false;
  const std::string kind(ReplyText(*kind_reply));
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto n, conn.Command({"EVALSHA", undo_sha, "0", shared.keys.Index(table),
                                               shared.keys.IndexStarts(table), kind, "-inf", "inf",
                                               std::to_string(kTruncateChunk)},
                                              context));
    if (n->type != REDIS_REPLY_INTEGER || n->integer == 0) break;
  }
  return true;
}

}  // namespace amp::redis
