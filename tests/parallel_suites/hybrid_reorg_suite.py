#!/usr/bin/env python3
"""(b) Hybrid mode (`--to-block latest`) with reorgs during the parallel catch-up and after
the hand-off to the live stream; at the head the table equals the canonical rows, with zero
duplicates in the overlap.

Devnet: 3,000 blocks of transactions (4 per block), no automatic production: the suite
produces blocks and reorgs through DoAction. The load: 4 workers, 150-block partitions,
--reorg-buffer 100 (the live stream takes over at X = head - 100). Workers are slowed down
with 150 ms query latency and a per-stream bandwidth cap so the catch-up lasts seconds.

  1. As soon as the first "Worker N processing" line shows the catch-up started: produce
     20 blocks, reorg the top 5 (above X: the live stream reloads them), then reorg the top
     160 (deeper than the buffer: X's hash is no longer canonical, so the live stream must
     be rewound by the server to the fork point and undo what the workers wrote above it),
     produce 10 more.
  2. After the hand-off (a "(live)" result): remove the slowdown, produce 30 blocks, reorg
     the top 4, produce 10, reorg the top 2, produce 5.
  3. Wait until the live checkpoint is the head (number and hash); the table must equal the
     canonical rows of blocks 0..=head (no missing, duplicate or stale row), no
     (block_num, tx_index) twice, the live stream never replayed history (its first commit
     starts near X, not at 0), and Ctrl+C exits 130.

Usage: hybrid_reorg_suite.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import sys
import time

import parallel_suite_lib as P
from parallel_suite_lib import L, check, log

HISTORY = 3_000
REORG_BUFFER = 100
TABLE = "txs_hybrid"


def body(suite: L.Suite) -> None:
    pg = suite.pg()
    dev = suite.devnet("--seed", "51", "--history", str(HISTORY), "--block-time", "0",
                       "--txs-per-block", "4", "--logs-per-block", "2", "--microbatch-blocks", "100",
                       "--keep-alive-ms", "500")
    head0 = dev.head()[0]
    dev.set_faults(query_latency_ms=150, bandwidth_bytes_per_second=1_000_000)
    flags = P.parallel_flags(4, partition_size=150, batch_size=200, reorg_buffer=REORG_BUFFER)
    ld = suite.loader(dev, pg, P.TX_QUERY, TABLE, *flags)

    # 1. Reorgs while the workers run.
    P.wait_for(lambda: P.output_of(ld).worker_starts, 60, "the catch-up to start", ld)
    check(not P.output_of(ld).live, "the catch-up ended before the suite could reorg during it")
    dev.produce(20)
    dev.reorg(5)
    deep = dev.reorg(160)
    dev.produce(10)
    caught_up_during = not P.output_of(ld).live
    log(f"during catch-up: +20 blocks, reorg 5, reorg 160 (head {deep['head']}), +10 blocks; "
        f"still catching up: {caught_up_during}")
    check(caught_up_during, "the hand-off happened before the reorgs were injected: slow the workers more")

    # 2. Reorgs after the hand-off.
    P.wait_for(lambda: P.output_of(ld).live, 90, "the hand-off to the live stream", ld, poll=0.05)
    dev.set_faults()
    log(f"handed over: first live commit {P.output_of(ld).live[0]}")
    dev.produce(30)
    time.sleep(0.3)
    dev.reorg(4)
    dev.produce(10)
    time.sleep(0.3)
    dev.reorg(2)
    dev.produce(5)

    # 3. At the head: exact content, no duplicates.
    head = P.wait_live_at_head(pg, ld, dev, timeout=60, what="hybrid")
    n = L.compare_table(pg, dev, head, P.TX_QUERY, TABLE)
    P.check_no_duplicates(pg, TABLE)
    out = P.output_of(ld)
    log(f"at head {head[0]}: {n} rows equal the canonical rows; {out.summary()}")
    first_live = out.live[0]
    check(first_live[0] >= head0 - REORG_BUFFER - 200,
          f"the live stream replayed history: its first commit covers {first_live}")
    check(out.reorgs >= 1, f"the live stream reported no reorg: {out.stdout[-2000:]}")
    check(len(out.ok) >= 1 and not out.failed, f"catch-up partitions: {out.summary()}")
    rc = ld.interrupt()
    check(rc == L.EXIT_INTERRUPTED, f"Ctrl+C: exit {rc}, expected {L.EXIT_INTERRUPTED}: {ld.stderr()[-1500:]}")
    L.compare_table(pg, dev, head, P.TX_QUERY, TABLE)


if __name__ == "__main__":
    sys.exit(L.run_suite("parallel_hybrid_reorg", body,
                         L.common_args("hybrid mode with reorgs").parse_args()))
