#include "loaders/redis/redis_session.h"

#include <arrow/api.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "loaders/common/unit_session.h"
#include "loaders/redis/block_index.h"
#include "loaders/redis/key_type_check.h"
#include "loaders/redis/stored_checkpoints.h"
#include "loaders/redis/row_writers.h"
#include "loaders/redis/unit_body.h"

namespace amp::redis {
namespace {

// Pre-encoded parts of the transaction and how many commands each holds.
using Pieces = std::vector<std::pair<std::string_view, size_t>>;

class RedisSession final : public loaders::UnitSession {
 public:
  RedisSession(std::shared_ptr<SharedState> shared, std::unique_ptr<RedisConnection> conn)
      : UnitSession("redis"),
        shared_(std::move(shared)),
        conn_(std::move(conn)),
        body_(static_cast<size_t>(shared_->settings.pipeline)) {
    body_.set_on_window([this] {
      // An I/O error surfaces at the next call (the connection is then broken).
      if (streaming_) (void)SendBody();
    });
  }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override;
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override;

 protected:
  Status BeginImpl() override {
    AMP_RETURN_NOT_OK(EnsureConnection());
    Reset();
    return Status::OK();
  }

  Status UndoImpl(const std::string& table, const BlockInterval& blocks) override {
    AMP_ASSIGN_OR_RETURN(auto info, Lookup(table));
    AMP_RETURN_NOT_OK(TouchTable(*info));
    if (blocks.start > blocks.end) return Status::OK();
    AddUndo(body_, shared_->Shas().undo, *info, blocks);
    return Status::OK();
  }

  Status AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                    const BlockRange& microbatch) override;

  // A failed commit leaves the unit for AbortImpl, which drops a connection whose MULTI
  // may still be open.
  Status CommitImpl(const StreamCheckpoint* checkpoint) override {
    AMP_RETURN_NOT_OK(CommitUnit(checkpoint));
    Reset();
    return Status::OK();
  }

  void AbortImpl() override {
    // Buffered: nothing was sent. Streaming: the server drops the open MULTI with the
    // connection (cheaper and surer than DISCARD after an error of unknown state).
    if (multi_sent_) conn_.reset();
    Reset();
  }

 private:

  Result<std::shared_ptr<const TableInfo>> Lookup(const std::string& table) {
    auto info = shared_->Find(table);
    if (info == nullptr) {
      return FatalError("[redis] table '" + table + "' is unknown to this loader: call "
                        "EnsureTable() first",
                        "usage");
    }
    return info;
  }

  void Reset() {
    streaming_ = false;
    multi_sent_ = false;
    in_flight_ = 0;
    sent_commands_ = 0;
    queue_error_.clear();
    body_.Clear();
    tables_.clear();
    rows_tables_.clear();
  }

  Status EnsureConnection() {
    if (conn_ != nullptr && !conn_->broken()) return Status::OK();
    conn_.reset();
    AMP_ASSIGN_OR_RETURN(conn_, Connect(*shared_));
    return Status::OK();
  }

  // A connection for commands that must not join the unit's transaction (row id
  // reservations, checkpoint reads): the session's own unless a MULTI is open on it.
  Result<RedisConnection*> OutsideConnection() {
    if (!multi_sent_) {
      AMP_RETURN_NOT_OK(EnsureConnection());
      return conn_.get();
    }
    if (side_ == nullptr || side_->broken()) {
      side_.reset();
      AMP_ASSIGN_OR_RETURN(side_, Connect(*shared_));
    }
    return side_.get();
  }

  // One command outside the transaction; a connection found dead (killed, server
  // restarted) is replaced and the command sent once more (all such commands are
  // idempotent or, for INCRBY, harmless to repeat).
  Result<ReplyPtr> OutsideCommand(const std::vector<std::string>& args, const std::string& context) {
    for (int attempt = 0;; ++attempt) {
      AMP_ASSIGN_OR_RETURN(RedisConnection * conn, OutsideConnection());
      auto reply = conn->Command(args, context);
      if (reply.ok() || !conn->broken() || attempt > 0) return reply;
    }
  }

