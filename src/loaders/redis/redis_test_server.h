// A Redis server for tests (loaders/testing/script_test_server.h): the URI in
// AMP_TEST_REDIS_URI when set, otherwise a throwaway redis-server started with
// scripts/redis, once per test binary.
//
// Header-only (test code); the including target must define AMP_SOURCE_DIR.
//
//   static auto* const kServer = amp::redis::testing::RedisTestServer::Register();
//   ...
//   std::string uri = kServer->uri();   // redis://127.0.0.1:PORT/0
#pragma once

#include <cstdlib>
#include <string>

#include "loaders/common/connection_uri.h"
#include "loaders/testing/script_test_server.h"

namespace amp::redis::testing {

/// uri(): redis://127.0.0.1:PORT/0 (no password), or the AMP_TEST_REDIS_URI value.
class RedisTestServer : public loaders::testing::ScriptTestServer<RedisTestServer> {
 public:
  static constexpr loaders::testing::ScriptServerSpec kSpec{
      .uri_env = "AMP_TEST_REDIS_URI",
      .script = "redis",
      .uri_prefix = "redis://",
      .install_hint = "Install redis-server",
  };

  const std::string& host() const { return host_; }
  int port() const { return port_; }

 protected:
  void OnUri() override {
    auto parsed = loaders::ParseUri(uri());
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    host_ = parsed->host;
    port_ = parsed->port.empty() ? 6379 : std::atoi(parsed->port.c_str());
  }

 private:
  std::string host_;
  int port_ = 0;
};

}  // namespace amp::redis::testing
