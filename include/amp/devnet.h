// File: amp/devnet.h
//
// `ampsync devnet` as a library: an Amp-compatible Arrow Flight server over a deterministic
// synthetic chain (dataset `eth_firehose`: blocks, transactions, logs, calls), for tests, demos and
// benchmarks. It reproduces what Amp's query server puts on the wire (GetFlightInfo with a
// bincode ticket, DoGet with app_metadata ranges, streaming microbatches, reorg rewinds,
// `amp-stream`/`amp-resume` headers, keep-alives, gRPC error codes), plus fault injection.
//
//   amp::DevnetOptions options;
//   options.port = 0;              // pick a free port
//   options.history = 100;         // blocks 0..99 exist at start
//   options.block_time_ms = 50;    // then one block every 50 ms
//   AMP_ASSIGN_OR_RETURN(auto devnet, amp::DevnetServer::Start(options));
//   // ... point a client at devnet->url() ...
//   devnet->SetFaults({.fail_next_calls = 2});
//   AMP_RETURN_NOT_OK(devnet->Reorg(3));
//   AMP_RETURN_NOT_OK(devnet->Shutdown());
//
// Deviations from Amp, on purpose:
//   - DoAction implements four control actions so tests can drive a devnet that runs in
//     another process (Amp answers every DoAction with UNIMPLEMENTED; so does the devnet for
//     any other action type):
//       "ampsync.devnet.set_faults"  body: JSON DevnetFaults, durations in ms:
//           {"drop_stream_after_messages":N,"fail_next_calls":N,"message_delay_ms":N,
//            "query_latency_ms":N,"bandwidth_bytes_per_second":N,
//            "fail_queries_touching":{"first":A,"last":B,"code":"INTERNAL"|"UNAVAILABLE"}};
//           absent fields are 0 (fail_queries_touching: unset; also accepts a block number
//           N, meaning [N, N] with INTERNAL, or null), so `{}` clears all faults. Returns
//           the faults now in force, same JSON form (fail_queries_touching only when set).
//       "ampsync.devnet.reorg"       body: {"depth":N}. Returns the status JSON below.
//       "ampsync.devnet.produce"     body: {"count":N} (default 1): produce N blocks now
//           (respects halt_at). Returns the status JSON below.
//       "ampsync.devnet.status"      body ignored. Returns
//           {"generation":G,"head":N,"head_hash":"0x…","produced":P}.
//     Bad action bodies are INVALID_ARGUMENT. Actions are never subject to faults or auth.
//   - Optional bearer-token check (`require_token`), which Amp leaves to its gateway.
//   - Streams stop with UNAVAILABLE on Shutdown (Amp's server just goes away).
//   - A ticket with trailing bytes is rejected (Amp's bincode decoding may accept it).
//   - No HTTP /healthz on the Flight port (Arrow's gRPC server cannot share it).
//   docs/devnet.md ("devnet vs ampd") lists every known difference.
//
// Thread-safety: every DevnetServer method may be called from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amp/status.h"
#include "amp/types.h"

namespace arrow {
class RecordBatch;
}  // namespace arrow

namespace amp {

namespace devnet {
class Chain;  // devnet/chain.h, internal: for in-tree tests and oracles.
}  // namespace devnet

/// gRPC status of an injected query failure (DevnetFaults::fail_queries_touching).
enum class DevnetFaultCode {
  kInternal,     ///< INTERNAL: not retryable by our client's error classes.
  kUnavailable,  ///< UNAVAILABLE: retryable.
};

/// \brief Batch queries reading any block of [first, last] fail (a failing partition).
struct DevnetBlockFault {
  BlockNumber first = 0;
  BlockNumber last = 0;  ///< Inclusive.
  DevnetFaultCode code = DevnetFaultCode::kInternal;

