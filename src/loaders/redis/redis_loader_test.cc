// The "redis" loader against a real redis-server (redis_test_server.h): every data
// structure writes, undoes and reads back; upserts; checkpoints by prefix; TTL; and the
// failure modes of issue 5 (wrong password, no password, wrong type at a key, out of
// memory, unreachable server): a clear kFatal/retryable error naming the destination,
// never the password, and nothing half-written. The shared conformance suite
// (tests/conformance/redis_conformance_test.cc) covers the loader contract itself.
#include "loaders/redis/redis_loader.h"

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "loaders/redis/redis_options.h"
#include "loaders/redis/redis_test_server.h"

namespace amp::redis {
namespace {

using testing::RedisTestServer;

static RedisTestServer* const kServer = RedisTestServer::Register();

std::string UniquePrefix() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(getpid()) + "_" + std::to_string(n++) + ":";
}

// A raw hiredis connection to inspect what the loader wrote.
class Raw {
 public:
  Raw() { ctx_ = redisConnect(kServer->host().c_str(), kServer->port()); }
  ~Raw() { if (ctx_) redisFree(ctx_); }
  redisReply* Cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (reply_) freeReplyObject(reply_);
    reply_ = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()),
                                                       argv.data(), lens.data()));
    return reply_;
  }
  long long Int(const std::vector<std::string>& args) {
    auto* r = Cmd(args);
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  }
  std::string Str(const std::vector<std::string>& args) {
    auto* r = Cmd(args);
    return r && r->str ? std::string(r->str, r->len) : std::string();
  }

 private:
  redisContext* ctx_ = nullptr;
  redisReply* reply_ = nullptr;
};

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("_block_num", arrow::uint64(), false),
                        arrow::field("id", arrow::int64(), false),
                        arrow::field("label", arrow::utf8(), true)});
}

std::shared_ptr<arrow::RecordBatch> Rows(uint64_t first_block, uint64_t last_block,
                                         const std::string& label, int64_t id_base = 0) {
  arrow::UInt64Builder b;
  arrow::Int64Builder id;
  arrow::StringBuilder l;
  int64_t n = 0;
  for (uint64_t blk = first_block; blk <= last_block; ++blk) {
    for (int k = 0; k < 2; ++k, ++n) {
      EXPECT_TRUE(b.Append(blk).ok());
      EXPECT_TRUE(id.Append(id_base + static_cast<int64_t>(blk) * 10 + k).ok());
      EXPECT_TRUE(k == 1 ? l.AppendNull().ok() : l.Append(label).ok());
    }
  }
  return arrow::RecordBatch::Make(Schema(), n, {*b.Finish(), *id.Finish(), *l.Finish()});
}

BlockRange Range(uint64_t a, uint64_t b) { return BlockRange{.network = "mainnet", .start = a, .end = b}; }

StreamCheckpoint Checkpoint(const std::string& stream_id, uint64_t transaction_id = 0) {
  StreamCheckpoint cp;
  cp.stream_id = stream_id;
  cp.transaction_id = transaction_id;
  return cp;
}

Result<std::unique_ptr<Loader>> Make(LoaderConfig extra) {
  LoaderRegistry registry;
  RegisterRedisLoader(registry);
  LoaderConfig config = {{"host", kServer->host()}, {"port", std::to_string(kServer->port())}};
  for (auto& [k, v] : extra) config[k] = v;
  return registry.Create("redis", config);
}

TableSpec Spec(const std::string& name, LoadMode mode = LoadMode::kAppend) {
  TableSpec spec;
  spec.name = name;
  spec.schema = Schema();
  spec.block_column = "_block_num";
  spec.mode = mode;
  if (mode == LoadMode::kUpsert) spec.key_columns = {"id"};
  return spec;
}

