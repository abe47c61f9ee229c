#include "loaders/redis/redis_client.h"

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <algorithm>
#include <cstring>

namespace amp::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string FirstWord(std::string_view message) {
  const size_t end = message.find(' ');
  return std::string(message.substr(0, end));
}

}  // namespace

std::string ConnectOptions::Target() const {
  return "redis://" + (user.empty() ? std::string() : user + "@") + host + ":" +
         std::to_string(port) + "/" + std::to_string(db);
}

void ReplyDeleter::operator()(redisReply* reply) const {
  if (reply != nullptr) freeReplyObject(reply);
}

ErrorClass ClassifyServerError(std::string_view message) {
  const std::string word = FirstWord(message);
  if (word == "LOADING" || word == "BUSY" || word == "MASTERDOWN" || word == "TRYAGAIN" ||
      word == "CLUSTERDOWN") {
    return ErrorClass::kRetryCall;
  }
  if (word == "NOSCRIPT") return ErrorClass::kRetryCommit;
  if (message.find("max number of clients") != std::string_view::npos) {
    return ErrorClass::kRetryCall;
  }
  return ErrorClass::kFatal;
}

Status FatalError(std::string message, std::string code) {
  return WithErrorInfo(Status::Invalid(std::move(message)), ErrorClass::kFatal, kErrorSource,
                       std::move(code));
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 4)) {
      text.replace(pos, secret.size(), "****");
    }
  }
  return text;
}

void AppendArrayHeader(std::string* out, size_t n) {
  out->push_back('*');
  out->append(std::to_string(n));
  out->append("\r\n");
}

void AppendBulk(std::string* out, std::string_view arg) {
  out->push_back('$');
  out->append(std::to_string(arg.size()));
  out->append("\r\n");
  out->append(arg);
  out->append("\r\n");
}

void AppendCommand(std::string* out, std::initializer_list<std::string_view> args) {
  AppendArrayHeader(out, args.size());
  for (auto a : args) AppendBulk(out, a);
}

void AppendCommand(std::string* out, const std::vector<std::string>& args) {
  AppendArrayHeader(out, args.size());
  for (const auto& a : args) AppendBulk(out, a);
}

std::string_view ReplyText(const redisReply& reply) {
  if (reply.str == nullptr) return {};
  return std::string_view(reply.str, reply.len);
}

bool IsError(const redisReply& reply) { return reply.type == REDIS_REPLY_ERROR; }
bool IsNil(const redisReply& reply) { return reply.type == REDIS_REPLY_NIL; }

