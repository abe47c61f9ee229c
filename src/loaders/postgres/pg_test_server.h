// A PostgreSQL server for tests: the URI in AMP_TEST_POSTGRES_URI when set, otherwise a
// throwaway instance started with scripts/pg (PostgreSQL 15 from the Debian packages) in a
// temp directory, once per test binary, and stopped when the binary ends. If no server can
// be started (binaries missing) every test FAILS with the reason: loader tests must never
// pass by being skipped. A server given by URI must let that user create schemas and roles
// (a superuser, as scripts/pg's amp_test is).
//
// Header-only (test code); the including target must define AMP_SOURCE_DIR.
//
//   // At namespace scope in one test file:
//   static auto* const kServer = amp::postgres::testing::PgTestServer::Register();
//   ...
//   std::string uri = amp::postgres::testing::PgTestServer::Get().uri();
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
#error "pg_test_server.h needs AMP_SOURCE_DIR (the source tree, for scripts/pg)"
#endif

namespace amp::postgres::testing {

class PgTestServer : public ::testing::Environment {
 public:
  /// Registers the environment (call once, at static-initialisation time).
  static PgTestServer* Register() {
    auto* server = new PgTestServer();
    ::testing::AddGlobalTestEnvironment(server);  // gtest takes ownership
    instance() = server;
    return server;
  }
  static PgTestServer& Get() { return *instance(); }

  /// postgresql://amp_test@127.0.0.1:PORT/amp_test (trust authentication), or the
  /// AMP_TEST_POSTGRES_URI value; empty when no server could be started (tests must then
  /// fail: ASSERT_FALSE(uri().empty())).
  const std::string& uri() const { return uri_; }
  /// True when this process started the server (so it may restart it).
  bool owned() const { return !dir_.empty(); }
  /// The password-authenticated role of scripts/pg servers (wrong-credential tests).
  static constexpr const char* kSecureUser = "amp_secure";
  static constexpr const char* kSecurePassword = "amp-secure-pw";

  void SetUp() override {
    if (const char* env = std::getenv("AMP_TEST_POSTGRES_URI"); env != nullptr && *env) {
      uri_ = env;
      return;
    }
    char tmpl[] = "/tmp/amp-pg-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) FAIL() << "mkdtemp failed";
    dir_ = tmpl;
    std::string out;
    int rc = Run(Script() + " start " + dir_ + " --owner-pid " + std::to_string(getpid()),
                 &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0 || out.rfind("postgresql://", 0) != 0) {
      std::string ignored;
      Run(Script() + " stop " + dir_ + " 2>/dev/null", &ignored);
      rmdir(dir_.c_str());
      dir_.clear();
      // Non-fatal here so that every test still runs and fails in its own SetUp
      // (a fatal environment failure would only mark them "skipped").
      ADD_FAILURE() << "cannot start a PostgreSQL test server with " << Script() << " (exit "
                    << rc << ", output: " << out << "). Install postgresql-15 "
                    << "(scripts/bootstrap) or set AMP_TEST_POSTGRES_URI to a server for tests";
      return;
    }
    uri_ = out;
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

 private:
  static PgTestServer*& instance() {
    static PgTestServer* server = nullptr;
    return server;
  }
  static std::string Script() { return std::string(AMP_SOURCE_DIR) + "/scripts/pg"; }
  static int Run(const std::string& command, std::string* out) {
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out->append(buf.data(), n);
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string uri_;
  std::string dir_;
};

}  // namespace amp::postgres::testing
