#include "devnet/tables.h"
#include "devnet/mix.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>

#include <arrow/array/data.h>
#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/util/bit_util.h>

namespace amp::devnet {
namespace {

using arrow::DataType;
using arrow::Field;
using u128 = unsigned __int128;

// ---------------------------------------------------------------------------------------
// Schemas (amp-protocol.md §3.3). Field order, types and nullability are Amp's.

std::shared_ptr<DataType> Bytes32() { return arrow::fixed_size_binary(32); }
std::shared_ptr<DataType> Address() { return arrow::fixed_size_binary(20); }
std::shared_ptr<DataType> Currency() { return arrow::decimal128(38, 0); }
std::shared_ptr<DataType> Timestamp() { return arrow::timestamp(arrow::TimeUnit::NANO, "+00:00"); }

std::shared_ptr<arrow::Schema> MakeBlocksSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("timestamp", Timestamp(), false),
      arrow::field("hash", Bytes32(), false),
      arrow::field("parent_hash", Bytes32(), false),
      arrow::field("ommers_hash", Bytes32(), false),
      arrow::field("miner", Address(), false),
      arrow::field("state_root", Bytes32(), false),
      arrow::field("transactions_root", Bytes32(), false),
      arrow::field("receipt_root", Bytes32(), false),
      arrow::field("logs_bloom", arrow::binary(), false),
      arrow::field("difficulty", Currency(), false),
      arrow::field("total_difficulty", Currency(), true),
      arrow::field("gas_limit", arrow::uint64(), false),
      arrow::field("gas_used", arrow::uint64(), false),
      arrow::field("extra_data", arrow::binary(), false),
      arrow::field("mix_hash", Bytes32(), false),
      arrow::field("nonce", arrow::uint64(), false),
      arrow::field("base_fee_per_gas", Currency(), true),
      arrow::field("withdrawals_root", Bytes32(), true),
      arrow::field("blob_gas_used", arrow::uint64(), true),
      arrow::field("excess_blob_gas", arrow::uint64(), true),
      arrow::field("parent_beacon_root", Bytes32(), true),
      arrow::field("requests_hash", Bytes32(), true),
  });
}

// The firehose variant (providers-firehose/src/tables/transactions.rs): v, r, s are
// Binary in that order where evm-rpc has r, s, v_parity; value is a nullable decimal
// string; status is Int32; four firehose columns close the row.
std::shared_ptr<arrow::Schema> MakeTransactionsSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_hash", Bytes32(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("timestamp", Timestamp(), false),
      arrow::field("tx_index", arrow::uint32(), false),
      arrow::field("tx_hash", Bytes32(), false),
      arrow::field("to", Address(), true),
      arrow::field("nonce", arrow::uint64(), false),
      arrow::field("gas_price", Currency(), true),
      arrow::field("gas_limit", arrow::uint64(), false),
      arrow::field("value", arrow::utf8(), true),
      arrow::field("input", arrow::binary(), false),
      arrow::field("v", arrow::binary(), false),
      arrow::field("r", arrow::binary(), false),
      arrow::field("s", arrow::binary(), false),
      arrow::field("gas_used", arrow::uint64(), false),
      arrow::field("type", arrow::int32(), false),
      arrow::field("max_fee_per_gas", Currency(), true),
      arrow::field("max_priority_fee_per_gas", Currency(), true),
      arrow::field("from", Address(), false),
      arrow::field("status", arrow::int32(), false),
      arrow::field("return_data", arrow::binary(), false),
      arrow::field("public_key", arrow::binary(), false),
      arrow::field("begin_ordinal", arrow::uint64(), false),
      arrow::field("end_ordinal", arrow::uint64(), false),
  });
}

std::shared_ptr<arrow::Schema> MakeLogsSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_hash", Bytes32(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("timestamp", Timestamp(), false),
      arrow::field("tx_hash", Bytes32(), false),
      arrow::field("tx_index", arrow::uint32(), false),
      arrow::field("log_index", arrow::uint32(), false),
      arrow::field("address", Address(), false),
      arrow::field("topic0", Bytes32(), true),
      arrow::field("topic1", Bytes32(), true),
      arrow::field("topic2", Bytes32(), true),
      arrow::field("topic3", Bytes32(), true),
      arrow::field("data", arrow::binary(), false),
  });
}

// Amp's firehose calls table (providers-firehose/src/tables/calls.rs, as listed in
// amp-protocol.md §3.3): one row per EVM call frame, nullable value only.
std::shared_ptr<arrow::Schema> MakeCallsSchema() {
  return arrow::schema({
      arrow::field("_block_num", arrow::uint64(), false),
      arrow::field("block_hash", Bytes32(), false),
      arrow::field("block_num", arrow::uint64(), false),
      arrow::field("timestamp", Timestamp(), false),
      arrow::field("tx_index", arrow::uint32(), false),
      arrow::field("tx_hash", Bytes32(), false),
      arrow::field("index", arrow::uint32(), false),
      arrow::field("parent_index", arrow::uint32(), false),
      arrow::field("depth", arrow::uint32(), false),
      arrow::field("call_type", arrow::int32(), false),
      arrow::field("caller", Address(), false),
      arrow::field("address", Address(), false),
      arrow::field("value", Currency(), true),
      arrow::field("gas_limit", arrow::uint64(), false),
      arrow::field("gas_consumed", arrow::uint64(), false),
      arrow::field("return_data", arrow::binary(), false),
      arrow::field("input", arrow::binary(), false),
      arrow::field("selfdestruct", arrow::boolean(), false),
      arrow::field("executed_code", arrow::boolean(), false),
      arrow::field("begin_ordinal", arrow::uint64(), false),
      arrow::field("end_ordinal", arrow::uint64(), false),
  });
}

// ---------------------------------------------------------------------------------------
// Randomness. Every block of every table gets its own generator seeded from
// (seed, number, version, table), so a block's rows never depend on which range asked.

inline void StoreLe64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, 8);
  } else {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, 8);
  } else {
    v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  }
  return v;
}

