#include "devnet/chain.h"
#include "devnet/mix.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace amp::devnet {
namespace {

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

BlockHash ComputeBlockHash(uint64_t seed, BlockNumber n, uint32_t version,
                           const BlockHash& parent) {
  // Eight input words absorbed by four independently keyed lanes; each step
  // h <- Mix64(h ^ w) + k is injective in w, and the final cross-lane pass makes every
  // output word depend on every lane, so distinct inputs collide only by chance.
  const uint64_t words[8] = {seed,
                             n,
                             version,
                             LoadLe64(parent.bytes.data()),
                             LoadLe64(parent.bytes.data() + 8),
                             LoadLe64(parent.bytes.data() + 16),
                             LoadLe64(parent.bytes.data() + 24),
                             0x616d702d6465766eULL};  // "amp-devn": domain separation
  uint64_t lane[4];
  for (int l = 0; l < 4; ++l) {
    uint64_t h = Mix64(kGolden * static_cast<uint64_t>(2 * l + 1));
    for (uint64_t w : words) h = Mix64(h ^ w) + kGolden * static_cast<uint64_t>(l + 1);
    lane[l] = h;
  }
  uint64_t out[4];
  for (int l = 0; l < 4; ++l) {
    out[l] = Mix64(lane[l] ^ Mix64(lane[(l + 1) & 3] + lane[(l + 2) & 3]) ^ lane[(l + 3) & 3]);
  }
  BlockHash hash;
  for (int l = 0; l < 4; ++l) StoreLe64(hash.bytes.data() + 8 * l, out[l]);
  return hash;
}

namespace {

// Hot blocks per window; 0 when skew is off.
uint64_t HotPerWindow(const ChainOptions& options) {
  if (options.skew <= 1 || options.skew_window == 0) return 0;
  const uint64_t percent = std::min<uint64_t>(options.skew_hot_percent, 100);
  // Exact for any window: window * percent cannot overflow for sane windows (< 2^57).
  return options.skew_window * percent / 100;
}

// Hot blocks among [0, x).
uint64_t HotBelow(const ChainOptions& options, uint64_t x) {
  const uint64_t hot = HotPerWindow(options);
  if (hot == 0) return 0;
  return (x / options.skew_window) * hot + std::min(x % options.skew_window, hot);
}

}  // namespace

bool IsHotBlock(const ChainOptions& options, BlockNumber n) {
  const uint64_t hot = HotPerWindow(options);
  return hot > 0 && n % options.skew_window < hot;
}

uint64_t HotBlocksIn(const ChainOptions& options, BlockNumber start, BlockNumber end) {
  if (start > end) return 0;
  // end + 1 may wrap for UINT64_MAX; count [start, end) then add end itself.
  return HotBelow(options, end) - HotBelow(options, start) + (IsHotBlock(options, end) ? 1 : 0);
}

uint64_t ChainSnapshot::timestamp(BlockNumber n) const {
  return options_->genesis_time + 12 * n;
}

BlockRange ChainSnapshot::Range(BlockNumber start, BlockNumber end) const {
  BlockRange range;
  range.network = options_->network;
  range.start = start;
  range.end = end;
  range.hash = hash(end);
  range.prev_hash = parent_hash(start);
  range.timestamp = timestamp(end);
  return range;
}

Chain::Chain(ChainOptions options)
    : options_(std::make_shared<const ChainOptions>(std::move(options))) {
  const uint64_t history = options_->history;
  for (uint64_t i = 0; i < history; ++i) AppendLocked();
  produced_ = history;
}

const BlockHash& Chain::HashLocked(BlockNumber n) const {
  return chunks_[n >> ChainSnapshot::kChunkBits]->hashes[n & (ChainSnapshot::kChunkSize - 1)];
}

Chain::Chunk& Chain::MutableChunk(BlockNumber n) {
  const uint64_t index = n >> ChainSnapshot::kChunkBits;
  if (index == chunks_.size()) chunks_.push_back(std::make_shared<Chunk>());
  auto& chunk = chunks_[index];
  // Only Snapshot() (under mu_) adds owners, so use_count cannot grow under us; a
  // concurrent release by a reader at worst causes one needless copy.
  if (chunk.use_count() > 1) chunk = std::make_shared<Chunk>(*chunk);
  return *chunk;
}

void Chain::AppendLocked() {
  const BlockNumber n = size_;
  const BlockHash parent = n == 0 ? BlockHash{} : HashLocked(n - 1);
  Chunk& chunk = MutableChunk(n);
  const uint64_t slot = n & (ChainSnapshot::kChunkSize - 1);
  chunk.hashes[slot] = ComputeBlockHash(options_->seed, n, 0, parent);
  chunk.versions[slot] = 0;
  ++size_;
}

void Chain::ReorgLocked(uint32_t depth) {
  reorg_times_.push_back(std::chrono::steady_clock::now());
  const BlockNumber head = HeadLocked();
  const BlockNumber first = head - depth + 1;  // >= 1: genesis is never replaced
  // Hash of the block below n on the branch being orphaned; the loop overwrites the
  // canonical hashes bottom-up, so it is carried along rather than read back.
  BlockHash old_parent = HashLocked(first - 1);
  for (BlockNumber n = first; n <= head; ++n) {
    const uint64_t slot = n & (ChainSnapshot::kChunkSize - 1);
    const BlockHash old_hash = HashLocked(n);
    auto [it, inserted] = forks_.try_emplace(n);
    std::vector<Version>& versions = it->second;
    // First reorg at this height: record the only version so far (0).
    if (inserted) versions.push_back(Version{old_hash, old_parent});
    const uint32_t version = static_cast<uint32_t>(versions.size());
    const BlockHash parent = HashLocked(n - 1);  // already the new branch
    const BlockHash hash = ComputeBlockHash(options_->seed, n, version, parent);
    versions.push_back(Version{hash, parent});
    Chunk& chunk = MutableChunk(n);
    chunk.hashes[slot] = hash;
    chunk.versions[slot] = version;
    old_parent = old_hash;
  }
}

void Chain::ChangedLocked() {
  ++generation_;
  snapshot_.reset();
}

BlockNumber Chain::ProduceBlock() {
  BlockNumber head;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (size_ > 0 && options_->halt_at && HeadLocked() >= *options_->halt_at) return HeadLocked();
    const uint64_t count = produced_ + 1;
    if (size_ > 0 && options_->reorg_every > 0 && count % options_->reorg_every == 0) {
      uint32_t lo = options_->reorg_depth_min;
      uint32_t hi = std::max(options_->reorg_depth_max, lo);
      uint64_t draw = Mix64(Mix64(options_->seed ^ 0x72656f7267ULL) + count * kGolden);
      uint64_t depth = lo + draw % (uint64_t{hi} - lo + 1);
      depth = std::min<uint64_t>(depth, HeadLocked());
      if (depth > 0) {
        ReorgLocked(static_cast<uint32_t>(depth));
        ChangedLocked();
      }
    }
    AppendLocked();
    produced_ = count;
    ChangedLocked();
    head = HeadLocked();
  }
  changed_.notify_all();
  return head;
}