  friend bool operator==(const DevnetBlockFault&, const DevnetBlockFault&) = default;
};

/// \brief Faults injected into the Flight service. All zero = a well-behaved server.
struct DevnetFaults {
  /// DoGet streams fail with UNAVAILABLE once this many FlightData messages (schema
  /// included) have been sent on that stream. 0 = never.
  uint64_t drop_stream_after_messages = 0;
  /// The next N GetFlightInfo/DoGet calls (all clients together) fail with UNAVAILABLE.
  /// Counts down as calls fail; faults() reports what is left.
  uint64_t fail_next_calls = 0;
  /// Extra delay before each FlightData message.
  std::chrono::milliseconds message_delay{0};
  /// Extra delay at the start of every GetFlightInfo and every DoGet.
  std::chrono::milliseconds query_latency{0};
  /// Per-stream cap on message body bytes per second (0 = unlimited): a message of B bytes
  /// is released B / rate seconds after the previous one.
  uint64_t bandwidth_bytes_per_second = 0;
  /// Every batch (non-streaming) block-range DoGet whose block bounds include a block of
  /// this range fails at once with the chosen code, for as long as the fault is set. The
  /// bounds are the ones the devnet's planner derives from the query's filters on
  /// block_num / _block_num (through subqueries), i.e. the blocks it would read: a
  /// partition query `... WHERE "block_num" >= A AND "block_num" < B` touches [A, B-1].
  /// Only queries with an upper bound count: a query without one (a full scan, the head
  /// query `SELECT MAX(block_num) ...` of a parallel load) is unaffected, and so are
  /// streaming queries and GetFlightInfo.
  std::optional<DevnetBlockFault> fail_queries_touching;

  friend bool operator==(const DevnetFaults&, const DevnetFaults&) = default;
};

/// How query results are cut into FlightData messages.
enum class DevnetChunking {
  /// About 2 MiB per message (Amp's split_batch_for_grpc_response target), many blocks
  /// each: the fewest messages.
  kLarge,
  /// As ampd serves a chain it syncs live: one message per storage file, and ampd writes
  /// a file per block or few blocks, so here one data message per source block that has
  /// output rows (split further only past ~2 MiB), and the keep-alive at microbatch start
  /// only on a stream's first microbatch and every 8th after (ampd's usually skips it).
  kAmpd,
};

/// \brief Chain, server and fault settings of a devnet.
struct DevnetOptions {
  // --- The synthetic chain (deterministic in these fields). ---
  uint64_t seed = 1;
  std::string network = "mainnet";
  /// Blocks present at start: 0..history-1. 0: none; every table is "nothing synced"
  /// (streaming queries get ampd's empty answer) until the first live block, block 0.
  uint64_t history = 10'000;
  /// Milliseconds between live blocks after start (0 = no live production).
  uint64_t block_time_ms = 1'000;
  uint32_t txs_per_block = 4;
  uint32_t logs_per_block = 8;
  /// Scheduled reorg each time the produced block count reaches a multiple of this (0 = never).
  uint64_t reorg_every = 0;
  uint32_t reorg_depth_min = 1;
  uint32_t reorg_depth_max = 3;
  /// Live production stops once the head reaches this block.
  std::optional<uint64_t> halt_at;
  /// Unix seconds of block 0; block n is stamped genesis_time + 12 * n.
  uint64_t genesis_time = 1'700'000'000;
  /// Hot ranges (uneven rows per block, for parallel-load balance): when skew > 1, in
  /// every window of skew_window blocks the first skew_hot_percent percent (blocks n with
  /// n % skew_window < skew_window * skew_hot_percent / 100) have skew times
  /// txs_per_block transactions and skew times logs_per_block logs. E.g. skew 10 with
  /// the defaults: blocks 0..999, 10000..10999, ... carry 10x rows. Depends on the block
  /// number only (reorgs keep it); blocks rows are unaffected. 0 or 1: off.
  uint32_t skew = 0;
  uint64_t skew_window = 10'000;
  uint32_t skew_hot_percent = 10;

