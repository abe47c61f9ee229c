#include "job_file.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "amp/builtin_loaders.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "exit_codes.h"

namespace amp::cli {
namespace {

// Why a connection URI holds a secret in clear ("" when it does not): a password in the
// user info (user:password@host) or a password/token query parameter not written env:.
std::string UriSecret(const std::string& uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return "";
  std::string rest = uri.substr(scheme + 3);
  std::string query;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const std::string authority = rest.substr(0, rest.find('/'));
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    if (authority.substr(0, at).find(':') != std::string::npos) return "the uri holds a password";
  }
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string item = query.substr(start, end - start);
    start = end + 1;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if ((key == "password" || key == "token") && value.rfind("env:", 0) != 0 && value.rfind("env%3A", 0) != 0) {
      return "the uri holds a " + key;
    }
  }
  return "";
}

// Where a parse error points: "<file>:<line>: <key>: <message>".
class Parser {
 public:
  Parser(std::string path, const EnvLookup& env) : path_(std::move(path)), env_(env) {}

  Result<JobFile> Parse(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      return Error(static_cast<int>(e.source().begin.line), "", std::string(e.description()));
    }
    file_.path = path_;
    for (auto&& [k, v] : root) {
      const std::string key(k.str());
      const int line = Line(k);
      if (key == "server") {
        AMP_RETURN_NOT_OK(ParseServer(v, line));
      } else if (key == "connections") {
        AMP_RETURN_NOT_OK(ParseConnections(v, line));
      } else if (key == "job") {
        AMP_RETURN_NOT_OK(ParseJob(v, line));
      } else {
        return Unknown(line, key, "the top level", {"server", "connections", "job"});
      }
    }
    if (!seen_job_) return Error(0, "job", "the file has no [job] table");
    AMP_RETURN_NOT_OK(ResolveConnection());
    return std::move(file_);
  }

 private:
  static int Line(const toml::key& k) { return static_cast<int>(k.source().begin.line); }

  Status Error(int line, const std::string& key, const std::string& message) const {
    std::string where = path_;
    if (line > 0) where += ":" + std::to_string(line);
    return UsageError(Status::Invalid(where, ": ", key.empty() ? "" : key + ": ", message));
  }

  Status Unknown(int line, const std::string& key, const std::string& where,
                 const std::vector<std::string>& known) const {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return Error(line, key, "unknown key in " + where + " (known: " + list + ")");
  }

  void Record(const std::string& dotted, int line) { file_.lines[dotted] = line; }

  Result<std::string> String(const toml::node& v, int line, const std::string& key) const {
    if (auto s = v.value_exact<std::string>()) return *s;
    return Error(line, key, "expected a string");
  }
  Result<bool> Bool(const toml::node& v, int line, const std::string& key) const {
    if (auto b = v.value_exact<bool>()) return *b;
    return Error(line, key, "expected true or false");
  }
  Result<int64_t> Int(const toml::node& v, int line, const std::string& key, int64_t min) const {
    auto i = v.value_exact<int64_t>();
    if (!i) return Error(line, key, "expected an integer");
    if (*i < min) return Error(line, key, "must be at least " + std::to_string(min) + ", got " + std::to_string(*i));
    return *i;
  }

  Status ParseServer(const toml::node& node, int line) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Error(line, "server", "expected a table ([server])");
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      const std::string dotted = "server." + key;
      const int l = Line(k);
      Record(dotted, l);
      if (key == "url") {
        AMP_ASSIGN_OR_RETURN(file_.job.server, String(v, l, dotted));
      } else if (key == "token_env") {
        AMP_ASSIGN_OR_RETURN(std::string var, String(v, l, dotted));
        auto token = env_(var);
        if (!token) return Error(l, dotted, "environment variable " + var + " is not set");
        file_.job.token = *token;
      } else if (key == "token") {
        return Error(l, dotted, "tokens are not written in job files: name the environment variable that holds it with token_env");
      } else {
        return Unknown(l, dotted, "[server]", {"url", "token_env"});
      }
    }
    return Status::OK();
  }

  Status ParseConnections(const toml::node& node, int line) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Error(line, "connections", "expected a table ([connections.NAME])");
    const LoaderRegistry& registry = BuiltinLoaders();
    for (auto&& [name_key, conn_node] : *t) {
      const std::string name(name_key.str());
      const std::string prefix = "connections." + name;
      const int conn_line = Line(name_key);
      Record(prefix, conn_line);
      const toml::table* conn = conn_node.as_table();
      if (conn == nullptr) return Error(conn_line, prefix, "expected a table ([" + prefix + "])");
      std::string loader, uri;
      int loader_line = conn_line, uri_line = conn_line;
      // Options, with the line of each, applied after the loader is known.
      std::vector<std::tuple<std::string, std::string, int>> options;
      for (auto&& [k, v] : *conn) {
        const std::string key(k.str());
        const std::string dotted = prefix + "." + key;
        const int l = Line(k);
        if (key == "loader") {
          AMP_ASSIGN_OR_RETURN(loader, String(v, l, dotted));
          loader_line = l;
        } else if (key == "uri") {
          AMP_ASSIGN_OR_RETURN(uri, String(v, l, dotted));
          uri_line = l;
        } else if (auto s = v.value_exact<std::string>()) {
          options.emplace_back(key, *s, l);
        } else if (auto i = v.value_exact<int64_t>()) {
          options.emplace_back(key, std::to_string(*i), l);
        } else if (auto b = v.value_exact<bool>()) {
          options.emplace_back(key, *b ? "true" : "false", l);
        } else {
          return Error(l, dotted, "expected a string, integer or boolean");
        }
      }
      ConnectionSpec spec;
      if (!uri.empty()) {
        auto parsed = ParseConnectionUri(uri, registry);
        if (!parsed.ok()) return Error(uri_line, prefix + ".uri", parsed.status().message());
        spec = std::move(*parsed);
        if (!loader.empty() && loader != spec.loader) {
          return Error(loader_line, prefix + ".loader",
                       "'" + loader + "' does not match the uri's loader '" + spec.loader + "'");
        }
      } else if (loader.empty()) {
        return Error(conn_line, prefix, "needs loader = \"NAME\" (with its options) or uri = \"...\"");
      } else {
        spec.loader = loader;
      }
      const LoaderRegistry::Entry* entry = registry.Find(spec.loader);
      if (entry == nullptr) {
        std::string known;
        for (const auto& n : registry.names()) known += (known.empty() ? "" : ", ") + n;
        return Error(loader_line, prefix + ".loader", "unknown loader '" + spec.loader + "' (built-in: " + known + ")");
      }
      auto find_option = [&](const std::string& key) -> const OptionSpec* {
        for (const auto& o : entry->options) {
          if (o.name == key) return &o;
        }
        return nullptr;
      };
      for (auto& [key, value, l] : options) {
        const OptionSpec* o = find_option(key);
        if (o == nullptr) {
          std::vector<std::string> known = {"loader", "uri"};
          for (const auto& opt : entry->options) known.push_back(opt.name);
          return Unknown(l, prefix + "." + key, "[" + prefix + "] (loader " + spec.loader + ")", known);
        }
        spec.config[key] = value;
        Record(prefix + "." + key, l);
      }
      // Secrets (the loader's kSecret options, a password inside the uri) are only env:
      // references, so the file can be committed and shared.
      for (auto& [key, value, l] : options) {
        const OptionSpec* o = find_option(key);
        if (o->type == OptionSpec::Type::kSecret && value.rfind("env:", 0) != 0) {
          return Error(l, prefix + "." + key,
                       "secrets are only accepted as env: references (e.g. " + key +
                           " = \"env:PGPASSWORD\"), never in clear");
        }
      }
      if (!uri.empty()) {
        if (std::string why = UriSecret(uri); !why.empty()) {
          return Error(uri_line, prefix + ".uri",
                       why + ": secrets are only accepted as env: references (add password = "
                             "\"env:PGPASSWORD\" to [" + prefix + "])");
        }
      }
      connections_[name] = std::move(spec);
    }
    return Status::OK();
  }

  Status ParseJob(const toml::node& node, int line) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Error(line, "job", "expected a table ([job])");
    seen_job_ = true;
    job_line_ = line;
    LoadJob& job = file_.job;
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      const std::string dotted = "job." + key;
      const int l = Line(k);
      Record(dotted, l);
      if (key == "query") {
        AMP_ASSIGN_OR_RETURN(job.query, String(v, l, dotted));
      } else if (key == "connection") {
        AMP_ASSIGN_OR_RETURN(connection_, String(v, l, dotted));
      } else if (key == "table") {
        AMP_ASSIGN_OR_RETURN(job.table, String(v, l, dotted));
      } else if (key == "mode") {
        AMP_ASSIGN_OR_RETURN(job.mode, String(v, l, dotted));
      } else if (key == "key_columns") {
        job.key_columns.clear();
        if (auto s = v.value_exact<std::string>()) {
          job.key_columns.push_back(*s);
        } else if (const toml::array* a = v.as_array()) {
          for (const toml::node& item : *a) {
            auto s2 = item.value_exact<std::string>();
            if (!s2) return Error(l, dotted, "expected an array of column names");
            job.key_columns.push_back(*s2);
          }
        } else {
          return Error(l, dotted, "expected an array of column names");
        }
      } else if (key == "stream") {
        AMP_ASSIGN_OR_RETURN(job.stream, Bool(v, l, dotted));
      } else if (key == "batch_size") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 1));
        job.batch_size = n;
      } else if (key == "block_column") {
        AMP_ASSIGN_OR_RETURN(std::string c, String(v, l, dotted));
        job.block_column = c;
      } else if (key == "resume") {
        AMP_ASSIGN_OR_RETURN(job.resume, Bool(v, l, dotted));
      } else if (key == "max_attempts") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 1));
        job.max_attempts = static_cast<int>(std::min<int64_t>(n, 1'000'000));
      } else if (key == "retention_blocks") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 0));
        job.retention_blocks = static_cast<uint64_t>(n);
      } else if (key == "wait_for_data") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 0));
        job.wait_for_data = static_cast<uint64_t>(n);
      } else if (key == "parallel") {
        AMP_RETURN_NOT_OK(ParseParallel(v, l));
      } else {
        return Unknown(l, dotted, "[job]",
                       {"query", "connection", "table", "mode", "key_columns", "stream", "batch_size",
                        "block_column", "resume", "max_attempts", "retention_blocks",
                        "wait_for_data", "parallel"});
      }
    }
    return Status::OK();
  }

  Status ParseParallel(const toml::node& node, int line) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Error(line, "job.parallel", "expected a table ([job.parallel])");
    ParallelJob p;
    bool have_workers = false;
    std::optional<std::string> block_column;
    int block_column_line = line;
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      const std::string dotted = "job.parallel." + key;
      const int l = Line(k);
      Record(dotted, l);
      if (key == "workers") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 1));
        if (n > 256) return Error(l, dotted, "must be between 1 and 256, got " + std::to_string(n));
        p.workers = static_cast<int>(n);
        have_workers = true;
      } else if (key == "source_table") {
        AMP_ASSIGN_OR_RETURN(p.source_table, String(v, l, dotted));
      } else if (key == "from_block") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 0));
        p.from_block = static_cast<uint64_t>(n);
      } else if (key == "to_block") {
        if (auto s = v.value_exact<std::string>()) {
          if (*s != "latest") {
            return Error(l, dotted, "expected the last block to load (an integer) or \"latest\", got \"" + *s + "\"");
          }
          p.to_block.reset();
        } else {
          AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 0));
          p.to_block = static_cast<uint64_t>(n);
        }
      } else if (key == "partition_size") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 1));
        p.partition_size = static_cast<uint64_t>(n);
      } else if (key == "block_column") {
        AMP_ASSIGN_OR_RETURN(std::string c, String(v, l, dotted));
        block_column = c;
        block_column_line = l;
      } else if (key == "reorg_buffer") {
        AMP_ASSIGN_OR_RETURN(int64_t n, Int(v, l, dotted, 0));
        p.reorg_buffer = static_cast<uint64_t>(n);
      } else if (key == "stop_on_error") {
        AMP_ASSIGN_OR_RETURN(p.stop_on_error, Bool(v, l, dotted));
      } else if (key == "dry_run") {
        AMP_ASSIGN_OR_RETURN(file_.job.dry_run, Bool(v, l, dotted));
      } else {
        return Unknown(l, dotted, "[job.parallel]",
                       {"workers", "source_table", "from_block", "to_block", "partition_size",
                        "block_column", "reorg_buffer", "stop_on_error", "dry_run"});
      }
    }
    if (!have_workers) return Error(line, "job.parallel", "workers is required (the number of parallel workers)");
    if (block_column) {
      if (file_.job.block_column && *file_.job.block_column != *block_column) {
        return Error(block_column_line, "job.parallel.block_column",
                     "differs from job.block_column '" + *file_.job.block_column + "'; set one of them");
      }
      file_.job.block_column = block_column;
    }
    file_.job.parallel = p;
    return Status::OK();
  }

  Status ResolveConnection() {
    const int line = file_.lines.count("job.connection") ? file_.lines["job.connection"] : job_line_;
    if (connection_.empty()) return Error(job_line_, "job.connection", "missing: name a [connections.NAME] or give a URI");
    Destination& dest = file_.job.destination;
    if (auto it = connections_.find(connection_); it != connections_.end()) {
      dest.name = connection_;
      dest.spec = it->second;
      return Status::OK();
    }
    if (connection_.find("://") != std::string::npos) {
      auto parsed = ParseConnectionUri(connection_);
      if (!parsed.ok()) return Error(line, "job.connection", parsed.status().message());
      if (std::string why = UriSecret(connection_); !why.empty()) {
        return Error(line, "job.connection",
                     why + ": secrets are only accepted as env: references (use a "
                           "[connections.NAME] table with password = \"env:VAR\")");
      }
      dest.name = "destination";
      dest.uri = connection_;
      return Status::OK();
    }
    std::string known;
    for (const auto& [n, spec] : connections_) known += (known.empty() ? "" : ", ") + n;
    return Error(line, "job.connection",
                 "no connection named '" + connection_ + "' (defined: " + (known.empty() ? "none" : known) + ")");
  }

  std::string path_;
  const EnvLookup& env_;
  JobFile file_;
  std::map<std::string, ConnectionSpec> connections_;
  std::string connection_;
  bool seen_job_ = false;
  int job_line_ = 0;
};

// Canonical field id -> its key in a job file.
std::string JobKey(std::string_view field, const std::map<std::string, int>& lines) {
  static const std::set<std::string, std::less<>> kParallel = {
      "workers", "source_table", "from_block", "to_block", "partition_size", "reorg_buffer",
      "stop_on_error", "dry_run"};
  if (kParallel.count(field)) return "job.parallel." + std::string(field);
  if (field == "block_column") {
    return lines.count("job.parallel.block_column") ? "job.parallel.block_column" : "job.block_column";
  }
  if (field == "server") return "server.url";
  return "job." + std::string(field);
}

}  // namespace

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

FieldNamer JobFile::Namer() const {
  return [path = path, lines = lines](std::string_view field) {
    const std::string key = JobKey(field, lines);
    auto it = lines.find(key);
    if (it == lines.end()) return key + " (" + path + ")";
    return key + " (" + path + ":" + std::to_string(it->second) + ")";
  };
}

Result<JobFile> ParseJobFile(std::string_view text, const std::string& path, const EnvLookup& env) {
  Parser parser(path, env);
  return parser.Parse(text);
}

Result<JobFile> LoadJobFile(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(Status::IOError("cannot read job file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseJobFile(text.str(), path, env);
}

}  // namespace amp::cli
