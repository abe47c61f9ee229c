#include "flight/server_url.h"

#include <algorithm>
#include <cctype>

namespace amp::flight {
namespace {

constexpr std::string_view kExpected = "expected grpc://host[:port] or grpc+tls://host[:port]";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The URL as it may appear in an error message: user info (which could be a password or
// token) is replaced by "***".
std::string Masked(std::string_view url) {
  size_t scheme_end = url.find("://");
  size_t authority_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  size_t at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority_start) return std::string(url);
  return std::string(url.substr(0, authority_start)) + "***" + std::string(url.substr(at));
}

Status Bad(std::string_view url, std::string_view what) {
  return Status::Invalid("invalid Amp server URL '", Masked(url), "': ", what);
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string ServerAddress::HostPort() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ServerAddress::LocationUri() const {
  return std::string(tls ? "grpc+tls://" : "grpc+tcp://") + HostPort();
}

Result<ServerAddress> ParseServerUrl(std::string_view url) {
  if (url.empty()) return Bad(url, std::string("the URL is empty; ") + std::string(kExpected));
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return Bad(url, std::string("missing scheme; ") + std::string(kExpected));
  }
  std::string scheme = Lower(url.substr(0, scheme_end));
  ServerAddress address;
  if (scheme == "grpc" || scheme == "grpc+tcp") {
    address.tls = false;
  } else if (scheme == "grpc+tls") {
    address.tls = true;
  } else if (scheme == "http" || scheme == "https") {
    return Bad(url, "scheme '" + scheme + "' is not supported; use " +
                        (scheme == "https" ? "grpc+tls://" : "grpc://") +
                        " for the Arrow Flight endpoint");
  } else {
    return Bad(url, "unsupported scheme '" + scheme + "'; " + std::string(kExpected));
  }

  std::string_view rest = url.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (authority_end != std::string_view::npos) {
    std::string_view tail = rest.substr(authority_end);
    if (tail != "/") {
      return Bad(url, "unexpected path, query or fragment '" + std::string(tail) +
                          "'; an Amp Flight URL is only scheme://host[:port]");
    }
  }
  if (authority.find('@') != std::string_view::npos) {
    return Bad(url,
               "user info in the URL is not supported; pass the token as "
               "ClientOptions.auth_token or AMP_AUTH_TOKEN");
  }

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(url, "unterminated '[' in IPv6 address");
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Bad(url, "unexpected '" + std::string(after) + "' after the IPv6 address");
      }
      has_port = true;
      port_text = after.substr(1);
    }
    if (address.host.empty() ||
        !std::all_of(address.host.begin(), address.host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return Bad(url, "'" + address.host + "' is not an IPv6 address");
    }
  } else {
    size_t colon = authority.find(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (address.host.empty()) return Bad(url, "missing host");
    auto bad = std::find_if_not(address.host.begin(), address.host.end(), IsHostChar);
    if (bad != address.host.end()) {
      return Bad(url, std::string("invalid character '") + *bad + "' in host '" +
                          address.host + "' (an IPv6 address must be in brackets)");
    }
  }

  if (has_port) {
    if (port_text.empty()) return Bad(url, "empty port after ':'");
    if (port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return Bad(url, "port '" + std::string(port_text) + "' is not a number from 1 to 65535");
    }
    int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      return Bad(url, "port " + std::to_string(port) + " is out of range (1 to 65535)");
    }
    address.port = port;
  }
  return address;
}

}  // namespace amp::flight