std::map<std::string, std::string> ReplyToMap(const redisReply& reply) {
  std::map<std::string, std::string> out;
  if (reply.type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < reply.elements; i += 2) {
    out[std::string(ReplyText(*reply.element[i]))] = std::string(ReplyText(*reply.element[i + 1]));
  }
  return out;
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::Connect(const ConnectOptions& options) {
  std::unique_ptr<RedisConnection> conn(new RedisConnection(options));
  const std::string target = options.Target();
  const timeval tv = ToTimeval(options.connect_timeout);
  conn->ctx_ = redisConnectWithTimeout(options.host.c_str(), options.port, tv);
  if (conn->ctx_ == nullptr) {
    return WithErrorInfo(Status::IOError("[redis] cannot connect to ", target, ": out of memory"),
                         ErrorClass::kRetryCall, kErrorSource, "connect");
  }
  if (conn->ctx_->err != 0) {
    return WithErrorInfo(Status::IOError("[redis] cannot connect to ", target, ": ",
                                         conn->ctx_->errstr),
                         ErrorClass::kRetryCall, kErrorSource, "connect");
  }
  if (options.socket_timeout.count() > 0) {
    redisSetTimeout(conn->ctx_, ToTimeval(options.socket_timeout));
  }
  if (!options.password.empty()) {
    Result<ReplyPtr> auth =
        options.user.empty()
            ? conn->Command({"AUTH", options.password}, "authenticate", true)
            : conn->Command({"AUTH", options.user, options.password}, "authenticate", true);
    if (!auth.ok()) return auth.status();
    if (IsError(**auth)) {
      return FatalError(Redact("[redis] authentication to " + target + " failed: " +
                                   std::string(ReplyText(**auth)),
                               {options.password}),
                        "auth");
    }
  }
  // PING checks that no password is needed when none was given (NOAUTH otherwise).
  AMP_ASSIGN_OR_RETURN(auto ping, conn->Command({"PING"}, "PING", true));
  if (IsError(*ping)) {
    const std::string text(ReplyText(*ping));
    if (text.rfind("NOAUTH", 0) == 0) {
      return FatalError("[redis] " + target + " requires a password (option 'password', "
                        "e.g. password=env:REDIS_PASSWORD): " + text,
                        "auth");
    }
    return conn->ServerError(text, "PING");
  }
  if (options.db != 0) {
    AMP_ASSIGN_OR_RETURN(auto sel, conn->Command({"SELECT", std::to_string(options.db)},
                                                 "SELECT " + std::to_string(options.db), true));
    if (IsError(*sel)) {
      return FatalError("[redis] cannot select database " + std::to_string(options.db) +
                            " on " + target + ": " + std::string(ReplyText(*sel)),
                        "db");
    }
  }
  if (!options.client_name.empty()) {
    AMP_RETURN_NOT_OK(
        conn->Command({"CLIENT", "SETNAME", options.client_name}, "CLIENT SETNAME").status());
  }
  return conn;
}

RedisConnection::~RedisConnection() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

bool RedisConnection::broken() const { return broken_ || ctx_ == nullptr || ctx_->err != 0; }

Status RedisConnection::ServerError(std::string_view message, std::string_view context) const {
  const ErrorClass cls = ClassifyServerError(message);
  std::string text = "[redis] " + std::string(context) + " (" + options_.Target() +
                     "): " + std::string(message);
  std::string word = FirstWord(message);
  if (word == "OOM") {
    text += " (Redis refuses writes: maxmemory reached; free memory or raise maxmemory, "
            "then rerun: the load resumes from its checkpoint)";
  } else if (word == "WRONGTYPE") {
    text += " (a key the loader writes holds another data type)";
  }
  text = Redact(std::move(text), {options_.password});
  if (cls == ErrorClass::kFatal) return FatalError(std::move(text), word);
  return WithErrorInfo(Status::IOError(std::move(text)), cls, kErrorSource, word);
}

Status RedisConnection::IoError(std::string_view context) {
  broken_ = true;
  std::string why = ctx_ != nullptr && ctx_->err != 0 ? ctx_->errstr : "connection lost";
  if (ctx_ != nullptr && ctx_->err == REDIS_ERR_EOF) why = "the server closed the connection";
  return WithErrorInfo(Status::IOError("[redis] ", context, " (", options_.Target(), "): ", why),
                       ErrorClass::kRetryCommit, kErrorSource, "io");
}

Result<ReplyPtr> RedisConnection::Command(std::initializer_list<std::string_view> args,
                                          std::string_view context, bool allow_error) {
  std::string buf;
  AppendCommand(&buf, args);
  return Roundtrip(buf, context, allow_error);
}

Result<ReplyPtr> RedisConnection::Command(const std::vector<std::string>& args,
                                          std::string_view context, bool allow_error) {
  std::string buf;
  AppendCommand(&buf, args);
  return Roundtrip(buf, context, allow_error);
}

Result<ReplyPtr> RedisConnection::Roundtrip(std::string_view resp, std::string_view context,
                                            bool allow_error) {
  AMP_RETURN_NOT_OK(AppendRaw(resp));
  AMP_ASSIGN_OR_RETURN(auto reply, ReadReply(context));
  if (!allow_error && IsError(*reply)) return ServerError(ReplyText(*reply), context);
  return reply;
}

Status RedisConnection::AppendRaw(std::string_view resp) {
  if (broken()) return IoError("send");
  if (redisAppendFormattedCommand(ctx_, resp.data(), resp.size()) != REDIS_OK) {
    return IoError("send");
  }
  return Status::OK();
}

Status RedisConnection::Flush(std::string_view context) {
  if (broken()) return IoError(context);
  int done = 0;
  do {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return IoError(context);
  } while (!done);
  return Status::OK();
}

Result<ReplyPtr> RedisConnection::ReadReply(std::string_view context) {
  if (broken()) return IoError(context);
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return IoError(context);
  return ReplyPtr(static_cast<redisReply*>(raw));
}

}  // namespace amp::redis
