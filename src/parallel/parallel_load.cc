#include "parallel/parallel_load.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "parallel/partition_planner.h"
#include "parallel/query_rewrite.h"
#include "streaming/backoff.h"
#include "streaming/batch_coalescer.h"

namespace amp::streaming {
namespace {

using Clock = std::chrono::steady_clock;
using parallel::BlockSpan;

Status ParallelError(Status status, ErrorClass cls, const char* code) {
  return WithErrorInfo(status, cls, "parallel", code);
}

// 1234567 -> "1,234,567" (the seed's log format).
std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", s);
  return buf;
}

// Sleeps `delay`, returning early when `stop` is requested.
void SleepUnlessStopped(std::chrono::milliseconds delay, std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, delay, [] { return false; });
}

struct Head {
  std::string network;
  BlockNumber number = 0;
  BlockHash hash;
};

// The head of the source table: the synced range a batch query reports (amp-protocol.md
// §2.4: app_metadata ranges of a batch query are the tables' synced ranges), else the
// query's MAX. nullopt: the table has no data yet.
Result<std::optional<Head>> DetectHead(const Client& client, const ParallelConfig& config,
                                       const std::stop_token& stop) {
  AMP_ASSIGN_OR_RETURN(auto sql, parallel::HeadQuery(config.table_name, config.block_column));
  QueryOptions options;
  options.stream = false;
  options.stop = stop;
  AMP_ASSIGN_OR_RETURN(auto stream, client.Execute(sql, options));
  std::vector<BlockRange> ranges;
  std::optional<BlockNumber> max_value;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto next, stream->Next());
    if (!next) break;
    if (!next->metadata.ranges.empty()) ranges = next->metadata.ranges;
    const auto& batch = next->batch;
    if (batch == nullptr || batch->num_rows() == 0 || batch->num_columns() == 0) continue;
    const auto& column = batch->column(0);
    if (column->type_id() == arrow::Type::UINT64 && column->IsValid(0)) {
      max_value = std::static_pointer_cast<arrow::UInt64Array>(column)->Value(0);
    } else if (column->type_id() == arrow::Type::INT64 && column->IsValid(0)) {
      max_value = static_cast<BlockNumber>(std::static_pointer_cast<arrow::Int64Array>(column)->Value(0));
    }
  }
  if (ranges.size() > 1) {
    return ParallelError(Status::Invalid("head detection: '", config.table_name, "' spans ",
                                         ranges.size(), " networks; a parallel load needs one"),
                         ErrorClass::kFatal, "MULTI_NETWORK");
  }
  if (ranges.size() == 1) {
    return std::optional<Head>(Head{ranges[0].network, ranges[0].end, ranges[0].hash});
  }
  if (max_value) return std::optional<Head>(Head{"", *max_value, BlockHash{}});
  return std::optional<Head>();
}

// The hash of block `number`, read from the blocks table (hybrid hand-off cursor).
Result<BlockHash> BlockHashAt(const Client& client, const std::string& blocks_table,
                              BlockNumber number, const std::stop_token& stop) {
  AMP_ASSIGN_OR_RETURN(auto sql, parallel::BlockHashQuery(blocks_table, number));
  QueryOptions options;
  options.stream = false;
  options.stop = stop;
  auto fail = [&](const std::string& why) {
    return ParallelError(
        Status::Invalid("hybrid hand-off needs the hash of block ", number, " from '",
                        blocks_table, "': ", why,
                        " (set ParallelConfig::blocks_table / --blocks-table to a table with "
                        "block_num and hash columns)"),
        ErrorClass::kFatal, "HANDOFF_HASH");
  };
  auto stream = client.Execute(sql, options);
  if (!stream.ok()) {
    if (ClassOf(stream.status()) != ErrorClass::kFatal || stream.status().IsCancelled()) {
      return stream.status();
    }
    return fail(stream.status().message());
  }
  while (true) {
    auto next = (*stream)->Next();
    if (!next.ok()) {
      if (ClassOf(next.status()) != ErrorClass::kFatal || next.status().IsCancelled()) {
        return next.status();
      }
      return fail(next.status().message());
    }
    if (!*next) break;
    const auto& batch = (*next)->batch;
    if (batch == nullptr || batch->num_rows() == 0) continue;
    auto column = batch->GetColumnByName("hash");
    if (column == nullptr) return fail("the result has no 'hash' column");
    std::string_view bytes;
    if (column->type_id() == arrow::Type::FIXED_SIZE_BINARY) {
      bytes = std::static_pointer_cast<arrow::FixedSizeBinaryArray>(column)->GetView(0);
    } else if (column->type_id() == arrow::Type::BINARY) {
      bytes = std::static_pointer_cast<arrow::BinaryArray>(column)->GetView(0);
    } else {
      return fail("its 'hash' column has type " + column->type()->ToString());
    }
    if (bytes.size() != 32) return fail("its hash is not 32 bytes");
    BlockHash hash;
    std::copy(bytes.begin(), bytes.end(), hash.bytes.begin());
    return hash;
  }
  return fail("no such block");
}

