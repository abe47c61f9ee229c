#include "loaders/redis/key_type_check.h"

#include <hiredis/hiredis.h>

#include <algorithm>

namespace amp::redis {
namespace {

// Keys per type-check script call.
constexpr size_t kCheckChunk = 1000;

// Returns {key, type} for the first key (ARGV[2..]) holding a type other than ARGV[1].
constexpr const char* kTypeCheckScript = R"lua(
for i = 2, #ARGV do
  local t = redis.call('TYPE', ARGV[i])['ok']
  if t ~= 'none' and t ~= ARGV[1] then return {ARGV[i], t} end
end
return false
)lua";

}  // namespace

std::string_view TypeCheckScript() { return kTypeCheckScript; }

Status CheckKeyTypes(const SharedState& shared, RedisConnection& conn,
                     const UnitBody::TypeChecks& checks) {
  std::string prelude;
  size_t prelude_commands = AppendScriptLoads(&prelude);
  const std::string typecheck_sha = shared.Shas().type_check;
  for (const auto& [type, keys] : checks) {
    for (size_t i = 0; i < keys.size(); i += kCheckChunk) {
      const size_t m = std::min(kCheckChunk, keys.size() - i);
      AppendArrayHeader(&prelude, 4 + m);
      AppendBulk(&prelude, "EVALSHA");
      AppendBulk(&prelude, typecheck_sha);
      AppendBulk(&prelude, "0");
      AppendBulk(&prelude, type);
      for (size_t k = i; k < i + m; ++k) AppendBulk(&prelude, keys[k]);
      ++prelude_commands;
    }
  }
  AMP_RETURN_NOT_OK(conn.AppendRaw(prelude));
  Status first_error;
  std::string mismatch;
  for (size_t i = 0; i < prelude_commands; ++i) {
    AMP_ASSIGN_OR_RETURN(auto r, conn.ReadReply("check key types"));
    if (IsError(*r)) {
      if (first_error.ok()) first_error = conn.ServerError(ReplyText(*r), "check key types");
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && mismatch.empty()) {
      mismatch = "key '" + std::string(ReplyText(*r->element[0])) + "' holds a " +
                 std::string(ReplyText(*r->element[1]));
    }
  }
  AMP_RETURN_NOT_OK(first_error);
  if (!mismatch.empty()) {
    return FatalError("[redis] refusing to write to " + shared.Target() + ": " + mismatch +
                          ", a type the loader does not write there (WRONGTYPE); nothing of "
                          "the unit was written. Remove or rename that key (or use another "
                          "prefix / key_pattern) and rerun",
                      "WRONGTYPE");
  }
  return Status::OK();
}

}  // namespace amp::redis
