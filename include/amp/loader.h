// File: amp/loader.h
//
// The destination side: a Loader is a store (one PostgreSQL database, one Redis, one Delta
// root) that query results are loaded into, written through per-worker LoaderSessions in
// atomic units of work. The stream engine (amp/stream.h) turns a query's batches into
// Begin / Undo / Append... / Commit(checkpoint) sequences on a session; where the store
// allows it (capabilities().atomic_commit) the undo, the rows and the resume checkpoint of
// one unit become visible together or not at all, which is what makes a crash at any
// instant lose and duplicate nothing after restart.
//
//   AMP_ASSIGN_OR_RETURN(auto loader, BuiltinLoaders().Create("postgresql", config));  // or your own
//   AMP_RETURN_NOT_OK(loader->EnsureTable(spec));
//   AMP_ASSIGN_OR_RETURN(auto session, loader->OpenSession());
//   AMP_RETURN_NOT_OK(session->Begin());
//   AMP_RETURN_NOT_OK(session->Undo(spec.name, {.start = 95, .end = kMaxBlock}));
//   AMP_RETURN_NOT_OK(session->Append(spec.name, *batch, range));
//   AMP_RETURN_NOT_OK(session->Commit(&checkpoint));
//
// Every row a loader writes is tagged with the block span it came from, in two columns the
// loader adds to the destination table: `_amp_block_start` and `_amp_block_end` (inclusive).
// When the table has a per-row block column (TableSpec::block_column) both equal that row's
// block; otherwise they are the microbatch range. Undo deletes rows whose span intersects
// the undone blocks. The engine knows the granularity and reloads the canonical part of a
// partially invalidated microbatch itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amp/checkpoint.h"
#include "amp/status.h"
#include "amp/types.h"

namespace arrow {
class RecordBatch;
class Schema;
class Table;
}  // namespace arrow

namespace amp {

/// ErrorInfo code of a checkpoint refused because its table no longer holds the rows it
/// describes (see LoaderSession::LoadCheckpoint).
inline constexpr const char* kStaleProgressCode = "STALE_PROGRESS";

enum class LoadMode {
  kAppend,     ///< Add rows.
  kOverwrite,  ///< Empty the table once when the load starts (never per batch), then add rows.
  kUpsert,     ///< Insert or replace rows by TableSpec::key_columns.
};
const char* ToString(LoadMode mode);
Result<LoadMode> LoadModeFromString(const std::string& name);

/// What a loader guarantees; the engine picks its strategy from this.
struct LoaderCapabilities {
  /// Undo + rows + checkpoint of one unit commit atomically (exactly-once).
  bool atomic_commit = false;
  /// Rows can be deleted by block span (reorg undo).
  bool supports_undo = false;
  /// Several sessions may write concurrently (parallel backfill workers).
  bool concurrent_sessions = false;
  std::vector<LoadMode> modes = {LoadMode::kAppend};
};

/// A destination table.
struct TableSpec {
  std::string name;
  /// The query's columns (from GetFlightInfo); the loader adds `_amp_block_start/_end`.
  std::shared_ptr<arrow::Schema> schema;
  LoadMode mode = LoadMode::kAppend;
  /// Upsert key (kUpsert only).
  std::vector<std::string> key_columns;
  /// A UInt64 column of `schema` holding each row's block number (e.g. "_block_num" or
  /// "block_num"); empty when rows carry none.
  std::string block_column;
};

/// A writer used by one thread. Units of work: Begin, any number of Undo/Append, then
/// Commit (or Abort). A failed call leaves the unit open for Abort(); for atomic loaders
/// nothing of an aborted unit is visible, so replaying it is safe.
class LoaderSession {
 public:
  virtual ~LoaderSession() = default;
  virtual Status Begin() = 0;
  /// Deletes the rows of `table` whose block span intersects `blocks`.
  virtual Status Undo(const std::string& table, const BlockInterval& blocks) = 0;
  /// Adds rows; `microbatch` is the range they belong to (tags rows without a block column).
  virtual Status Append(const std::string& table, const arrow::RecordBatch& batch,
                        const BlockRange& microbatch) = 0;
  /// Makes the unit durable, with `checkpoint` (may be null) in the same transaction for
  /// atomic loaders.
  virtual Status Commit(const StreamCheckpoint* checkpoint) = 0;
  virtual void Abort() = 0;
  /// The last committed checkpoint of `stream_id`, if any.
  ///
  /// Progress that outlives its table: a loader that records which tables a checkpoint
  /// wrote refuses (kFatal, ErrorInfo code kStaleProgressCode) a checkpoint whose table no
  /// longer holds what the checkpoint says was committed (the table was dropped, recreated
  /// or emptied behind the loader's back), so that a rerun never resumes into an empty
  /// table. The message names the fix (`--reset`, `ampsync reset`). Checkpoints written
  /// before the loader recorded this are accepted and get it with their next commit.
  /// LoadCheckpoint and LoadCheckpoints called inside an open unit skip the check.
  virtual Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) = 0;
  /// Every committed checkpoint whose stream_id starts with `prefix`, in stream_id order.
  /// Parallel backfills keep one checkpoint per partition ("<job>/range/<start>") and
  /// read them all back on a rerun to skip finished blocks.
  virtual Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) = 0;
};

