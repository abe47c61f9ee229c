// Loader options: one OptionSpec table per loader (amp/loader.h) drives validation,
// defaults, `ampsync loaders describe` and the typed reads a factory makes.
//
//   AMP_RETURN_NOT_OK(...)  // LoaderRegistry::Validate already ran ValidateOptions
//   OptionValues options("redis", RedisOptions(), config);
//   AMP_ASSIGN_OR_RETURN(int64_t port, options.GetInt("port", 1, 65535));
//   const std::string prefix = options.GetString("prefix");
//
// `env:` references are resolved in ValidateOptions (through loaders/common/secrets.h) and
// nowhere else: a factory reads plain values. Errors are kFatal ("loader",
// "INVALID_CONFIG"), name the option and the loader, and never show a kSecret value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::loaders {

/// Checks `config` against `specs` and returns it with defaults filled; the contract of
/// LoaderRegistry::Validate (amp/loader.h), which calls it.
Result<LoaderConfig> ValidateOptions(const std::string& loader, const std::vector<OptionSpec>& specs,
                                     const LoaderConfig& config, bool resolve_env);

/// A typed view of a validated LoaderConfig. Reads of a name missing from the table are a
/// programming error reported as Invalid (GetInt/GetBool) or "" (GetString).
class OptionValues {
 public:
  OptionValues(std::string loader, std::vector<OptionSpec> specs, LoaderConfig config);

  /// The value given, else the table's default, else "".
  std::string GetString(const std::string& name) const;
  /// The same for a kSecret option; named apart so that reads of secrets stand out.
  std::string GetSecret(const std::string& name) const { return GetString(name); }
  /// An integer in [min, max].
  Result<int64_t> GetInt(const std::string& name, int64_t min, int64_t max) const;
  Result<bool> GetBool(const std::string& name) const;
  /// The table's default of `name` ("" when none).
  std::string Default(const std::string& name) const;
  /// True when the value equals the default. Validated configs carry every default, so
  /// "not given" and "given as the default" cannot be told apart; loaders that let a URI's
  /// own parameter win over a default ask this.
  bool IsDefault(const std::string& name) const { return GetString(name) == Default(name); }

  const std::string& loader() const { return loader_; }
  const LoaderConfig& config() const { return config_; }

 private:
  const OptionSpec* Find(const std::string& name) const;

  std::string loader_;
  std::vector<OptionSpec> specs_;
  LoaderConfig config_;
};

/// `text` as an integer in [min, max] for option `option`, for values that come from
/// somewhere other than the config (a URI parameter that overrides a default).
Result<int64_t> ParseIntOption(const std::string& loader, const std::string& option,
                               const std::string& text, int64_t min, int64_t max);

/// The kFatal error of a bad option value: "option 'NAME' of loader 'LOADER' WHY".
Status OptionError(const std::string& loader, const std::string& option, const std::string& why);

}  // namespace amp::loaders
