#!/usr/bin/env python3
"""(c) kill -9 during the parallel catch-up, at >= 5 random moments, then a rerun that
completes: the table ends exactly canonical.

Devnet: 6,000 blocks of transactions (4 per block), frozen except for a few blocks the suite
produces between runs. The load is hybrid (`--to-block latest`): 4 workers, 50-block
partitions (120), 100-row commits (chunks of 25 blocks), 150 ms query latency, so the
catch-up takes ~10 s. Each run is killed with SIGKILL 0.3-1.5 s (seeded RNG) after its first
"Worker N processing" line, i.e. while the workers are writing. After each kill, once the
loader's PostgreSQL sessions are gone:
  * every block present in the table is complete and canonical, and no (block_num,
    tx_index) is stored twice: committed chunks are whole, nothing is committed twice;
  * the range checkpoints only move forward.
Between runs 0-8 blocks are produced (the hand-off point saved by the first run stays).
Then two runs are killed right at the hand-off (0-150 ms after "Handing over", around the
live stream's first commit); the table is checked the same way after each.
After the kills, a last run completes the catch-up, hands over, and follows the head;
when its live checkpoint is the head, the table equals the canonical rows of 0..=head.
Then that run is killed too, the devnet reorgs 15 blocks (below the live checkpoint), and
a rerun resumes the live stream without catching up again; at the head the table is exact.

Usage: crash_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--seed N]
"""

from __future__ import annotations

import random
import sys
import time

import parallel_suite_lib as P
from parallel_suite_lib import L, check, log

HISTORY = 6_000
TABLE = "txs_crash"
KILLS = 6
DEFAULT_SEED = 4242


def committed_blocks(pg: L.PgServer) -> list[tuple[int, int]]:
    if not pg.table_exists(TABLE):
        return []
    blocks = sorted(int(r[0]) for r in pg.query(f"SELECT DISTINCT block_num FROM {TABLE}"))
    intervals, start = [], None
    for i, b in enumerate(blocks):
        start = b if start is None else start
        if i + 1 == len(blocks) or blocks[i + 1] != b + 1:
            intervals.append((start, b))
            start = None
    return intervals


def body(suite: L.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    log(f"seed {seed}")
    pg = suite.pg()
    dev = suite.devnet("--seed", "61", "--history", str(HISTORY), "--block-time", "0",
                       "--txs-per-block", "4", "--logs-per-block", "2", "--microbatch-blocks", "200",
                       "--query-latency-ms", "150")
    flags = P.parallel_flags(4, partition_size=50, batch_size=100, reorg_buffer=50)

    catchup_kills = 0
    previous: dict = {}
    attempt = 0
    while catchup_kills < KILLS:
        attempt += 1
        check(attempt <= KILLS + 4, f"only {catchup_kills} kills landed during catch-up in {attempt - 1} runs")
        ld = suite.loader(dev, pg, P.TX_QUERY, TABLE, *flags, name="crash")
        P.wait_for(lambda: P.output_of(ld).worker_starts or P.output_of(ld).live, 60,
                   "the workers to start", ld)
        time.sleep(rng.uniform(0.3, 1.5))
        out = P.output_of(ld)
        during = not out.live and "Handing over" not in ld.stderr()
        check(ld.alive(), f"run {attempt} ended before the kill: {ld.describe()}")
        ld.kill9()
        L.wait_no_backends(pg)
        catchup_kills += during
        intervals = committed_blocks(pg)
        rows = P.compare_blocks(pg, dev, TABLE, intervals) if intervals else 0
        P.check_no_duplicates(pg, TABLE) if intervals else None
        ranges = P.range_checkpoints(pg)
        for sid, cp in previous.items():
            now = ranges.get(sid)
            check(cp is None or (now is not None and now[0] >= cp[0]),
                  f"range checkpoint {sid} went back from {cp} to {now}")
        previous = ranges
        log(f"kill {attempt} ({'catch-up' if during else 'after hand-off'}): {rows} rows in "
            f"{len(intervals)} block runs, all canonical; {len(ranges)} range checkpoints; "
            f"{len(out.ok)} partitions finished in that run")
        produced = rng.randint(0, 8)
        if produced:
            dev.produce(produced)

    # Two more kills right at the hand-off (0-150 ms after "Handing over"), around the live
    # stream's first commit, which deletes the workers' rows above X and reloads them.
    for k in range(2):
        ld = suite.loader(dev, pg, P.TX_QUERY, TABLE, *flags, name="handoff")
        P.wait_for(lambda: "Handing over" in ld.stderr(), 60, "the hand-off", ld, poll=0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        ld.kill9()
        L.wait_no_backends(pg)
        intervals = committed_blocks(pg)
        P.compare_blocks(pg, dev, TABLE, intervals)
        P.check_no_duplicates(pg, TABLE)
        log(f"kill at the hand-off {k + 1}: live checkpoint {P.live_checkpoint(pg)}, "
            f"{len(intervals)} block runs, all canonical")
        dev.produce(rng.randint(1, 6))

    ld = suite.loader(dev, pg, P.TX_QUERY, TABLE, *flags, name="final")
    P.wait_for(lambda: P.output_of(ld).live, 120, "the final run's hand-off", ld, poll=0.05)
    dev.set_faults()
    dev.produce(5)
    head = P.wait_live_at_head(pg, ld, dev, timeout=60, what="final run")
    n = L.compare_table(pg, dev, head, P.TX_QUERY, TABLE)
    P.check_no_duplicates(pg, TABLE)
    log(f"final run at head {head[0]}: {n} rows equal the canonical rows after {catchup_kills} kills")

    # kill -9 after the hand-off, a reorg below the live checkpoint, then a rerun: the live
    # stream resumes from its own checkpoint (no catch-up again) and repairs the reorg.
    ld.kill9()
    L.wait_no_backends(pg)
    dev.produce(10)
    dev.reorg(15)
    ld = suite.loader(dev, pg, P.TX_QUERY, TABLE, *flags, name="after-handoff")
    head = P.wait_live_at_head(pg, ld, dev, timeout=60, what="rerun after the hand-off")
    out = P.output_of(ld)
    check(sum(p.rows for p in out.ok) == 0,
          f"the rerun after the hand-off caught up again: {out.summary()}")
    n = L.compare_table(pg, dev, head, P.TX_QUERY, TABLE)
    P.check_no_duplicates(pg, TABLE)
    log(f"killed after the hand-off, reorg 15, rerun at head {head[0]}: {n} rows exact")
    rc = ld.interrupt()
    check(rc == L.EXIT_INTERRUPTED, f"Ctrl+C: exit {rc}: {ld.stderr()[-1500:]}")


if __name__ == "__main__":
    sys.exit(L.run_suite("parallel_crash", body, L.common_args("kill -9 during catch-up").parse_args()))
