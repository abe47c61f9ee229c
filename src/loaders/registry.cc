// The loader framework's shared pieces (amp/loader.h): LoaderRegistry with option-table
// validation, LoadMode names. (The built-in list: src/loaders/builtin.) (Checkpoint records: src/common.)

#include "amp/loader.h"
#include "common/ascii.h"
#include "loaders/common/options.h"

namespace amp {
namespace {

Status ConfigError(Status status) {
  return WithErrorInfo(status, ErrorClass::kFatal, "loader", "INVALID_CONFIG");
}

}  // namespace

const char* ToString(OptionSpec::Type type) {
  switch (type) {
    case OptionSpec::Type::kString: return "string";
    case OptionSpec::Type::kInt: return "int";
    case OptionSpec::Type::kBool: return "bool";
    case OptionSpec::Type::kSecret: return "secret";
  }
  return "?";
}

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
  const std::string n = AsciiLower(name);
  for (LoadMode m : {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert}) {
    if (n == ToString(m)) return m;
  }
  return ConfigError(Status::Invalid("unknown load mode '", name,
                                     "'; valid modes: append, overwrite, upsert"));
}

Result<bool> ParseBoolOption(const std::string& value) {
  const std::string v = AsciiLower(value);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return Status::Invalid("not a boolean (true/false/1/0/yes/no/on/off)");
}

// --- LoaderRegistry. ---

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
  const std::string s = AsciiLower(scheme);
  for (const auto& e : entries_) {
    for (const auto& candidate : e.uri_schemes) {
      if (AsciiLower(candidate) == s) return &e;
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
    std::string available;
    for (const auto& n : names()) available += (available.empty() ? "" : ", ") + n;
    return ConfigError(Status::KeyError("unknown loader '", name, "'; available loaders: ", available));
  }
  return loaders::ValidateOptions(name, entry->options, config, resolve_env);
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

}  // namespace amp
