// Helpers for the integration tests of amp::Client against an in-process devnet:
//   - DevnetClientTest: a fixture with an isolated HOME and no AMP_AUTH_TOKEN (so the
//     developer's own Amp login never leaks into a test), a devnet on a free port and a
//     client pointed at it;
//   - the oracle: the canonical rows of a block range straight from devnet/tables.h
//     (GenerateRows), projected/filtered in C++ rather than through the devnet's SQL
//     engine, so a bug in that engine cannot hide behind an oracle that shares it;
//   - StreamConsumer: reads a streaming query the way a loader would (apply the client's
//     invalidations, commit rows on ranges_complete) while checking every protocol
//     invariant independently of the client's own validator;
//   - table comparison that reports the first differing row.
#pragma once

#include "common/testing/status_matchers.h"
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "amp/client.h"
#include "amp/devnet.h"
#include "amp/status.h"
#include "amp/types.h"
#include "devnet/chain.h"
#include "devnet/tables.h"

namespace amp::integration {

using Clock = std::chrono::steady_clock;
using devnet::TableId;
using namespace std::chrono_literals;

/// Small and fully manual: 200 static blocks, no live production (tests call
/// ProduceBlock/Reorg), 20-block microbatches, a keep-alive at each microbatch start.
inline DevnetOptions SmallDevnet() {
  DevnetOptions o;
  o.port = 0;
  o.history = 200;
  o.block_time_ms = 0;
  o.txs_per_block = 3;
  o.logs_per_block = 4;
  o.microbatch_blocks = 20;
  o.keep_alive = std::chrono::milliseconds(60'000);
  o.keep_alive_at_microbatch_start = true;
  return o;
}

/// The gRPC code name the client attached to an error ("" when none).
inline std::string CodeOf(const Status& st) {
  const ErrorInfo* info = ErrorInfo::FromStatus(st);
  return info ? info->code() : std::string();
}

inline double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Polls `pred` until it holds or `timeout` passes (for conditions with no notification).
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// ---------------------------------------------------------------------------------------
// Oracle.

/// Canonical full rows of `table` for blocks [start, end] from the chain as it is now.
inline std::shared_ptr<arrow::Table> OracleRows(DevnetServer& server, TableId table,
                                                BlockNumber start, BlockNumber end) {
  auto snapshot = server.chain().Snapshot();
  auto rows = devnet::GenerateRows(table, *snapshot, start, end);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  if (!rows.ok()) return nullptr;
  return arrow::Table::FromRecordBatches({*rows}).ValueOrDie();
}

/// Projection with aliases: `columns` = {source name, output name}.
inline std::shared_ptr<arrow::Table> Project(
    const std::shared_ptr<arrow::Table>& table,
    const std::vector<std::pair<std::string, std::string>>& columns) {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::ChunkedArray>> arrays;
  for (const auto& [source, alias] : columns) {
    const int i = table->schema()->GetFieldIndex(source);
    EXPECT_GE(i, 0) << "no column " << source << " in the oracle";
    if (i < 0) return nullptr;
    fields.push_back(table->schema()->field(i)->WithName(alias));
    arrays.push_back(table->column(i));
  }
  return arrow::Table::Make(arrow::schema(fields), arrays, table->num_rows());
}

/// Rows of `table` for which `keep(row)` holds, in order.
inline std::shared_ptr<arrow::Table> FilterRows(const std::shared_ptr<arrow::Table>& table,
                                                const std::function<bool(int64_t)>& keep) {
  arrow::BooleanBuilder mask;
  EXPECT_TRUE(mask.Reserve(table->num_rows()).ok());
  for (int64_t r = 0; r < table->num_rows(); ++r) mask.UnsafeAppend(keep(r));
  auto mask_array = mask.Finish().ValueOrDie();
  auto combined = table->CombineChunks().ValueOrDie();
  auto filtered = arrow::compute::Filter(combined, mask_array);
  EXPECT_TRUE(filtered.ok()) << filtered.status().ToString();
  return filtered->table();
}

/// The single-chunk array of column `name` (the table is combined first).
template <typename ArrayType>
std::shared_ptr<ArrayType> Column(const std::shared_ptr<arrow::Table>& table,
                                  const std::string& name) {
  auto combined = table->CombineChunks().ValueOrDie();
  auto column = combined->GetColumnByName(name);
  EXPECT_NE(column, nullptr) << "no column " << name;
  if (column == nullptr) return nullptr;
  if (column->num_chunks() == 0) {
    auto empty = arrow::MakeEmptyArray(column->type()).ValueOrDie();
    return std::static_pointer_cast<ArrayType>(empty);
  }
  return std::static_pointer_cast<ArrayType>(column->chunk(0));
}

// ---------------------------------------------------------------------------------------
// Comparison.

/// Exact comparison (schema names/types/nullability, then every value), reporting the first
/// differing row of the first differing column.
inline void ExpectTablesEqual(const std::shared_ptr<arrow::Table>& actual,
                              const std::shared_ptr<arrow::Table>& expected,
                              const std::string& what = "") {
  ASSERT_NE(actual, nullptr) << what;
  ASSERT_NE(expected, nullptr) << what;
  ASSERT_TRUE(actual->schema()->Equals(*expected->schema(), /*check_metadata=*/false))
      << what << "\nactual schema:\n"
      << actual->schema()->ToString() << "\nexpected schema:\n"
      << expected->schema()->ToString();
  ASSERT_EQ(actual->num_rows(), expected->num_rows()) << what;
  auto a = actual->CombineChunks().ValueOrDie();
  auto e = expected->CombineChunks().ValueOrDie();
  for (int c = 0; c < a->num_columns(); ++c) {
    if (a->column(c)->Equals(*e->column(c))) continue;
    for (int64_t r = 0; r < a->num_rows(); ++r) {
      auto av = a->column(c)->GetScalar(r).ValueOrDie();
      auto ev = e->column(c)->GetScalar(r).ValueOrDie();
      ASSERT_TRUE(av->Equals(*ev)) << what << ": column " << a->schema()->field(c)->name()
                                   << " row " << r << ": " << av->ToString()
                                   << " vs expected " << ev->ToString();
    }
    ADD_FAILURE() << what << ": column " << a->schema()->field(c)->name()
                  << " differs but no row does";
  }
}

/// All batches of a stream until it ends (nullopt) or fails.
inline Result<std::vector<StreamBatch>> ReadAll(BatchStream& stream) {
  std::vector<StreamBatch> out;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto item, stream.Next());
    if (!item) return out;
    out.push_back(std::move(*item));
  }
}

