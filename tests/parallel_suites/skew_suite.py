#!/usr/bin/env python3
"""(d) Skewed data with a small partition_size: every row right, and the work balanced.

Devnet with hot ranges (docs/devnet.md, --skew): 4,000 frozen blocks, 4 transactions per
block, --skew 20 --skew-window 4000 --skew-hot-percent 10, so blocks 0..399 carry 80
transactions each and the rest 4: the first quarter of the range (what one worker would
get with equal per-worker partitions) holds 32,000 of the 46,400 rows. A per-stream
bandwidth cap makes a partition's time follow its rows, like a remote server.

The load uses 4 workers and 100-block partitions (40 partitions, 4 of them hot). Checks:
  * exit 0, partitions disjoint and covering [0, 4000), each partition's reported rows
    equal to its canonical count (80 or 4 per block);
  * the table equals the canonical rows of blocks 0..=3999;
  * balance: every worker completed several (>= 4) partitions, and no worker loaded more
    than its fair share (total / 4) plus one hot partition's rows (with equal per-worker
    partitions one worker would load 32,000 of the 46,400 rows); one "Worker N processing
    blocks" log line per partition. Per-worker partitions, rows and busy seconds are logged.

Usage: skew_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import collections
import sys
import time

import parallel_suite_lib as P
from parallel_suite_lib import L, check, log

BLOCKS = 4_000
HOT_BLOCKS = 400
SKEW = 20
TXS = 4
PARTITION = 100
WORKERS = 4
TABLE = "txs_skew"


def body(suite: L.Suite) -> None:
    pg = suite.pg()
    dev = suite.devnet("--seed", "41", "--history", str(BLOCKS), "--block-time", "0",
                       "--txs-per-block", str(TXS), "--logs-per-block", "2",
                       "--skew", str(SKEW), "--skew-window", str(BLOCKS),
                       "--skew-hot-percent", "10")
    hot_rows = P.rows_in(dev, 0, HOT_BLOCKS - 1)
    total = P.rows_in(dev, 0, BLOCKS - 1)
    check(hot_rows == HOT_BLOCKS * TXS * SKEW and total == hot_rows + (BLOCKS - HOT_BLOCKS) * TXS,
          f"devnet skew is not the documented pattern: {hot_rows} hot rows, {total} in all")
    # A partition's time follows its rows (~500 bytes each): ~1 s for a hot one (8,000 rows)
    # on one stream, ~50 ms for a cold one.
    dev.set_faults(bandwidth_bytes_per_second=4_000_000, query_latency_ms=20)

    started = time.monotonic()
    flags = P.parallel_flags(WORKERS, lo=0, hi=BLOCKS - 1, partition_size=PARTITION, batch_size=2000)
    rc, out, ld = P.run_parallel(suite, dev, pg, TABLE, flags, timeout=120)
    elapsed = time.monotonic() - started
    check(rc == 0, f"skewed load exited {rc}: {ld.stderr()[-2000:]}")
    check(len(out.ok) == BLOCKS // PARTITION, f"expected 40 partition results: {out.summary()}")
    P.check_disjoint_cover(out.ok, 0, BLOCKS, "partitions")
    for p in out.ok:
        want = (p.end - p.start) * TXS * (SKEW if p.end <= HOT_BLOCKS else 1)
        check(p.rows == want, f"partition [{p.start}, {p.end}) reported {p.rows} rows, canonical {want}")
    dev.set_faults()
    n = P.compare_blocks(pg, dev, TABLE, [(0, BLOCKS - 1)])
    P.check_no_duplicates(pg, TABLE)
    log(f"table {TABLE}: {n} rows equal the canonical rows")

    per_worker = out.partitions_by_worker()
    counts = {w: len(ps) for w, ps in sorted(per_worker.items())}
    rows = {w: sum(p.rows for p in ps) for w, ps in sorted(per_worker.items())}
    busy = {w: round(sum(p.seconds for p in ps), 2) for w, ps in sorted(per_worker.items())}
    log(f"partitions per worker {counts}, rows per worker {rows}, busy seconds {busy}, "
        f"wall {elapsed:.1f}s")
    check(set(counts) == set(range(WORKERS)), f"not every worker completed partitions: {counts}")
    check(min(counts.values()) >= 4, f"a worker completed fewer than 4 partitions: {counts}")
    hot_partition_rows = PARTITION * TXS * SKEW
    check(max(rows.values()) <= total / WORKERS + hot_partition_rows,
          f"unbalanced: a worker loaded {max(rows.values())} rows, fair share {total / WORKERS:.0f} "
          f"+ one hot partition {hot_partition_rows}: {rows}")
    logged = collections.Counter(w for w, _, _ in out.worker_starts)
    check(sum(logged.values()) == BLOCKS // PARTITION,
          f"'Worker N processing blocks' lines: {dict(logged)} (expected one per partition)")


if __name__ == "__main__":
    sys.exit(L.run_suite("parallel_skew", body, L.common_args("skewed parallel load").parse_args()))
