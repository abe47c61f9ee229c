#include "conformance/loader_conformance.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "devnet/chain.h"
#include "devnet/tables.h"

namespace amp::conformance {
namespace {

#define CONF_ASSERT_OK(expr)                                  \
  do {                                                        \
    const ::amp::Status _st = (expr);                         \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

#define CONF_EXPECT_OK(expr)                                  \
  do {                                                        \
    const ::amp::Status _st = (expr);                         \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

#define CONF_CONCAT_INNER(a, b) a##b
#define CONF_CONCAT(a, b) CONF_CONCAT_INNER(a, b)
#define CONF_ASSERT_OK_AND_ASSIGN_IMPL(result, lhs, rexpr)                        \
  auto result = (rexpr);                                                          \
  ASSERT_TRUE(result.ok()) << #rexpr << ": " << result.status().ToString();       \
  lhs = std::move(result).ValueUnsafe()
#define CONF_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  CONF_ASSERT_OK_AND_ASSIGN_IMPL(CONF_CONCAT(_conf_result_, __LINE__), lhs, rexpr)

// A Status that must be an error of class `cls`.
#define CONF_EXPECT_ERROR_CLASS(cls, expr)                                              \
  do {                                                                                  \
    const ::amp::Status _st = (expr);                                                   \
    EXPECT_FALSE(_st.ok()) << #expr << " succeeded, expected a " << ::amp::ToString(cls) \
                           << " error";                                                 \
    if (!_st.ok()) {                                                                    \
      EXPECT_STREQ(::amp::ToString(::amp::ClassOf(_st)), ::amp::ToString(cls))          \
          << #expr << ": " << _st.ToString();                                           \
    }                                                                                   \
  } while (0)

constexpr char kTag[] = "_amp_block_start";
constexpr char kBlockColumn[] = "_block_num";

// Test fixtures are built from literals: a failure there is a bug in this file.
template <typename T>
T Unwrap(Result<T> result) {
  if (!result.ok()) {
    ADD_FAILURE() << "building test data: " << result.status().ToString();
    std::abort();
  }
  return std::move(result).ValueUnsafe();
}

void Check(const Status& status) {
  if (!status.ok()) {
    ADD_FAILURE() << "building test data: " << status.ToString();
    std::abort();
  }
}

// 32 (or `width`) bytes derived from `seed`, covering 0x00 and 0xff.
std::string Bytes(uint8_t seed, int width = 32) {
  std::string out(static_cast<size_t>(width), '\0');
  for (int i = 0; i < width; ++i) {
    out[static_cast<size_t>(i)] = static_cast<char>(seed * 37 + i * 11);
  }
  return out;
}

BlockHash HashOf(uint64_t n) {
  BlockHash h;
  for (size_t i = 0; i < h.bytes.size(); ++i) h.bytes[i] = static_cast<uint8_t>(n * 13 + i);
  return h;
}

BlockRange Range(uint64_t start, uint64_t end) {
  BlockRange r;
  r.network = "mainnet";
  r.start = start;
  r.end = end;
  r.hash = HashOf(end);
  r.prev_hash = start == 0 ? BlockHash{} : HashOf(start - 1);
  r.timestamp = 1'700'000'000 + 12 * end;
  return r;
}

StreamCheckpoint MakeCheckpoint(const std::string& stream, uint64_t end, uint64_t transaction_id) {
  StreamCheckpoint cp;
  cp.stream_id = stream;
  cp.cursor.networks["mainnet"] = {end, HashOf(end)};
  cp.recent_ranges = {Range(end > 9 ? end - 9 : 0, end)};
  cp.transaction_id = transaction_id;
  return cp;
}

// --- Simple rows: (_block_num UInt64, id Int64, label Utf8 nullable). ---

struct IdRow {
  uint64_t block;
  int64_t id;
  std::string label;
};

std::shared_ptr<arrow::Schema> IdSchema() {
  return arrow::schema({arrow::field(kBlockColumn, arrow::uint64(), false),
                        arrow::field("id", arrow::int64(), false),
                        arrow::field("label", arrow::utf8(), true)});
}

std::shared_ptr<arrow::RecordBatch> IdBatch(const std::vector<IdRow>& rows) {
  arrow::UInt64Builder block;
  arrow::Int64Builder id;
  arrow::StringBuilder label;
  for (const auto& row : rows) {
    Check(block.Append(row.block));
    Check(id.Append(row.id));
    Check(label.Append(row.label));
  }
  return arrow::RecordBatch::Make(IdSchema(), static_cast<int64_t>(rows.size()),
                                  {Unwrap(block.Finish()), Unwrap(id.Finish()),
                                   Unwrap(label.Finish())});
}

// `per_block` rows for each block of [first, last]: id = block * 10 + k, label = tag + id.
std::vector<IdRow> BlockRows(uint64_t first, uint64_t last, int per_block, const std::string& tag) {
  std::vector<IdRow> rows;
  for (uint64_t b = first; b <= last; ++b) {
    for (int k = 0; k < per_block; ++k) {
      const int64_t id = static_cast<int64_t>(b * 10 + static_cast<uint64_t>(k));
      rows.push_back({b, id, tag + std::to_string(id)});
    }
  }
  return rows;
}

std::vector<IdRow> Concat(std::initializer_list<std::vector<IdRow>> parts) {
  std::vector<IdRow> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

using RowPredicate = bool (*)(const IdRow&, uint64_t, uint64_t);

std::vector<IdRow> Where(const std::vector<IdRow>& rows, RowPredicate keep, uint64_t a,
                         uint64_t b) {
  std::vector<IdRow> out;
  for (const auto& r : rows) {
    if (keep(r, a, b)) out.push_back(r);
  }
  return out;
}

// Rows whose block lies in [a, b] / outside [a, b].
bool Inside(const IdRow& r, uint64_t a, uint64_t b) { return r.block >= a && r.block <= b; }
bool Outside(const IdRow& r, uint64_t a, uint64_t b) { return !Inside(r, a, b); }

TableSpec IdSpec(const std::string& name, LoadMode mode = LoadMode::kAppend,
                 const std::string& block_column = kBlockColumn) {
  TableSpec spec;
  spec.name = name;
  spec.schema = IdSchema();
  spec.mode = mode;
  spec.block_column = block_column;
  if (mode == LoadMode::kUpsert) spec.key_columns = {"id"};
  return spec;
}

// --- Expected tables: the batch plus the `_amp_block_start` tag the loader must report. ---

std::shared_ptr<arrow::RecordBatch> WithTag(const std::shared_ptr<arrow::RecordBatch>& batch,
                                            const std::vector<uint64_t>& tags) {
  arrow::UInt64Builder builder;
  Check(builder.AppendValues(tags));
  return Unwrap(batch->AddColumn(batch->num_columns(), arrow::field(kTag, arrow::uint64(), false),
                                 Unwrap(builder.Finish())));
}

// Tagged by the per-row block column.
std::shared_ptr<arrow::RecordBatch> TagByColumn(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                const std::string& column = kBlockColumn) {
  const auto& blocks = static_cast<const arrow::UInt64Array&>(*batch->GetColumnByName(column));
  std::vector<uint64_t> tags;
  for (int64_t i = 0; i < blocks.length(); ++i) tags.push_back(blocks.Value(i));
  return WithTag(batch, tags);
}

// Tagged by a microbatch starting at `start`.
std::shared_ptr<arrow::RecordBatch> TagConstant(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                uint64_t start) {
  return WithTag(batch, std::vector<uint64_t>(static_cast<size_t>(batch->num_rows()), start));
}

std::shared_ptr<arrow::Table> Tables(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::shared_ptr<arrow::Schema>& tagged_schema) {
  return Unwrap(arrow::Table::FromRecordBatches(tagged_schema, batches));
}

std::shared_ptr<arrow::Schema> Tagged(const std::shared_ptr<arrow::Schema>& schema) {
  return Unwrap(schema->AddField(schema->num_fields(), arrow::field(kTag, arrow::uint64(), false)));
}

// Expected content of an IdSchema table tagged by its block column.
std::shared_ptr<arrow::Table> ExpectedByBlock(const std::vector<IdRow>& rows) {
  return Tables({TagByColumn(IdBatch(rows))}, Tagged(IdSchema()));
}

// --- Comparing a read-back table with the expected rows. ---

std::string KeyOf(const arrow::Table& table, const std::vector<int>& key_columns, int64_t row) {
  std::string key;
  for (int c : key_columns) {
    auto scalar = table.column(c)->GetScalar(row);
    key += (scalar.ok() ? (*scalar)->ToString() : std::string("?")) + "|";
  }
  return key;
}

// Row indices of `table` ordered by the key columns (as text: any consistent order will do).
std::vector<std::pair<std::string, int64_t>> SortedKeys(const arrow::Table& table,
                                                        const std::vector<int>& key_columns) {
  std::vector<std::pair<std::string, int64_t>> keys;
  for (int64_t i = 0; i < table.num_rows(); ++i) keys.emplace_back(KeyOf(table, key_columns, i), i);
  std::stable_sort(keys.begin(), keys.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return keys;
}

std::string Describe(const std::shared_ptr<arrow::ChunkedArray>& column, int64_t row) {
  auto scalar = column->GetScalar(row);
  if (!scalar.ok()) return "<" + scalar.status().ToString() + ">";
  return (*scalar)->is_valid ? (*scalar)->ToString() : "null";
}

// The rows of `actual` (a ReadRows result) equal `expected` (same columns, `_amp_block_start`
// last) as multisets, matched by `keys`; reports the differences precisely.
::testing::AssertionResult SameRows(const std::shared_ptr<arrow::Table>& actual,
                                    const std::shared_ptr<arrow::Table>& expected,
                                    const std::vector<std::string>& keys) {
  if (actual == nullptr) return ::testing::AssertionFailure() << "no table was read back";
  const auto& as = *actual->schema();
  const auto& es = *expected->schema();
  if (as.num_fields() != es.num_fields()) {
    return ::testing::AssertionFailure() << "read back " << as.num_fields() << " columns, expected "
                                         << es.num_fields() << "\n  read:     " << as.ToString()
                                         << "\n  expected: " << es.ToString();
  }
  for (int i = 0; i < es.num_fields(); ++i) {
    const auto& a = *as.field(i);
    const auto& e = *es.field(i);
    // The data columns are spec.schema's exactly; the tag column is only named and typed.
    const bool same = i + 1 < es.num_fields()
                          ? a.Equals(e, /*check_metadata=*/false)
                          : a.name() == e.name() && a.type()->Equals(*e.type());
    if (!same) {
      return ::testing::AssertionFailure() << "column " << i << " was read back as "
                                           << a.ToString() << ", expected " << e.ToString();
    }
  }
  std::vector<int> key_columns;
  for (const auto& k : keys) key_columns.push_back(es.GetFieldIndex(k));
  auto actual_keys = SortedKeys(*actual, key_columns);
  auto expected_keys = SortedKeys(*expected, key_columns);

  // Rows missing or extra (by key, with multiplicity).
  std::map<std::string, int> balance;
  for (const auto& [k, i] : expected_keys) ++balance[k];
  for (const auto& [k, i] : actual_keys) --balance[k];
  std::ostringstream diff;
  int missing = 0, extra = 0;
  for (const auto& [k, n] : balance) {
    if (n > 0) {
      if (++missing <= 10) diff << "\n  missing (x" << n << "): key " << k;
    } else if (n < 0) {
      if (++extra <= 10) diff << "\n  unexpected (x" << -n << "): key " << k;
    }
  }
  if (missing > 0 || extra > 0) {
    return ::testing::AssertionFailure()
           << "read back " << actual->num_rows() << " rows, expected " << expected->num_rows()
           << " (keys " << ::testing::PrintToString(keys) << "; " << missing << " keys missing, "
           << extra << " unexpected)" << diff.str();
  }
  for (size_t r = 0; r < expected_keys.size(); ++r) {
    const int64_t ei = expected_keys[r].second;
    const int64_t ai = actual_keys[r].second;
    for (int c = 0; c < es.num_fields(); ++c) {
      auto e = expected->column(c)->GetScalar(ei);
      auto a = actual->column(c)->GetScalar(ai);
      if (!e.ok() || !a.ok() || !(*e)->Equals(**a)) {
        return ::testing::AssertionFailure()
               << "row with key " << expected_keys[r].first << ", column '" << es.field(c)->name()
               << "' (" << es.field(c)->type()->ToString() << "):\n  expected: "
               << Describe(expected->column(c), ei) << "\n  actual:   "
               << Describe(actual->column(c), ai);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// One unit of work: optional undo, the appends, commit (Abort on any failure).
struct Piece {
  std::shared_ptr<arrow::RecordBatch> batch;
  BlockRange range;
};

Status RunUnit(LoaderSession& session, const std::string& table, const std::vector<Piece>& pieces,
               const StreamCheckpoint* checkpoint,
               const std::optional<BlockInterval>& undo = std::nullopt) {
  AMP_RETURN_NOT_OK(session.Begin());
  Status st;
  if (undo) st = session.Undo(table, *undo);
  for (const auto& piece : pieces) {
    if (st.ok()) st = session.Append(table, *piece.batch, piece.range);
  }
  if (st.ok()) st = session.Commit(checkpoint);
  if (!st.ok()) session.Abort();
  return st;
}

// Rows of an IdSchema table appended as one microbatch [first block, last block].
Piece IdPiece(const std::vector<IdRow>& rows) {
  uint64_t lo = std::numeric_limits<uint64_t>::max(), hi = 0;
  for (const auto& r : rows) {
    lo = std::min(lo, r.block);
    hi = std::max(hi, r.block);
  }
  if (rows.empty()) lo = hi = 0;
  return {IdBatch(rows), Range(lo, hi)};
}

std::string CheckpointText(const std::optional<StreamCheckpoint>& cp) {
  return cp ? cp->ToJson() : std::string("(no checkpoint)");
}

::testing::AssertionResult CheckpointIs(const Result<std::optional<StreamCheckpoint>>& actual,
                                        const std::optional<StreamCheckpoint>& expected) {
  if (!actual.ok()) return ::testing::AssertionFailure() << actual.status().ToString();
  if (*actual == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "checkpoint\n  actual:   " << CheckpointText(*actual)
                                       << "\n  expected: " << CheckpointText(expected);
}

// --- Data: the devnet's rows and the synthetic batch of the remaining types. ---

devnet::ChainOptions DevnetChain() {
  devnet::ChainOptions options;
  options.seed = 7;
  options.history = 25;  // blocks 0..24
  options.block_time_ms = 0;
  options.txs_per_block = 4;
  options.logs_per_block = 8;
  return options;
}

std::vector<std::string> DevnetKeys(const std::string& table) {
  if (table == "transactions") return {kBlockColumn, "tx_index"};
  if (table == "logs") return {kBlockColumn, "log_index"};
  return {kBlockColumn};
}

std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type,
                                       const std::string& json) {
  return Unwrap(arrow::json::ArrayFromJSONString(type, json));
}

template <typename Builder>
std::shared_ptr<arrow::Array> BuildBytes(Builder builder,
                                         const std::vector<std::optional<std::string>>& values) {
  for (const auto& v : values) Check(v ? builder.Append(*v) : builder.AppendNull());
  return Unwrap(builder.Finish());
}

int64_t FloorTo(int64_t value, int64_t resolution) {
  int64_t q = value / resolution;
  if (value % resolution != 0 && value < 0) --q;
  return q * resolution;
}

// Six rows of every Amp type the devnet tables do not cover, with edge values: Int64
// extremes, UInt64 max, Decimal256(76,0) and Decimal128(38,0) at full precision, numbers
// beyond 2^64 as text, Utf8View/BinaryView inline (<= 12 bytes) and out of line, empty
// strings and binaries, nulls everywhere but the key, lists of hashes and of structs
// (Amp's nested columns). Timestamps are floored to `ts_resolution` ns (the stored form).
std::shared_ptr<arrow::RecordBatch> SyntheticBatch(int64_t ts_resolution) {
  const std::string nines38(38, '9');
  const std::string nines76(76, '9');
  const std::string long_bytes = Bytes(9, 100);
  const auto hash = arrow::fixed_size_binary(32);
  const auto address = arrow::fixed_size_binary(20);
  const auto withdrawal = arrow::struct_({arrow::field("index", arrow::uint64(), false),
                                          arrow::field("validator_index", arrow::uint64(), true),
                                          arrow::field("address", address, true),
                                          arrow::field("amount", arrow::decimal128(38, 0), true)});
  const auto timestamp = arrow::timestamp(arrow::TimeUnit::NANO, "+00:00");

  std::vector<std::pair<std::shared_ptr<arrow::Field>, std::shared_ptr<arrow::Array>>> columns;
  auto add = [&](const std::string& name, std::shared_ptr<arrow::Array> array,
                 bool nullable = true) {
    columns.emplace_back(arrow::field(name, array->type(), nullable), std::move(array));
  };
  add("id", FromJson(arrow::int64(), "[-9223372036854775808, -1, 0, 1, 2, 9223372036854775807]"),
      /*nullable=*/false);
  add("i64", FromJson(arrow::int64(),
                      "[-9223372036854775808, -42, 0, null, 1, 9223372036854775807]"));
  add("u64", FromJson(arrow::uint64(),
                      "[0, 18446744073709551615, 1, null, 9223372036854775808, 12345]"));
  add("u32", FromJson(arrow::uint32(), "[0, 4294967295, null, 7, 1, 2]"));
  add("i32", FromJson(arrow::int32(), "[-2147483648, -1, 0, 2147483647, null, 5]"));
  add("flag", FromJson(arrow::boolean(), "[true, false, null, true, false, true]"));
  add("d128", FromJson(arrow::decimal128(38, 0),
                       "[\"" + nines38 + "\", \"-" + nines38 +
                           "\", \"0\", null, \"18446744073709551616\", \"-1\"]"));
  add("d256", FromJson(arrow::decimal256(76, 0),
                       "[\"" + nines76 + "\", \"-" + nines76 +
                           "\", \"0\", null, \"18446744073709551616\", "
                           "\"-340282366920938463463374607431768211456\"]"));
  // 2^256 - 1 and 2^64 as text, as Amp sends numbers that fit no integer type.
  add("big_text",
      FromJson(arrow::utf8(),
               "[\"11579208923731619542357098500868790785326998466564056403945758400791312963"
               "9935\", \"18446744073709551616\", \"\", null,"
               " \"h\\u00e9llo \\u2713 \\u4e16\\u754c\", \"0\"]"));
  add("sv", BuildBytes(arrow::StringViewBuilder(),
                       {std::string(""), std::string("short"),
                        std::string("a string longer than twelve bytes \xe2\x9c\x93"), std::nullopt,
                        std::string("exactly12byt"), std::string("x")}));
  add("bv", BuildBytes(arrow::BinaryViewBuilder(),
                       {std::string(""), std::string("\x00\x01\xff", 3), Bytes(3, 40), std::nullopt,
                        std::string(1, '\0'), std::string("0123456789abc")}));
  add("bin", BuildBytes(arrow::BinaryBuilder(),
                        {std::string(""), std::string(2, '\0'), std::string("\xde\xad\xbe\xef"),
                         std::nullopt, long_bytes, std::string("x")}));
  add("hash", BuildBytes(arrow::FixedSizeBinaryBuilder(hash),
                         {Bytes(1), Bytes(2), std::string(32, '\0'), std::nullopt,
                          std::string(32, '\xff'), Bytes(3)}));
  {
    const int64_t values[] = {0, -1, 1'700'000'000'123'456'789LL, 0, -86'400'000'000'001LL,
                              1'700'000'012'000'000'000LL};
    arrow::TimestampBuilder builder(timestamp, arrow::default_memory_pool());
    for (int i = 0; i < 6; ++i) {
      Check(i == 3 ? builder.AppendNull() : builder.Append(FloorTo(values[i], ts_resolution)));
    }
    add("ts", Unwrap(builder.Finish()));
  }
  {
    // List<FixedSizeBinary(32)>: empty, two hashes, null, a null element, zero hash, repeats.
    arrow::ListBuilder list(arrow::default_memory_pool(),
                            std::make_shared<arrow::FixedSizeBinaryBuilder>(hash));
    auto& items = static_cast<arrow::FixedSizeBinaryBuilder&>(*list.value_builder());
    Check(list.Append());
    Check(list.Append());
    Check(items.Append(Bytes(1)));
    Check(items.Append(Bytes(2)));
    Check(list.AppendNull());
    Check(list.Append());
    Check(items.Append(Bytes(3)));
    Check(items.AppendNull());
    Check(list.Append());
    Check(items.Append(std::string(32, '\0')));
    Check(list.Append());
    for (int i = 0; i < 4; ++i) Check(items.Append(Bytes(1)));
    add("topics", Unwrap(list.Finish()));
  }
  add("withdrawals",
      FromJson(arrow::list(arrow::field("item", withdrawal, true)),
               "[[],"
               " [{\"index\": 0, \"validator_index\": 18446744073709551615,"
               "   \"address\": \"aaaaaaaaaaaaaaaaaaaa\", \"amount\": \"" + nines38 + "\"}],"
               " null,"
               " [{\"index\": 1, \"validator_index\": null, \"address\": null, \"amount\": null},"
               "  {\"index\": 2, \"validator_index\": 3, \"address\": \"bbbbbbbbbbbbbbbbbbbb\","
               "   \"amount\": \"-5\"}],"
               " [],"
               " [null, {\"index\": 18446744073709551615, \"validator_index\": 0,"
               "   \"address\": \"cccccccccccccccccccc\", \"amount\": \"0\"}]]"));

  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (auto& [f, a] : columns) {
    fields.push_back(f);
    arrays.push_back(a);
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), 6, arrays);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Quirks defaults and the fixture.

Result<std::shared_ptr<arrow::Table>> LoaderQuirks::ReadRows(Loader& loader, const TableSpec& spec,
                                                             const BlockInterval& blocks) {
  return loader.ReadRows(spec, blocks);
}

void LoaderConformanceTest::SetUp() {
  quirks_ = MakeQuirks();
  ASSERT_NE(quirks_, nullptr);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  CONF_ASSERT_OK(quirks_->SetUp(info->name()));
  set_up_ = true;
  loader_ = NewLoader();
  ASSERT_NE(loader_, nullptr);
}

void LoaderConformanceTest::TearDown() {
  loader_.reset();
  if (set_up_) CONF_EXPECT_OK(quirks_->TearDown());
}

std::unique_ptr<Loader> LoaderConformanceTest::NewLoader() {
  auto loader = quirks_->MakeLoader();
  EXPECT_TRUE(loader.ok()) << "MakeLoader: " << loader.status().ToString();
  if (!loader.ok()) return nullptr;
  return std::move(loader).ValueUnsafe();
}

std::shared_ptr<arrow::Table> LoaderConformanceTest::Read(Loader& loader, const TableSpec& spec,
                                                          BlockInterval blocks) {
  auto rows = quirks_->ReadRows(loader, spec, blocks);
  EXPECT_TRUE(rows.ok()) << "ReadRows(" << spec.name << ", [" << blocks.start << ", "
                         << blocks.end << "]): " << rows.status().ToString();
  if (!rows.ok()) return nullptr;
  return std::move(rows).ValueUnsafe();
}

Result<std::optional<StreamCheckpoint>> LoaderConformanceTest::Checkpoint(
    Loader& loader, const std::string& stream_id) {
  AMP_ASSIGN_OR_RETURN(auto session, loader.OpenSession());
  return session->LoadCheckpoint(stream_id);
}

bool LoaderConformanceTest::Declares(LoadMode mode) const {
  const auto& modes = loader_->capabilities().modes;
  return std::find(modes.begin(), modes.end(), mode) != modes.end();
}

void LoaderConformanceTest::ExpectUndoRefused(const TableSpec& spec) {
  // The loader does not declare supports_undo: Undo must fail cleanly and change nothing.
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto rows = BlockRows(0, 4, 1, "kept");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(rows)}, nullptr));
  CONF_ASSERT_OK(session->Begin());
  CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, session->Undo(spec.name, {0, kMaxBlock}));
  session->Abort();
  EXPECT_TRUE(SameRows(Read(*loader_, spec),
                       spec.block_column.empty()
                           ? Tables({TagConstant(IdBatch(rows), 0)}, Tagged(IdSchema()))
                           : ExpectedByBlock(rows),
                       {"id"}));
}

// ---------------------------------------------------------------------------------------
// (1) Round trips.

void LoaderConformanceTest::DevnetRoundTrip(const std::string& name) {
  CONF_ASSERT_OK_AND_ASSIGN(const devnet::TableId id, devnet::TableFromName(name));
  devnet::Chain chain(DevnetChain());
  const auto snapshot = chain.Snapshot();
  auto rows = [&](uint64_t a, uint64_t b) {
    return Unwrap(devnet::GenerateRows(id, *snapshot, a, b));
  };
  const auto all = rows(0, 24);
  // The devnet's rows must exercise nulls, or this test would prove less than it claims.
  int64_t nulls = 0;
  for (const auto& column : all->columns()) nulls += column->null_count();
  EXPECT_GT(nulls, 0) << name << ": the devnet rows have no nulls";
  if (name == "transactions") {
    // ... nor numbers beyond 2^64 in `value` (Utf8).
    const auto& values = static_cast<const arrow::StringArray&>(*all->GetColumnByName("value"));
    bool beyond = false;
    for (int64_t i = 0; i < values.length(); ++i) {
      const std::string v = values.IsNull(i) ? "" : values.GetString(i);
      beyond |= v.size() > 20 || (v.size() == 20 && v > "18446744073709551615");
    }
    EXPECT_TRUE(beyond) << "no transaction value exceeds 2^64";
  }

  TableSpec spec;
  spec.name = name;
  spec.schema = devnet::TableSchema(id);
  spec.block_column = kBlockColumn;
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  // Two units; the first with two appends (microbatches 0..9 and 10..14).
  CONF_ASSERT_OK(RunUnit(*session, name, {{rows(0, 9), Range(0, 9)}, {rows(10, 14), Range(10, 14)}},
                         nullptr));
  CONF_ASSERT_OK(RunUnit(*session, name, {{rows(15, 24), Range(15, 24)}}, nullptr));

  const auto keys = DevnetKeys(name);
  EXPECT_TRUE(
      SameRows(Read(*loader_, spec), Tables({TagByColumn(all)}, Tagged(spec.schema)), keys));
  // Through a second loader instance too (nothing cached in the first one).
  auto other = NewLoader();
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(SameRows(Read(*other, spec, {12, 16}),
                       Tables({TagByColumn(rows(12, 16))}, Tagged(spec.schema)), keys));
}

void LoaderConformanceTest::TestDevnetBlocksRoundTrip() { DevnetRoundTrip("blocks"); }
void LoaderConformanceTest::TestDevnetTransactionsRoundTrip() { DevnetRoundTrip("transactions"); }
void LoaderConformanceTest::TestDevnetLogsRoundTrip() { DevnetRoundTrip("logs"); }

void LoaderConformanceTest::TestSyntheticTypesRoundTrip() {
  const auto written = SyntheticBatch(1);
  const auto stored = SyntheticBatch(quirks_->timestamp_resolution_ns());
  TableSpec spec;
  spec.name = "synthetic";
  spec.schema = written->schema();
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  // Sliced batches (non-zero array offsets, as any consumer of Arrow data must handle),
  // tagged with their microbatch ranges.
  CONF_ASSERT_OK(RunUnit(
      *session, spec.name,
      {{written->Slice(0, 2), Range(100, 101)}, {written->Slice(2), Range(102, 104)}}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec),
                       Tables({TagConstant(stored->Slice(0, 2), 100),
                               TagConstant(stored->Slice(2), 102)},
                              Tagged(spec.schema)),
                       {"id"}));
  // Undo on a table of every type (a store that rewrites its rows must handle them all).
  if (!loader_->capabilities().supports_undo) return;
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {}, nullptr, BlockInterval{102, kMaxBlock}));
  EXPECT_TRUE(SameRows(Read(*loader_, spec),
                       Tables({TagConstant(stored->Slice(0, 2), 100)}, Tagged(spec.schema)),
                       {"id"}))
      << "after undo [102, max]";
}

void LoaderConformanceTest::TestReadRowsSelectsIntersectingBlocks() {
  const TableSpec per_row = IdSpec("per_row");
  const TableSpec tagged = IdSpec("tagged", LoadMode::kAppend, "");
  CONF_ASSERT_OK(loader_->EnsureTable(per_row));
  CONF_ASSERT_OK(loader_->EnsureTable(tagged));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto rows = BlockRows(0, 19, 1, "r");
  CONF_ASSERT_OK(RunUnit(*session, "per_row", {IdPiece(rows)}, nullptr));
  const auto a = BlockRows(0, 9, 1, "a"), b = BlockRows(10, 19, 1, "b");
  CONF_ASSERT_OK(RunUnit(*session, "tagged", {IdPiece(a), IdPiece(b)}, nullptr));

  EXPECT_TRUE(SameRows(Read(*loader_, per_row), ExpectedByBlock(rows), {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, per_row, {5, 7}), ExpectedByBlock(Where(rows, Inside, 5, 7)),
                       {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, per_row, {19, 19}),
                       ExpectedByBlock(Where(rows, Inside, 19, 19)), {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, per_row, {20, kMaxBlock}), ExpectedByBlock({}), {"id"}));

  auto tagged_rows = [](const std::vector<std::vector<IdRow>>& parts,
                        const std::vector<uint64_t>& starts) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    for (size_t i = 0; i < parts.size(); ++i) {
      batches.push_back(TagConstant(IdBatch(parts[i]), starts[i]));
    }
    return Tables(batches, Tagged(IdSchema()));
  };
  // A microbatch is selected as a whole when its range intersects the interval.
  EXPECT_TRUE(SameRows(Read(*loader_, tagged, {9, 10}), tagged_rows({a, b}, {0, 10}), {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, tagged, {10, 10}), tagged_rows({b}, {10}), {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, tagged, {3, 3}), tagged_rows({a}, {0}), {"id"}));
  EXPECT_TRUE(SameRows(Read(*loader_, tagged, {20, kMaxBlock}), tagged_rows({}, {}), {"id"}));
}

// ---------------------------------------------------------------------------------------
// (2) Load modes.

void LoaderConformanceTest::TestAppendTwiceKeepsBoth() {
  ASSERT_TRUE(Declares(LoadMode::kAppend)) << "every loader must support kAppend";
  const TableSpec spec = IdSpec("appended");
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto x = BlockRows(0, 4, 2, "x"), y = BlockRows(5, 9, 2, "y");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(x)}, nullptr));
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(y)}, nullptr));
  // An empty batch is a no-op, not an error.
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {{IdBatch({}), Range(10, 10)}}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(Concat({x, y})), {"id"}));
  // Appending the same rows again keeps both copies: kAppend never deduplicates.
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(x)}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(Concat({x, y, x})), {"id"}));
}

