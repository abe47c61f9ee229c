#include "loaders/common/connection_uri.h"

#include "common/ascii.h"

namespace amp::loaders {
namespace {

Status UriError(Status status) {
  return WithErrorInfo(std::move(status), ErrorClass::kFatal, "loader", "BAD_URI");
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits "host[:port]" or "[v6]:port"; both parts still encoded.
Status SplitHostPort(const std::string& hostport, std::string* host, std::string* port) {
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string::npos) {
      return Status::Invalid("unterminated [IPv6] host in connection URI");
    }
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return Status::Invalid("unexpected text after [IPv6] host");
      *port = hostport.substr(close + 2);
    }
    *host = hostport.substr(1, close - 1);
    return Status::OK();
  }
  if (const size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    *port = hostport.substr(colon + 1);
    *host = hostport.substr(0, colon);
  } else {
    *host = hostport;
  }
  return Status::OK();
}

Status ParseQuery(const std::string& query, std::vector<UriQueryItem>* items) {
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    UriQueryItem item;
    item.raw = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.raw.empty()) continue;
    const size_t eq = item.raw.find('=');
    AMP_ASSIGN_OR_RETURN(item.key, PercentDecode(item.raw.substr(0, eq), "a query parameter name"));
    if (eq != std::string::npos) {
      AMP_ASSIGN_OR_RETURN(item.value,
                           PercentDecode(item.raw.substr(eq + 1), "query parameter '" + item.key + "'"));
    }
    items->push_back(std::move(item));
  }
  return Status::OK();
}

Result<ConnectionUri> Parse(const std::string& text) {
  ConnectionUri uri;
  uri.text = text;
  const size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) {
    return Status::Invalid("not a connection URI (scheme://...)");
  }
  uri.scheme = AsciiLower(text.substr(0, sep));
  std::string rest = text.substr(sep + 3);
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    AMP_RETURN_NOT_OK(ParseQuery(rest.substr(q + 1), &uri.query));
    rest = rest.substr(0, q);
  }
  std::string authority = rest;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    uri.has_path = true;
    AMP_ASSIGN_OR_RETURN(uri.path, PercentDecode(rest.substr(slash + 1), "the path"));
    authority = rest.substr(0, slash);
  }
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    AMP_ASSIGN_OR_RETURN(uri.user, PercentDecode(userinfo.substr(0, colon), "the user name"));
    if (colon != std::string::npos) {
      AMP_ASSIGN_OR_RETURN(uri.password, PercentDecode(userinfo.substr(colon + 1), "the password"));
    }
  }
  std::string host, port;
  AMP_RETURN_NOT_OK(SplitHostPort(authority, &host, &port));
  AMP_ASSIGN_OR_RETURN(uri.host, PercentDecode(host, "the host"));
  AMP_ASSIGN_OR_RETURN(uri.port, PercentDecode(port, "the port"));
  // Last: an error in a named part above says which part.
  AMP_ASSIGN_OR_RETURN(uri.location, PercentDecode(rest, "the location"));
  return uri;
}

}  // namespace

Result<std::string> PercentDecode(const std::string& text, const std::string& part) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    // The escape itself is never shown: it may be part of a password.
    if (i + 2 >= text.size()) return Status::Invalid("truncated percent escape in ", part);
    const int hi = HexDigit(text[i + 1]);
    const int lo = HexDigit(text[i + 2]);
    if (hi < 0 || lo < 0) return Status::Invalid("bad percent escape in ", part);
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string ConnectionUri::WithoutQuery() const { return text.substr(0, text.find('?')); }

std::optional<std::string> ConnectionUri::Query(const std::string& key) const {
  std::optional<std::string> found;
  for (const auto& item : query) {
    if (item.key == key) found = item.value;
  }
  return found;
}

Result<ConnectionUri> ParseUri(const std::string& uri) {
  auto parsed = Parse(uri);
  if (!parsed.ok()) return UriError(parsed.status());
  return parsed;
}

void AddQueryOptions(const ConnectionUri& uri, LoaderConfig* config) {
  for (const auto& item : uri.query) (*config)[item.key] = item.value;
}

LoaderConfig GenericUriConfig(const ConnectionUri& uri) {
  LoaderConfig config;
  if (uri.user && !uri.user->empty()) config["user"] = *uri.user;
  if (uri.password) config["password"] = *uri.password;
  if (!uri.host.empty()) config["host"] = uri.host;
  if (!uri.port.empty()) config["port"] = uri.port;
  if (!uri.path.empty()) config["dbname"] = uri.path;
  AddQueryOptions(uri, &config);
  return config;
}

LoaderRegistry::UriParser MapUri(UriMapping mapping) {
  return [mapping = std::move(mapping)](const std::string& text) -> Result<LoaderConfig> {
    AMP_ASSIGN_OR_RETURN(auto uri, ParseUri(text));
    return mapping(uri);
  };
}

Result<LoaderConfig> GenericConfigFromUri(const std::string& uri) {
  AMP_ASSIGN_OR_RETURN(auto parsed, ParseUri(uri));
  return GenericUriConfig(parsed);
}

}  // namespace amp::loaders
