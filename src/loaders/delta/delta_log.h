// The Delta Lake transaction log of one table directory, as the "delta" loader reads and
// writes it (Delta protocol, PROTOCOL.md of delta-io/delta):
//
//   <table>/_delta_log/00000000000000000000.json    version 0: protocol + metaData (+ adds)
//   <table>/_delta_log/<v, 20 digits>.json          one commit: newline-delimited actions
//   <table>/_delta_log/<v>.checkpoint.parquet       the whole state at v (every N versions)
//   <table>/_delta_log/_last_checkpoint             {"version": v, "size": actions}
//
// Snapshot is the replayed state (protocol, metaData, live add files, txn versions per
// appId, domainMetadata); Refresh() brings one up to date incrementally (the checkpoint
// first when starting from nothing, then the JSON versions after it). TryCommit() is the
// optimistic-concurrency primitive: the version file is written to a temporary name,
// fsync'ed, then link()ed to its final name, which fails with EEXIST when another writer
// took that version: the file appears whole or not at all, and exactly one writer wins.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "amp/status.h"

namespace amp::delta {

/// Per-file statistics the loader relies on (parsed from add.stats).
struct FileStats {
  int64_t num_records = -1;  ///< -1: unknown.
  /// min/max of `_amp_block_start` and `_amp_block_end`, when present.
  std::optional<int64_t> min_start, max_start, min_end, max_end;
};

struct AddFile {
  std::string path;  ///< Relative to the table directory (URL-decoded).
  std::map<std::string, std::optional<std::string>> partition_values;
  int64_t size = 0;
  int64_t modification_time = 0;
  bool data_change = true;
  std::string stats;  ///< The JSON text as written.
  FileStats parsed;

  nlohmann::json ToJson() const;
  static Result<AddFile> FromJson(const nlohmann::json& add);
};

struct Snapshot {
  int64_t version = -1;  ///< -1: no table (no version file).
  nlohmann::json protocol;
  nlohmann::json metadata;  ///< The metaData action's object.
  std::map<std::string, AddFile> files;  ///< Live files by path.
  std::map<std::string, int64_t> txns;   ///< appId -> version.
  std::map<std::string, std::string> domains;  ///< domain -> configuration (live only).
  int64_t last_checkpoint = -1;  ///< Version of the checkpoint this snapshot started from.

  /// The Delta schema (the parsed schemaString), or null when there is no metaData.
  Result<nlohmann::json> Schema() const;
  std::vector<std::string> PartitionColumns() const;
};

// --- The actions of one commit, typed. ---

/// The commitInfo action: provenance that readers show as the table's history. Only the
/// fields set are written (operation_parameters and amp when not null, is_blind_append when
/// set).
struct CommitInfo {
  std::string operation;  ///< "WRITE", "MERGE", "DELETE", "OPTIMIZE", "CREATE TABLE", ...
  nlohmann::json operation_parameters;
  std::string engine_info = "ampsync";
  std::optional<bool> is_blind_append;
  nlohmann::json amp;  ///< Which stream unit wrote the version, when one did.
  int64_t timestamp = 0;
};

/// A remove action for a file that was live.
struct RemoveFile {
  AddFile file;
  int64_t deletion_timestamp = 0;
  bool data_change = true;  ///< false for compaction (the rows stay).
};

/// A txn action: the application's transaction version (the stream's transaction id).
struct Txn {
  std::string app_id;
  int64_t version = 0;
  std::optional<int64_t> last_updated;
};

/// A domainMetadata action (set, or removed).
struct DomainMetadata {
  std::string domain;
  std::string configuration;
  bool removed = false;
};

/// Everything one version holds. It is written commitInfo first, then protocol, metaData,
/// txn, domainMetadata, remove and add actions; the protocol gives the actions of one
/// version no order, so this one order serves every kind of commit.
struct DeltaTransaction {
  CommitInfo commit_info;
  nlohmann::json protocol;  ///< null: unchanged.
  nlohmann::json metadata;  ///< null: unchanged (else the whole metaData object).
  std::optional<Txn> txn;
  std::vector<DomainMetadata> domains;
  std::vector<RemoveFile> removes;
  std::vector<AddFile> adds;

  /// The version file's text: one JSON object per line.
  std::string ToText() const;
};

/// A commitInfo for `operation`, stamped now.
CommitInfo MakeCommitInfo(std::string operation, nlohmann::json operation_parameters = nullptr);

/// The protocol action this loader writes (writer version 7 with domainMetadata).
nlohmann::json WriterProtocol();

/// Path of version `v`'s JSON file under `log_dir`.
std::string VersionPath(const std::string& log_dir, int64_t v);

/// Applies one commit's actions (newline-delimited JSON) to `snapshot`.
Status ApplyCommit(Snapshot& snapshot, const std::string& text);

/// Applies a transaction this process committed to `snapshot` (version unchanged).
void ApplyTransaction(Snapshot& snapshot, const DeltaTransaction& transaction);

/// Brings `snapshot` of `table_dir` up to the newest version. A default Snapshot is loaded
/// from the newest checkpoint (if any), then the JSON versions after it.
Status Refresh(const std::string& table_dir, Snapshot& snapshot);

/// Writes `transaction` as version `version`. Returns false (and writes nothing) when
/// that version already exists.
Result<bool> TryCommit(const std::string& table_dir, int64_t version,
                       const DeltaTransaction& transaction);

/// Writes a checkpoint of `snapshot` at snapshot.version and updates _last_checkpoint.
Status WriteCheckpoint(const std::string& table_dir, const Snapshot& snapshot);

/// True when `table_dir/_delta_log` holds at least one version file or checkpoint.
bool HasLog(const std::string& table_dir);

/// Milliseconds since the epoch (for modificationTime, commitInfo timestamps).
int64_t NowMillis();

/// `digits` random lowercase hex digits (file names, table ids), distinct across threads
/// and processes.
std::string RandomHex(int digits = 16);

/// A partition value as a directory name holds it: percent-encoded, '~' included.
std::string EncodePartitionValue(const std::string& value);

}  // namespace amp::delta