// xoshiro256**: fast, 256-bit state, good statistical quality.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) {
      seed += kGolden;
      word = Mix64(seed);
    }
  }
  uint64_t Next() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, n) (multiply-shift; the bias is irrelevant here).
  uint64_t Below(uint64_t n) { return static_cast<uint64_t>((u128{Next()} * n) >> 64); }
  bool Percent(uint32_t p) { return Below(100) < p; }
  void Fill(uint8_t* out, size_t len) {
    while (len >= 8) {
      StoreLe64(out, Next());
      out += 8;
      len -= 8;
    }
    if (len > 0) {
      uint64_t v = Next();
      for (size_t i = 0; i < len; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }

 private:
  uint64_t s_[4];
};

enum : uint64_t { kTagBlocks = 1, kTagTransactions = 2, kTagLogs = 3, kTagCalls = 4 };

Rng BlockRng(uint64_t seed, BlockNumber n, uint32_t version, uint64_t tag) {
  return Rng(Mix64(Mix64(Mix64(seed ^ (tag * kGolden)) + n) + version));
}

// tx_hash of transaction `index` of a block: derived from the block hash, so it changes
// with the block's version (and position) and both tables agree on it.
void TxHash(const BlockHash& block_hash, uint32_t index, uint8_t* out) {
  const uint64_t salt = Mix64(0x7478686173680000ULL + index);  // "txhash"
  for (int l = 0; l < 4; ++l) {
    uint64_t w = LoadLe64(block_hash.bytes.data() + 8 * l);
    StoreLe64(out + 8 * l, Mix64(w ^ Mix64(salt + kGolden * static_cast<uint64_t>(l + 1))));
  }
}

// A small fixed population of addresses (contracts, builders) derived from the seed, so
// filters on an address select a subset of rows.
template <size_t N>
std::array<std::array<uint8_t, 20>, N> AddressSet(uint64_t seed, uint64_t tag) {
  std::array<std::array<uint8_t, 20>, N> out{};
  Rng rng(Mix64(seed ^ Mix64(tag)));
  for (auto& a : out) rng.Fill(a.data(), a.size());
  return out;
}

std::array<uint8_t, 32> FromHex32(const char* hex) {
  std::array<uint8_t, 32> out{};
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  return out;
}

// keccak256 of common event signatures. Weighted so Transfer dominates, like mainnet.
struct EventSignatures {
  std::array<std::array<uint8_t, 32>, 8> topic0;
  EventSignatures() {
    const char* hex[8] = {
        // Transfer(address,address,uint256)
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
        // Approval(address,address,uint256)
        "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
        // Sync(uint112,uint112)
        "1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1",
        // Swap(address,uint256,uint256,uint256,uint256,address) (Uniswap V2)
        "d78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
        // Swap(address,address,int256,int256,uint160,uint128,int24) (Uniswap V3)
        "c42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67",
        // Deposit(address,uint256)
        "e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c",
        // Withdrawal(address,uint256)
        "7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65",
        // ApprovalForAll(address,address,bool)
        "17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31",
    };
    for (int i = 0; i < 8; ++i) topic0[i] = FromHex32(hex[i]);
  }
};

const EventSignatures& Signatures() {
  static const EventSignatures kSignatures;
  return kSignatures;
}

// Cumulative weights (out of 100) of the 8 event signatures.
constexpr uint32_t kTopic0Cumulative[8] = {45, 57, 67, 75, 83, 89, 95, 100};

// keccak256(rlp([])): the ommers hash of every post-merge block.
constexpr const char* kEmptyOmmersHash =
    "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

u128 Pow10(int k) {
  u128 v = 1;
  for (int i = 0; i < k; ++i) v *= 10;
  return v;
}

// Uniform-ish in [0, 10^k), k <= 38.
u128 BelowPow10(Rng& rng, int k) {
  if (k <= 19) return rng.Below(static_cast<uint64_t>(Pow10(k)));
  const u128 hi = rng.Below(static_cast<uint64_t>(Pow10(k - 19)));
  return hi * static_cast<uint64_t>(Pow10(19)) + rng.Below(static_cast<uint64_t>(Pow10(19)));
}

// A wei amount: usually `typical` digits, sometimes huge (up to ~10^30) so consumers see
// values that do not fit 64 bits.
u128 WeiAmount(Rng& rng, int typical_digits) {
  const uint64_t roll = rng.Below(100);
  if (roll < 3) return Pow10(29) + BelowPow10(rng, 30) * 9 / 10;  // ~1e29..1e30
  if (roll < 8) return BelowPow10(rng, 25);
  return BelowPow10(rng, typical_digits);
}

// Decimal digits of v into out (no terminator); returns the length (1..39).
int FormatU128(u128 v, char* out) {
  constexpr uint64_t kTen19 = 10'000'000'000'000'000'000ULL;
  char tmp[40];
  int len = 0;
  // Low 19-digit groups (zero-padded) while v exceeds 64 bits, then the top group.
  while (v > std::numeric_limits<uint64_t>::max()) {
    uint64_t group = static_cast<uint64_t>(v % kTen19);
    v /= kTen19;
    for (int d = 0; d < 19; ++d, group /= 10) tmp[len++] = static_cast<char>('0' + group % 10);
  }
  uint64_t top = static_cast<uint64_t>(v);
  do {
    tmp[len++] = static_cast<char>('0' + top % 10);
    top /= 10;
  } while (top != 0);
  for (int i = 0; i < len; ++i) out[i] = tmp[len - 1 - i];
  return len;
}

// ---------------------------------------------------------------------------------------
// Column writers filling Arrow buffers directly: rows are generated in place, no
// per-value builder calls. Nullable columns keep a validity bitmap that is dropped when
// no row is null; null slots are zeroed so batches are byte-deterministic.

class Validity {
 public:
  Status Init(int64_t rows, bool nullable) {
    if (!nullable) return Status::OK();
    const int64_t bytes = arrow::bit_util::BytesForBits(rows);
    AMP_ASSIGN_OR_RETURN(buffer_, arrow::AllocateBuffer(bytes));
    std::memset(buffer_->mutable_data(), 0xff, static_cast<size_t>(bytes));
    return Status::OK();
  }
  void SetNull(int64_t i) {
    arrow::bit_util::ClearBit(buffer_->mutable_data(), i);
    ++null_count_;
  }
  int64_t null_count() const { return null_count_; }
  std::shared_ptr<arrow::Buffer> Finish() { return null_count_ > 0 ? buffer_ : nullptr; }

 private:
  std::shared_ptr<arrow::Buffer> buffer_;
  int64_t null_count_ = 0;
};

// Fixed-width values: integers, timestamps, decimals, fixed-size binary.
class FixedColumn {
 public:
  Status Init(int64_t rows, int32_t width, bool nullable = false) {
    rows_ = rows;
    width_ = width;
    AMP_ASSIGN_OR_RETURN(data_, arrow::AllocateBuffer(rows * width));
    raw_ = data_->mutable_data();
    return validity_.Init(rows, nullable);
  }
  uint8_t* Slot(int64_t i) { return raw_ + i * width_; }
  template <typename T>
  void Put(int64_t i, T value) {
    std::memcpy(raw_ + i * sizeof(T), &value, sizeof(T));
  }
  void PutBytes(int64_t i, const uint8_t* bytes) { std::memcpy(Slot(i), bytes, width_); }
  void PutDecimal(int64_t i, u128 value) {
    // Decimal128 is two's complement little-endian: low word, then high word.
    StoreLe64(Slot(i), static_cast<uint64_t>(value));
    StoreLe64(Slot(i) + 8, static_cast<uint64_t>(value >> 64));
  }
  void SetNull(int64_t i) {
    std::memset(Slot(i), 0, width_);
    validity_.SetNull(i);
  }
  std::shared_ptr<arrow::Array> Finish(const std::shared_ptr<DataType>& type) {
    const int64_t nulls = validity_.null_count();
    return arrow::MakeArray(
        arrow::ArrayData::Make(type, rows_, {validity_.Finish(), data_}, nulls));
  }

 private:
  int64_t rows_ = 0;
  int32_t width_ = 0;
  std::shared_ptr<arrow::Buffer> data_;
  uint8_t* raw_ = nullptr;
  Validity validity_;
};

// Binary/Utf8 with int32 offsets. The data buffer is sized for the largest possible row
// up front (so appends never check capacity) and trimmed at Finish.
class VarColumn {
 public:
  Status Init(int64_t rows, int64_t max_bytes_per_row, bool nullable = false) {
    const int64_t capacity = rows * max_bytes_per_row;
    if (capacity > std::numeric_limits<int32_t>::max()) {
      return Status::CapacityError("devnet: block range too large for one batch (",
                                   rows, " rows); request fewer blocks");
    }
    AMP_ASSIGN_OR_RETURN(offsets_, arrow::AllocateBuffer((rows + 1) * sizeof(int32_t)));
    AMP_ASSIGN_OR_RETURN(data_, arrow::AllocateResizableBuffer(capacity));
    offsets_raw_ = reinterpret_cast<int32_t*>(offsets_->mutable_data());
    offsets_raw_[0] = 0;
    data_raw_ = data_->mutable_data();
    rows_ = rows;
    return validity_.Init(rows, nullable);
  }
  /// Appends row i (rows are appended in order) of `len` bytes; returns where to write.
  uint8_t* Append(int64_t i, int32_t len) {
    uint8_t* out = data_raw_ + size_;
    size_ += len;
    offsets_raw_[i + 1] = size_;
    return out;
  }
  void AppendBytes(int64_t i, const void* bytes, int32_t len) {
    std::memcpy(Append(i, len), bytes, static_cast<size_t>(len));
  }
  void AppendNull(int64_t i) {
    offsets_raw_[i + 1] = size_;
    validity_.SetNull(i);
  }
  Result<std::shared_ptr<arrow::Array>> Finish(const std::shared_ptr<DataType>& type) {
    AMP_RETURN_NOT_OK(data_->Resize(size_, /*shrink_to_fit=*/true));
    const int64_t nulls = validity_.null_count();
    return arrow::MakeArray(arrow::ArrayData::Make(
        type, rows_, {validity_.Finish(), offsets_, std::move(data_)}, nulls));
  }

 private:
  int64_t rows_ = 0;
  int32_t size_ = 0;
  std::shared_ptr<arrow::Buffer> offsets_;
  std::shared_ptr<arrow::ResizableBuffer> data_;
  int32_t* offsets_raw_ = nullptr;
  uint8_t* data_raw_ = nullptr;
  Validity validity_;
};

// Booleans, bit-packed, never null.
class BoolColumn {
 public:
  Status Init(int64_t rows) {
    rows_ = rows;
    const int64_t bytes = arrow::bit_util::BytesForBits(rows);
    AMP_ASSIGN_OR_RETURN(data_, arrow::AllocateBuffer(bytes));
    std::memset(data_->mutable_data(), 0, static_cast<size_t>(bytes));
    return Status::OK();
  }
  void Put(int64_t i, bool value) {
    if (value) arrow::bit_util::SetBit(data_->mutable_data(), i);
  }
  std::shared_ptr<arrow::Array> Finish() {
    return arrow::MakeArray(arrow::ArrayData::Make(arrow::boolean(), rows_, {nullptr, data_}, 0));
  }

 private:
  int64_t rows_ = 0;
  std::shared_ptr<arrow::Buffer> data_;
};

int64_t TimestampNanos(const ChainSnapshot& snapshot, BlockNumber n) {
  return static_cast<int64_t>(snapshot.timestamp(n)) * 1'000'000'000LL;
}

// An address left-padded to a 32-byte topic, the way indexed address arguments appear.
void AddressTopic(Rng& rng, uint8_t* out) {
  std::memset(out, 0, 12);
  rng.Fill(out + 12, 20);
}

// ---------------------------------------------------------------------------------------
// blocks

Result<std::shared_ptr<arrow::RecordBatch>> GenerateBlocks(const ChainSnapshot& snapshot,
                                                           BlockNumber start, BlockNumber end) {
  const auto& options = snapshot.options();
  const int64_t rows = static_cast<int64_t>(end - start + 1);
  const auto builders = AddressSet<6>(options.seed, 0x6d696e6572ULL);  // "miner"
  const auto ommers = FromHex32(kEmptyOmmersHash);

  FixedColumn block_num_meta, block_num, timestamp, hash, parent_hash, ommers_hash, miner,
      state_root, transactions_root, receipt_root, difficulty, total_difficulty, gas_limit,
      gas_used, mix_hash, nonce, base_fee, withdrawals_root, blob_gas_used, excess_blob_gas,
      parent_beacon_root, requests_hash;
  VarColumn logs_bloom, extra_data;
  AMP_RETURN_NOT_OK(block_num_meta.Init(rows, 8));
  AMP_RETURN_NOT_OK(block_num.Init(rows, 8));
  AMP_RETURN_NOT_OK(timestamp.Init(rows, 8));
  AMP_RETURN_NOT_OK(hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(parent_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(ommers_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(miner.Init(rows, 20));
  AMP_RETURN_NOT_OK(state_root.Init(rows, 32));
  AMP_RETURN_NOT_OK(transactions_root.Init(rows, 32));
  AMP_RETURN_NOT_OK(receipt_root.Init(rows, 32));
  AMP_RETURN_NOT_OK(logs_bloom.Init(rows, 256));
  AMP_RETURN_NOT_OK(difficulty.Init(rows, 16));
  AMP_RETURN_NOT_OK(total_difficulty.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(gas_limit.Init(rows, 8));
  AMP_RETURN_NOT_OK(gas_used.Init(rows, 8));
  AMP_RETURN_NOT_OK(extra_data.Init(rows, 32));
  AMP_RETURN_NOT_OK(mix_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(nonce.Init(rows, 8));
  AMP_RETURN_NOT_OK(base_fee.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(withdrawals_root.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(blob_gas_used.Init(rows, 8, true));
  AMP_RETURN_NOT_OK(excess_blob_gas.Init(rows, 8, true));
  AMP_RETURN_NOT_OK(parent_beacon_root.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(requests_hash.Init(rows, 32, true));

  const uint64_t bloom_bits = 3ULL * options.logs_per_block;
  for (int64_t i = 0; i < rows; ++i) {
    const BlockNumber n = start + static_cast<BlockNumber>(i);
    Rng rng = BlockRng(options.seed, n, snapshot.version(n), kTagBlocks);
    block_num_meta.Put<uint64_t>(i, n);
    block_num.Put<uint64_t>(i, n);
    timestamp.Put<int64_t>(i, TimestampNanos(snapshot, n));
    hash.PutBytes(i, snapshot.hash(n).bytes.data());
    parent_hash.PutBytes(i, snapshot.parent_hash(n).bytes.data());
    ommers_hash.PutBytes(i, ommers.data());
    miner.PutBytes(i, builders[rng.Below(builders.size())].data());
    rng.Fill(state_root.Slot(i), 32);
    rng.Fill(transactions_root.Slot(i), 32);
    rng.Fill(receipt_root.Slot(i), 32);

    uint8_t* bloom = logs_bloom.Append(i, 256);
    std::memset(bloom, 0, 256);
    for (uint64_t b = 0; b < bloom_bits; ++b) {
      const uint64_t bit = rng.Below(2048);
      bloom[bit >> 3] |= static_cast<uint8_t>(1u << (bit & 7));
    }

    // Pre-merge-looking difficulty on some blocks, zero on the rest.
    difficulty.PutDecimal(
        i, rng.Percent(30) ? u128{10'000'000'000'000'000ULL} + rng.Below(1ULL << 52) : u128{0});
    if (rng.Percent(10)) {
      total_difficulty.SetNull(i);
    } else {
      // Mostly mainnet-sized (~5.9e22), sometimes near 10^30.
      const u128 mainnet_ttd = u128{5'875'000'000'000'000ULL} * 10'000'000;
      total_difficulty.PutDecimal(
          i, rng.Percent(5) ? Pow10(29) * (1 + rng.Below(9)) + BelowPow10(rng, 29)
                            : mainnet_ttd + u128{n} * 1'000'000'000'000ULL);
    }
    const uint64_t limit = 30'000'000 + rng.Below(6'000'001);
    gas_limit.Put<uint64_t>(i, limit);
    gas_used.Put<uint64_t>(i, rng.Below(limit + 1));
    const int32_t extra_len = static_cast<int32_t>(rng.Below(33));
    rng.Fill(extra_data.Append(i, extra_len), static_cast<size_t>(extra_len));
    rng.Fill(mix_hash.Slot(i), 32);
    nonce.Put<uint64_t>(i, rng.Percent(80) ? 0 : rng.Next());
    if (rng.Percent(5)) {
      base_fee.SetNull(i);
    } else {
      base_fee.PutDecimal(i, 100'000'000 + rng.Below(100'000'000'000ULL));
    }
    if (rng.Percent(20)) {
      withdrawals_root.SetNull(i);
    } else {
      rng.Fill(withdrawals_root.Slot(i), 32);
    }
    if (rng.Percent(30)) {
      blob_gas_used.SetNull(i);
      excess_blob_gas.SetNull(i);
      parent_beacon_root.SetNull(i);
    } else {
      blob_gas_used.Put<uint64_t>(i, 131'072 * rng.Below(7));
      excess_blob_gas.Put<uint64_t>(i, rng.Below(1ULL << 27));
      rng.Fill(parent_beacon_root.Slot(i), 32);
    }
    if (rng.Percent(60)) {
      requests_hash.SetNull(i);
    } else {
      rng.Fill(requests_hash.Slot(i), 32);
    }
  }

  auto schema = TableSchema(TableId::kBlocks);
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(schema->num_fields());
  auto type = [&](int c) { return schema->field(c)->type(); };
  columns.push_back(block_num_meta.Finish(type(0)));
  columns.push_back(block_num.Finish(type(1)));
  columns.push_back(timestamp.Finish(type(2)));
  columns.push_back(hash.Finish(type(3)));
  columns.push_back(parent_hash.Finish(type(4)));
  columns.push_back(ommers_hash.Finish(type(5)));
  columns.push_back(miner.Finish(type(6)));
  columns.push_back(state_root.Finish(type(7)));
  columns.push_back(transactions_root.Finish(type(8)));
  columns.push_back(receipt_root.Finish(type(9)));
  AMP_ASSIGN_OR_RETURN(auto bloom_array, logs_bloom.Finish(type(10)));
  columns.push_back(std::move(bloom_array));
  columns.push_back(difficulty.Finish(type(11)));
  columns.push_back(total_difficulty.Finish(type(12)));
  columns.push_back(gas_limit.Finish(type(13)));
  columns.push_back(gas_used.Finish(type(14)));
  AMP_ASSIGN_OR_RETURN(auto extra_array, extra_data.Finish(type(15)));
  columns.push_back(std::move(extra_array));
  columns.push_back(mix_hash.Finish(type(16)));
  columns.push_back(nonce.Finish(type(17)));
  columns.push_back(base_fee.Finish(type(18)));
  columns.push_back(withdrawals_root.Finish(type(19)));
  columns.push_back(blob_gas_used.Finish(type(20)));
  columns.push_back(excess_blob_gas.Finish(type(21)));
  columns.push_back(parent_beacon_root.Finish(type(22)));
  columns.push_back(requests_hash.Finish(type(23)));
  return arrow::RecordBatch::Make(std::move(schema), rows, std::move(columns));
}

// ---------------------------------------------------------------------------------------
// transactions

Result<std::shared_ptr<arrow::RecordBatch>> GenerateTransactions(const ChainSnapshot& snapshot,
                                                                 BlockNumber start,
                                                                 BlockNumber end) {
  const auto& options = snapshot.options();
  const int64_t rows =
      static_cast<int64_t>(RowsInBlocks(TableId::kTransactions, options, start, end));
  const auto contracts = AddressSet<24>(options.seed, 0x636f6e7472616374ULL);  // "contract"
  // Logs per transaction, for the ordinals (the same spread as the logs table), for an
  // ordinary block [0] and a hot one [1] (skew).
  std::vector<uint32_t> logs_of_tx_variant[2];
  for (int hot = 0; hot < 2; ++hot) {
    const uint32_t txs = static_cast<uint32_t>(
        hot ? MaxRowsPerBlock(TableId::kTransactions, options) : options.txs_per_block);
    const uint32_t logs = static_cast<uint32_t>(
        hot ? MaxRowsPerBlock(TableId::kLogs, options) : RowsPerBlock(TableId::kLogs, options));
    logs_of_tx_variant[hot].assign(txs, 0);
    for (uint32_t l = 0; txs > 0 && l < logs; ++l) {
      ++logs_of_tx_variant[hot][static_cast<uint64_t>(l) * txs / logs];
    }
  }
  static constexpr uint32_t kSelectors[6] = {0xa9059cbb, 0x095ea7b3, 0x23b872dd,
                                             0x38ed1739, 0x7ff36ab5, 0xd0e30db0};

  FixedColumn block_num_meta, block_hash, block_num, timestamp, tx_index, tx_hash, to, nonce,
      gas_price, gas_limit, gas_used, type, max_fee, max_priority_fee, from, status,
      begin_ordinal, end_ordinal;
  VarColumn value, input, v, r, s, return_data, public_key;
  AMP_RETURN_NOT_OK(block_num_meta.Init(rows, 8));
  AMP_RETURN_NOT_OK(block_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(block_num.Init(rows, 8));
  AMP_RETURN_NOT_OK(timestamp.Init(rows, 8));
  AMP_RETURN_NOT_OK(tx_index.Init(rows, 4));
  AMP_RETURN_NOT_OK(tx_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(to.Init(rows, 20, true));
  AMP_RETURN_NOT_OK(nonce.Init(rows, 8));
  AMP_RETURN_NOT_OK(gas_price.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(gas_limit.Init(rows, 8));
  AMP_RETURN_NOT_OK(value.Init(rows, 40, true));
  AMP_RETURN_NOT_OK(input.Init(rows, 4 + 32 * 6));
  AMP_RETURN_NOT_OK(v.Init(rows, 1));
  AMP_RETURN_NOT_OK(r.Init(rows, 32));
  AMP_RETURN_NOT_OK(s.Init(rows, 32));
  AMP_RETURN_NOT_OK(gas_used.Init(rows, 8));
  AMP_RETURN_NOT_OK(type.Init(rows, 4));
  AMP_RETURN_NOT_OK(max_fee.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(max_priority_fee.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(from.Init(rows, 20));
  AMP_RETURN_NOT_OK(status.Init(rows, 4));
  AMP_RETURN_NOT_OK(return_data.Init(rows, 64));
  AMP_RETURN_NOT_OK(public_key.Init(rows, 64));
  AMP_RETURN_NOT_OK(begin_ordinal.Init(rows, 8));
  AMP_RETURN_NOT_OK(end_ordinal.Init(rows, 8));

  int64_t i = 0;
  for (BlockNumber n = start; n <= end; ++n) {
    const BlockHash& bh = snapshot.hash(n);
    const int64_t ts = TimestampNanos(snapshot, n);
    Rng rng = BlockRng(options.seed, n, snapshot.version(n), kTagTransactions);
    const std::vector<uint32_t>& logs_of_tx = logs_of_tx_variant[IsHotBlock(options, n) ? 1 : 0];
    const uint32_t per_block = static_cast<uint32_t>(logs_of_tx.size());
    uint64_t ordinal = 0;
    for (uint32_t t = 0; t < per_block; ++t, ++i) {
      block_num_meta.Put<uint64_t>(i, n);
      block_hash.PutBytes(i, bh.bytes.data());
      block_num.Put<uint64_t>(i, n);
      timestamp.Put<int64_t>(i, ts);
      tx_index.Put<uint32_t>(i, t);
      TxHash(bh, t, tx_hash.Slot(i));

      const uint64_t type_roll = rng.Below(100);
      const int32_t tx_type = type_roll < 15 ? 0 : type_roll < 20 ? 1 : type_roll < 95 ? 2 : 3;
      type.Put<int32_t>(i, tx_type);

      const bool creation = rng.Percent(5);
      if (creation) {
        to.SetNull(i);
      } else if (rng.Percent(70)) {
        to.PutBytes(i, contracts[rng.Below(contracts.size())].data());
      } else {
        rng.Fill(to.Slot(i), 20);
      }
      nonce.Put<uint64_t>(i, rng.Below(1'000'000));
      if (rng.Percent(3)) {
        gas_price.SetNull(i);
      } else {
        gas_price.PutDecimal(i, WeiAmount(rng, 11));
      }
      const uint64_t limit = 21'000 + rng.Below(5'000'000);
      gas_limit.Put<uint64_t>(i, limit);

      // value: null sometimes (firehose leaves it unset), "0" often, occasionally > 2^64.
      const uint64_t value_roll = rng.Below(100);
      if (value_roll < 5) {
        value.AppendNull(i);
      } else if (value_roll < 35) {
        value.AppendBytes(i, "0", 1);
      } else {
        char digits[40];
        const int len = FormatU128(WeiAmount(rng, 18), digits);
        value.AppendBytes(i, digits, len);
      }

      if (creation || rng.Percent(20)) {
        const int32_t len = creation ? 4 + 32 * 6 : 0;
        rng.Fill(input.Append(i, len), static_cast<size_t>(len));
      } else {
        const int32_t words = static_cast<int32_t>(rng.Below(7));
        uint8_t* out = input.Append(i, 4 + 32 * words);
        const uint32_t selector = kSelectors[rng.Below(6)];
        for (int b = 0; b < 4; ++b) out[b] = static_cast<uint8_t>(selector >> (24 - 8 * b));
        rng.Fill(out + 4, static_cast<size_t>(32 * words));
      }

      // Signature: v as a minimal big-endian integer (empty for 0), like firehose.
      const bool parity = rng.Next() & 1;
      if (tx_type == 0) {
        const uint8_t legacy_v = parity ? 38 : 37;  // EIP-155, chain id 1
        v.AppendBytes(i, &legacy_v, 1);
      } else if (parity) {
        const uint8_t one = 1;
        v.AppendBytes(i, &one, 1);
      } else {
        v.Append(i, 0);
      }
      rng.Fill(r.Append(i, 32), 32);
      rng.Fill(s.Append(i, 32), 32);

      gas_used.Put<uint64_t>(i, 21'000 + rng.Below(limit - 21'000 + 1));
      if (tx_type >= 2) {
        max_fee.PutDecimal(i, WeiAmount(rng, 11));
        max_priority_fee.PutDecimal(i, rng.Below(5'000'000'000ULL));
      } else {
        max_fee.SetNull(i);
        max_priority_fee.SetNull(i);
      }
      rng.Fill(from.Slot(i), 20);
      const uint64_t status_roll = rng.Below(100);
      status.Put<int32_t>(i, status_roll < 94 ? 1 : status_roll < 99 ? 3 : 2);

      const int32_t ret_len = rng.Percent(60) ? 0 : static_cast<int32_t>(32 * (1 + rng.Below(2)));
      rng.Fill(return_data.Append(i, ret_len), static_cast<size_t>(ret_len));
      rng.Fill(public_key.Append(i, 64), 64);

      begin_ordinal.Put<uint64_t>(i, ordinal);
      ordinal += 1 + 2 * logs_of_tx[t];
      end_ordinal.Put<uint64_t>(i, ordinal);
      ++ordinal;
    }
  }

  auto schema = TableSchema(TableId::kTransactions);
  auto field_type = [&](int c) { return schema->field(c)->type(); };
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(schema->num_fields());
  columns.push_back(block_num_meta.Finish(field_type(0)));
  columns.push_back(block_hash.Finish(field_type(1)));
  columns.push_back(block_num.Finish(field_type(2)));
  columns.push_back(timestamp.Finish(field_type(3)));
  columns.push_back(tx_index.Finish(field_type(4)));
  columns.push_back(tx_hash.Finish(field_type(5)));
  columns.push_back(to.Finish(field_type(6)));
  columns.push_back(nonce.Finish(field_type(7)));
  columns.push_back(gas_price.Finish(field_type(8)));
  columns.push_back(gas_limit.Finish(field_type(9)));
  int c = 10;
  for (VarColumn* col : {&value, &input, &v, &r, &s}) {
    AMP_ASSIGN_OR_RETURN(auto array, col->Finish(field_type(c++)));
    columns.push_back(std::move(array));
  }
  columns.push_back(gas_used.Finish(field_type(15)));
  columns.push_back(type.Finish(field_type(16)));
  columns.push_back(max_fee.Finish(field_type(17)));
  columns.push_back(max_priority_fee.Finish(field_type(18)));
  columns.push_back(from.Finish(field_type(19)));
  columns.push_back(status.Finish(field_type(20)));
  AMP_ASSIGN_OR_RETURN(auto return_array, return_data.Finish(field_type(21)));
  columns.push_back(std::move(return_array));
  AMP_ASSIGN_OR_RETURN(auto key_array, public_key.Finish(field_type(22)));
  columns.push_back(std::move(key_array));
  columns.push_back(begin_ordinal.Finish(field_type(23)));
  columns.push_back(end_ordinal.Finish(field_type(24)));
  return arrow::RecordBatch::Make(std::move(schema), rows, std::move(columns));
}

// ---------------------------------------------------------------------------------------
// logs

Result<std::shared_ptr<arrow::RecordBatch>> GenerateLogs(const ChainSnapshot& snapshot,
                                                         BlockNumber start, BlockNumber end) {
  const auto& options = snapshot.options();
  const int64_t rows = static_cast<int64_t>(RowsInBlocks(TableId::kLogs, options, start, end));
  const auto contracts = AddressSet<24>(options.seed, 0x636f6e7472616374ULL);  // "contract"
  const auto& signatures = Signatures().topic0;
  // Owner transaction of each log index: logs spread evenly, in transaction order; for an
  // ordinary block [0] and a hot one [1] (skew), which has skew times both.
  struct Shape {
    uint32_t txs = 0;
    std::vector<uint32_t> owner;
  } shapes[2];
  for (int hot = 0; hot < 2; ++hot) {
    Shape& shape = shapes[hot];
    shape.txs = static_cast<uint32_t>(
        hot ? MaxRowsPerBlock(TableId::kTransactions, options) : options.txs_per_block);
    const uint32_t logs = static_cast<uint32_t>(
        hot ? MaxRowsPerBlock(TableId::kLogs, options) : RowsPerBlock(TableId::kLogs, options));
    shape.owner.resize(logs);
    for (uint32_t l = 0; l < logs; ++l) {
      shape.owner[l] = static_cast<uint32_t>(static_cast<uint64_t>(l) * shape.txs / logs);
    }
  }
  std::vector<std::array<uint8_t, 32>> tx_hashes(shapes[1].txs);

  FixedColumn block_num_meta, block_hash, block_num, timestamp, tx_hash, tx_index, log_index,
      address, topic0, topic1, topic2, topic3;
  VarColumn data;
  AMP_RETURN_NOT_OK(block_num_meta.Init(rows, 8));
  AMP_RETURN_NOT_OK(block_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(block_num.Init(rows, 8));
  AMP_RETURN_NOT_OK(timestamp.Init(rows, 8));
  AMP_RETURN_NOT_OK(tx_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(tx_index.Init(rows, 4));
  AMP_RETURN_NOT_OK(log_index.Init(rows, 4));
  AMP_RETURN_NOT_OK(address.Init(rows, 20));
  AMP_RETURN_NOT_OK(topic0.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(topic1.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(topic2.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(topic3.Init(rows, 32, true));
  AMP_RETURN_NOT_OK(data.Init(rows, 128));

  int64_t i = 0;
  for (BlockNumber n = start; n <= end && rows > 0; ++n) {
    const Shape& shape = shapes[IsHotBlock(options, n) ? 1 : 0];
    const std::vector<uint32_t>& owner = shape.owner;
    const uint32_t per_block = static_cast<uint32_t>(owner.size());
    const BlockHash& bh = snapshot.hash(n);
    const int64_t ts = TimestampNanos(snapshot, n);
    for (uint32_t t = 0; t < shape.txs; ++t) TxHash(bh, t, tx_hashes[t].data());
    Rng rng = BlockRng(options.seed, n, snapshot.version(n), kTagLogs);
    for (uint32_t l = 0; l < per_block; ++l, ++i) {
      block_num_meta.Put<uint64_t>(i, n);
      block_hash.PutBytes(i, bh.bytes.data());
      block_num.Put<uint64_t>(i, n);
      timestamp.Put<int64_t>(i, ts);
      tx_hash.PutBytes(i, tx_hashes[owner[l]].data());
      tx_index.Put<uint32_t>(i, owner[l]);
      log_index.Put<uint32_t>(i, l);

      const uint64_t roll = rng.Next();
      address.PutBytes(i, contracts[(roll & 0xffff) % contracts.size()].data());
      // topic0: an event signature, null (anonymous event) ~2% of the time. A null
      // topic k implies topics > k are null, as in real logs.
      const uint32_t sig_roll = static_cast<uint32_t>(((roll >> 16) & 0xffff) % 100);
      const uint32_t topics_roll = static_cast<uint32_t>(((roll >> 32) & 0xffff) % 100);
      const uint32_t len_roll = static_cast<uint32_t>((roll >> 48) % 10);
      uint32_t topics;  // number of non-null topics among topic1..3
      if (sig_roll < 2) {
        topic0.SetNull(i);
      } else {
        int sig = 0;
        while (sig_roll >= kTopic0Cumulative[sig]) ++sig;
        topic0.PutBytes(i, signatures[sig].data());
      }
      topics = topics_roll < 10 ? 0 : topics_roll < 30 ? 1 : topics_roll < 65 ? 2 : 3;
      if (topics >= 1) AddressTopic(rng, topic1.Slot(i)); else topic1.SetNull(i);
      if (topics >= 2) AddressTopic(rng, topic2.Slot(i)); else topic2.SetNull(i);
      if (topics >= 3) rng.Fill(topic3.Slot(i), 32); else topic3.SetNull(i);

      // data: whole 32-byte words mostly (ABI encoding), sometimes ragged.
      int32_t len = len_roll < 8 ? static_cast<int32_t>(32 * (len_roll % 5))
                                 : static_cast<int32_t>(rng.Below(129));
      rng.Fill(data.Append(i, len), static_cast<size_t>(len));
    }
  }

  auto schema = TableSchema(TableId::kLogs);
  auto field_type = [&](int c) { return schema->field(c)->type(); };
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(schema->num_fields());
  int c = 0;
  for (FixedColumn* col : {&block_num_meta, &block_hash, &block_num, &timestamp, &tx_hash,
                           &tx_index, &log_index, &address, &topic0, &topic1, &topic2, &topic3}) {
    columns.push_back(col->Finish(field_type(c++)));
  }
  AMP_ASSIGN_OR_RETURN(auto data_array, data.Finish(field_type(c)));
  columns.push_back(std::move(data_array));
  return arrow::RecordBatch::Make(std::move(schema), rows, std::move(columns));
}

// ---------------------------------------------------------------------------------------
// calls: kCallsPerTx frames per transaction, a root call (index 0, depth 0; parent_index
// 0 too, as there is none) and one call it makes (index 1, parent 0, depth 1).

Result<std::shared_ptr<arrow::RecordBatch>> GenerateCalls(const ChainSnapshot& snapshot,
                                                          BlockNumber start, BlockNumber end) {
  const auto& options = snapshot.options();
  const int64_t rows = static_cast<int64_t>(RowsInBlocks(TableId::kCalls, options, start, end));
  const auto contracts = AddressSet<24>(options.seed, 0x636f6e7472616374ULL);  // "contract"
  const auto senders = AddressSet<64>(options.seed, 0x73656e646572ULL);       // "sender"
  static constexpr uint32_t kSelectors[4] = {0xa9059cbb, 0x70a08231, 0x23b872dd, 0x022c0d9f};

  FixedColumn block_num_meta, block_hash, block_num, timestamp, tx_index, tx_hash, index,
      parent_index, depth, call_type, caller, address, value, gas_limit, gas_consumed,
      begin_ordinal, end_ordinal;
  VarColumn return_data, input;
  BoolColumn selfdestruct, executed_code;
  AMP_RETURN_NOT_OK(block_num_meta.Init(rows, 8));
  AMP_RETURN_NOT_OK(block_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(block_num.Init(rows, 8));
  AMP_RETURN_NOT_OK(timestamp.Init(rows, 8));
  AMP_RETURN_NOT_OK(tx_index.Init(rows, 4));
  AMP_RETURN_NOT_OK(tx_hash.Init(rows, 32));
  AMP_RETURN_NOT_OK(index.Init(rows, 4));
  AMP_RETURN_NOT_OK(parent_index.Init(rows, 4));
  AMP_RETURN_NOT_OK(depth.Init(rows, 4));
  AMP_RETURN_NOT_OK(call_type.Init(rows, 4));
  AMP_RETURN_NOT_OK(caller.Init(rows, 20));
  AMP_RETURN_NOT_OK(address.Init(rows, 20));
  AMP_RETURN_NOT_OK(value.Init(rows, 16, true));
  AMP_RETURN_NOT_OK(gas_limit.Init(rows, 8));
  AMP_RETURN_NOT_OK(gas_consumed.Init(rows, 8));
  AMP_RETURN_NOT_OK(return_data.Init(rows, 64));
  AMP_RETURN_NOT_OK(input.Init(rows, 4 + 32 * 4));
  AMP_RETURN_NOT_OK(selfdestruct.Init(rows));
  AMP_RETURN_NOT_OK(executed_code.Init(rows));
  AMP_RETURN_NOT_OK(begin_ordinal.Init(rows, 8));
  AMP_RETURN_NOT_OK(end_ordinal.Init(rows, 8));

  int64_t i = 0;
  for (BlockNumber n = start; n <= end && rows > 0; ++n) {
    const uint32_t txs =
        static_cast<uint32_t>(RowsInBlock(TableId::kTransactions, options, n));
    const BlockHash& bh = snapshot.hash(n);
    const int64_t ts = TimestampNanos(snapshot, n);
    Rng rng = BlockRng(options.seed, n, snapshot.version(n), kTagCalls);
    uint64_t ordinal = 0;
    for (uint32_t t = 0; t < txs; ++t) {
      uint8_t hash[32];
      TxHash(bh, t, hash);
      const uint64_t root_gas = 21'000 + rng.Below(979'000);
      const auto& root_contract = contracts[rng.Below(contracts.size())];
      for (uint32_t k = 0; k < kCallsPerTx; ++k, ++i) {
        block_num_meta.Put<uint64_t>(i, n);
        block_hash.PutBytes(i, bh.bytes.data());
        block_num.Put<uint64_t>(i, n);
        timestamp.Put<int64_t>(i, ts);
        tx_index.Put<uint32_t>(i, t);
        tx_hash.PutBytes(i, hash);
        index.Put<uint32_t>(i, k);
        parent_index.Put<uint32_t>(i, 0);
        depth.Put<uint32_t>(i, k);
        // Firehose CallType: 1 CALL, 2 CALLCODE, 3 DELEGATE, 4 STATIC, 5 CREATE. The root
        // is a CALL (a CREATE now and then); inner frames any of CALL/DELEGATE/STATIC.
        int32_t type = 1;
        if (k == 0) {
          type = rng.Percent(3) ? 5 : 1;
        } else {
          static constexpr int32_t kInner[3] = {1, 3, 4};
          type = kInner[rng.Below(3)];
        }
        call_type.Put<int32_t>(i, type);
        caller.PutBytes(i, k == 0 ? senders[rng.Below(senders.size())].data()
                                  : root_contract.data());
        address.PutBytes(i, k == 0 ? root_contract.data()
                                   : contracts[rng.Below(contracts.size())].data());
        // DELEGATE and STATIC frames carry no value of their own: null.
        if (type == 3 || type == 4) {
          value.SetNull(i);
        } else {
          value.PutDecimal(i, rng.Percent(60) ? 0 : WeiAmount(rng, 17));
        }
        const uint64_t limit = k == 0 ? root_gas : root_gas / 2;
        gas_limit.Put<uint64_t>(i, limit);
        gas_consumed.Put<uint64_t>(i, rng.Below(limit + 1));
        const int32_t ret = rng.Percent(70) ? 32 : 0;
        rng.Fill(return_data.Append(i, ret), static_cast<size_t>(ret));
        const uint32_t words = static_cast<uint32_t>(rng.Below(5));
        uint8_t* in = input.Append(i, static_cast<int32_t>(4 + 32 * words));
        const uint32_t selector = kSelectors[rng.Below(4)];
        for (int b = 0; b < 4; ++b) in[b] = static_cast<uint8_t>(selector >> (24 - 8 * b));
        rng.Fill(in + 4, 32 * words);
        selfdestruct.Put(i, rng.Percent(1));
        executed_code.Put(i, type != 5 || rng.Percent(90));
      }
      // Ordinals nest as the frames do: root begins, child begins and ends, root ends.
      begin_ordinal.Put<uint64_t>(i - 2, ordinal);
      begin_ordinal.Put<uint64_t>(i - 1, ordinal + 1);
      end_ordinal.Put<uint64_t>(i - 1, ordinal + 2);
      end_ordinal.Put<uint64_t>(i - 2, ordinal + 3);
      ordinal += 4;
    }
  }

  auto schema = TableSchema(TableId::kCalls);
  auto field_type = [&](int c) { return schema->field(c)->type(); };
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(schema->num_fields());
  int c = 0;
  for (FixedColumn* col : {&block_num_meta, &block_hash, &block_num, &timestamp, &tx_index,
                           &tx_hash, &index, &parent_index, &depth, &call_type, &caller,
                           &address, &value, &gas_limit, &gas_consumed}) {
    columns.push_back(col->Finish(field_type(c++)));
  }
  for (VarColumn* col : {&return_data, &input}) {
    AMP_ASSIGN_OR_RETURN(auto array, col->Finish(field_type(c++)));
    columns.push_back(std::move(array));
  }
  columns.push_back(selfdestruct.Finish());
  columns.push_back(executed_code.Finish());
  columns.push_back(begin_ordinal.Finish(field_type(19)));
  columns.push_back(end_ordinal.Finish(field_type(20)));
  return arrow::RecordBatch::Make(std::move(schema), rows, std::move(columns));
}

}  // namespace

Result<TableId> TableFromName(std::string_view name) {
  if (name == "blocks") return TableId::kBlocks;
  if (name == "transactions") return TableId::kTransactions;
  if (name == "logs") return TableId::kLogs;
  if (name == "calls") return TableId::kCalls;
  return Status::KeyError("table '", name, "' not found in ", kDatasetName,
                          " (known tables: blocks, transactions, logs, calls)");
}

std::string_view TableName(TableId table) {
  switch (table) {
    case TableId::kBlocks:
      return "blocks";
    case TableId::kTransactions:
      return "transactions";
    case TableId::kLogs:
      return "logs";
    case TableId::kCalls:
      return "calls";
  }
  return "unknown";
}

std::shared_ptr<arrow::Schema> TableSchema(TableId table) {
  static const auto kBlocks = MakeBlocksSchema();
  static const auto kTransactions = MakeTransactionsSchema();
  static const auto kLogs = MakeLogsSchema();
  static const auto kCalls = MakeCallsSchema();
  switch (table) {
    case TableId::kBlocks:
      return kBlocks;
    case TableId::kTransactions:
      return kTransactions;
    case TableId::kLogs:
      return kLogs;
    case TableId::kCalls:
      return kCalls;
  }
  return nullptr;
}

uint64_t RowsPerBlock(TableId table, const ChainOptions& options) {
  switch (table) {
    case TableId::kBlocks:
      return 1;
    case TableId::kTransactions:
      return options.txs_per_block;
    case TableId::kLogs:
      // Every log belongs to a transaction.
      return options.txs_per_block == 0 ? 0 : options.logs_per_block;
    case TableId::kCalls:
      return uint64_t{options.txs_per_block} * kCallsPerTx;
  }
  return 0;
}

namespace {
// Rows-per-block multiplier of a hot block.
uint64_t HotFactor(TableId table, const ChainOptions& options) {
  return table == TableId::kBlocks || options.skew <= 1 ? 1 : options.skew;
}
}  // namespace

uint64_t RowsInBlock(TableId table, const ChainOptions& options, BlockNumber n) {
  const uint64_t base = RowsPerBlock(table, options);
  return IsHotBlock(options, n) ? base * HotFactor(table, options) : base;
}

uint64_t MaxRowsPerBlock(TableId table, const ChainOptions& options) {
  // A window with no hot block (skew_window * percent < 100) never reaches the maximum;
  // report it anyway: this is an upper bound for sizing.
  return RowsPerBlock(table, options) * HotFactor(table, options);
}

uint64_t RowsInBlocks(TableId table, const ChainOptions& options, BlockNumber start,
                      BlockNumber end) {
  if (start > end) return 0;
  const uint64_t base = RowsPerBlock(table, options);
  const uint64_t hot = HotBlocksIn(options, start, end);
  return (end - start + 1) * base + hot * base * (HotFactor(table, options) - 1);
}

Result<std::shared_ptr<arrow::RecordBatch>> GenerateRows(TableId table,
                                                         const ChainSnapshot& snapshot,
                                                         BlockNumber start, BlockNumber end) {
  if (start > end) {
    return Status::Invalid("devnet: empty block range [", start, ", ", end, "]");
  }
  if (snapshot.empty()) return Status::Invalid("devnet: the chain has no block yet");
  if (end > snapshot.head()) {
    return Status::Invalid("devnet: block ", end, " is above the head ", snapshot.head());
  }
  switch (table) {
    case TableId::kBlocks:
      return GenerateBlocks(snapshot, start, end);
    case TableId::kTransactions:
      return GenerateTransactions(snapshot, start, end);
    case TableId::kLogs:
      return GenerateLogs(snapshot, start, end);
    case TableId::kCalls:
      return GenerateCalls(snapshot, start, end);
  }
  return Status::Invalid("devnet: unknown table id");
}

}  // namespace amp::devnet