// Everything a run needs to know before its workers start.
struct PreparedPlan {
  ParallelPlan plan;
  parallel::SplitQuery split;
  TableSpec spec;
  std::optional<StreamCheckpoint> handoff;  ///< Hybrid: the live stream starts after it.
  bool handoff_is_new = false;              ///< Not yet saved in the destination.
};

// `write`: create/truncate the destination table (a real run) or only read (dry run).
Result<PreparedPlan> Prepare(const LoadJob& job, LoaderSession& session, bool write,
                             const std::stop_token& stop) {
  const ParallelConfig& config = *job.options.parallel;
  AMP_RETURN_NOT_OK(config.Validate());
  PreparedPlan prepared;
  ParallelPlan& plan = prepared.plan;
  plan.hybrid = !config.max_block.has_value();
  plan.num_workers = config.num_workers;
  plan.min_block = config.min_block.value_or(0);
  plan.job_id = job.options.stream_id.empty() ? MakeStreamId(job.query, job.table)
                                              : job.options.stream_id;
  if (plan.hybrid && job.options.stream == false) {
    return ParallelError(Status::Invalid("hybrid mode (ParallelConfig::max_block unset) follows "
                                         "the chain head and needs stream = true"),
                         ErrorClass::kFatal, "INVALID_OPTIONS");
  }
  const auto& caps = job.loader->capabilities();
  if (config.num_workers > 1 && !caps.concurrent_sessions) {
    return ParallelError(Status::Invalid("loader '", job.loader->name(),
                                         "' does not support concurrent sessions; use 1 worker"),
                         ErrorClass::kFatal, "INVALID_OPTIONS");
  }
  if (std::find(caps.modes.begin(), caps.modes.end(), job.options.mode) == caps.modes.end()) {
    return ParallelError(Status::Invalid("loader '", job.loader->name(),
                                         "' does not support mode ", ToString(job.options.mode)),
                         ErrorClass::kFatal, "UNSUPPORTED_MODE");
  }
  if (job.options.mode == LoadMode::kUpsert && job.options.key_columns.empty()) {
    return ParallelError(Status::Invalid("mode upsert needs LoadOptions::key_columns"),
                         ErrorClass::kFatal, "INVALID_OPTIONS");
  }
  if (plan.hybrid && !caps.supports_undo) {
    return ParallelError(Status::Invalid("hybrid mode needs a loader that can undo reorged "
                                         "blocks; '", job.loader->name(), "' cannot"),
                         ErrorClass::kFatal, "NO_UNDO");
  }

  auto split = parallel::SplitSettings(job.query);
  if (!split.ok()) {
    return ParallelError(split.status(), ErrorClass::kFatal, "INVALID_QUERY");
  }
  prepared.split = std::move(*split);
  if (Status st = parallel::CheckPartitionable(prepared.split); !st.ok()) {
    return ParallelError(st, ErrorClass::kFatal, "INVALID_QUERY");
  }
  plan.live_query = plan.hybrid ? parallel::LiveQuery(prepared.split) : "";

  // The schema the workers will receive, before any data: the table must exist first.
  QueryOptions info_options;
  info_options.stream = false;
  info_options.stop = stop;  // a stop ends a GetFlightInfo the server does not answer
  AMP_ASSIGN_OR_RETURN(
      auto info, job.client->GetInfo(parallel::PartitionQuery(prepared.split, config.block_column,
                                                               plan.min_block, plan.min_block + 1),
                                     info_options));
  auto field = info.schema->GetFieldByName(config.block_column);
  if (field == nullptr || field->type()->id() != arrow::Type::UINT64) {
    return ParallelError(
        Status::Invalid("parallel loads partition on the block column '", config.block_column,
                        "', which ",
                        field == nullptr ? std::string("the query does not return (add it to "
                                                       "the SELECT list, or set block_column)")
                                         : "has type " + field->type()->ToString() + ", not uint64"),
        ErrorClass::kFatal, "INVALID_OPTIONS");
  }
  if (!plan.hybrid) {
    // Blocks the server has not synced yet would be recorded as loaded without rows.
    const BlockNumber end = *config.max_block;
    if (stop.stop_requested()) return Status::Cancelled("[parallel] stopped");
    AMP_ASSIGN_OR_RETURN(auto head, DetectHead(*job.client, config, stop));
    if (!head || head->number < end - 1) {
      return ParallelError(
          Status::Invalid("max_block ", end, " is beyond the head of '", config.table_name,
                          "' (", head ? "block " + std::to_string(head->number) : std::string("no data"),
                          "): the last block loaded would be ", end - 1,
                          "; lower max_block (--to-block), or leave it unset for hybrid mode"),
          ErrorClass::kFatal, "BEYOND_HEAD");
    }
    plan.network = head->network;
    plan.head = NetworkCursor{head->number, head->hash};
  }
  prepared.spec.name = job.table;
  prepared.spec.schema = info.schema;
  prepared.spec.mode = job.options.mode;
  prepared.spec.key_columns = job.options.key_columns;
  prepared.spec.block_column = config.block_column;
  const bool fresh = job.options.mode == LoadMode::kOverwrite;
  if (write) {
    AMP_RETURN_NOT_OK(job.loader->EnsureTable(prepared.spec));
    if (fresh) AMP_RETURN_NOT_OK(job.loader->Truncate(job.table));
  }

  // What earlier runs committed (overwrite starts over).
  std::vector<BlockSpan> done;
  std::optional<StreamCheckpoint> handoff;
  std::optional<StreamCheckpoint> live;
  if (!fresh) {
    AMP_ASSIGN_OR_RETURN(auto ranges,
                         session.LoadCheckpoints(PartitionProgress::StreamIdPrefix(plan.job_id)));
    for (const auto& cp : ranges) {
      for (const auto& r : cp.recent_ranges) {
        if (r.end + 1 > r.start) done.push_back({r.start, r.end + 1});
      }
    }
    done = parallel::Normalize(std::move(done));
    if (plan.hybrid) {
      AMP_ASSIGN_OR_RETURN(handoff, session.LoadCheckpoint(HandoffRecord::StreamId(plan.job_id)));
      AMP_ASSIGN_OR_RETURN(live, session.LoadCheckpoint(plan.job_id));
    }
  }
  plan.live_checkpoint_exists = live.has_value();

  BlockNumber end = plan.min_block;
  if (!plan.hybrid) {
    end = *config.max_block;
  } else if (handoff && !handoff->recent_ranges.empty()) {
    // A rerun hands over where the first run decided (see amp/parallel.h).
    const BlockRange& covered = handoff->recent_ranges.front();
    plan.network = covered.network;
    plan.head = NetworkCursor{covered.end, covered.hash};
    if (!handoff->cursor.networks.empty()) plan.handoff = handoff->cursor.networks.begin()->second;
    end = std::max(plan.min_block, covered.end + 1);
    prepared.handoff = handoff;
  } else {
    if (stop.stop_requested()) return Status::Cancelled("[parallel] stopped");
    AMP_ASSIGN_OR_RETURN(auto head, DetectHead(*job.client, config, stop));
    StreamCheckpoint record;
    record.stream_id = HandoffRecord::StreamId(plan.job_id);
    if (head) {
      plan.network = head->network;
      plan.head = NetworkCursor{head->number, head->hash};
      BlockRange covered;
      covered.network = head->network;
      covered.start = plan.min_block;
      covered.end = head->number;
      covered.hash = head->hash;
      record.recent_ranges.push_back(covered);
      // X = head - reorg_buffer, but never before min_block - 1 (nothing below min_block
      // is loaded, by the workers or the stream).
      std::optional<BlockNumber> x;
      if (head->number >= config.reorg_buffer) x = head->number - config.reorg_buffer;
      if (plan.min_block > 0 && (!x || *x < plan.min_block - 1)) x = plan.min_block - 1;
      if (x && *x > head->number) x.reset();  // min_block beyond the head: stream from it
      if (x) {
        BlockHash hash = head->hash;
        if (*x != head->number || head->network.empty()) {
          AMP_ASSIGN_OR_RETURN(std::string blocks_table,
                               config.blocks_table.empty()
                                   ? parallel::DefaultBlocksTable(config.table_name)
                                   : Result<std::string>(config.blocks_table));
          AMP_ASSIGN_OR_RETURN(hash, BlockHashAt(*job.client, blocks_table, *x, stop));
        }
        plan.handoff = NetworkCursor{*x, hash};
        record.cursor.networks[head->network] = *plan.handoff;
        end = std::max(plan.min_block, head->number + 1);
      }
    }
    prepared.handoff = record;
    prepared.handoff_is_new = true;
  }
  if (plan.hybrid && !plan.handoff) {
    // No block to resume after (an empty chain, or min_block beyond the head): no catch-up;
    // the live stream starts at the server's first block, filtered to min_block.
    end = plan.min_block;
    if (plan.min_block > 0) {
      parallel::SplitQuery filtered = prepared.split;
      filtered.body = "SELECT * FROM (\n" + prepared.split.body + "\n) AS _amp_live WHERE " +
                      parallel::QuoteIdentifier(config.block_column) +
                      " >= " + std::to_string(plan.min_block);
      plan.live_query = parallel::LiveQuery(filtered);
    }
  }
  if (plan.hybrid && live && plan.handoff) {
    // The live stream owns the blocks after the hand-off: only gaps below it are filled.
    end = std::min(end, plan.handoff->number + 1);
  }
  plan.max_block = std::max(end, plan.min_block);
  for (const auto& span : done) {
    const BlockNumber s = std::max(span.start, plan.min_block);
    const BlockNumber e = std::min(span.end, plan.max_block);
    if (s < e) plan.already_loaded.emplace_back(s, e);
  }
  auto gaps = parallel::Subtract({plan.min_block, plan.max_block}, done);
  constexpr uint64_t kMaxPartitions = 1'000'000;
  if (const uint64_t n = parallel::CountPartitions(gaps, config.num_workers, config.partition_size);
      n > kMaxPartitions) {
    return ParallelError(Status::Invalid("the plan would have ", n, " partitions (more than ",
                                         kMaxPartitions, "); raise partition_size"),
                         ErrorClass::kFatal, "INVALID_OPTIONS");
  }
  plan.partitions = parallel::PlanPartitions(gaps, config.num_workers, config.partition_size);
  for (auto& p : plan.partitions) {
    p.query = parallel::PartitionQuery(prepared.split, config.block_column, p.start, p.end);
  }
  return prepared;
}