inline Result<std::shared_ptr<arrow::Table>> ToTable(const std::shared_ptr<arrow::Schema>& schema,
                                                     const std::vector<StreamBatch>& batches) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> record_batches;
  for (const auto& b : batches) record_batches.push_back(b.batch);
  AMP_ASSIGN_OR_RETURN(auto table, arrow::Table::FromRecordBatches(schema, record_batches));
  return table->CombineChunks();
}

/// The first error of a query: stream() (GetFlightInfo + DoGet) and then reading it. OK if
/// the query succeeds (every batch read).
inline Status FirstError(const Client& client, const std::string& sql,
                         const QueryOptions& options = {}) {
  auto stream = client.sql(sql).stream(options);
  if (!stream.ok()) return stream.status();
  return ReadAll(**stream).status();
}

// ---------------------------------------------------------------------------------------
// Streaming consumer.

/// \brief A microbatch as the consumer saw it.
struct Microbatch {
  BlockRange range;
  int64_t rows = 0;
  int data_messages = 0;
  int keep_alives = 0;
  std::optional<BlockRange> invalidated;  ///< The client's invalidation at its start.
  std::shared_ptr<arrow::Table> data;     ///< The rows of this microbatch.
};

/// \brief Reads a streaming query like a loader: rows are committed when their microbatch
/// completes; a batch with `invalidates` first drops every row (committed or pending) of
/// the invalidated blocks. Independently of the client's validator, records any protocol
/// violation in errors(): one range per message; a new range only after the previous
/// microbatch completed; contiguous ranges chained by prev_hash unless the client reports
/// an invalidation, which must then be exactly [start, max(end, previous end)]; ranges no
/// longer than `max_blocks`; completions with 0 rows.
class StreamConsumer {
 public:
  StreamConsumer(std::unique_ptr<BatchStream> stream, uint64_t max_blocks,
                 std::string block_column = "block_num",
                 std::optional<BlockRange> seed = std::nullopt)
      : stream_(std::move(stream)),
        max_blocks_(max_blocks),
        block_column_(std::move(block_column)),
        last_completed_(std::move(seed)) {}

