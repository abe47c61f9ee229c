#include "loaders/redis/redis_options.h"

#include "loaders/common/connection_uri.h"
#include "loaders/common/options.h"

namespace amp::redis {
namespace {

constexpr const char* kLoaderName = "redis";

constexpr Structure kStructures[] = {Structure::kHash, Structure::kString, Structure::kStream,
                                     Structure::kSet, Structure::kSortedSet, Structure::kList};

// The generic mapping (user, password, host, port, query items), with the path naming the
// database number: redis://host:6379/3.
Result<LoaderConfig> ConfigFromParsedUri(const loaders::ConnectionUri& uri) {
  if (uri.scheme != "redis") {
    return FatalError("[redis] URI scheme '" + uri.scheme + "' is not supported (redis:// only; no TLS)",
                      "config");
  }
  loaders::ConnectionUri fields = uri;
  fields.path.clear();
  LoaderConfig config = loaders::GenericUriConfig(fields);
  if (!uri.path.empty()) config.emplace("db", uri.path);  // a ?db= query item wins
  return config;
}

Result<ConnectOptions> ConnectOptionsFrom(const loaders::OptionValues& options) {
  ConnectOptions connect;
  connect.host = options.GetString("host");
  if (connect.host.empty()) return loaders::OptionError(kLoaderName, "host", "is empty");
  AMP_ASSIGN_OR_RETURN(int64_t port, options.GetInt("port", 1, 65535));
  connect.port = static_cast<int>(port);
  AMP_ASSIGN_OR_RETURN(int64_t db, options.GetInt("db", 0, 1 << 20));
  connect.db = static_cast<int>(db);
  connect.user = options.GetString("user");
  connect.password = options.GetSecret("password");
  connect.client_name = options.GetString("client_name");
  for (char c : connect.client_name) {
    if (c <= ' ' || c > '~') return loaders::OptionError(kLoaderName, "client_name", "must not contain spaces");
  }
  AMP_ASSIGN_OR_RETURN(int64_t ct, options.GetInt("connect_timeout", 1, 3600));
  connect.connect_timeout = std::chrono::seconds(ct);
  AMP_ASSIGN_OR_RETURN(int64_t st, options.GetInt("socket_timeout", 0, 86400));
  connect.socket_timeout = std::chrono::seconds(st);
  return connect;
}

}  // namespace

const char* StructureName(Structure s) {
  switch (s) {
    case Structure::kHash: return "hash";
    case Structure::kString: return "string";
    case Structure::kStream: return "stream";
    case Structure::kSet: return "set";
    case Structure::kSortedSet: return "sorted_set";
    case Structure::kList: return "list";
  }
  return "?";
}

// The Redis TYPE of the keys holding rows (or collections of rows).
const char* RedisType(Structure s) {
  switch (s) {
    case Structure::kHash: return "hash";
    case Structure::kString: return "string";
    case Structure::kStream: return "stream";
    case Structure::kSet: return "set";
    case Structure::kSortedSet: return "zset";
    case Structure::kList: return "list";
  }
  return "?";
}

std::optional<Structure> StructureFromName(const std::string& name) {
  for (Structure s : kStructures) {
    if (name == StructureName(s)) return s;
  }
  return std::nullopt;
}

bool KeyPerRow(Structure s) { return s == Structure::kHash || s == Structure::kString; }

Result<Settings> SettingsFromConfig(const LoaderConfig& config) {
  const loaders::OptionValues options(kLoaderName, RedisOptions(), config);
  Settings s;
  AMP_ASSIGN_OR_RETURN(s.connect, ConnectOptionsFrom(options));
  s.prefix = options.GetString("prefix");
  const std::string structure = options.GetString("data_structure");
  auto parsed = StructureFromName(structure);
  if (!parsed) {
    return loaders::OptionError(kLoaderName, "data_structure",
                                "must be one of hash, string, stream, set, sorted_set, list; got \"" +
                                    structure + "\"");
  }
  s.structure = *parsed;
  s.key_pattern = options.GetString("key_pattern");
  AMP_ASSIGN_OR_RETURN(s.ttl, options.GetInt("ttl", 0, int64_t{1} << 40));
  AMP_ASSIGN_OR_RETURN(int64_t pipeline, options.GetInt("pipeline", 1, 1'000'000));
  s.pipeline = static_cast<int>(pipeline);
  s.score_column = options.GetString("score_column");
  return s;
}

std::vector<OptionSpec> RedisOptions() {
  using T = OptionSpec::Type;
  return {
      {"host", T::kString, "127.0.0.1", "Server host name or IP address."},
      {"port", T::kInt, "6379", "Server port."},
      {"db", T::kInt, "0", "Database number (SELECT)."},
      {"user", T::kString, "", "ACL user name (Redis 6+); empty: the default user."},
      {"password", T::kSecret, "",
       "Password (AUTH); \"env:VAR\" reads it from an environment variable. Never logged."},
      {"prefix", T::kString, "",
       "Prepended to every key the loader writes (rows, index, descriptions, checkpoints)."},
      {"data_structure", T::kString, "hash",
       "How rows are stored: hash (one hash per row), string (one JSON document per row), "
       "stream (XADD entries), set, sorted_set or list (JSON documents in one collection per "
       "key_pattern)."},
      {"key_pattern", T::kString, "",
       "Key of each row (hash, string) or collection: text with {column} placeholders and "
       "{table}, {_amp_block_start}, {_amp_block_end}, {_amp_seq}. Empty: "
       "{table}:{_amp_block_start}:{_amp_seq} (unique per row), {table}:{k1}:{k2}... for "
       "upserts, {table} for collections."},
      {"ttl", T::kInt, "0", "Seconds until written keys expire (EXPIRE); 0: never."},
      {"pipeline", T::kInt, "1000", "Commands in flight before the loader waits for replies."},
      {"score_column", T::kString, "",
       "sorted_set: the numeric column giving each member's score; empty: the row's block."},
      {"client_name", T::kString, "ampsync", "CLIENT SETNAME of the loader's connections."},
      {"connect_timeout", T::kInt, "5", "Seconds to connect; a timeout is retryable."},
      {"socket_timeout", T::kInt, "60",
       "Seconds to wait for a reply (0: no limit); a timeout drops the connection and the "
       "unit is retried."},
  };
}

Result<LoaderConfig> ConfigFromUri(const std::string& uri) {
  AMP_ASSIGN_OR_RETURN(auto parsed, loaders::ParseUri(uri));
  return ConfigFromParsedUri(parsed);
}

}  // namespace amp::redis
