// Parsing of Amp server URLs (grpc://host[:port], grpc+tls://host[:port], grpc+tcp://...)
// into the host, port and transport the Flight client connects with.
//
// Kept separate from the client so that every malformed-URL message is unit-tested
// without a network: the message always quotes the URL and says what is wrong with it.
#pragma once

#include <string>
#include <string_view>

#include "amp/status.h"

namespace amp::flight {

/// ampd's default Arrow Flight port (crates/config/src/server.rs).
inline constexpr int kDefaultFlightPort = 1602;

/// \brief Where and how to connect: the parsed form of a server URL.
struct ServerAddress {
  std::string host;  ///< Host name or IP address; IPv6 without the brackets.
  int port = kDefaultFlightPort;
  bool tls = false;  ///< grpc+tls://

  /// "host:port", with brackets around an IPv6 address; used in error messages.
  std::string HostPort() const;
  /// The URI arrow::flight::Location::Parse understands (grpc+tcp:// or grpc+tls://).
  std::string LocationUri() const;
};

/// Parses `url`. Accepted schemes (case-insensitive): grpc and grpc+tcp (plain h2c, as
/// ampd serves) and grpc+tls. No user info, path, query or fragment. Errors are Invalid
/// and quote the URL (with any user info masked, since it may hold a credential).
Result<ServerAddress> ParseServerUrl(std::string_view url);

}  // namespace amp::flight
