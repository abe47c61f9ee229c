// The loader conformance suite (loader_conformance.h) for the "postgresql" loader, against
// the throwaway server of pg_test_server.h (or AMP_TEST_POSTGRES_URI). Each test gets a
// schema of its own; a commit is made to fail by terminating the loader's backends from a
// second connection between the unit's Append and its Commit.
#include <arrow/api.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <string>
#include <thread>

#include "conformance/loader_conformance.h"
#include "loaders/postgres/pg_test_server.h"
#include "loaders/postgres/postgres_loader.h"

namespace amp::conformance {
namespace {

using postgres::testing::PgTestServer;

static PgTestServer* const kServer = PgTestServer::Register();

class PostgresQuirks : public LoaderQuirks {
 public:
  ~PostgresQuirks() override {
    if (db_ != nullptr) PQfinish(db_);
  }

  Status SetUp(const std::string& test_name) override {
    if (kServer->uri().empty()) {
      return Status::IOError("no PostgreSQL server for the tests (see the set-up failure above)");
    }
    static std::atomic<int> counter{0};
    const int n = counter.fetch_add(1);
    std::string name;
    for (char c : test_name.substr(0, 40)) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    schema_ = "conf_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(n);
    // Tags the loader's connections so FailNextCommit() finds them (<= 63 bytes).
    application_ = "ampconf-" + std::to_string(getpid()) + "-" + std::to_string(n);
    db_ = PQconnectdb(kServer->uri().c_str());
    if (PQstatus(db_) != CONNECTION_OK) {
      return Status::IOError("cannot connect to ", kServer->uri(), ": ", PQerrorMessage(db_));
    }
    PQsetNoticeProcessor(db_, [](void*, const char*) {}, nullptr);
    AMP_RETURN_NOT_OK(Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE"));
    return Exec("CREATE SCHEMA \"" + schema_ + "\"");
  }

  Status TearDown() override {
    if (db_ == nullptr) return Status::OK();
    if (PQstatus(db_) != CONNECTION_OK) PQreset(db_);
    return Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
  }

  Result<std::unique_ptr<Loader>> MakeLoader() override {
    LoaderRegistry registry;
    RegisterPostgresLoader(registry);
    return registry.Create("postgresql", {{"uri", kServer->uri()},
                                          {"schema", schema_},
                                          {"application_name", application_}});
  }

  Status DropTable(const std::string& table) override {
    return Exec("DROP TABLE IF EXISTS \"" + schema_ + "\".\"" + table + "\"");
  }

  // Terminates every backend of this test's loaders (the session's included) and waits
  // until they are gone, so the COMMIT that follows meets a dead connection.
  std::optional<Status> FailNextCommit(Loader& loader) override {
    (void)loader;
    const std::string match =
        "application_name = '" + application_ + "' AND pid <> pg_backend_pid()";
    auto count = [&](const std::string& sql) -> Result<int> {
      PGresult* res = PQexec(db_, sql.c_str());
      if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        std::string error = PQerrorMessage(db_);
        PQclear(res);
        return Status::IOError(sql, ": ", error);
      }
      int n = std::stoi(PQgetvalue(res, 0, 0));
      PQclear(res);
      return n;
    };
    auto killed =
        count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE " + match);
    if (!killed.ok()) return killed.status();
    if (*killed < 1) return Status::Invalid("no backend of ", application_, " to terminate");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      auto left = count("SELECT count(*) FROM pg_stat_activity WHERE " + match);
      if (!left.ok()) return left.status();
      if (*left == 0) return Status::OK();
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::IOError(*left, " terminated backends of ", application_, " are still alive");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Text with a NUL byte: PostgreSQL's text type cannot hold it, and the server rejects
  // it in the middle of the COPY.
  std::shared_ptr<arrow::RecordBatch> MakeInvalidBatch(const arrow::RecordBatch& valid) override {
    arrow::StringBuilder label;
    for (int64_t i = 0; i < valid.num_rows(); ++i) {
      if (!label.Append(std::string("nul\0byte", 8)).ok()) return nullptr;
    }
    auto column = label.Finish();
    if (!column.ok()) return nullptr;
    auto batch = valid.SetColumn(valid.schema()->GetFieldIndex("label"),
                                 valid.schema()->GetFieldByName("label"), *column);
    return batch.ok() ? *batch : nullptr;
  }

  // Binary COPY stores timestamps as microseconds (docs/loaders/postgresql.md).
  int64_t timestamp_resolution_ns() const override { return 1000; }

 private:
  Status Exec(const std::string& sql) {
    PGresult* res = PQexec(db_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) return Status::IOError(sql, ": ", PQerrorMessage(db_));
    return Status::OK();
  }

  PGconn* db_ = nullptr;
  std::string schema_;
  std::string application_;
};

class PostgresConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<PostgresQuirks>(); }
};

AMP_LOADER_CONFORMANCE_TESTS(PostgresConformanceTest)

}  // namespace
}  // namespace amp::conformance
