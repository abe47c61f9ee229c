#!/usr/bin/env python3
"""Redis load throughput: `ampsync load` (a batch query, default settings) beside
redis-benchmark's pipelined SET on the same server, in the same run.

  ours     `ampsync load --server <devnet> --query "SELECT * FROM eth_firehose.<t>"
           --to redis://...?data_structure=<s> --table <t>` for s in --structures (default
           hash, the loader's default, and string: one JSON document per row; default
           key pattern, default batch size: one unit of 100,000 rows), timed
           wall-clock from process start to exit: Flight read from the devnet, encoding,
           type checks, MULTI/EXEC, table creation, all included. Its commands are the Redis
           commands we send, counted by the server (INFO stats total_commands_processed
           before and after, minus the TYPE calls our type-check Lua script makes inside the
           server: every HSET and ZADD of the rows plus MULTI/EXEC, the type-check EVALSHA,
           INCRBY and SCRIPT LOAD calls); commands/s = that count / wall time.
           Peak RSS comes from wait4() ("maximum resident set size").
  ceiling  `redis-benchmark -P 16 -t set -n <N> -q` against the same redis-server (one
           connection's worth of 16-deep pipelines, 50 clients: redis-benchmark's default),
           its SET requests per second.
ours/ceiling is the ratio of commands/s (target >= 0.50). Note the asymmetry, which favours
the ceiling: a SET of a 3-byte value against an HSET of ~20 fields of hex text per row.
With --repeat N each side runs N times (alternating, FLUSHALL before each of ours) and the
median is reported. A throwaway redis-server (scripts/redis) and an `ampsync devnet`
subprocess are started and stopped by the script.

Usage:
  bench/redis_load_bench.py --ampsync build/<dir>/tools/ampsync/ampsync [--rows 100000]
                            [--repeat 3] [--table logs] [--redis-script scripts/redis]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "redis_suites"))
import redis_suite_lib as lib  # noqa: E402

ROWS_PER_BLOCK = 4


def run_ours(suite, dev, server, table: str, structure: str) -> dict:
    server.r.flushall()
    def counts():
        total = int(server.r.info("stats")["total_commands_processed"])
        lua = sum(v["calls"] for k, v in server.r.info("commandstats").items() if k == "cmdstat_type")
        return total, lua
    before = counts()
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", f"SELECT * FROM eth_firehose.{table}",
           "--to", f"{server.uri}?data_structure={structure}", "--table", table]
    out_path = suite.workdir / f"ours-{table}-{structure}.log"
    with open(out_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    text = out_path.read_text()
    lib.check(rc == 0, f"`{' '.join(cmd)}` exited {rc}: {text}")
    after = counts()
    rows = sum(int(m.group(1)) for m in re.finditer(r"Loaded (\d+) rows to \S+ in ([0-9.]+)s", text))
    commit_s = sum(float(m.group(2)) for m in re.finditer(r"Loaded (\d+) rows to \S+ in ([0-9.]+)s", text))
    stored = server.r.zcard(f"amp:idx:{table}")
    lib.check(stored == rows, f"{table}: {stored} rows indexed, the loader reported {rows}")
    # Our commands: what the server processed, minus the TYPE calls our type-check script
    # makes inside the server (not sent by us) and the two INFO calls of counts().
    sent = (after[0] - before[0]) - (after[1] - before[1]) - 2
    return {"seconds": seconds, "rows": rows, "commands": sent,
            "rss_kib": usage.ru_maxrss, "unit_seconds": commit_s}


def run_ceiling(server, n: int) -> float:
    exe = shutil.which("redis-benchmark")
    lib.check(exe is not None, "redis-benchmark not found (Debian package redis-tools)")
    args = [exe, "-h", server.host, "-p", str(server.port), "-P", "16", "-t", "set", "-n", str(n), "-q"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    # -q prints "SET: 123456.79 requests per second, p50=..." (carriage returns in between).
    m = re.findall(r"SET: ([0-9.]+) requests per second", text)
    lib.check(out.returncode == 0 and m, f"redis-benchmark failed: {text[-500:]}")
    return float(m[-1])


def bench(suite) -> None:
    args = suite.args
    server = lib.redis_server(suite)
    blocks = max(1, args.rows // ROWS_PER_BLOCK)
    dev = suite.devnet("--seed", "3", "--history", str(blocks), "--block-time", "0",
                       "--logs-per-block", str(ROWS_PER_BLOCK), "--txs-per-block", str(ROWS_PER_BLOCK))
    structures = args.structures.split(",")
    runs = {st: [] for st in structures}
    ceiling_runs = []
    for i in range(args.repeat):
        for st in structures:
            ours = run_ours(suite, dev, server, args.table, st)
            runs[st].append(ours)
            print(f"run {i + 1}: ours ({st}) {ours['rows']} rows, {ours['commands']} commands in "
                  f"{ours['seconds']:.3f}s (units {ours['unit_seconds']:.3f}s, peak RSS "
                  f"{ours['rss_kib'] / 1024:.0f} MiB)", flush=True)
        server.r.flushall()
        ceiling = run_ceiling(server, max(runs[structures[0]][-1]["commands"], 100_000))
        ceiling_runs.append(ceiling)
        print(f"run {i + 1}: redis-benchmark -P 16 -t set: {ceiling:,.0f} commands/s", flush=True)
    ceiling = statistics.median(ceiling_runs)
    print()
    print(f"{'table':<8} {'structure':<10} {'rows':>8} {'commands':>9} {'seconds':>8} {'rows/s':>9} "
          f"{'cmds/s':>10} | {'redis-benchmark SET -P16 cmds/s':>31} | ours/ceiling | peak RSS")
    ratios = []
    for st in structures:
        ratios.append(report(args, st, runs[st], ceiling))
    print("ratio ours/ceiling: " + ", ".join(f"{st} {r:.2f}x" for st, r in zip(structures, ratios))
          + " (target >= 0.50; commands/s, ours counted as the Redis commands we send, end to "
            "end including the Flight read and table creation)")


def report(args, structure: str, ours_runs: list, ceiling: float) -> float:
    seconds = statistics.median(r["seconds"] for r in ours_runs)
    rows = ours_runs[0]["rows"]
    commands = statistics.median(r["commands"] for r in ours_runs)
    ours_cps = commands / seconds
    rss = max(r["rss_kib"] for r in ours_runs) / 1024
    print(f"{args.table:<8} {structure:<10} {rows:>8} {commands:>9.0f} {seconds:>8.3f} "
          f"{rows / seconds:>9,.0f} {ours_cps:>10,.0f} | {ceiling:>31,.0f} | "
          f"{ours_cps / ceiling:>12.2f} | {rss:.0f} MiB")
    unit_s = statistics.median(r["unit_seconds"] for r in ours_runs)
    print(f"  {structure}: {commands / rows:.2f} commands per row (HSET or SET, and ZADD, per row; "
          f"MULTI/EXEC, type checks, INCRBY and script loads per unit); within the committed "
          f"units: {rows / unit_s:,.0f} rows/s, {commands / unit_s:,.0f} commands/s")
    return ours_cps / ceiling


def main() -> int:
    ap = lib.common_args(__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--table", default="logs", choices=["logs", "transactions"])
    ap.add_argument("--structures", default="hash,string",
                    help="data structures to load, comma-separated (hash is the default one)")
    args = ap.parse_args()
    return lib.run_suite("redis_load_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