  // Unique ids for {_amp_seq} (and list members), reserved outside the transaction: a
  // counter that only grows, so an aborted unit leaves a harmless gap. Returns the first.
  Result<uint64_t> ReserveRowIds(const TableInfo& info, int64_t n) {
    AMP_ASSIGN_OR_RETURN(auto reply, OutsideCommand({"INCRBY", info.seq, std::to_string(n)},
                                                    "reserve row ids for table '" + info.spec.name + "'"));
    if (reply->type != REDIS_REPLY_INTEGER) {
      return FatalError("[redis] INCRBY " + info.seq + " did not return an integer", "protocol");
    }
    return static_cast<uint64_t>(reply->integer - n + 1);
  }

  // The first error a queued command got (OOM, ...): the EXEC would abort, so stop early.
  Status QueueStatus() {
    if (multi_sent_ && (conn_ == nullptr || conn_->broken())) {
      return WithErrorInfo(Status::IOError("[redis] queue the unit for ", JoinTables(), " (",
                                           shared_->Target(), "): the connection was lost"),
                           ErrorClass::kRetryCommit, kErrorSource, "io");
    }
    if (queue_error_.empty()) return Status::OK();
    return conn_->ServerError(queue_error_, "queue the unit for " + JoinTables());
  }

  // The first table of the unit decides whether it is streamed: StartStreaming checks
  // every known table's loader keys, so a second table needs nothing more (its row keys
  // are fresh too, or its unit is buffered: see KnownUpFront).
  Status TouchTable(const TableInfo& info) {
    if (!tables_.insert(info.spec.name).second) return Status::OK();
    if (tables_.size() == 1 && body_.commands() == 0 && KnownUpFront(info.structure, info.pattern)) {
      streaming_ = true;
      return StartStreaming();
    }
    if (!streaming_) {
      body_.ExpectType("zset", info.idx);
      body_.ExpectType("zset", info.idxs);
    }
    return Status::OK();
  }

  // Streaming unit: type checks of every loader-owned key of the known tables (and the
  // collection keys), then MULTI; from here on commands are sent as they are made.
  Status StartStreaming() {
    UnitBody::TypeChecks checks;
    checks["zset"].push_back(shared_->keys.Streams());
    for (const auto& info : shared_->Tables()) {
      checks["zset"].push_back(info->idx);
      checks["zset"].push_back(info->idxs);
      checks["set"].push_back(info->streams_of_table);
      if (!KeyPerRow(info->structure) && KnownUpFront(info->structure, info->pattern)) {
        checks[RedisType(info->structure)].push_back(
            ConstantKey(shared_->keys, info->pattern, info->spec.name));
      }
    }
    AMP_RETURN_NOT_OK(CheckKeyTypes(*shared_, *conn_, checks));
    std::string multi;
    AppendCommand(&multi, {"MULTI"});
    AMP_RETURN_NOT_OK(conn_->AppendRaw(multi));
    multi_sent_ = true;
    ++in_flight_;
    return Status::OK();
  }

  // Sends what the body holds and reads replies beyond the pipeline depth.
  Status SendBody() {
    if (body_.text().empty()) return Status::OK();
    AMP_RETURN_NOT_OK(conn_->AppendRaw(body_.text()));
    in_flight_ += body_.commands() - sent_commands_;
    sent_commands_ = body_.commands();
    body_.Sent();
    const size_t depth = static_cast<size_t>(shared_->settings.pipeline);
    if (in_flight_ <= depth) return Status::OK();
    const std::string context = "queue the unit for " + JoinTables();
    while (in_flight_ > depth) {
      AMP_ASSIGN_OR_RETURN(auto reply, conn_->ReadReply(context));
      --in_flight_;
      if (IsError(*reply) && queue_error_.empty()) queue_error_ = std::string(ReplyText(*reply));
    }
    return Status::OK();
  }

  Result<size_t> AppendCommitTail(const StreamCheckpoint* checkpoint, std::string* tail,
                                  UnitBody::TypeChecks* tail_checks);
  Pieces BufferedPieces(const std::string& multi);
  Status SendTransaction(const Pieces& pieces);
  Status CommitUnit(const StreamCheckpoint* checkpoint);
  Status OnTransactionReply(const redisReply& r, bool is_exec);

  std::string JoinTables() const {
    std::string out;
    for (const auto& t : tables_) out += (out.empty() ? "table '" : ", '") + t + "'";
    return out.empty() ? "checkpoint" : out;
  }

