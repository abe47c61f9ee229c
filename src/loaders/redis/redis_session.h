// A "redis" loader session: one unit of work is one MULTI/EXEC on the session's
// connection, holding the undo, the rows with their index entries and the checkpoint.
//
// Before the MULTI every key the unit writes is type-checked (key_type_check.h), so a key
// of another type fails the unit with nothing written. With the default key patterns every
// such key is known up front (KnownUpFront in key_layout.h): the checks run at the unit's
// first table and the unit is streamed as it is encoded, `pipeline` commands at a time,
// overlapping encoding with the server's queueing. Custom row-key patterns buffer the unit
// and send it at Commit() after checking every row key. Commands that must not join the
// transaction (row id reservations, checkpoint reads) go through a second connection while
// a MULTI is open. A commit whose EXEC reply is lost drops the connection and reports
// kRetryCommit: the engine reads the checkpoint to learn whether it landed.
#pragma once

#include <memory>

#include "amp/loader.h"
#include "loaders/redis/shared_state.h"

namespace amp::redis {

std::unique_ptr<LoaderSession> MakeRedisSession(std::shared_ptr<SharedState> shared,
                                                std::unique_ptr<RedisConnection> conn);

}  // namespace amp::redis
