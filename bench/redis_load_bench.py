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
           Also: rows/s, and MB/s into the server (INFO stats total_net_input_bytes
           before and after). Peak RSS is the process's own VmHWM (bench/peak_rss.py);
           server memory is INFO used_memory after the load.
  ceiling  `redis-benchmark -P 16 -t set -n <N> -d 3 -q` against the same redis-server
           (16-deep pipelines, 50 clients: redis-benchmark's defaults), its SET requests
           per second as redis-benchmark reports them (FLUSHALL before and after).
ours/ceiling = (our commands / our wall seconds) / (redis-benchmark's SET requests per
second): both sides are commands as the server counts them, per second; medians over the
runs (target >= 0.50, the issue's definition). The comparison favours the ceiling: a SET
of a 3-byte value against an HSET of ~16 fields per row. An informative second ceiling,
`redis-benchmark -P 16 -t set -d <D>` with D chosen so that its requests carry as many
bytes (measured by the server) as our average command, is printed beside it; the target
stays the issue's 3-byte SET.
Two more ceilings say where the limit lies (see docs/loaders/redis.md, "Performance"):
  distinct `redis-benchmark -P 16 -t set -r 1000000000 -d <D>`: a new key per SET, as a loader
           writes a new key per row, and nothing else (no index, checkpoint, transaction
           or data source);
  replay   the byte stream one `ampsync load` sends, recorded once through a loopback
           relay (CommandRecorder, untimed) and sent again with `redis-cli --pipe` after
           FLUSHALL: what the server can take of exactly our commands with no client work
           at all; also without MULTI/EXEC (what the transaction costs).
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
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "redis_suites"))
import redis_suite_lib as lib  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_rss import run_measured  # noqa: E402

ROWS_PER_BLOCK = 4


def run_ours(suite, dev, server, table: str, structure: str) -> dict:
    server.r.flushall()
    def counts():
        stats = server.r.info("stats")
        lua = sum(v["calls"] for k, v in server.r.info("commandstats").items() if k == "cmdstat_type")
        return int(stats["total_commands_processed"]), lua, int(stats["total_net_input_bytes"])
    before = counts()
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", f"SELECT * FROM eth_firehose.{table}",
           "--to", f"{server.uri}?data_structure={structure}", "--table", table]
    if suite.args.workers > 1:
        # A parallel backfill: one session per worker, so one session's EXEC overlaps the
        # others' encoding and sending.
        cmd += ["--workers", str(suite.args.workers), "--to-block", str(suite.args.last_block),
                "--source-table", f"eth_firehose.{table}", "--batch-size", "25000",
                "--progress", "never"]
    out_path = suite.workdir / f"ours-{table}-{structure}.log"
    seconds, rc, peak_kib = run_measured(cmd, out_path)
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
    # Bytes we sent, as the server counts them (minus the INFO requests of counts(), ~100 B).
    sent_bytes = after[2] - before[2]
    return {"seconds": seconds, "rows": rows, "commands": sent, "bytes": sent_bytes,
            "rss_kib": peak_kib, "unit_seconds": commit_s,
            "used_memory": int(server.r.info("memory")["used_memory"])}


def run_ceiling(server, n: int, value_size: int = 3) -> dict:
    """redis-benchmark SET -P16 (value of `value_size` bytes, its default 3): requests/s as
    it reports them, and the bytes per request the server received."""
    exe = shutil.which("redis-benchmark")
    lib.check(exe is not None, "redis-benchmark not found (Debian package redis-tools)")
    server.r.flushall()
    args = [exe, "-h", server.host, "-p", str(server.port), "-P", "16", "-t", "set", "-n", str(n),
            "-d", str(value_size), "-q"]
    before = int(server.r.info("stats")["total_net_input_bytes"])
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    after = int(server.r.info("stats")["total_net_input_bytes"])
    text = out.stdout + out.stderr
    # -q prints "SET: 123456.79 requests per second, p50=..." (carriage returns in between).
    m = re.findall(r"SET: ([0-9.]+) requests per second", text)
    lib.check(out.returncode == 0 and m, f"redis-benchmark failed: {text[-500:]}")
    server.r.flushall()
    return {"rps": float(m[-1]), "bytes_per_request": (after - before) / n}


