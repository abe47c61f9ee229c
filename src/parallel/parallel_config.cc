// ParallelConfig::Validate() and ParallelPlan::ToString() (amp/parallel.h).
#include <cmath>
#include <sstream>
#include <string>

#include "amp/parallel.h"

namespace amp {
namespace {

constexpr int kMaxWorkers = 256;
constexpr uint64_t kMaxReorgBuffer = 1'000'000;

// The field goes to the caller as data as well, so a front end can name its own flag for
// it without parsing the message.
Status FieldError(std::string* field_out, std::string_view field, const std::string& value,
                  std::string_view rule) {
  *field_out = std::string(field);
  return Status::Invalid("ParallelConfig.", field, " = ", value, ": ", rule);
}

std::string Number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

std::string SpanText(BlockNumber start, BlockNumber end) {
  return "[" + std::to_string(start) + ", " + std::to_string(end) + ")";
}

std::string BlockCount(uint64_t n) { return std::to_string(n) + (n == 1 ? " block" : " blocks"); }

std::string CursorText(const NetworkCursor& c) {
  std::string out = "block " + std::to_string(c.number);
  out += c.hash.IsZero() ? " (hash unknown)" : " (hash " + c.hash.ToHex() + ")";
  return out;
}

// A query as a user can paste it into a SQL client: verbatim (an indent would change
// multi-line string literals), ended by ';' on a line a trailing `--` comment cannot hide.
std::string Statement(const std::string& query) {
  std::string out = query;
  if (!out.empty() && out.back() != '\n') {
    const size_t line_start = out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1;
    if (out.find("--", line_start) != std::string::npos) out += "\n";
  }
  return out + ";\n";
}

}  // namespace

Status ParallelConfig::Validate() const {
  std::string field;
  return Validate(&field);
}

Status ParallelConfig::Validate(std::string* field) const {
  if (num_workers < 1 || num_workers > kMaxWorkers) {
    return FieldError(field, "num_workers", std::to_string(num_workers),
                      "must be between 1 and " + std::to_string(kMaxWorkers));
  }
  if (table_name.empty()) {
    return FieldError(field, "table_name", "''",
                      "is required: the Amp source table the query reads, e.g. "
                      "'eth_firehose.blocks'");
  }
  if (table_name.find(';') != std::string::npos) {
    return FieldError(field, "table_name", Quoted(table_name), "must be a table name, not SQL with ';'");
  }
  if (block_column.empty()) {
    return FieldError(field, "block_column", "''",
                      "is required: the block-number column partitions are cut on, e.g. "
                      "'block_num'");
  }
  if (max_block.has_value() && min_block.value_or(0) >= *max_block) {
    return FieldError(field, "max_block", std::to_string(*max_block),
                      "must be greater than min_block (" + std::to_string(min_block.value_or(0)) +
                          "): the range [min_block, max_block) would be empty");
  }
  if (partition_size.has_value() && *partition_size < 1) {
    return FieldError(field, "partition_size", std::to_string(*partition_size),
                      "must be at least 1 block (leave it unset for (max - min) / num_workers)");
  }
  if (batch_size < 1) {
    return FieldError(field, "batch_size", std::to_string(batch_size), "must be at least 1 row");
  }
  if (reorg_buffer > kMaxReorgBuffer) {
    return FieldError(field, "reorg_buffer", std::to_string(reorg_buffer),
                      "must be at most " + std::to_string(kMaxReorgBuffer) + " blocks");
  }
  if (blocks_table.find(';') != std::string::npos) {
    return FieldError(field, "blocks_table", Quoted(blocks_table),
                      "must be a table name, not SQL with ';'");
  }
  if (retry.has_value()) {
    const RetryOptions& r = *retry;
    if (r.max_attempts < 1) {
      return FieldError(field, "retry.max_attempts", std::to_string(r.max_attempts),
                        "must be at least 1");
    }
    if (r.initial_backoff.count() < 0) {
      return FieldError(field, "retry.initial_backoff",
                        std::to_string(r.initial_backoff.count()) + "ms", "must not be negative");
    }
    if (r.max_backoff < r.initial_backoff) {
      return FieldError(field, "retry.max_backoff", std::to_string(r.max_backoff.count()) + "ms",
                        "must be at least retry.initial_backoff (" +
                            std::to_string(r.initial_backoff.count()) + "ms)");
    }
    if (!std::isfinite(r.multiplier) || r.multiplier < 1.0) {
      return FieldError(field, "retry.multiplier", Number(r.multiplier),
                        "must be a finite number >= 1");
    }
    if (!(r.jitter >= 0.0 && r.jitter <= 1.0)) {
      return FieldError(field, "retry.jitter", Number(r.jitter), "must be in [0, 1]");
    }
  }
  return Status::OK();
}

std::string ParallelPlan::ToString() const {
  std::string out;
  out += "Parallel load plan";
  if (!job_id.empty()) out += " (job " + job_id + ")";
  out += "\n";
  if (hybrid) {
    out += "  mode:            hybrid: parallel catch-up to the head, then live streaming\n";
  } else {
    out += "  mode:            historical backfill (ends at max_block)\n";
  }
  out += "  range:           blocks " + SpanText(min_block, max_block) + ", " +
         BlockCount(max_block >= min_block ? max_block - min_block : 0) +
         (hybrid ? " (up to and including the head)" : "") + "\n";
  if (hybrid) {
    if (!network.empty()) out += "  network:         " + network + "\n";
    if (head.has_value()) out += "  head:            " + CursorText(*head) + "\n";
    if (live_checkpoint_exists) {
      out += "  hand-off:        already done by an earlier run; the live stream resumes from "
             "its own checkpoint once the gaps below are filled\n";
    } else if (handoff.has_value()) {
      out += "  hand-off:        the live stream resumes after " + CursorText(*handoff);
      if (head.has_value() && head->number >= handoff->number) {
        out += ", " + BlockCount(head->number - handoff->number) + " before the head";
      }
      out += ";\n                   the live stream replaces the rows the workers load after it\n";
    }
  }
  out += "  workers:         " + std::to_string(num_workers) + "\n";

  uint64_t loaded = 0;
  for (const auto& [s, e] : already_loaded) loaded += e > s ? e - s : 0;
  if (already_loaded.empty()) {
    out += "  already loaded:  none\n";
  } else {
    out += "  already loaded:  " + BlockCount(loaded) + " in " +
           std::to_string(already_loaded.size()) +
           (already_loaded.size() == 1 ? " interval" : " intervals") + " (skipped)\n";
    for (const auto& [s, e] : already_loaded) {
      out += "                     " + SpanText(s, e) + "  " + BlockCount(e > s ? e - s : 0) + "\n";
    }
  }

  uint64_t to_load = 0;
  for (const PartitionPlan& p : partitions) to_load += p.end > p.start ? p.end - p.start : 0;
  out += "  to load:         " + BlockCount(to_load) + " in " + std::to_string(partitions.size()) +
         (partitions.size() == 1 ? " partition" : " partitions") + "\n";
  if (!partitions.empty()) {
    out += "\nPartitions (workers take them in this order from a shared queue):\n";
    for (const PartitionPlan& p : partitions) {
      out += "  #" + std::to_string(p.partition_id) + "  blocks " + SpanText(p.start, p.end) +
             "  " + BlockCount(p.end > p.start ? p.end - p.start : 0) + "\n";
    }
    out += "\nPartition queries:\n";
    for (const PartitionPlan& p : partitions) {
      out += "\n-- partition #" + std::to_string(p.partition_id) + ", blocks " +
             SpanText(p.start, p.end) + "\n";
      out += Statement(p.query);
    }
  }
  if (hybrid) {
    out += "\nLive query (streaming via the amp-stream header";
    if (live_checkpoint_exists) {
      out += ", resuming from its checkpoint";
    } else if (handoff.has_value()) {
      out += ", amp-resume after block " + std::to_string(handoff->number);
    }
    out += "):\n\n";
    out += Statement(live_query);
  }
  return out;
}

}  // namespace amp
