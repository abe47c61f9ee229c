#include "parallel/load_plan.h"

#include <arrow/type.h>

#include <algorithm>
#include <string>
#include <utility>

#include "load/job_validation.h"
#include "parallel/durable_records.h"
#include "parallel/parallel_error.h"

namespace amp::parallel {
namespace {

using streaming::LoadJob;

Status InvalidOptions(Status status) {
  return ParallelError(std::move(status), ErrorClass::kFatal, "INVALID_OPTIONS");
}

std::string JobId(const LoadJob& job) {
  return job.options.stream_id.empty() ? MakeStreamId(job.query, job.table)
                                       : job.options.stream_id;
}

bool Hybrid(const ParallelConfig& config) { return !config.max_block.has_value(); }

Result<SplitQuery> PartitionableQuery(const std::string& query) {
  auto split = SplitSettings(query);
  if (!split.ok()) return ParallelError(split.status(), ErrorClass::kFatal, "INVALID_QUERY");
  if (Status st = CheckPartitionable(*split); !st.ok()) {
    return ParallelError(st, ErrorClass::kFatal, "INVALID_QUERY");
  }
  return std::move(*split);
}

// The schema the workers will receive, asked before any data: the table must exist first.
Result<std::shared_ptr<arrow::Schema>> PartitionSchema(const LoadJob& job, const SplitQuery& split,
                                                      const std::stop_token& stop) {
  const ParallelConfig& config = *job.options.parallel;
  const BlockNumber min_block = config.min_block.value_or(0);
  QueryOptions options;
  options.stream = false;
  options.stop = stop;  // a stop ends a GetFlightInfo the server does not answer
  AMP_ASSIGN_OR_RETURN(
      auto info, job.client->GetInfo(
                     PartitionQuery(split, config.block_column, min_block, min_block + 1), options));
  auto field = info.schema->GetFieldByName(config.block_column);
  if (field == nullptr || field->type()->id() != arrow::Type::UINT64) {
    return InvalidOptions(Status::Invalid(
        "parallel loads partition on the block column '", config.block_column, "', which ",
        field == nullptr ? std::string("the query does not return (add it to the SELECT list, "
                                       "or set block_column)")
                         : "has type " + field->type()->ToString() + ", not uint64"));
  }
  return info.schema;
}

// Blocks the server has not synced yet would be recorded as loaded without rows.
Status CheckWithinHead(const ParallelConfig& config, const std::optional<Head>& head) {
  const BlockNumber end = *config.max_block;
  if (head && head->number >= end - 1) return Status::OK();
  return ParallelError(
      Status::Invalid("max_block ", end, " is beyond the head of '", config.table_name, "' (",
                      head ? "block " + std::to_string(head->number) : std::string("no data"),
                      "): the last block loaded would be ", end - 1,
                      "; lower max_block (--to-block), or leave it unset for hybrid mode"),
      ErrorClass::kFatal, "BEYOND_HEAD");
}

// Step 2.
Result<SourceFacts> InspectSource(const LoadJob& job, const SplitQuery& split,
                                  const std::stop_token& stop) {
  const ParallelConfig& config = *job.options.parallel;
  SourceFacts facts;
  AMP_ASSIGN_OR_RETURN(facts.schema, PartitionSchema(job, split, stop));
  if (stop.stop_requested()) return Stopped();
  AMP_ASSIGN_OR_RETURN(facts.head, DetectHead(*job.client, config, stop));
  if (!Hybrid(config)) {
    AMP_RETURN_NOT_OK(CheckWithinHead(config, facts.head));
    return facts;
  }
  if (!facts.head) return facts;
  const Head& head = *facts.head;
  auto x = HandoffBlock(head.number, config.min_block.value_or(0), config.reorg_buffer);
  if (!x) return facts;
  BlockHash hash = head.hash;
  if (*x != head.number || head.network.empty()) {
    AMP_ASSIGN_OR_RETURN(std::string blocks_table,
                         config.blocks_table.empty() ? DefaultBlocksTable(config.table_name)
                                                     : Result<std::string>(config.blocks_table));
    AMP_ASSIGN_OR_RETURN(hash, BlockHashAt(*job.client, blocks_table, *x, stop));
  }
  facts.handoff = NetworkCursor{*x, hash};
  return facts;
}

TableSpec DestinationSpec(const LoadJob& job, std::shared_ptr<arrow::Schema> schema) {
  TableSpec spec;
  spec.name = job.table;
  spec.schema = std::move(schema);
  spec.mode = job.options.mode;
  spec.key_columns = job.options.key_columns;
  spec.block_column = job.options.parallel->block_column;
  return spec;
}

// Step 3, after the table exists: what earlier runs committed.
Result<DurableState> ReadDurableState(LoaderSession& session, const std::string& job_id,
                                      bool hybrid) {
  DurableState state;
  AMP_ASSIGN_OR_RETURN(auto partitions, LoadPartitionProgress(session, job_id));
  for (const auto& p : partitions) state.done.push_back({p.start, p.done_through + 1});
  state.done = Normalize(std::move(state.done));
  if (!hybrid) return state;
  AMP_ASSIGN_OR_RETURN(auto record, LoadHandoffRecord(session, job_id));
  // A record without a head (the source was empty then) decides nothing: detect again.
  if (record && record->head) state.handoff = std::move(record);
  AMP_ASSIGN_OR_RETURN(state.live_exists, LiveCheckpointExists(session, job_id));
  return state;
}

// Where the catch-up of a hybrid load ends (exclusive), and its hand-off record.
BlockNumber PlanHandoff(const ParallelConfig& config, const SourceFacts& source,
                        const DurableState& durable, PreparedPlan& prepared) {
  ParallelPlan& plan = prepared.plan;
  BlockNumber end = plan.min_block;
  if (durable.handoff) {
    const HandoffRecord& stored = *durable.handoff;
    plan.network = stored.network;
    plan.head = stored.head;
    plan.handoff = stored.handoff;
    end = std::max(plan.min_block, stored.head->number + 1);
    prepared.handoff = stored;
  } else {
    HandoffRecord record;
    record.job = plan.job_id;
    if (source.head) {
      plan.network = source.head->network;
      plan.head = NetworkCursor{source.head->number, source.head->hash};
      record.network = source.head->network;
      record.head = plan.head;
      record.from = std::min(plan.min_block, source.head->number);
      record.handoff = source.handoff;
      plan.handoff = source.handoff;
      if (plan.handoff) end = std::max(plan.min_block, source.head->number + 1);
    }
    prepared.handoff = std::move(record);
    prepared.handoff_is_new = true;
  }
  if (!plan.handoff) {
    // No block to resume after (an empty chain, or min_block beyond the head): no catch-up;
    // the live stream starts at the server's first block, filtered to min_block.
    end = plan.min_block;
    if (plan.min_block > 0) {
      plan.live_query = LiveQueryFrom(prepared.split, config.block_column, plan.min_block);
    }
  }
  // The live stream owns the blocks after the hand-off: only gaps below it are filled.
  if (durable.live_exists && plan.handoff) end = std::min(end, plan.handoff->number + 1);
  return end;
}

}  // namespace

Status ValidateParallelJob(const LoadJob& job) {
  const ParallelConfig& config = *job.options.parallel;
  AMP_RETURN_NOT_OK(config.Validate());
  const bool hybrid = Hybrid(config);
  if (hybrid && job.options.stream == false) {
    return InvalidOptions(Status::Invalid(
        "hybrid mode (ParallelConfig::max_block unset) follows the chain head and needs "
        "stream = true"));
  }
  const auto& caps = job.loader->capabilities();
  if (config.num_workers > 1 && !caps.concurrent_sessions) {
    return InvalidOptions(Status::Invalid("loader '", job.loader->name(),
                                          "' does not support concurrent sessions; use 1 worker"));
  }
  AMP_RETURN_NOT_OK(load::ValidateJob(*job.loader, job.options, "parallel"));
  if (hybrid && !caps.supports_undo) {
    return ParallelError(Status::Invalid("hybrid mode needs a loader that can undo reorged "
                                         "blocks; '", job.loader->name(), "' cannot"),
                         ErrorClass::kFatal, "NO_UNDO");
  }
  return Status::OK();
}

std::optional<BlockNumber> HandoffBlock(BlockNumber head, BlockNumber min_block,
                                        uint64_t reorg_buffer) {
  std::optional<BlockNumber> x;
  if (head >= reorg_buffer) x = head - reorg_buffer;
  if (min_block > 0 && (!x || *x < min_block - 1)) x = min_block - 1;
  if (x && *x > head) x.reset();
  return x;
}

Result<PreparedPlan> PlanLoad(const LoadJob& job, SplitQuery split, const SourceFacts& source,
                              const DurableState& durable) {
  const ParallelConfig& config = *job.options.parallel;
  PreparedPlan prepared;
  prepared.split = std::move(split);
  prepared.spec = DestinationSpec(job, source.schema);
  ParallelPlan& plan = prepared.plan;
  plan.hybrid = Hybrid(config);
  plan.num_workers = config.num_workers;
  plan.min_block = config.min_block.value_or(0);
  plan.job_id = JobId(job);
  plan.live_checkpoint_exists = durable.live_exists;
  BlockNumber end = config.max_block.value_or(0);
  if (plan.hybrid) {
    plan.live_query = LiveQuery(prepared.split);
    end = PlanHandoff(config, source, durable, prepared);
  } else {
    plan.network = source.head->network;
    plan.head = NetworkCursor{source.head->number, source.head->hash};
  }
  plan.max_block = std::max(end, plan.min_block);
  for (const auto& span : durable.done) {
    const BlockNumber s = std::max(span.start, plan.min_block);
    const BlockNumber e = std::min(span.end, plan.max_block);
    if (s < e) plan.already_loaded.emplace_back(s, e);
  }
  auto gaps = Subtract({plan.min_block, plan.max_block}, durable.done);
  constexpr uint64_t kMaxPartitions = 1'000'000;
  if (const uint64_t n = CountPartitions(gaps, config.num_workers, config.partition_size);
      n > kMaxPartitions) {
    return InvalidOptions(Status::Invalid("the plan would have ", n, " partitions (more than ",
                                          kMaxPartitions, "); raise partition_size"));
  }
  plan.partitions = PlanPartitions(gaps, config.num_workers, config.partition_size);
  for (auto& p : plan.partitions) {
    p.query = PartitionQuery(prepared.split, config.block_column, p.start, p.end);
  }
  return prepared;
}

Result<PreparedPlan> Prepare(const LoadJob& job, LoaderSession& session, bool write,
                             const std::stop_token& stop) {
  AMP_RETURN_NOT_OK(ValidateParallelJob(job));
  AMP_ASSIGN_OR_RETURN(SplitQuery split, PartitionableQuery(job.query));
  AMP_ASSIGN_OR_RETURN(SourceFacts source, InspectSource(job, split, stop));
  const bool fresh = job.options.mode == LoadMode::kOverwrite;
  if (write) {
    AMP_RETURN_NOT_OK(job.loader->EnsureTable(DestinationSpec(job, source.schema)));
    if (fresh) AMP_RETURN_NOT_OK(job.loader->Truncate(job.table));
  }
  DurableState durable;
  if (!fresh) {
    AMP_ASSIGN_OR_RETURN(durable,
                         ReadDurableState(session, JobId(job), Hybrid(*job.options.parallel)));
  }
  return PlanLoad(job, std::move(split), source, durable);
}

}  // namespace amp::parallel