void LoaderConformanceTest::TestOverwriteKeepsOnlyTheSecondLoad() {
  const TableSpec spec = IdSpec("overwritten", LoadMode::kOverwrite);
  if (!Declares(LoadMode::kOverwrite)) {
    CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, loader_->EnsureTable(spec));
    return;
  }
  // First load: two units with a checkpoint.
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  {
    CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
    const auto cp1 = MakeCheckpoint("load", 4, 1), cp2 = MakeCheckpoint("load", 9, 2);
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(BlockRows(0, 4, 2, "first"))}, &cp1));
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(BlockRows(5, 9, 2, "first"))}, &cp2));
  }
  // Second load (a new process): EnsureTable, Truncate once, then units that accumulate.
  auto second = NewLoader();
  ASSERT_NE(second, nullptr);
  CONF_ASSERT_OK(second->EnsureTable(spec));
  CONF_ASSERT_OK(second->Truncate(spec.name));
  EXPECT_TRUE(SameRows(Read(*second, spec), ExpectedByBlock({}), {"id"}));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*second, "load"), std::nullopt));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, second->OpenSession());
  const auto z1 = BlockRows(0, 2, 1, "second"), z2 = BlockRows(3, 5, 1, "second");
  const auto cp3 = MakeCheckpoint("load", 2, 1), cp4 = MakeCheckpoint("load", 5, 2);
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(z1)}, &cp3));
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(z2)}, &cp4));
  EXPECT_TRUE(SameRows(Read(*second, spec), ExpectedByBlock(Concat({z1, z2})), {"id"}));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*second, "load"), cp4));
}

