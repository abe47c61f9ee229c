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
// Thread-safety: Chain is safe for concurrent use; readers take immutable snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <optional>
#include <string>
#include <vector>

#include "amp/status.h"
#include "amp/types.h"

namespace amp::devnet {

struct ChainOptions {
  uint64_t seed = 1;
  std::string network = "mainnet";
  /// Blocks present at start: heights 0..history-1 (history >= 1).
  uint64_t history = 10'000;
  /// Wall-clock milliseconds between new blocks once live (0: no live production).
  uint64_t block_time_ms = 1'000;
  uint32_t txs_per_block = 4;
  uint32_t logs_per_block = 8;
  /// A reorg happens each time the produced block count reaches a multiple of this (0: never).
  uint64_t reorg_every = 0;
  uint32_t reorg_depth_min = 1;
  uint32_t reorg_depth_max = 3;
  /// Stop producing once the head reaches this number.
  std::optional<uint64_t> halt_at;
  /// Unix seconds of block 0; block n is stamped genesis_time + 12 * n.
  uint64_t genesis_time = 1'700'000'000;
};

/// Immutable view of the canonical chain at one moment.
class ChainSnapshot {
 public:
  BlockNumber head() const { return static_cast<BlockNumber>(versions_.size()) - 1; }
  /// Version of block n on the canonical branch (0 unless reorged). n <= head().
  uint32_t version(BlockNumber n) const { return versions_[n]; }
  const BlockHash& hash(BlockNumber n) const { return hashes_[n]; }
  /// Hash of block n-1, all zero for genesis.
  BlockHash parent_hash(BlockNumber n) const { return n == 0 ? BlockHash{} : hashes_[n - 1]; }
  uint64_t timestamp(BlockNumber n) const;  ///< Unix seconds.
  const ChainOptions& options() const { return *options_; }

 private:
  friend class Chain;
  std::shared_ptr<const ChainOptions> options_;
  std::vector<uint32_t> versions_;
  std::vector<BlockHash> hashes_;
};

class Chain {
 public:
  explicit Chain(ChainOptions options);

  /// Produces the next block, first applying a scheduled reorg when one is due.
  /// No-op once halt_at is reached. Returns the new head.
  BlockNumber ProduceBlock();
  /// Produces blocks until `count` blocks have been produced since genesis.
  void ProduceUntil(uint64_t produced_count);
  /// Replaces the top `depth` blocks with new versions (test hook; depth <= head).
  Status Reorg(uint32_t depth);

  BlockNumber head() const;
  /// Blocks produced since genesis (history counts), the input of determinism.
  uint64_t produced() const;
  std::shared_ptr<const ChainSnapshot> Snapshot() const;

  /// Highest block that is an ancestor of (number, hash) and is canonical now. Returns
  /// `number` itself when (number, hash) is canonical. KeyError if the hash was never
  /// produced at that height.
  Result<BlockNumber> CanonicalAncestor(BlockNumber number, const BlockHash& hash) const;

  /// Blocks until the chain changes (new block or reorg) after `seen_generation`, or
  /// until `deadline`. Returns the current generation.
  uint64_t WaitForChange(uint64_t seen_generation,
                         std::chrono::steady_clock::time_point deadline) const;
  uint64_t generation() const;

  const ChainOptions& options() const { return *options_; }

 private:
  // Every version ever produced at a height, with its hash and parent hash, so a cursor
  // on an orphaned branch can be walked back to the fork point.
  struct Version {
    BlockHash hash;
    BlockHash parent;
  };
  std::shared_ptr<const ChainOptions> options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t produced_ = 0;
  uint64_t generation_ = 0;
  std::vector<uint32_t> canonical_version_;
  std::vector<std::vector<Version>> versions_;
  std::shared_ptr<const ChainSnapshot> snapshot_;
};

/// Hash of block (n, version) given its parent hash; deterministic in the seed.
BlockHash ComputeBlockHash(uint64_t seed, BlockNumber n, uint32_t version, const BlockHash& parent);

}  // namespace amp::devnet
