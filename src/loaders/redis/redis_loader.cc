#include "loaders/redis/redis_loader.h"

#include <hiredis/hiredis.h>

#include "loaders/redis/redis_options.h"
#include "loaders/redis/redis_reader.h"
#include "loaders/redis/redis_session.h"
#include "loaders/redis/shared_state.h"
#include "loaders/redis/table_description.h"
#include "loaders/redis/table_reset.h"

namespace amp {
namespace redis {
namespace {

constexpr const char* kLoaderName = "redis";

class RedisLoader final : public Loader {
 public:
  explicit RedisLoader(Settings settings) : shared_(std::make_shared<SharedState>(std::move(settings))) {
    capabilities_.atomic_commit = true;
    capabilities_.supports_undo = true;
    capabilities_.concurrent_sessions = true;
    // Upserts need a key per row: hash and string only.
    capabilities_.modes = {LoadMode::kAppend, LoadMode::kOverwrite};
    if (KeyPerRow(shared_->settings.structure)) capabilities_.modes.push_back(LoadMode::kUpsert);
  }

  std::string name() const override { return kLoaderName; }
  const LoaderCapabilities& capabilities() const override { return capabilities_; }

  Status EnsureTable(const TableSpec& spec) override {
    AMP_ASSIGN_OR_RETURN(auto info, TableFromSpec(*shared_, spec));
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    AMP_RETURN_NOT_OK(ReadOrCreateDescription(*shared_, *conn, *info));
    shared_->Publish(std::move(info));
    return Status::OK();
  }

  Status Truncate(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return TruncateTable(*shared_, *conn, table);
  }

  Result<bool> TableExists(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    AMP_ASSIGN_OR_RETURN(auto reply, conn->Command({"EXISTS", shared_->keys.Description(table)},
                                                   "look up table '" + table + "'"));
    return reply->integer > 0;
  }

  Status DropTable(const std::string& table) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return redis::DropTable(*shared_, *conn, table);
  }

  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return MakeRedisSession(shared_, std::move(conn));
  }

  Result<std::shared_ptr<arrow::Table>> ReadRows(const TableSpec& spec,
                                                 const BlockInterval& blocks) override {
    return ReadTableRows(*shared_, spec, blocks);
  }

  Result<int64_t> ResetProgress(const std::string& table, const std::string& job_id,
                                bool truncate) override {
    AMP_ASSIGN_OR_RETURN(auto conn, Connect(*shared_));
    return ResetTableProgress(*shared_, *conn, table, job_id, truncate);
  }

 private:
  std::shared_ptr<SharedState> shared_;
  LoaderCapabilities capabilities_;
};

}  // namespace

Result<std::unique_ptr<Loader>> MakeRedisLoader(const LoaderConfig& config) {
  AMP_ASSIGN_OR_RETURN(Settings settings, SettingsFromConfig(config));
  return std::unique_ptr<Loader>(new RedisLoader(std::move(settings)));
}

}  // namespace redis

void RegisterRedisLoader(LoaderRegistry& registry) {
  registry.Register({.name = redis::kLoaderName,
                     .description = "Redis via hiredis: hashes, JSON strings, streams, sets, sorted "
                                    "sets or lists; each commit is one MULTI/EXEC holding the undo, "
                                    "the rows and the checkpoint",
                     .options = redis::RedisOptions(),
                     .factory = redis::MakeRedisLoader,
                     .uri_schemes = {"redis"},
                     .from_uri = redis::ConfigFromUri});
}

}  // namespace amp
