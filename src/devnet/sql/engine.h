// The devnet's SQL: the subset of Amp's DataFusion SQL that our users and our own client
// send, parsed into an AST (parser.h) and planned onto Arrow compute.
//
// Supported: SELECT of columns, `*`, `t.*`, expressions with aliases; FROM dataset.table or
// the quoted "_/dataset@1.0.0".table form, FROM (subquery) [AS] alias, WITH name AS (query);
// WHERE with comparisons, AND/OR/NOT, parentheses, [NOT] IN (list), [NOT] BETWEEN,
// IS [NOT] NULL, hex literals (0x..., X'...' or '0x...') against binary columns;
// MIN/MAX/COUNT without GROUP BY; LIMIT/OFFSET; ORDER BY block_num/_block_num (or an alias
// of one) ascending (a no-op: rows are produced in block order); `SETTINGS stream = true`;
// comments (nested /* */ too) and a trailing `;`.
// Anything else is Invalid naming the construct ("JOIN is not supported by the devnet").
//
// A plan reads one source table; the executor consumes that table's full rows (as made by
// devnet/tables.h) in block order and emits output rows.
//
//   AMP_ASSIGN_OR_RETURN(auto plan, sql::PlanQuery(query_text, catalog));
//   BlockBounds bounds = plan->block_bounds();            // skip blocks that cannot match
//   AMP_ASSIGN_OR_RETURN(auto exec, plan->MakeExecutor());
//   for (each source batch in block order, while !exec->done())
//     AMP_ASSIGN_OR_RETURN(auto out, exec->Consume(batch));   // send `out`
//   AMP_ASSIGN_OR_RETURN(auto last, exec->Finish());          // aggregates' row, or 0 rows
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "amp/status.h"

namespace amp::devnet::sql {

/// A table reference as written: dataset (e.g. "eth_firehose", from "_/eth_firehose@1.0.0"
/// too) and table name.
struct TableRef {
  std::string dataset;
  std::string table;
  /// As written in a "namespace/name@revision" schema; empty when not written. The
  /// revision, when present, is a semantic version (the parser rejects anything else).
  std::string namespace_name;
  std::string revision;
};

/// Resolves table references to schemas. KeyError (-> gRPC NOT_FOUND) for unknown ones.
class Catalog {
 public:
  virtual ~Catalog() = default;
  virtual Result<std::shared_ptr<arrow::Schema>> TableSchema(const TableRef& ref) const = 0;
};

/// Inclusive bounds on `_block_num`/`block_num` implied by the query's filters, used to
/// avoid generating rows that cannot match. Conservative: rows outside never match.
/// min > max means that no row can match at all (e.g. `block_num < 0`).
struct BlockBounds {
  uint64_t min = 0;
  uint64_t max = UINT64_MAX;
  bool empty() const { return min > max; }
};

/// Incremental executor of one plan. Not thread-safe; one per DoGet. Every returned batch
/// has the plan's output_schema(). Errors: Invalid if a source batch does not have the
/// source table's schema, or when used after Finish().
class Executor {
 public:
  virtual ~Executor() = default;
  /// Feeds source rows (full source-table schema, block order); returns output rows
  /// (possibly 0 rows). Aggregating plans return nothing until Finish().
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Consume(
      const std::shared_ptr<arrow::RecordBatch>& source_rows) = 0;
  /// Ends the input; returns the aggregate row(s) or a 0-row batch.
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Finish() = 0;
  /// True once a LIMIT is satisfied: no further input can change the output. Finish()
  /// must still be called (an aggregate over a LIMITed subquery emits its row there).
  virtual bool done() const = 0;
};

/// Number of rows the source table has in blocks [first, last] (inclusive) of the snapshot
/// a query runs on; devnet::RowsInBlocks for the devnet's tables.
using RowsInBlocksFn = std::function<uint64_t(uint64_t first, uint64_t last)>;

/// A planned query. Immutable, so one plan may be shared by threads; each DoGet makes its
/// own executor.
class Plan {
 public:
  virtual ~Plan() = default;
  virtual const std::shared_ptr<arrow::Schema>& output_schema() const = 0;
  virtual const TableRef& source_table() const = 0;
  /// `SETTINGS stream = true` (boolean literal true, key case-insensitive).
  virtual bool streaming_setting() const = 0;
  /// Aggregates, LIMIT/OFFSET or ORDER BY anywhere in the query: not incrementalizable,
  /// rejected for streaming (Amp treats a Sort as non-incremental too).
  virtual bool is_incremental() const = 0;
  /// The outermost non-incremental operation, named as Amp names it in "non-incremental
  /// queries are not supported for streaming, query contains non-incremental operation:
  /// `Limit`": "Limit", "Sort" or "Aggregate". nullopt iff is_incremental().
  virtual std::optional<std::string> non_incremental_operation() const = 0;
  virtual BlockBounds block_bounds() const = 0;
  /// Set only with PlanOptions::defer_non_incremental: the devnet cannot run this query
  /// (DISTINCT, GROUP BY, HAVING, an ORDER BY other than block_num ascending), which ampd
  /// would run as a
  /// batch and refuse as a stream. The message to refuse a batch run with; MakeExecutor()
  /// is then Invalid with it, and non_incremental_operation() names the construct.
  virtual std::optional<std::string> batch_refusal() const { return std::nullopt; }
  virtual Result<std::unique_ptr<Executor>> MakeExecutor() const = 0;
  /// An executor that answers without any source row, when the answer only depends on how
  /// many rows each block has: the innermost SELECT aggregates the source table with only
  /// MIN/MAX/COUNT of its block column, COUNT(*) and constants, under a WHERE that is
  /// exactly a block range (or none); outer SELECTs may be anything. Hybrid mode's head
  /// query `SELECT MAX("block_num") AS max_block FROM eth_firehose.logs` is one. The answer
  /// is exact for tables whose blocks may have no rows (rows_in_blocks tells). The
  /// executor is done() from the start (feed it nothing) and Finish() returns the answer;
  /// nullptr when the query has another shape (use MakeExecutor()). `head`: the last block
  /// of the snapshot the query runs on.
  virtual Result<std::unique_ptr<Executor>> MakeRowlessExecutor(
      uint64_t head, const RowsInBlocksFn& rows_in_blocks) const {
    (void)head;
    (void)rows_in_blocks;
    return std::unique_ptr<Executor>();
  }
};

/// Parses and plans `sql`. Invalid (-> INVALID_ARGUMENT) for syntax errors, unsupported
/// constructs (message naming them), unknown columns ("No field named x. Valid fields are
/// ...", a plan error in DataFusion) and type errors (e.g. a hex literal of the wrong
/// width); KeyError (-> NOT_FOUND) for unknown tables, as the catalog reports them.
Result<std::unique_ptr<Plan>> PlanQuery(std::string_view sql, const Catalog& catalog);

struct PlanOptions {
  /// Plan DISTINCT, GROUP BY/HAVING and unsupported ORDER BYs instead of refusing them, so
  /// that a server can refuse them where ampd does: a stream at DoGet as non-incremental
  /// ("Distinct", "Aggregate", "Sort"), a batch query as unsupported (batch_refusal()).
  bool defer_non_incremental = false;
};
Result<std::unique_ptr<Plan>> PlanQuery(std::string_view sql, const Catalog& catalog,
                                        const PlanOptions& options);

}  // namespace amp::devnet::sql
