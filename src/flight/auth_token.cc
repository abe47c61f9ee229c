#include "flight/auth_token.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace amp::flight {
namespace {

constexpr std::string_view kLoginHint =
    "run `amp auth login` to log in again, or set AMP_AUTH_TOKEN";

Status AuthError(std::string message) {
  return WithErrorInfo(Status::Invalid(std::move(message)), ErrorClass::kFatal, "flight",
                       "AUTH");
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// gRPC rejects (or worse, asserts on) header values outside printable ASCII, and a bearer
// token never contains spaces. The message names the source, never the token.
Result<std::string> CheckToken(std::string token, std::string_view source) {
  token = Trim(std::move(token));
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return AuthError("the auth token from " + std::string(source) +
                       " contains characters that are not allowed in an HTTP header "
                       "(spaces or control characters)");
    }
  }
  return token;
}

std::string FormatUtc(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::optional<std::string>> ReadCacheFile(const std::string& path,
                                                  std::chrono::system_clock::time_point now) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || st.type() == std::filesystem::file_type::not_found) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return AuthError("cannot access the Amp login cache " + path + ": " + ec.message());
    }
    return std::optional<std::string>();
  }
  if (st.type() != std::filesystem::file_type::regular) {
    return AuthError("the Amp login cache " + path + " is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return AuthError("cannot read the Amp login cache " + path + ": " + std::strerror(errno));
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return AuthError("cannot read the Amp login cache " + path + ": " + std::strerror(errno));
  }

  // Never quote the content in messages: it holds the access and refresh tokens.
  nlohmann::json doc = nlohmann::json::parse(content.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return AuthError("the Amp login cache " + path +
                     " is not a JSON object as written by `amp auth login`; " +
                     std::string(kLoginHint));
  }
  auto token_it = doc.find("accessToken");
  if (token_it == doc.end() || !token_it->is_string() ||
      token_it->get<std::string>().empty()) {
    return AuthError("the Amp login cache " + path + " has no \"accessToken\" string; " +
                     std::string(kLoginHint));
  }
  auto expiry_it = doc.find("expiry");
  if (expiry_it != doc.end() && !expiry_it->is_null()) {
    if (!expiry_it->is_number()) {
      return AuthError("the Amp login cache " + path +
                       " has a non-numeric \"expiry\" (expected milliseconds since the epoch); " +
                       std::string(kLoginHint));
    }
    double expiry_ms = expiry_it->get<double>();
    double now_ms = static_cast<double>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
    if (expiry_ms < now_ms) {
      return AuthError("the Amp login in " + path + " expired at " +
                       FormatUtc(static_cast<int64_t>(expiry_ms)) +
                       " (ampsync cannot refresh it); " + std::string(kLoginHint));
    }
  }
  AMP_ASSIGN_OR_RETURN(auto token,
                       CheckToken(token_it->get<std::string>(), "the Amp login cache " + path));
  return std::optional<std::string>(std::move(token));
}

}  // namespace

std::string AuthCacheFile(const std::string& home) {
  std::string dir = home;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/.amp/cache/amp_cli_auth";
}

AuthInputs AuthInputs::FromEnvironment(std::string explicit_token) {
  AuthInputs inputs;
  inputs.explicit_token = std::move(explicit_token);
  if (const char* env = std::getenv(kAuthTokenEnvVar)) inputs.env_token = env;
  if (const char* home = std::getenv("HOME")) inputs.home = home;
  return inputs;
}

Result<std::optional<std::string>> ResolveAuthToken(const AuthInputs& inputs) {
  if (!Trim(inputs.explicit_token).empty()) {
    AMP_ASSIGN_OR_RETURN(auto token, CheckToken(inputs.explicit_token, "ClientOptions.auth_token"));
    return std::optional<std::string>(std::move(token));
  }
  if (inputs.env_token && !Trim(*inputs.env_token).empty()) {
    AMP_ASSIGN_OR_RETURN(auto token, CheckToken(*inputs.env_token, kAuthTokenEnvVar));
    return std::optional<std::string>(std::move(token));
  }
  if (inputs.home && !inputs.home->empty()) {
    return ReadCacheFile(AuthCacheFile(*inputs.home), inputs.now);
  }
  return std::optional<std::string>();
}

}  // namespace amp::flight
