#!/usr/bin/env python3
"""Tiny batches: `ampsync load` of the same rows sent as ampd sends them (one Flight message
per block, `ampsync devnet --chunking ampd`) against large messages (`--chunking large`,
~2 MiB each), into PostgreSQL and into Delta Lake. Target: the ampd-chunked load is at
most 20% slower (ratio ampd/large <= 1.20), and Delta Lake writes no more Parquet files
for it.

Two devnets with the same seed and history serve identical rows (--blocks blocks of the
`blocks` table by default: one row per block, so every ampd message holds a single row),
one per chunking, halted (no live blocks). Each run is a batch `ampsync load --server
<devnet> --query "SELECT * FROM eth_firehose.<table>" --to <destination> --table <t>`
into a dropped table (PostgreSQL: DROP TABLE and its checkpoint rows; Delta Lake: the
table directory removed), timed from process start to exit (wall), with the process's
own CPU time (user + sys from wait4, which leaves out the devnet's work of sending many
more messages). After one untimed warm-up run per chunking and destination, --repeat
pairs run, alternating which chunking goes first; every run's row count is checked
(PostgreSQL: count(*); Delta Lake: the deltalake package). The memory loader runs the same
pairs as the reference: its time is the read path alone (the devnet serving the messages,
Flight, protocol checks, the engine, the coalescer), so "over the read path" is what each
destination adds to it. Reported: each pair's times, the median of the per-pair ratios
ampd/large (wall and CPU), each destination's median wall time over the memory loader's
and its CPU beyond it, and for Delta Lake the Parquet files the table holds after each
chunking's load with their rows and row groups.
A throwaway PostgreSQL (scripts/pg, fsync off, autovacuum off) and the devnets are
started and stopped by the script.

Usage:
  bench/tiny_batch_bench.py --ampsync build/<dir>/tools/ampsync/ampsync [--blocks 50000]
                            [--repeat 5] [--table blocks] [--destinations pg,delta]
                            [--pg-script scripts/pg]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pg_suites"))
import pg_suite_lib as lib  # noqa: E402

CHUNKINGS = ("ampd", "large")


def run_load(suite: lib.Suite, dev: lib.Devnet, table: str, uri: str, target: str, log: Path) -> dict:
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", f"SELECT * FROM eth_firehose.{table}",
           "--to", uri, "--table", target]
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    lib.check(code == 0, f"`{' '.join(cmd)}` exited {code}: {log.read_text()}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


class MemoryTarget:
    """The reference: the memory loader (rows kept in the process, nothing written), so its
    time is the read path alone: Flight, protocol checks, the engine, the coalescer."""
    name = "memory"

    def __init__(self, suite: lib.Suite):
        self.uri = "memory://tiny_batch_bench"
        self.last_log: Path | None = None

    def reset(self, target: str) -> None:
        pass

    def rows(self, target: str) -> int:
        import re
        m = re.search(r"Loaded (\d+) rows", self.last_log.read_text())
        return int(m.group(1)) if m else -1


class PgTarget:
    name = "pg"

    def __init__(self, suite: lib.Suite):
        self.pg = suite.pg()
        self.pg.query("ALTER SYSTEM SET autovacuum = off")
        self.pg.query("SELECT pg_reload_conf()")
        self.uri = self.pg.uri

    def reset(self, target: str) -> None:
        self.pg.query(f"DROP TABLE IF EXISTS {target}")
        if self.pg.table_exists("amp_client_state"):
            self.pg.query("DELETE FROM amp_client_state")
        self.pg.query("CHECKPOINT")

    def rows(self, target: str) -> int:
        return int(self.pg.scalar(f"SELECT count(*) FROM {target}"))


class DeltaTarget:
    name = "delta"

    def __init__(self, suite: lib.Suite):
        self.root = suite.workdir / "lake"
        self.uri = f"delta://{self.root}"

    def reset(self, target: str) -> None:
        shutil.rmtree(self.root / target, ignore_errors=True)

    def rows(self, target: str) -> int:
        import deltalake
        return deltalake.DeltaTable(str(self.root / target)).to_pyarrow_table().num_rows

    def files(self, target: str) -> tuple[int, list[int], int]:
        """(live Parquet files, rows per file, row groups in all)."""
        import deltalake
        import pyarrow.parquet as pq
        dt = deltalake.DeltaTable(str(self.root / target))
        rows, groups = [], 0
        for uri in dt.file_uris():
            meta = pq.ParquetFile(uri.removeprefix("file://")).metadata
            rows.append(meta.num_rows)
            groups += meta.num_row_groups
        return len(rows), rows, groups


def bench(suite: lib.Suite) -> None:
    args = suite.args
    devs = {c: suite.devnet("--seed", "11", "--history", str(args.blocks), "--block-time", "0",
                            "--chunking", c, name=f"devnet-{c}")
            for c in CHUNKINGS}
    head = devs["large"].head()
    lib.check(devs["ampd"].head() == head, f"the devnets differ: {devs['ampd'].head()} vs {head}")
    expected = devs["large"].batch_query(f"SELECT * FROM eth_firehose.{args.table}")[0].num_rows
    print(f"{args.table}: {expected} rows over {args.blocks} blocks; ampd chunking sends one message "
          f"per block; {args.repeat} pair(s) per destination", flush=True)
    targets = {"memory": MemoryTarget, "pg": PgTarget, "delta": DeltaTarget}
    summary, files, cpu_median, wall_median = {}, {}, {}, {}
    for dname in [d for d in args.destinations.split(",") if d]:
        dest = targets[dname](suite)
        target = f"tiny_{args.table}"

        def one(chunking: str, label: str) -> dict:
            dest.reset(target)
            log = suite.workdir / f"{dname}-{chunking}-{label}.log"
            dest.last_log = log
            r = run_load(suite, devs[chunking], args.table, dest.uri, target, log)
            n = dest.rows(target)
            lib.check(n == expected, f"{dname} {chunking}: {n} rows loaded, expected {expected}")
            if dname == "delta":
                files[chunking] = dest.files(target)
            return r

        for c in CHUNKINGS:
            one(c, "warm")  # untimed: first-run costs land on neither side
        ratios_wall, ratios_cpu, pairs = [], [], []
        for i in range(args.repeat):
            order = CHUNKINGS if i % 2 == 0 else tuple(reversed(CHUNKINGS))
            runs = {c: one(c, str(i)) for c in order}
            pairs.append(runs)
            a, b = runs["ampd"], runs["large"]
            ratios_wall.append(a["wall"] / b["wall"])
            ratios_cpu.append(a["cpu"] / b["cpu"])
            print(f"  {dname} pair {i + 1} ({order[0]} first): ampd {a['wall']:.3f}s wall "
                  f"{a['cpu']:.3f}s cpu, large {b['wall']:.3f}s wall {b['cpu']:.3f}s cpu; "
                  f"ratio {ratios_wall[-1]:.2f} wall, {ratios_cpu[-1]:.2f} cpu", flush=True)
        summary[dname] = (statistics.median(ratios_wall), statistics.median(ratios_cpu))
        cpu_median[dname] = {c: statistics.median(r[c]["cpu"] for r in pairs) for c in CHUNKINGS}
        wall_median[dname] = {c: statistics.median(r[c]["wall"] for r in pairs) for c in CHUNKINGS}
        dest.reset(target)

    print()
    for dname, (wall, cpu) in summary.items():
        print(f"{dname}: median ratio ampd/large {wall:.2f}x wall, {cpu:.2f}x ampsync cpu "
              f"(target <= 1.20)")
    if "memory" in cpu_median:
        base = cpu_median["memory"]
        for dname in (d for d in cpu_median if d != "memory"):
            over = {c: wall_median[dname][c] / wall_median["memory"][c] for c in CHUNKINGS}
            print(f"{dname} wall over the read path (its median / memory's): ampd {over['ampd']:.2f}x, "
                  f"large {over['large']:.2f}x")
            own = {c: cpu_median[dname][c] - base[c] for c in CHUNKINGS}
            if own["large"] > 0:
                print(f"{dname} beyond the read path (its cpu minus memory's): ampd {own['ampd']:.3f}s, "
                      f"large {own['large']:.3f}s, ratio {own['ampd'] / own['large']:.2f}x")
    for chunking, (count, rows, groups) in files.items():
        per_file = ", ".join(str(r) for r in rows[:8]) + (" ..." if len(rows) > 8 else "")
        print(f"delta parquet files after the {chunking} load: {count} ({per_file} rows; "
              f"{groups} row groups)")
    print("ratio ampd/large: " + ", ".join(f"{d} {w:.2f}x" for d, (w, _) in summary.items() if d != "memory"))


def main() -> int:
    ap = lib.common_args(__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=50_000, help="chain length (rows of `blocks`)")
    ap.add_argument("--repeat", type=int, default=5, help="pairs per destination (median reported)")
    ap.add_argument("--table", default="blocks", help="devnet table loaded")
    ap.add_argument("--destinations", default="memory,pg,delta")
    args = ap.parse_args()
    return lib.run_suite("tiny_batch_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
