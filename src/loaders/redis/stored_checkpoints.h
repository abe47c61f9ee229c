// The checkpoints a "redis" loader stores (`amp:state:<stream_id>`, the JSON of
// StreamCheckpoint) and the check that they still describe the tables they wrote.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "amp/loader.h"
#include "loaders/redis/shared_state.h"

namespace amp::redis {

/// A stored checkpoint; an unreadable one is a kFatal error naming the stream.
Result<StreamCheckpoint> ParseStoredCheckpoint(const std::string& stream_id, std::string_view json);

/// Runs one command outside the unit's transaction.
using OutsideCommandFn =
    std::function<Result<ReplyPtr>(const std::vector<std::string>& args, const std::string& context)>;

/// Refuses (kStaleProgressCode) checkpoints whose table is not the one they wrote: its
/// description is gone or has another id (dropped, or dropped and recreated), or it held
/// rows after our last commit and has none now (its rows and block index deleted).
/// Checkpoints written before amp:state_tables existed have no entry there and are
/// accepted; their next commit records it.
Status CheckProgress(const SharedState& shared, const std::vector<std::string>& stream_ids,
                     const OutsideCommandFn& command);

}  // namespace amp::redis
