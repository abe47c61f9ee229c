// Deterministic synthetic EVM chain behind `ampsync devnet`.
//
// The chain is a pure function of (ChainOptions, number of blocks produced so far): the
// same options give the same blocks, hashes and reorgs, so tests recompute any block
// range's canonical content (the oracle) and compare a destination row by row.
//
// Block content is derived from (seed, block number, version): every reorg gives the
// replaced heights a new version, hence new hashes and new rows. Hashes chain: a block's
// hash covers its parent's hash.
//
// Reorg schedule: heights 0..history-1 exist at construction (no reorgs among them, and
// they count as produced). The ProduceBlock() call that brings the produced count to a
// multiple of reorg_every first replaces the top `depth` blocks (depth drawn from a PRNG
// seeded by (seed, that count), in [reorg_depth_min, reorg_depth_max], capped at the head
// so genesis is never replaced), then appends the new block on top of the new branch.
//
// Thread-safety: Chain is safe for concurrent use; readers take immutable snapshots.
// Snapshots share storage with the chain in fixed-size chunks (copy-on-write), so taking
// one is O(head / kChunkSize) pointer copies, not a copy of every hash.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::devnet {

struct ChainOptions {
  uint64_t seed = 1;
  std::string network = "mainnet";
  /// Blocks present at start: heights 0..history-1. 0: none, the chain is empty (nothing
  /// synced) until the first ProduceBlock() appends genesis.
  uint64_t history = 10'000;
  /// Wall-clock milliseconds between new blocks once live (0: no live production).
  uint64_t block_time_ms = 1'000;
  uint32_t txs_per_block = 4;
  /// Logs per block, spread over the block's transactions (none when txs_per_block is 0).
  uint32_t logs_per_block = 8;
  /// A reorg happens each time the produced block count reaches a multiple of this (0: never).
  uint64_t reorg_every = 0;
  uint32_t reorg_depth_min = 1;
  uint32_t reorg_depth_max = 3;
  /// Stop producing once the head reaches this number.
  std::optional<uint64_t> halt_at;
  /// Unix seconds of block 0; block n is stamped genesis_time + 12 * n.
  uint64_t genesis_time = 1'700'000'000;
  /// Uneven but deterministic load ("hot ranges"), for parallel-load balance tests. When
  /// skew > 1, the first skew_hot_percent percent of the blocks of every window of
  /// skew_window blocks (blocks n with n % skew_window < skew_window * skew_hot_percent
  /// / 100) carry skew times txs_per_block transactions and skew times logs_per_block
  /// logs. It depends on the block number only (reorgs keep it); blocks rows are not
  /// affected. 0 or 1: off, every block alike (the default).
  uint32_t skew = 0;
  uint64_t skew_window = 10'000;
  uint32_t skew_hot_percent = 10;
};

/// True when block n is in a hot range of `options` (see ChainOptions::skew).
bool IsHotBlock(const ChainOptions& options, BlockNumber n);
/// Number of hot blocks among [start, end] (inclusive; 0 when start > end). O(1).
uint64_t HotBlocksIn(const ChainOptions& options, BlockNumber start, BlockNumber end);

/// Immutable view of the canonical chain at one moment.
class ChainSnapshot {
 public:
  static constexpr uint64_t kChunkBits = 12;
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkBits;

  /// No block yet (ChainOptions::history 0 before the first block): head() is meaningless.
  bool empty() const { return size_ == 0; }
  BlockNumber head() const { return size_ - 1; }
  /// Chain::generation() and Chain::reorgs() when the snapshot was taken.
  uint64_t generation() const { return generation_; }
  uint64_t reorgs() const { return reorgs_; }
  /// Version of block n on the canonical branch (0 unless reorged). n <= head().
  uint32_t version(BlockNumber n) const { return chunk(n).versions[n & (kChunkSize - 1)]; }
  const BlockHash& hash(BlockNumber n) const { return chunk(n).hashes[n & (kChunkSize - 1)]; }
  /// Hash of block n-1, all zero for genesis.
  BlockHash parent_hash(BlockNumber n) const { return n == 0 ? BlockHash{} : hash(n - 1); }
  uint64_t timestamp(BlockNumber n) const;  ///< Unix seconds.
  const ChainOptions& options() const { return *options_; }
  /// The Amp range [start, end] of this snapshot: end hash, start's parent hash, end time.
  BlockRange Range(BlockNumber start, BlockNumber end) const;

