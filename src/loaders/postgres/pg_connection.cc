#include "loaders/postgres/pg_connection.h"

#include <poll.h>

#include <cerrno>

#include "loaders/postgres/pg_error.h"

namespace amp::postgres {

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const ConnectParams& params) {
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params.keywords) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  const std::string context = "connecting to " + params.target;

  PGconn* raw = PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (raw == nullptr) return Status::OutOfMemory(kErrorPrefix, "cannot allocate a connection");
  std::unique_ptr<PgConnection> conn(new PgConnection(raw));
  if (PQstatus(raw) == CONNECTION_BAD) {
    // Rejected before any I/O: the parameters themselves are wrong.
    return FatalError(Redact(std::string(kErrorPrefix) + "invalid connection parameters: " +
                                 PQerrorMessage(raw),
                             params.secrets),
                      "config");
  }
  // Verbose errors carry the server's SQLSTATE, which is how a failed startup tells
  // "wrong password" (fatal) from "too many connections" (retry).
  PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);

  const auto deadline = std::chrono::steady_clock::now() + params.connect_timeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      if (PQconnectionNeedsPassword(raw)) {
        // The server wants a password and none was configured: no SQLSTATE, but fatal.
        return FatalError(Redact(std::string(kErrorPrefix) + context +
                                     ": the server requires a password and none is "
                                     "configured (option password, the URI or PGPASSWORD)",
                                 params.secrets),
                          "no-password");
      }
      return ConnectError(PQerrorMessage(raw), context, params.secrets);
    }
    pollfd pfd{};
    pfd.fd = PQsocket(raw);
    pfd.events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    int timeout_ms = -1;
    if (params.connect_timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return WithErrorInfo(
            Status::IOError(kErrorPrefix, context, ": timed out after ",
                            params.connect_timeout.count(), " ms"),
            ErrorClass::kRetryCall, kErrorSource, "connect-timeout");
      }
      timeout_ms = static_cast<int>(left.count());
    }
    if (pfd.fd < 0) return ConnectError(PQerrorMessage(raw), context, params.secrets);
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
      return WithErrorInfo(Status::IOError(kErrorPrefix, context, ": poll failed"),
                           ErrorClass::kRetryCall, kErrorSource, "connect");
    }
    if (rc == 0) continue;  // the deadline check above reports the timeout
    state = PQconnectPoll(raw);
  }
  PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
  // Server notices ("relation already exists, skipping") would go to stderr: drop them.
  PQsetNoticeProcessor(raw, [](void*, const char*) {}, nullptr);
  return conn;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::Exec(const std::string& sql, std::string_view context) {
  PgResult res(PQexec(conn_, sql.c_str()));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::OK();
  return ResultError(res.get(), conn_, context);
}

Result<PgResult> PgConnection::Query(const std::string& sql,
                                     const std::vector<std::optional<std::string>>& params,
                                     std::string_view context) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PgResult res(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                            /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                            /*paramFormats=*/nullptr, /*resultFormat=*/0));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  return ResultError(res.get(), conn_, context);
}

Status PgConnection::CopyIn(
    const std::string& copy_sql, std::string_view context,
    const std::function<Status(const std::function<Status(std::string_view)>&)>& produce) {
  AMP_RETURN_NOT_OK(StartCopy(copy_sql, std::string(context)));
  auto put = [&](std::string_view chunk) { return PutCopyData(chunk); };
  Status produced = produce(put);
  if (!produced.ok() && !copy_send_failed_) {
    // Abort the COPY so the server discards the partial data; its error is expected.
    AbortCopy("aborted by the client: encoding failed");
    return produced;
  }
  return EndCopy();
}

Status PgConnection::StartCopy(const std::string& copy_sql, std::string context) {
  if (in_copy_) {
    return Status::Invalid(kErrorPrefix, "StartCopy while a COPY is open (", copy_context_,
                           ")");
  }
  PgResult res(PQexec(conn_, copy_sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_IN) {
    return ResultError(res.get(), conn_, context);
  }
  in_copy_ = true;
  copy_send_failed_ = false;
  copy_context_ = std::move(context);
  return Status::OK();
}

Status PgConnection::PutCopyData(std::string_view data) {
  if (copy_send_failed_) return Status::IOError("send failed");
  if (data.empty()) return Status::OK();
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    // The server's reason (if any) arrives with the final result (EndCopy).
    copy_send_failed_ = true;
    return Status::IOError("send failed");
  }
  return Status::OK();
}