Status Unit(Loader& loader, const std::string& table, const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
            std::optional<BlockInterval> undo = std::nullopt, const StreamCheckpoint* cp = nullptr) {
  AMP_ASSIGN_OR_RETURN(auto session, loader.OpenSession());
  AMP_RETURN_NOT_OK(session->Begin());
  if (undo) AMP_RETURN_NOT_OK(session->Undo(table, *undo));
  for (const auto& b : batches) {
    const auto& blocks = static_cast<const arrow::UInt64Array&>(*b->column(0));
    AMP_RETURN_NOT_OK(session->Append(table, *b, Range(blocks.Value(0), blocks.Value(b->num_rows() - 1))));
  }
  return session->Commit(cp);
}

std::multiset<int64_t> Ids(Loader& loader, const TableSpec& spec, BlockInterval blocks = {}) {
  auto table = loader.ReadRows(spec, blocks);
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  std::multiset<int64_t> out;
  if (!table.ok()) return out;
  auto ids = (*table)->GetColumnByName("id");
  for (const auto& chunk : ids->chunks()) {
    const auto& a = static_cast<const arrow::Int64Array&>(*chunk);
    for (int64_t i = 0; i < a.length(); ++i) out.insert(a.Value(i));
  }
  return out;
}

std::multiset<int64_t> Expected(uint64_t a, uint64_t b, int64_t base = 0) {
  std::multiset<int64_t> out;
  for (uint64_t blk = a; blk <= b; ++blk) {
    out.insert(base + static_cast<int64_t>(blk) * 10);
    out.insert(base + static_cast<int64_t>(blk) * 10 + 1);
  }
  return out;
}

// A fresh key prefix per test, and the loader and table most tests start from.
class RedisLoader : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(kServer->uri().empty()) << "no Redis server for the tests"; }

  // `loader` under `prefix` (plus `options`), with `table` ensured as `spec`.
  void OpenTable(TableSpec table, LoaderConfig options = {}) {
    options["prefix"] = prefix;
    auto made = Make(options);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    loader = std::move(*made);
    spec = std::move(table);
    ASSERT_TRUE(loader->EnsureTable(spec).ok());
  }

  const std::string prefix = UniquePrefix();
  std::unique_ptr<Loader> loader;
  TableSpec spec;
  Raw raw;  // to inspect what the loader wrote
};

class RedisLoaderTest : public RedisLoader, public ::testing::WithParamInterface<std::string> {};

TEST_P(RedisLoaderTest, WritesUndoesAndReadsBackEveryStructure) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("rows"), {{"data_structure", GetParam()}}));
  ASSERT_TRUE(Unit(*loader, "rows", {Rows(0, 4, "a"), Rows(5, 9, "b")}).ok());
  EXPECT_EQ(Ids(*loader, spec), Expected(0, 9));
  EXPECT_EQ(Ids(*loader, spec, {3, 4}), Expected(3, 4));
  // Undo 6.. and reload 6..7 in one unit.
  ASSERT_TRUE(Unit(*loader, "rows", {Rows(6, 7, "c", 1000)}, BlockInterval{6, kMaxBlock}).ok());
  auto expected = Expected(0, 5);
  for (auto v : Expected(6, 7, 1000)) expected.insert(v);
  EXPECT_EQ(Ids(*loader, spec), expected);
  // Truncate empties through the index.
  ASSERT_TRUE(loader->Truncate("rows").ok());
  EXPECT_TRUE(Ids(*loader, spec).empty());
  EXPECT_EQ(raw.Int({"ZCARD", prefix + "amp:idx:rows"}), 0);
  if (GetParam() == "stream") {
    EXPECT_EQ(raw.Int({"XLEN", prefix + "rows"}), 0) << "XDEL leaves an empty stream";
  } else if (GetParam() != "hash" && GetParam() != "string") {
    EXPECT_EQ(raw.Int({"EXISTS", prefix + "rows"}), 0) << "the collection is empty";
  }
}

INSTANTIATE_TEST_SUITE_P(Structures, RedisLoaderTest,
                         ::testing::Values("hash", "string", "stream", "set", "sorted_set", "list"));

