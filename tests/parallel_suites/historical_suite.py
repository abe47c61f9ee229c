#!/usr/bin/env python3
"""(a) A parallel historical load: `ampsync load --workers 4 --from-block 0 --to-block B`
into PostgreSQL, checked row by row against the devnet's canonical rows.

Devnet: 3,000 blocks of transactions (4 per block), frozen (no live blocks). The load asks
for blocks 0..=2,499 (B inclusive) with 250-block partitions (10 of them) and 300-row
commits, so every partition commits several chunks. Checks:
  * exit 0; one success line per partition, whose [start, end) intervals are disjoint and
    cover exactly [0, 2500); each line's row count is the canonical count of its blocks;
    every worker 0..3 appears, and each worker logged "Worker N processing blocks";
  * the table equals the canonical rows of blocks 0..=2,499 (nothing of 2,500.. leaked past
    the last partition, nothing missing or duplicated);
  * amp_client_state holds one "<job>/range/<start>" checkpoint per partition start;
  * a rerun of the same command loads nothing new (every block is already committed) and
    leaves the table unchanged; --dry-run prints the plan with the wrapped queries;
  * a query with OR and `SETTINGS stream = true` over an odd range (1234..=2345, 97-block
    partitions) loads exactly its canonical rows;
  * --to-block above the server's head: blocks that do not exist yet must not be recorded
    as loaded: after the chain grows past the range, a rerun ends with exactly its rows.

Usage: historical_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import subprocess
import sys

import parallel_suite_lib as P
from parallel_suite_lib import L, check, log

TABLE = "txs_hist"
LAST = 2_499
PARTITION = 250
WORKERS = 4


def body(suite: L.Suite) -> None:
    pg = suite.pg()
    dev = suite.devnet("--seed", "21", "--history", "3000", "--block-time", "0",
                       "--txs-per-block", "4", "--logs-per-block", "2")
    flags = P.parallel_flags(WORKERS, lo=0, hi=LAST, partition_size=PARTITION, batch_size=300)

    # --dry-run: the plan, every query wrapped (never spliced), nothing written.
    proc = subprocess.run(L.guarded([suite.ampsync, "load", "--server", dev.url, "--query",
                                     P.TX_QUERY, "--to", pg.uri, "--table", TABLE, *flags,
                                     "--dry-run"]), capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0, f"--dry-run exited {proc.returncode}: {proc.stderr[-2000:]}")
    check("_amp_partition" in proc.stdout and '"block_num" >= 2250' in proc.stdout
          and '"block_num" < 2500' in proc.stdout,
          f"--dry-run does not show the wrapped partition queries:\n{proc.stdout[-3000:]}")
    check(not pg.table_exists(TABLE), "--dry-run created the destination table")

    rc, out, ld = P.run_parallel(suite, dev, pg, TABLE, flags, timeout=90)
    check(rc == 0, f"parallel load exited {rc}: {ld.stderr()[-3000:]}")
    check(not out.failed, f"failed partitions: {out.failed}")
    check(len(out.ok) == (LAST + 1) // PARTITION, f"expected 10 partition results, got {len(out.ok)}")
    P.check_disjoint_cover(out.ok, 0, LAST + 1, "partitions")
    for p in out.ok:
        check(p.rows == 4 * (p.end - p.start),
              f"partition {p.pid} [{p.start}, {p.end}) reported {p.rows} rows, "
              f"canonical {4 * (p.end - p.start)}")
    workers = {p.worker for p in out.ok}
    check(workers == set(range(WORKERS)), f"workers seen in results: {sorted(workers)}")
    logged = {w for w, _, _ in out.worker_starts}
    check(logged == set(range(WORKERS)),
          f"'Worker N processing blocks' lines for workers {sorted(logged)}: {out.stderr[-1500:]}")

    n = P.compare_blocks(pg, dev, TABLE, [(0, LAST)])
    P.check_no_duplicates(pg, TABLE)
    log(f"table {TABLE}: {n} rows equal the canonical rows of blocks 0..={LAST}")

    ranges = P.range_checkpoints(pg)
    starts = sorted(int(k.rsplit("/", 1)[1]) for k in ranges)
    check(starts == [p.start for p in sorted(out.ok, key=lambda p: p.start)],
          f"range checkpoints {sorted(ranges)} do not match the partitions")

    rc, again, ld = P.run_parallel(suite, dev, pg, TABLE, flags, timeout=60)
    check(rc == 0, f"rerun exited {rc}: {ld.stderr()[-2000:]}")
    check(sum(p.rows for p in again.ok) == 0 and not again.failed,
          f"rerun of a finished load loaded rows again: {again.ok}")
    P.compare_blocks(pg, dev, TABLE, [(0, LAST)])
    log("rerun loaded nothing; table unchanged")

    # A wrapped query with OR and SETTINGS stream = true: the workers drop the setting and
    # never splice into the user's WHERE; odd range and partition size (boundaries).
    query = ("SELECT block_num, tx_index, tx_hash, value FROM eth_firehose.transactions "
             "WHERE tx_index = 0 OR (tx_index = 3 AND block_num < 1500) SETTINGS stream = true")
    rc, out, ld = P.run_parallel(suite, dev, pg, "txs_or",
                                 P.parallel_flags(3, lo=1234, hi=2345, partition_size=97,
                                                  batch_size=123), query=query)
    check(rc == 0, f"OR-query load exited {rc}: {ld.stderr()[-2000:]}")
    P.check_disjoint_cover(out.ok, 1234, 2346, "OR-query partitions")
    L.compare_table(pg, dev, dev.head(),
                    "SELECT block_num, tx_index, tx_hash, value FROM eth_firehose.transactions "
                    "WHERE (tx_index = 0 OR (tx_index = 3 AND block_num < 1500)) "
                    "AND block_num >= 1234 AND block_num <= 2345", "txs_or")
    log("OR query over [1234, 2345] with 97-block partitions: exact")

    # --to-block above the server's head: blocks that do not exist yet must not end up
    # recorded as loaded. Whatever the first run does (refuse, or load what exists), once
    # the chain has grown past the range, a rerun must end with exactly its canonical rows.
    head = dev.head()[0]
    flags = P.parallel_flags(2, lo=head - 99, hi=head + 400, partition_size=100)
    rc, first, ld = P.run_parallel(suite, dev, pg, "txs_beyond", flags)
    log(f"--to-block {head + 400} with the head at {head}: exit {rc}, {first.summary()}")
    dev.produce(500)
    rc, again, ld = P.run_parallel(suite, dev, pg, "txs_beyond", flags)
    check(rc == 0, f"rerun once the chain reached --to-block exited {rc}: {ld.stderr()[-2000:]}")
    P.compare_blocks(pg, dev, "txs_beyond", [(head - 99, head + 400)])
    log("--to-block above the head: the rerun completed the range exactly")


if __name__ == "__main__":
    sys.exit(L.run_suite("parallel_historical", body,
                         L.common_args("parallel historical load").parse_args()))
