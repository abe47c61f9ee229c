#!/usr/bin/env python3
"""Parallel backfill speedup: `ampsync load --workers N` against a devnet that models a
remote Amp server, for N = 1, 2, 4, 8, 16 (the seed guide's speedup table).

The remote server: `ampsync devnet` with a per-query latency (--query-latency-ms, added
to every GetFlightInfo and DoGet, default 50 ms, a typical internet round trip) and a per-stream bandwidth cap
(--bandwidth, bytes per second of each DoGet stream's message bodies). One stream is then
bandwidth-bound, as a single connection to a distant server is; N workers open N streams.
The cap is calibrated so that one worker needs about --target-seconds (default 28 s): the
script first reads the whole range once without faults (pyarrow.flight) to measure its
Arrow body bytes B, then sets cap = B / target.

Each run: `ampsync load --query "SELECT * FROM eth_firehose.transactions" --workers N
--from-block 0 --to-block <last> --partition-size <range / (4 N)>` (4 partitions per
worker, so every worker has work and a fast one can take more) into a throwaway PostgreSQL
(scripts/pg, fsync off); the table and amp_client_state are dropped before each run, and
after it the row count is checked. Reported per N: wall seconds from process start to
exit, rows/s, speedup against N = 1, the child's peak RSS (its VmHWM, polled every 10 ms) and the
seed's memory formula num_workers x batch_size x row_size, with row_size = B / rows and
the constant taken as the 1-worker run's RSS minus its formula term.

Targets (the seed's table): 4 workers >= 3.5x, 8 workers >= 6x; they are printed as met or
not, never asserted (the machine is shared). --quick: a ~4 s baseline and N = 1, 4 (the
ctest smoke test, bench_parallel_load_smoke).

Usage:
  bench/parallel_load_bench.py --ampsync build/<dir>/tools/ampsync/ampsync
      [--blocks 10000] [--txs-per-block 4] [--latency-ms 50] [--target-seconds 28]
      [--workers 1,2,4,8,16] [--batch-size 10000] [--quick] [--pg-script scripts/pg]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pg_suites"))
import pg_suite_lib as lib  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_rss import run_measured  # noqa: E402

TABLE = "bench_parallel"
QUERY = "SELECT * FROM eth_firehose.transactions"
TARGETS = {4: 3.5, 8: 6.0}


def measure_bytes(dev: lib.Devnet, last: int) -> tuple[int, int]:
    """(rows, Arrow body bytes) of the benchmark's range, read once without faults."""
    table, _ = dev.batch_query(f"{QUERY} WHERE block_num >= 0 AND block_num <= {last}")
    return table.num_rows, sum(b.nbytes for b in table.to_batches())


def run_load(suite: lib.Suite, dev: lib.Devnet, pg: lib.PgServer, workers: int, last: int,
             partition_size: int, batch_size: int) -> dict:
    pg.query(f"DROP TABLE IF EXISTS {TABLE}")
    if pg.table_exists("amp_client_state"):
        pg.query("DROP TABLE amp_client_state")
    pg.query("CHECKPOINT")
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", QUERY, "--to", pg.uri,
           "--table", TABLE, "--workers", str(workers), "--from-block", "0",
           "--to-block", str(last), "--partition-size", str(partition_size),
           "--batch-size", str(batch_size), "--source-table", "eth_firehose.transactions",
           "--progress", "never", "--quiet"]
    log_path = suite.workdir / f"load-{workers}.log"
    # Peak RSS: the process's own high-water mark (VmHWM; see peak_rss.py).
    seconds, returncode, hwm_kib = run_measured(lib.guarded(cmd), log_path)
    text = log_path.read_text(errors="replace")
    lib.check(returncode == 0, f"`{' '.join(cmd)}` exited {returncode}: {text[-3000:]}")
    rows = int(pg.scalar(f"SELECT count(*) FROM {TABLE}"))
    return {"workers": workers, "seconds": seconds, "rows": rows, "rss_kib": hwm_kib}


def bench(suite: lib.Suite) -> None:
    a = suite.args
    if a.quick:
        a.blocks, a.target_seconds, a.latency_ms = 2_000, 4.0, 50
        a.workers = "1,4"
    workers = [int(w) for w in a.workers.split(",") if w]
    last = a.blocks - 1
    pg = suite.pg()
    dev = suite.devnet("--seed", "5", "--history", str(a.blocks), "--block-time", "0",
                       "--txs-per-block", str(a.txs_per_block))
    rows, body_bytes = measure_bytes(dev, last)
    cap = max(1, int(body_bytes / a.target_seconds))
    row_size = body_bytes / max(rows, 1)
    dev.set_faults(query_latency_ms=a.latency_ms, bandwidth_bytes_per_second=cap)
    lib.log(f"range 0..={last}: {rows:,} rows, {body_bytes / 1e6:.1f} MB of Arrow bodies "
            f"({row_size:.0f} B/row); remote-server model: {a.latency_ms} ms per call, "
            f"{cap / 1e3:.0f} kB/s per stream")

    results = []
    for n in workers:
        partition_size = max(1, -(-a.blocks // (4 * n)))
        r = run_load(suite, dev, pg, n, last, partition_size, a.batch_size)
        lib.check(r["rows"] == rows, f"{n} workers loaded {r['rows']} rows, expected {rows}")
        r["partition_size"] = partition_size
        results.append(r)
        lib.log(f"{n:>2} workers: {r['seconds']:.2f} s, peak RSS {r['rss_kib'] / 1024:.1f} MiB")

    base = next((r for r in results if r["workers"] == 1), results[0])
    formula = lambda n: n * a.batch_size * row_size  # noqa: E731
    constant = base["rss_kib"] * 1024 - formula(base["workers"])
    print()
    print(f"Parallel load speedup ({rows:,} rows of eth_firehose.transactions, "
          f"{a.latency_ms} ms latency, {cap / 1e3:.0f} kB/s per stream, batch_size {a.batch_size:,})")
    print("| workers | partitions | seconds | rows/s | speedup | target | peak RSS | "
          "formula N x batch x row (+ const) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        n = r["workers"]
        speedup = base["seconds"] / r["seconds"]
        target = TARGETS.get(n)
        target_text = (f">= {target}x {'met' if speedup >= target else 'NOT met'}"
                       if target else "-")
        parts = -(-a.blocks // r["partition_size"])
        print(f"| {n} | {parts} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
              f"{speedup:.2f}x | {target_text} | {r['rss_kib'] / 1024:.1f} MiB | "
              f"{formula(n) / 2**20:.1f} MiB (+ {constant / 2**20:.1f} MiB) = "
              f"{(formula(n) + constant) / 2**20:.1f} MiB "
              f"({'within' if r['rss_kib'] * 1024 <= formula(n) + constant else 'ABOVE'}) |")
    print(f"speedup at {results[-1]['workers']} workers: "
          f"{base['seconds'] / results[-1]['seconds']:.2f}x", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ampsync", required=True)
    ap.add_argument("--pg-script", default=str(lib.REPO / "scripts" / "pg"))
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--txs-per-block", type=int, default=4)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--target-seconds", type=float, default=28.0,
                    help="calibrate the bandwidth cap so one worker takes about this long")
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="small run for the smoke test")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    return lib.run_suite("parallel_load_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
