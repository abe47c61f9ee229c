#!/usr/bin/env python3
"""(e) A failing partition, with and without --stop-on-error.

The devnet's fail_queries_touching fault (docs/devnet.md) makes every batch query whose
block bounds include a chosen block fail with INTERNAL (not retryable), so exactly the
partitions containing it fail, deterministically.

1. Without --stop-on-error: 2,000 frozen blocks of transactions, 3 workers, 200-block
   partitions, blocks 700..=720 failing (set with --fail-queries-touching at devnet start).
   Expected: exit non-zero; one failure line for partition [600, 800) naming the injected
   fault; the nine others load; the table equals the canonical rows of [0, 600) and
   [800, 2000) exactly. Then the fault is cleared (set_faults {}) and the same command is
   rerun: exit 0, it loads exactly the 800 rows of the gap (nothing else), and the table
   equals the canonical rows of [0, 2000).
2. With --stop-on-error: a fresh table, 2 workers, 100-block partitions over 2,000 blocks
   (20 partitions), query latency 150 ms so each partition takes a while, and the fault set
   (through the control action) on block 250: partition [200, 300) fails early. Expected:
   exit non-zero, the failure reported, and the load stops early: far fewer than the 19
   other partitions loaded; whatever it committed is canonical and without duplicates.
   A rerun after clearing the fault completes the table exactly.
3. Hybrid mode (--to-block latest) with the fault on block 1500 (the head query, which
   has no upper bound on the block, is not affected); expected: partition [1400, 1600) fails, the load exits non-zero without handing
   over to the live stream; after clearing the fault a rerun loads exactly that partition,
   hands over, and at the head the table equals the canonical rows.

Usage: failing_partition_suite.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import sys
import time

import parallel_suite_lib as P
from parallel_suite_lib import L, check, log

BLOCKS = 2_000


def body(suite: L.Suite) -> None:
    pg = suite.pg()
    dev = suite.devnet("--seed", "31", "--history", str(BLOCKS), "--block-time", "0",
                       "--txs-per-block", "4", "--logs-per-block", "2",
                       "--fail-queries-touching", "700-720")
    last = BLOCKS - 1

    # --- 1. The others continue; the rerun fills exactly the gap. ---
    table = "txs_fail"
    flags = P.parallel_flags(3, lo=0, hi=last, partition_size=200, batch_size=250)
    rc, out, ld = P.run_parallel(suite, dev, pg, table, flags, timeout=90)
    check(rc != 0, f"a load with a failed partition exited 0: {ld.stderr()[-2000:]}")
    check(len(out.failed) == 1 and (out.failed[0].start, out.failed[0].end) == (600, 800),
          f"expected exactly partition [600, 800) to fail, got {out.failed}; stderr: {ld.stderr()[-2000:]}")
    check("fail_queries_touching" in out.failed[0].error,
          f"the failure does not carry the server's error: {out.failed[0].error}")
    check("partition" in ld.stderr() and "failed" in ld.stderr(),
          f"no failure summary on stderr: {ld.stderr()[-1500:]}")
    P.check_disjoint_cover(out.ok + out.failed, 0, BLOCKS, "partitions incl. the failed one")
    check(len(out.ok) == 9, f"expected the 9 other partitions to load, got {len(out.ok)}")
    dev.set_faults()  # the canonical queries below read the failing blocks too
    n = P.compare_blocks(pg, dev, table, [(0, 599), (800, last)])
    log(f"first run: {n} rows, exactly [0, 600) and [800, 2000); [600, 800) reported failed")

    rc, rerun, ld = P.run_parallel(suite, dev, pg, table, flags, timeout=90)
    check(rc == 0, f"rerun after clearing the fault exited {rc}: {ld.stderr()[-2000:]}")
    loaded = [p for p in rerun.ok if p.rows > 0]
    check(all(600 <= p.start and p.end <= 800 for p in loaded),
          f"the rerun loaded outside the gap [600, 800): {loaded}")
    check(sum(p.rows for p in rerun.ok) == 800,
          f"the rerun loaded {sum(p.rows for p in rerun.ok)} rows, the gap has 800: {rerun.ok}")
    P.compare_blocks(pg, dev, table, [(0, last)])
    P.check_no_duplicates(pg, table)
    log("rerun filled exactly the gap; table equals blocks 0..=1999")

    # --- 2. --stop-on-error stops early. ---
    table = "txs_stop"
    dev.set_faults(query_latency_ms=150, fail_queries_touching={"first": 250, "last": 250,
                                                               "code": "INTERNAL"})
    flags = P.parallel_flags(2, lo=0, hi=last, partition_size=100, batch_size=200,
                             stop_on_error=True)
    started = time.monotonic()
    rc, out, ld = P.run_parallel(suite, dev, pg, table, flags, timeout=120)
    elapsed = time.monotonic() - started
    check(rc != 0, f"--stop-on-error load with a failing partition exited 0: {ld.stderr()[-2000:]}")
    check(any((p.start, p.end) == (200, 300) for p in out.failed),
          f"partition [200, 300) not reported failed: {out.failed}; {ld.stderr()[-1500:]}")
    check(len(out.ok) <= 6,
          f"--stop-on-error went on loading: {len(out.ok)} partitions after the failure")
    log(f"--stop-on-error: stopped after {elapsed:.1f}s with {len(out.ok)} partitions loaded")
    dev.set_faults()
    P.check_no_duplicates(pg, table)
    if pg.table_exists(table):
        # Whatever was committed is canonical: compare the blocks that hold rows.
        blocks = [int(r[0]) for r in pg.query(f"SELECT DISTINCT block_num FROM {table}")]
        covered = sorted(set(blocks))
        intervals, start = [], None
        for i, b in enumerate(covered):
            start = b if start is None else start
            if i + 1 == len(covered) or covered[i + 1] != b + 1:
                intervals.append((start, b))
                start = None
        P.compare_blocks(pg, dev, table, intervals)
    rc, rerun, ld = P.run_parallel(suite, dev, pg, table, flags, timeout=120)
    check(rc == 0, f"rerun after --stop-on-error exited {rc}: {ld.stderr()[-2000:]}")
    P.compare_blocks(pg, dev, table, [(0, last)])
    P.check_no_duplicates(pg, table)
    log("rerun after --stop-on-error completed the table exactly")

    # --- 3. Hybrid mode: a failed catch-up partition means no hand-off; the rerun fills it. ---
    table = "txs_hybrid_fail"
    flags = P.parallel_flags(3, partition_size=200, batch_size=400, reorg_buffer=50)
    # The head query has no upper bound on the block, so the fault leaves it alone.
    dev.set_faults(fail_queries_touching=1500)
    ld = suite.loader(dev, pg, P.TX_QUERY, table, *flags)
    rc = ld.wait(60)
    out = P.output_of(ld)
    check(rc != 0 and not out.live,
          f"hybrid load with a failed catch-up partition: exit {rc}, {out.summary()}")
    check([(p.start, p.end) for p in out.failed] == [(1400, 1600)],
          f"expected catch-up partition [1400, 1600) to fail: {out.failed}")
    dev.set_faults()
    ld = suite.loader(dev, pg, P.TX_QUERY, table, *flags)
    head = P.wait_live_at_head(pg, ld, dev, timeout=60, what="hybrid rerun")
    rerun = P.output_of(ld)
    check([(p.start, p.end) for p in rerun.ok if p.rows] == [(1400, 1600)],
          f"the hybrid rerun loaded other partitions than the gap: {rerun.ok}")
    L.compare_table(pg, dev, head, P.TX_QUERY, table)
    P.check_no_duplicates(pg, table)
    check(ld.interrupt() == L.EXIT_INTERRUPTED, "Ctrl+C of the hybrid rerun")
    log("hybrid: no hand-off after a failed catch-up partition; the rerun filled it and went live")


if __name__ == "__main__":
    sys.exit(L.run_suite("parallel_failing_partition", body,
                         L.common_args("failing partition").parse_args()))