void LoaderConformanceTest::TestUpsertLastRowWins() {
  const TableSpec spec = IdSpec("upserted", LoadMode::kUpsert);
  if (!Declares(LoadMode::kUpsert)) {
    CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, loader_->EnsureTable(spec));
    return;
  }
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const std::vector<IdRow> first = {{1, 1, "a1"}, {2, 2, "a2"}, {3, 3, "a3"}, {4, 4, "a4"}};
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(first)}, nullptr));
  // Across units, across appends of one unit, and within one batch: the last row wins.
  const std::vector<IdRow> b = {{5, 3, "b3"}, {5, 4, "b4"}, {5, 5, "b5"}};
  const std::vector<IdRow> c = {{6, 5, "c5"}, {6, 6, "c6-first"}, {6, 6, "c6-last"}};
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(b), IdPiece(c)}, nullptr));
  const std::vector<IdRow> expected = {{1, 1, "a1"}, {2, 2, "a2"}, {5, 3, "b3"},
                                       {5, 4, "b4"}, {6, 5, "c5"}, {6, 6, "c6-last"}};
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(expected), {"id"}));
  // Replaying a unit changes nothing.
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(b), IdPiece(c)}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(expected), {"id"}));

  // The devnet's transactions keyed by their hash (FixedSizeBinary(32)): reloading an
  // overlapping block range leaves every transaction once.
  devnet::Chain chain(DevnetChain());
  const auto snapshot = chain.Snapshot();
  auto txs = [&](uint64_t a, uint64_t z) {
    return Unwrap(devnet::GenerateRows(devnet::TableId::kTransactions, *snapshot, a, z));
  };
  TableSpec by_hash;
  by_hash.name = "transactions_by_hash";
  by_hash.schema = devnet::TableSchema(devnet::TableId::kTransactions);
  by_hash.mode = LoadMode::kUpsert;
  by_hash.key_columns = {"tx_hash"};
  by_hash.block_column = kBlockColumn;
  CONF_ASSERT_OK(loader_->EnsureTable(by_hash));
  CONF_ASSERT_OK(RunUnit(*session, by_hash.name, {{txs(0, 9), Range(0, 9)}}, nullptr));
  CONF_ASSERT_OK(RunUnit(*session, by_hash.name, {{txs(5, 14), Range(5, 14)}}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, by_hash),
                       Tables({TagByColumn(txs(0, 14))}, Tagged(by_hash.schema)),
                       DevnetKeys("transactions")));
}

