// Tests of the devnet chain: determinism, hash chaining, the reorg schedule, orphan
// walking, halting, snapshots and change notification.
#include "devnet/chain.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace amp::devnet {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

ChainOptions ReorgingOptions() {
  ChainOptions options;
  options.seed = 42;
  options.history = 5;
  options.reorg_every = 10;
  options.reorg_depth_min = 2;
  options.reorg_depth_max = 4;
  return options;
}

// Every canonical hash is the hash of (n, version, parent) with the previous canonical
// hash as parent: the chain is linked, whatever reorgs happened.
void ExpectLinked(const ChainSnapshot& s) {
  EXPECT_TRUE(s.parent_hash(0).IsZero());
  for (BlockNumber n = 0; n <= s.head(); ++n) {
    BlockHash parent = n == 0 ? BlockHash{} : s.hash(n - 1);
    ASSERT_EQ(s.hash(n), ComputeBlockHash(s.options().seed, n, s.version(n), parent))
        << "block " << n;
    ASSERT_EQ(s.parent_hash(n), parent);
  }
}

TEST(ComputeBlockHash, EveryInputMatters) {
  BlockHash parent = ComputeBlockHash(1, 0, 0, BlockHash{});
  BlockHash base = ComputeBlockHash(1, 5, 0, parent);
  EXPECT_EQ(base, ComputeBlockHash(1, 5, 0, parent));
  EXPECT_NE(base, ComputeBlockHash(2, 5, 0, parent));
  EXPECT_NE(base, ComputeBlockHash(1, 6, 0, parent));
  EXPECT_NE(base, ComputeBlockHash(1, 5, 1, parent));
  BlockHash other_parent = parent;
  other_parent.bytes[31] ^= 1;
  EXPECT_NE(base, ComputeBlockHash(1, 5, 0, other_parent));
  EXPECT_FALSE(base.IsZero());
  // No collisions over a small grid of inputs.
  std::set<BlockHash> seen;
  for (uint64_t seed = 0; seed < 4; ++seed)
    for (BlockNumber n = 0; n < 64; ++n)
      for (uint32_t v = 0; v < 4; ++v) seen.insert(ComputeBlockHash(seed, n, v, BlockHash{}));
  EXPECT_EQ(seen.size(), 4u * 64 * 4);
}

TEST(Chain, HistoryExistsAtConstruction) {
  ChainOptions options;
  options.history = 100;
  Chain chain(options);
  EXPECT_EQ(chain.head(), 99u);
  EXPECT_EQ(chain.produced(), 100u);
  auto s = chain.Snapshot();
  EXPECT_EQ(s->head(), 99u);
  for (BlockNumber n = 0; n <= s->head(); ++n) EXPECT_EQ(s->version(n), 0u);
  ExpectLinked(*s);
  EXPECT_EQ(s->timestamp(0), options.genesis_time);
  EXPECT_EQ(s->timestamp(10), options.genesis_time + 120);

  BlockRange range = s->Range(10, 19);
  EXPECT_EQ(range.network, "mainnet");
  EXPECT_EQ(range.hash, s->hash(19));
  EXPECT_EQ(range.prev_hash, s->hash(9));
  EXPECT_EQ(range.timestamp, options.genesis_time + 12 * 19);
  EXPECT_TRUE(s->Range(0, 0).prev_hash.IsZero());
}

TEST(Chain, SameOptionsSameChainDifferentSeedDifferentChain) {
  Chain a(ReorgingOptions());
  Chain b(ReorgingOptions());
  a.ProduceUntil(300);
  b.ProduceUntil(300);
  auto sa = a.Snapshot();
  auto sb = b.Snapshot();
  ASSERT_EQ(sa->head(), sb->head());
  EXPECT_EQ(sa->head(), 299u);
  bool any_reorged = false;
  for (BlockNumber n = 0; n <= sa->head(); ++n) {
    ASSERT_EQ(sa->hash(n), sb->hash(n)) << n;
    ASSERT_EQ(sa->version(n), sb->version(n)) << n;
    any_reorged |= sa->version(n) > 0;
  }
  EXPECT_TRUE(any_reorged);
  ExpectLinked(*sa);

  ChainOptions other = ReorgingOptions();
  other.seed = 43;
  Chain c(other);
  c.ProduceUntil(300);
  auto sc = c.Snapshot();
  for (BlockNumber n = 0; n <= sc->head(); ++n) ASSERT_NE(sa->hash(n), sc->hash(n)) << n;
}

