// Parallel execution of a load (amp/parallel.h): the plan, the workers, the hybrid hand-off.
//
//   plan     split the query (SETTINGS stream removed), create the destination table from
//            the GetFlightInfo schema, read what earlier runs committed (per-partition
//            checkpoints "<job>/range/<start>", the hand-off record "<job>/plan" and the
//            live stream's checkpoint "<job>"), find the head (hybrid), and cut the blocks
//            still missing into partitions;
//   workers  num_workers threads take partitions from a shared queue. Each runs the
//            wrapped batch query of its partition (ordered by the block column) and commits
//            every ParallelConfig::batch_size rows at a block boundary, the partition's
//            progress checkpoint in the same transaction; a retryable error restarts the
//            partition after its last commit, with backoff. Memory: each worker holds at
//            most batch_size rows plus the batch being read;
//   hand-off hybrid only, once every partition succeeded: streaming::RunLoad of the live
//            query, resuming (amp-resume) after the hand-off block X saved in the plan
//            record, whose first commit deletes the rows of blocks > X that the workers
//            wrote (LoadJob::undo_until_first_commit). A rerun after the hand-off resumes
//            the live stream from its own checkpoint.
// The seed's log lines go to spdlog's default logger (info): "Worker 0 processing blocks
// 0 to 250000", "Partition 0 completed: 1,234,567 rows in 45.2s".
#pragma once

#include <stop_token>

#include "amp/client.h"
#include "amp/load.h"
#include "amp/parallel.h"
#include "amp/status.h"
#include "load/load_driver.h"

namespace amp::streaming {

/// Runs a load whose options have `parallel` set, on the calling thread, until the range
/// is loaded (historical), the load fails or stops, or forever (hybrid). Returns OK or the
/// error that ended it (also pushed as the last result).
Status RunParallelLoad(LoadJob job, std::stop_token stop, ResultSink& sink);

/// What RunParallelLoad would do, without writing anything (the destination is read for
/// what earlier runs committed; the server for the schema and, in hybrid mode, the head).
Result<ParallelPlan> PlanParallelLoad(const LoadJob& job);

}  // namespace amp::streaming