TEST_F(RedisLoader, HashLayoutIsDocumented) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("t"), {{"key_pattern", "{table}:{id}"}}));
  ASSERT_TRUE(Unit(*loader, "t", {Rows(7, 7, "x:y")}).ok());
  EXPECT_EQ(raw.Str({"HGET", prefix + "t:70", "label"}), "x:y");
  EXPECT_EQ(raw.Str({"HGET", prefix + "t:70", "_block_num"}), "7");
  EXPECT_EQ(raw.Str({"HGET", prefix + "t:70", "_amp_block_start"}), "7");
  EXPECT_EQ(raw.Int({"HEXISTS", prefix + "t:71", "label"}), 0) << "nulls are left out";
  EXPECT_EQ(raw.Str({"ZSCORE", prefix + "amp:idx:t", prefix + "t:71"}), "7");
}

// Binaries: raw bytes in the hash fields of tables created now (description format 2),
// hex in keys; a table created with format 1 keeps hex fields; both read back exactly.
TEST_F(RedisLoader, BinaryFieldsFollowTheTableFormat) {
  auto schema = arrow::schema({arrow::field("_block_num", arrow::uint64(), false),
                               arrow::field("h", arrow::fixed_size_binary(3), false),
                               arrow::field("data", arrow::binary(), true)});
  arrow::UInt64Builder b;
  arrow::FixedSizeBinaryBuilder h(arrow::fixed_size_binary(3));
  arrow::BinaryBuilder d;
  ASSERT_TRUE(b.Append(5).ok());
  ASSERT_TRUE(h.Append(std::string("\x00:\xff", 3)).ok());
  ASSERT_TRUE(d.Append(std::string("a\r\n\x00\"b", 6)).ok());
  auto batch = arrow::RecordBatch::Make(schema, 1, {*b.Finish(), *h.Finish(), *d.Finish()});
  spec.schema = schema;
  spec.block_column = "_block_num";
  for (const std::string format : {"2", "1"}) {
    SCOPED_TRACE("format " + format);
    const std::string format_prefix = UniquePrefix();
    spec.name = "bin";
    if (format == "1") {
      // A description written by an earlier ampsync (format 1: hex fields).
      auto first = *Make({{"prefix", format_prefix}});
      ASSERT_TRUE(first->EnsureTable(spec).ok());
      raw.Cmd({"HSET", format_prefix + "amp:table:bin", "format", "1"});
    }
    loader = *Make({{"prefix", format_prefix}, {"key_pattern", "{table}:{h}"}});
    ASSERT_TRUE(loader->EnsureTable(spec).ok());
    EXPECT_EQ(raw.Str({"HGET", format_prefix + "amp:table:bin", "format"}), format);
    ASSERT_TRUE(Unit(*loader, "bin", {batch}).ok());
    const std::string key = format_prefix + "bin:0x003aff";  // keys always hex
    if (format == "2") {
      EXPECT_EQ(raw.Str({"HGET", key, "h"}), std::string("\x00:\xff", 3));
      EXPECT_EQ(raw.Str({"HGET", key, "data"}), std::string("a\r\n\x00\"b", 6));
    } else {
      EXPECT_EQ(raw.Str({"HGET", key, "h"}), "0x003aff");
      EXPECT_EQ(raw.Str({"HGET", key, "data"}), "0x610d0a002262");
    }
    auto table = loader->ReadRows(spec, {});
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    ASSERT_EQ((*table)->num_rows(), 1);
    EXPECT_TRUE((*table)->GetColumnByName("h")->Equals(arrow::ChunkedArray(batch->column(1))));
    EXPECT_TRUE((*table)->GetColumnByName("data")->Equals(arrow::ChunkedArray(batch->column(2))));
  }
}