TEST(Chain, ScheduledReorgsHappenAtMultiplesWithBoundedDepth) {
  const ChainOptions options = ReorgingOptions();
  Chain chain(options);
  std::set<uint64_t> depths;
  int reorgs = 0;
  while (chain.produced() < 200) {
    auto before = chain.Snapshot();
    const uint64_t gen_before = chain.generation();
    const BlockNumber new_head = chain.ProduceBlock();
    auto after = chain.Snapshot();
    ASSERT_EQ(new_head, before->head() + 1);
    ASSERT_EQ(after->head(), before->head() + 1);
    EXPECT_GT(chain.generation(), gen_before);
    ExpectLinked(*after);

    // Heights of the old chain that now have a different block.
    uint64_t changed = 0;
    for (BlockNumber n = 0; n <= before->head(); ++n) {
      if (before->hash(n) != after->hash(n)) {
        ++changed;
        // Replaced blocks are the top ones, each with a fresh version.
        EXPECT_GT(n, before->head() - std::min<uint64_t>(before->head(), options.reorg_depth_max));
        EXPECT_GT(after->version(n), before->version(n));
      } else {
        EXPECT_EQ(before->version(n), after->version(n));
      }
    }
    if (chain.produced() % options.reorg_every == 0) {
      ++reorgs;
      EXPECT_GE(changed, options.reorg_depth_min) << "at produced=" << chain.produced();
      EXPECT_LE(changed, options.reorg_depth_max);
      // Contiguous at the top: the block just below the replaced ones is unchanged.
      for (BlockNumber n = before->head() - changed + 1; n <= before->head(); ++n) {
        EXPECT_NE(before->hash(n), after->hash(n));
      }
      depths.insert(changed);
    } else {
      EXPECT_EQ(changed, 0u) << "unexpected reorg at produced=" << chain.produced();
    }
  }
  // Produced counts 6..200 cross the multiples 10, 20, ..., 200.
  EXPECT_EQ(reorgs, 20);
  EXPECT_GE(depths.size(), 2u) << "depth never varies";
}

TEST(Chain, ReorgDepthIsCappedAboveGenesis) {
  ChainOptions options;
  options.history = 2;  // head 1
  options.reorg_every = 1;
  options.reorg_depth_min = 5;
  options.reorg_depth_max = 5;
  Chain chain(options);
  const BlockHash genesis = chain.Snapshot()->hash(0);
  for (int i = 0; i < 10; ++i) chain.ProduceBlock();
  auto s = chain.Snapshot();
  EXPECT_EQ(s->head(), 11u);
  EXPECT_EQ(s->hash(0), genesis);
  EXPECT_EQ(s->version(0), 0u);
  EXPECT_GT(s->version(1), 0u);
  ExpectLinked(*s);
}

TEST(Chain, ManualReorgHook) {
  ChainOptions options;
  options.history = 10;
  Chain chain(options);
  EXPECT_TRUE(chain.Reorg(10).IsInvalid());  // would replace genesis
  const uint64_t gen = chain.generation();
  ASSERT_TRUE(chain.Reorg(0).ok());
  EXPECT_EQ(chain.generation(), gen);
  auto before = chain.Snapshot();
  ASSERT_TRUE(chain.Reorg(9).ok());
  auto after = chain.Snapshot();
  EXPECT_EQ(after->head(), 9u);
  EXPECT_EQ(after->hash(0), before->hash(0));
  for (BlockNumber n = 1; n <= 9; ++n) {
    EXPECT_NE(after->hash(n), before->hash(n));
    EXPECT_EQ(after->version(n), 1u);
  }
  ASSERT_TRUE(chain.Reorg(2).ok());
  EXPECT_EQ(chain.Snapshot()->version(9), 2u);  // next unused version at that height
  EXPECT_EQ(chain.Snapshot()->version(7), 1u);
  ExpectLinked(*chain.Snapshot());
}

TEST(Chain, CanonicalAncestorWalksOrphanedBranches) {
  ChainOptions options;
  options.history = 20;  // head 19
  Chain chain(options);
  auto original = chain.Snapshot();

  // Canonical blocks are their own ancestor.
  for (BlockNumber n : {0u, 7u, 19u}) {
    auto r = chain.CanonicalAncestor(n, original->hash(n));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, n);
  }

  ASSERT_TRUE(chain.Reorg(3).ok());  // replaces 17, 18, 19
  auto first_fork = chain.Snapshot();
  for (BlockNumber n : {17u, 18u, 19u}) {
    auto r = chain.CanonicalAncestor(n, original->hash(n));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, 16u) << "orphan " << n;
  }
  EXPECT_EQ(*chain.CanonicalAncestor(16, original->hash(16)), 16u);
  EXPECT_EQ(*chain.CanonicalAncestor(19, first_fork->hash(19)), 19u);

  // A deeper second reorg orphans both earlier branches below the old fork point.
  chain.ProduceBlock();  // head 20 on the first fork
  ASSERT_TRUE(chain.Reorg(6).ok());  // replaces 15..20
  EXPECT_EQ(*chain.CanonicalAncestor(19, original->hash(19)), 14u);
  EXPECT_EQ(*chain.CanonicalAncestor(19, first_fork->hash(19)), 14u);
  EXPECT_EQ(*chain.CanonicalAncestor(15, original->hash(15)), 14u);

  // Unknown hash at a height, or a height above the head.
  BlockHash bogus = original->hash(18);
  bogus.bytes[0] ^= 0xff;
  EXPECT_TRUE(chain.CanonicalAncestor(18, bogus).status().IsKeyError());
  EXPECT_TRUE(chain.CanonicalAncestor(0, bogus).status().IsKeyError());
  EXPECT_TRUE(chain.CanonicalAncestor(21, original->hash(19)).status().IsInvalid());
  // A real hash, but from another height.
  EXPECT_TRUE(chain.CanonicalAncestor(10, original->hash(11)).status().IsKeyError());
}

