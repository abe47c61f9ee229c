// The devnet's SQL engine runs what the parallel loader sends (src/parallel/query_rewrite.h):
// wrapped partition queries over bodies with WHERE/OR, subqueries, CTEs, aliases, hex
// literals and comments; each partition generates only its own blocks; and the union of
// the partitions equals the unpartitioned result row for row. Also the hybrid head query
// (MAX of the block column), answered from row counts without generating any row.
//
// Queries run in-process against a real devnet chain: the helper below feeds generated
// rows to the executor exactly as the Flight server does for a batch query (blocks
// [bounds.min, min(bounds.max, head)] in chunks, stopping once done()).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include <arrow/api.h>

#include "devnet/chain.h"
#include "devnet/sql/engine.h"
#include "devnet/sql/sql_test_util.h"
#include "devnet/tables.h"
#include "parallel/partition_planner.h"
#include "parallel/query_rewrite.h"

namespace amp::devnet::sql {
namespace {

using ::testing::HasSubstr;

#define PT_ASSIGN_OR_FAIL(lhs, rexpr)                                      \
  auto PT_CONCAT(_r_, __LINE__) = (rexpr);                                 \
  ASSERT_TRUE(PT_CONCAT(_r_, __LINE__).ok())                               \
      << #rexpr << ": " << PT_CONCAT(_r_, __LINE__).status().ToString();   \
  lhs = std::move(PT_CONCAT(_r_, __LINE__)).ValueOrDie()
#define PT_CONCAT_INNER(a, b) a##b
#define PT_CONCAT(a, b) PT_CONCAT_INNER(a, b)

class ChainCatalog : public Catalog {
 public:
  Result<std::shared_ptr<arrow::Schema>> TableSchema(const TableRef& ref) const override {
    if (ref.dataset != kDatasetName) return Status::KeyError("dataset ", ref.dataset);
    auto id = TableFromName(ref.table);
    if (!id.ok()) return Status::KeyError(id.status().message());
    return devnet::TableSchema(*id);
  }
};

struct RunResult {
  std::shared_ptr<arrow::Table> table;
  uint64_t blocks_generated = 0;
  uint64_t rows_generated = 0;
  BlockBounds bounds;
};

// Runs `sql` as the devnet server runs a batch query over `snapshot`.
Result<RunResult> RunOnChain(const std::string& sql, const ChainSnapshot& snapshot,
                      bool allow_rowless = true, uint64_t chunk_blocks = 50) {
  ChainCatalog catalog;
  AMP_ASSIGN_OR_RETURN(auto plan, PlanQuery(sql, catalog));
  AMP_ASSIGN_OR_RETURN(TableId table, TableFromName(plan->source_table().table));
  RunResult result;
  result.bounds = plan->block_bounds();
  const uint64_t head = snapshot.head();
  std::unique_ptr<Executor> executor;
  if (allow_rowless) {
    AMP_ASSIGN_OR_RETURN(executor, plan->MakeRowlessExecutor(head, [&](uint64_t a, uint64_t b) {
      return RowsInBlocks(table, snapshot.options(), a, b);
    }));
  }
  if (executor == nullptr) {
    AMP_ASSIGN_OR_RETURN(executor, plan->MakeExecutor());
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  const BlockBounds& bounds = result.bounds;
  if (!bounds.empty() && bounds.min <= head) {
    const uint64_t last = std::min(bounds.max, head);
    for (uint64_t lo = bounds.min; lo <= last && !executor->done();) {
      const uint64_t hi = std::min(last, lo + chunk_blocks - 1);
      AMP_ASSIGN_OR_RETURN(auto rows, GenerateRows(table, snapshot, lo, hi));
      result.blocks_generated += hi - lo + 1;
      result.rows_generated += static_cast<uint64_t>(rows->num_rows());
      AMP_ASSIGN_OR_RETURN(auto batch, executor->Consume(rows));
      out.push_back(batch);
      if (hi == last) break;
      lo = hi + 1;
    }
  }
  AMP_ASSIGN_OR_RETURN(auto last_rows, executor->Finish());
  out.push_back(last_rows);
  AMP_ASSIGN_OR_RETURN(result.table, arrow::Table::FromRecordBatches(plan->output_schema(), out));
  return result;
}

ChainOptions TestChain() {
  ChainOptions o;
  o.seed = 7;
  o.history = 400;  // blocks 0..399
  o.block_time_ms = 0;
  o.txs_per_block = 3;
  o.logs_per_block = 5;
  return o;
}


struct Body {
  const char* sql;
  const char* block_column = "block_num";
};

std::vector<Body> Bodies() {
  return {
      {"SELECT * FROM eth_firehose.blocks"},
      {"SELECT block_num, log_index, address, topic0 FROM eth_firehose.logs "
       "WHERE topic0 = x'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef' "
       "OR log_index = 0"},
      {"SELECT t.block_num, t.tx_hash, t.tx_index FROM (SELECT * FROM eth_firehose.transactions "
       "WHERE tx_index < 2) AS t WHERE t.tx_index = 1 OR t.block_num < 50"},
      {"WITH l AS (SELECT block_num, log_index, topic0 FROM eth_firehose.logs WHERE topic0 IS "
       "NOT NULL) SELECT * FROM l WHERE log_index BETWEEN 1 AND 3"},
      {"SELECT b.block_num, b.hash AS block_hash FROM eth_firehose.blocks AS b "
       "WHERE b.block_num NOT IN (3, 5, 7, 250) AND b.hash != "
       "0x0000000000000000000000000000000000000000000000000000000000000000"},
      {"/* leading */ SELECT block_num, -- the number\n hash FROM eth_firehose.blocks -- end"},
      {"SELECT _block_num, log_index FROM eth_firehose.logs WHERE log_index > 2", "_block_num"},
      {"SELECT _block_num AS block_num, tx_index FROM eth_firehose.transactions"},
      {"SELECT * FROM eth_firehose.logs WHERE block_num >= 120 AND block_num < 333 "
       "SETTINGS stream = true"},
      {"SELECT \"block_num\", \"log_index\" FROM \"_/eth_firehose@1.0.0\".\"logs\" "
       "WHERE (\"log_index\" = 1 OR \"log_index\" = 4) AND \"block_num\" > 10"},
      {"SELECT block_num, hash FROM eth_firehose.blocks SETTINGS STREAM = True, foo = 1;"},
      {"(SELECT block_num, tx_hash FROM eth_firehose.transactions) ORDER BY block_num"},
      {"SELECT l.* FROM eth_firehose.logs l WHERE l.topic0 = "
       "'0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef' OR l.log_index = 2"},
  };
}

TEST(SqlParallelTest, UnionOfPartitionsEqualsTheUnpartitionedResult) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  const uint64_t head = snapshot->head();
  for (const Body& body : Bodies()) {
    SCOPED_TRACE(body.sql);
    parallel::SplitQuery split;
    PT_ASSIGN_OR_FAIL(split, parallel::SplitSettings(body.sql));
    ASSERT_TRUE(parallel::CheckPartitionable(split).ok());
    RunResult whole;
    PT_ASSIGN_OR_FAIL(whole, RunOnChain(split.body, *snapshot));
    ASSERT_GT(whole.table->num_rows(), 0);
    // Several partitionings: seed default with 4 workers, an odd size, one block each
    // near the top, and a plan with already-loaded holes (covered by a second plan).
    std::vector<std::vector<PartitionPlan>> plans = {
        parallel::PlanPartitions({{0, head + 1}}, 4, std::nullopt),
        parallel::PlanPartitions({{0, head + 1}}, 3, 37),
        parallel::PlanPartitions({{0, head - 2}, {head - 2, head + 1}}, 2, 1)};
    plans[2].erase(plans[2].begin(), plans[2].end() - 3);
    plans[2].insert(plans[2].begin(), PartitionPlan{0, 0, head - 2, ""});
    for (const auto& plan : plans) {
      std::vector<std::shared_ptr<arrow::Table>> parts;
      uint64_t generated = 0;
      for (const PartitionPlan& p : plan) {
        std::string q = parallel::PartitionQuery(split, body.block_column, p.start, p.end);
        RunResult r;
        PT_ASSIGN_OR_FAIL(r, RunOnChain(q, *snapshot));
        generated += r.blocks_generated;
        // Block bounds reach through the wrapper: only the partition's blocks (or fewer,
        // when the body narrows them further) are generated.
        if (!r.bounds.empty()) {
          EXPECT_GE(r.bounds.min, p.start) << q;
          EXPECT_LT(r.bounds.max, p.end) << q;
        }
        EXPECT_LE(r.blocks_generated, p.end - p.start) << q;
        for (uint64_t b : testing::ColumnU64(*r.table, body.block_column)) {
          ASSERT_GE(b, p.start);
          ASSERT_LT(b, p.end);
        }
        parts.push_back(r.table);
      }
      EXPECT_LE(generated, head + 1);
      std::shared_ptr<arrow::Table> joined;
      PT_ASSIGN_OR_FAIL(joined, arrow::ConcatenateTables(parts));
      ASSERT_EQ(joined->num_rows(), whole.table->num_rows());
      EXPECT_TRUE(joined->schema()->Equals(*whole.table->schema()));
      EXPECT_TRUE(joined->Equals(*whole.table)) << "partitioned result differs";
    }
  }
}

TEST(SqlParallelTest, PartitionQueryGeneratesOnlyItsBlocks) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  for (const Body& body : Bodies()) {
    SCOPED_TRACE(body.sql);
    auto split = parallel::SplitSettings(body.sql);
    ASSERT_TRUE(split.ok());
    std::string q = parallel::PartitionQuery(*split, body.block_column, 200, 210);
    RunResult r;
    PT_ASSIGN_OR_FAIL(r, RunOnChain(q, *snapshot));
    EXPECT_GE(r.bounds.min, 200u);
    EXPECT_LE(r.bounds.max, 209u);
    EXPECT_LE(r.blocks_generated, 10u);
  }
  // The top partition of a huge range, and one past the head, generate nothing beyond it.
  auto split = parallel::SplitSettings("SELECT * FROM eth_firehose.logs");
  ASSERT_TRUE(split.ok());
  RunResult r;
  PT_ASSIGN_OR_FAIL(r, RunOnChain(parallel::PartitionQuery(*split, "block_num", 398,
                                                    18446744073709551615ull),
                           *snapshot));
  EXPECT_EQ(r.blocks_generated, 2u);
  EXPECT_EQ(testing::ColumnU64(*r.table, "block_num").front(), 398u);
  PT_ASSIGN_OR_FAIL(r, RunOnChain(parallel::PartitionQuery(*split, "block_num", 1000, 2000), *snapshot));
  EXPECT_EQ(r.blocks_generated, 0u);
  EXPECT_EQ(r.table->num_rows(), 0);
}

TEST(SqlParallelTest, WrappedRowsAreInBlockOrderWithExactBoundaries) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  auto split = parallel::SplitSettings("SELECT block_num, log_index FROM eth_firehose.logs");
  ASSERT_TRUE(split.ok());
  RunResult r;
  PT_ASSIGN_OR_FAIL(r, RunOnChain(parallel::PartitionQuery(*split, "block_num", 10, 12), *snapshot));
  EXPECT_EQ(testing::ColumnU64(*r.table, "block_num"),
            (std::vector<uint64_t>{10, 10, 10, 10, 10, 11, 11, 11, 11, 11}));
  EXPECT_EQ(r.table->num_columns(), 2);
}

