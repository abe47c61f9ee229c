#include "load/batch_coalescer.h"

#include <arrow/array/builder_base.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace amp::streaming {
namespace {

// Types whose builders append ArraySpans (AppendArraySlice): everything Amp serves.
// Others (dictionaries, unions, views, extensions) pass through uncoalesced.
bool Appendable(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::NA:
    case arrow::Type::BOOL:
    case arrow::Type::UINT8:
    case arrow::Type::INT8:
    case arrow::Type::UINT16:
    case arrow::Type::INT16:
    case arrow::Type::UINT32:
    case arrow::Type::INT32:
    case arrow::Type::UINT64:
    case arrow::Type::INT64:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::FIXED_SIZE_BINARY:
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
    case arrow::Type::DURATION:
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256:
      return true;
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST:
    case arrow::Type::STRUCT:
    case arrow::Type::MAP:
      for (const auto& child : type.fields()) {
        if (!Appendable(*child->type())) return false;
      }
      return true;
    default:
      return false;
  }
}

// The bytes of the batch's buffers, counted without arrow::util::TotalBufferSize's
// de-duplication (a hash set per call, too slow per one-row message); a buffer shared by
// two columns counts twice, which only makes the limit stricter.
int64_t BufferBytes(const arrow::RecordBatch& batch) {
  int64_t bytes = 0;
  std::vector<const arrow::ArrayData*> pending;
  for (const auto& column : batch.column_data()) pending.push_back(column.get());
  while (!pending.empty()) {
    const arrow::ArrayData* data = pending.back();
    pending.pop_back();
    for (const auto& buffer : data->buffers) {
      if (buffer != nullptr) bytes += buffer->size();
    }
    for (const auto& child : data->child_data) pending.push_back(child.get());
  }
  return bytes;
}

// Held rows are copied into one builder per column as each batch arrives (while it is
// still in cache, and so that the message's buffers are freed at once); a flush finishes
// the builders into one batch.
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
    if (held_rows_ > 0 && !Joins(table, batch, microbatch)) AMP_RETURN_NOT_OK(Flush());
    if (rows == 0 || rows >= options_.pass_rows || !Coalescible(batch.schema())) {
      AMP_RETURN_NOT_OK(Flush());
      return inner_->Append(table, batch, microbatch);
    }
    if (held_rows_ == 0) {
      AMP_RETURN_NOT_OK(Start(table, batch.schema(), microbatch));
    } else {
      // Only reached for merged microbatches when rows carry their blocks: the span is
      // informational then (loaders tag each row with its own block).
      range_.start = std::min(range_.start, microbatch.start);
      range_.end = std::max(range_.end, microbatch.end);
      range_.hash = microbatch.hash;
    }
    for (int c = 0; c < batch.num_columns(); ++c) {
      Status st = builders_[static_cast<size_t>(c)]->AppendArraySlice(
          arrow::ArraySpan(*batch.column_data(c)), 0, rows);
      if (!st.ok()) {
        Drop();  // the columns would no longer line up
        return st;
      }
    }
    held_rows_ += rows;
    held_bytes_ += BufferBytes(batch);
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
  // Whether the batches of `schema` can be held (answer cached per schema object).
  bool Coalescible(const std::shared_ptr<arrow::Schema>& schema) {
    if (schema != checked_schema_) {
      checked_schema_ = schema;
      checked_ok_ = std::all_of(schema->fields().begin(), schema->fields().end(),
                                [](const auto& f) { return Appendable(*f->type()); });
    }
    return checked_ok_;
  }

  Status Start(const std::string& table, const std::shared_ptr<arrow::Schema>& schema,
               const BlockRange& microbatch) {
    table_ = table;
    range_ = microbatch;
    if (schema != schema_) {
      schema_ = schema;
      builders_.clear();
      for (const auto& field : schema->fields()) {
        std::unique_ptr<arrow::ArrayBuilder> builder;
        AMP_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), field->type(), &builder));
        builders_.push_back(std::move(builder));
      }
    }
    return Status::OK();
  }

  bool Joins(const std::string& table, const arrow::RecordBatch& batch,
             const BlockRange& microbatch) const {
    if (table != table_) return false;
    // A stream's batches share one schema object: compare fields only when they do not.
    if (batch.schema() != schema_ && !batch.schema()->Equals(*schema_, /*check_metadata=*/false)) return false;
    if (options_.rows_carry_blocks) return microbatch.network == range_.network;
    return microbatch == range_;
  }

  // Appends what is held as one batch.
  Status Flush() {
    if (held_rows_ == 0) return Status::OK();
    arrow::ArrayVector columns;
    for (auto& builder : builders_) {
      std::shared_ptr<arrow::Array> column;
      Status st = builder->Finish(&column);  // also resets the builder for the next batch
      if (!st.ok()) {
        Drop();
        return st;
      }
      columns.push_back(std::move(column));
    }
    auto merged = arrow::RecordBatch::Make(schema_, held_rows_, std::move(columns));
    const std::string table = std::move(table_);
    const BlockRange range = std::move(range_);
    Drop();
    return inner_->Append(table, *merged, range);
  }

  void Drop() {
    if (held_rows_ > 0) {
      for (auto& builder : builders_) builder->Reset();
    }
    held_rows_ = 0;
    held_bytes_ = 0;
    table_.clear();
    range_ = BlockRange{};
  }

  std::unique_ptr<LoaderSession> inner_;
  const CoalesceOptions options_;
  std::shared_ptr<arrow::Schema> schema_;  ///< Of the builders (kept across flushes).
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders_;
  std::shared_ptr<arrow::Schema> checked_schema_;
  bool checked_ok_ = false;
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