  std::shared_ptr<SharedState> shared_;
  std::unique_ptr<RedisConnection> conn_;
  std::unique_ptr<RedisConnection> side_;  // outside the transaction (see OutsideConnection)
  bool streaming_ = false;     // the unit goes out as it is built
  bool multi_sent_ = false;    // MULTI is open on conn_
  size_t in_flight_ = 0;       // replies not read yet
  size_t sent_commands_ = 0;   // body commands already sent
  std::string queue_error_;    // first error reply to a queued command
  bool pieces_done_ = false;   // SendTransaction: EXEC has been queued for sending
  UnitBody body_;
  std::set<std::string> tables_;
  std::set<std::string> rows_tables_;  // tables this unit added rows to
};

Status RedisSession::AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                                const BlockRange& microbatch) {
  AMP_ASSIGN_OR_RETURN(auto info, Lookup(table));
  AMP_RETURN_NOT_OK(TouchTable(*info));
  AMP_RETURN_NOT_OK(QueueStatus());
  const int64_t n = batch.num_rows();
  if (n == 0) return Status::OK();
  rows_tables_.insert(table);
  AMP_ASSIGN_OR_RETURN(const auto columns, ColumnsInTableOrder(*info, batch));
  const arrow::Array* block_column = nullptr;
  if (!info->spec.block_column.empty()) {
    block_column = columns[static_cast<size_t>(info->spec.schema->GetFieldIndex(info->spec.block_column))];
    if (block_column == nullptr) {
      return FatalError("[redis] append to table '" + table + "': the batch lacks the block "
                        "column '" + info->spec.block_column + "'",
                        "schema");
    }
  }
  const bool seq_keys = info->pattern.Uses(KeyPattern::Source::kSeq);
  uint64_t seq_base = 0;
  if (seq_keys || info->structure == Structure::kList) {
    AMP_ASSIGN_OR_RETURN(seq_base, ReserveRowIds(*info, n));
  }
  const WriterContext context{
      .info = *info,
      .columns = columns,
      .ttl = shared_->settings.ttl,
      .may_exist = info->spec.mode == LoadMode::kUpsert || !shared_->settings.key_pattern.empty(),
      .check_row_keys = !seq_keys,
      .xadd_sha = info->structure == Structure::kStream ? shared_->Shas().xadd : std::string()};
  auto writer = MakeRowWriter(context);
  std::string key, start_text, end_text;
  for (int64_t row = 0; row < n; ++row) {
    uint64_t start = microbatch.start, end = microbatch.end;
    if (block_column != nullptr) {
      AMP_ASSIGN_OR_RETURN(start, BlockAt(*block_column, row, info->spec.block_column));
      end = start;
    }
    start_text = std::to_string(start);
    end_text = std::to_string(end);
    const uint64_t seq = seq_base + static_cast<uint64_t>(row);
    key = shared_->keys.prefix();
    AppendRowKey(info->pattern, {table, start_text, end_text, seq, columns, row}, &key);
    writer->Write({row, start, end, start_text, end_text, seq}, key, body_);
  }
  return QueueStatus();
}

Result<std::optional<StreamCheckpoint>> RedisSession::LoadCheckpoint(const std::string& stream_id) {
  AMP_ASSIGN_OR_RETURN(auto reply, OutsideCommand({"GET", shared_->keys.State(stream_id)},
                                                  "load checkpoint of stream " + stream_id));
  if (IsNil(*reply)) return std::nullopt;
  AMP_ASSIGN_OR_RETURN(auto cp, ParseStoredCheckpoint(stream_id, ReplyText(*reply)));
  if (!unit_open()) {
    AMP_RETURN_NOT_OK(CheckProgress(*shared_, {stream_id}, [this](const std::vector<std::string>& args, const std::string& context) {
      return OutsideCommand(args, context);
    }));
  }
  return std::optional<StreamCheckpoint>(std::move(cp));
}

