// Test helpers for the SQL engine: a fake catalog with Amp-like table schemas, a builder
// for hand-made source batches, and a runner that plans + executes a query and returns
// the output as one table. Independent of devnet/tables.h on purpose.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "devnet/sql/engine.h"

#define SQL_ASSERT_OK(expr)                               \
  do {                                                    \
    auto _st = (expr);                                    \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

#define SQL_CONCAT_INNER(a, b) a##b
#define SQL_CONCAT(a, b) SQL_CONCAT_INNER(a, b)
#define SQL_ASSIGN_OR_FAIL(lhs, rexpr)                                               \
  auto SQL_CONCAT(_result_, __LINE__) = (rexpr);                                     \
  ASSERT_TRUE(SQL_CONCAT(_result_, __LINE__).ok())                                   \
      << #rexpr << ": " << SQL_CONCAT(_result_, __LINE__).status().ToString();       \
  lhs = std::move(SQL_CONCAT(_result_, __LINE__)).ValueOrDie()

namespace amp::devnet::sql::testing {

inline std::shared_ptr<arrow::DataType> TimestampType() {
  return arrow::timestamp(arrow::TimeUnit::NANO, "+00:00");
}

/// eth_firehose.logs-like table with one column of each type the engine must handle.
inline std::shared_ptr<arrow::Schema> LogsSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("log_index", arrow::uint32(), true),
      arrow::field("hash", arrow::fixed_size_binary(32), false),
      arrow::field("address", arrow::fixed_size_binary(20), false),
      arrow::field("topic0", arrow::fixed_size_binary(32), true),
      arrow::field("data", arrow::binary(), false),
      arrow::field("value", arrow::utf8(), true),
      arrow::field("gas_price", arrow::decimal128(38, 0), true),
      arrow::field("timestamp", TimestampType(), false),
      arrow::field("delta", arrow::int64(), true),
      arrow::field("removed", arrow::boolean(), true),
  });
}

/// eth_firehose.blocks-like table.
inline std::shared_ptr<arrow::Schema> BlocksSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("timestamp", TimestampType(), false),
      arrow::field("hash", arrow::fixed_size_binary(32), false),
      arrow::field("gas_used", arrow::uint64(), false),
      arrow::field("base_fee_per_gas", arrow::decimal128(38, 0), true),
  });
}

class FakeCatalog : public Catalog {
 public:
  Result<std::shared_ptr<arrow::Schema>> TableSchema(const TableRef& ref) const override {
    last_ref = ref;
    if (ref.dataset != "eth_firehose") {
      return Status::KeyError("dataset '", ref.dataset, "' not found");
    }
    if (ref.table == "logs") return LogsSchema();
    if (ref.table == "blocks") return BlocksSchema();
    return Status::KeyError("table '", ref.dataset, ".", ref.table, "' not found");
  }
  mutable TableRef last_ref;
};

/// One row of the logs table; unset optionals are NULL.
struct LogRow {
  uint64_t block = 0;
  std::optional<uint32_t> log_index = 0;
  uint8_t hash_byte = 0;     // hash = 32 x hash_byte
  uint8_t address_byte = 0;  // address = 20 x address_byte
  std::optional<uint8_t> topic0_byte;
  std::string data;
  std::optional<std::string> value;
  std::optional<int64_t> gas_price;
  int64_t timestamp_ns = 0;
  std::optional<int64_t> delta;
  std::optional<bool> removed;
};

inline std::shared_ptr<arrow::RecordBatch> MakeLogs(const std::vector<LogRow>& rows) {
  auto schema = LogsSchema();
  arrow::UInt64Builder special(arrow::default_memory_pool());
  arrow::UInt64Builder block(arrow::default_memory_pool());
  arrow::UInt32Builder log_index;
  arrow::FixedSizeBinaryBuilder hash(arrow::fixed_size_binary(32));
  arrow::FixedSizeBinaryBuilder address(arrow::fixed_size_binary(20));
  arrow::FixedSizeBinaryBuilder topic0(arrow::fixed_size_binary(32));
  arrow::BinaryBuilder data;
  arrow::StringBuilder value;
  arrow::Decimal128Builder gas_price(arrow::decimal128(38, 0));
  arrow::TimestampBuilder timestamp(TimestampType(), arrow::default_memory_pool());
  arrow::Int64Builder delta;
  arrow::BooleanBuilder removed;
  for (const LogRow& row : rows) {
    (void)special.Append(row.block);
    (void)block.Append(row.block);
    row.log_index ? (void)log_index.Append(*row.log_index) : (void)log_index.AppendNull();
    (void)hash.Append(std::string(32, static_cast<char>(row.hash_byte)));
    (void)address.Append(std::string(20, static_cast<char>(row.address_byte)));
    row.topic0_byte ? (void)topic0.Append(std::string(32, static_cast<char>(*row.topic0_byte)))
                    : (void)topic0.AppendNull();
    (void)data.Append(row.data);
    row.value ? (void)value.Append(*row.value) : (void)value.AppendNull();
    row.gas_price ? (void)gas_price.Append(arrow::Decimal128(*row.gas_price))
                  : (void)gas_price.AppendNull();
    (void)timestamp.Append(row.timestamp_ns);
    row.delta ? (void)delta.Append(*row.delta) : (void)delta.AppendNull();
    row.removed ? (void)removed.Append(*row.removed) : (void)removed.AppendNull();
  }
  arrow::ArrayVector columns(12);
  (void)special.Finish(&columns[0]);
  (void)block.Finish(&columns[1]);
  (void)log_index.Finish(&columns[2]);
  (void)hash.Finish(&columns[3]);
  (void)address.Finish(&columns[4]);
  (void)topic0.Finish(&columns[5]);
  (void)data.Finish(&columns[6]);
  (void)value.Finish(&columns[7]);
  (void)gas_price.Finish(&columns[8]);
  (void)timestamp.Finish(&columns[9]);
  (void)delta.Finish(&columns[10]);
  (void)removed.Finish(&columns[11]);
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(rows.size()), columns);
}

