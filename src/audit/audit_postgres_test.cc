// `ampsync audit` end to end with PostgreSQL: devnet rows loaded with the postgres loader's
// session (Begin / Append / Commit with a checkpoint, as the engine would), audited OK, then
// tampered with in SQL; the report must name exactly the damaged blocks.
#include "common/testing/status_matchers.h"
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>

#include "amp/audit.h"
#include "amp/devnet.h"
#include "audit/testing/audit_devnet.h"
#include "loaders/postgres/pg_test_server.h"
#include "loaders/postgres/postgres_loader.h"

namespace amp {
namespace {

using postgres::testing::PgTestServer;

static PgTestServer* const kServer = PgTestServer::Register();

constexpr const char* kQuery = "SELECT * FROM eth_firehose.logs";
constexpr uint64_t kHistory = 40;  // blocks 0..39
constexpr uint64_t kLogsPerBlock = 8;

class AuditPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(kServer->uri().empty()) << "no PostgreSQL server for the tests";
    devnet_ = audit_testing::StartAuditDevnet(kHistory, kLogsPerBlock);
    client_ = std::make_unique<Client>(devnet_->url());

    schema_ = "audit_" + std::to_string(getpid());
    db_ = PQconnectdb(kServer->uri().c_str());
    ASSERT_EQ(PQstatus(db_), CONNECTION_OK) << PQerrorMessage(db_);
    PQsetNoticeProcessor(db_, [](void*, const char*) {}, nullptr);
    Exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    Exec("CREATE SCHEMA " + schema_);
    destination_.loader = "postgresql";
    destination_.config = {{"uri", kServer->uri()}, {"schema", schema_}};
  }
  void TearDown() override {
    if (db_ != nullptr) {
      Exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      PQfinish(db_);
    }
    if (devnet_) ASSERT_OK(devnet_->Shutdown());
  }
  void Exec(const std::string& sql) {
    PGresult* res = PQexec(db_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(db_);
    PQclear(res);
  }

  // Loads blocks 0..kHistory-1 in microbatches of 10 blocks, one unit each, each committed
  // with the stream's checkpoint, as the load driver does.
  void LoadDevnetRows() {
    LoaderRegistry registry;
    RegisterPostgresLoader(registry);
    auto loader = ValueOrDie(registry.Create("postgresql", destination_.config));
    QueryOptions batch;
    batch.stream = false;
    auto info = ValueOrDie(client_->GetInfo(kQuery, batch));
    TableSpec spec;
    spec.name = "logs";
    spec.schema = info.schema;
    spec.block_column = "_block_num";
    ASSERT_OK(loader->EnsureTable(spec));
    auto session = ValueOrDie(loader->OpenSession());
    for (BlockNumber start = 0; start < kHistory; start += 10) {
      const BlockNumber end = start + 9;
      auto range = ValueOrDie(devnet_->CanonicalRange(start, end));
      auto rows = ValueOrDie(devnet_->CanonicalRows("logs", start, end));
      StreamCheckpoint checkpoint;
      checkpoint.stream_id = MakeStreamId(kQuery, "logs");
      checkpoint.cursor = Cursor::FromRanges({range});
      checkpoint.recent_ranges = {range};
      checkpoint.transaction_id = start + 1;
      ASSERT_OK(session->Begin());
      ASSERT_OK(session->Append("logs", *rows, range));
      ASSERT_OK(session->Commit(&checkpoint));
    }
  }

  std::unique_ptr<DevnetServer> devnet_;
  std::unique_ptr<Client> client_;
  std::string schema_;
  PGconn* db_ = nullptr;
  ConnectionSpec destination_;
};

TEST_F(AuditPostgresTest, TamperedBlocksAreReportedExactly) {
  LoadDevnetRows();
  auto clean = Audit(*client_, kQuery, destination_, "logs");
  ASSERT_TRUE(clean.ok()) << clean.status().ToString();
  EXPECT_TRUE(clean->ok()) << clean->ToString();
  EXPECT_EQ(clean->range, (BlockInterval{0, kHistory - 1}));
  EXPECT_EQ(clean->end_from, "checkpoint");
  EXPECT_EQ(clean->blocks_checked, kHistory);
  EXPECT_EQ(clean->rows_source, kHistory * kLogsPerBlock);
  EXPECT_EQ(clean->rows_destination, kHistory * kLogsPerBlock);

  const std::string logs = schema_ + ".logs";
  Exec("DELETE FROM " + logs + " WHERE _block_num = 5");                   // missing
  Exec("INSERT INTO " + logs + " SELECT * FROM " + logs + " WHERE _block_num = 7");  // duplicate
  Exec("UPDATE " + logs + " SET data = '\\x00'::bytea WHERE ctid = (SELECT ctid FROM " + logs +
       " WHERE _block_num = 9 ORDER BY log_index LIMIT 1)");                // stale: a value
  Exec("CREATE TEMP TABLE extra AS SELECT * FROM " + logs + " WHERE _block_num = 1");
  Exec("UPDATE extra SET _block_num = 50, block_num = 50, _amp_block_start = 50, "
       "_amp_block_end = 50");
  Exec("INSERT INTO " + logs + " SELECT * FROM extra");                    // stale: past the head

  auto damaged = Audit(*client_, kQuery, destination_, "logs");
  ASSERT_TRUE(damaged.ok()) << damaged.status().ToString();
  EXPECT_FALSE(damaged->ok());
  EXPECT_EQ(damaged->missing, (std::vector<BlockNumber>{5}));
  EXPECT_EQ(damaged->duplicate, (std::vector<BlockNumber>{7}));
  EXPECT_EQ(damaged->stale, (std::vector<BlockNumber>{9}));  // 50 is past the checkpoint
  EXPECT_EQ(damaged->rows_destination, kHistory * kLogsPerBlock);  // -8 (5) +8 (7)

  AuditOptions beyond;
  beyond.to_block = 60;
  beyond.chunk_blocks = 16;  // several chunks, some empty on the source side
  auto wide = Audit(*client_, kQuery, destination_, "logs", beyond);
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->range, (BlockInterval{0, 60}));
  EXPECT_EQ(wide->missing, (std::vector<BlockNumber>{5}));
  EXPECT_EQ(wide->duplicate, (std::vector<BlockNumber>{7}));
  EXPECT_EQ(wide->stale, (std::vector<BlockNumber>{9, 50}));
  EXPECT_EQ(wide->blocks_checked, kHistory + 1);
  EXPECT_EQ(wide->rows_destination, kHistory * kLogsPerBlock + kLogsPerBlock);
  const std::string text = wide->ToString();
  EXPECT_NE(text.find("MISMATCH (1 missing, 1 duplicate, 2 stale)"), std::string::npos) << text;
  EXPECT_NE(text.find("stale: 2 blocks: 9, 50"), std::string::npos) << text;
}

TEST_F(AuditPostgresTest, AMissingTableIsAnError) {
  auto report = Audit(*client_, kQuery, destination_, "nope");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(ClassOf(report.status()), ErrorClass::kFatal);
  EXPECT_NE(report.status().message().find("does not exist"), std::string::npos)
      << report.status().ToString();
}

}  // namespace
}  // namespace amp
