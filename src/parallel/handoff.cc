#include "parallel/handoff.h"

#include <spdlog/spdlog.h>

#include <string>

#include "parallel/parallel_error.h"

namespace amp::parallel {

Status SaveHandoffRecord(load::UnitWriter& writer, const HandoffRecord& record,
                         const RetryOptions& retry, std::stop_token stop) {
  AMP_ASSIGN_OR_RETURN(StreamCheckpoint row, record.ToCheckpoint());
  return load::RetryStep(
      retry, std::move(stop), "parallel",
      [&]() -> Status {
        Status st = writer.Begin();
        if (st.ok()) st = writer.Commit(row).status();
        if (!st.ok()) writer.Abort();
        return st;
      },
      [] { return Stopped(); });
}

streaming::LoadJob LiveJob(const streaming::LoadJob& job, const ParallelPlan& plan) {
  streaming::LoadJob live;
  live.client = job.client;
  live.query = plan.live_query;
  live.table = job.table;
  live.options = job.options;
  live.options.parallel.reset();
  live.options.stream = true;
  if (live.options.mode == LoadMode::kOverwrite) live.options.mode = LoadMode::kAppend;
  live.options.block_column = job.options.parallel->block_column;
  live.options.stream_id = plan.job_id;
  live.options.resume = true;
  live.loader = job.loader;
  live.continues.emplace();  // the workers prepared and wrote the table
  live.result_metadata["parallel_phase"] = "live";
  if (plan.handoff) {
    // The stream's view of the hand-off block: a completed microbatch [X, X] with X's hash.
    StreamCheckpoint start;
    start.stream_id = plan.job_id;
    start.cursor.networks[plan.network] = *plan.handoff;
    BlockRange at;
    at.network = plan.network;
    at.start = plan.handoff->number;
    at.end = plan.handoff->number;
    at.hash = plan.handoff->hash;
    start.recent_ranges.push_back(at);
    live.continues->after = std::move(start);
    live.continues->overlap = BlockInterval{plan.handoff->number + 1, kMaxBlock};
    live.result_metadata["handoff_block"] = std::to_string(plan.handoff->number);
  }
  return live;
}

void LogLiveStart(const ParallelPlan& plan, uint64_t reorg_buffer) {
  if (plan.live_checkpoint_exists) {
    spdlog::info("Resuming the live stream from its checkpoint");
  } else if (plan.handoff) {
    spdlog::info("Handing over to the live stream after block {} (head {} minus reorg buffer {})",
                 plan.handoff->number, plan.head ? plan.head->number : 0, reorg_buffer);
  } else {
    spdlog::info("Starting the live stream from the server's first block");
  }
}

}  // namespace amp::parallel