// ---------------------------------------------------------------------------------------
// (3) Undo.

void LoaderConformanceTest::TestUndoRemovesExactlyTheIntersectingBlocks() {
  const TableSpec spec = IdSpec("undone");
  if (!loader_->capabilities().supports_undo) {
    ExpectUndoRefused(spec);
    return;
  }
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  auto rows = BlockRows(0, 19, 2, "r");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(Where(rows, Inside, 0, 9))}, nullptr));
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(Where(rows, Inside, 10, 19))}, nullptr));

  auto undo = [&](std::vector<BlockInterval> intervals) -> Status {
    AMP_RETURN_NOT_OK(session->Begin());
    for (const auto& interval : intervals) {
      Status st = session->Undo(spec.name, interval);
      if (!st.ok()) {
        session->Abort();
        return st;
      }
    }
    return session->Commit(nullptr);
  };
  CONF_ASSERT_OK(undo({{7, 11}}));
  rows = Where(rows, Outside, 7, 11);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(rows), {"id"}))
      << "after undo [7, 11]";
  CONF_ASSERT_OK(undo({{15, kMaxBlock}}));
  rows = Where(rows, Outside, 15, kMaxBlock);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(rows), {"id"}))
      << "after undo [15, max]";
  CONF_ASSERT_OK(undo({{100, 200}}));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(rows), {"id"}))
      << "after undo [100, 200]";
  // Single-block intervals at both edges of what is left, in one unit.
  CONF_ASSERT_OK(undo({{6, 6}, {12, 12}}));
  rows = Where(Where(rows, Outside, 6, 6), Outside, 12, 12);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(rows), {"id"}))
      << "after undo [6,6], [12,12]";
}

