// The loader conformance suite (loader_conformance.h) for the "redis" loader, against the
// throwaway server of redis_test_server.h (or AMP_TEST_REDIS_URI), once per data structure
// that keeps every row (hash, string, stream, list). Each test writes under a key prefix of
// its own; a commit is made to fail by killing the session's connection (CLIENT KILL ID,
// found by the test's unique client name) between the unit's last Append and its Commit.
#include <arrow/api.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>

#include "conformance/loader_conformance.h"
#include "loaders/redis/redis_loader.h"
#include "loaders/redis/redis_test_server.h"

namespace amp::conformance {
namespace {

using redis::testing::RedisTestServer;

static RedisTestServer* const kServer = RedisTestServer::Register();

class RedisQuirks : public LoaderQuirks {
 public:
  explicit RedisQuirks(std::string structure) : structure_(std::move(structure)) {}
  ~RedisQuirks() override {
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  Status SetUp(const std::string& test_name) override {
    if (kServer->uri().empty()) {
      return Status::IOError("no Redis server for the tests (see the set-up failure above)");
    }
    static std::atomic<int> counter{0};
    const int n = counter.fetch_add(1);
    prefix_ = "conf:" + structure_ + ":" + test_name + ":" + std::to_string(getpid()) + ":" +
              std::to_string(n) + ":";
    client_name_ = "ampconf-" + std::to_string(getpid()) + "-" + std::to_string(n);
    ctx_ = redisConnect(kServer->host().c_str(), kServer->port());
    if (ctx_ == nullptr || ctx_->err != 0) {
      return Status::IOError("cannot connect to ", kServer->uri());
    }
    return Status::OK();
  }

  // Deletes the test's keys (test code: a SCAN is fine here, the loader never scans).
  Status TearDown() override {
    if (ctx_ == nullptr) return Status::OK();
    std::string cursor = "0";
    do {
      auto* r = static_cast<redisReply*>(redisCommand(ctx_, "SCAN %s MATCH %b* COUNT 1000",
                                                      cursor.c_str(), prefix_.data(), prefix_.size()));
      if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        if (r) freeReplyObject(r);
        return Status::IOError("SCAN failed");
      }
      cursor.assign(r->element[0]->str, r->element[0]->len);
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        auto* d = static_cast<redisReply*>(redisCommand(ctx_, "DEL %b", r->element[1]->element[i]->str,
                                                        r->element[1]->element[i]->len));
        if (d) freeReplyObject(d);
      }
      freeReplyObject(r);
    } while (cursor != "0");
    return Status::OK();
  }

  Result<std::unique_ptr<Loader>> MakeLoader() override {
    LoaderRegistry registry;
    RegisterRedisLoader(registry);
    return registry.Create("redis", {{"host", kServer->host()},
                                     {"port", std::to_string(kServer->port())},
                                     {"prefix", prefix_},
                                     {"data_structure", structure_},
                                     {"client_name", client_name_}});
  }

  Status DropTable(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto loader, MakeLoader());
    return loader->DropTable(table);
  }

  // Kills every connection named after this test (the open session's included); the
  // Commit that follows meets a closed connection and has sent nothing.
  std::optional<Status> FailNextCommit(Loader& loader) override {
    (void)loader;
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "CLIENT LIST"));
    if (r == nullptr || r->type != REDIS_REPLY_STRING) {
      if (r) freeReplyObject(r);
      return Status::IOError("CLIENT LIST failed");
    }
    std::istringstream lines(std::string(r->str, r->len));
    freeReplyObject(r);
    int killed = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.find(" name=" + client_name_ + " ") == std::string::npos) continue;
      const size_t id = line.find("id=");
      const std::string value = line.substr(id + 3, line.find(' ', id) - id - 3);
      auto* k = static_cast<redisReply*>(redisCommand(ctx_, "CLIENT KILL ID %s", value.c_str()));
      if (k != nullptr && k->type == REDIS_REPLY_INTEGER) killed += static_cast<int>(k->integer);
      if (k) freeReplyObject(k);
    }
    if (killed < 1) return Status::Invalid("no connection named ", client_name_, " to kill");
    return Status::OK();
  }

 private:
  std::string structure_;
  std::string prefix_;
  std::string client_name_;
  redisContext* ctx_ = nullptr;
};

class RedisHashConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<RedisQuirks>("hash"); }
};
class RedisStringConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<RedisQuirks>("string"); }
};
class RedisStreamConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<RedisQuirks>("stream"); }
};
class RedisListConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<RedisQuirks>("list"); }
};

AMP_LOADER_CONFORMANCE_TESTS(RedisHashConformanceTest)
AMP_LOADER_CONFORMANCE_TESTS(RedisStringConformanceTest)
AMP_LOADER_CONFORMANCE_TESTS(RedisStreamConformanceTest)
AMP_LOADER_CONFORMANCE_TESTS(RedisListConformanceTest)

}  // namespace
}  // namespace amp::conformance