TEST(SqlParallelTest, LimitInsideSubqueryIsNotPushedDown) {
  // The subquery's LIMIT picks the first 10 rows of the whole table; the wrapper's block
  // filter must apply after it, not narrow it.
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  auto split = parallel::SplitSettings(
      "SELECT * FROM (SELECT block_num, log_index FROM eth_firehose.logs LIMIT 10) AS x");
  ASSERT_TRUE(split.ok());
  RunResult r;
  PT_ASSIGN_OR_FAIL(r, RunOnChain(parallel::PartitionQuery(*split, "block_num", 1, 3), *snapshot));
  EXPECT_EQ(testing::ColumnU64(*r.table, "block_num"), (std::vector<uint64_t>{1, 1, 1, 1, 1}));
}

TEST(SqlParallelTest, HeadQueryNeedsNoRows) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  for (const char* table : {"eth_firehose.blocks", "eth_firehose.logs",
                            "eth_firehose.transactions"}) {
    SCOPED_TRACE(table);
    for (const char* column : {"block_num", "_block_num"}) {
      std::string q;
      PT_ASSIGN_OR_FAIL(q, parallel::HeadQuery(table, column));
      RunResult fast, slow;
      PT_ASSIGN_OR_FAIL(fast, RunOnChain(q, *snapshot));
      PT_ASSIGN_OR_FAIL(slow, RunOnChain(q, *snapshot, /*allow_rowless=*/false));
      EXPECT_EQ(fast.rows_generated, 0u);
      EXPECT_GT(slow.rows_generated, 0u);
      EXPECT_EQ(testing::ColumnU64(*fast.table, "max_block"), (std::vector<uint64_t>{399}));
      EXPECT_TRUE(fast.table->Equals(*slow.table));
    }
  }
}