void LoaderConformanceTest::TestUndoRemovesWholeTaggedMicrobatches() {
  const TableSpec spec = IdSpec("tagged", LoadMode::kAppend, "");
  if (!loader_->capabilities().supports_undo) {
    ExpectUndoRefused(spec);
    return;
  }
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  // Microbatches [0,9], [10,19], [20,29], [30,39], one row per block, tagged by range.
  std::map<uint64_t, std::vector<IdRow>> batches;
  for (uint64_t start = 0; start < 40; start += 10) {
    batches[start] = BlockRows(start, start + 9, 1, "m" + std::to_string(start) + "-");
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(batches[start])}, nullptr));
  }
  auto expected = [&] {
    std::vector<std::shared_ptr<arrow::RecordBatch>> out;
    for (const auto& [start, rows] : batches) out.push_back(TagConstant(IdBatch(rows), start));
    return Tables(out, Tagged(IdSchema()));
  };
  auto undo = [&](BlockInterval interval) {
    return RunUnit(*session, spec.name, {}, nullptr, interval);
  };
  EXPECT_TRUE(SameRows(Read(*loader_, spec), expected(), {"id"}));
  CONF_ASSERT_OK(undo({19, 19}));  // the last block of [10,19] only
  batches.erase(10);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), expected(), {"id"})) << "after undo [19, 19]";
  CONF_ASSERT_OK(undo({40, kMaxBlock}));  // beyond every batch
  EXPECT_TRUE(SameRows(Read(*loader_, spec), expected(), {"id"})) << "after undo [40, max]";
  CONF_ASSERT_OK(undo({29, 30}));  // straddles [20,29] and [30,39]
  batches.erase(20);
  batches.erase(30);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), expected(), {"id"})) << "after undo [29, 30]";
  CONF_ASSERT_OK(undo({5, 5}));  // one block inside [0,9]: the whole batch goes
  batches.erase(0);
  EXPECT_TRUE(SameRows(Read(*loader_, spec), expected(), {"id"})) << "after undo [5, 5]";
}