// Progress counters shared by the workers and the reporter thread.
struct Progress {
  std::atomic<uint64_t> blocks_done{0};
  std::atomic<int64_t> rows{0};
  std::atomic<int> busy{0};
  std::atomic<int> partitions_done{0};
  std::atomic<int> partitions_failed{0};
  std::atomic<BlockNumber> live_block{0};
  std::atomic<bool> live_known{false};
};

class ParallelRun {
 public:
  ParallelRun(LoadJob job, std::stop_token stop, ResultSink& sink)
      : job_(std::move(job)), config_(*job_.options.parallel), stop_(std::move(stop)), sink_(sink) {}

  Status Run() {
    Status st = RunImpl();
    if (!st.ok() && !(st.IsCancelled() && stop_.stop_requested())) {
      PushError(st);
      return st;
    }
    return Status::OK();
  }

 private:
  Status RunImpl() {
    Report("planning");
    std::unique_ptr<LoaderSession> session;
    AMP_RETURN_NOT_OK(RetrySetup([&]() -> Status {
      AMP_ASSIGN_OR_RETURN(session, job_.loader->OpenSession());
      auto prepared = Prepare(job_, *session, /*write=*/true, stop_);
      if (!prepared.ok()) return prepared.status();
      prepared_ = std::move(*prepared);
      return Status::OK();
    }));
    const ParallelPlan& plan = prepared_.plan;
    if (prepared_.handoff_is_new) {
      // Saved before any worker writes, so a rerun hands over at the same block.
      AMP_RETURN_NOT_OK(RetrySetup([&]() -> Status {
        AMP_RETURN_NOT_OK(session->Begin());
        Status st = session->Commit(&*prepared_.handoff);
        if (!st.ok()) session->Abort();
        return st;
      }));
    }
    session.reset();
    phase_ = plan.hybrid ? "catchup" : "backfill";
    for (const auto& p : plan.partitions) blocks_total_ += p.end - p.start;
    if (plan.hybrid && plan.head && !plan.partitions.empty()) {
      spdlog::info("Head of {}: block {} ({}); catching up blocks {} to {} with {} workers",
                   config_.table_name, plan.head->number, plan.head->hash.ToHex(),
                   plan.min_block, plan.max_block, config_.num_workers);
    } else if (plan.hybrid && plan.head && !plan.handoff) {
      spdlog::info("Head of {}: block {}; min_block {} is beyond it, nothing to catch up",
                   config_.table_name, plan.head->number, plan.min_block);
    } else if (plan.partitions.empty()) {
      spdlog::info("Nothing to {}: every block of [{}, {}) is already loaded",
                   plan.hybrid ? "catch up" : "load", plan.min_block, plan.max_block);
    }
    if (!plan.already_loaded.empty()) {
      spdlog::info("Resuming: {} block range(s) already loaded, {} partition(s) left",
                   plan.already_loaded.size(), plan.partitions.size());
    }
    started_ = Clock::now();
    Report(phase_);  // a short catch-up may end before the reporter's first tick
    RunWorkers();
    const int failed = progress_.partitions_failed.load();
    const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    spdlog::info(
        "Parallel execution complete: {} rows loaded, {}/{} partitions succeeded, {} failed, "
        "{} rows/s",
        Thousands(progress_.rows.load()), progress_.partitions_done.load(),
        plan.partitions.size(), failed,
        Thousands(static_cast<int64_t>(secs > 0 ? progress_.rows.load() / secs : 0)));
    if (stop_.stop_requested()) {
      Report("done");
      return Status::OK();
    }
    if (failed > 0) {
      Report("done");
      std::string which;
      for (int id : failed_ids_) which += (which.empty() ? "" : ", ") + std::to_string(id);
      return ParallelError(
          Status::IOError(failed, " of ", plan.partitions.size(), " partitions failed (",
                          which, ")", stop_on_error_hit_ ? "; stopped (stop_on_error)" : "",
                          plan.hybrid ? "; not handing over to the live stream" : "",
                          "; a rerun loads only the missing blocks"),
          ErrorClass::kFatal, "PARTITIONS_FAILED");
    }
    if (!plan.hybrid) {
      Report("done");
      return Status::OK();
    }
    return RunLive();
  }