void Chain::ProduceUntil(uint64_t produced_count) {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (produced_ >= produced_count) return;
      if (size_ > 0 && options_->halt_at && HeadLocked() >= *options_->halt_at) return;
    }
    ProduceBlock();
  }
}

Status Chain::Reorg(uint32_t depth) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (size_ == 0) return Status::Invalid("reorg depth ", depth, ": the chain has no block yet");
    if (depth > HeadLocked()) {
      return Status::Invalid("reorg depth ", depth, " exceeds head ", HeadLocked(),
                             ": genesis cannot be replaced");
    }
    if (depth == 0) return Status::OK();
    ReorgLocked(depth);
    ChangedLocked();
  }
  changed_.notify_all();
  return Status::OK();
}

bool Chain::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_ == 0;
}

BlockNumber Chain::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_ == 0 ? 0 : HeadLocked();
}

uint64_t Chain::reorgs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reorg_times_.size();
}

std::chrono::steady_clock::time_point Chain::ReorgTime(uint64_t k) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (k == 0 || k > reorg_times_.size()) return std::chrono::steady_clock::time_point{};
  return reorg_times_[k - 1];
}

uint64_t Chain::produced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return produced_;
}

uint64_t Chain::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

std::shared_ptr<const ChainSnapshot> Chain::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!snapshot_) {
    auto snapshot = std::make_shared<ChainSnapshot>();
    snapshot->options_ = options_;
    snapshot->size_ = size_;
    snapshot->generation_ = generation_;
    snapshot->reorgs_ = reorg_times_.size();
    snapshot->chunks_.assign(chunks_.begin(), chunks_.end());
    snapshot_ = std::move(snapshot);
  }
  return snapshot_;
}

Result<BlockNumber> Chain::CanonicalAncestor(BlockNumber number, const BlockHash& hash) const {
  return AncestorIn(*Snapshot(), number, hash);
}

Result<BlockNumber> Chain::AncestorIn(const ChainSnapshot& snapshot, BlockNumber number,
                                      const BlockHash& hash) const {
  if (snapshot.empty() || number > snapshot.head()) {
    return Status::Invalid("block ", number, " is above the head ",
                           snapshot.empty() ? std::string("(no block yet)")
                                            : std::to_string(snapshot.head()));
  }
  if (snapshot.hash(number) == hash) return number;
  std::lock_guard<std::mutex> lock(mu_);
  // Not canonical: the hash must be an orphaned version at this height. forks_ only ever
  // grows, so it also knows every version an older snapshot had.
  auto find_parent = [this](BlockNumber n, const BlockHash& h) -> const BlockHash* {
    auto it = forks_.find(n);
    if (it == forks_.end()) return nullptr;
    for (const Version& v : it->second) {
      if (v.hash == h) return &v.parent;
    }
    return nullptr;
  };
  const BlockHash* parent = find_parent(number, hash);
  if (parent == nullptr) {
    return Status::KeyError("no block ", hash.ToHex(), " was ever produced at height ", number);
  }
  // Walk the orphaned branch down; it rejoins the canonical chain at the fork point at
  // the latest at genesis, which is never replaced.
  for (BlockNumber n = number - 1;; --n) {
    if (snapshot.hash(n) == *parent) return n;
    parent = find_parent(n, *parent);
    if (parent == nullptr || n == 0) {
      return Status::UnknownError("orphaned branch of block ", number, " is broken at ", n);
    }
  }
}

uint64_t Chain::WaitForChange(uint64_t seen_generation,
                              std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return generation_ != seen_generation; });
  return generation_;
}

}  // namespace amp::devnet
