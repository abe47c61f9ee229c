// Internal to the SQL engine: the physical form of a plan, shared by the planner
// (planner.cc builds it) and the executor (executor.cc runs it).
//
// A plan is a chain of stages, innermost first; stage 0 reads the source table's rows and
// stage i+1 reads stage i's output. One stage is one SELECT level:
//
//   input -> WHERE filter -> (keep only the "narrow" columns the outputs need)
//         -> OFFSET/LIMIT -> projection                         (plain stage)
//   input -> WHERE filter -> accumulate; at Finish one row -> OFFSET/LIMIT  (aggregate stage)
//
// All expressions are Arrow compute expressions, bound at plan time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <arrow/compute/expression.h>
#include <arrow/scalar.h>
#include <arrow/type.h>

#include "amp/status.h"
#include "devnet/sql/engine.h"

namespace amp::devnet::sql::internal {

/// One output column of a plain stage.
struct StageOutput {
  /// >= 0: the narrow column at this index passes through unchanged (no copy).
  int narrow_index = -1;
  /// Otherwise: evaluated on the narrow batch (bound to Stage::narrow_schema).
  arrow::compute::Expression expr;
};

enum class AggregateKind { kCountStar, kCount, kMin, kMax, kConstant };

/// One output column of an aggregate stage.
struct StageAggregate {
  AggregateKind kind = AggregateKind::kCountStar;
  /// Argument of kCount/kMin/kMax: a narrow column (>= 0) or an expression bound to the
  /// narrow schema.
  int narrow_index = -1;
  arrow::compute::Expression arg;
  /// kConstant: the value (a literal select item next to aggregates).
  std::shared_ptr<arrow::Scalar> constant;
};

struct Stage {
  std::shared_ptr<arrow::Schema> input_schema;
  /// WHERE, bound to input_schema; absent = keep every row.
  std::optional<arrow::compute::Expression> filter;
  /// Input columns that outputs (or aggregate arguments) read, and their schema.
  std::vector<int> narrow_indices;
  std::shared_ptr<arrow::Schema> narrow_schema;

  bool aggregate = false;
  std::vector<StageOutput> outputs;        // plain stage
  std::vector<StageAggregate> aggregates;  // aggregate stage

  std::optional<uint64_t> limit;
  uint64_t offset = 0;
  std::shared_ptr<arrow::Schema> output_schema;
};

/// Makes the executor of a chain of stages (innermost first, non-empty).
std::unique_ptr<Executor> MakeChainExecutor(std::shared_ptr<const std::vector<Stage>> stages);

}  // namespace amp::devnet::sql::internal