 private:
  friend class Chain;
  // Canonical hashes/versions of kChunkSize consecutive heights. A chunk is never
  // modified once a snapshot shares it; the chain copies it first.
  struct Chunk {
    std::array<BlockHash, kChunkSize> hashes{};
    std::array<uint32_t, kChunkSize> versions{};
  };
  const Chunk& chunk(BlockNumber n) const { return *chunks_[n >> kChunkBits]; }

  std::shared_ptr<const ChainOptions> options_;
  uint64_t size_ = 0;  // head + 1
  uint64_t generation_ = 0;
  uint64_t reorgs_ = 0;
  std::vector<std::shared_ptr<const Chunk>> chunks_;
};

class Chain {
 public:
  explicit Chain(ChainOptions options);

  /// Produces the next block, first applying a scheduled reorg when one is due.
  /// No-op once halt_at is reached. Returns the new head.
  BlockNumber ProduceBlock();
  /// Produces blocks until `count` blocks have been produced since genesis (or halt_at).
  void ProduceUntil(uint64_t produced_count);
  /// Replaces the top `depth` blocks with new versions (test hook). Invalid if depth > head
  /// (genesis is never replaced) or the chain is empty; depth 0 is a no-op.
  Status Reorg(uint32_t depth);

  /// No block yet (history 0 and nothing produced).
  bool empty() const;
  /// The head block; 0 while empty() (check empty() first where it matters).
  BlockNumber head() const;
  /// Blocks produced since genesis (history counts), the input of determinism.
  uint64_t produced() const;
  /// The current canonical chain; cached, rebuilt at most once per change.
  std::shared_ptr<const ChainSnapshot> Snapshot() const;

  /// Highest block that is an ancestor of (number, hash) and is canonical now. Returns
  /// `number` itself when (number, hash) is canonical. KeyError if the hash was never
  /// produced at that height; Invalid if number > head.
  Result<BlockNumber> CanonicalAncestor(BlockNumber number, const BlockHash& hash) const;
  /// The same against `snapshot`, an older state of this chain: every version ever
  /// produced is kept, so a branch can be walked back to where it joins the snapshot.
  Result<BlockNumber> AncestorIn(const ChainSnapshot& snapshot, BlockNumber number,
                                 const BlockHash& hash) const;

  /// Reorgs applied so far (scheduled and Reorg() calls), and when reorg k (1-based,
  /// k <= reorgs()) happened.
  uint64_t reorgs() const;
  std::chrono::steady_clock::time_point ReorgTime(uint64_t k) const;

  /// Blocks until the chain changes (new block or reorg) after `seen_generation`, or
  /// until `deadline`. Returns the current generation.
  uint64_t WaitForChange(uint64_t seen_generation,
                         std::chrono::steady_clock::time_point deadline) const;
  uint64_t generation() const;

  const ChainOptions& options() const { return *options_; }

 private:
  // One version ever produced at a height. Only heights that were ever reorged are kept
  // here (all their versions, index = version number); any other height has exactly one
  // version, the canonical one, so a cursor on an orphaned branch can be walked back to
  // the fork point without storing every block twice.
  struct Version {
    BlockHash hash;
    BlockHash parent;
  };
  using Chunk = ChainSnapshot::Chunk;

  BlockNumber HeadLocked() const { return size_ - 1; }
  const BlockHash& HashLocked(BlockNumber n) const;
  // Chunk holding height n, copied first if a snapshot shares it.
  Chunk& MutableChunk(BlockNumber n);
  void AppendLocked();
  void ReorgLocked(uint32_t depth);
  void ChangedLocked();

  std::shared_ptr<const ChainOptions> options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t produced_ = 0;
  uint64_t generation_ = 0;
  uint64_t size_ = 0;  // head + 1
  std::vector<std::shared_ptr<Chunk>> chunks_;
  std::map<BlockNumber, std::vector<Version>> forks_;
  std::vector<std::chrono::steady_clock::time_point> reorg_times_;
  mutable std::shared_ptr<const ChainSnapshot> snapshot_;  // null when stale
};

/// Hash of block (n, version) given its parent hash; deterministic in the seed.
BlockHash ComputeBlockHash(uint64_t seed, BlockNumber n, uint32_t version, const BlockHash& parent);

}  // namespace amp::devnet
