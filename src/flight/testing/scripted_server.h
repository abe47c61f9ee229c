// An in-process Arrow Flight server that answers like ampd from a script, for tests.
//
// It speaks the same RPCs as an Amp server (GetFlightInfo with a Flight SQL
// CommandStatementQuery, then DoGet on the single endpoint's opaque ticket), records every
// call it receives (descriptor command bytes, ticket bytes, request headers), and replays
// scripted FlightData messages whose app_metadata is set byte for byte, which Arrow's
// RecordBatchStream cannot do. Scripts can also fail GetFlightInfo, fail DoGet, break the
// stream after the messages, or hold it open until the client cancels.
//
//   auto server = ScriptedFlightServer::Start().ValueOrDie();
//   ScriptedResponse r;
//   r.schema = BlockNumSchema();
//   r.messages.push_back(ScriptedMessage::Make(BlockNumBatch({0, 1}), metadata));
//   server->Script("SELECT 1", r);
//   amp::Client client(server->url());
//
// Not supported: dictionary-encoded columns, and messages without a record batch (Arrow's
// DoGet loop treats a payload without IPC metadata as the end of the stream).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::testing {

/// \brief One FlightData message of a scripted DoGet.
struct ScriptedMessage {
  std::shared_ptr<arrow::RecordBatch> batch;  ///< Required; may have 0 rows.
  std::optional<std::string> app_metadata;    ///< Raw bytes; nullopt: no app_metadata.

  /// A message whose app_metadata is `metadata` serialized exactly as ampd does.
  static ScriptedMessage Make(std::shared_ptr<arrow::RecordBatch> batch,
                              const BatchMetadata& metadata);
  /// A message with arbitrary (possibly malformed) app_metadata bytes.
  static ScriptedMessage Raw(std::shared_ptr<arrow::RecordBatch> batch,
                             std::optional<std::string> app_metadata);
};

/// \brief How the server answers one query.
struct ScriptedResponse {
  std::shared_ptr<arrow::Schema> schema;  ///< FlightInfo and DoGet schema.
  std::vector<ScriptedMessage> messages;
  Status info_error;        ///< Not OK: GetFlightInfo fails with it.
  Status do_get_error;      ///< Not OK: DoGet fails with it before sending anything.
  Status final_error;       ///< Not OK: the stream ends with it after the messages.
  bool hold_open = false;   ///< Keep the stream open after the messages until cancelled.
  /// DoGet sends nothing, not even the schema, until cancelled: ampd before its first
  /// microbatch (resumed at an idle head, or on a replica behind the cursor).
  bool silent = false;
  /// GetFlightInfo answers nothing until the client cancels (or the server stops).
  bool hold_info = false;
  int num_endpoints = 1;    ///< Amp always sends 1; other values test the client's check.
  std::optional<std::string> ticket;  ///< Default: opaque bytes including NUL and 0xFF.
};

/// \brief A call the server received.
struct RecordedCall {
  std::string method;   ///< "GetFlightInfo" or "DoGet".
  std::string command;  ///< GetFlightInfo: the descriptor's cmd bytes.
  std::string sql;      ///< GetFlightInfo: the decoded SQL (empty if undecodable).
  std::string ticket;   ///< DoGet: the ticket bytes.
  std::multimap<std::string, std::string> headers;  ///< Request headers (lowercase keys).

  /// The first value of header `key`, or nullopt.
  std::optional<std::string> Header(const std::string& key) const;
};

class ScriptedFlightServer {
 public:
  /// Computes the answer to a query the script has no exact entry for.
  using Handler = std::function<ScriptedResponse(const std::string& sql, const RecordedCall&)>;

  struct Options {
    /// PEM certificate and key: serve grpc+tls:// on localhost instead of plain gRPC.
    std::string tls_cert_pem;
    std::string tls_key_pem;
  };

  /// Starts listening on 127.0.0.1 (localhost for TLS) on a free port.
  static Result<std::unique_ptr<ScriptedFlightServer>> Start(Options options = {});
  ~ScriptedFlightServer();

  /// The answer to exactly this SQL text.
  void Script(const std::string& sql, ScriptedResponse response);
  /// The answer to any other SQL (default: INVALID_ARGUMENT "no script for query").
  void SetHandler(Handler handler);
  /// A handler for a script of successive connections: from now on the n-th call
  /// (GetFlightInfo and DoGet alike) gets responses[n], and the last one repeats.
  void ServeInOrder(std::vector<ScriptedResponse> responses);
  /// Waits until a `method` call ("DoGet", "GetFlightInfo") has arrived (at most 5 s).
  void AwaitCall(const std::string& method) const;

  int port() const;
  /// grpc://127.0.0.1:<port>, or grpc+tls://localhost:<port> with TLS.
  std::string url() const;
  std::vector<RecordedCall> calls() const;
  /// Number of DoGet streams that ended because the client cancelled them.
  int cancelled_streams() const { return cancelled_streams_.load(); }
  /// Waits (at most 5 s) until `n` DoGet streams were cancelled; returns how many were.
  int AwaitCancelledStreams(int n = 1) const;

  /// Stops serving; open streams end. Called by the destructor.
  Status Shutdown();

  class Service;

 private:
  ScriptedFlightServer() = default;

  std::unique_ptr<Service> service_;
  bool tls_ = false;
  bool shut_down_ = false;
  std::atomic<int> cancelled_streams_{0};
};

/// A BlockNumSchema() response that never answers: `hold` is &ScriptedResponse::silent
/// (DoGet sends not even the schema) or &ScriptedResponse::hold_info (GetFlightInfo gets
/// no answer).
ScriptedResponse UnansweredResponse(bool ScriptedResponse::*hold);

/// Runs `action` on a thread of its own 50 ms after `server` received a `method` call:
/// for a cancel or a stop that must reach a call the server has not answered.
std::jthread ActAfterCall(const ScriptedFlightServer& server, std::string method,
                          std::function<void()> action);

/// Deterministic, distinct, non-zero hash of block `number` on `network` (`fork` > 0 gives
/// the hashes of an alternative chain).
BlockHash TestBlockHash(const std::string& network, BlockNumber number, int fork = 0);
/// [start, end] on `network` with hash = TestBlockHash(end) and prev_hash =
/// TestBlockHash(start - 1) (zero for start 0); `fork` applies to both ends, `prev_fork`
/// (default: fork) to the parent.
BlockRange TestRange(const std::string& network, BlockNumber start, BlockNumber end,
                     int fork = 0, std::optional<int> prev_fork = std::nullopt);

/// Schema {block_num: uint64 not null}.
std::shared_ptr<arrow::Schema> BlockNumSchema();
/// A batch of BlockNumSchema() with these values (empty: a 0-row batch).
std::shared_ptr<arrow::RecordBatch> BlockNumBatch(const std::vector<uint64_t>& block_nums);

}  // namespace amp::testing
