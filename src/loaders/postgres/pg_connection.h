// libpq connections for the postgres loader: an RAII connection with Status-returning
// helpers (plain and parameterised statements, COPY FROM STDIN), and a bounded pool that
// hands one connection to each session and replaces broken ones.
//
//   ConnectionPool pool(params, /*max_size=*/8, std::chrono::seconds(60));
//   AMP_ASSIGN_OR_RETURN(auto conn, pool.Acquire());
//   AMP_RETURN_NOT_OK(conn->Exec("BEGIN", "BEGIN"));
//   ...
//   pool.Release(std::move(conn));   // broken or mid-transaction: closed, not reused
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include "amp/status.h"

namespace amp::postgres {

struct PGresultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
/// An owned PGresult.
using PgResult = std::unique_ptr<PGresult, PGresultDeleter>;

/// What a connection needs: libpq keyword/value pairs (the first may be a
/// "dbname" holding a URI or conninfo string, expanded by libpq; later pairs override
/// its parts), the overall connect timeout, and the secrets to redact from messages.
struct ConnectParams {
  std::vector<std::pair<std::string, std::string>> keywords;
  std::chrono::milliseconds connect_timeout{10000};  ///< 0: no limit
  std::vector<std::string> secrets;
  /// Human-readable target without secrets, e.g. "127.0.0.1:5432/amp" (for messages).
  std::string target;
};

/// \brief One libpq connection (blocking mode).
///
/// Not thread-safe: used by one thread at a time. Every error is a classified Status
/// (pg_error.h) whose message starts with "[postgres] " and names `context`.
class PgConnection {
 public:
  /// Connects (non-blocking handshake bounded by params.connect_timeout). Errors:
  /// kFatal for bad parameters, authentication and unknown databases; kRetryCall when the
  /// server is unreachable, starting up, shutting down or out of connection slots.
  static Result<std::unique_ptr<PgConnection>> Connect(const ConnectParams& params);

  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PGconn* get() const { return conn_; }
  /// The socket is gone (server restart, terminated backend, network failure).
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  /// No transaction open and no command in progress.
  bool idle() const { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  int backend_pid() const { return PQbackendPID(conn_); }

  /// Runs one or more statements without parameters.
  Status Exec(const std::string& sql, std::string_view context);
  /// Runs one parameterised statement (text-format parameters; nullopt = NULL) and
  /// returns its result (PGRES_COMMAND_OK or PGRES_TUPLES_OK).
  Result<PgResult> Query(const std::string& sql,
                         const std::vector<std::optional<std::string>>& params,
                         std::string_view context);
  /// Runs `copy_sql` (a COPY ... FROM STDIN), then `produce`, which sends the data
  /// through the `put` callback it receives, then ends the COPY. A `produce` error
  /// aborts the COPY (the server discards what it got) and is returned as is.
  Status CopyIn(const std::string& copy_sql, std::string_view context,
                const std::function<Status(const std::function<Status(std::string_view)>&)>&
                    produce);

  /// A COPY FROM STDIN that stays open across calls, so that one statement can take the
  /// rows of many batches (the server never waits for a statement round trip between
  /// them):  StartCopy -> PutCopyData... -> FlushCopy -> ... -> EndCopy (or AbortCopy).
  /// While it is open no other statement can run on this connection.
  ///
  /// StartCopy runs `copy_sql` and expects the server to enter COPY IN; `context` names
  /// the COPY in later errors. PutCopyData queues `data` and sends what the socket takes
  /// (blocking when the server is behind); it fails only when the connection does, and
  /// then the COPY must still be ended (EndCopy reports the server's reason). A value the
  /// server rejects surfaces at EndCopy, whose result is the COPY's. FlushCopy blocks
  /// until everything queued is on the socket. AbortCopy ends the COPY with an error the
  /// client chose (`reason`): the server discards all of it and the transaction fails.
  Status StartCopy(const std::string& copy_sql, std::string context);
  Status PutCopyData(std::string_view data);
  Status FlushCopy();
  Status EndCopy();
  void AbortCopy(const char* reason);
  bool in_copy() const { return in_copy_; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  // Collects the results of the finished COPY: OK, the server's error, or (nothing from
  // the server after a failed send) the connection's.
  Status CopyResult();

  PGconn* conn_;
  bool in_copy_ = false;
  bool copy_send_failed_ = false;
  std::string copy_context_;
};

/// \brief At most `max_size` connections, shared by a loader's sessions and its DDL.
///
/// Acquire() returns an idle connection, opens a new one while fewer than `max_size`
/// exist, or waits up to `wait_timeout` for a Release() (then fails with kRetryCall).
/// Release() keeps a healthy idle connection for reuse and closes any other (broken, or
/// left inside a transaction); releasing a broken one also closes the idle ones, which a
/// server restart has killed as well. Thread-safe. Connections are opened lazily.
class ConnectionPool {
 public:
  ConnectionPool(ConnectParams params, int max_size, std::chrono::milliseconds wait_timeout);
  ~ConnectionPool();

  Result<std::unique_ptr<PgConnection>> Acquire();
  void Release(std::unique_ptr<PgConnection> conn);

  const ConnectParams& params() const { return params_; }
  int max_size() const;
  /// Raises the size to `size` (never lowers it): a parallel load holding one connection
  /// per worker. Returns the size now.
  int Grow(int size);

 private:
  const ConnectParams params_;
  int max_size_;  // guarded by mu_
  const std::chrono::milliseconds wait_timeout_;

  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  int open_ = 0;  // connections handed out or idle, plus ones being opened; guarded by mu_
};

}  // namespace amp::postgres
