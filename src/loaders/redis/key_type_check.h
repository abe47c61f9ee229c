// Before a unit writes anything, every key it will write is checked to hold the Redis type
// the loader writes there (or nothing): a key of the user's holding another type is a
// kFatal WRONGTYPE error naming it, and nothing of the unit is written.
#pragma once

#include <string_view>

#include "loaders/redis/shared_state.h"
#include "loaders/redis/unit_body.h"

namespace amp::redis {

/// The Lua type-check script (loaded by AppendScriptLoads).
std::string_view TypeCheckScript();

/// Reloads the scripts (a restarted server has forgotten them), then checks `checks`
/// (Redis type -> keys), one script call per kCheckChunk keys.
Status CheckKeyTypes(const SharedState& shared, RedisConnection& conn,
                     const UnitBody::TypeChecks& checks);

}  // namespace amp::redis
