#include "job_file.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "exit_codes.h"

namespace amp::cli {
namespace {

std::optional<std::string> FakeEnv(const std::string& name) {
  if (name == "MY_TOKEN") return std::string("t0ken");
  return std::nullopt;
}

Result<JobFile> Parse(const std::string& text) { return ParseJobFile(text, "job.toml", FakeEnv); }

// The error message of parsing `text` (and that it is a usage error).
std::string Err(const std::string& text) {
  auto r = Parse(text);
  if (r.ok()) return "OK";
  EXPECT_EQ(ExitCodeFor(r.status()), kExitUsage);
  return r.status().message();
}

const char kFull[] = R"(# a comment
[server]
url = "grpc://amp.example:1602"
token_env = "MY_TOKEN"

[connections.warehouse]
loader = "postgresql"
host = "db.internal"
port = 5433
database = "chain"
user = "loader"
password = "env:PGPASSWORD"
max_connections = 12

[connections.scratch]
uri = "memory://scratch"

[job]
query = "SELECT * FROM eth_firehose.logs WHERE topic0 = '0xdd'"
connection = "warehouse"
table = "transfers"
mode = "upsert"
key_columns = ["block_num", "log_index"]
stream = true
batch_size = 5000
max_attempts = 3

[job.parallel]
workers = 8
source_table = "eth_firehose.logs"
from_block = 1000
to_block = 1999
partition_size = 100
block_column = "_block_num"
reorg_buffer = 50
stop_on_error = true
dry_run = true
)";

TEST(JobFileTest, ParsesEveryKey) {
  auto r = Parse(kFull);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const LoadJob& job = r->job;
  EXPECT_EQ(job.server, "grpc://amp.example:1602");
  EXPECT_EQ(job.token, "t0ken");
  EXPECT_EQ(job.destination.name, "warehouse");
  EXPECT_TRUE(job.destination.uri.empty());
  EXPECT_EQ(job.destination.spec.loader, "postgresql");
  const LoaderConfig expected = {{"host", "db.internal"}, {"port", "5433"}, {"database", "chain"},
                                 {"user", "loader"}, {"password", "env:PGPASSWORD"},
                                 {"max_connections", "12"}};
  EXPECT_EQ(job.destination.spec.config, expected);
  EXPECT_EQ(job.query, "SELECT * FROM eth_firehose.logs WHERE topic0 = '0xdd'");
  EXPECT_EQ(job.table, "transfers");
  EXPECT_EQ(job.mode, "upsert");
  EXPECT_EQ(job.key_columns, (std::vector<std::string>{"block_num", "log_index"}));
  EXPECT_TRUE(job.stream);
  EXPECT_EQ(job.batch_size, 5000);
  EXPECT_EQ(job.max_attempts, 3);
  EXPECT_EQ(job.block_column, "_block_num");
  EXPECT_TRUE(job.dry_run);
  ASSERT_TRUE(job.parallel.has_value());
  EXPECT_EQ(job.parallel->workers, 8);
  EXPECT_EQ(job.parallel->source_table, "eth_firehose.logs");
  EXPECT_EQ(job.parallel->from_block, 1000u);
  EXPECT_EQ(job.parallel->to_block, 1999u);
  EXPECT_EQ(job.parallel->partition_size, 100u);
  EXPECT_EQ(job.parallel->reorg_buffer, 50u);
  EXPECT_TRUE(job.parallel->stop_on_error);
  EXPECT_EQ(r->lines.at("job.parallel.workers"), 29);

  // The same job reaches the library as the equivalent flags would make it.
  auto options = BuildLoadOptions(job, r->Namer());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->parallel->max_block, 2000u);
  EXPECT_EQ(options->parallel->block_column, "_block_num");
  EXPECT_EQ(options->mode, LoadMode::kUpsert);
}

