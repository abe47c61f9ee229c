// The one parser of connection URIs for every destination.
//
//   scheme://[user[:password]@]host[:port][/path][?key=value&...]
//
// Every part is percent-decoded here, once, so `memory://my%20store`, `delta:///data/my%20lake`
// and `redis://:p%40ss@host` mean the same thing to every loader. A loader does not parse
// its URI: it maps the parsed fields to its options (MapUri below), or takes the generic
// mapping (GenericUriConfig).
//
// Why not arrow::util::Uri (linked already): it is strict RFC 3986 (uriparser), and the URIs
// people write for ampsync are not. Redis key patterns (`?key_pattern={table}:{id}`) and
// libpq-style values carry characters RFC 3986 reserves, and uriparser's query splitting
// turns '+' into a space, which would change passwords. This parser accepts any character
// a part can hold unambiguously and decodes only %XX escapes; a malformed escape is an
// error naming the part, never silently kept.
//
// Errors are kFatal ("loader", "BAD_URI") and never quote the URI or a password: the URI
// may hold a secret.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::loaders {

struct UriQueryItem {
  std::string key;    ///< Decoded.
  std::string value;  ///< Decoded; "" for a bare `?key`.
  std::string raw;    ///< The item as written (`key=value`, undecoded), for pass-through.
};

struct ConnectionUri {
  std::string scheme;                 ///< Lower-cased.
  std::optional<std::string> user;    ///< Absent without userinfo; may be "" (`:pw@host`).
  std::optional<std::string> password;
  std::string host;                   ///< Decoded; an IPv6 literal without its brackets.
  std::string port;                   ///< As written: a URI port is digits only.
  std::string path;                   ///< Decoded, without the leading '/' ("" when none).
  bool has_path = false;              ///< A '/' followed the authority (`delta:///` has one).
  /// Decoded text between "://" and the query, for schemes that name a thing rather than
  /// a server (memory://NAME): userinfo, host and path are not told apart there.
  std::string location;
  std::vector<UriQueryItem> query;    ///< In order; duplicates kept.
  std::string text;                   ///< The URI as given.

  /// `text` up to the query ('?' excluded).
  std::string WithoutQuery() const;
  /// The last value of `key`, if present.
  std::optional<std::string> Query(const std::string& key) const;
};

/// Splits and decodes `uri`. Needs "scheme://"; the authority may be empty.
Result<ConnectionUri> ParseUri(const std::string& uri);

/// RFC 3986 %XX decoding; Invalid naming `part` for a truncated or non-hex escape.
Result<std::string> PercentDecode(const std::string& text, const std::string& part);

/// The generic mapping: user, password, host, port, dbname (the path), then every query
/// item by its decoded key (a query item overrides a field of the same name).
LoaderConfig GenericUriConfig(const ConnectionUri& uri);
/// Every query item into `config` by decoded key (later items win).
void AddQueryOptions(const ConnectionUri& uri, LoaderConfig* config);

/// A loader's mapping from parsed fields to its options.
using UriMapping = std::function<Result<LoaderConfig>(const ConnectionUri&)>;
/// The LoaderRegistry::Entry::from_uri of a loader: ParseUri, then `mapping`.
LoaderRegistry::UriParser MapUri(UriMapping mapping);
/// ParseUri + GenericUriConfig: what a registry entry without from_uri gets.
Result<LoaderConfig> GenericConfigFromUri(const std::string& uri);

}  // namespace amp::loaders
