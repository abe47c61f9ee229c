#include "loaders/redis/stored_checkpoints.h"

#include <hiredis/hiredis.h>

#include <map>
#include <utility>

namespace amp::redis {

Status CheckProgress(const SharedState& shared, const std::vector<std::string>& stream_ids,
                     const OutsideCommandFn& command) {
  std::map<std::string, std::pair<std::string, std::string>> tables;  // table -> (sid, id)
  for (const auto& sid : stream_ids) {
    AMP_ASSIGN_OR_RETURN(auto reply, command({"HGETALL", shared.keys.StateTables(sid)},
                                     "read the tables of stream " + sid));
    const auto map = ReplyToMap(*reply);
    for (auto& [table, id] : map) tables.emplace(table, std::make_pair(sid, id));
  }
  for (const auto& [table, written] : tables) {
    const auto& [sid, id] = written;
    AMP_ASSIGN_OR_RETURN(auto meta, command({"HMGET", shared.keys.Description(table), "id", "rows"},
                                   "read the description of table '" + table + "'"));
    AMP_ASSIGN_OR_RETURN(auto count, command({"ZCARD", shared.keys.Index(table)},
                                    "count the rows of table '" + table + "'"));
    const bool has_id = meta->elements > 0 && !IsNil(*meta->element[0]);
    const std::string now_id = has_id ? std::string(ReplyText(*meta->element[0])) : "";
    const bool rows = meta->elements > 1 && !IsNil(*meta->element[1]) &&
                      ReplyText(*meta->element[1]) == "1";
    std::string what;
    if (!has_id) {
      what = "that table no longer exists";
    } else if (now_id != id) {
      what = "that table was dropped and recreated since";
    } else if (rows && count->integer == 0) {
      what = "that table is empty now (its rows and block index were deleted)";
    } else {
      continue;
    }
    return FatalError("[redis] progress outlives its table: the checkpoint of stream " + sid +
                          " says rows were committed to table '" + table + "' at " +
                          shared.Target() + ", but " + what +
                          "; nothing was loaded. To load everything again, rerun with --reset, "
                          "or clear the progress with `ampsync reset --to URI --table " + table + "`",
                      kStaleProgressCode);
  }
  return Status::OK();
}

Result<StreamCheckpoint> ParseStoredCheckpoint(const std::string& stream_id, std::string_view json) {
  auto parsed = StreamCheckpoint::FromJson(std::string(json));
  if (!parsed.ok()) {
    return FatalError("[redis] stored checkpoint of stream " + stream_id + " is unreadable: " +
                          parsed.status().message(),
                      "state");
  }
  return std::move(*parsed);
}

}  // namespace amp::redis