class CommandRecorder:
    """A loopback relay in front of the redis-server that keeps the bytes every client
    connection sends: the exact command stream of one `ampsync load`, for the replay
    ceiling. Replies pass through untouched."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.streams: list[bytearray] = []
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            sent = bytearray()
            self.streams.append(sent)
            for src, dst, keep in ((client, server, sent), (server, client, None)):
                t = threading.Thread(target=self._pump, args=(src, dst, keep), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, keep) -> None:
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                if keep is not None:
                    keep += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> list[bytes]:
        self.listener.close()
        for t in self.threads:
            t.join(timeout=10)
        return [bytes(s) for s in self.streams]


def record_ours(suite, dev, server, table: str, structure: str) -> list[bytes]:
    """The byte streams one `ampsync load` sends (one per connection), recorded through a
    CommandRecorder; untimed."""
    server.r.flushall()
    rec = CommandRecorder(server.host, server.port)
    uri = f"redis://127.0.0.1:{rec.port}/0?data_structure={structure}"
    cmd = [suite.ampsync, "load", "--server", dev.url, "--query", f"SELECT * FROM eth_firehose.{table}",
           "--to", uri, "--table", table]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    streams = rec.close()
    lib.check(out.returncode == 0, f"recorded load exited {out.returncode}: {out.stderr[-500:]}")
    return streams


def replay(server, streams: list[bytes], workdir: Path, drop_transaction: bool = False) -> dict:
    """Sends recorded streams to the server with `redis-cli --pipe` (the big one last, the
    small ones, which create the table and reserve row ids, first), as fast as the server
    takes them: the server's capacity for exactly our commands, with no client work at all.
    drop_transaction removes MULTI and EXEC (what the transaction costs)."""
    exe = shutil.which("redis-cli")
    lib.check(exe is not None, "redis-cli not found (Debian package redis-tools)")
    ordered = sorted(streams, key=len)
    paths = []
    for i, data in enumerate(ordered):
        if drop_transaction and i == len(ordered) - 1:
            data = data.replace(b"*1\r\n$5\r\nMULTI\r\n", b"").replace(b"*1\r\n$4\r\nEXEC\r\n", b"")
        path = workdir / f"replay-{i}.resp"
        path.write_bytes(data)
        paths.append(path)
    server.r.flushall()
    def counts():
        stats = server.r.info("stats")
        inner = sum(v["calls"] for k, v in server.r.info("commandstats").items()
                    if k in ("cmdstat_type", "cmdstat_echo"))
        return int(stats["total_commands_processed"]), inner
    before = counts()
    t0 = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            out = subprocess.run([exe, "-h", server.host, "-p", str(server.port), "--pipe"], stdin=f,
                                 capture_output=True, text=True, timeout=600)
        lib.check(out.returncode == 0 and "errors: 0" in out.stdout,
                  f"replay of {path.name} failed: {out.stdout[-300:]} {out.stderr[-300:]}")
    seconds = time.perf_counter() - t0
    after = counts()
    # Minus the TYPE calls inside our type-check script, redis-cli's end-marker ECHOs and the
    # two INFO calls of counts().
    commands = (after[0] - before[0]) - (after[1] - before[1]) - 2
    server.r.flushall()
    return {"seconds": seconds, "commands": commands}


def run_distinct_set(server, n: int, value_size: int) -> float:
    """redis-benchmark -P 16 SET with a new key per request (-r) and a value of our rows'
    average size: the cheapest conceivable loader that writes each row as one key (no block
    index, no checkpoint, no transaction, no data source). Requests/s."""
    exe = shutil.which("redis-benchmark")
    server.r.flushall()
    args = [exe, "-h", server.host, "-p", str(server.port), "-P", "16", "-t", "set", "-n", str(n),
            "-r", "1000000000", "-d", str(value_size), "-q"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    m = re.findall(r"SET: ([0-9.]+) requests per second", out.stdout + out.stderr)
    lib.check(out.returncode == 0 and m, f"redis-benchmark failed: {(out.stdout + out.stderr)[-500:]}")
    server.r.flushall()
    return float(m[-1])


def bench(suite) -> None:
    args = suite.args
    server = lib.redis_server(suite)
    blocks = max(1, args.rows // ROWS_PER_BLOCK)
    args.last_block = blocks - 1
    dev = suite.devnet("--seed", "3", "--history", str(blocks), "--block-time", "0",
                       "--logs-per-block", str(ROWS_PER_BLOCK), "--txs-per-block", str(ROWS_PER_BLOCK))
    structures = args.structures.split(",")
    # Our exact command streams, recorded once (untimed) for the replay ceilings.
    streams = {st: record_ours(suite, dev, server, args.table, st) for st in structures}
    runs = {st: [] for st in structures}
    replays = {st: [] for st in structures}
    replays_nomulti = {st: [] for st in structures}
    ceiling_runs, sized_runs, distinct_runs = [], [], []
    for i in range(args.repeat):
        for st in structures:
            ours = run_ours(suite, dev, server, args.table, st)
            runs[st].append(ours)
            print(f"run {i + 1}: ours ({st}) {ours['rows']} rows, {ours['commands']} commands in "
                  f"{ours['seconds']:.3f}s (units {ours['unit_seconds']:.3f}s, peak RSS "
                  f"{ours['rss_kib'] / 1024:.0f} MiB)", flush=True)
            rep = replay(server, streams[st], suite.workdir)
            replays[st].append(rep)
            bare = replay(server, streams[st], suite.workdir, drop_transaction=True)
            replays_nomulti[st].append(bare)
            print(f"run {i + 1}: replay of our {st} commands (redis-cli --pipe): {rep['commands']} "
                  f"commands in {rep['seconds']:.3f}s; without MULTI/EXEC {bare['seconds']:.3f}s",
                  flush=True)
        n = max(runs[structures[0]][-1]["commands"], 100_000)
        ceiling = run_ceiling(server, n)
        ceiling_runs.append(ceiling)
        print(f"run {i + 1}: redis-benchmark -P 16 -t set: {ceiling['rps']:,.0f} commands/s "
              f"({ceiling['bytes_per_request']:.0f} B per request)", flush=True)
        # Informative: SET with a value as large as our average command (same bytes/command),
        # on redis-benchmark's one key, then on a new key per request.
        ours_bpc = statistics.median(r[-1]["bytes"] / r[-1]["commands"] for r in runs.values())
        d = max(3, round(ours_bpc - (ceiling["bytes_per_request"] - 3)))
        sized = run_ceiling(server, n, d)
        sized_runs.append((d, sized))
        distinct = run_distinct_set(server, n, d)
        distinct_runs.append(distinct)
        print(f"run {i + 1}: redis-benchmark -P 16 -t set -d {d}: {sized['rps']:,.0f} commands/s "
              f"({sized['bytes_per_request']:.0f} B per request); with a new key per request (-r): "
              f"{distinct:,.0f}", flush=True)
    ceiling = statistics.median(c["rps"] for c in ceiling_runs)
    ceiling_bpr = statistics.median(c["bytes_per_request"] for c in ceiling_runs)
    print()
    print(f"{'table':<8} {'structure':<10} {'rows':>8} {'commands':>9} {'seconds':>8} {'rows/s':>9} "
          f"{'cmds/s':>10} {'MB/s in':>8} | {'redis-benchmark SET -P16 cmds/s':>31} | ours/ceiling "
          f"| peak RSS | server memory")
    ratios = []
    for st in structures:
        ratios.append(report(args, st, runs[st], ceiling))
    print(f"ceiling: {ceiling:,.0f} SET/s x {ceiling_bpr:.0f} B = {ceiling * ceiling_bpr / 1e6:.1f} MB/s "
          f"into the server (median of {len(ceiling_runs)})")
    sized_rps = statistics.median(c["rps"] for _, c in sized_runs)
    sized_bpr = statistics.median(c["bytes_per_request"] for _, c in sized_runs)
    d = sized_runs[-1][0]
    print(f"informative: redis-benchmark -P 16 -t set -d {d} (a SET as large as our "
          f"average command): {sized_rps:,.0f} cmds/s x {sized_bpr:.0f} B = "
          f"{sized_rps * sized_bpr / 1e6:.1f} MB/s; ours/that: "
          + ", ".join(f"{st} {cps(runs[st]) / sized_rps:.2f}x" for st in structures))
    distinct = statistics.median(distinct_runs)
    print(f"informative: the same with a new key per SET (-r), i.e. a loader that writes each row "
          f"as one SET and nothing else (no index, checkpoint, transaction or data source): "
          f"{distinct:,.0f} cmds/s = {distinct / ceiling:.2f}x the ceiling")
    print("replay ceiling: our own recorded command stream sent by redis-cli --pipe (no client "
          "work at all), i.e. what this server can take of exactly our commands:")
    for st in structures:
        rep = statistics.median(r["commands"] / r["seconds"] for r in replays[st])
        bare = statistics.median(r["commands"] / r["seconds"] for r in replays_nomulti[st])
        print(f"  {st}: {rep:,.0f} cmds/s = {rep / ceiling:.2f}x the SET ceiling "
              f"(without MULTI/EXEC: {bare:,.0f} = {bare / ceiling:.2f}x); ours/replay "
              f"{cps(runs[st]) / rep:.2f}x")
    print("ratio ours/ceiling: " + ", ".join(f"{st} {r:.2f}x" for st, r in zip(structures, ratios))
          + " (target >= 0.50). Computed as (Redis commands we sent, counted by the server: "
            "INFO total_commands_processed delta minus the TYPE calls inside our type-check "
            "script) / (wall seconds of `ampsync load`, end to end including process start, "
            "the Flight read and table creation), divided by redis-benchmark's reported SET "
            "requests per second; both sides counted per command as the server counts them, "
            "medians over the runs.")


def cps(ours_runs: list) -> float:
    """Our commands/s: median commands / median wall seconds (as report() computes it)."""
    return (statistics.median(r["commands"] for r in ours_runs)
            / statistics.median(r["seconds"] for r in ours_runs))


def report(args, structure: str, ours_runs: list, ceiling: float) -> float:
    seconds = statistics.median(r["seconds"] for r in ours_runs)
    rows = ours_runs[0]["rows"]
    commands = statistics.median(r["commands"] for r in ours_runs)
    ours_cps = commands / seconds
    sent_bytes = statistics.median(r["bytes"] for r in ours_runs)
    rss = max(r["rss_kib"] for r in ours_runs) / 1024
    memory = statistics.median(r["used_memory"] for r in ours_runs) / 2**20
    print(f"{args.table:<8} {structure:<10} {rows:>8} {commands:>9.0f} {seconds:>8.3f} "
          f"{rows / seconds:>9,.0f} {ours_cps:>10,.0f} {sent_bytes / seconds / 1e6:>8.1f} | "
          f"{ceiling:>31,.0f} | {ours_cps / ceiling:>12.2f} | {rss:>5.0f} MiB | {memory:.0f} MiB")
    each = ", ".join(f"{r['seconds']:.3f}" for r in ours_runs)
    print(f"  {structure}: seconds {each}; "
          f"{sent_bytes / commands:.0f} B per command, {sent_bytes / rows:.0f} B per row sent")
    unit_s = statistics.median(r["unit_seconds"] for r in ours_runs)
    print(f"  {structure}: {commands / rows:.2f} commands per row (HSET or SET, and ZADD, per row; "
          f"MULTI/EXEC, type checks, INCRBY and script loads per unit); within the committed "
          f"units: {rows / unit_s:,.0f} rows/s, {commands / unit_s:,.0f} commands/s")
    return ours_cps / ceiling


def main() -> int:
    ap = lib.common_args(__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=1,
                    help="> 1: load as a parallel backfill with this many workers (sessions)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--table", default="logs", choices=["logs", "transactions"])
    ap.add_argument("--structures", default="hash,string",
                    help="data structures to load, comma-separated (hash is the default one)")
    args = ap.parse_args()
    return lib.run_suite("redis_load_bench", bench, args)


if __name__ == "__main__":
    sys.exit(main())
