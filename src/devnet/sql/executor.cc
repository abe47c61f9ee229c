// Runs a chain of stages (stages.h) over source batches with Arrow compute kernels: one
// filter kernel per batch and stage, no per-row loops.
#include <algorithm>
#include <utility>

#include <arrow/array.h>
#include <arrow/array/builder_base.h>
#include <arrow/compute/api_aggregate.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>

#include "devnet/sql/stages.h"

namespace amp::devnet::sql::internal {
namespace {

namespace cp = arrow::compute;

// Per-stage mutable state.
struct StageState {
  uint64_t offset_remaining = 0;
  std::optional<uint64_t> limit_remaining;
  // Aggregates, parallel to Stage::aggregates.
  std::vector<int64_t> counts;
  std::vector<std::shared_ptr<arrow::Scalar>> extremes;  // running MIN or MAX, null = none yet

  bool limit_reached() const { return limit_remaining && *limit_remaining == 0; }
};

Result<std::shared_ptr<arrow::Array>> ToArray(const arrow::Datum& datum, int64_t length) {
  if (datum.is_array()) return datum.make_array();
  if (datum.is_scalar()) return arrow::MakeArrayFromScalar(*datum.scalar(), length);
  return Status::Invalid("SQL engine: expression produced ", datum.ToString(),
                         " instead of an array");
}

// MIN or MAX of `values` (nulls skipped); a null scalar when there is none.
Result<std::shared_ptr<arrow::Scalar>> Extreme(const std::shared_ptr<arrow::Array>& values,
                                               bool want_max) {
  cp::ScalarAggregateOptions options(/*skip_nulls=*/true, /*min_count=*/1);
  AMP_ASSIGN_OR_RETURN(arrow::Datum result, cp::MinMax(values, options));
  const auto& pair = result.scalar_as<arrow::StructScalar>();
  return pair.value[want_max ? 1 : 0];
}

class ChainExecutor final : public Executor {
 public:
  explicit ChainExecutor(std::shared_ptr<const std::vector<Stage>> stages)
      : stages_(std::move(stages)), states_(stages_->size()) {
    for (size_t i = 0; i < stages_->size(); ++i) {
      const Stage& stage = (*stages_)[i];
      StageState& state = states_[i];
      state.offset_remaining = stage.offset;
      state.limit_remaining = stage.limit;
      state.counts.assign(stage.aggregates.size(), 0);
      state.extremes.assign(stage.aggregates.size(), nullptr);
    }
    empty_output_ = arrow::RecordBatch::MakeEmpty(stages_->back().output_schema).ValueOrDie();
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Consume(
      const std::shared_ptr<arrow::RecordBatch>& source_rows) override {
    if (finished_) return Status::Invalid("SQL executor: Consume() after Finish()");
    AMP_RETURN_NOT_OK(CheckSourceSchema(*source_rows));
    if (done()) return empty_output_;
    std::shared_ptr<arrow::RecordBatch> current = source_rows;
    for (size_t i = 0; i < stages_->size(); ++i) {
      if ((*stages_)[i].aggregate) {
        AMP_RETURN_NOT_OK(Accumulate(i, current));
        return empty_output_;
      }
      AMP_ASSIGN_OR_RETURN(current, Process(i, current));
      if (current->num_rows() == 0) return empty_output_;
    }
    return current;
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Finish() override {
    if (finished_) return Status::Invalid("SQL executor: Finish() called twice");
    finished_ = true;
    // Rows an aggregate emits at the end flow through the stages above it.
    std::shared_ptr<arrow::RecordBatch> pending;
    for (size_t i = 0; i < stages_->size(); ++i) {
      const Stage& stage = (*stages_)[i];
      if (stage.aggregate) {
        if (pending) AMP_RETURN_NOT_OK(Accumulate(i, pending));
        AMP_ASSIGN_OR_RETURN(pending, AggregateRow(i));
        pending = ApplyOffsetLimit(i, pending);
      } else if (pending) {
        AMP_ASSIGN_OR_RETURN(pending, Process(i, pending));
      }
    }
    return pending ? pending : empty_output_;
  }

  bool done() const override {
    for (const StageState& state : states_) {
      if (state.limit_reached()) return true;
    }
    return false;
  }

 private:
  Status CheckSourceSchema(const arrow::RecordBatch& batch) {
    const auto& schema = batch.schema();
    if (schema == last_checked_schema_) return Status::OK();
    const auto& expected = stages_->front().input_schema;
    if (!schema->Equals(*expected, /*check_metadata=*/false)) {
      return Status::Invalid("SQL executor: source batch schema ", schema->ToString(),
                             " differs from the planned table schema ", expected->ToString());
    }
    last_checked_schema_ = schema;
    return Status::OK();
  }

  // The stage's narrow columns of the rows of `batch` that pass its WHERE.
  Result<std::shared_ptr<arrow::RecordBatch>> FilterNarrow(
      const Stage& stage, const std::shared_ptr<arrow::RecordBatch>& batch) {
    arrow::ArrayVector columns;
    columns.reserve(stage.narrow_indices.size());
    for (int index : stage.narrow_indices) columns.push_back(batch->column(index));
    auto narrow = arrow::RecordBatch::Make(stage.narrow_schema, batch->num_rows(),
                                           std::move(columns));
    if (!stage.filter) return narrow;

    AMP_ASSIGN_OR_RETURN(arrow::Datum mask,
                         cp::ExecuteScalarExpression(*stage.filter, cp::ExecBatch(*batch)));
    if (mask.is_scalar()) {
      const auto& keep = mask.scalar_as<arrow::BooleanScalar>();
      return (keep.is_valid && keep.value) ? narrow : narrow->Slice(0, 0);
    }
    auto bits = std::static_pointer_cast<arrow::BooleanArray>(mask.make_array());
    const int64_t selected = bits->true_count();  // null = not selected, as in SQL
    if (selected == narrow->num_rows()) return narrow;
    if (selected == 0) return narrow->Slice(0, 0);
    if (narrow->num_columns() == 0) {
      return arrow::RecordBatch::Make(stage.narrow_schema, selected, arrow::ArrayVector{});
    }
    AMP_ASSIGN_OR_RETURN(arrow::Datum filtered,
                         cp::Filter(narrow, mask, cp::FilterOptions::Defaults()));
    return filtered.record_batch();
  }

  std::shared_ptr<arrow::RecordBatch> ApplyOffsetLimit(size_t i,
                                                       std::shared_ptr<arrow::RecordBatch> rows) {
    StageState& state = states_[i];
    if (state.offset_remaining > 0) {
      int64_t skip = static_cast<int64_t>(
          std::min<uint64_t>(state.offset_remaining, static_cast<uint64_t>(rows->num_rows())));
      rows = rows->Slice(skip);
      state.offset_remaining -= static_cast<uint64_t>(skip);
    }
    if (state.limit_remaining) {
      int64_t take = static_cast<int64_t>(
          std::min<uint64_t>(*state.limit_remaining, static_cast<uint64_t>(rows->num_rows())));
      if (take < rows->num_rows()) rows = rows->Slice(0, take);
      *state.limit_remaining -= static_cast<uint64_t>(take);
    }
    return rows;
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Process(
      size_t i, const std::shared_ptr<arrow::RecordBatch>& batch) {
    const Stage& stage = (*stages_)[i];
    if (states_[i].limit_reached()) return arrow::RecordBatch::MakeEmpty(stage.output_schema);
    AMP_ASSIGN_OR_RETURN(auto narrow, FilterNarrow(stage, batch));
    narrow = ApplyOffsetLimit(i, std::move(narrow));
    const int64_t rows = narrow->num_rows();
    arrow::ArrayVector columns;
    columns.reserve(stage.outputs.size());
    std::optional<cp::ExecBatch> exec_batch;
    for (const StageOutput& output : stage.outputs) {
      if (output.narrow_index >= 0) {
        columns.push_back(narrow->column(output.narrow_index));
        continue;
      }
      if (!exec_batch) exec_batch.emplace(*narrow);
      AMP_ASSIGN_OR_RETURN(arrow::Datum value,
                           cp::ExecuteScalarExpression(output.expr, *exec_batch));
      AMP_ASSIGN_OR_RETURN(auto column, ToArray(value, rows));
      columns.push_back(std::move(column));
    }
    return arrow::RecordBatch::Make(stage.output_schema, rows, std::move(columns));
  }

  Status Accumulate(size_t i, const std::shared_ptr<arrow::RecordBatch>& batch) {
    const Stage& stage = (*stages_)[i];
    StageState& state = states_[i];
    AMP_ASSIGN_OR_RETURN(auto narrow, FilterNarrow(stage, batch));
    const int64_t rows = narrow->num_rows();
    if (rows == 0) return Status::OK();
    std::optional<cp::ExecBatch> exec_batch;
    for (size_t k = 0; k < stage.aggregates.size(); ++k) {
      const StageAggregate& agg = stage.aggregates[k];
      if (agg.kind == AggregateKind::kConstant) continue;
      if (agg.kind == AggregateKind::kCountStar) {
        state.counts[k] += rows;
        continue;
      }
      std::shared_ptr<arrow::Array> values;
      if (agg.narrow_index >= 0) {
        values = narrow->column(agg.narrow_index);
      } else {
        if (!exec_batch) exec_batch.emplace(*narrow);
        AMP_ASSIGN_OR_RETURN(arrow::Datum value, cp::ExecuteScalarExpression(agg.arg, *exec_batch));
        AMP_ASSIGN_OR_RETURN(values, ToArray(value, rows));
      }
      if (agg.kind == AggregateKind::kCount) {
        state.counts[k] += values->length() - values->null_count();
        continue;
      }
      const bool want_max = agg.kind == AggregateKind::kMax;
      AMP_ASSIGN_OR_RETURN(auto candidate, Extreme(values, want_max));
      if (!candidate->is_valid) continue;
      auto& running = state.extremes[k];
      if (!running) {
        running = std::move(candidate);
        continue;
      }
      // Combine with the same kernel, so the order is exactly Arrow's for every type.
      AMP_ASSIGN_OR_RETURN(auto builder, arrow::MakeBuilder(running->type));
      AMP_RETURN_NOT_OK(builder->AppendScalar(*running));
      AMP_RETURN_NOT_OK(builder->AppendScalar(*candidate));
      AMP_ASSIGN_OR_RETURN(auto pair, builder->Finish());
      AMP_ASSIGN_OR_RETURN(running, Extreme(pair, want_max));
    }
    return Status::OK();
  }

  Result<std::shared_ptr<arrow::RecordBatch>> AggregateRow(size_t i) {
    const Stage& stage = (*stages_)[i];
    const StageState& state = states_[i];
    arrow::ArrayVector columns;
    for (size_t k = 0; k < stage.aggregates.size(); ++k) {
      const StageAggregate& agg = stage.aggregates[k];
      std::shared_ptr<arrow::Scalar> value;
      switch (agg.kind) {
        case AggregateKind::kCountStar:
        case AggregateKind::kCount:
          value = std::make_shared<arrow::Int64Scalar>(state.counts[k]);
          break;
        case AggregateKind::kMin:
        case AggregateKind::kMax:
          value = state.extremes[k] ? state.extremes[k]
                                    : arrow::MakeNullScalar(
                                          stage.output_schema->field(static_cast<int>(k))->type());
          break;
        case AggregateKind::kConstant:
          value = agg.constant;
          break;
      }
      AMP_ASSIGN_OR_RETURN(auto column, arrow::MakeArrayFromScalar(*value, 1));
      columns.push_back(std::move(column));
    }
    return arrow::RecordBatch::Make(stage.output_schema, 1, std::move(columns));
  }

  std::shared_ptr<const std::vector<Stage>> stages_;
  std::vector<StageState> states_;
  std::shared_ptr<arrow::RecordBatch> empty_output_;
  std::shared_ptr<arrow::Schema> last_checked_schema_;  // kept alive: compared by address
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<Executor> MakeChainExecutor(std::shared_ptr<const std::vector<Stage>> stages) {
  return std::make_unique<ChainExecutor>(std::move(stages));
}

}  // namespace amp::devnet::sql::internal