  // --- The Flight server. ---
  std::string host = "127.0.0.1";
  /// 1602 is Amp's default Flight port; 0 picks a free one (see DevnetServer::port()).
  int port = 1602;
  /// Largest streaming microbatch, in blocks (Amp: server_microbatch_max_interval).
  uint64_t microbatch_blocks = 1'000;
  /// Keep-alive period during a long-running streaming microbatch (Amp: 30 s, at least
  /// 30 s; any value here so tests can use a few ms). 0 disables periodic keep-alives.
  std::chrono::milliseconds keep_alive{30'000};
  /// Also send a keep-alive at the start of every microbatch, as Amp's immediately-ticking
  /// tokio interval usually does.
  bool keep_alive_at_microbatch_start = true;
  /// Tables ("blocks", "transactions", "logs", "calls") that stay empty while the others grow, as a
  /// deployed table ampd has synced nothing of yet: a streaming query on one gets the
  /// schema, one 0-row batch `{"ranges":[],"ranges_complete":true}` and a normal end of
  /// stream; a batch query gets no rows and ranges []; CanonicalRows returns 0 rows.
  std::vector<std::string> unsynced_tables;
  DevnetChunking chunking = DevnetChunking::kLarge;
  /// A reorg reaches the wire this long after it happened (ampd notices one seconds late):
  /// until then queries see the chain as it was just before it (no newer block either), so
  /// blocks orphaned by a second reorg in between never reach the wire. 0: at once.
  std::chrono::milliseconds reorg_delay{0};
  /// Non-empty: GetFlightInfo and DoGet require `authorization: Bearer <require_token>`
  /// (UNAUTHENTICATED otherwise).
  std::string require_token;
  DevnetFaults faults;
};

/// \brief A running devnet: Flight server, chain, and live block producer.
class DevnetServer {
 public:
  /// Builds the chain, binds the server and starts live production. IOError when the
  /// address cannot be bound; Invalid for impossible options.
  static Result<std::unique_ptr<DevnetServer>> Start(DevnetOptions options);

  /// Shuts down if still running.
  ~DevnetServer();
  DevnetServer(const DevnetServer&) = delete;
  DevnetServer& operator=(const DevnetServer&) = delete;

  /// The bound port (the chosen one when options.port was 0).
  int port() const;
  /// "grpc://<host>:<port>"; 127.0.0.1 when bound to a wildcard address.
  std::string url() const;
  const DevnetOptions& options() const;

  // --- Faults: take effect immediately, also on streams already running. ---
  void SetFaults(DevnetFaults faults);
  DevnetFaults faults() const;

  // --- The chain, for tests and oracles. ---
  /// The head block; 0 while the chain has no block yet (history 0, see HasBlocks()).
  BlockNumber Head() const;
  bool HasBlocks() const;
  /// Produces one block now (scheduled reorgs apply; no-op at halt_at). Returns the head.
  BlockNumber ProduceBlock();
  /// Replaces the top `depth` blocks with new versions (same head, new hashes and rows).
  Status Reorg(uint32_t depth);
  /// The canonical range [start, end] right now: hash of end, hash of start's parent,
  /// timestamp of end, as a server would put it in app_metadata. Invalid if end > head.
  Result<BlockRange> CanonicalRange(BlockNumber start, BlockNumber end) const;
  /// The full canonical rows (all columns, `_block_num` first) of `table` ("blocks",
  /// "transactions", "logs", "calls") for blocks [start, end], from one consistent snapshot.
  Result<std::shared_ptr<arrow::RecordBatch>> CanonicalRows(std::string_view table,
                                                            BlockNumber start,
                                                            BlockNumber end) const;
  /// The chain itself (see devnet/chain.h; in-tree code only).
  devnet::Chain& chain();

  /// DoGet streams currently open (tests check that cancelled streams are released).
  size_t active_streams() const;

  /// Stops live production, ends open streams (UNAVAILABLE) and stops the server. Returns
  /// promptly even with idle streaming clients attached. Idempotent.
  Status Shutdown();
  /// Blocks until Shutdown() has completed (e.g. called from a signal handler's thread).
  Status Wait();

 private:
  DevnetServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amp
