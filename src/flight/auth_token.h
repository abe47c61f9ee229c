// Resolution of the bearer token sent as `authorization: Bearer <token>`, in the order the
// official Python client uses: the explicit option, then $AMP_AUTH_TOKEN, then the Amp CLI's
// login cache ~/.amp/cache/amp_cli_auth ({accessToken, refreshToken, userId, accounts,
// expiry (ms since the epoch)}).
//
// The token is a credential: it never appears in a message or a log line produced here.
// We cannot refresh an expired cached login (that is an HTTP call to Amp's auth service), so
// an expired token is an error that tells the user how to log in again.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "amp/status.h"

namespace amp::flight {

inline constexpr const char* kAuthTokenEnvVar = "AMP_AUTH_TOKEN";

/// Path of the Amp CLI login cache under `home`.
std::string AuthCacheFile(const std::string& home);

/// \brief Where the token comes from. Filled from the process environment by
/// AuthInputs::FromEnvironment(); tests fill it by hand.
struct AuthInputs {
  std::string explicit_token;               ///< ClientOptions.auth_token.
  std::optional<std::string> env_token;     ///< $AMP_AUTH_TOKEN (nullopt/empty: unset).
  std::optional<std::string> home;          ///< $HOME (nullopt/empty: no cache lookup).
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();

  static AuthInputs FromEnvironment(std::string explicit_token);
};

/// The token to send, or nullopt when none is configured (no cache file either).
/// Invalid (class kFatal) when the cache file exists but cannot be read, is not the
/// expected JSON, has no accessToken, or has expired; the message names the file.
Result<std::optional<std::string>> ResolveAuthToken(const AuthInputs& inputs);

}  // namespace amp::flight