  BatchStream& stream() { return *stream_; }
  /// Drops the stream (and with it the RPC) without Cancel(), as a crashing loader would.
  void Reset() { stream_.reset(); }

  /// Starts from a destination that already holds `rows` (a previous session's commits).
  Status Preload(const std::shared_ptr<arrow::Table>& rows) {
    schema_ = rows->schema();
    arrow::TableBatchReader reader(*rows);
    AMP_ASSIGN_OR_RETURN(auto batches, reader.ToRecordBatches());
    committed_ = std::move(batches);
    return Status::OK();
  }

  /// Reads one message and applies it. The message itself is returned for inspection.
  Result<StreamBatch> Step() {
    AMP_ASSIGN_OR_RETURN(auto item, stream_->Next());
    if (!item) return Status::Invalid("the stream ended; Amp streams never end by themselves");
    AMP_RETURN_NOT_OK(Apply(*item));
    return std::move(*item);
  }

  /// Reads until a microbatch completes whose range ends at `end` with the hash `hash`
  /// (when given), or `timeout` passes.
  Status ReadUntilCompleted(BlockNumber end, std::optional<BlockHash> hash = std::nullopt,
                            std::chrono::milliseconds timeout = 10'000ms) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      if (last_completed_ && last_completed_->end == end &&
          (!hash || last_completed_->hash == *hash) && !microbatches_.empty()) {
        return Status::OK();
      }
      if (Clock::now() > deadline) {
        return Status::IOError("timed out waiting for a microbatch completing block ", end,
                               last_completed_ ? "; last completed " + last_completed_->ToString()
                                               : std::string("; none completed"));
      }
      AMP_RETURN_NOT_OK(Step().status());
    }
  }

  /// Reads until the stream has delivered the server's current canonical head.
  Status ReadUntilCaughtUp(DevnetServer& server, std::chrono::milliseconds timeout = 10'000ms) {
    const BlockNumber head = server.Head();
    AMP_ASSIGN_OR_RETURN(auto range, server.CanonicalRange(head, head));
    return ReadUntilCompleted(head, range.hash, timeout);
  }

  /// Committed rows after every invalidation: the loader's destination table.
  Result<std::shared_ptr<arrow::Table>> Committed() const {
    if (schema_ == nullptr) return Status::Invalid("no schema received yet");
    AMP_ASSIGN_OR_RETURN(auto table, arrow::Table::FromRecordBatches(schema_, committed_));
    return table->CombineChunks();
  }

  const std::vector<Microbatch>& microbatches() const { return microbatches_; }
  const std::vector<BlockRange>& invalidations() const { return invalidations_; }
  const std::vector<std::string>& errors() const { return errors_; }
  const std::optional<BlockRange>& last_completed() const { return last_completed_; }
  int keep_alives() const { return keep_alives_; }
  int messages() const { return messages_; }
  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }

 private:
  Status Apply(const StreamBatch& item) {
    ++messages_;
    if (schema_ == nullptr) schema_ = item.batch->schema();
    const auto& meta = item.metadata;
    if (meta.ranges.size() != 1) {
      errors_.push_back("message #" + std::to_string(messages_) + " has " +
                        std::to_string(meta.ranges.size()) + " ranges");
      return Status::OK();
    }
    const BlockRange& r = meta.ranges[0];
    const bool new_range = !current_ || !SameRange(*current_, r);
    if (new_range) {
      if (current_ && !current_done_) {
        errors_.push_back("range " + r.ToString() + " started before " + current_->ToString() +
                          " completed");
      }
      if (r.num_blocks() > max_blocks_) {
        errors_.push_back("range " + r.ToString() + " is longer than the microbatch size " +
                          std::to_string(max_blocks_));
      }
      CheckTransition(r, item.invalidates);
      current_ = r;
      current_done_ = false;
      Microbatch mb;
      mb.range = r;
      mb.invalidated = item.invalidates;
      open_ = mb;
      pending_.clear();
    } else if (item.invalidates) {
      errors_.push_back("invalidation reported on a repeated range " + r.ToString());
    }
    if (item.invalidates) {
      invalidations_.push_back(*item.invalidates);
      AMP_RETURN_NOT_OK(DropBlocks(item.invalidates->start, item.invalidates->end));
    }
    if (current_done_) {
      errors_.push_back("message after the completion of " + r.ToString());
    }
    const int64_t rows = item.batch->num_rows();
    if (item.is_keep_alive()) {
      ++keep_alives_;
      ++open_.keep_alives;
      return Status::OK();
    }
    if (meta.ranges_complete) {
      if (rows != 0) errors_.push_back("completion of " + r.ToString() + " carries rows");
      for (auto& b : pending_) committed_.push_back(b);
      std::vector<std::shared_ptr<arrow::RecordBatch>> mine = pending_;
      pending_.clear();
      AMP_ASSIGN_OR_RETURN(open_.data, arrow::Table::FromRecordBatches(schema_, mine));
      AMP_ASSIGN_OR_RETURN(open_.data, open_.data->CombineChunks());
      microbatches_.push_back(open_);
      last_completed_ = r;
      current_done_ = true;
      return Status::OK();
    }
    ++open_.data_messages;
    open_.rows += rows;
    pending_.push_back(item.batch);
    return Status::OK();
  }

  static bool SameRange(const BlockRange& a, const BlockRange& b) {
    return a.network == b.network && a.start == b.start && a.end == b.end && a.hash == b.hash &&
           a.prev_hash == b.prev_hash;
  }

  void CheckTransition(const BlockRange& r, const std::optional<BlockRange>& invalidates) {
    if (!last_completed_) {
      if (r.start == 0 && !r.prev_hash.IsZero()) errors_.push_back("genesis with a prev_hash");
      if (invalidates) errors_.push_back("invalidation on the first range " + r.ToString());
      return;
    }
    const BlockRange& p = *last_completed_;
    if (r.start == p.end + 1) {
      if (r.prev_hash != p.hash) {
        errors_.push_back("range " + r.ToString() + " does not chain to " + p.ToString());
      }
      if (invalidates) errors_.push_back("invalidation on the contiguous range " + r.ToString());
    } else if (r.start > p.end + 1) {
      errors_.push_back("gap between " + p.ToString() + " and " + r.ToString());
    } else {
      // A rewind: the client must report [start, max(end, previous end)].
      if (!invalidates) {
        errors_.push_back("rewind to " + r.ToString() + " without an invalidation");
      } else if (invalidates->start != r.start ||
                 invalidates->end != std::max(r.end, p.end) ||
                 invalidates->network != r.network) {
        errors_.push_back("rewind to " + r.ToString() + " after " + p.ToString() +
                          " reported invalidation " + invalidates->ToString());
      }
    }
  }

  Status DropBlocks(BlockNumber start, BlockNumber end) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> kept;
    for (const auto& batch : committed_) {
      auto column = batch->GetColumnByName(block_column_);
      if (column == nullptr) return Status::Invalid("no column ", block_column_, " in the stream");
      const auto& blocks = static_cast<const arrow::UInt64Array&>(*column);
      arrow::BooleanBuilder mask;
      AMP_RETURN_NOT_OK(mask.Reserve(batch->num_rows()));
      for (int64_t i = 0; i < batch->num_rows(); ++i) {
        mask.UnsafeAppend(blocks.Value(i) < start || blocks.Value(i) > end);
      }
      AMP_ASSIGN_OR_RETURN(auto mask_array, mask.Finish());
      AMP_ASSIGN_OR_RETURN(auto filtered, arrow::compute::Filter(batch, mask_array));
      kept.push_back(filtered.record_batch());
    }
    committed_ = std::move(kept);
    pending_.clear();
    return Status::OK();
  }

  std::unique_ptr<BatchStream> stream_;
  uint64_t max_blocks_;
  std::string block_column_;
  std::shared_ptr<arrow::Schema> schema_;
  std::optional<BlockRange> last_completed_;
  std::optional<BlockRange> current_;
  bool current_done_ = true;
  Microbatch open_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> pending_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> committed_;
  std::vector<Microbatch> microbatches_;
  std::vector<BlockRange> invalidations_;
  std::vector<std::string> errors_;
  int keep_alives_ = 0;
  int messages_ = 0;
};