Status PgConnection::FlushCopy() {
  if (copy_send_failed_) return Status::IOError("send failed");
  if (PQflush(conn_) != 0) {
    copy_send_failed_ = true;
    return Status::IOError("send failed");
  }
  return Status::OK();
}

Status PgConnection::EndCopy() {
  if (!in_copy_) return Status::OK();
  if (!copy_send_failed_ && PQputCopyEnd(conn_, nullptr) != 1) copy_send_failed_ = true;
  return CopyResult();
}

void PgConnection::AbortCopy(const char* reason) {
  if (!in_copy_) return;
  if (!copy_send_failed_) PQputCopyEnd(conn_, reason);
  in_copy_ = false;
  while (PgResult r{PQgetResult(conn_)}) {
    // Still in COPY IN (the end message could not be queued): libpq would answer the
    // same forever; the connection is unusable, and the pool drops it.
    if (PQresultStatus(r.get()) == PGRES_COPY_IN) break;
  }
}

Status PgConnection::CopyResult() {
  in_copy_ = false;
  // Collect the COPY's result (the server's error, if it rejected the data).
  Status result = Status::OK();
  bool have_result = false;
  while (PgResult r{PQgetResult(conn_)}) {
    if (PQresultStatus(r.get()) == PGRES_COPY_IN) {
      // The end of the COPY never left (a failed send): libpq would answer COPY IN
      // forever. Try once more to end it; give up on the connection otherwise.
      if (PQputCopyEnd(conn_, "aborted by the client: send failed") != 1) {
        copy_send_failed_ = true;
        break;
      }
      continue;
    }
    if (have_result) continue;
    have_result = true;
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      result = ResultError(r.get(), conn_, copy_context_);
    }
  }
  if (result.ok() && (copy_send_failed_ || !have_result)) {
    result = ResultError(nullptr, conn_, copy_context_);
  }
  return result;
}

ConnectionPool::ConnectionPool(ConnectParams params, int max_size,
                               std::chrono::milliseconds wait_timeout)
    : params_(std::move(params)), max_size_(max_size), wait_timeout_(wait_timeout) {}

ConnectionPool::~ConnectionPool() = default;

int ConnectionPool::max_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_size_;
}

int ConnectionPool::Grow(int size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (size > max_size_) {
    max_size_ = size;
    released_.notify_all();  // waiters may open a connection now
  }
  return max_size_;
}

Result<std::unique_ptr<PgConnection>> ConnectionPool::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [&] { return !idle_.empty() || open_ < max_size_; };
    if (!released_.wait_for(lock, wait_timeout_, ready)) {
      return WithErrorInfo(
          Status::IOError(kErrorPrefix, "all ", max_size_,
                          " connections (max_connections) are in use; waited ",
                          wait_timeout_.count(), " ms"),
          ErrorClass::kRetryCall, kErrorSource, "pool-exhausted");
    }
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (!conn->broken()) return conn;
      --open_;  // dropped: a fresh one replaces it below
    }
    ++open_;  // reserve the slot while connecting without the lock
  }
  auto conn = PgConnection::Connect(params_);
  if (!conn.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    released_.notify_one();
  }
  return conn;
}

void ConnectionPool::Release(std::unique_ptr<PgConnection> conn) {
  if (conn == nullptr) return;
  const bool broken = conn->broken();
  const bool reusable = !broken && conn->idle();
  if (!reusable) conn.reset();  // close outside the lock
  std::vector<std::unique_ptr<PgConnection>> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reusable) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
    if (broken) {
      // A dead connection usually means a server restart: its idle siblings are dead too
      // but would only notice on first use. Drop them so the next Acquire connects afresh.
      open_ -= static_cast<int>(idle_.size());
      stale.swap(idle_);
    }
  }
  released_.notify_all();
}

}  // namespace amp::postgres
