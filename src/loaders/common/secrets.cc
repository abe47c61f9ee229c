#include "loaders/common/secrets.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "loaders/common/connection_uri.h"

namespace amp::loaders {
namespace {

constexpr std::string_view kPrefix = "env:";

Status EnvError(const std::string& loader, const std::string& option, const std::string& what,
                const char* code) {
  return WithErrorInfo(Status::Invalid("option '", option, "' of loader '", loader, "': ", what),
                       ErrorClass::kFatal, "loader", code);
}

// `reference` is "env:NAME"; `part` says where it was written ("" for the whole option).
Result<std::string> Lookup(const std::string& loader, const std::string& option,
                           const std::string& part, const std::string& reference) {
  const std::string var = reference.substr(kPrefix.size());
  const std::string where = part.empty() ? std::string() : part + " ";
  if (var.empty()) {
    return EnvError(loader, option, where + "\"env:\" needs a variable name (env:NAME)",
                    "INVALID_CONFIG");
  }
  const char* value = std::getenv(var.c_str());
  if (value == nullptr) {
    return EnvError(loader, option,
                    where + "refers to environment variable " + var + ", which is not set",
                    "MISSING_ENV");
  }
  return std::string(value);
}

bool StartsWithEnv(const std::string& text) { return text.compare(0, kPrefix.size(), kPrefix) == 0; }

// Lenient: a part whose escapes do not decode is judged as written (this only decides
// whether a part is a reference; the loader's URI parser reports malformed escapes).
std::string DecodedOrRaw(const std::string& text) {
  auto decoded = PercentDecode(text, "a URI part");
  return decoded.ok() ? *decoded : text;
}

// A URI part that is a reference, plain or percent-encoded, resolved and re-encoded.
Result<std::optional<std::string>> ResolveUriPart(const std::string& loader,
                                                  const std::string& option,
                                                  const std::string& part,
                                                  const std::string& raw) {
  const std::string decoded = DecodedOrRaw(raw);
  if (!StartsWithEnv(decoded)) return std::optional<std::string>();
  AMP_ASSIGN_OR_RETURN(std::string value, Lookup(loader, option, part, decoded));
  return std::optional<std::string>(PercentEncode(value));
}

// scheme://[user[:password]@]host[:port][/path][?k=v&...][#fragment]
Result<std::string> ResolveInUri(const std::string& loader, const std::string& option,
                                 const std::string& uri) {
  const size_t scheme_end = uri.find("://");
  const size_t authority_begin = scheme_end + 3;
  size_t authority_end = uri.find_first_of("/?#", authority_begin);
  if (authority_end == std::string::npos) authority_end = uri.size();
  std::string out = uri.substr(0, authority_begin);
  const std::string authority = uri.substr(authority_begin, authority_end - authority_begin);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    // "user:env:VAR@" splits at the first colon: the password part is "env:VAR".
    std::string user = userinfo.substr(0, colon);
    AMP_ASSIGN_OR_RETURN(auto resolved_user, ResolveUriPart(loader, option, "the user in the URI", user));
    out += resolved_user ? *resolved_user : user;
    if (colon != std::string::npos) {
      const std::string password = userinfo.substr(colon + 1);
      AMP_ASSIGN_OR_RETURN(auto resolved,
                           ResolveUriPart(loader, option, "the password in the URI", password));
      out += ":" + (resolved ? *resolved : password);
    }
    out += authority.substr(at);
  } else {
    out += authority;
  }
  const size_t query_begin = uri.find('?', authority_end);
  const size_t fragment_begin = uri.find('#', authority_end);
  const size_t path_end = std::min(query_begin, fragment_begin);
  out += uri.substr(authority_end, (path_end == std::string::npos ? uri.size() : path_end) - authority_end);
  if (query_begin != std::string::npos && (fragment_begin == std::string::npos || query_begin < fragment_begin)) {
    const size_t query_end = fragment_begin == std::string::npos ? uri.size() : fragment_begin;
    const std::string query = uri.substr(query_begin + 1, query_end - query_begin - 1);
    out += "?";
    size_t pos = 0;
    bool first = true;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      if (amp == std::string::npos) amp = query.size();
      const std::string item = query.substr(pos, amp - pos);
      if (!first) out += "&";
      first = false;
      const size_t eq = item.find('=');
      if (eq == std::string::npos) {
        out += item;
      } else {
        const std::string key = item.substr(0, eq);
        const std::string value = item.substr(eq + 1);
        AMP_ASSIGN_OR_RETURN(auto resolved,
                             ResolveUriPart(loader, option,
                                            "the URI parameter '" + DecodedOrRaw(key) + "'", value));
        out += key + "=" + (resolved ? *resolved : value);
      }
      if (amp == query.size()) break;
      pos = amp + 1;
    }
  }
  if (fragment_begin != std::string::npos) out += uri.substr(fragment_begin);
  return out;
}