Result<std::vector<StreamCheckpoint>> RedisSession::LoadCheckpoints(const std::string& prefix) {
  std::vector<StreamCheckpoint> out;
  AMP_ASSIGN_OR_RETURN(auto ids, OutsideCommand({"ZRANGEBYLEX", shared_->keys.Streams(), "[" + prefix, "+"},
                                                "list the checkpoints of streams " + prefix + "*"));
  std::vector<std::string> keys = {"MGET"};
  std::vector<std::string> names;
  for (size_t i = 0; i < ids->elements; ++i) {
    std::string id(ReplyText(*ids->element[i]));
    if (id.compare(0, prefix.size(), prefix) != 0) break;  // sorted: past the prefix
    keys.push_back(shared_->keys.State(id));
    names.push_back(std::move(id));
  }
  if (names.empty()) return out;
  AMP_ASSIGN_OR_RETURN(auto values, OutsideCommand(keys, "load checkpoints of streams " + prefix + "*"));
  for (size_t i = 0; i < values->elements && i < names.size(); ++i) {
    if (IsNil(*values->element[i])) continue;
    AMP_ASSIGN_OR_RETURN(auto cp, ParseStoredCheckpoint(names[i], ReplyText(*values->element[i])));
    out.push_back(std::move(cp));
  }
  if (!unit_open()) {
    AMP_RETURN_NOT_OK(CheckProgress(*shared_, names, [this](const std::vector<std::string>& args, const std::string& context) {
      return OutsideCommand(args, context);
    }));
  }
  return out;
}

// The checkpoint and its bookkeeping (which tables, by id, it wrote; which streams wrote
// each table), each table's `rows` flag and the collections' TTLs: the commands after the
// body. Returns how many commands that is.
Result<size_t> RedisSession::AppendCommitTail(const StreamCheckpoint* checkpoint, std::string* tail,
                                              UnitBody::TypeChecks* tail_checks) {
  const KeyLayout& keys = shared_->keys;
  size_t commands = 0;
  if (checkpoint != nullptr) {
    if (checkpoint->stream_id.empty()) {
      return FatalError("[redis] checkpoint without a stream_id", "usage");
    }
    const std::string& sid = checkpoint->stream_id;
    // SET replaces a value of any type: the state key needs no check.
    AppendCommand(tail, {"SET", keys.State(sid), checkpoint->ToJson()});
    AppendCommand(tail, {"ZADD", keys.Streams(), "0", sid});
    commands += 2;
    (*tail_checks)["zset"].push_back(keys.Streams());
    for (const auto& t : tables_) {
      AppendCommand(tail, {"SADD", keys.TableStreams(t), sid});
      ++commands;
      (*tail_checks)["set"].push_back(keys.TableStreams(t));
      // Which table (by id) this checkpoint describes: a recreated table has another id.
      if (auto info = shared_->Find(t); info != nullptr && !info->id.empty()) {
        AppendCommand(tail, {"HSET", keys.StateTables(sid), t, info->id});
        ++commands;
      }
    }
  }
  // Whether each touched table holds rows after this unit, so that a table emptied
  // behind our back (its rows and index deleted) is noticed (CheckProgress).
  for (const auto& t : tables_) {
    auto info = shared_->Find(t);
    if (info == nullptr) continue;
    if (rows_tables_.count(t)) {
      AppendCommand(tail, {"HSET", info->meta, "rows", "1"});
    } else {
      AddRowsFlagFromIndex(tail, *info);
    }
    ++commands;
  }
  if (shared_->settings.ttl > 0 && !KeyPerRow(shared_->settings.structure)) {
    for (const auto& c : body_.containers()) {
      AppendCommand(tail, {"EXPIRE", c, std::to_string(shared_->settings.ttl)});
      ++commands;
    }
  }
  return commands;
}

// A buffered unit: MULTI, then the body in `pipeline`-sized windows.
Pieces RedisSession::BufferedPieces(const std::string& multi) {
  const size_t depth = static_cast<size_t>(shared_->settings.pipeline);
  const std::string_view text = body_.text();
  Pieces pieces;
  pieces.emplace_back(multi, 1);
  size_t from = 0;
  for (size_t cut : body_.cuts()) {
    pieces.emplace_back(text.substr(from, cut - from), depth);
    from = cut;
  }
  pieces.emplace_back(text.substr(from), body_.commands() - body_.cuts().size() * depth);
  return pieces;
}