TEST_F(RedisLoader, UpsertReplacesByKey) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("u", LoadMode::kUpsert)));
  ASSERT_TRUE(Unit(*loader, "u", {Rows(1, 3, "old")}).ok());
  ASSERT_TRUE(Unit(*loader, "u", {Rows(1, 3, "new")}).ok());
  auto table = *loader->ReadRows(spec, {});
  EXPECT_EQ(table->num_rows(), 6);
  // Undo of block 2 removes the new version (the only one).
  ASSERT_TRUE(Unit(*loader, "u", {}, BlockInterval{2, 2}).ok());
  EXPECT_EQ(Ids(*loader, spec), (std::multiset<int64_t>{10, 11, 30, 31}));
  // Upsert needs per-row keys.
  auto set_loader = *Make({{"prefix", UniquePrefix()}, {"data_structure", "set"}});
  Status st = set_loader->EnsureTable(spec);
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("upsert"), std::string::npos) << st.ToString();
}

TEST_F(RedisLoader, KeyPatternErrorsNameTheColumn) {
  auto bad = *Make({{"prefix", prefix}, {"key_pattern", "{table}:{tx_hash}"}});
  Status st = bad->EnsureTable(Spec("k"));
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("{tx_hash}"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("label"), std::string::npos) << "lists the columns: " << st.ToString();
}

TEST_F(RedisLoader, CheckpointsByPrefixAndTruncateForgetsThem) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("c")));
  for (const char* sid : {"job/range/0", "job/range/100", "other", "job/range/50"}) {
    StreamCheckpoint cp = Checkpoint(sid, 3);
    cp.cursor = Cursor::FromJson(R"({"mainnet": {"number": 9, "hash": ")" + std::string(64, 'a') + R"("}})").ValueOr(Cursor{});
    ASSERT_TRUE(Unit(*loader, "c", {Rows(1, 1, "x")}, std::nullopt, &cp).ok());
  }
  auto session = *loader->OpenSession();
  auto all = *session->LoadCheckpoints("job/");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].stream_id, "job/range/0");
  EXPECT_EQ(all[1].stream_id, "job/range/100");
  EXPECT_EQ(all[2].stream_id, "job/range/50");
  EXPECT_TRUE((*session->LoadCheckpoint("other")).has_value());
  ASSERT_TRUE(loader->Truncate("c").ok());
  EXPECT_FALSE((*session->LoadCheckpoint("other")).has_value());
  EXPECT_TRUE((*session->LoadCheckpoints("")).empty());
}

TEST_F(RedisLoader, TtlExpiresRows) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("ttl"), {{"ttl", "100"}, {"key_pattern", "{table}:{id}"}}));
  ASSERT_TRUE(Unit(*loader, "ttl", {Rows(1, 1, "x")}).ok());
  const long long ttl = raw.Int({"TTL", prefix + "ttl:10"});
  EXPECT_GT(ttl, 90);
  EXPECT_LE(ttl, 100);
}

TEST_F(RedisLoader, WrongTypeAtAKeyWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("w"), {{"key_pattern", "{table}:{id}"}}));
  raw.Cmd({"SET", prefix + "w:21", "a user's string"});
  const StreamCheckpoint cp = Checkpoint("s");
  Status st = Unit(*loader, "w", {Rows(1, 2, "x")}, std::nullopt, &cp);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("WRONGTYPE"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(prefix + "w:21"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("redis://"), std::string::npos) << "names the destination";
  EXPECT_EQ(raw.Int({"EXISTS", prefix + "w:10"}), 0) << "nothing half-written";
  EXPECT_EQ(raw.Int({"EXISTS", prefix + "amp:state:s"}), 0);
  // After the fix the same unit goes through.
  raw.Cmd({"DEL", prefix + "w:21"});
  EXPECT_TRUE(Unit(*loader, "w", {Rows(1, 2, "x")}, std::nullopt, &cp).ok());
  EXPECT_EQ(Ids(*loader, spec), Expected(1, 2));
}