bool IsKeyChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// libpq's key=value connection strings: `key = value`, values optionally single-quoted
// with backslash escapes. Anything that does not parse as one is left alone.
Result<std::string> ResolveInKeyValue(const std::string& loader, const std::string& option,
                                      const std::string& text) {
  struct Pair {
    std::string key, value;
    size_t value_begin, value_end;  // the value as written, quotes included
  };
  std::vector<Pair> pairs;
  size_t i = 0;
  const size_t n = text.size();
  while (true) {
    while (i < n && IsSpace(text[i])) ++i;
    if (i == n) break;
    if (!IsKeyChar(text[i], true)) return text;
    const size_t key_begin = i;
    while (i < n && IsKeyChar(text[i], false)) ++i;
    Pair p;
    p.key = text.substr(key_begin, i - key_begin);
    while (i < n && IsSpace(text[i])) ++i;
    if (i == n || text[i] != '=') return text;
    ++i;
    while (i < n && IsSpace(text[i])) ++i;
    p.value_begin = i;
    if (i < n && text[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < n) {
        if (text[i] == '\\' && i + 1 < n) {
          p.value.push_back(text[i + 1]);
          i += 2;
        } else if (text[i] == '\'') {
          ++i;
          closed = true;
          break;
        } else {
          p.value.push_back(text[i++]);
        }
      }
      if (!closed) return text;
    } else {
      while (i < n && !IsSpace(text[i])) {
        if (text[i] == '\\' && i + 1 < n) {
          p.value.push_back(text[i + 1]);
          i += 2;
        } else {
          p.value.push_back(text[i++]);
        }
      }
    }
    p.value_end = i;
    pairs.push_back(std::move(p));
  }
  std::string out;
  size_t copied = 0;
  for (const auto& p : pairs) {
    if (!StartsWithEnv(p.value)) continue;
    AMP_ASSIGN_OR_RETURN(std::string value,
                         Lookup(loader, option, "the connection parameter '" + p.key + "'", p.value));
    std::string quoted = "'";
    for (char c : value) {
      if (c == '\'' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    quoted += "'";
    out += text.substr(copied, p.value_begin - copied) + quoted;
    copied = p.value_end;
  }
  out += text.substr(copied);
  return out;
}

}  // namespace

bool IsEnvReference(const std::string& value) {
  return value.size() > kPrefix.size() && StartsWithEnv(value);
}

std::string PercentEncode(const std::string& text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

Result<std::string> ResolveSecrets(const std::string& loader, const std::string& option,
                                   const std::string& value) {
  if (StartsWithEnv(value)) return Lookup(loader, option, "", value);
  if (const size_t sep = value.find("://"); sep != std::string::npos && sep > 0) {
    return ResolveInUri(loader, option, value);
  }
  if (value.find('=') != std::string::npos && value.find("env:") != std::string::npos) {
    return ResolveInKeyValue(loader, option, value);
  }
  return value;
}

}  // namespace amp::loaders
