// A store server for tests, shared by the PostgreSQL and Redis test servers: the URI in an
// environment variable when set, otherwise a throwaway server started by a scripts/<name>
// script in a temp directory, once per test binary, and stopped when the binary ends (the
// script's --owner-pid watcher also stops it if the binary crashes). If no server can be
// started every test FAILS with the reason: loader tests must never pass by being skipped.
//
// Header-only (test code); the including target must define AMP_SOURCE_DIR. A store's
// server derives from ScriptTestServer<Itself> and names its script in kSpec:
//
//   class PgTestServer : public ScriptTestServer<PgTestServer> {
//    public:
//     static constexpr ScriptServerSpec kSpec{.uri_env = "AMP_TEST_POSTGRES_URI", ...};
//   };
//   static auto* const kServer = PgTestServer::Register();   // once, at namespace scope
//   std::string uri = PgTestServer::Get().uri();
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
#error "script_test_server.h needs AMP_SOURCE_DIR (the source tree, for scripts/)"
#endif

namespace amp::loaders::testing {

/// What differs between stores.
struct ScriptServerSpec {
  const char* uri_env;       ///< "AMP_TEST_POSTGRES_URI": use that server instead.
  const char* script;        ///< "pg": scripts/pg start|stop|restart DIR.
  const char* uri_prefix;    ///< "postgresql://": what the script prints on success.
  const char* install_hint;  ///< Appended to the failure: what to install.
};

template <typename Server>
class ScriptTestServer : public ::testing::Environment {
 public:
  /// Registers the environment (call once, at static-initialisation time).
  static Server* Register() {
    auto* server = new Server();
    ::testing::AddGlobalTestEnvironment(server);  // gtest takes ownership
    instance() = server;
    return server;
  }
  static Server& Get() { return *instance(); }

  /// The server's URI; empty when no server could be started (tests must then fail:
  /// ASSERT_FALSE(uri().empty())).
  const std::string& uri() const { return uri_; }
  /// True when this process started the server (so it may restart it).
  bool owned() const { return !dir_.empty(); }

  void SetUp() override {
    if (const char* env = std::getenv(Server::kSpec.uri_env); env != nullptr && *env) {
      uri_ = env;
      OnUri();
      return;
    }
    std::string tmpl = std::string("/tmp/amp-") + Server::kSpec.script + "-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) FAIL() << "mkdtemp failed";
    dir_ = tmpl;
    std::string out;
    const int rc = Run(Script() + " start " + dir_ + " --owner-pid " + std::to_string(getpid()), &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0 || out.rfind(Server::kSpec.uri_prefix, 0) != 0) {
      std::string ignored;
      Run(Script() + " stop " + dir_ + " 2>/dev/null", &ignored);
      rmdir(dir_.c_str());
      dir_.clear();
      // Non-fatal here so that every test still runs and fails in its own SetUp
      // (a fatal environment failure would only mark them "skipped").
      ADD_FAILURE() << "cannot start a test server with " << Script() << " (exit " << rc
                    << ", output: " << out << "). " << Server::kSpec.install_hint << " or set "
                    << Server::kSpec.uri_env << " to a server for tests";
      return;
    }
    uri_ = out;
    OnUri();
  }

  void TearDown() override {
    if (!owned()) return;
    std::string out;
    Run(Script() + " stop " + dir_, &out);
  }

  /// Restarts the owned server (same port and data); false if not owned or it failed.
  bool Restart() {
    if (!owned()) return false;
    std::string out;
    return Run(Script() + " restart " + dir_, &out) == 0;
  }

 protected:
  /// Called once uri() is known, for servers that derive more from it.
  virtual void OnUri() {}

 private:
  static Server*& instance() {
    static Server* server = nullptr;
    return server;
  }
  std::string Script() const { return std::string(AMP_SOURCE_DIR) + "/scripts/" + Server::kSpec.script; }
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
  std::string dir_;
};

}  // namespace amp::loaders::testing
