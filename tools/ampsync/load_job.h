// One description of a load, shared by `ampsync load` (flags) and `ampsync run` (a TOML job
// file): what to query, where to write it, how (streaming, parallel backfill, hybrid), and
// how to report it. RunLoadJob() is the single code path both commands execute, so a job
// file runs exactly what the equivalent command line runs.
//
// Validation errors are usage errors (exit 2) that name the offending input the way the
// user wrote it: a flag ("--to-block") for the command line, "key (file:line)" for a job
// file. The caller supplies that naming as a FieldNamer over canonical field ids (the
// snake_case names of the job file: "workers", "to_block", "source_table", ...).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amp/load.h"
#include "amp/status.h"

namespace amp::cli {

enum class ProgressMode { kAuto, kAlways, kNever };
/// "auto" | "always" | "never".
Result<ProgressMode> ParseProgressMode(const std::string& text);

/// The parallel part of a job: the seed's ParallelConfig knobs as the CLI spells them.
struct ParallelJob {
  int workers = 0;
  /// Empty: the query's single dataset-qualified FROM table (InferSourceTable).
  std::string source_table;
  uint64_t from_block = 0;
  /// The LAST block to load, inclusive (as `ampsync audit --to-block`); unset = "latest",
  /// i.e. hybrid mode: catch up to the head in parallel, then follow it live.
  std::optional<uint64_t> to_block;
  std::optional<uint64_t> partition_size;
  std::optional<uint64_t> reorg_buffer;
  bool stop_on_error = false;
};

/// Where the rows go: a connection URI, or a named connection's loader and options.
struct Destination {
  std::string name = "destination";  ///< Name given to Client::configure_connection.
  std::string uri;                   ///< Set: configure from this URI ...
  ConnectionSpec spec;               ///< ... else from this loader + options.
};

struct LoadJob {
  std::string server = "grpc://127.0.0.1:1602";
  std::string token;  ///< Resolved bearer token; empty: the client's defaults.
  Destination destination;
  std::string query;
  std::string table;
  bool stream = false;
  std::string mode = "append";
  std::vector<std::string> key_columns;
  /// Unset: the library default; "": rows carry no block number (--no-block-column).
  /// With a parallel job it is also ParallelConfig::block_column (default block_num).
  std::optional<std::string> block_column;
  /// Rows per commit; unset: the library default (100,000, or 10,000 per parallel commit).
  std::optional<int64_t> batch_size;
  bool resume = true;
  /// Microbatches kept for reorgs of rows without a block column (LoadOptions::
  /// retention_blocks); unset: the library default.
  std::optional<uint64_t> retention_blocks;
  /// Seconds a streaming load waits for data on a table with nothing synced; unset: forever.
  std::optional<uint64_t> wait_for_data;
  /// Forget this load's progress and delete the table's rows before loading (`--reset`):
  /// the fix for progress that outlived its table (Loader::ResetProgress).
  bool reset = false;
  int max_attempts = 10;
  std::optional<ParallelJob> parallel;
  /// Print the parallel plan (every rewritten query) and write nothing.
  bool dry_run = false;
  ProgressMode progress = ProgressMode::kAuto;
  bool quiet = false;
};

/// Names a canonical field id ("workers", "to_block", ...) as the user wrote it.
using FieldNamer = std::function<std::string(std::string_view field)>;
/// The command line's names: "workers" -> "--workers", "key_columns" -> "--key", ...
std::string FlagName(std::string_view field);

/// The table a query reads, for ParallelConfig::table_name: a simple scan of the top-level
/// FROM clause(s), skipping strings, comments and parenthesised subexpressions. Succeeds
/// only when every top-level FROM names the same dataset-qualified table (e.g.
/// `eth_firehose.blocks`, `"_/eth_firehose@1.0.0".logs`), without joins or comma lists;
/// the table is returned as written. Otherwise Invalid saying why.
Result<std::string> InferSourceTable(std::string_view sql);

/// Checks `job` and builds the LoadOptions the library gets (stop token and progress
/// callback excluded). Errors are usage errors naming the field through `name`.
Result<LoadOptions> BuildLoadOptions(const LoadJob& job, const FieldNamer& name);

/// Runs `job` to the end (or until Ctrl+C) and returns the process exit code: 0; 1 when a
/// partition failed (after the others finished, or at once with stop_on_error); 2 for
/// usage errors; the codes of exit_codes.h for other failures; 130 after Ctrl+C.
int RunLoadJob(const LoadJob& job, const FieldNamer& name);

}  // namespace amp::cli