/// Logs rows for blocks [first, last], `per_block` rows each, log_index 0.., everything
/// else derived from the block number.
inline std::shared_ptr<arrow::RecordBatch> MakeLogRange(uint64_t first, uint64_t last,
                                                        uint32_t per_block = 1) {
  std::vector<LogRow> rows;
  for (uint64_t b = first; b <= last; ++b) {
    for (uint32_t i = 0; i < per_block; ++i) {
      LogRow row;
      row.block = b;
      row.log_index = i;
      row.hash_byte = static_cast<uint8_t>(b);
      row.address_byte = static_cast<uint8_t>(i);
      row.topic0_byte = static_cast<uint8_t>(b % 3);
      row.data = "d" + std::to_string(b);
      row.value = std::to_string(b * 10 + i);
      row.gas_price = static_cast<int64_t>(b * 1000);
      row.timestamp_ns = static_cast<int64_t>(b) * 1'000'000'000LL;
      row.delta = static_cast<int64_t>(b) - 5;
      row.removed = (b % 2) == 0;
      rows.push_back(std::move(row));
    }
  }
  return MakeLogs(rows);
}

/// Plans `sql`, feeds `batches` in order (stopping once done()), finishes and returns all
/// output rows as one table (with the plan's output schema).
inline Result<std::shared_ptr<arrow::Table>> RunQuery(
    const std::string& sql, const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  FakeCatalog catalog;
  AMP_ASSIGN_OR_RETURN(auto plan, PlanQuery(sql, catalog));
  AMP_ASSIGN_OR_RETURN(auto executor, plan->MakeExecutor());
  std::vector<std::shared_ptr<arrow::RecordBatch>> outputs;
  for (const auto& batch : batches) {
    if (executor->done()) break;
    AMP_ASSIGN_OR_RETURN(auto out, executor->Consume(batch));
    if (!out->schema()->Equals(*plan->output_schema())) {
      return Status::Invalid("Consume output schema ", out->schema()->ToString(),
                             " != plan schema ", plan->output_schema()->ToString());
    }
    outputs.push_back(std::move(out));
  }
  AMP_ASSIGN_OR_RETURN(auto last, executor->Finish());
  if (!last->schema()->Equals(*plan->output_schema())) {
    return Status::Invalid("Finish output schema differs from the plan schema");
  }
  outputs.push_back(std::move(last));
  return arrow::Table::FromRecordBatches(plan->output_schema(), outputs);
}

/// Column `name` as strings ("null" for nulls), scalar ToString for everything else.
inline std::vector<std::string> ColumnStrings(const arrow::Table& table, const std::string& name) {
  std::vector<std::string> out;
  auto column = table.GetColumnByName(name);
  if (!column) {
    ADD_FAILURE() << "no column " << name << " in " << table.schema()->ToString();
    return out;
  }
  for (const auto& chunk : column->chunks()) {
    for (int64_t i = 0; i < chunk->length(); ++i) {
      auto scalar = chunk->GetScalar(i).ValueOrDie();
      out.push_back(scalar->is_valid ? scalar->ToString() : "null");
    }
  }
  return out;
}

inline std::vector<uint64_t> ColumnU64(const arrow::Table& table, const std::string& name) {
  std::vector<uint64_t> out;
  auto column = table.GetColumnByName(name);
  if (!column) {
    ADD_FAILURE() << "no column " << name;
    return out;
  }
  for (const auto& chunk : column->chunks()) {
    const auto& values = static_cast<const arrow::UInt64Array&>(*chunk);
    for (int64_t i = 0; i < values.length(); ++i) out.push_back(values.Value(i));
  }
  return out;
}

}  // namespace amp::devnet::sql::testing