TEST(JobFileTest, LatestAndUriConnections) {
  auto r = Parse(R"([job]
query = "SELECT * FROM eth_firehose.blocks"
connection = "memory://direct"
table = "blocks"
[job.parallel]
workers = 2
to_block = "latest"
)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->job.server, "grpc://127.0.0.1:1602");
  EXPECT_EQ(r->job.destination.uri, "memory://direct");
  EXPECT_FALSE(r->job.parallel->to_block.has_value());
  EXPECT_TRUE(r->job.token.empty());
}

TEST(JobFileTest, UnknownKeysNameTheKeyAndLine) {
  std::string e = Err("[job]\nquery = \"q\"\nconnection = \"memory://x\"\ntable = \"t\"\n[job.parallel]\nworkers = 2\nwokers = 3\n");
  EXPECT_NE(e.find("job.toml:7"), std::string::npos) << e;
  EXPECT_NE(e.find("job.parallel.wokers"), std::string::npos) << e;
  EXPECT_NE(e.find("workers"), std::string::npos) << e;  // the list of known keys
  e = Err("[jobs]\n");
  EXPECT_NE(e.find("job.toml:1: jobs: unknown key"), std::string::npos) << e;
  e = Err("[job]\nquery = \"q\"\nconection = \"x\"\n");
  EXPECT_NE(e.find("job.toml:3: job.conection"), std::string::npos) << e;
  e = Err("[connections.pg]\nloader = \"postgresql\"\nhots = \"x\"\n[job]\n");
  EXPECT_NE(e.find("job.toml:3: connections.pg.hots"), std::string::npos) << e;
  EXPECT_NE(e.find("host"), std::string::npos) << e;
  e = Err("[server]\nurl = \"grpc://x\"\nport = 3\n");
  EXPECT_NE(e.find("job.toml:3: server.port"), std::string::npos) << e;
}

