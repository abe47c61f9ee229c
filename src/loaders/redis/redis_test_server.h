// A Redis server for tests: the URI in AMP_TEST_REDIS_URI when set, otherwise a throwaway
// redis-server started with scripts/redis in a temp directory, once per test binary, and
// stopped when the binary ends (scripts/redis's --owner-pid watcher also stops it if the
// binary crashes). If no server can be started every test FAILS with the reason: loader
// tests must never pass by being skipped.
//
// Header-only (test code); the including target must define AMP_SOURCE_DIR.
//
//   static auto* const kServer = amp::redis::testing::RedisTestServer::Register();
//   ...
//   std::string uri = kServer->uri();   // redis://127.0.0.1:PORT/0
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef AMP_SOURCE_DIR
#error "redis_test_server.h needs AMP_SOURCE_DIR (the source tree, for scripts/redis)"
#endif

namespace amp::redis::testing {

class RedisTestServer : public ::testing::Environment {
 public:
  static RedisTestServer* Register() {
    auto* server = new RedisTestServer();
    ::testing::AddGlobalTestEnvironment(server);  // gtest takes ownership
    instance() = server;
    return server;
  }
  static RedisTestServer& Get() { return *instance(); }

  /// redis://127.0.0.1:PORT/0 (no password), or AMP_TEST_REDIS_URI; empty when no server
  /// could be started (tests must then fail).
  const std::string& uri() const { return uri_; }
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  bool owned() const { return !dir_.empty(); }

  void SetUp() override {
    if (const char* env = std::getenv("AMP_TEST_REDIS_URI"); env != nullptr && *env) {
      uri_ = env;
      Parse();
      return;
    }
    char tmpl[] = "/tmp/amp-redis-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) FAIL() << "mkdtemp failed";
    dir_ = tmpl;
    std::string out;
    const int rc = Run(Script() + " start " + dir_ + " --owner-pid " + std::to_string(getpid()), &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0 || out.rfind("redis://", 0) != 0) {
      std::string ignored;
      Run(Script() + " stop " + dir_ + " 2>/dev/null", &ignored);
      rmdir(dir_.c_str());
      dir_.clear();
      ADD_FAILURE() << "cannot start a Redis test server with " << Script() << " (exit " << rc
                    << ", output: " << out << "). Install redis-server or set "
                    << "AMP_TEST_REDIS_URI to a server for tests";
      return;
    }
    uri_ = out;
    Parse();
  }

  void TearDown() override {
    if (!owned()) return;
    std::string out;
    Run(Script() + " stop " + dir_, &out);
  }

  /// Restarts the owned server (same port, data kept); false if not owned or it failed.
  bool Restart() {
    if (!owned()) return false;
    std::string out;
    return Run(Script() + " restart " + dir_, &out) == 0;
  }

 private:
  static RedisTestServer*& instance() {
    static RedisTestServer* server = nullptr;
    return server;
  }
  void Parse() {
    // redis://[user[:pw]@]host:port/db
    std::string rest = uri_.substr(uri_.find("://") + 3);
    if (size_t at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
    rest = rest.substr(0, rest.find('/'));
    const size_t colon = rest.rfind(':');
    host_ = rest.substr(0, colon);
    port_ = colon == std::string::npos ? 6379 : std::atoi(rest.c_str() + colon + 1);
  }
  static std::string Script() { return std::string(AMP_SOURCE_DIR) + "/scripts/redis"; }
  static int Run(const std::string& command, std::string* out) {
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out->append(buf.data(), n);
    const int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string uri_;
  std::string host_;
  int port_ = 0;
  std::string dir_;
};

}  // namespace amp::redis::testing