/// The one-block range a resume cursor stands for (what a consumer seeds its checks with).
inline BlockRange CursorRange(const Cursor& cursor) {
  BlockRange r;
  const auto& [network, c] = *cursor.networks.begin();
  r.network = network;
  r.start = c.number;
  r.end = c.number;
  r.hash = c.hash;
  return r;
}

/// Checks a destination table against the chain: no duplicate (block, index) key, no stale
/// row (its block hash must be canonical), then row-for-row equality with the oracle.
inline void ExpectMatchesChain(DevnetServer& server, TableId table,
                               const std::shared_ptr<arrow::Table>& actual, BlockNumber start,
                               BlockNumber end) {
  auto expected = OracleRows(server, table, start, end);
  ASSERT_NE(expected, nullptr);
  ASSERT_NE(actual, nullptr);
  if (table == TableId::kLogs) {
    auto blocks = Column<arrow::UInt64Array>(actual, "block_num");
    auto index = Column<arrow::UInt32Array>(actual, "log_index");
    auto hashes = Column<arrow::FixedSizeBinaryArray>(actual, "block_hash");
    auto snapshot = server.chain().Snapshot();
    std::set<std::pair<uint64_t, uint32_t>> seen;
    int64_t duplicates = 0, stale = 0;
    for (int64_t i = 0; i < actual->num_rows(); ++i) {
      if (!seen.emplace(blocks->Value(i), index->Value(i)).second) ++duplicates;
      const BlockNumber n = blocks->Value(i);
      if (n > snapshot->head() ||
          std::memcmp(hashes->GetValue(i), snapshot->hash(n).bytes.data(), 32) != 0) {
        ++stale;
      }
    }
    EXPECT_EQ(duplicates, 0) << "duplicate (block_num, log_index) rows";
    EXPECT_EQ(stale, 0) << "rows of blocks that are no longer canonical";
    EXPECT_EQ(actual->num_rows(), expected->num_rows()) << "missing or extra rows";
  }
  ExpectTablesEqual(actual, expected, "destination vs chain");
}

