#include "loaders/redis/shared_state.h"

#include "loaders/redis/block_index.h"
#include "loaders/redis/key_type_check.h"
#include "loaders/redis/row_writers.h"

namespace amp::redis {

std::shared_ptr<const TableInfo> SharedState::Find(const std::string& table) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(table);
  return it == tables_.end() ? nullptr : it->second;
}

void SharedState::Publish(std::shared_ptr<const TableInfo> info) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = info->spec.name;
  tables_[name] = std::move(info);
}

void SharedState::Forget(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.erase(table);
}

std::vector<std::shared_ptr<const TableInfo>> SharedState::Tables() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const TableInfo>> out;
  for (const auto& [name, info] : tables_) out.push_back(info);
  return out;
}

ScriptShas SharedState::Shas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shas_;
}

void SharedState::SetShas(ScriptShas shas) {
  std::lock_guard<std::mutex> lock(mu_);
  shas_ = std::move(shas);
}

size_t AppendScriptLoads(std::string* buf) {
  AppendCommand(buf, {"SCRIPT", "LOAD", UndoScript()});
  AppendCommand(buf, {"SCRIPT", "LOAD", XaddScript()});
  AppendCommand(buf, {"SCRIPT", "LOAD", TypeCheckScript()});
  return 3;
}

Result<std::unique_ptr<RedisConnection>> Connect(SharedState& shared) {
  AMP_ASSIGN_OR_RETURN(auto conn, RedisConnection::Connect(shared.settings.connect));
  std::string buf;
  const size_t n = AppendScriptLoads(&buf);
  AMP_RETURN_NOT_OK(conn->AppendRaw(buf));
  std::vector<std::string> shas;
  for (size_t i = 0; i < n; ++i) {
    AMP_ASSIGN_OR_RETURN(auto reply, conn->ReadReply("SCRIPT LOAD"));
    if (IsError(*reply)) return conn->ServerError(ReplyText(*reply), "SCRIPT LOAD");
    shas.emplace_back(ReplyText(*reply));
  }
  shared.SetShas({shas[0], shas[1], shas[2]});
  return conn;
}

}  // namespace amp::redis
