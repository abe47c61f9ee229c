#include "loaders/redis/redis_options.h"

#include <cctype>
#include <charconv>

namespace amp::redis {
namespace {

std::string Option(const LoaderConfig& config, const std::string& name) {
  if (auto it = config.find(name); it != config.end()) return it->second;
  for (const auto& spec : RedisOptions()) {
    if (spec.name == name) return spec.default_value;
  }
  return "";
}

Result<int64_t> IntOption(const LoaderConfig& config, const std::string& name, int64_t min,
                          int64_t max) {
  const std::string text = Option(config, name);
  int64_t value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || value < min || value > max) {
    return FatalError("[redis] option '" + name + "' must be an integer in [" +
                          std::to_string(min) + ", " + std::to_string(max) + "], got \"" + text +
                          "\"",
                      "config");
  }
  return value;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string PercentDecode(const std::string& text) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
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

Result<Structure> StructureFromName(const std::string& name) {
  for (Structure s : {Structure::kHash, Structure::kString, Structure::kStream, Structure::kSet,
                      Structure::kSortedSet, Structure::kList}) {
    if (name == StructureName(s)) return s;
  }
  return FatalError("[redis] option 'data_structure' must be one of hash, string, stream, set, "
                    "sorted_set, list; got \"" + name + "\"",
                    "config");
}

bool KeyPerRow(Structure s) { return s == Structure::kHash || s == Structure::kString; }

Result<Settings> SettingsFromConfig(const LoaderConfig& config) {
  Settings s;
  s.connect.host = Option(config, "host");
  if (s.connect.host.empty()) return FatalError("[redis] option 'host' is empty", "config");
  AMP_ASSIGN_OR_RETURN(int64_t port, IntOption(config, "port", 1, 65535));
  s.connect.port = static_cast<int>(port);
  AMP_ASSIGN_OR_RETURN(int64_t db, IntOption(config, "db", 0, 1 << 20));
  s.connect.db = static_cast<int>(db);
  s.connect.user = Option(config, "user");
  // "env:" references were resolved by the registry (loaders/common/secrets.h).
  s.connect.password = Option(config, "password");
  s.connect.client_name = Option(config, "client_name");
  for (char c : s.connect.client_name) {
    if (c <= ' ' || c > '~') {
      return FatalError("[redis] option 'client_name' must not contain spaces", "config");
    }
  }
  AMP_ASSIGN_OR_RETURN(int64_t ct, IntOption(config, "connect_timeout", 1, 3600));
  s.connect.connect_timeout = std::chrono::seconds(ct);
  AMP_ASSIGN_OR_RETURN(int64_t st, IntOption(config, "socket_timeout", 0, 86400));
  s.connect.socket_timeout = std::chrono::seconds(st);
  s.prefix = Option(config, "prefix");
  AMP_ASSIGN_OR_RETURN(s.structure, StructureFromName(Option(config, "data_structure")));
  s.key_pattern = Option(config, "key_pattern");
  AMP_ASSIGN_OR_RETURN(s.ttl, IntOption(config, "ttl", 0, int64_t{1} << 40));
  AMP_ASSIGN_OR_RETURN(int64_t pipeline, IntOption(config, "pipeline", 1, 1'000'000));
  s.pipeline = static_cast<int>(pipeline);
  s.score_column = Option(config, "score_column");
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
  LoaderConfig config;
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return FatalError("[redis] not a redis:// URI", "config");
  const std::string s = Lower(uri.substr(0, scheme));
  if (s != "redis") {
    return FatalError("[redis] URI scheme '" + s + "' is not supported (redis:// only; no TLS)",
                      "config");
  }
  std::string rest = uri.substr(scheme + 3);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string authority = rest, path;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    const std::string user = PercentDecode(userinfo.substr(0, colon));
    if (!user.empty()) config["user"] = user;
    if (colon != std::string::npos) config["password"] = PercentDecode(userinfo.substr(colon + 1));
  }
  if (!authority.empty()) {
    std::string host = authority;
    if (authority.front() == '[') {  // [ipv6]:port
      const size_t close = authority.find(']');
      host = authority.substr(1, close - 1);
      if (close + 1 < authority.size() && authority[close + 1] == ':') {
        config["port"] = authority.substr(close + 2);
      }
    } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
      host = authority.substr(0, colon);
      config["port"] = authority.substr(colon + 1);
    }
    if (!host.empty()) config["host"] = PercentDecode(host);
  }
  if (!path.empty()) config["db"] = path;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string item = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    config[PercentDecode(item.substr(0, eq))] =
        eq == std::string::npos ? "" : PercentDecode(item.substr(eq + 1));
  }
  return config;
}

}  // namespace amp::redis
