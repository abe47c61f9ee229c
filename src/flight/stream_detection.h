// Client-side copy of the server's "is this a streaming query?" decision
// (crates/services/server/src/helpers.rs is_streaming): true iff the top-level query has a
// `SETTINGS` entry whose key is `stream` (case-insensitive) and whose value is the boolean
// literal `true` (`stream = 1` and `stream = 'true'` do not count).
//
// We only need this to know how to treat the batches (validate ranges or not) before the
// first one arrives; the server's own decision is baked into the opaque ticket, which we
// deliberately do not decode. A tokenizer (not a substring search) keeps string literals,
// quoted identifiers, comments and subqueries from producing false positives.
#pragma once

#include <string_view>

namespace amp::flight {

/// True when `sql` asks the server to stream (`... SETTINGS stream = true` at top level).
bool SqlRequestsStreaming(std::string_view sql);

}  // namespace amp::flight