  // Retries a setup step (not a partition) while its errors are not kFatal.
  Status RetrySetup(const std::function<Status()>& step) {
    Backoff backoff(job_.options.retry);
    for (int failures = 0;;) {
      if (stop_.stop_requested()) return Status::Cancelled("[parallel] stopped");
      Status st = step();
      if (st.ok() || ClassOf(st) == ErrorClass::kFatal || backoff.Exhausted(++failures)) return st;
      const auto delay = backoff.Delay(failures);
      spdlog::warn("[parallel] {}; retrying in {}s (attempt {} of {})", st.message(),
                   Seconds(static_cast<double>(delay.count()) / 1000.0), failures + 1,
                   job_.options.retry.max_attempts);
      SleepUnlessStopped(delay, stop_);
    }
  }

  // --- Workers. ---

  void RunWorkers() {
    const auto& partitions = prepared_.plan.partitions;
    if (partitions.empty()) return;
    std::stop_callback on_stop(stop_, [this] { CancelStreams(); });
    std::jthread reporter([this](std::stop_token done) {
      while (!done.stop_requested()) {
        SleepUnlessStopped(std::chrono::milliseconds(500), done);
        Report(phase_);
      }
    });
    const int workers = std::min<int>(config_.num_workers, static_cast<int>(partitions.size()));
    streams_.resize(workers);
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back([this, w] { Worker(w); });
    for (auto& t : threads) t.join();
    reporter.request_stop();
  }