void LoaderConformanceTest::TestUndoAppendAndCheckpointCommitTogether() {
  const TableSpec spec = IdSpec("reorged");
  if (!loader_->capabilities().supports_undo) {
    ExpectUndoRefused(spec);
    return;
  }
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto old_rows = BlockRows(0, 9, 2, "old");
  const auto cp1 = MakeCheckpoint("reorg", 9, 1);
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(old_rows)}, &cp1));
  // A reorg from block 8: undo, the new rows (inside the undone interval: the undo comes
  // first and must not delete them) and the checkpoint, in one unit.
  const auto new_rows = BlockRows(8, 12, 2, "new");
  const auto cp2 = MakeCheckpoint("reorg", 12, 2);
  CONF_ASSERT_OK(
      RunUnit(*session, spec.name, {IdPiece(new_rows)}, &cp2, BlockInterval{8, kMaxBlock}));
  EXPECT_TRUE(SameRows(Read(*loader_, spec),
                       ExpectedByBlock(Concat({Where(old_rows, Inside, 0, 7), new_rows})), {"id"}));
  EXPECT_TRUE(CheckpointIs(session->LoadCheckpoint("reorg"), cp2));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "reorg"), cp2));
}

// ---------------------------------------------------------------------------------------
// (4) Failed units and replay.
//
// Each test commits unit 1 (blocks 0..4, checkpoint cp1), fails unit 2 (undo [3, max] when
// the loader supports undo, then rows of blocks 3..9) in some way, checks that neither its
// rows (atomic loaders) nor its checkpoint are visible, then replays unit 2 on the same
// session and checks exactly one copy. A loader without atomic_commit may show part of a
// failed unit; the engine then relies on the replay's undo, which is what is checked.

namespace {

struct ReplayCase {
  std::vector<IdRow> base = BlockRows(0, 4, 2, "v1");
  std::vector<IdRow> update = BlockRows(3, 9, 2, "v2");
  StreamCheckpoint cp1 = MakeCheckpoint("replay", 4, 1);
  StreamCheckpoint cp2 = MakeCheckpoint("replay", 9, 2);
  std::optional<BlockInterval> undo;

  std::vector<IdRow> after() const {
    return Concat({undo ? Where(base, Outside, undo->start, undo->end) : base, update});
  }
};

}  // namespace

#define CONF_REPLAY_PROLOGUE(spec, c)                                                   \
  const TableSpec spec = IdSpec("replayed");                                            \
  ReplayCase c;                                                                         \
  if (loader_->capabilities().supports_undo) c.undo = BlockInterval{3, kMaxBlock};      \
  const bool atomic = loader_->capabilities().atomic_commit;                            \
  CONF_ASSERT_OK(loader_->EnsureTable(spec));                                           \
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());                      \
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(c.base)}, &c.cp1))

#define CONF_REPLAY_EPILOGUE(spec, c, what)                                                     \
  if (atomic) {                                                                                 \
    EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(c.base), {"id"}))                \
        << "after " what ": the failed unit must leave no trace";                              \
  }                                                                                             \
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, c.cp1.stream_id), c.cp1)) << "after " what;     \
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(c.update)}, &c.cp2, c.undo));            \
  if (atomic || c.undo) {                                                                       \
    EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(c.after()), {"id"}))             \
        << "after replaying the unit that failed (" what ")";                                  \
  }                                                                                             \
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, c.cp2.stream_id), c.cp2));                      \
  if (c.undo) {                                                                                 \
    /* A replay whose outcome was lost is replayed again: its own undo makes it idempotent. */ \
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(c.update)}, &c.cp2, c.undo));          \
    EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(c.after()), {"id"}))             \
        << "after replaying the unit twice";                                                    \
  }

void LoaderConformanceTest::TestAbortedUnitLeavesNoTrace() {
  CONF_REPLAY_PROLOGUE(spec, c);
  CONF_ASSERT_OK(session->Begin());
  if (c.undo) CONF_ASSERT_OK(session->Undo(spec.name, *c.undo));
  CONF_ASSERT_OK(session->Append(spec.name, *IdBatch(c.update), IdPiece(c.update).range));
  session->Abort();
  CONF_REPLAY_EPILOGUE(spec, c, "Abort() after Append()");
}

void LoaderConformanceTest::TestFailedAppendLeavesNoTrace() {
  CONF_REPLAY_PROLOGUE(spec, c);
  // A batch whose `label` column is Int64 where the table has Utf8: a fatal error.
  arrow::UInt64Builder block;
  arrow::Int64Builder id, label;
  Check(block.Append(9));
  Check(id.Append(999));
  Check(label.Append(1));
  auto retyped = arrow::RecordBatch::Make(
      arrow::schema({IdSchema()->field(0), IdSchema()->field(1),
                     arrow::field("label", arrow::int64(), true)}),
      1, {Unwrap(block.Finish()), Unwrap(id.Finish()), Unwrap(label.Finish())});
  std::vector<std::pair<std::shared_ptr<arrow::RecordBatch>, std::string>> bad = {
      {retyped, "a batch of the wrong schema"}};
  // And the loader's own invalid value, if it has one.
  if (auto invalid = quirks_->MakeInvalidBatch(*IdBatch(BlockRows(9, 9, 1, "bad")))) {
    bad.emplace_back(invalid, "the quirks' invalid value");
  }
  for (const auto& [batch, what] : bad) {
    SCOPED_TRACE(what);
    CONF_ASSERT_OK(session->Begin());
    if (c.undo) CONF_ASSERT_OK(session->Undo(spec.name, *c.undo));
    CONF_ASSERT_OK(session->Append(spec.name, *IdBatch(c.update), IdPiece(c.update).range));
    Status st = session->Append(spec.name, *batch, Range(9, 9));
    // A value may be rejected when the data reaches the store, at the latest at Commit.
    if (st.ok()) st = session->Commit(&c.cp2);
    CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, st);
    session->Abort();
    if (atomic) {
      EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(c.base), {"id"}))
          << "after a failed Append() of " << what << ": the unit must leave no trace";
    }
    EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, c.cp1.stream_id), c.cp1));
  }
  CONF_REPLAY_EPILOGUE(spec, c, "a failed Append()");
}

void LoaderConformanceTest::TestFailedCommitLeavesNoTraceAndReplayAppliesOnce() {
  CONF_REPLAY_PROLOGUE(spec, c);
  CONF_ASSERT_OK(session->Begin());
  if (c.undo) CONF_ASSERT_OK(session->Undo(spec.name, *c.undo));
  CONF_ASSERT_OK(session->Append(spec.name, *IdBatch(c.update), IdPiece(c.update).range));
  std::optional<Status> armed = quirks_->FailNextCommit(*loader_);
  if (!armed) {
    session->Abort();
    ASSERT_FALSE(atomic) << "the loader declares atomic_commit, so its quirks must provide "
                            "FailNextCommit() for the suite to prove it";
    GTEST_SKIP() << "no commit fault hook for this non-atomic loader";
  }
  CONF_ASSERT_OK(*armed);
  const Status st = session->Commit(&c.cp2);
  EXPECT_FALSE(st.ok()) << "Commit() succeeded although FailNextCommit() was armed";
  if (!st.ok()) {
    EXPECT_STRNE(ToString(ClassOf(st)), ToString(ErrorClass::kFatal))
        << "a failed commit must be retryable: " << st.ToString();
  }
  session->Abort();
  CONF_REPLAY_EPILOGUE(spec, c, "a failed Commit()");
}

#undef CONF_REPLAY_PROLOGUE
#undef CONF_REPLAY_EPILOGUE

// ---------------------------------------------------------------------------------------
// (5) Checkpoints.

