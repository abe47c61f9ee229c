// What earlier runs of a parallel load committed, read back through the typed records of
// amp/checkpoint.h: the one place of the wing that knows a record's stored key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "amp/checkpoint.h"
#include "amp/loader.h"
#include "amp/status.h"

namespace amp::parallel {

/// Every partition record of `job`, in block order of their starts.
Result<std::vector<PartitionProgress>> LoadPartitionProgress(LoaderSession& session,
                                                             const std::string& job);

/// The hand-off record of `job`, if one was saved.
Result<std::optional<HandoffRecord>> LoadHandoffRecord(LoaderSession& session,
                                                       const std::string& job);

/// Whether `job`'s live stream has committed (the hybrid hand-off already happened).
Result<bool> LiveCheckpointExists(LoaderSession& session, const std::string& job);

}  // namespace amp::parallel