  bool Stopping() const { return stop_.stop_requested() || abort_.load(); }

  std::optional<PartitionPlan> TakePartition() {
    std::lock_guard<std::mutex> lock(mu_);
    if (Stopping() || next_partition_ >= prepared_.plan.partitions.size()) return std::nullopt;
    return prepared_.plan.partitions[next_partition_++];
  }

  void Worker(int worker) {
    std::unique_ptr<LoaderSession> session;
    while (auto partition = TakePartition()) {
      ++progress_.busy;
      RunPartition(worker, *partition, session);
      --progress_.busy;
    }
  }

  struct PartitionState {
    BlockNumber next = 0;  ///< First block not yet committed.
    std::string network;
    int64_t rows = 0;
    int batches = 0;
    int commits = 0;
    uint64_t transaction_id = 0;
  };

  void RunPartition(int worker, const PartitionPlan& p, std::unique_ptr<LoaderSession>& session) {
    spdlog::info("Worker {} processing blocks {} to {}", worker, p.start, p.end);
    const auto started = Clock::now();
    PartitionState state;
    state.next = p.start;
    Backoff backoff(config_.retry.value_or(job_.options.retry),
                    static_cast<uint64_t>(p.partition_id) * 7919 + 1);
    int attempts = 0;
    Status st;
    for (int failures = 0;;) {
      ++attempts;
      const BlockNumber before = state.next;
      st = Attempt(worker, p, session, state, attempts > 1);
      if (st.ok() || Stopping()) break;
      // As for streaming loads (RetryOptions), the count restarts after a commit: only
      // consecutive failures without progress exhaust the retries.
      if (state.next > before) failures = 0;
      if (ClassOf(st) == ErrorClass::kFatal || backoff.Exhausted(++failures)) break;
      spdlog::warn("Partition {} (blocks {} to {}): {}; retrying from block {} (attempt {})",
                   p.partition_id, p.start, p.end, st.ToString(), state.next, attempts + 1);
      if (session) session->Abort();
      session.reset();
      SleepUnlessStopped(backoff.Delay(failures), stop_);
    }
    const std::chrono::duration<double> duration = Clock::now() - started;
    LoadResult r;
    r.table_name = job_.table;
    r.loader_type = job_.loader->name();
    r.rows_loaded = state.rows;
    r.duration = duration;
    r.ops_per_second = duration.count() > 0 ? state.rows / duration.count() : 0;
    r.metadata["operation"] = "load";
    r.metadata["partition_id"] = std::to_string(p.partition_id);
    r.metadata["block_range"] = "[" + std::to_string(p.start) + ", " + std::to_string(p.end) + ")";
    r.metadata["batches"] = std::to_string(state.batches);
    r.metadata["commits"] = std::to_string(state.commits);
    r.metadata["rows_per_second"] = std::to_string(static_cast<int64_t>(r.ops_per_second));
    r.metadata["worker"] = std::to_string(worker);
    r.metadata["parallel_phase"] = phase_;
    r.metadata["attempts"] = std::to_string(attempts);
    r.metadata["stream_id"] = prepared_.plan.job_id;
    r.metadata["mode"] = ToString(job_.options.mode);
    if (st.ok()) {
      ++progress_.partitions_done;
      spdlog::info("Partition {} completed: {} rows in {}s", p.partition_id,
                   Thousands(state.rows), Seconds(duration.count()));
    } else if (Stopping() && st.IsCancelled()) {
      // Stopped (Ctrl+C, or another partition failed with stop_on_error): what committed
      // stays, a rerun continues after it.
      r.metadata["stopped"] = "true";
      r.metadata["committed_through"] =
          state.next > p.start ? std::to_string(state.next - 1) : std::string("none");
      spdlog::info("Partition {} stopped after {} rows (blocks {} to {} loaded)", p.partition_id,
                   Thousands(state.rows), p.start, state.next);
    } else {
      r.success = false;
      r.status = st;
      r.error = st.ToString();
      r.metadata["operation"] = "error";
      r.metadata["error_class"] = ToString(ClassOf(st));
      ++progress_.partitions_failed;
      {
        std::lock_guard<std::mutex> lock(mu_);
        failed_ids_.push_back(p.partition_id);
      }
      spdlog::error("Partition {} failed after {}s: {}", p.partition_id, Seconds(duration.count()),
                    st.ToString());
      if (config_.stop_on_error) {
        stop_on_error_hit_ = true;
        abort_ = true;
        CancelStreams();
      }
    }
    Push(std::move(r));
  }