TEST_F(RedisLoader, OutOfMemoryIsFatalAndAtomic) {
  // No {_amp_seq}: nothing is sent before the MULTI, so the refusal comes inside it.
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("oom"), {{"key_pattern", "{table}:{id}"}}));
  raw.Cmd({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  raw.Cmd({"CONFIG", "SET", "maxmemory", "1"});
  const StreamCheckpoint cp = Checkpoint("oom");
  Status st = Unit(*loader, "oom", {Rows(1, 3, "x")}, std::nullopt, &cp);
  raw.Cmd({"CONFIG", "SET", "maxmemory", "0"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_NE(st.message().find("OOM"), std::string::npos) << st.ToString();
  EXPECT_TRUE(Ids(*loader, spec).empty()) << "nothing half-written";
  EXPECT_EQ(raw.Int({"EXISTS", prefix + "amp:state:oom"}), 0);
  EXPECT_TRUE(Unit(*loader, "oom", {Rows(1, 3, "x")}, std::nullopt, &cp).ok());
  EXPECT_EQ(Ids(*loader, spec), Expected(1, 3));
}

TEST_F(RedisLoader, AuthErrorsAreFatalAndNeverShowThePassword) {
  raw.Cmd({"ACL", "SETUSER", "amp_secure", "on", ">right-pw-123", "~*", "+@all"});
  auto denied = *Make({{"user", "amp_secure"}, {"password", "wrong-pw-456"}});
  Status st = denied->EnsureTable(Spec("a"));
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_NE(st.message().find("authentication"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("redis://amp_secure@"), std::string::npos) << st.ToString();
  EXPECT_EQ(st.ToString().find("wrong-pw-456"), std::string::npos) << st.ToString();
  setenv("AMP_REDIS_TEST_PW", "right-pw-123", 1);
  auto good = *Make({{"user", "amp_secure"}, {"password", "env:AMP_REDIS_TEST_PW"},
                     {"prefix", UniquePrefix()}});
  EXPECT_TRUE(good->EnsureTable(Spec("a")).ok());
}

// The loader contract (amp/loader.h): a failed Commit leaves the unit open for Abort(), so
// the next unit starts only after it; the same session then goes on.
TEST_F(RedisLoader, FailedCommitLeavesTheUnitForAbort) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("fc"), {{"key_pattern", "{table}:{id}"}}));
  raw.Cmd({"SET", prefix + "fc:21", "a user's string"});
  auto session = *loader->OpenSession();
  ASSERT_TRUE(session->Begin().ok());
  ASSERT_TRUE(session->Append("fc", *Rows(1, 2, "x"), Range(1, 2)).ok());
  const StreamCheckpoint cp = Checkpoint("fc");
  ASSERT_FALSE(session->Commit(&cp).ok());
  Status again = session->Begin();
  EXPECT_EQ(ClassOf(again), ErrorClass::kFatal) << again.ToString();
  EXPECT_NE(again.message().find("while a unit is open"), std::string::npos) << again.ToString();
  session->Abort();
  raw.Cmd({"DEL", prefix + "fc:21"});
  ASSERT_TRUE(session->Begin().ok());
  ASSERT_TRUE(session->Append("fc", *Rows(1, 2, "x"), Range(1, 2)).ok());
  ASSERT_TRUE(session->Commit(&cp).ok());
  EXPECT_EQ(Ids(*loader, spec), Expected(1, 2));
}

// An index member that is not "<len>:<key><id>" is reported as such, for streams as for
// the other collections, instead of being sent to the server as a key and an entry id.
TEST_F(RedisLoader, MalformedStreamIndexMemberIsReported) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("ms"), {{"data_structure", "stream"}}));
  ASSERT_TRUE(Unit(*loader, "ms", {Rows(1, 1, "x")}).ok());
  raw.Cmd({"ZADD", prefix + "amp:idx:ms", "1", "not-a-member"});
  auto table = loader->ReadRows(spec, {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(ClassOf(table.status()), ErrorClass::kFatal) << table.status().ToString();
  EXPECT_NE(table.status().message().find("malformed index member in " + prefix + "amp:idx:ms"),
            std::string::npos)
      << table.status().ToString();
}

TEST(RedisLoaderConfig, UnreachableServerIsRetryable) {
  auto loader = *Make({{"port", "1"}, {"connect_timeout", "1"}});
  Status st = loader->EnsureTable(Spec("x"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  EXPECT_NE(st.message().find("redis://127.0.0.1:1/0"), std::string::npos) << st.ToString();
}

TEST_F(RedisLoader, IncompatibleTableNamesTheColumn) {
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("i")));
  auto retyped = Spec("i");
  retyped.schema = arrow::schema({Schema()->field(0), Schema()->field(1),
                                  arrow::field("label", arrow::int64())});
  Status st = loader->EnsureTable(retyped);
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("'label'"), std::string::npos) << st.ToString();
  auto other = *Make({{"prefix", prefix}, {"data_structure", "string"}});
  st = other->EnsureTable(Spec("i"));
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal);
  EXPECT_NE(st.message().find("data_structure=hash"), std::string::npos) << st.ToString();
}

