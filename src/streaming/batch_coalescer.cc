#include "streaming/batch_coalescer.h"

#include <arrow/array/builder_base.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace amp::streaming {
namespace {

// The batches (equal schemas up to metadata) as one. Column by column through builders
// fed with ArraySpans: arrow::ConcatenateRecordBatches slices every buffer of every input
// array into a new shared Buffer, which for thousands of one-row batches costs far more
// than the rows themselves. Types a builder cannot append spans of fall back to it.
Result<std::shared_ptr<arrow::RecordBatch>> Concatenate(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int64_t rows) {
  const auto& schema = batches.front()->schema();
  arrow::ArrayVector columns;
  for (int c = 0; c < schema->num_fields(); ++c) {
    std::unique_ptr<arrow::ArrayBuilder> builder;
    AMP_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), schema->field(c)->type(), &builder));
    AMP_RETURN_NOT_OK(builder->Reserve(rows));
    Status st;
    for (const auto& b : batches) {
      st = builder->AppendArraySlice(arrow::ArraySpan(*b->column_data(c)), 0, b->num_rows());
      if (!st.ok()) break;
    }
    if (st.IsNotImplemented()) {
      std::vector<std::shared_ptr<arrow::RecordBatch>> same;
      for (const auto& b : batches) same.push_back(arrow::RecordBatch::Make(schema, b->num_rows(), b->columns()));
      return arrow::ConcatenateRecordBatches(same);
    }
    AMP_RETURN_NOT_OK(st);
    std::shared_ptr<arrow::Array> column;
    AMP_RETURN_NOT_OK(builder->Finish(&column));
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(schema, rows, std::move(columns));
}

class CoalescingSession final : public LoaderSession {
 public:
  CoalescingSession(std::unique_ptr<LoaderSession> inner, CoalesceOptions options)
      : inner_(std::move(inner)), options_(options) {}

  Status Begin() override {
    Drop();
    return inner_->Begin();
  }

  Status Undo(const std::string& table, const BlockInterval& blocks) override {
    // The undo must see (delete) rows appended before it in the unit.
    AMP_RETURN_NOT_OK(Flush());
    return inner_->Undo(table, blocks);
  }

  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) override {
    const int64_t rows = batch.num_rows();
    if (!held_.empty() && !Joins(table, batch, microbatch)) AMP_RETURN_NOT_OK(Flush());
    if (rows == 0 || rows >= options_.pass_rows) {
      AMP_RETURN_NOT_OK(Flush());
      return inner_->Append(table, batch, microbatch);
    }
    if (held_.empty()) {
      table_ = table;
      range_ = microbatch;
    } else {
      // Only reached for merged microbatches when rows carry their blocks: the span is
      // informational then (loaders tag each row with its own block).
      range_.start = std::min(range_.start, microbatch.start);
      range_.end = std::max(range_.end, microbatch.end);
      range_.hash = microbatch.hash;
    }
    // Shares the buffers (no copy until the concatenation).
    held_.push_back(arrow::RecordBatch::Make(batch.schema(), rows, batch.columns()));
    held_rows_ += rows;
    held_bytes_ += arrow::util::TotalBufferSize(batch);
    if (held_rows_ >= options_.max_rows || held_bytes_ >= options_.max_bytes) return Flush();
    return Status::OK();
  }

  Status Commit(const StreamCheckpoint* checkpoint) override {
    // A failed flush leaves the unit open: the caller aborts it, as for a failed Append.
    AMP_RETURN_NOT_OK(Flush());
    return inner_->Commit(checkpoint);
  }

  void Abort() override {
    Drop();
    inner_->Abort();
  }

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    AMP_RETURN_NOT_OK(Flush());
    return inner_->LoadCheckpoint(stream_id);
  }

  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    AMP_RETURN_NOT_OK(Flush());
    return inner_->LoadCheckpoints(prefix);
  }

 private:
  bool Joins(const std::string& table, const arrow::RecordBatch& batch,
             const BlockRange& microbatch) const {
    if (table != table_) return false;
    // A stream's batches share one schema object: compare fields only when they do not.
    const auto& held = held_.front()->schema();
    if (batch.schema() != held && !batch.schema()->Equals(*held, /*check_metadata=*/false)) return false;
    if (options_.rows_carry_blocks) return microbatch.network == range_.network;
    return microbatch == range_;
  }

  // Appends what is held as one batch.
  Status Flush() {
    if (held_.empty()) return Status::OK();
    std::shared_ptr<arrow::RecordBatch> merged;
    if (held_.size() == 1) {
      merged = held_.front();
    } else {
      auto concatenated = Concatenate(held_, held_rows_);
      if (!concatenated.ok()) {
        Drop();
        return concatenated.status();
      }
      merged = std::move(*concatenated);
    }
    const std::string table = std::move(table_);
    const BlockRange range = std::move(range_);
    Drop();
    return inner_->Append(table, *merged, range);
  }

  void Drop() {
    held_.clear();
    held_rows_ = 0;
    held_bytes_ = 0;
    table_.clear();
    range_ = BlockRange{};
  }

  std::unique_ptr<LoaderSession> inner_;
  const CoalesceOptions options_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> held_;
  int64_t held_rows_ = 0;
  int64_t held_bytes_ = 0;
  std::string table_;
  BlockRange range_;
};

}  // namespace

std::unique_ptr<LoaderSession> CoalesceAppends(std::unique_ptr<LoaderSession> inner,
                                               CoalesceOptions options) {
  return std::make_unique<CoalescingSession>(std::move(inner), options);
}

}  // namespace amp::streaming