  // One try at the rest of partition `p` (from state.next), committing as it goes.
  Status Attempt(int worker, const PartitionPlan& p, std::unique_ptr<LoaderSession>& session,
                 PartitionState& state, bool retry) {
    if (session == nullptr) {
      AMP_ASSIGN_OR_RETURN(session, job_.loader->OpenSession());
      // ampd's one-row messages reach the loader as large batches (batch_coalescer.h).
      session = CoalesceAppends(std::move(session), {.rows_carry_blocks = true});
    }
    if (retry) {
      // A failed Commit may still have applied: continue from what the destination holds.
      AMP_ASSIGN_OR_RETURN(auto durable, session->LoadCheckpoint(
                                             PartitionProgress::StreamId(prepared_.plan.job_id, p.start)));
      if (durable && !durable->recent_ranges.empty()) {
        const BlockNumber through = durable->recent_ranges.front().end;
        if (through + 1 > state.next) {
          progress_.blocks_done += through + 1 - state.next;
          state.next = through + 1;
          state.transaction_id = std::max(state.transaction_id, durable->transaction_id);
        }
      }
    }
    if (state.next >= p.end) return Status::OK();
    const std::string query =
        parallel::PartitionQuery(prepared_.split, config_.block_column, state.next, p.end);
    QueryOptions options;
    options.stream = false;
    options.stop = stop_;  // reaches a DoGet that has sent nothing yet
    AMP_ASSIGN_OR_RETURN(std::shared_ptr<BatchStream> stream, job_.client->Execute(query, options));
    SetStream(worker, stream);
    struct Unregister {
      ParallelRun* run;
      int worker;
      ~Unregister() { run->SetStream(worker, nullptr); }
    } unregister{this, worker};
    if (Stopping()) return Status::Cancelled("[parallel] stopped");

    std::vector<std::shared_ptr<arrow::RecordBatch>> pending;
    int64_t pending_rows = 0;
    std::optional<BlockNumber> last_block;
    std::optional<BlockNumber> synced_end;  // the server's synced range (batch metadata)
    while (true) {
      AMP_ASSIGN_OR_RETURN(auto next, stream->Next());
      if (!next) break;
      if (!next->metadata.ranges.empty()) {
        state.network = next->metadata.ranges.front().network;
        synced_end = next->metadata.ranges.front().end;
      }
      auto batch = next->batch;
      if (batch == nullptr || batch->num_rows() == 0) continue;
      auto column = batch->GetColumnByName(config_.block_column);
      if (column == nullptr || column->type_id() != arrow::Type::UINT64 || column->null_count() > 0) {
        return ParallelError(Status::Invalid("partition ", p.partition_id, ": the block column '",
                                             config_.block_column,
                                             "' is missing, not uint64, or has nulls"),
                             ErrorClass::kFatal, "INVALID_DATA");
      }
      const auto& blocks = static_cast<const arrow::UInt64Array&>(*column);
      for (int64_t i = 0; i < blocks.length(); ++i) {
        const BlockNumber b = blocks.Value(i);
        if (b < state.next || b >= p.end || (last_block && b < *last_block)) {
          return ParallelError(
              Status::Invalid("partition ", p.partition_id, " [", state.next, ", ", p.end,
                              "): the server returned block ", b,
                              last_block && b < *last_block ? " after a higher block (rows not "
                                                              "ordered by the block column)"
                                                            : " outside the partition"),
              ErrorClass::kFatal, "INVALID_DATA");
        }
        last_block = b;
      }
      pending.push_back(batch);
      pending_rows += batch->num_rows();
      ++state.batches;
      if (Stopping()) return Status::Cancelled("[parallel] stopped");
      // Commit every batch_size rows, cut at a block boundary: a block's rows never
      // straddle two commits, and the last block seen may continue in the next batch.
      while (pending_rows >= config_.batch_size) {
        auto cut = FindCut(pending, config_.batch_size);
        if (!cut) break;
        auto [head, tail, next_block] = std::move(*cut);
        AMP_RETURN_NOT_OK(CommitChunk(p, *session, head, next_block - 1, state));
        pending = std::move(tail);
        pending_rows = 0;
        for (const auto& b : pending) pending_rows += b->num_rows();
      }
    }
    if (Stopping()) return Status::Cancelled("[parallel] stopped");
    if (synced_end && *synced_end < p.end - 1) {
      // Never record blocks the server has not synced as loaded.
      return ParallelError(Status::Invalid("partition ", p.partition_id, " [", p.start, ", ",
                                           p.end, ") ends beyond the server's synced range "
                                           "(head ", *synced_end, ")"),
                           ErrorClass::kFatal, "BEYOND_HEAD");
    }
    return CommitChunk(p, *session, pending, p.end - 1, state);
  }

  struct Cut {
    std::vector<std::shared_ptr<arrow::RecordBatch>> head;  ///< Rows to commit now.
    std::vector<std::shared_ptr<arrow::RecordBatch>> tail;  ///< Rows kept for later.
    BlockNumber next_block = 0;  ///< The first block of `tail`: head is complete before it.
  };

