// The FlightDataStream behind a devnet DoGet: turns a planned query over the synthetic
// chain into the exact FlightData sequence Amp sends (amp-protocol.md §2.3, §2.4).
//
// Batch:     schema, data batches {"ranges":[R],"ranges_complete":false} (at least one,
//            possibly 0-row), a 0-row completion with the same ranges and true, then OK.
//            R = [0, head] of the snapshot taken when the DoGet started.
// Streaming: the schema once the first microbatch is known; then per microbatch an
//            optional keep-alive, data batches, and a 0-row completion; reorgs rewind to
//            the fork point; nothing while idle; never ends by itself.
//
// Arrow's server calls GetSchemaPayload()/Next() from the RPC thread and stops when the
// client goes away; the stream polls for cancellation and shutdown while it waits.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <arrow/flight/server.h>
#include <arrow/record_batch.h>

#include "amp/types.h"
#include "devnet/chain.h"
#include "devnet/server/server_state.h"
#include "devnet/sql/engine.h"
#include "devnet/tables.h"

namespace amp::devnet::server {

/// Amp slices FlightData to this target size (GRPC_TARGET_MAX_FLIGHT_SIZE_BYTES).
inline constexpr int64_t kTargetFlightDataBytes = 2 * 1024 * 1024;

struct QueryStreamParams {
  std::shared_ptr<ServerState> state;
  /// Valid for the whole DoGet call, which outlives the stream.
  const arrow::flight::ServerCallContext* context = nullptr;
  std::unique_ptr<sql::Plan> plan;
  std::unique_ptr<sql::Executor> executor;
  TableId table = TableId::kBlocks;
  bool streaming = false;
  /// Streaming only: the last block the client completed (from amp-resume).
  std::optional<NetworkCursor> resume;
};

class QueryStream final : public arrow::flight::FlightDataStream {
 public:
  explicit QueryStream(QueryStreamParams params);
  ~QueryStream() override;

  std::shared_ptr<arrow::Schema> schema() override;
  arrow::Result<arrow::flight::FlightPayload> GetSchemaPayload() override;
  arrow::Result<arrow::flight::FlightPayload> Next() override;

 private:
  struct Pending {
    std::shared_ptr<arrow::RecordBatch> batch;
    std::string app_metadata;
    bool completes_microbatch = false;
  };

  Status Fill();
  Status FillBatch();
  Status FillStreaming();
  Status StartMicrobatch();
  /// Until the shown chain is no longer `seen` (a new block, a reorg shown).
  Status WaitForNewSnapshot(const ChainSnapshot* seen);
  Status GenerateAndPush(BlockNumber lo, BlockNumber hi, const std::string& app_metadata);
  void PushSliced(const std::shared_ptr<arrow::RecordBatch>& batch,
                  const std::string& app_metadata);
  Status PushEmpty(const std::string& app_metadata, bool completes_microbatch);
  arrow::Result<arrow::flight::FlightPayload> Emit(arrow::flight::FlightPayload payload);

  QueryStreamParams p_;
  std::shared_ptr<arrow::Schema> schema_;
  BlockNumber chunk_blocks_ = 1;
  sql::BlockBounds bounds_;
  std::deque<Pending> pending_;
  bool finished_ = false;

  // The snapshot rows are generated from: the DoGet's (batch) or the microbatch's.
  std::shared_ptr<const ChainSnapshot> snapshot_;

  // Batch progress.
  std::string batch_metadata_;
  std::string batch_completion_;
  BlockNumber next_block_ = 0;
  BlockNumber last_block_ = 0;
  bool any_rows_to_generate_ = false;
  bool generation_done_ = false;
  uint64_t data_batches_ = 0;

  // Streaming progress.
  std::optional<NetworkCursor> prev_;
  bool first_microbatch_started_ = false;
  bool in_microbatch_ = false;   // generating the current microbatch
  bool microbatch_open_ = false; // its completion not sent yet (keep-alives apply)
  std::string microbatch_metadata_;
  std::string microbatch_completion_;
  BlockRange range_;
  BlockNumber gen_next_ = 0;
  BlockNumber gen_last_ = 0;
  bool gen_any_ = false;
  std::chrono::steady_clock::time_point next_keep_alive_;
  bool last_was_keep_alive_ = false;
  uint64_t microbatches_started_ = 0;

  // Fault bookkeeping.
  uint64_t messages_sent_ = 0;
  std::chrono::steady_clock::time_point bandwidth_free_at_{};
};

}  // namespace amp::devnet::server