TEST(SqlParallelTest, BlockHashQuery) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  std::string q;
  PT_ASSIGN_OR_FAIL(q, parallel::BlockHashQuery("eth_firehose.blocks", 123));
  RunResult r;
  PT_ASSIGN_OR_FAIL(r, RunOnChain(q, *snapshot));
  EXPECT_EQ(r.blocks_generated, 1u);
  ASSERT_EQ(r.table->num_rows(), 1);
  EXPECT_EQ(testing::ColumnU64(*r.table, "block_num"), (std::vector<uint64_t>{123}));
  auto hash = std::static_pointer_cast<arrow::FixedSizeBinaryArray>(
      r.table->GetColumnByName("hash")->chunk(0));
  ASSERT_EQ(hash->byte_width(), 32);
  BlockHash got;
  std::memcpy(got.bytes.data(), hash->GetValue(0), 32);
  EXPECT_EQ(got, snapshot->hash(123));
}


// Rowless answers equal executed ones, also when some blocks have no rows: here rows
// exist only in blocks 5..9 and 20..22 (2 per block) of a fake logs table.
TEST(SqlParallelTest, RowlessAnswersMatchExecution) {
  const std::vector<std::pair<uint64_t, uint64_t>> filled = {{5, 9}, {20, 22}};
  auto rows_in = [&](uint64_t a, uint64_t b) {
    uint64_t n = 0;
    for (auto [lo, hi] : filled) {
      const uint64_t x = std::max(a, lo), y = std::min(b, hi);
      if (x <= y) n += 2 * (y - x + 1);
    }
    return n;
  };
  struct Case {
    std::string sql;
    bool rowless;
  };
  const std::vector<Case> cases = {
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs", true},
      {"SELECT MIN(_block_num) AS lo, MAX(\"block_num\") AS hi, COUNT(*) AS n, "
       "COUNT(block_num) AS c, 7 AS seven FROM eth_firehose.logs",
       true},
      {"SELECT MAX(block_num) AS m, COUNT(*) AS n FROM eth_firehose.logs WHERE block_num < 15",
       true},
      {"SELECT MIN(block_num) AS m, COUNT(*) AS n FROM eth_firehose.logs WHERE block_num >= 10 "
       "AND block_num <= 19",
       true},
      {"SELECT MIN(block_num) AS m FROM eth_firehose.logs WHERE NOT (block_num < 7)", true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE NOT (block_num < 7 OR "
       "block_num > 21)",
       true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE block_num BETWEEN 6 AND 100",
       true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE block_num = NULL", true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE block_num > -1", true},
      {"SELECT * FROM (SELECT MAX(block_num) AS m FROM eth_firehose.logs) t WHERE m > 20", true},
      {"SELECT * FROM (SELECT MAX(block_num) AS m FROM eth_firehose.logs) t WHERE m > 30", true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs LIMIT 0", true},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs OFFSET 1", true},
      // Not answerable from row counts: executed as usual.
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE block_num < 6 OR block_num > 21",
       false},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE block_num != 22", false},
      {"SELECT MAX(block_num) AS m FROM eth_firehose.logs WHERE log_index = 0", false},
      {"SELECT MAX(log_index) AS m FROM eth_firehose.logs", false},
      {"SELECT MAX(block_num) AS m FROM (SELECT * FROM eth_firehose.logs WHERE block_num < 8) s",
       false},
      {"SELECT block_num FROM eth_firehose.logs", false},
  };
  testing::FakeCatalog catalog;
  for (uint64_t head : {30u, 21u, 7u, 3u}) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    for (auto [lo, hi] : filled) {
      if (lo <= head) batches.push_back(testing::MakeLogRange(lo, std::min(hi, head), 2));
    }
    for (const Case& c : cases) {
      SCOPED_TRACE(c.sql + " head " + std::to_string(head));
      std::unique_ptr<Plan> plan;
      PT_ASSIGN_OR_FAIL(plan, PlanQuery(c.sql, catalog));
      std::unique_ptr<Executor> rowless;
      PT_ASSIGN_OR_FAIL(rowless, plan->MakeRowlessExecutor(head, rows_in));
      ASSERT_EQ(rowless != nullptr, c.rowless);
      if (!rowless) continue;
      EXPECT_TRUE(rowless->done());
      std::shared_ptr<arrow::RecordBatch> fast;
      PT_ASSIGN_OR_FAIL(fast, rowless->Finish());
      EXPECT_FALSE(rowless->Finish().ok());
      std::shared_ptr<arrow::Table> slow;
      PT_ASSIGN_OR_FAIL(slow, testing::RunQuery(c.sql, batches));
      std::shared_ptr<arrow::Table> fast_table;
      PT_ASSIGN_OR_FAIL(fast_table, arrow::Table::FromRecordBatches({fast}));
      EXPECT_TRUE(fast->schema()->Equals(*plan->output_schema()));
      EXPECT_TRUE(fast_table->Equals(*slow)) << "rowless:\n"
                                             << fast_table->ToString() << "executed:\n"
                                             << slow->ToString();
    }
  }
  // Spot-check a value, so equal-but-wrong answers of both paths cannot pass.
  std::unique_ptr<Plan> plan;
  PT_ASSIGN_OR_FAIL(plan, PlanQuery("SELECT MAX(block_num) AS m, COUNT(*) AS n FROM "
                                    "eth_firehose.logs WHERE block_num < 15",
                                    catalog));
  std::unique_ptr<Executor> exec;
  PT_ASSIGN_OR_FAIL(exec, plan->MakeRowlessExecutor(30, rows_in));
  std::shared_ptr<arrow::RecordBatch> row;
  PT_ASSIGN_OR_FAIL(row, exec->Finish());
  ASSERT_EQ(row->num_rows(), 1);
  EXPECT_EQ(row->column(0)->GetScalar(0).ValueOrDie()->ToString(), "9");
  EXPECT_EQ(row->column(1)->GetScalar(0).ValueOrDie()->ToString(), "10");
}

