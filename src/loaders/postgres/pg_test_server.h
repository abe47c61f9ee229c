// A PostgreSQL server for tests (loaders/testing/script_test_server.h): the URI in
// AMP_TEST_POSTGRES_URI when set, otherwise a throwaway instance started with scripts/pg
// (PostgreSQL 15 from the Debian packages), once per test binary. A server given by URI
// must let that user create schemas and roles (a superuser, as scripts/pg's amp_test is).
//
// Header-only (test code); the including target must define AMP_SOURCE_DIR.
//
//   // At namespace scope in one test file:
//   static auto* const kServer = amp::postgres::testing::PgTestServer::Register();
//   ...
//   std::string uri = amp::postgres::testing::PgTestServer::Get().uri();
//
// PgSchemaTest is the fixture of tests that need a schema of their own on that server:
//
//   class ReadRowsTest : public PgSchemaTest {
//    protected:
//     ReadRowsTest() : PgSchemaTest("r_") {}
//   };
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <cctype>
#include <string>

#include "loaders/testing/script_test_server.h"

namespace amp::postgres::testing {

/// uri(): postgresql://amp_test@127.0.0.1:PORT/amp_test (trust authentication), or the
/// AMP_TEST_POSTGRES_URI value.
class PgTestServer : public loaders::testing::ScriptTestServer<PgTestServer> {
 public:
  static constexpr loaders::testing::ScriptServerSpec kSpec{
      .uri_env = "AMP_TEST_POSTGRES_URI",
      .script = "pg",
      .uri_prefix = "postgresql://",
      .install_hint = "Install postgresql-15 (scripts/bootstrap)",
  };

  /// The password-authenticated role of scripts/pg servers (wrong-credential tests).
  static constexpr const char* kSecureUser = "amp_secure";
  static constexpr const char* kSecurePassword = "amp-secure-pw";
};

/// A fresh schema `<prefix><test name>_<pid>` per test (dropped afterwards) and db_, a
/// connection of the test's own for set-up and checks.
class PgSchemaTest : public ::testing::Test {
 protected:
  explicit PgSchemaTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    const std::string& uri = PgTestServer::Get().uri();
    ASSERT_FALSE(uri.empty()) << "no PostgreSQL server for the tests (see the set-up failure above)";
    // Lower case: PostgreSQL folds unquoted names, and the suites' SQL does not quote.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    schema_ = prefix_ + name.substr(0, 40) + "_" + std::to_string(getpid());
    db_ = PQconnectdb(uri.c_str());
    ASSERT_EQ(PQstatus(db_), CONNECTION_OK) << PQerrorMessage(db_);
    PQsetNoticeProcessor(db_, [](void*, const char*) {}, nullptr);
    RunSql("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
    RunSql("CREATE SCHEMA \"" + schema_ + "\"");
  }

  void TearDown() override {
    if (db_ == nullptr) return;
    if (PQstatus(db_) != CONNECTION_OK) PQreset(db_);  // a test may have broken it on purpose
    RunSql("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
    PQfinish(db_);
    db_ = nullptr;
  }

  /// Runs a statement on db_; a failure fails the test.
  void RunSql(const std::string& sql) {
    PGresult* res = PQexec(db_, sql.c_str());
    const ExecStatusType st = PQresultStatus(res);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(db_);
    PQclear(res);
  }

  std::string schema_;
  PGconn* db_ = nullptr;

 private:
  const std::string prefix_;
};

}  // namespace amp::postgres::testing