TEST(JobFileTest, SecretsOnlyAsEnvReferences) {
  std::string e = Err("[connections.pg]\nloader = \"postgresql\"\npassword = \"hunter2\"\n[job]\n");
  EXPECT_NE(e.find("job.toml:3: connections.pg.password"), std::string::npos) << e;
  EXPECT_NE(e.find("env:"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;  // never echoed
  e = Err("[connections.pg]\nuri = \"postgresql://me:hunter2@db/chain\"\n[job]\n");
  EXPECT_NE(e.find("job.toml:2: connections.pg.uri"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  e = Err("[job]\nquery = \"q\"\ntable = \"t\"\nconnection = \"postgresql://me:hunter2@db/chain\"\n");
  EXPECT_NE(e.find("job.connection"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  e = Err("[server]\ntoken = \"abc\"\n");
  EXPECT_NE(e.find("token_env"), std::string::npos) << e;
  e = Err("[server]\ntoken_env = \"NOT_SET_ANYWHERE\"\n");
  EXPECT_NE(e.find("NOT_SET_ANYWHERE is not set"), std::string::npos) << e;
  // A uri without the password plus the password as a reference is fine.
  auto r = Parse("[connections.pg]\nuri = \"postgresql://me@db:5432/chain\"\npassword = \"env:PGPASSWORD\"\n"
                 "[job]\nquery = \"q\"\ntable = \"t\"\nconnection = \"pg\"\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->job.destination.spec.config.at("password"), "env:PGPASSWORD");
}

TEST(JobFileTest, TypeAndValueErrors) {
  const std::string head = "[job]\nquery = \"q\"\nconnection = \"memory://x\"\ntable = \"t\"\n";
  std::string e = Err(head + "[job.parallel]\nworkers = \"four\"\n");
  EXPECT_NE(e.find("job.toml:6: job.parallel.workers: expected an integer"), std::string::npos) << e;
  e = Err(head + "[job.parallel]\nworkers = 0\n");
  EXPECT_NE(e.find("job.parallel.workers: must be at least 1"), std::string::npos) << e;
  e = Err(head + "[job.parallel]\nworkers = 2\nto_block = \"head\"\n");
  EXPECT_NE(e.find("job.toml:7: job.parallel.to_block"), std::string::npos) << e;
  e = Err(head + "[job.parallel]\nworkers = 2\nfrom_block = -5\n");
  EXPECT_NE(e.find("job.parallel.from_block: must be at least 0"), std::string::npos) << e;
  e = Err(head + "[job.parallel]\nto_block = 5\n");
  EXPECT_NE(e.find("workers is required"), std::string::npos) << e;
  e = Err(head + "stream = \"yes\"\n");
  EXPECT_NE(e.find("job.stream: expected true or false"), std::string::npos) << e;
  e = Err("[job]\nquery = \"q\"\ntable = \"t\"\nconnection = \"nope\"\n[connections.pg]\nloader = \"memory\"\n");
  EXPECT_NE(e.find("job.toml:4: job.connection: no connection named 'nope' (defined: pg)"), std::string::npos) << e;
  e = Err("[connections.x]\nloader = \"oracle\"\n[job]\n");
  EXPECT_NE(e.find("unknown loader 'oracle'"), std::string::npos) << e;
  e = Err("[server]\nurl = \"grpc://x\"\n");
  EXPECT_NE(e.find("no [job]"), std::string::npos) << e;
  e = Err("[job]\nquery = \"unterminated\n");
  EXPECT_NE(e.find("job.toml:2"), std::string::npos) << e;
}

TEST(JobFileTest, LaterValidationNamesKeysWithLines) {
  auto r = Parse("[job]\nquery = \"SELECT * FROM (SELECT 1) s\"\nconnection = \"memory://x\"\ntable = \"t\"\n"
                 "[job.parallel]\nworkers = 2\nfrom_block = 10\nto_block = 5\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto options = BuildLoadOptions(r->job, r->Namer());
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.status().message().find("job.parallel.to_block (job.toml:8)"), std::string::npos)
      << options.status().message();
  r->job.parallel->to_block = 20;
  options = BuildLoadOptions(r->job, r->Namer());
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.status().message().find("job.parallel.source_table (job.toml)"), std::string::npos)
      << options.status().message();
}

TEST(JobFileTest, ShippedExamplesParse) {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::string("x"); };
  auto hybrid = LoadJobFile(std::string(AMP_EXAMPLES_DIR) + "/hybrid_postgres.toml", env);
  ASSERT_TRUE(hybrid.ok()) << hybrid.status().ToString();
  EXPECT_EQ(hybrid->job.destination.spec.loader, "postgresql");
  ASSERT_TRUE(hybrid->job.parallel.has_value());
  EXPECT_FALSE(hybrid->job.parallel->to_block.has_value());  // hybrid
  EXPECT_TRUE(BuildLoadOptions(hybrid->job, hybrid->Namer()).ok());
  auto historical = LoadJobFile(std::string(AMP_EXAMPLES_DIR) + "/historical_memory.toml", env);
  ASSERT_TRUE(historical.ok()) << historical.status().ToString();
  EXPECT_EQ(historical->job.destination.spec.loader, "memory");
  EXPECT_EQ(historical->job.parallel->to_block, 9999u);
  auto options = BuildLoadOptions(historical->job, historical->Namer());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->parallel->max_block, 10000u);
  EXPECT_EQ(options->parallel->partition_size, 1000u);
}

TEST(JobFileTest, TheFullExampleOfTheDocsParses) {
  std::ifstream in(AMP_DOCS_DIR "/cli.md");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t start = doc.find("```toml\n");
  ASSERT_NE(start, std::string::npos);
  const size_t body = start + 8;
  const size_t end = doc.find("```", body);
  ASSERT_NE(end, std::string::npos);
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "AMP_AUTH_TOKEN") return std::string("tok");
    return std::nullopt;
  };
  auto r = ParseJobFile(doc.substr(body, end - body), "docs/cli.md", env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->job.token, "tok");
  EXPECT_EQ(r->job.destination.name, "warehouse");
  ASSERT_TRUE(r->job.parallel.has_value());
  EXPECT_EQ(r->job.parallel->workers, 4);
  EXPECT_FALSE(r->job.parallel->to_block.has_value());
  auto options = BuildLoadOptions(r->job, r->Namer());
  EXPECT_TRUE(options.ok()) << options.status().ToString();
}

}  // namespace
}  // namespace amp::cli
