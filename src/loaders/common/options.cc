#include "loaders/common/options.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "loaders/common/secrets.h"

namespace amp::loaders {
namespace {

Status ConfigError(Status status) {
  return WithErrorInfo(std::move(status), ErrorClass::kFatal, "loader", "INVALID_CONFIG");
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// strtoll over the whole text; nullopt for anything else (empty, trailing text, overflow).
std::optional<long long> ParseWholeInteger(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno == ERANGE) return std::nullopt;
  return parsed;
}

std::string Shown(const OptionSpec& spec, const std::string& value) {
  return spec.type == OptionSpec::Type::kSecret ? std::string("(secret)") : "'" + value + "'";
}

// Type checks of one option's (resolved) value.
Status CheckValue(const std::string& loader, const OptionSpec& spec, const std::string& value) {
  if (spec.type == OptionSpec::Type::kInt && !ParseWholeInteger(value)) {
    return OptionError(loader, spec.name, "must be an integer, got " + Shown(spec, value));
  }
  if (spec.type == OptionSpec::Type::kBool && !ParseBoolOption(value).ok()) {
    return OptionError(loader, spec.name,
                       "must be a boolean (true/false/1/0/yes/no/on/off), got " + Shown(spec, value));
  }
  return Status::OK();
}

}  // namespace

Status OptionError(const std::string& loader, const std::string& option, const std::string& why) {
  return ConfigError(Status::Invalid("option '", option, "' of loader '", loader, "' ", why));
}

Result<LoaderConfig> ValidateOptions(const std::string& loader, const std::vector<OptionSpec>& specs,
                                     const LoaderConfig& config, bool resolve_env) {
  std::vector<std::string> valid;
  for (const auto& o : specs) valid.push_back(o.name);

  LoaderConfig out;
  for (const auto& [key, raw] : config) {
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& o) { return o.name == key; });
    if (spec == specs.end()) {
      return ConfigError(Status::Invalid("unknown option '", key, "' for loader '", loader,
                                         "'; valid options: ", JoinNames(valid)));
    }
    if (!resolve_env && IsEnvReference(raw)) {
      out[key] = raw;  // Checked when the load resolves it.
      continue;
    }
    std::string value = raw;
    if (resolve_env) {
      // The one place `env:` is read, for every loader (loaders/common/secrets.h): whole
      // values and references inside connection URIs alike.
      AMP_ASSIGN_OR_RETURN(value, ResolveSecrets(loader, key, raw));
    }
    AMP_RETURN_NOT_OK(CheckValue(loader, *spec, value));
    out[key] = std::move(value);
  }
  for (const auto& o : specs) {
    if (out.count(o.name)) continue;
    if (o.required) {
      return ConfigError(Status::Invalid("loader '", loader, "' requires option '", o.name, "' (",
                                         ToString(o.type), "): ", o.doc));
    }
    if (!o.default_value.empty()) out[o.name] = o.default_value;
  }
  return out;
}

OptionValues::OptionValues(std::string loader, std::vector<OptionSpec> specs, LoaderConfig config)
    : loader_(std::move(loader)), specs_(std::move(specs)), config_(std::move(config)) {}

const OptionSpec* OptionValues::Find(const std::string& name) const {
  for (const auto& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string OptionValues::Default(const std::string& name) const {
  const OptionSpec* spec = Find(name);
  return spec == nullptr ? std::string() : spec->default_value;
}

std::string OptionValues::GetString(const std::string& name) const {
  if (auto it = config_.find(name); it != config_.end()) return it->second;
  return Default(name);
}

namespace {

Result<int64_t> ParseInRange(const std::string& loader, const OptionSpec& spec, const std::string& text,
                             int64_t min, int64_t max) {
  const auto parsed = ParseWholeInteger(text);
  if (!parsed || *parsed < min || *parsed > max) {
    return OptionError(loader, spec.name,
                       "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                           "], got " + Shown(spec, text));
  }
  return static_cast<int64_t>(*parsed);
}

}  // namespace

Result<int64_t> ParseIntOption(const std::string& loader, const std::string& option,
                               const std::string& text, int64_t min, int64_t max) {
  return ParseInRange(loader, OptionSpec{.name = option, .type = OptionSpec::Type::kInt}, text, min, max);
}

Result<int64_t> OptionValues::GetInt(const std::string& name, int64_t min, int64_t max) const {
  const OptionSpec* spec = Find(name);
  if (spec == nullptr) return OptionError(loader_, name, "is not an option of this loader");
  return ParseInRange(loader_, *spec, GetString(name), min, max);
}

Result<bool> OptionValues::GetBool(const std::string& name) const {
  const OptionSpec* spec = Find(name);
  if (spec == nullptr) return OptionError(loader_, name, "is not an option of this loader");
  const std::string text = GetString(name);
  auto parsed = ParseBoolOption(text);
  if (!parsed.ok()) {
    return OptionError(loader_, name,
                       "must be a boolean (true/false/1/0/yes/no/on/off), got " + Shown(*spec, text));
  }
  return *parsed;
}

}  // namespace amp::loaders
