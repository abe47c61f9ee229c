// Parallel execution of a load (amp/parallel.h): the plan, the workers, the hybrid hand-off.
// This file drives the run and owns what it reports; each step lives in a file of its own:
//
//   plan     load_plan.h: validate the job, ask the source (schema, head, hand-off hash),
//            create the destination table, read what earlier runs committed (the typed
//            records of amp/checkpoint.h, through durable_records.h), and cut the blocks
//            still missing into partitions;
//   workers  executor.h: num_workers threads take partitions from a shared queue;
//            partition_task.h: each partition's wrapped batch query (ordered by the block
//            column) is cut at block boundaries every ParallelConfig::batch_size rows and
//            committed through the load engine's UnitWriter with the partition's progress
//            record in the same transaction; a retryable error restarts the partition
//            after its last commit, with backoff;
//   hand-off handoff.h (hybrid only, once every partition succeeded): the live stream of
//            streaming::RunLoad continues what the workers wrote, resuming after the
//            hand-off block X saved in the hand-off record, its first commit deleting the
//            rows of blocks > X the workers wrote. A rerun after the hand-off resumes the
//            live stream from its own checkpoint.
// The seed's log lines go to spdlog's default logger (info): "Worker 0 processing blocks
// 0 to 250000", "Partition 0 completed: 1,234,567 rows in 45.2s".
#pragma once

#include <stop_token>

#include "amp/client.h"
#include "amp/load_options.h"
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
