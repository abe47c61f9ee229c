// What a "redis" loader shares with its sessions: the settings, the key layout, what
// EnsureTable learned about each table, and the SHA1s of the Lua scripts (loaded on every
// new connection, and again before each unit's type checks, since a restarted server has
// forgotten them).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "amp/loader.h"
#include "loaders/redis/key_layout.h"
#include "loaders/redis/redis_client.h"
#include "loaders/redis/redis_codec.h"
#include "loaders/redis/redis_options.h"

namespace amp::redis {

inline constexpr const char* kBlockStart = "_amp_block_start";
inline constexpr const char* kBlockEnd = "_amp_block_end";

/// A table as EnsureTable found or created it; read-only once published.
struct TableInfo {
  TableSpec spec;
  Structure structure = Structure::kHash;
  KeyPattern pattern;
  int score_column = -1;  // sorted_set: column giving the score; -1: the first block
  // Binaries in hash/stream fields: the table's stored `format` (1: hex, 2: raw bytes).
  BinaryForm binary = BinaryForm::kRaw;
  // Keys.
  std::string meta, idx, idxs, seq, streams_of_table;
  // The `id` field of the description: random, written when the table is created, so a
  // checkpoint can tell its table from a dropped and recreated one of the same name.
  std::string id;
};

struct ScriptShas {
  std::string undo, xadd, type_check;
};

struct SharedState {
  explicit SharedState(Settings s) : settings(std::move(s)), keys(settings.prefix) {}
  const Settings settings;
  const KeyLayout keys;

  std::string Target() const { return settings.connect.Target(); }
  std::shared_ptr<const TableInfo> Find(const std::string& table) const;
  void Publish(std::shared_ptr<const TableInfo> info);
  void Forget(const std::string& table);
  /// Every table EnsureTable has seen.
  std::vector<std::shared_ptr<const TableInfo>> Tables() const;
  ScriptShas Shas() const;
  void SetShas(ScriptShas shas);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const TableInfo>> tables_;  // guarded by mu_
  ScriptShas shas_;                                                  // guarded by mu_
};

/// Appends SCRIPT LOAD of every script the loader runs, in ScriptShas order; returns how
/// many commands that is.
size_t AppendScriptLoads(std::string* buf);

/// A new connection with the scripts loaded (their SHA1s recorded in `shared`).
Result<std::unique_ptr<RedisConnection>> Connect(SharedState& shared);

}  // namespace amp::redis