  // Splits `pending` (rows ordered by block) after the block that holds its `rows`-th row,
  // when a row of a later block follows in `pending` (else that block may not be complete
  // yet, and nullopt says so).
  std::optional<Cut> FindCut(const std::vector<std::shared_ptr<arrow::RecordBatch>>& pending,
                             int64_t rows) const {
    auto values = [&](const arrow::RecordBatch& b) {
      return static_cast<const arrow::UInt64Array&>(*b.GetColumnByName(config_.block_column))
          .raw_values();
    };
    // The block of the rows-th row.
    int64_t skip = rows - 1;
    size_t i = 0;
    while (i < pending.size() && skip >= pending[i]->num_rows()) skip -= pending[i++]->num_rows();
    if (i == pending.size()) return std::nullopt;
    const BlockNumber block = values(*pending[i])[skip];
    // The first row of a later block.
    for (size_t k = i; k < pending.size(); ++k) {
      const uint64_t* v = values(*pending[k]);
      const int64_t n = pending[k]->num_rows();
      const int64_t from = k == i ? skip : 0;
      const int64_t m = std::upper_bound(v + from, v + n, block) - v;
      if (m == n) continue;
      Cut cut;
      cut.next_block = v[m];
      for (size_t h = 0; h < k; ++h) cut.head.push_back(pending[h]);
      if (m > 0) cut.head.push_back(pending[k]->Slice(0, m));
      cut.tail.push_back(m == 0 ? pending[k] : pending[k]->Slice(m));
      for (size_t t = k + 1; t < pending.size(); ++t) cut.tail.push_back(pending[t]);
      return cut;
    }
    return std::nullopt;
  }

  // One unit: the rows of blocks [state.next, through] and the partition's checkpoint.
  Status CommitChunk(const PartitionPlan& p, LoaderSession& session,
                     const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                     BlockNumber through, PartitionState& state) {
    BlockRange range;
    range.network = state.network;
    range.start = state.next;
    range.end = through;
    StreamCheckpoint checkpoint;
    checkpoint.stream_id = PartitionProgress::StreamId(prepared_.plan.job_id, p.start);
    BlockRange covered = range;
    covered.start = p.start;
    checkpoint.recent_ranges.push_back(covered);
    checkpoint.transaction_id = state.transaction_id + 1;
    int64_t rows = 0;
    Status st = [&]() -> Status {
      AMP_RETURN_NOT_OK(session.Begin());
      if (!job_.loader->capabilities().atomic_commit) {
        // Without atomic commits a crash may leave rows without their checkpoint: delete
        // them first so the replay does not duplicate them.
        AMP_RETURN_NOT_OK(session.Undo(job_.table, {state.next, through}));
      }
      for (const auto& b : batches) {
        AMP_RETURN_NOT_OK(session.Append(job_.table, *b, range));
        rows += b->num_rows();
      }
      return session.Commit(&checkpoint);
    }();
    if (!st.ok()) {
      session.Abort();
      return st;
    }
    progress_.blocks_done += through + 1 - state.next;
    progress_.rows += rows;
    state.rows += rows;
    ++state.commits;
    state.transaction_id = checkpoint.transaction_id;
    state.next = through + 1;
    return Status::OK();
  }

  void SetStream(int worker, std::shared_ptr<BatchStream> stream) {
    std::lock_guard<std::mutex> lock(streams_mu_);
    streams_[worker] = std::move(stream);
    if (streams_[worker] && Stopping()) streams_[worker]->Cancel();
  }

  void CancelStreams() {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (auto& s : streams_) {
      if (s) s->Cancel();
    }
  }

  // --- The live stream (hybrid). ---

  Status RunLive() {
    const ParallelPlan& plan = prepared_.plan;
    phase_ = "live";
    LoadJob live;
    live.client = job_.client;
    live.query = plan.live_query;
    live.table = job_.table;
    live.options = job_.options;
    live.options.parallel.reset();
    live.options.stream = true;
    if (live.options.mode == LoadMode::kOverwrite) live.options.mode = LoadMode::kAppend;
    live.options.block_column = config_.block_column;
    live.options.stream_id = plan.job_id;
    live.options.resume = true;
    live.loader = job_.loader;
    live.destination_prepared = true;
    live.result_metadata["parallel_phase"] = "live";
    // What the live stream waits for (data, a lagging server) shows in the progress line.
    auto user_on_wait = job_.options.on_wait;
    live.options.on_wait = [this, user_on_wait](const std::string& waiting) {
      {
        std::lock_guard<std::mutex> lock(waiting_mu_);
        waiting_ = waiting;
      }
      Report("live");
      if (user_on_wait) user_on_wait(waiting);
    };
    if (plan.live_checkpoint_exists) {
      spdlog::info("Resuming the live stream from its checkpoint");
    }
    if (plan.handoff) {
      StreamCheckpoint start;
      start.stream_id = plan.job_id;
      start.cursor.networks[plan.network] = *plan.handoff;
      BlockRange at;
      at.network = plan.network;
      at.start = plan.handoff->number;
      at.end = plan.handoff->number;
      at.hash = plan.handoff->hash;
      start.recent_ranges.push_back(at);
      live.start_after = start;
      live.undo_until_first_commit = BlockInterval{plan.handoff->number + 1, kMaxBlock};
      live.result_metadata["handoff_block"] = std::to_string(plan.handoff->number);
      if (!plan.live_checkpoint_exists) spdlog::info("Handing over to the live stream after block {} (head {} minus reorg buffer {})",
                   plan.handoff->number, plan.head ? plan.head->number : 0, config_.reorg_buffer);
    } else if (!plan.live_checkpoint_exists) {
      spdlog::info("Starting the live stream from the server's first block");
    }
    Report("live");
    LiveSink live_sink(*this);
    return RunLoad(std::move(live), stop_, live_sink);
  }

