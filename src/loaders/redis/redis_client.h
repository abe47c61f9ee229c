// A small blocking Redis client over hiredis for the loader: connect (AUTH, SELECT,
// CLIENT SETNAME), single commands, and pipelines of pre-encoded RESP commands; plus the
// error classifier that decides what the stream engine does about a failure.
//
//   AMP_ASSIGN_OR_RETURN(auto conn, RedisConnection::Connect(options));
//   std::string buf;
//   AppendCommand(&buf, {"SET", "k", "v"});
//   conn->AppendRaw(buf);
//   AMP_ASSIGN_OR_RETURN(auto reply, conn->ReadReply("SET k"));
//
// Classification (ClassifyServerError), by the error's first word:
//   NOAUTH, WRONGPASS, NOPERM, WRONGTYPE, OOM, READONLY, MISCONF, ERR (syntax, unknown
//   command, ...), EXECABORT with such a cause               -> kFatal
//   LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, "ERR max number of clients"
//                                                            -> kRetryCall
//   NOSCRIPT                                                 -> kRetryCommit
// A refused or unreachable server at connect -> kRetryCall; a connection lost or timed
// out while talking -> kRetryCommit (the unit is replayed after the engine has read the
// checkpoint to learn whether the EXEC landed). Messages read
// "[redis] <what we did> (redis://host:port/db): <server message>" and never contain the
// password.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"

struct redisContext;
struct redisReply;

namespace amp::redis {

inline constexpr const char* kErrorSource = "redis";

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  std::string client_name = "ampsync";
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds socket_timeout{60000};
  /// "redis://[user@]host:port/db", for messages (never the password).
  std::string Target() const;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

ErrorClass ClassifyServerError(std::string_view message);

/// A kFatal Invalid with this loader's ErrorInfo.
Status FatalError(std::string message, std::string code = "fatal");

/// Replaces each non-empty secret in `text` with "****".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

// --- RESP encoding. ---

/// Appends one command (array of bulk strings).
void AppendCommand(std::string* out, std::initializer_list<std::string_view> args);
void AppendCommand(std::string* out, const std::vector<std::string>& args);
/// Incremental form: the array header, then exactly `n` arguments.
void AppendArrayHeader(std::string* out, size_t n);
void AppendBulk(std::string* out, std::string_view arg);

class RedisConnection {
 public:
  static Result<std::unique_ptr<RedisConnection>> Connect(const ConnectOptions& options);
  ~RedisConnection();

  const ConnectOptions& options() const { return options_; }
  /// The connection failed (I/O error, EOF, timeout): it must be replaced.
  bool broken() const;

  /// Sends one command and reads its reply; a server error reply is returned as a Status
  /// (classified) unless `allow_error`.
  Result<ReplyPtr> Command(std::initializer_list<std::string_view> args, std::string_view context,
                           bool allow_error = false);
  Result<ReplyPtr> Command(const std::vector<std::string>& args, std::string_view context,
                           bool allow_error = false);

  /// Queues pre-encoded commands (sent by the next ReadReply or Flush).
  Status AppendRaw(std::string_view resp);
  /// Writes everything queued.
  Status Flush(std::string_view context);
  /// Reads the next reply (error replies are returned as replies, not as Status).
  Result<ReplyPtr> ReadReply(std::string_view context);

  /// The Status of an error reply, classified, naming the destination.
  Status ServerError(std::string_view message, std::string_view context) const;
  /// The Status of a failed I/O on this connection (marks it broken).
  Status IoError(std::string_view context);

 private:
  explicit RedisConnection(ConnectOptions options) : options_(std::move(options)) {}
  Result<ReplyPtr> Roundtrip(std::string_view resp, std::string_view context, bool allow_error);
  ConnectOptions options_;
  redisContext* ctx_ = nullptr;
  bool broken_ = false;
};

/// A reply's string payload (string, status or error replies).
std::string_view ReplyText(const redisReply& reply);
bool IsError(const redisReply& reply);
bool IsNil(const redisReply& reply);
/// The field -> value pairs of an HGETALL-shaped reply (empty for any other reply).
std::map<std::string, std::string> ReplyToMap(const redisReply& reply);

}  // namespace amp::redis