void LoaderConformanceTest::TestCheckpointRoundTrips() {
  const TableSpec spec = IdSpec("checkpointed");
  // Before any table exists: no checkpoint, and no error.
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "stream"), std::nullopt));
  CONF_ASSERT_OK(loader_->EnsureTable(spec));

  StreamCheckpoint cp1;
  cp1.stream_id = "stream/\xc3\xa9-1 'quoted'";
  cp1.cursor.networks["mainnet"] = {12, HashOf(12)};
  cp1.cursor.networks["base"] = {7'000'000'000ULL, HashOf(7)};
  cp1.recent_ranges = {Range(0, 9), Range(10, 12)};
  cp1.recent_ranges[1].timestamp.reset();
  BlockRange base = Range(6'999'999'990ULL, 7'000'000'000ULL);
  base.network = "base";
  cp1.recent_ranges.push_back(base);
  cp1.transaction_id = (uint64_t{1} << 53) + 1;  // not exact as a double

  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(BlockRows(0, 12, 1, "r"))}, &cp1));
  EXPECT_TRUE(CheckpointIs(session->LoadCheckpoint(cp1.stream_id), cp1)) << "same session";
  auto restarted = NewLoader();
  ASSERT_NE(restarted, nullptr);
  EXPECT_TRUE(CheckpointIs(Checkpoint(*restarted, cp1.stream_id), cp1)) << "new loader instance";

  // A unit committed without a checkpoint leaves it as it was.
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(BlockRows(13, 13, 1, "r"))}, nullptr));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, cp1.stream_id), cp1)) << "after a unit without one";

  // A newer one replaces it; a unit with only a checkpoint is fine too.
  StreamCheckpoint cp2 = cp1;
  cp2.cursor.networks["mainnet"] = {13, HashOf(13)};
  cp2.recent_ranges = {Range(10, 13)};
  cp2.transaction_id += 1;
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(BlockRows(14, 14, 1, "r"))}, &cp2));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*restarted, cp1.stream_id), cp2));
  StreamCheckpoint cp3 = cp2;
  cp3.transaction_id += 1;
  CONF_ASSERT_OK(session->Begin());
  CONF_ASSERT_OK(session->Commit(&cp3));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*restarted, cp1.stream_id), cp3)) << "checkpoint-only unit";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "another stream"), std::nullopt));
}

void LoaderConformanceTest::TestCheckpointsArePerStream() {
  const TableSpec t = IdSpec("t"), u = IdSpec("u");
  CONF_ASSERT_OK(loader_->EnsureTable(t));
  CONF_ASSERT_OK(loader_->EnsureTable(u));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto a1 = MakeCheckpoint("a", 4, 1);
  const auto b1 = MakeCheckpoint("b", 14, 1);
  const auto c1 = MakeCheckpoint("c", 24, 1);
  CONF_ASSERT_OK(RunUnit(*session, "t", {IdPiece(BlockRows(0, 4, 1, "a"))}, &a1));
  CONF_ASSERT_OK(RunUnit(*session, "t", {IdPiece(BlockRows(10, 14, 1, "b"))}, &b1));
  CONF_ASSERT_OK(RunUnit(*session, "u", {IdPiece(BlockRows(20, 24, 1, "c"))}, &c1));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "a"), a1));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "b"), b1));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "c"), c1));
  const auto a2 = MakeCheckpoint("a", 9, 2);
  CONF_ASSERT_OK(RunUnit(*session, "t", {IdPiece(BlockRows(5, 9, 1, "a"))}, &a2));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "a"), a2));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "b"), b1));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "c"), c1));
}

void LoaderConformanceTest::TestTruncateForgetsCheckpoints() {
  const TableSpec t = IdSpec("t"), u = IdSpec("u");
  CONF_ASSERT_OK(loader_->EnsureTable(t));
  CONF_ASSERT_OK(loader_->EnsureTable(u));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto t_rows = BlockRows(0, 4, 1, "t"), u_rows = BlockRows(0, 4, 1, "u");
  const auto s1 = MakeCheckpoint("s1", 4, 1), s2 = MakeCheckpoint("s2", 4, 1);
  CONF_ASSERT_OK(RunUnit(*session, "t", {IdPiece(t_rows)}, &s1));
  CONF_ASSERT_OK(RunUnit(*session, "u", {IdPiece(u_rows)}, &s2));
  CONF_ASSERT_OK(loader_->Truncate("t"));
  EXPECT_TRUE(SameRows(Read(*loader_, t), ExpectedByBlock({}), {"id"}));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "s1"), std::nullopt))
      << "Truncate(t) kept t's stream";
  EXPECT_TRUE(SameRows(Read(*loader_, u), ExpectedByBlock(u_rows), {"id"}))
      << "Truncate(t) touched u";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "s2"), s2)) << "Truncate(t) forgot u's stream";
  // Loading starts over.
  const auto again = BlockRows(0, 1, 1, "again");
  const auto s1b = MakeCheckpoint("s1", 1, 1);
  CONF_ASSERT_OK(RunUnit(*session, "t", {IdPiece(again)}, &s1b));
  EXPECT_TRUE(SameRows(Read(*loader_, t), ExpectedByBlock(again), {"id"}));
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "s1"), s1b));
}

// Progress that outlives its table (issue 10): a checkpoint whose table was dropped behind
// the loader's back (then recreated empty by EnsureTable, as the next load does) is never
// handed back to resume from: either it went with the table (Delta keeps checkpoints in the
// table's log) or it is refused, kFatal with kStaleProgressCode and a message naming the
// fix. ResetProgress then clears it and loading starts over.
void LoaderConformanceTest::TestCheckpointOfADroppedTableIsNotResumed() {
  const TableSpec spec = IdSpec("dropped");
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  const auto rows = BlockRows(0, 4, 1, "first"), ranged = BlockRows(5, 9, 1, "ranged");
  const auto cp = MakeCheckpoint("job", 4, 1), range = MakeCheckpoint("job/range/5", 9, 1);
  {
    CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(rows)}, &cp));
    CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(ranged)}, &range));
  }
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "job"), cp)) << "before the drop";
  CONF_ASSERT_OK(quirks_->DropTable(spec.name));
  auto restarted = NewLoader();  // the rerun
  ASSERT_NE(restarted, nullptr);
  CONF_ASSERT_OK(restarted->EnsureTable(spec));
  auto expect_not_resumed = [&](const Status& st, bool found, const std::string& what) {
    if (st.ok()) {
      EXPECT_FALSE(found) << what << ": the checkpoint of a dropped table was returned";
      return;
    }
    const ErrorInfo* info = ErrorInfo::FromStatus(st);
    EXPECT_TRUE(info != nullptr && info->code() == kStaleProgressCode) << what << ": " << st.ToString();
    EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << what << ": " << st.ToString();
    EXPECT_NE(st.message().find("--reset"), std::string::npos) << what << ": " << st.message();
  };
  {
    auto one = Checkpoint(*restarted, "job");
    expect_not_resumed(one.status(), one.ok() && one->has_value(), "LoadCheckpoint");
    CONF_ASSERT_OK_AND_ASSIGN(auto session, restarted->OpenSession());
    auto all = session->LoadCheckpoints("job/range/");
    expect_not_resumed(all.status(), all.ok() && !all->empty(), "LoadCheckpoints");
  }
  CONF_ASSERT_OK_AND_ASSIGN(auto forgotten, restarted->ResetProgress(spec.name, "job", false));
  EXPECT_LE(forgotten, 2);
  EXPECT_TRUE(CheckpointIs(Checkpoint(*restarted, "job"), std::nullopt)) << "after ResetProgress";
  CONF_ASSERT_OK_AND_ASSIGN(auto session, restarted->OpenSession());
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(rows)}, &cp));
  EXPECT_TRUE(SameRows(Read(*restarted, spec), ExpectedByBlock(rows), {"id"})) << "the reload";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*restarted, "job"), cp)) << "the reload's checkpoint";
}