TEST(Chain, CanonicalAncestorAfterScheduledReorgs) {
  Chain chain(ReorgingOptions());
  chain.ProduceUntil(29);
  auto before = chain.Snapshot();  // produced 29: the reorg at 30 is next
  chain.ProduceBlock();
  auto after = chain.Snapshot();
  BlockNumber fork = before->head();
  while (before->hash(fork) != after->hash(fork)) --fork;
  ASSERT_LT(fork, before->head());
  auto r = chain.CanonicalAncestor(before->head(), before->hash(before->head()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, fork);
}

TEST(Chain, HaltAtStopsProduction) {
  ChainOptions options;
  options.history = 10;
  options.halt_at = 15;
  Chain chain(options);
  chain.ProduceUntil(1000);  // must not spin forever
  EXPECT_EQ(chain.head(), 15u);
  EXPECT_EQ(chain.produced(), 16u);
  const uint64_t gen = chain.generation();
  EXPECT_EQ(chain.ProduceBlock(), 15u);
  EXPECT_EQ(chain.head(), 15u);
  EXPECT_EQ(chain.generation(), gen);

  options.halt_at = 3;  // already past: nothing is produced
  Chain halted(options);
  EXPECT_EQ(halted.ProduceBlock(), 9u);
  EXPECT_EQ(halted.produced(), 10u);
}

TEST(Chain, SnapshotIsCachedAndImmutable) {
  ChainOptions options;
  // Straddle a storage chunk boundary so copy-on-write of two chunks is exercised.
  options.history = ChainSnapshot::kChunkSize + 2;
  Chain chain(options);
  auto s1 = chain.Snapshot();
  EXPECT_EQ(s1.get(), chain.Snapshot().get()) << "snapshot rebuilt without a change";
  const BlockNumber head = s1->head();
  const BlockHash top = s1->hash(head);
  const BlockHash below_boundary = s1->hash(ChainSnapshot::kChunkSize - 1);

  ASSERT_TRUE(chain.Reorg(4).ok());  // heights kChunkSize-2 .. kChunkSize+1
  auto s2 = chain.Snapshot();
  EXPECT_NE(s1.get(), s2.get());
  EXPECT_EQ(s1->hash(head), top);
  EXPECT_EQ(s1->hash(ChainSnapshot::kChunkSize - 1), below_boundary);
  EXPECT_EQ(s1->version(head), 0u);
  EXPECT_NE(s2->hash(head), top);
  EXPECT_NE(s2->hash(ChainSnapshot::kChunkSize - 1), below_boundary);
  ExpectLinked(*s1);
  ExpectLinked(*s2);

  chain.ProduceBlock();
  auto s3 = chain.Snapshot();
  EXPECT_EQ(s2->head(), head);
  EXPECT_EQ(s3->head(), head + 1);
  EXPECT_EQ(s3->hash(head), s2->hash(head));
}

TEST(Chain, WaitForChangeWakesOnProduceFromAnotherThread) {
  ChainOptions options;
  options.history = 3;
  Chain chain(options);
  const uint64_t gen = chain.generation();

  // Times out without a change.
  auto t0 = steady_clock::now();
  EXPECT_EQ(chain.WaitForChange(gen, t0 + milliseconds(50)), gen);
  EXPECT_GE(steady_clock::now() - t0, milliseconds(45));

  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    chain.ProduceBlock();
  });
  t0 = steady_clock::now();
  const uint64_t now_gen = chain.WaitForChange(gen, t0 + std::chrono::seconds(10));
  const auto waited = steady_clock::now() - t0;
  producer.join();
  EXPECT_GT(now_gen, gen);
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(chain.head(), 3u);
  // An already-stale generation returns at once.
  EXPECT_EQ(chain.WaitForChange(gen, steady_clock::now() + std::chrono::seconds(10)), now_gen);
}

TEST(Chain, ConcurrentReadersSeeConsistentSnapshots) {
  Chain chain(ReorgingOptions());
  std::atomic<bool> stop{false};
  std::atomic<int> checked{0};
  std::thread reader([&] {
    while (!stop) {
      auto s = chain.Snapshot();
      // The top blocks are where reorgs rewrite hashes; checking them keeps each pass
      // short so many passes overlap the producer.
      for (BlockNumber n = std::max<BlockNumber>(1, s->head() - 64); n <= s->head(); ++n) {
        if (s->hash(n) != ComputeBlockHash(s->options().seed, n, s->version(n), s->hash(n - 1))) {
          ADD_FAILURE() << "torn snapshot at " << n;
          return;
        }
      }
      ++checked;
    }
  });
  // Keep producing (and reorging) until the reader has checked a good number of
  // snapshots taken while the chain was changing.
  for (int i = 0; i < 200'000 && (i < 500 || checked.load() < 20); ++i) chain.ProduceBlock();
  stop = true;
  reader.join();
  EXPECT_GE(checked.load(), 20);
}

}  // namespace
}  // namespace amp::devnet