/// A destination store. Thread-safety: EnsureTable/Truncate must not race each other;
/// OpenSession may be called from any thread once the loader exists.
class Loader {
 public:
  virtual ~Loader() = default;
  virtual std::string name() const = 0;  ///< "postgresql", "redis", ...
  virtual const LoaderCapabilities& capabilities() const = 0;
  /// Creates the table (and the loader's state table) or checks that an existing one is
  /// compatible; an incompatible table is a kFatal error naming the column, and nothing
  /// is changed.
  virtual Status EnsureTable(const TableSpec& spec) = 0;
  /// Empties a table (kOverwrite, once per load) and forgets its stream checkpoints.
  virtual Status Truncate(const std::string& table) = 0;
  virtual Result<std::unique_ptr<LoaderSession>> OpenSession() = 0;
  /// The caller will hold up to `sessions` sessions at once (a parallel load: one per
  /// worker plus one for the live stream). Returns how many this loader can hold at once
  /// from now on: a loader with a pool it sized by default grows it; one whose size the
  /// user configured keeps it (the caller then warns that workers will wait). The
  /// default: sessions are unbounded.
  virtual int ReserveSessions(int sessions) { return sessions; }

  /// Reads rows back (for `ampsync audit`): the rows of table `spec.name` whose block span
  /// intersects `blocks`, with the columns of `spec.schema` in its Arrow types (the
  /// loader's `_amp_block_start`/`_amp_block_end` excluded), plus one UInt64 column
  /// `_amp_block_start` appended last. Rows come in no particular order. Needs no prior
  /// EnsureTable() and changes nothing. The default: NotImplemented naming the loader.
  /// Whether `table` exists. With DropTable(), lets a load that created a table and then
  /// failed before its first commit (e.g. a query the server rejects only at DoGet) leave
  /// the destination as it found it. The defaults: NotImplemented (nothing is dropped).
  virtual Result<bool> TableExists(const std::string& table) {
    return Status::NotImplemented("loader '", name(), "' cannot tell whether '", table, "' exists");
  }
  /// Drops `table` and forgets its checkpoints.
  virtual Status DropTable(const std::string& table) {
    return Status::NotImplemented("loader '", name(), "' cannot drop '", table, "'");
  }
  /// Forgets the progress of job `job_id` into `table`: every checkpoint whose stream_id is
  /// `job_id` or starts with `job_id + "/"` (the stream cursor, the parallel ranges
  /// "<job>/range/<start>" and the hybrid plan "<job>/plan"); an empty `job_id` forgets
  /// every checkpoint that wrote `table` (and those jobs' plans). With `truncate`, also
  /// deletes every row of `table`, in the same transaction as the checkpoints where the store
  /// allows it (PostgreSQL, Delta Lake; Redis deletes rows in chunks first, so a rerun of an
  /// interrupted reset finishes it). A missing table is not an error. Returns how many
  /// checkpoints were forgotten. The default: NotImplemented naming the loader.
  virtual Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id,
                                        bool truncate) {
    (void)job_id;
    (void)truncate;
    return Status::NotImplemented("loader '", name(), "' cannot reset the progress of '", table, "'");
  }
  /// Compacts the storage of `table` (Delta Lake: many small files into fewer large ones,
  /// committed with dataChange = false; `ampsync optimize`). An explicit operation, never
  /// run per batch. The default: NotImplemented naming the loader.
  virtual Status Optimize(const std::string& table) {
    return Status::NotImplemented("loader '", name(), "' has nothing to optimize ('", table, "')");
  }
  virtual Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                         const BlockInterval& blocks) {
    (void)spec;
    (void)blocks;
    return Status::NotImplemented("the ", name(), " loader cannot read rows back (ReadRows)");
  }
};