// ResetProgress(table, job, false) forgets exactly the job's checkpoints ("<job>" and
// "<job>/...") and keeps the rows and other jobs' progress; ResetProgress(table, "", true)
// deletes every row and every checkpoint of the table, and leaves other tables alone.
void LoaderConformanceTest::TestResetProgressForgetsOneJob() {
  const TableSpec t = IdSpec("reset_t"), u = IdSpec("reset_u");
  CONF_ASSERT_OK(loader_->EnsureTable(t));
  CONF_ASSERT_OK(loader_->EnsureTable(u));
  const auto a = BlockRows(0, 4, 1, "a"), b = BlockRows(5, 9, 1, "b"), c = BlockRows(10, 12, 1, "c");
  const auto job = MakeCheckpoint("job", 4, 1), job_range = MakeCheckpoint("job/range/5", 9, 1);
  const auto jobber = MakeCheckpoint("jobber", 12, 1), other = MakeCheckpoint("other", 4, 1);
  {
    CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
    CONF_ASSERT_OK(RunUnit(*session, t.name, {IdPiece(a)}, &job));
    CONF_ASSERT_OK(RunUnit(*session, t.name, {IdPiece(b)}, &job_range));
    CONF_ASSERT_OK(RunUnit(*session, t.name, {IdPiece(c)}, &jobber));  // shares the prefix only
    CONF_ASSERT_OK(RunUnit(*session, u.name, {IdPiece(a)}, &other));
  }
  CONF_ASSERT_OK_AND_ASSIGN(auto forgotten, loader_->ResetProgress(t.name, "job", false));
  EXPECT_EQ(forgotten, 2);
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "job"), std::nullopt)) << "the job's stream";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "job/range/5"), std::nullopt)) << "the job's range";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "jobber"), jobber)) << "another job of the table";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "other"), other)) << "another table's job";
  EXPECT_TRUE(SameRows(Read(*loader_, t), ExpectedByBlock(Concat({a, b, c})), {"id"}))
      << "ResetProgress without truncate deleted rows";

  CONF_ASSERT_OK_AND_ASSIGN(forgotten, loader_->ResetProgress(t.name, "", true));
  EXPECT_EQ(forgotten, 1);
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "jobber"), std::nullopt)) << "truncate kept a job";
  EXPECT_TRUE(SameRows(Read(*loader_, t), ExpectedByBlock({}), {"id"})) << "truncate kept rows";
  EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "other"), other)) << "truncate of t touched u";
  EXPECT_TRUE(SameRows(Read(*loader_, u), ExpectedByBlock(a), {"id"})) << "truncate of t touched u";
  // A missing table is not an error.
  CONF_ASSERT_OK_AND_ASSIGN(forgotten, loader_->ResetProgress("reset_never", "job", true));
  EXPECT_EQ(forgotten, 0);
}

// ---------------------------------------------------------------------------------------
// (6) EnsureTable.

void LoaderConformanceTest::TestEnsureTableIsIdempotent() {
  const TableSpec spec = IdSpec("ensured");
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto x = BlockRows(0, 4, 1, "x"), y = BlockRows(5, 9, 1, "y");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(x)}, nullptr));
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(x), {"id"})) << "EnsureTable again";
  // Another instance (a restart) finds the table and keeps its rows.
  auto restarted = NewLoader();
  ASSERT_NE(restarted, nullptr);
  CONF_ASSERT_OK(restarted->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto other, restarted->OpenSession());
  CONF_ASSERT_OK(RunUnit(*other, spec.name, {IdPiece(y)}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(Concat({x, y})), {"id"}));
  // Dropped behind the loader's back: EnsureTable (same instance) creates it afresh.
  other.reset();
  session.reset();
  CONF_ASSERT_OK(quirks_->DropTable(spec.name));
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock({}), {"id"})) << "after DropTable";
  CONF_ASSERT_OK_AND_ASSIGN(session, loader_->OpenSession());
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(y)}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(y), {"id"}));
}

void LoaderConformanceTest::TestEnsureTableRejectsIncompatibleTable() {
  const TableSpec spec = IdSpec("existing");
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(auto session, loader_->OpenSession());
  const auto rows = BlockRows(0, 4, 1, "kept");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(rows)}, nullptr));
  session.reset();

  TableSpec retyped = spec;  // `label` becomes Int64
  retyped.schema = arrow::schema({IdSchema()->field(0), IdSchema()->field(1),
                                  arrow::field("label", arrow::int64(), true)});
  TableSpec widened = spec;  // a column the table does not have
  widened.schema =
      Unwrap(IdSchema()->AddField(3, arrow::field("extra_column", arrow::utf8(), true)));
  auto restarted = NewLoader();
  ASSERT_NE(restarted, nullptr);
  for (Loader* loader : {restarted.get(), loader_.get()}) {
    const char* which = loader == loader_.get() ? "the loader that created it" : "a new loader";
    Status st = loader->EnsureTable(retyped);
    CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, st);
    EXPECT_NE(st.message().find("label"), std::string::npos)
        << which << ": the error must name the column: " << st.ToString();
    st = loader->EnsureTable(widened);
    CONF_EXPECT_ERROR_CLASS(ErrorClass::kFatal, st);
    EXPECT_NE(st.message().find("extra_column"), std::string::npos)
        << which << ": the error must name the column: " << st.ToString();
  }
  // Untouched: same rows, still usable with its own schema.
  EXPECT_TRUE(SameRows(Read(*restarted, spec), ExpectedByBlock(rows), {"id"}));
  CONF_ASSERT_OK(loader_->EnsureTable(spec));
  CONF_ASSERT_OK_AND_ASSIGN(session, loader_->OpenSession());
  const auto more = BlockRows(5, 6, 1, "more");
  CONF_ASSERT_OK(RunUnit(*session, spec.name, {IdPiece(more)}, nullptr));
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(Concat({rows, more})), {"id"}));
}

// ---------------------------------------------------------------------------------------
// (7) Concurrent sessions.

void LoaderConformanceTest::TestConcurrentSessionsAppendDisjointBlocks() {
  constexpr int kWorkers = 4;
  constexpr int kUnits = 5;
  constexpr uint64_t kBlocksPerUnit = 10;
  const bool concurrent = loader_->capabilities().concurrent_sessions;
  const TableSpec spec = IdSpec("parallel");
  CONF_ASSERT_OK(loader_->EnsureTable(spec));

  // Worker w, unit u: blocks w * 1000 + [u * 10, u * 10 + 9], two rows each.
  auto first_block = [&](int worker, int unit) {
    return static_cast<uint64_t>(worker) * 1000 + static_cast<uint64_t>(unit) * kBlocksPerUnit;
  };
  auto unit_rows = [&](int worker, int unit) {
    const uint64_t first = first_block(worker, unit);
    return BlockRows(first, first + kBlocksPerUnit - 1, 2, "w" + std::to_string(worker) + "-");
  };
  auto checkpoint = [&](int worker, int unit) {
    return MakeCheckpoint("worker-" + std::to_string(worker),
                          first_block(worker, unit) + kBlocksPerUnit - 1,
                          static_cast<uint64_t>(unit) + 1);
  };
  // Without concurrent_sessions, the same sessions must still work used one at a time.
  std::mutex serial;
  std::atomic<int> ready{0};
  std::vector<Status> results(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      results[static_cast<size_t>(w)] = [&]() -> Status {
        std::unique_lock<std::mutex> lock(serial, std::defer_lock);
        if (!concurrent) lock.lock();
        AMP_ASSIGN_OR_RETURN(auto session, loader_->OpenSession());
        ready.fetch_add(1);
        while (concurrent && ready.load() < kWorkers) std::this_thread::yield();
        for (int u = 0; u < kUnits; ++u) {
          const auto cp = checkpoint(w, u);
          AMP_RETURN_NOT_OK(RunUnit(*session, spec.name, {IdPiece(unit_rows(w, u))}, &cp));
        }
        return Status::OK();
      }();
    });
  }
  for (auto& t : threads) t.join();
  std::vector<IdRow> all;
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_TRUE(results[static_cast<size_t>(w)].ok())
        << "worker " << w << ": " << results[static_cast<size_t>(w)].ToString();
    for (int u = 0; u < kUnits; ++u) {
      const auto rows = unit_rows(w, u);
      all.insert(all.end(), rows.begin(), rows.end());
    }
    EXPECT_TRUE(CheckpointIs(Checkpoint(*loader_, "worker-" + std::to_string(w)),
                             checkpoint(w, kUnits - 1)));
  }
  EXPECT_TRUE(SameRows(Read(*loader_, spec), ExpectedByBlock(all), {"id"}));
}

}  // namespace amp::conformance