  // Forwards live results and follows their cursor for the progress display.
  class LiveSink final : public ResultSink {
   public:
    explicit LiveSink(ParallelRun& run) : run_(run) {}
    bool Push(LoadResult result) override {
      auto it = result.metadata.find("cursor");
      if (it != result.metadata.end()) {
        auto cursor = Cursor::FromJson(it->second);
        if (cursor.ok() && !cursor->networks.empty()) {
          run_.progress_.live_block = cursor->networks.begin()->second.number;
          run_.progress_.live_known = true;
        }
        run_.progress_.rows += result.rows_loaded;
        run_.Report("live");
      }
      return run_.sink_.Push(std::move(result));
    }

   private:
    ParallelRun& run_;
  };

  // --- Results and progress. ---

  void Push(LoadResult result) {
    std::lock_guard<std::mutex> lock(push_mu_);
    if (!sink_.Push(std::move(result))) {
      abort_ = true;  // the consumer is gone
      CancelStreams();
    }
  }

  void PushError(const Status& st) {
    LoadResult r;
    r.success = false;
    r.status = st;
    r.error = st.ToString();
    r.table_name = job_.table;
    r.loader_type = job_.loader->name();
    r.metadata["operation"] = "error";
    r.metadata["error_class"] = ToString(ClassOf(st));
    if (!prepared_.plan.job_id.empty()) r.metadata["stream_id"] = prepared_.plan.job_id;
    Push(std::move(r));
  }

  void Report(const std::string& phase) {
    if (!config_.on_progress) return;
    std::lock_guard<std::mutex> lock(report_mu_);
    ParallelProgress p;
    p.phase = phase;
    p.blocks_total = blocks_total_;
    p.blocks_done = progress_.blocks_done.load();
    p.rows = progress_.rows.load();
    p.workers_busy = progress_.busy.load();
    p.partitions_done = progress_.partitions_done.load();
    p.partitions_failed = progress_.partitions_failed.load();
    p.partitions_total = static_cast<int>(prepared_.plan.partitions.size());
    if (progress_.live_known) p.live_block = progress_.live_block.load();
    {
      std::lock_guard<std::mutex> lock(waiting_mu_);
      p.waiting = waiting_;
    }
    // Rate over a window of recent samples (about 5 s).
    const auto now = Clock::now();
    samples_.emplace_back(now, p.rows, p.blocks_done);
    while (samples_.size() > 2 && now - std::get<0>(samples_.front()) > std::chrono::seconds(5)) {
      samples_.pop_front();
    }
    const auto& [t0, rows0, blocks0] = samples_.front();
    const double dt = std::chrono::duration<double>(now - t0).count();
    if (dt > 0.2) {
      p.rows_per_second = (p.rows - rows0) / dt;
      const double blocks_per_second = (p.blocks_done - blocks0) / dt;
      if (blocks_per_second > 0 && p.blocks_total >= p.blocks_done && phase != "live") {
        p.eta = std::chrono::seconds(
            static_cast<int64_t>((p.blocks_total - p.blocks_done) / blocks_per_second));
      }
    }
    config_.on_progress(p);
  }

  LoadJob job_;
  const ParallelConfig& config_;
  std::stop_token stop_;
  ResultSink& sink_;
  PreparedPlan prepared_;
  std::string phase_ = "planning";  // written before the workers start, read after
  uint64_t blocks_total_ = 0;
  Clock::time_point started_;
  Progress progress_;
  std::mutex mu_;  // next_partition_, failed_ids_
  size_t next_partition_ = 0;
  std::vector<int> failed_ids_;
  std::atomic<bool> abort_{false};
  std::atomic<bool> stop_on_error_hit_{false};
  std::mutex streams_mu_;
  std::vector<std::shared_ptr<BatchStream>> streams_;
  std::mutex push_mu_;
  std::mutex report_mu_;
  std::mutex waiting_mu_;
  std::string waiting_;  ///< The live stream's wait ("" when none), for the progress line.
  std::deque<std::tuple<Clock::time_point, int64_t, uint64_t>> samples_;
};

}  // namespace

Status RunParallelLoad(LoadJob job, std::stop_token stop, ResultSink& sink) {
  ParallelRun run(std::move(job), std::move(stop), sink);
  return run.Run();
}

Result<ParallelPlan> PlanParallelLoad(const LoadJob& job) {
  if (!job.options.parallel) return Status::Invalid("PlanParallelLoad: LoadOptions::parallel is unset");
  AMP_ASSIGN_OR_RETURN(auto session, job.loader->OpenSession());
  AMP_ASSIGN_OR_RETURN(auto prepared, Prepare(job, *session, /*write=*/false, std::stop_token()));
  return std::move(prepared.plan);
}

}  // namespace amp::streaming
