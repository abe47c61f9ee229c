// The loader framework's shared pieces (amp/loader.h): LoaderRegistry with option-table
// validation, the built-in loader list, LoadMode names. (Checkpoint records: src/common.)
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "amp/loader.h"
#include "loaders/common/secrets.h"
#include "loaders/memory/memory_loader.h"
#ifdef AMP_WITH_POSTGRES
#include "loaders/postgres/postgres_loader.h"
#endif
#ifdef AMP_WITH_REDIS
#include "loaders/redis/redis_loader.h"
#endif
#ifdef AMP_WITH_DELTA
#include "loaders/delta/delta_loader.h"
#endif

namespace amp {
namespace {

Status ConfigError(Status status) {
  return WithErrorInfo(status, ErrorClass::kFatal, "loader", "INVALID_CONFIG");
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

const char* TypeName(OptionSpec::Type type) {
  switch (type) {
    case OptionSpec::Type::kString: return "string";
    case OptionSpec::Type::kInt: return "int";
    case OptionSpec::Type::kBool: return "bool";
    case OptionSpec::Type::kSecret: return "secret";
  }
  return "?";
}

}  // namespace

// --- LoadMode. ---

const char* ToString(LoadMode mode) {
  switch (mode) {
    case LoadMode::kAppend: return "append";
    case LoadMode::kOverwrite: return "overwrite";
    case LoadMode::kUpsert: return "upsert";
  }
  return "unknown";
}

Result<LoadMode> LoadModeFromString(const std::string& name) {
  const std::string n = Lower(name);
  for (LoadMode m : {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert}) {
    if (n == ToString(m)) return m;
  }
  return ConfigError(Status::Invalid("unknown load mode '", name,
                                     "'; valid modes: append, overwrite, upsert"));
}

Result<bool> ParseBoolOption(const std::string& value) {
  const std::string v = Lower(value);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return Status::Invalid("not a boolean (true/false/1/0/yes/no/on/off)");
}

// --- LoaderRegistry. ---

const LoaderRegistry& LoaderRegistry::Builtin() {
  // Built on first use, explicitly: no static-initialiser self-registration.
  static const LoaderRegistry registry = [] {
    LoaderRegistry r;
    RegisterBuiltinLoaders(r);
    return r;
  }();
  return registry;
}

void LoaderRegistry::Register(Entry entry) {
  for (auto& e : entries_) {
    if (e.name == entry.name) {
      e = std::move(entry);
      return;
    }
  }
  entries_.push_back(std::move(entry));
}

const LoaderRegistry::Entry* LoaderRegistry::Find(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const LoaderRegistry::Entry* LoaderRegistry::FindByScheme(const std::string& scheme) const {
  const std::string s = Lower(scheme);
  for (const auto& e : entries_) {
    for (const auto& candidate : e.uri_schemes) {
      if (Lower(candidate) == s) return &e;
    }
  }
  return nullptr;
}

std::vector<std::string> LoaderRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

Result<LoaderConfig> LoaderRegistry::Validate(const std::string& name, const LoaderConfig& config,
                                              bool resolve_env) const {
  const Entry* entry = Find(name);
  if (entry == nullptr) {
    return ConfigError(Status::KeyError("unknown loader '", name, "'; available loaders: ",
                                        JoinNames(names())));
  }
  std::vector<std::string> valid;
  for (const auto& o : entry->options) valid.push_back(o.name);

  LoaderConfig out;
  for (const auto& [key, raw] : config) {
    auto spec = std::find_if(entry->options.begin(), entry->options.end(),
                             [&](const OptionSpec& o) { return o.name == key; });
    if (spec == entry->options.end()) {
      return ConfigError(Status::Invalid("unknown option '", key, "' for loader '", name,
                                         "'; valid options: ", JoinNames(valid)));
    }
    const bool secret = spec->type == OptionSpec::Type::kSecret;
    std::string value = raw;
    if (!resolve_env) {
      if (loaders::IsEnvReference(raw)) {
        out[key] = raw;  // Checked when the load resolves it.
        continue;
      }
    } else {
      // Every loader's secrets are resolved here, the one place (loaders/common/secrets.h):
      // whole "env:NAME" values and references inside connection URIs alike.
      auto resolved = loaders::ResolveSecrets(name, key, raw);
      if (!resolved.ok()) return resolved.status();  // kFatal, names the option and variable
      value = std::move(*resolved);
    }
    const std::string shown = secret ? std::string("(secret)") : "'" + value + "'";
    if (spec->type == OptionSpec::Type::kInt) {
      errno = 0;
      char* end = nullptr;
      const long long parsed = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || end == nullptr || *end != '\0' || errno == ERANGE) {
        return ConfigError(Status::Invalid("option '", key, "' of loader '", name,
                                           "' must be an integer, got ", shown));
      }
      (void)parsed;
    } else if (spec->type == OptionSpec::Type::kBool) {
      if (!ParseBoolOption(value).ok()) {
        return ConfigError(Status::Invalid("option '", key, "' of loader '", name,
                                           "' must be a boolean (true/false/1/0/yes/no/on/off), got ",
                                           shown));
      }
    }
    out[key] = std::move(value);
  }
  for (const auto& o : entry->options) {
    if (out.count(o.name)) continue;
    if (o.required) {
      return ConfigError(Status::Invalid("loader '", name, "' requires option '", o.name, "' (",
                                         TypeName(o.type), "): ", o.doc));
    }
    if (!o.default_value.empty()) out[o.name] = o.default_value;
  }
  return out;
}

Result<std::unique_ptr<Loader>> LoaderRegistry::Create(const std::string& name,
                                                       const LoaderConfig& config) const {
  AMP_ASSIGN_OR_RETURN(auto resolved, Validate(name, config, /*resolve_env=*/true));
  const Entry* entry = Find(name);
  if (!entry->factory) {
    return ConfigError(Status::NotImplemented("loader '", name, "' has no factory"));
  }
  return entry->factory(resolved);
}

void RegisterBuiltinLoaders(LoaderRegistry& registry) {
  RegisterMemoryLoader(registry);
#ifdef AMP_WITH_POSTGRES
  RegisterPostgresLoader(registry);
#endif
#ifdef AMP_WITH_REDIS
  RegisterRedisLoader(registry);
#endif
#ifdef AMP_WITH_DELTA
  RegisterDeltaLoader(registry);
#endif
}

}  // namespace amp
