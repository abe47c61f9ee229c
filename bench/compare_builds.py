#!/usr/bin/env python3
"""Runs the benchmarks of bench/ against two builds in one run and prints both sets of figures.

A restructuring must leave the figures where they were; on a shared 2-core machine two runs
made minutes apart differ by more than most regressions, so the two builds are measured in
the same run, alternated (before, after, after, before, ...), and the medians compared.

The figures are the ratios each benchmark already prints against its peer, which cancel
most of the machine's noise:
  flight    amp_flight_read_bench         ratio ours/pyarrow (rows/s; higher is better)
  pg        bench/pg_load_bench.py        ratio ours/ceiling per table (PostgreSQL's own
                                          binary COPY of the same rows; higher is better)
  delta     bench/delta_load_bench.py     ratio deltalake/ours, write only and whole load
                                          (higher is better)
  parallel  bench/parallel_load_bench.py  speedup at each worker count against 1 worker

A build is a directory holding ampsync, amp_flight_read_bench and amp_delta_write_bench
(copied out of a build tree), or a CMake build tree itself (build/release).

Usage:
  bench/compare_builds.py --before /tmp/before --after build/release [--rounds 2]
      [--only flight,pg,delta,parallel] [--pg-rows 200000] [--delta-rows 300000]
      [--flight-blocks 100000] [--parallel-workers 1,4,8] [--parallel-target-seconds 10] [--parallel-blocks 10000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")


@dataclass
class Build:
    label: str
    ampsync: str
    flight_bench: str
    delta_write_bench: str


def find_build(label: str, where: str) -> Build:
    """Accepts a flat directory of binaries or a CMake build tree."""
    root = Path(where).resolve()
    candidates = {
        "ampsync": [root / "ampsync", root / "tools" / "ampsync" / "ampsync"],
        "flight": [root / "amp_flight_read_bench", root / "bench" / "amp_flight_read_bench"],
        "delta": [root / "amp_delta_write_bench",
                  root / "src" / "loaders" / "delta" / "amp_delta_write_bench"],
    }
    found = {}
    for key, paths in candidates.items():
        hit = next((p for p in paths if p.is_file()), None)
        if hit is None:
            sys.exit(f"compare_builds: {label} build {root} has no {key} binary "
                     f"(looked for {', '.join(str(p) for p in paths)})")
        found[key] = str(hit)
    return Build(label, found["ampsync"], found["flight"], found["delta"])


def run(cmd: list[str], timeout: float) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        sys.exit(f"compare_builds: `{' '.join(cmd)}` exited {out.returncode}:\n{text[-3000:]}")
    return text


def figures(pattern: str, text: str, names: list[str], what: str) -> dict[str, float]:
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"compare_builds: no '{what}' line in the output:\n{text[-3000:]}")
    return {n: float(v) for n, v in zip(names, m.groups())}


def bench_flight(b: Build, a: argparse.Namespace) -> dict[str, float]:
    text = run([b.flight_bench, "--blocks", str(a.flight_blocks), "--repeats", "1"], 900)
    return figures(r"ratio ours/pyarrow: ([0-9.]+)x", text, ["ours/pyarrow"], "ratio ours/pyarrow")


def bench_pg(b: Build, a: argparse.Namespace) -> dict[str, float]:
    text = run([PYTHON, str(REPO / "bench" / "pg_load_bench.py"), "--ampsync", b.ampsync,
                "--rows", str(a.pg_rows), "--repeat", "1"], 1800)
    return figures(r"ratio ours/ceiling: logs ([0-9.]+)x, transactions ([0-9.]+)x", text,
                   ["logs ours/COPY", "transactions ours/COPY"], "ratio ours/ceiling")


def bench_delta(b: Build, a: argparse.Namespace) -> dict[str, float]:
    text = run([PYTHON, str(REPO / "bench" / "delta_load_bench.py"), "--ampsync", b.ampsync,
                "--write-bench", b.delta_write_bench, "--rows", str(a.delta_rows), "--repeat", "1"],
               1800)
    return figures(r"\nratio deltalake/ours \(write only, same unit size\): ([0-9.]+)x;.*"
                   r"deltalake/ours whole ampsync load: ([0-9.]+)x", text,
                   ["deltalake/ours write", "deltalake/ours load"], "ratio deltalake/ours")


def bench_parallel(b: Build, a: argparse.Namespace) -> dict[str, float]:
    text = run([PYTHON, str(REPO / "bench" / "parallel_load_bench.py"), "--ampsync", b.ampsync,
                "--workers", a.parallel_workers, "--target-seconds", str(a.parallel_target_seconds),
                "--blocks", str(a.parallel_blocks)],
               3600)
    out = {}
    for m in re.finditer(r"^\| (\d+) \| \d+ \| [0-9.]+ \| [0-9,]+ \| ([0-9.]+)x \|", text, re.M):
        out[f"speedup {m.group(1)} workers"] = float(m.group(2))
    if not out:
        sys.exit(f"compare_builds: no speedup table in the output:\n{text[-3000:]}")
    return out


BENCHES = {"flight": bench_flight, "pg": bench_pg, "delta": bench_delta, "parallel": bench_parallel}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the build to compare against")
    ap.add_argument("--after", required=True, help="the build under test")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each build per benchmark")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    ap.add_argument("--flight-blocks", type=int, default=100_000)
    ap.add_argument("--pg-rows", type=int, default=200_000)
    ap.add_argument("--delta-rows", type=int, default=300_000)
    ap.add_argument("--parallel-workers", default="1,4,8")
    ap.add_argument("--parallel-target-seconds", type=float, default=10.0)
    ap.add_argument("--parallel-blocks", type=int, default=10_000)
    a = ap.parse_args()
    builds = [find_build("before", a.before), find_build("after", a.after)]
    chosen = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        sys.exit(f"compare_builds: unknown benchmark(s) {', '.join(unknown)}; "
                 f"choose from {', '.join(BENCHES)}")

    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in chosen:
        per_build: dict[str, dict[str, list[float]]] = {b.label: {} for b in builds}
        for r in range(a.rounds):
            # ABBA order: neither build always runs first on a warm or a cold machine.
            order = builds if r % 2 == 0 else list(reversed(builds))
            for b in order:
                got = BENCHES[name](b, a)
                print(f"{name} round {r + 1} {b.label}: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in got.items()), flush=True)
                for k, v in got.items():
                    per_build[b.label].setdefault(k, []).append(v)
        results[name] = per_build

    print()
    print(f"| benchmark | figure | before (median of {a.rounds}) | after (median of {a.rounds}) "
          "| after/before |")
    print("|---|---|---|---|---|")
    for name, per_build in results.items():
        for key in per_build["before"]:
            before = statistics.median(per_build["before"][key])
            after = statistics.median(per_build["after"].get(key, [float("nan")]))
            print(f"| {name} | {key} | {before:.2f}x | {after:.2f}x | {after / before:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