// ---------------------------------------------------------------------------------------
// Fixture.

class DevnetClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Save("HOME", &saved_home_);
    Save("AMP_AUTH_TOKEN", &saved_token_);
    std::string tmpl = (std::filesystem::temp_directory_path() / "amp_it_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    setenv("HOME", home_.c_str(), 1);
    unsetenv("AMP_AUTH_TOKEN");
  }

  void TearDown() override {
    client_.reset();
    if (server_) {
      EXPECT_TRUE(server_->Shutdown().ok());
    }
    server_.reset();
    Restore("HOME", saved_home_);
    Restore("AMP_AUTH_TOKEN", saved_token_);
    std::error_code ignored;
    std::filesystem::remove_all(home_, ignored);
  }

  /// Starts the devnet and a client for it.
  void Start(DevnetOptions options = SmallDevnet(), ClientOptions client_options = {}) {
    auto server = DevnetServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    client_ = std::make_unique<Client>(server_->url(), std::move(client_options));
    ASSERT_TRUE(client_->status().ok()) << client_->status().ToString();
  }

  DevnetServer& server() { return *server_; }
  Client& client() { return *client_; }

  std::unique_ptr<StreamConsumer> OpenStream(const std::string& sql, QueryOptions options = {},
                                             std::string block_column = "block_num") {
    auto stream = client_->sql(sql).stream(options);
    EXPECT_TRUE(stream.ok()) << stream.status().ToString();
    if (!stream.ok()) return nullptr;
    std::optional<BlockRange> seed;
    if (options.resume && !options.resume->empty()) seed = CursorRange(*options.resume);
    return std::make_unique<StreamConsumer>(std::move(*stream), server_->options().microbatch_blocks,
                                            std::move(block_column), seed);
  }

  static void Save(const char* name, std::optional<std::string>* out) {
    const char* v = std::getenv(name);
    if (v) *out = v;
  }
  static void Restore(const char* name, const std::optional<std::string>& v) {
    if (v) {
      setenv(name, v->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }

  std::optional<std::string> saved_home_, saved_token_;
  std::string home_;
  std::unique_ptr<DevnetServer> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace amp::integration