TEST(SqlParallelTest, HeadQueryOnATableWithoutRows) {
  ChainOptions options = TestChain();
  options.txs_per_block = 0;  // no transactions, hence no logs
  Chain chain(options);
  auto snapshot = chain.Snapshot();
  std::string q;
  PT_ASSIGN_OR_FAIL(q, parallel::HeadQuery("eth_firehose.logs", "block_num"));
  RunResult fast, slow;
  PT_ASSIGN_OR_FAIL(fast, RunOnChain(q, *snapshot));
  PT_ASSIGN_OR_FAIL(slow, RunOnChain(q, *snapshot, /*allow_rowless=*/false));
  ASSERT_EQ(fast.table->num_rows(), 1);
  EXPECT_EQ(fast.table->GetColumnByName("max_block")->null_count(), 1);
  EXPECT_TRUE(fast.table->Equals(*slow.table));
}

TEST(SqlParallelTest, CommentsAnywhere) {
  Chain chain(TestChain());
  auto snapshot = chain.Snapshot();
  RunResult r;
  PT_ASSIGN_OR_FAIL(
      r, RunOnChain("-- head\nSELECT /* a */ * FROM ( /* b */ SELECT block_num, -- c\n hash "
                    "FROM /* d /* nested */ */ eth_firehose.blocks -- e\n WHERE /* f */ "
                    "block_num < 5 -- g\n) AS _amp_partition WHERE \"block_num\" >= 2 /* h */ "
                    "ORDER BY \"block_num\" -- tail",
                    *snapshot));
  EXPECT_EQ(testing::ColumnU64(*r.table, "block_num"), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(r.blocks_generated, 3u);
}

}  // namespace
}  // namespace amp::devnet::sql
