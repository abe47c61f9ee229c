// Job files for `ampsync run job.toml`: the same load as `ampsync load` flags, written down
// in TOML with named connections (format: docs/cli.md, "Job files").
//
//   [server]
//   url = "grpc://127.0.0.1:1602"
//   token_env = "AMP_AUTH_TOKEN"          # the token is read from this variable
//
//   [connections.warehouse]
//   loader = "postgresql"                 # or uri = "postgresql://loader@db:5432/chain"
//   host = "127.0.0.1"
//   password = "env:PGPASSWORD"           # secrets only as env: references
//
//   [job]
//   query = "SELECT * FROM eth_firehose.blocks"
//   connection = "warehouse"
//   table = "blocks"
//
//   [job.parallel]
//   workers = 4
//   to_block = "latest"                   # or the last block to load (inclusive)
//
// Parsing is strict: an unknown key, a value of the wrong type, a connection option the
// loader does not have, or a secret written in clear is an error "<file>:<line>: <key>:
// <why>". Later validation errors (BuildLoadOptions) name keys the same way through
// JobFile::Namer().
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "amp/status.h"
#include "load_job.h"

namespace amp::cli {

struct JobFile {
  std::string path;
  LoadJob job;
  /// Line of every key that was present, by dotted path ("job.parallel.workers").
  std::map<std::string, int> lines;

  /// Names canonical fields as their keys in this file: "to_block" ->
  /// "job.parallel.to_block (jobs/backfill.toml:14)".
  FieldNamer Namer() const;
};

/// Reads an environment variable (injectable for tests); nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> GetEnv(const std::string& name);

/// Parses job file text; `path` is used in messages. Errors are usage errors.
Result<JobFile> ParseJobFile(std::string_view text, const std::string& path,
                             const EnvLookup& env = GetEnv);
/// Reads and parses the file at `path`.
Result<JobFile> LoadJobFile(const std::string& path, const EnvLookup& env = GetEnv);

}  // namespace amp::cli