TEST_F(RedisLoader, StreamedUnitIsInvisibleUntilCommitAndAbortLeavesNothing) {
  // pipeline=4: the default pattern streams the unit, several windows go out before Commit.
  ASSERT_NO_FATAL_FAILURE(OpenTable(Spec("s"), {{"pipeline", "4"}}));
  const StreamCheckpoint cp1 = Checkpoint("st", 1);
  ASSERT_TRUE(Unit(*loader, "s", {Rows(0, 1, "a")}, std::nullopt, &cp1).ok());
  auto session = *loader->OpenSession();
  ASSERT_TRUE(session->Begin().ok());
  ASSERT_TRUE(session->Undo("s", {1, kMaxBlock}).ok());
  ASSERT_TRUE(session->Append("s", *Rows(1, 20, "b"), Range(1, 20)).ok());
  // Inside the open MULTI: checkpoint reads go through another connection.
  auto seen = session->LoadCheckpoint("st");
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->transaction_id, 1u);
  EXPECT_EQ(Ids(*loader, spec), Expected(0, 1)) << "nothing visible before EXEC";
  session->Abort();
  EXPECT_EQ(Ids(*loader, spec), Expected(0, 1)) << "an aborted unit leaves nothing";
  // The same session goes on (it reconnects).
  StreamCheckpoint cp2 = cp1;
  cp2.transaction_id = 2;
  ASSERT_TRUE(session->Begin().ok());
  ASSERT_TRUE(session->Undo("s", {1, kMaxBlock}).ok());
  ASSERT_TRUE(session->Append("s", *Rows(1, 20, "b"), Range(1, 20)).ok());
  ASSERT_TRUE(session->Commit(&cp2).ok());
  EXPECT_EQ(Ids(*loader, spec), Expected(0, 20));
  EXPECT_EQ((*session->LoadCheckpoint("st"))->transaction_id, 2u);
}

TEST(RedisLoaderConfig, UrisMapToOptions) {
  auto config = *ConfigFromUri("redis://me:p%40ss@cache.local:7000/3?data_structure=string&ttl=60");
  EXPECT_EQ(config["user"], "me");
  EXPECT_EQ(config["password"], "p@ss");
  EXPECT_EQ(config["host"], "cache.local");
  EXPECT_EQ(config["port"], "7000");
  EXPECT_EQ(config["db"], "3");
  EXPECT_EQ(config["data_structure"], "string");
  EXPECT_EQ(config["ttl"], "60");
  LoaderRegistry registry;
  RegisterRedisLoader(registry);
  ASSERT_NE(registry.FindByScheme("REDIS"), nullptr);
  EXPECT_EQ(registry.FindByScheme("redis")->name, "redis");
  auto bad = registry.Create("redis", {{"data_structure", "json"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sorted_set"), std::string::npos);
}

}  // namespace
}  // namespace amp::redis
