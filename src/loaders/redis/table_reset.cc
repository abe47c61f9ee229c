#include "loaders/redis/table_reset.h"

#include <hiredis/hiredis.h>

#include <set>
#include <vector>

#include "loaders/redis/block_index.h"

namespace amp::redis {
namespace {

// One MULTI/EXEC: forgets the checkpoints `sids`; with `emptied`, also what said `table`
// held rows (its multi-block index and its `rows` flag, when it has a description).
Status ForgetStreams(const SharedState& shared, RedisConnection& conn, const std::string& table,
                     const std::vector<std::string>& sids, bool emptied, bool has_meta,
                     const std::string& context) {
  std::string buf;
  size_t count = 0;
  AppendCommand(&buf, {"MULTI"});
  for (const std::string& sid : sids) {
    AppendCommand(&buf, {"DEL", shared.keys.State(sid), shared.keys.StateTables(sid)});
    AppendCommand(&buf, {"ZREM", shared.keys.Streams(), sid});
    AppendCommand(&buf, {"SREM", shared.keys.TableStreams(table), sid});
    count += 3;
  }
  if (emptied) {
    AppendCommand(&buf, {"DEL", shared.keys.IndexStarts(table)});
    ++count;
    if (has_meta) {
      AppendCommand(&buf, {"HSET", shared.keys.Description(table), "rows", "0"});
      ++count;
    }
  }
  AppendCommand(&buf, {"EXEC"});
  count += 2;
  AMP_RETURN_NOT_OK(conn.AppendRaw(buf));
  for (size_t i = 0; i < count; ++i) {
    AMP_ASSIGN_OR_RETURN(auto r, conn.ReadReply(context));
    if (IsError(*r)) return conn.ServerError(ReplyText(*r), context);
    if (i + 1 == count && r->type == REDIS_REPLY_ARRAY) {
      for (size_t k = 0; k < r->elements; ++k) {
        if (IsError(*r->element[k])) return conn.ServerError(ReplyText(*r->element[k]), context);
      }
    }
  }
  return Status::OK();
}

}  // namespace

Status TruncateTable(SharedState& shared, RedisConnection& conn, const std::string& table) {
  const std::string context = "truncate table '" + table + "'";
  AMP_ASSIGN_OR_RETURN(bool has_meta, DeleteIndexedRows(shared, conn, table, context));
  AMP_ASSIGN_OR_RETURN(auto sids, conn.Command({"SMEMBERS", shared.keys.TableStreams(table)}, context));
  std::vector<std::string> ids;
  for (size_t i = 0; i < sids->elements; ++i) ids.emplace_back(ReplyText(*sids->element[i]));
  AMP_RETURN_NOT_OK(ForgetStreams(shared, conn, table, ids, true, has_meta, context));
  return conn.Command({"DEL", shared.keys.TableStreams(table)}, context).status();
}

Status DropTable(SharedState& shared, RedisConnection& conn, const std::string& table) {
  AMP_RETURN_NOT_OK(TruncateTable(shared, conn, table));
  const std::string context = "drop table '" + table + "'";
  AMP_RETURN_NOT_OK(conn.Command({"DEL", shared.keys.Description(table), shared.keys.Index(table),
                                  shared.keys.IndexStarts(table), shared.keys.Seq(table)},
                                 context)
                        .status());
  AMP_RETURN_NOT_OK(conn.Command({"SREM", shared.keys.Tables(), table}, context).status());
  shared.Forget(table);
  return Status::OK();
}

Result<int64_t> ResetTableProgress(SharedState& shared, RedisConnection& conn, const std::string& table,
                                   const std::string& job_id, bool truncate) {
  const std::string context = "reset the progress into table '" + table + "'";
  // Which checkpoints go: the job's own ("<job>", "<job>/..."); every one that wrote the
  // table when no job is named or when its rows are deleted; and those jobs' plans (a
  // plan commit touches no table, only its id ties it to the job).
  AMP_ASSIGN_OR_RETURN(auto all, conn.Command({"ZRANGE", shared.keys.Streams(), "0", "-1"}, context));
  AMP_ASSIGN_OR_RETURN(auto of_table, conn.Command({"SMEMBERS", shared.keys.TableStreams(table)}, context));
  std::set<std::string> wrote;
  for (size_t i = 0; i < of_table->elements; ++i) wrote.emplace(ReplyText(*of_table->element[i]));
  std::set<std::string> gone;
  for (size_t i = 0; i < all->elements; ++i) {
    const std::string sid(ReplyText(*all->element[i]));
    const bool of_job = !job_id.empty() && (sid == job_id || sid.rfind(job_id + "/", 0) == 0);
    AMP_ASSIGN_OR_RETURN(auto written, conn.Command({"HEXISTS", shared.keys.StateTables(sid), table}, context));
    const bool of_this_table = wrote.count(sid) > 0 || written->integer > 0;
    if (of_job || ((job_id.empty() || truncate) && of_this_table)) gone.insert(sid);
  }
  std::set<std::string> plans;
  for (const auto& sid : gone) plans.insert(sid.substr(0, sid.find('/')) + "/plan");
  for (size_t i = 0; i < all->elements; ++i) {
    const std::string sid(ReplyText(*all->element[i]));
    if (plans.count(sid)) gone.insert(sid);
  }
  bool has_meta = false;
  if (truncate) {
    AMP_ASSIGN_OR_RETURN(has_meta, DeleteIndexedRows(shared, conn, table, context));
  }
  std::vector<std::string> ids(gone.begin(), gone.end());
  AMP_RETURN_NOT_OK(ForgetStreams(shared, conn, table, ids, truncate, has_meta, context));
  return static_cast<int64_t>(ids.size());
}

}  // namespace amp::redis
