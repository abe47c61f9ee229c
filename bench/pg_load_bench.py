#!/usr/bin/env python3
"""PostgreSQL load throughput: `ampsync load` (a batch query, default settings) against
PostgreSQL's own binary COPY of the same rows, in the same run, on the same server.

For each of the devnet tables `logs` and `transactions` (--rows rows each, default
200,000; the devnet is sized to hold exactly that many):
  ours     `ampsync load --server <devnet> --query "SELECT * FROM eth_firehose.<t>"
           --to <pg> --table <t>_ours` timed wall-clock from process start to exit (Flight
           read from the devnet, encoding, COPY, commit, table creation included); its peak
           RSS is the process's own VmHWM (bench/peak_rss.py), its batch size is the
           default (100,000 rows per unit, 64 MiB flush);
  ceiling  `COPY (SELECT * FROM <t>_ours) TO '<file>' (FORMAT binary)` (untimed), then
           `CREATE TABLE <t>_ceiling (LIKE <t>_ours INCLUDING ALL)` (same columns and
           block index) and the timed `COPY <t>_ceiling FROM '<file>' WITH (FORMAT binary)`:
           the server reading a local file, no network, no encoding, no source.
MB/s is the size of that binary COPY file divided by each side's time (the same bytes for
both), rows/s the row count divided by it; ours/ceiling is the ratio of rows/s (target:
>= 0.70). With --repeat N each side runs N times (alternating, CHECKPOINT before each) and
the median is reported; each run line also shows that pair's ratio. One untimed `ours` run
per table comes first (it writes the ceiling's file and warms the server, the devnet and
the page cache, so that no first-run cost lands on one side only). A throwaway PostgreSQL
(scripts/pg, fsync off) and an `ampsync devnet` subprocess are started and stopped by the
script. Both sides see the same server settings; autovacuum is off for the whole run, as
a vacuum of the table the previous run loaded would otherwise land at random on one
side's timing (the tables are dropped and recreated, never vacuumed, either way).

Usage:
  bench/pg_load_bench.py --ampsync build/<dir>/tools/ampsync/ampsync [--rows 200000]
                         [--repeat 3] [--tables logs,transactions] [--pg-script scripts/pg]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pg_suites"))
import pg_suite_lib as lib  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_rss import run_measured  # noqa: E402

ROWS_PER_BLOCK = 4
DEFAULT_BATCH_SIZE = 100_000  # LoadOptions::batch_size, used because no --batch-size is given


def run_ours(suite: lib.Suite, dev: lib.Devnet, pg: lib.PgServer, table: str, target: str) -> dict:
    pg.query(f"DROP TABLE IF EXISTS {target}")
    pg.query("DELETE FROM amp_client_state" if pg.table_exists("amp_client_state") else "SELECT 1")
    pg.query("CHECKPOINT")
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", f"SELECT * FROM eth_firehose.{table}",
           "--to", pg.uri, "--table", target]
    out_path = suite.workdir / f"ours-{target}.log"
    seconds, returncode, peak_kib = run_measured(cmd, out_path)
    text = out_path.read_text()
    lib.check(returncode == 0, f"`{' '.join(cmd)}` exited {returncode}: {text}")
    m = re.search(r"Loaded (\d+) rows to \S+ in ([0-9.]+)s", text)
    lib.check(m is not None, f"no 'Loaded' line from the loader: {text}")
    return {"seconds": seconds, "unit_seconds": float(m.group(2)), "rows": int(m.group(1)),
            "rss_kib": peak_kib}


def run_ceiling(pg: lib.PgServer, source: str, target: str, path: str) -> float:
    pg.query(f"DROP TABLE IF EXISTS {target}")
    pg.query(f"CREATE TABLE {target} (LIKE {source} INCLUDING ALL)")
    pg.query("CHECKPOINT")
    proc = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.uri],
                          input=f"\\timing on\nCOPY {target} FROM '{path}' WITH (FORMAT binary);\n",
                          capture_output=True, text=True, timeout=600)
    lib.check(proc.returncode == 0, f"COPY FROM file failed: {proc.stderr}")
    m = re.search(r"Time: ([0-9.]+) ms", proc.stdout)
    lib.check(m is not None, f"no timing from psql: {proc.stdout}")
    return float(m.group(1)) / 1000.0


def bench(suite: lib.Suite) -> None:
    args = suite.args
    tables = [t for t in args.tables.split(",") if t]
    blocks = -(-args.rows // ROWS_PER_BLOCK)
    pg = suite.pg()
    pg.query("ALTER SYSTEM SET autovacuum = off")
    pg.query("SELECT pg_reload_conf()")
    dev = suite.devnet("--history", str(blocks), "--block-time", "0",
                       "--txs-per-block", str(ROWS_PER_BLOCK), "--logs-per-block", str(ROWS_PER_BLOCK))
    rows_expected = blocks * ROWS_PER_BLOCK
    results = {}
    for table in tables:
        ours_runs, ceiling_runs = [], []
        path = os.path.join(pg.dir, f"{table}.bin")  # the server writes and reads it
        # Untimed warm-up load: it writes the file the ceiling reads, and it takes the
        # first-run costs (a fresh cluster's first WAL segments, a cold devnet and page
        # cache) off the timed runs, where they would all land on the first `ours` run.
        warm = run_ours(suite, dev, pg, table, f"{table}_ours")
        lib.check(warm["rows"] == rows_expected,
                  f"{table}: loaded {warm['rows']} rows, expected {rows_expected}")
        pg.query(f"COPY (SELECT * FROM {table}_ours) TO '{path}' (FORMAT binary)")
        file_bytes = int(pg.scalar(f"SELECT (pg_stat_file('{path}')).size"))
        print(f"  {table} warm-up: ours {warm['seconds']:.3f}s (untimed)", flush=True)
        for i in range(args.repeat):
            ours = run_ours(suite, dev, pg, table, f"{table}_ours")
            lib.check(ours["rows"] == rows_expected,
                      f"{table}: loaded {ours['rows']} rows, expected {rows_expected}")
            count = pg.scalar(f"SELECT count(*) FROM {table}_ours")
            lib.check(int(count) == rows_expected, f"{table}_ours holds {count} rows")
            ceiling = run_ceiling(pg, f"{table}_ours", f"{table}_ceiling", path)
            count = pg.scalar(f"SELECT count(*) FROM {table}_ceiling")
            lib.check(int(count) == rows_expected, f"{table}_ceiling holds {count} rows")
            ours_runs.append(ours)
            ceiling_runs.append(ceiling)
            print(f"  {table} run {i + 1}: ours {ours['seconds']:.3f}s (unit {ours['unit_seconds']:.2f}s, "
                  f"RSS {ours['rss_kib'] / 1024:.0f} MiB), COPY FROM file {ceiling:.3f}s, "
                  f"ratio {ceiling / ours['seconds']:.2f}", flush=True)
        results[table] = {
            "rows": rows_expected,
            "bytes": file_bytes,
            "ours": statistics.median(r["seconds"] for r in ours_runs),
            "ours_unit": statistics.median(r["unit_seconds"] for r in ours_runs),
            "ceiling": statistics.median(ceiling_runs),
            "rss_kib": max(r["rss_kib"] for r in ours_runs),
        }

    print()
    print(f"PostgreSQL load: {len(tables)} tables x {rows_expected} rows; median of {args.repeat} "
          f"run(s); MB = 10^6 bytes of binary COPY data")
    header = (f"{'table':<13} {'rows':>8} {'MB':>7} | {'ours s':>7} {'rows/s':>9} {'MB/s':>7} | "
              f"{'COPY s':>7} {'rows/s':>9} {'MB/s':>7} | {'ours/ceiling':>12} | peak RSS (batch size)")
    print(header)
    print("-" * len(header))
    for table, r in results.items():
        mb = r["bytes"] / 1e6
        ratio = r["ceiling"] / r["ours"]
        print(f"{table:<13} {r['rows']:>8} {mb:>7.1f} | {r['ours']:>7.3f} {r['rows'] / r['ours']:>9.0f} "
              f"{mb / r['ours']:>7.1f} | {r['ceiling']:>7.3f} {r['rows'] / r['ceiling']:>9.0f} "
              f"{mb / r['ceiling']:>7.1f} | {ratio:>11.2f}x | peak RSS "
              f"{r['rss_kib'] / 1024:.0f} MiB (batch size {DEFAULT_BATCH_SIZE} rows)")
    print()
    print("ours counts the whole `ampsync load` process; the loader's own unit time "
          "(first event to commit) was: " + ", ".join(
              f"{t} {r['ours_unit']:.3f}s ({r['ceiling'] / r['ours_unit']:.2f}x)" for t, r in results.items()))
    print("ratio ours/ceiling: " + ", ".join(f"{t} {r['ceiling'] / r['ours']:.2f}x" for t, r in results.items()))


def main() -> int:
    ap = lib.common_args(__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000, help="rows per table")
    ap.add_argument("--repeat", type=int, default=1, help="runs per side (median reported)")
    ap.add_argument("--tables", default="logs,transactions")
    args = ap.parse_args()
    return lib.run_suite("pg_load_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
