// Test helpers for the devnet server tests: an in-process DevnetServer on a free port,
// a raw arrow::flight::FlightClient (deliberately not amp::Client, which is tested
// against the devnet elsewhere), app_metadata parsing, the gRPC code of a client-side
// error, and the oracle (the same plan run over the chain's canonical rows).
#pragma once

#include "common/testing/status_matchers.h"
#include <gtest/gtest.h>

#include <chrono>
#include <dirent.h>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include "amp/devnet.h"
#include "amp/types.h"
#include "devnet/server/catalog.h"
#include "devnet/server/ticket.h"
#include "devnet/sql/engine.h"
#include "proto/command.h"

namespace amp::devnet::server::testing {

namespace flight = arrow::flight;
using TransportCode = flight::TransportStatusCode;
using Clock = std::chrono::steady_clock;

/// Small, fast defaults: 30 static blocks, no live production, no keep-alive at microbatch
/// start (tests that want it turn it on).
inline DevnetOptions SmallOptions() {
  DevnetOptions o;
  o.port = 0;
  o.history = 30;
  o.block_time_ms = 0;
  o.txs_per_block = 2;
  o.logs_per_block = 3;
  o.microbatch_blocks = 10;
  o.keep_alive = std::chrono::milliseconds(60'000);
  o.keep_alive_at_microbatch_start = false;
  return o;
}

inline std::unique_ptr<DevnetServer> StartOrDie(const DevnetOptions& options) {
  auto server = DevnetServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

inline std::unique_ptr<flight::FlightClient> Connect(const DevnetServer& server) {
  auto location = flight::Location::Parse(server.url());
  EXPECT_TRUE(location.ok()) << location.status();
  auto client = flight::FlightClient::Connect(*location);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

inline flight::FlightCallOptions Headers(
    std::vector<std::pair<std::string, std::string>> headers) {
  flight::FlightCallOptions options;
  options.headers = std::move(headers);
  return options;
}

inline flight::FlightDescriptor SqlDescriptor(const std::string& sql) {
  return flight::FlightDescriptor::Command(proto::EncodeStatementQuery(sql));
}

/// The gRPC status code the server sent, as seen by a raw Flight client.
///
/// Arrow 26's synchronous gRPC client does not attach TransportStatusDetail; it rebuilds
/// the server's arrow::Status from the x-arrow-status trailers. So, in order:
///  1. TransportStatusDetail, if a future Arrow attaches it;
///  2. the literal code in "gRPC client debug context: <CODE>:" (streaming calls);
///  3. the FlightStatusDetail (derived by the client from the gRPC code) or the rebuilt
///     arrow code: Invalid <- INVALID_ARGUMENT, KeyError <- NOT_FOUND,
///     NotImplemented <- UNIMPLEMENTED (the server's Arrow -> gRPC mapping is 1:1 there).
inline std::optional<TransportCode> GrpcCode(const Status& st) {
  if (st.ok()) return TransportCode::kOk;
  if (auto transport = flight::TransportStatusDetail::Unwrap(st)) {
    return transport->get().code();
  }
  static constexpr std::string_view kDebug = "gRPC client debug context: ";
  const std::string& msg = st.message();
  if (auto pos = msg.find(kDebug); pos != std::string::npos) {
    const std::string rest = msg.substr(pos + kDebug.size());
    const std::string name = rest.substr(0, rest.find(':'));
    static const std::pair<const char*, TransportCode> kNames[] = {
        {"CANCELLED", TransportCode::kCancelled},
        {"UNKNOWN", TransportCode::kUnknown},
        {"INVALID_ARGUMENT", TransportCode::kInvalidArgument},
        {"DEADLINE_EXCEEDED", TransportCode::kTimedOut},
        {"NOT_FOUND", TransportCode::kNotFound},
        {"ALREADY_EXISTS", TransportCode::kAlreadyExists},
        {"PERMISSION_DENIED", TransportCode::kUnauthorized},
        {"UNIMPLEMENTED", TransportCode::kUnimplemented},
        {"INTERNAL", TransportCode::kInternal},
        {"UNAVAILABLE", TransportCode::kUnavailable},
        {"UNAUTHENTICATED", TransportCode::kUnauthenticated},
    };
    for (const auto& [n, code] : kNames) {
      if (name == n) return code;
    }
  }
  if (auto fsd = flight::FlightStatusDetail::UnwrapStatus(st)) {
    switch (fsd->code()) {
      case flight::FlightStatusCode::Internal:
        return TransportCode::kInternal;
      case flight::FlightStatusCode::TimedOut:
        return TransportCode::kTimedOut;
      case flight::FlightStatusCode::Cancelled:
        return TransportCode::kCancelled;
      case flight::FlightStatusCode::Unauthenticated:
        return TransportCode::kUnauthenticated;
      case flight::FlightStatusCode::Unauthorized:
        return TransportCode::kUnauthorized;
      case flight::FlightStatusCode::Unavailable:
        return TransportCode::kUnavailable;
      case flight::FlightStatusCode::Failed:
        return TransportCode::kUnknown;
    }
  }
  if (st.IsInvalid()) return TransportCode::kInvalidArgument;
  if (st.IsKeyError()) return TransportCode::kNotFound;
  if (st.IsNotImplemented()) return TransportCode::kUnimplemented;
  if (st.IsCancelled()) return TransportCode::kCancelled;
  return std::nullopt;
}

/// app_metadata parsed strictly: any deviation from Amp's shape fails the test.
inline BatchMetadata ParseMetadata(const std::shared_ptr<arrow::Buffer>& buffer) {
  BatchMetadata meta;
  EXPECT_NE(buffer, nullptr) << "record batch without app_metadata";
  if (buffer == nullptr) return meta;
  auto doc = nlohmann::json::parse(buffer->ToString(), nullptr, false);
  EXPECT_TRUE(doc.is_object()) << buffer->ToString();
  if (!doc.is_object()) return meta;
  EXPECT_EQ(doc.size(), 2u) << buffer->ToString();
  meta.ranges_complete = doc.value("ranges_complete", false);
  for (const auto& r : doc["ranges"]) {
    BlockRange range;
    range.network = r["network"].get<std::string>();
    range.start = r["numbers"]["start"].get<uint64_t>();
    range.end = r["numbers"]["end"].get<uint64_t>();
    range.hash = *BlockHash::FromHex(r["hash"].get<std::string>());
    range.prev_hash = *BlockHash::FromHex(r["prev_hash"].get<std::string>());
    if (r.contains("timestamp")) range.timestamp = r["timestamp"].get<uint64_t>();
    meta.ranges.push_back(std::move(range));
  }
  return meta;
}

struct Message {
  std::shared_ptr<arrow::RecordBatch> batch;
  BatchMetadata meta;
  std::string raw;
};

inline Message ToMessage(const flight::FlightStreamChunk& chunk) {
  Message m;
  m.batch = chunk.data;
  m.meta = ParseMetadata(chunk.app_metadata);
  if (chunk.app_metadata) m.raw = chunk.app_metadata->ToString();
  return m;
}

/// Runs GetFlightInfo + DoGet and reads to the end. Returns the messages and the final
/// status of the stream.
struct QueryResult {
  Status status;
  std::unique_ptr<flight::FlightInfo> info;
  std::shared_ptr<arrow::Schema> schema;
  std::vector<Message> messages;
};

inline QueryResult RunQuery(flight::FlightClient& client, const std::string& sql,
                            const flight::FlightCallOptions& options = {}) {
  QueryResult result;
  auto info = client.GetFlightInfo(options, SqlDescriptor(sql));
  if (!info.ok()) {
    result.status = info.status();
    return result;
  }
  result.info = std::move(*info);
  auto reader = client.DoGet(options, result.info->endpoints()[0].ticket);
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  auto schema = (*reader)->GetSchema();
  if (!schema.ok()) {
    result.status = schema.status();
    return result;
  }
  result.schema = *schema;
  while (true) {
    auto chunk = (*reader)->Next();
    if (!chunk.ok()) {
      result.status = chunk.status();
      return result;
    }
    if (chunk->data == nullptr) break;
    result.messages.push_back(ToMessage(*chunk));
  }
  return result;
}

/// The query's expected output: the same plan over the canonical rows of [lo, hi].
inline std::shared_ptr<arrow::Table> Oracle(const DevnetServer& server, const std::string& sql,
                                            BlockNumber lo, BlockNumber hi) {
  DevnetCatalog catalog;
  auto plan = sql::PlanQuery(sql, catalog);
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto exec = (*plan)->MakeExecutor();
  EXPECT_TRUE(exec.ok()) << exec.status();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  if (lo <= hi) {
    auto rows = server.CanonicalRows((*plan)->source_table().table, lo, hi);
    EXPECT_TRUE(rows.ok()) << rows.status();
    auto out = (*exec)->Consume(*rows);
    EXPECT_TRUE(out.ok()) << out.status();
    batches.push_back(*out);
  }
  auto last = (*exec)->Finish();
  EXPECT_TRUE(last.ok()) << last.status();
  batches.push_back(*last);
  auto table = arrow::Table::FromRecordBatches((*plan)->output_schema(), batches);
  EXPECT_TRUE(table.ok()) << table.status();
  return *(*table)->CombineChunks();
}

inline std::shared_ptr<arrow::Table> ToTable(const std::shared_ptr<arrow::Schema>& schema,
                                             const std::vector<Message>& messages) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const auto& m : messages) batches.push_back(m.batch);
  auto table = arrow::Table::FromRecordBatches(schema, batches);
  EXPECT_TRUE(table.ok()) << table.status();
  return *(*table)->CombineChunks();
}

/// Row-by-row comparison with a readable failure: the first differing row of each column.
inline void ExpectSameRows(const arrow::Table& actual, const arrow::Table& expected) {
  ASSERT_TRUE(actual.schema()->Equals(*expected.schema()))
      << actual.schema()->ToString() << "\nvs\n" << expected.schema()->ToString();
  ASSERT_EQ(actual.num_rows(), expected.num_rows());
  for (int c = 0; c < actual.num_columns(); ++c) {
    auto a = actual.column(c)->chunk(0);
    auto e = expected.column(c)->chunk(0);
    for (int64_t r = 0; r < actual.num_rows(); ++r) {
      auto av = a->GetScalar(r);
      auto ev = e->GetScalar(r);
      ASSERT_TRUE((*av)->Equals(**ev)) << "column " << actual.schema()->field(c)->name()
                                       << " row " << r << ": " << (*av)->ToString()
                                       << " vs expected " << (*ev)->ToString();
    }
  }
}

/// Number of threads of this process (thread-leak checks).
inline int ThreadCount() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
  }
  return n;
}

/// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

inline double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace amp::devnet::server::testing
