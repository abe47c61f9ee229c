// The hybrid hand-off: how a parallel load that caught up to the head passes the table to
// its live stream without a gap or a duplicate (amp/parallel.h tells the whole story).
//
// - The hand-off record (amp/checkpoint.h: HandoffRecord) is saved in a unit of its own
//   before any worker writes, so a rerun hands over at the same block X whatever it still
//   has to catch up.
// - The live stream is the streaming load of the user's query, keyed by the job id. It
//   continues what the workers wrote (LoadJob::continues): when it has no checkpoint of
//   its own it resumes after X, and its first unit deletes the rows of blocks > X the
//   workers wrote, in the same transaction as the reloaded rows. A rerun after the
//   hand-off resumes from the live stream's own checkpoint.
#pragma once

#include <stop_token>

#include "amp/checkpoint.h"
#include "amp/parallel.h"
#include "amp/retry.h"
#include "amp/status.h"
#include "load/load_driver.h"
#include "load/unit_writer.h"

namespace amp::parallel {

/// Commits `record` alone through `writer`, retrying what is not kFatal.
Status SaveHandoffRecord(load::UnitWriter& writer, const HandoffRecord& record,
                         const RetryOptions& retry, std::stop_token stop);

/// The live load that follows the catch-up of `plan` (hybrid): `job`'s options with
/// streaming on, kOverwrite as kAppend (the table was emptied once already), the job id
/// as stream id, and the continuation of the workers' rows described above.
streaming::LoadJob LiveJob(const streaming::LoadJob& job, const ParallelPlan& plan);

/// Logs where the live stream starts (from its checkpoint, after X, or at the first block).
void LogLiveStart(const ParallelPlan& plan, uint64_t reorg_buffer);

}  // namespace amp::parallel
