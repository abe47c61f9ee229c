// File: amp/client.h
//
// amp::Client talks to an Amp query server (or `ampsync devnet`) over Arrow Flight exactly
// as the official clients do: GetFlightInfo with a Flight SQL CommandStatementQuery, then
// DoGet on the single endpoint's ticket, passed back unchanged.
//
//   amp::Client client("grpc://localhost:1602");
//   AMP_ASSIGN_OR_RETURN(auto table, client.sql("SELECT * FROM eth_firehose.blocks").to_arrow());
//
//   AMP_ASSIGN_OR_RETURN(auto stream,
//       client.sql("SELECT * FROM eth_firehose.logs SETTINGS stream = true").stream());
//   while (true) {
//     AMP_ASSIGN_OR_RETURN(auto item, stream->Next());
//     if (!item) break;                       // the server ended the stream
//     if (item->is_keep_alive()) continue;    // 0-row, not complete: no-op
//     ... item->batch, item->metadata.ranges, item->metadata.ranges_complete ...
//   }
//
// The transport only: it knows no destinations. Loading into one is amp/load.h (amp::Load,
// and amp::Session, whose sql(q).load(...) is amp-python's spelling).
//
// Thread-safety: a Client may be shared by threads; each call opens its own RPCs.
// A BatchStream is used by one thread at a time; Cancel() may be called from any thread.
// Errors: every call returns a Status carrying an amp::ErrorInfo (source "flight") whose
// class is derived from the gRPC status code, never from the message text.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>

#include "amp/status.h"
#include "amp/types.h"

namespace arrow {
class RecordBatch;
class Schema;
class Table;
}  // namespace arrow

namespace amp {

/// \brief Connection options. Defaults suit a local devnet and a hosted Amp server alike.
struct ClientOptions {
  /// Bearer token. Empty: AMP_AUTH_TOKEN, else ~/.amp/cache/amp_cli_auth (accessToken),
  /// else no authorization header. Never logged.
  std::string auth_token;
  /// PEM file with trusted CA certificates for grpc+tls:// (empty: the system roots).
  std::string tls_root_certs_file;
  /// Largest single gRPC message accepted. Amp slices messages to ~2 MiB but one huge row
  /// can exceed that; gRPC's own default of 4 MiB is too small.
  int64_t max_receive_message_bytes = 256LL << 20;
  /// Deadline for GetFlightInfo (0 = none). DoGet streams have no deadline: they never end.
  std::chrono::milliseconds info_timeout{60'000};
};

/// \brief Options of one query.
struct QueryOptions {
  /// Force streaming on/off through the `amp-stream` header; unset: the SQL's
  /// `SETTINGS stream = true` decides.
  std::optional<bool> stream;
  /// Resume a stream after this cursor (`amp-resume` header). Ignored by batch queries.
  std::optional<Cursor> resume;
  /// The stream's networks, when known (a stream resumed from its own checkpoint): the
  /// protocol validator then refuses a batch that adds or switches a network from the
  /// first message on, as it does later within one connection. Unset: the first batch
  /// with ranges fixes the set.
  std::optional<std::set<std::string>> networks;
  /// Requesting a stop cancels the calls in flight: GetFlightInfo, the DoGet's wait for its
  /// first message (ampd sends even the schema only with its first microbatch, so Execute()
  /// may wait for a long time), and later reads of the returned stream (as Cancel()). The
  /// call then fails with Cancelled (class kFatal, code CANCELLED).
  std::stop_token stop;
};

/// \brief One Flight message of a query's result: a record batch and its app_metadata.
struct StreamBatch {
  std::shared_ptr<arrow::RecordBatch> batch;  ///< May have 0 rows.
  BatchMetadata metadata;
  /// Set on a streaming query when this batch's range jumps backwards (a reorg):
  /// the inclusive block range [start, max(end, previous end)], on `metadata.ranges`'
  /// network, that the consumer must invalidate before applying this batch. Only
  /// network/start/end are meaningful; the hashes are zero.
  std::optional<BlockRange> invalidates;

  /// A 0-row batch that does not complete a microbatch: a keep-alive, safe to ignore.
  bool is_keep_alive() const;
  /// A 0-row batch that completes a microbatch (or the whole batch query).
  bool is_completion() const;
};

/// \brief The batches of one query, in server order.
///
/// For streaming queries every batch's metadata is validated against the protocol
/// invariants (amp-protocol.md §2.7): missing or malformed ranges, a gap, a broken
/// prev_hash chain, two ranges for one network or a changing network set end the stream
/// with an Invalid status of class kFatal (code PROTOCOL_ERROR): the server would answer a
/// reconnect from the same cursor the same way.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  /// The schema of the batches (from the DoGet stream; blocks until the server sends it,
  /// which for streams happens when the first microbatch starts).
  virtual Result<std::shared_ptr<arrow::Schema>> schema() = 0;
  /// The next batch, or std::nullopt when the server ended the stream cleanly.
  virtual Result<std::optional<StreamBatch>> Next() = 0;
  /// Aborts the RPC; a blocked Next() or schema() returns Cancelled. Callable from any thread.
  virtual void Cancel() = 0;
  /// True when the query runs as a stream: QueryOptions::stream when set, else whether the
  /// SQL has a top-level `SETTINGS stream = true` (the rule ampd applies; the ticket that
  /// carries the server's own decision is opaque and never decoded).
  virtual bool is_streaming() const = 0;
};

class Client;

/// \brief A query bound to a client: `client.sql(q).to_arrow()` / `.stream()`.
class QueryBuilder {
 public:
  QueryBuilder(const Client& client, std::string query) : client_(client), query_(std::move(query)) {}

  /// Result schema from GetFlightInfo, available before any data is read.
  Result<std::shared_ptr<arrow::Schema>> schema(const QueryOptions& options = {}) const;
  /// Runs a batch query and collects every batch into one table.
  Result<std::shared_ptr<arrow::Table>> to_arrow(const QueryOptions& options = {}) const;
  /// Opens the query as a stream of batches with their metadata.
  Result<std::unique_ptr<BatchStream>> stream(const QueryOptions& options = {}) const;
  const std::string& query() const { return query_; }

 private:
  const Client& client_;
  std::string query_;
};

/// \brief A connection to one Amp server.
///
/// URLs: grpc://host[:port] (plain h2c, as ampd serves), grpc+tls://host[:port]; the
/// default port is 1602. Construction never fails: a malformed URL or an unreadable
/// token file is reported by status() and by every call.
class Client {
 public:
  explicit Client(std::string url, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// OK when the URL and the credentials were usable (no network round-trip).
  const Status& status() const;
  const std::string& url() const { return url_; }

  QueryBuilder sql(std::string query) const { return QueryBuilder(*this, std::move(query)); }

  /// GetFlightInfo: the schema and whether the server runs the query as a stream.
  struct QueryInfo {
    std::shared_ptr<arrow::Schema> schema;
    std::string ticket;  ///< Opaque; passed back unchanged to DoGet.
    bool streaming = false;  ///< As BatchStream::is_streaming().
  };
  Result<QueryInfo> GetInfo(const std::string& query, const QueryOptions& options = {}) const;
  /// GetFlightInfo + DoGet.
  Result<std::unique_ptr<BatchStream>> Execute(const std::string& query,
                                               const QueryOptions& options = {}) const;

  class Impl;

 private:
  std::string url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amp