// Sends the pieces, reading replies beyond the pipeline depth as it goes, then the rest;
// the last reply is EXEC's.
Status RedisSession::SendTransaction(const Pieces& pieces) {
  const size_t depth = static_cast<size_t>(shared_->settings.pipeline);
  Status result;
  bool exec_seen = false;
  const std::string commit_context = "commit to " + JoinTables();
  auto read_one = [&]() -> Status {
    AMP_ASSIGN_OR_RETURN(auto reply, conn_->ReadReply(commit_context));
    --in_flight_;
    const bool is_exec = exec_seen = in_flight_ == 0 && pieces_done_;
    Status st = OnTransactionReply(*reply, is_exec);
    if (!st.ok() && result.ok()) result = st;
    return Status::OK();
  };
  pieces_done_ = false;
  Status io;
  for (size_t p = 0; p < pieces.size() && io.ok(); ++p) {
    io = conn_->AppendRaw(pieces[p].first);
    in_flight_ += pieces[p].second;
    if (p + 1 == pieces.size()) pieces_done_ = true;
    while (io.ok() && in_flight_ > (pieces_done_ ? 0 : depth)) io = read_one();
  }
  pieces_done_ = false;
  if (!io.ok() || !exec_seen) {
    // The outcome is unknown (the EXEC may or may not have run): drop the connection;
    // the engine reads the checkpoint to find out.
    conn_.reset();
    return io.ok() ? WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                                   "): no reply to EXEC"),
                                   ErrorClass::kRetryCommit, kErrorSource, "io")
                   : io;
  }
  return result;
}

Status RedisSession::CommitUnit(const StreamCheckpoint* checkpoint) {
  const auto t_commit = std::chrono::steady_clock::now();
  if (conn_ == nullptr || conn_->broken()) {
    return WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                         "): the connection was lost during the unit"),
                         ErrorClass::kRetryCommit, kErrorSource, "io");
  }
  std::string tail;
  UnitBody::TypeChecks tail_checks;
  AMP_ASSIGN_OR_RETURN(const size_t tail_commands, AppendCommitTail(checkpoint, &tail, &tail_checks));
  std::string multi, exec;
  AppendCommand(&multi, {"MULTI"});
  AppendCommand(&exec, {"EXEC"});
  Pieces pieces;
  if (!multi_sent_) {
    if (body_.commands() == 0 && tail_commands == 0) return Status::OK();
    // Buffered unit: check every key first, then send it all.
    for (auto& [type, keys] : tail_checks) {
      auto& all = body_.checks()[type];
      all.insert(all.end(), keys.begin(), keys.end());
    }
    AMP_RETURN_NOT_OK(CheckKeyTypes(*shared_, *conn_, body_.checks()));
    pieces = BufferedPieces(multi);
  } else {
    // Streaming unit: the checkpoint keys were checked before the MULTI (StartStreaming);
    // the rest of the body follows.
    AMP_RETURN_NOT_OK(QueueStatus());
    pieces.emplace_back(std::string_view(body_.text()), body_.commands() - sent_commands_);
  }
  const auto t_checked = std::chrono::steady_clock::now();
  pieces.emplace_back(tail, tail_commands);
  pieces.emplace_back(exec, 1);
  Status st = SendTransaction(pieces);
  if (std::getenv("AMP_REDIS_TRACE") != nullptr) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    const auto t_end = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[redis trace] commit %zu cmds (%s): before send %.1f ms, send..exec %.1f ms\n",
                 body_.commands(), multi_sent_ ? "streamed" : "buffered", ms(t_checked - t_commit),
                 ms(t_end - t_checked));
  }
  return st;
}

// Handles one reply of the transaction: queued replies (errors remembered), then EXEC's.
Status RedisSession::OnTransactionReply(const redisReply& r, bool is_exec) {
  if (!is_exec) {
    if (IsError(r) && queue_error_.empty()) queue_error_ = std::string(ReplyText(r));
    return Status::OK();
  }
  if (IsError(r)) {
    const std::string text(ReplyText(r));
    return conn_->ServerError(queue_error_.empty() ? text : queue_error_, "commit to " + JoinTables());
  }
  if (IsNil(r)) {
    return WithErrorInfo(Status::IOError("[redis] commit (", shared_->Target(),
                                         "): the transaction was aborted"),
                         ErrorClass::kRetryCommit, kErrorSource, "aborted");
  }
  for (size_t k = 0; r.type == REDIS_REPLY_ARRAY && k < r.elements; ++k) {
    if (IsError(*r.element[k])) {
      return conn_->ServerError(std::string(ReplyText(*r.element[k])) +
                                    " (inside EXEC: earlier commands of the unit were applied)",
                                "commit to " + JoinTables());
    }
  }
  return Status::OK();
}

}  // namespace

std::unique_ptr<LoaderSession> MakeRedisSession(std::shared_ptr<SharedState> shared,
                                                std::unique_ptr<RedisConnection> conn) {
  return std::make_unique<RedisSession>(std::move(shared), std::move(conn));
}

}  // namespace amp::redis
