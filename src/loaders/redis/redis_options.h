// The "redis" loader's options: the documented table (defaults and help for `ampsync
// loaders describe`), the data structures rows can be stored as, the settings a loader is
// built from, and the redis:// URI mapping. docs/loaders/redis.md lists the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "loaders/redis/redis_client.h"

namespace amp::redis {

/// How rows are stored: one key per row (hash, string) or elements of collections.
enum class Structure { kHash, kString, kStream, kSet, kSortedSet, kList };

/// The option value ("sorted_set"), also stored in a table's description.
const char* StructureName(Structure s);
/// The Redis TYPE of the keys holding rows or collections of rows ("zset").
const char* RedisType(Structure s);
std::optional<Structure> StructureFromName(const std::string& name);
/// Hash and string rows have a key of their own (so upserts and per-row TTLs work).
bool KeyPerRow(Structure s);

struct Settings {
  ConnectOptions connect;
  std::string prefix;
  Structure structure = Structure::kHash;
  std::string key_pattern;  // empty: the default for the structure and mode
  int64_t ttl = 0;
  int pipeline = 1000;
  std::string score_column;
};

/// The loader's documented options.
std::vector<OptionSpec> RedisOptions();

/// The settings of a config validated by the registry; missing options take their
/// defaults. Errors: kFatal naming the option and the accepted values.
Result<Settings> SettingsFromConfig(const LoaderConfig& config);

/// redis://[user[:password]@]host[:port][/db][?option=value&...] -> options.
Result<LoaderConfig> ConfigFromUri(const std::string& uri);

}  // namespace amp::redis