/// One documented loader option; the table drives validation and `ampsync loaders describe`.
struct OptionSpec {
  enum class Type { kString, kInt, kBool, kSecret };
  std::string name;
  Type type = Type::kString;
  std::string default_value;  ///< Empty: no default.
  std::string doc;
  bool required = false;
};

/// "string", "int", "bool" or "secret": how errors and `ampsync loaders describe` name a type.
const char* ToString(OptionSpec::Type type);

/// Loader configuration: option name -> value as text (validated against the OptionSpecs).
/// A value of the form "env:NAME" is read from the environment variable NAME when the
/// loader is created (LoaderRegistry::Create), so secrets need not be written anywhere.
using LoaderConfig = std::map<std::string, std::string>;

/// Loaders by name, each with its option table and URI schemes. Registration is explicit,
/// never by static initialisers: the built-in list is amp/builtin_loaders.h, and a caller
/// may build a registry of its own loaders.
class LoaderRegistry {
 public:
  using Factory = std::function<Result<std::unique_ptr<Loader>>(const LoaderConfig&)>;
  /// Maps a connection URI ("postgresql://user@host:5432/db?sslmode=require") to options.
  using UriParser = std::function<Result<LoaderConfig>(const std::string& uri)>;
  struct Entry {
    std::string name;
    std::string description;
    std::vector<OptionSpec> options;
    Factory factory;
    /// URI schemes that name this loader ("postgresql", "postgres"; "memory").
    std::vector<std::string> uri_schemes;
    /// Empty: the generic mapping of ParseConnectionUri (amp/load.h) applies:
    /// user, password, host, port, dbname (the path), and every query parameter as is.
    UriParser from_uri;
  };

  /// Adds `entry`, replacing an entry of the same name.
  void Register(Entry entry);
  const Entry* Find(const std::string& name) const;
  /// The entry whose uri_schemes contain `scheme` (case-insensitive), or nullptr.
  const Entry* FindByScheme(const std::string& scheme) const;
  std::vector<std::string> names() const;
  /// Checks `config` against the entry's options and returns it with defaults filled:
  /// unknown key -> Invalid listing the valid ones; missing required option; int/bool
  /// values that do not parse (bool: true/false/1/0/yes/no/on/off). "env:NAME" values
  /// are resolved first when `resolve_env`, else accepted as they are. Error messages
  /// never contain the value of a kSecret option. All errors are kFatal.
  Result<LoaderConfig> Validate(const std::string& name, const LoaderConfig& config,
                                bool resolve_env = true) const;
  /// Validate() (resolving "env:" values), then the factory.
  Result<std::unique_ptr<Loader>> Create(const std::string& name, const LoaderConfig& config) const;

 private:
  std::vector<Entry> entries_;
};

/// Parses an option value of type kBool: true/false/1/0/yes/no/on/off (any case).
Result<bool> ParseBoolOption(const std::string& value);

}  // namespace amp
