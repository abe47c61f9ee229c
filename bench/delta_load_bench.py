#!/usr/bin/env python3
"""Delta Lake load throughput: our loader against the `deltalake` package (delta-rs)
writing the same rows with the same compression, in the same run.

The devnet's `logs` (--rows rows, default 500,000) are fetched once with pyarrow.flight
and saved as an Arrow IPC file. Then, --repeat times each, alternating:
  ours (load)   `ampsync load --server <devnet> --query "SELECT * FROM eth_firehose.logs"
                --to delta://<dir>?compression=zstd&compression_level=1 --table logs`,
                wall-clock from process start to exit (Flight read from the devnet,
                conversion, Parquet, Delta commits: everything), peak RSS from GNU time;
  ours (write)  build/<dir>/.../amp_delta_write_bench: the IPC file read into memory, then
                only our loader's writing timed (EnsureTable + units of 100,000 rows:
                Begin/Append/Commit with a checkpoint, like `ampsync load`'s default);
  deltalake     a Python subprocess: the IPC file read into memory, then only
                `deltalake.write_deltalake(dir, table, mode="append", writer_properties=
                WriterProperties(compression="ZSTD", compression_level=1))` timed, in
                100,000-row calls (one Delta version each, like our units) -- and once as a
                single call (one version, its best case).
Both sides get the same Arrow table (UInt64 columns included: delta-rs stores them as
signed longs, we store them losslessly as decimal(20,0)), zstd level 1, one Parquet file
per 100,000 rows. MB/s is the Arrow IPC size of the rows divided by the time; the Parquet
bytes written are printed too. ratio = deltalake time / our time (target: ours faster,
ratio > 1). The write-only sides also report the CPU time (user + system, all threads) of
the timed part, which other processes on a shared machine disturb much less than wall time;
the median and the best of --repeat runs are printed (the best is the
figure least disturbed by other processes on a shared machine). Each written table is read back with deltalake to check the row count.

Usage:
  bench/delta_load_bench.py --ampsync build/<dir>/tools/ampsync/ampsync [--rows 500000]
                            [--repeat 3] [--write-bench build/<dir>/src/loaders/delta/amp_delta_write_bench]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pg_suites"))
import pg_suite_lib as lib  # noqa: E402

ROWS_PER_BLOCK = 4
UNIT_ROWS = 100_000
QUERY = "SELECT * FROM eth_firehose.logs"


def timed(cmd: list[str], log_path: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS KiB, output) of a subprocess. The peak RSS comes from GNU time,
    not from our own wait4(): Linux keeps ru_maxrss across execve, so a child forked from
    this process (which holds the rows in memory) would report at least our size."""
    wrapped = ["/usr/bin/time", "-f", "AMP_MAXRSS_KB=%M", *cmd] if os.path.exists("/usr/bin/time") else cmd
    with open(log_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    text = log_path.read_text()
    rc = os.waitstatus_to_exitcode(status)
    lib.check(rc == 0, f"`{' '.join(cmd)}` exited {rc}: {text[-2000:]}")
    m = re.search(r"AMP_MAXRSS_KB=(\d+)", text)
    rss = int(m.group(1)) if m else usage.ru_maxrss
    text = re.sub(r"AMP_MAXRSS_KB=\d+\n?", "", text)
    return seconds, rss, text


def parquet_bytes(table_dir: Path) -> int:
    return sum(p.stat().st_size for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts)


def count_rows(table_dir: Path) -> int:
    import deltalake
    return deltalake.DeltaTable(str(table_dir)).to_pyarrow_table(columns=["log_index"]).num_rows


DELTALAKE_WRITER = textwrap.dedent("""
    import json, sys, time, resource
    import pyarrow as pa, deltalake
    path, target, unit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    table = table.combine_chunks()
    props = deltalake.WriterProperties(compression="ZSTD", compression_level=1)
    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime
    t0 = time.perf_counter()
    c0 = cpu()
    if unit <= 0:
        deltalake.write_deltalake(target, table, mode="append", writer_properties=props)
    else:
        for offset in range(0, table.num_rows, unit):
            deltalake.write_deltalake(target, table.slice(offset, unit), mode="append",
                                      writer_properties=props)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu() - c0, "rows": table.num_rows}))
""")


def bench(suite: lib.Suite) -> None:
    args = suite.args
    blocks = -(-args.rows // ROWS_PER_BLOCK)
    write_bench = args.write_bench or str(
        Path(suite.ampsync).parents[2] / "src" / "loaders" / "delta" / "amp_delta_write_bench")
    lib.check(os.path.exists(write_bench), f"no {write_bench}: build target amp_delta_write_bench")
    dev = suite.devnet("--history", str(blocks), "--block-time", "0",
                       "--txs-per-block", str(ROWS_PER_BLOCK), "--logs-per-block", str(ROWS_PER_BLOCK))
    t0 = time.perf_counter()
    rows_table, _ = dev.batch_query(QUERY)
    rows_table = rows_table.combine_chunks()
    ipc = suite.workdir / "logs.arrow"
    with pa.OSFile(str(ipc), "wb") as sink:
        with pa.ipc.new_file(sink, rows_table.schema) as writer:
            writer.write_table(rows_table)
    n_rows = rows_table.num_rows
    ipc_mb = ipc.stat().st_size / 1e6
    print(f"  fetched {n_rows} rows ({ipc_mb:.1f} MB as Arrow IPC) with pyarrow in "
          f"{time.perf_counter() - t0:.2f}s", flush=True)
    writer_script = suite.workdir / "deltalake_writer.py"
    writer_script.write_text(DELTALAKE_WRITER)
    python = sys.executable

    runs: dict[str, list[dict]] = {"ours_load": [], "ours_write": [], "deltalake": [], "deltalake_one": []}
    for i in range(args.repeat):
        # ours, whole `ampsync load`
        root = suite.workdir / f"ours-load-{i}"
        uri = f"delta://{root}?compression=zstd&compression_level=1"
        s, rss, _ = timed([suite.ampsync, "load", "--server", dev.url, "--query", QUERY, "--to", uri,
                           "--table", "logs"], suite.workdir / f"ours-load-{i}.log")
        lib.check(count_rows(root / "logs") == n_rows, "ours (load): wrong row count")
        runs["ours_load"].append({"seconds": s, "rss": rss, "bytes": parquet_bytes(root / "logs")})
        shutil.rmtree(root, ignore_errors=True)
        # ours, the write alone
        root = suite.workdir / f"ours-write-{i}"
        s, rss, out = timed([write_bench, "--ipc", str(ipc), "--root", str(root), "--table", "logs",
                             "--batch-size", str(UNIT_ROWS), "--compression", "zstd",
                             "--compression-level", "1"], suite.workdir / f"ours-write-{i}.log")
        result = json.loads(out.strip().splitlines()[-1])
        lib.check(count_rows(root / "logs") == n_rows, "ours (write): wrong row count")
        runs["ours_write"].append({"seconds": result["seconds"], "cpu": result["cpu_seconds"], "rss": rss,
                                   "bytes": result["bytes"]})
        shutil.rmtree(root, ignore_errors=True)
        # deltalake, in units and in one call
        for key, unit in (("deltalake", UNIT_ROWS), ("deltalake_one", 0)):
            target = suite.workdir / f"{key}-{i}"
            s, rss, out = timed([python, str(writer_script), str(ipc), str(target), str(unit)],
                                suite.workdir / f"{key}-{i}.log")
            result = json.loads(out.strip().splitlines()[-1])
            lib.check(count_rows(target) == n_rows, f"{key}: wrong row count")
            runs[key].append({"seconds": result["seconds"], "cpu": result["cpu_seconds"], "rss": rss,
                              "bytes": parquet_bytes(target)})
            shutil.rmtree(target, ignore_errors=True)
        print(f"  run {i + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.3f}s" for k, v in runs.items()),
              flush=True)

    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    rss = {k: max(r["rss"] for r in v) for k, v in runs.items()}
    size = {k: v[0]["bytes"] for k, v in runs.items()}
    labels = {
        "ours_load": "ours: ampsync load (devnet -> Delta, whole process)",
        "ours_write": "ours: loader write only (in-memory Arrow -> Delta)",
        "deltalake": f"deltalake.write_deltalake, {UNIT_ROWS}-row calls",
        "deltalake_one": "deltalake.write_deltalake, one call",
    }
    print()
    print(f"Delta Lake load: {n_rows} devnet log rows ({ipc_mb:.1f} MB Arrow IPC), zstd level 1, "
          f"median of {args.repeat} run(s)")
    header = (f"{'writer':<56} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'best s':>7} {'best rows/s':>11} "
              f"{'parquet MB':>10} {'peak RSS':>9}")
    print(header)
    print("-" * len(header))
    for k in runs:
        print(f"{labels[k]:<56} {med[k]:>8.3f} {n_rows / med[k]:>10.0f} {ipc_mb / med[k]:>7.1f} "
              f"{best[k]:>7.3f} {n_rows / best[k]:>11.0f} {size[k] / 1e6:>10.1f} {rss[k] / 1024:>7.0f}Mi")
    print()
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items() if "cpu" in v[0]}
    print("CPU seconds of the write (user + system, all threads; insensitive to other load on the "
          "machine): " + ", ".join(f"{labels[k].split(',')[0]}{'' if k != 'deltalake_one' else ' (one call)'} "
                                  f"{c:.3f}s" for k, c in cpu.items()))
    print(f"CPU ratio deltalake/ours (write only, same unit size): {cpu['deltalake'] / cpu['ours_write']:.2f}x; "
          f"one call: {cpu['deltalake_one'] / cpu['ours_write']:.2f}x")
    print(f"best-of-{args.repeat} ratio deltalake/ours (write only, same unit size): "
          f"{best['deltalake'] / best['ours_write']:.2f}x; deltalake one call/ours write: "
          f"{best['deltalake_one'] / best['ours_write']:.2f}x")
    print(f"ratio deltalake/ours (write only, same unit size): {med['deltalake'] / med['ours_write']:.2f}x; "
          f"deltalake one call/ours write: {med['deltalake_one'] / med['ours_write']:.2f}x; "
          f"deltalake/ours whole ampsync load: {med['deltalake'] / med['ours_load']:.2f}x")


def main() -> int:
    ap = lib.common_args(__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000, help="log rows")
    ap.add_argument("--repeat", type=int, default=3, help="runs per writer (median reported)")
    ap.add_argument("--write-bench", default=None, help="amp_delta_write_bench binary")
    args = ap.parse_args()
    return lib.run_suite("delta_load_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
