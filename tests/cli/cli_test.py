#!/usr/bin/env python3
"""The ampsync command line as a user meets it: exit codes, error messages, Ctrl+C.

Runs the real binary against a real `ampsync devnet` subprocess and asserts, for each case,
the exit code documented in docs/cli.md and that the error line names what was wrong:
  * usage errors (unknown flag, missing SQL, bad --reorg-depth) exit 2;
  * SQL the server refuses (syntax, unknown column, unknown table, LIMIT on a stream) exit 3
    with the server's message passed through;
  * an unreachable server exits 4 naming host:port; a malformed URL, format or cursor
    exits 2 naming it;
  * a wrong token against `--require-token` exits 3 and the token never appears in output;
  * Ctrl+C (SIGINT) during a never-ending stream exits 130 promptly and cleanly;
  * `query` output formats carry the right content (CSV header + rows, JSON lines);
  * `load --workers N` (parallel loads): every invalid flag value and every parallel flag
    without --workers is a usage error naming the flag; `--dry-run` prints the plan with the
    user's query wrapped (not spliced) per partition, exits 0 and writes nothing;
  * `run job.toml`: a job file with an unknown key is a usage error naming file:line:key,
    and a valid one runs the same load as the flags;
  * the edges, against the scripted Amp server of tests/interop (check_edges): one SIGINT
    or SIGTERM ends `query --stream`, `load --stream` and hybrid loads within a second
    whatever the stream is doing (a DoGet that has sent nothing, GetFlightInfo unanswered,
    a backoff sleep, a wait for data, a server behind the checkpoint); a table with nothing
    synced is waited for, never counted as a failure; a batch that switches networks after
    a reconnect is refused; errors a retry cannot fix fail at once; every retry and
    reconnect is logged, a keep-alive with no ranges is a no-op; a reorg too deep for the
    retained ranges names options that exist; check_devnet_edges repeats the waits against
    the devnet (an unsynced table, a replica behind the checkpoint, a 16 KB token).

Usage: cli_test.py --ampsync build/release/tools/ampsync/ampsync
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Devnet:
    def __init__(self, ampsync: str, *extra: str, history: int = 50):
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [ampsync, "devnet", "--port", str(self.port), "--history", str(history), "--block-time", "0",
             "--microbatch-blocks", "10", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"devnet did not start: {line!r}"

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=20) == 0, "devnet must exit 0 after Ctrl+C"


def run(ampsync: str, *args: str, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([ampsync, *args], capture_output=True, text=True, timeout=timeout, env=env)


def expect(cp: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    text = cp.stdout + cp.stderr
    assert cp.returncode == code, f"expected exit {code}, got {cp.returncode}: {text}"
    for n in needles:
        assert n in text, f"expected {n!r} in output: {text}"


def check_parallel_load(amp: str, dev: Devnet, env: dict) -> None:
    """`ampsync load --workers` flags, --dry-run and `ampsync run` (devnet head: block 49)."""
    base = ["load", "--server", dev.url, "--to", "memory://cli", "--table", "t",
            "--query", "SELECT * FROM eth_firehose.blocks"]
    # Parallel flags without --workers.
    for flag in (["--to-block", "10"], ["--from-block", "3"], ["--partition-size", "5"],
                 ["--reorg-buffer", "5"], ["--source-table", "eth_firehose.blocks"],
                 ["--stop-on-error"], ["--dry-run"], ["--progress", "always"]):
        expect(run(amp, *base, *flag, env=env), 2, flag[0], "--workers")
    # Invalid values, each naming its flag.
    expect(run(amp, *base, "--workers", "0", env=env), 2, "--workers", "between 1 and 256")
    expect(run(amp, *base, "--workers", "257", env=env), 2, "--workers")
    expect(run(amp, *base, "--workers", "two", env=env), 2, "--workers")
    expect(run(amp, *base, "--workers", "4", "--from-block", "20", "--to-block", "10", env=env), 2,
           "--to-block", "--from-block")
    expect(run(amp, *base, "--workers", "4", "--to-block", "soon", env=env), 2, "--to-block", "latest")
    expect(run(amp, *base, "--workers", "4", "--from-block", "-1", env=env), 2, "--from-block")
    expect(run(amp, *base, "--workers", "4", "--partition-size", "0", env=env), 2, "--partition-size")
    expect(run(amp, *base, "--workers", "4", "--progress", "sometimes", env=env), 2, "--progress")
    expect(run(amp, *base, "--workers", "4", "--batch-size", "0", env=env), 2, "--batch-size")
    expect(run(amp, *base, "--workers", "4", "--no-block-column", env=env), 2, "--block-column")
    expect(run(amp, "--log-level", "loud", *base, env=env), 2, "--log-level")
    # The source table cannot be inferred from a subquery or a join: ask for --source-table.
    sub = ["load", "--server", dev.url, "--to", "memory://cli", "--table", "t", "--workers", "2",
           "--query", "SELECT * FROM (SELECT * FROM eth_firehose.blocks) AS s"]
    expect(run(amp, *sub, env=env), 2, "--source-table", "subquery")

    # --dry-run: the plan, with the user's OR kept inside the wrapper, for blocks 0..=39.
    query = ("SELECT block_num, tx_index FROM eth_firehose.transactions "
             "WHERE tx_index = 0 OR tx_index = 3 SETTINGS stream = true")
    cp = run(amp, "load", "--server", dev.url, "--to", "memory://cli", "--table", "txs",
             "--query", query, "--workers", "2", "--to-block", "39", "--partition-size", "10",
             "--dry-run", env=env)
    expect(cp, 0, "_amp_partition", "tx_index = 0 OR tx_index = 3")
    for start in (0, 10, 20, 30):
        needle = f'"block_num" >= {start} AND "block_num" < {start + 10}'
        assert cp.stdout.count(needle) == 1, f"expected one partition query with {needle}: {cp.stdout}"
    assert '"block_num" < 40' in cp.stdout and '"block_num" >= 40' not in cp.stdout, cp.stdout
    assert "SETTINGS stream" not in cp.stdout, "workers must not run the query as a stream"
    assert "Loaded" not in cp.stdout + cp.stderr, "a dry run loads nothing"
    # Hybrid dry run: the detected head (49) and the default source table from the query.
    cp = run(amp, "load", "--server", dev.url, "--to", "memory://cli", "--table", "txs",
             "--query", query, "--workers", "2", "--reorg-buffer", "5", "--dry-run", env=env)
    expect(cp, 0, "49", "44", "_amp_partition")

    # A real backfill of blocks 5..=44 with 3 workers: the summary counts its rows.
    cp = run(amp, "load", "--server", dev.url, "--to", "memory://cli", "--table", "b",
             "--query", "SELECT block_num FROM eth_firehose.blocks", "--workers", "3",
             "--from-block", "5", "--to-block", "44", "--partition-size", "10", env=env)
    expect(cp, 0, "ampsync load: 40 rows, 4 partitions ok, 0 failed")

    # Hybrid mode: catch up to the head (49), hand over, idle live; Ctrl+C exits 130 promptly.
    p = subprocess.Popen([amp, "load", "--server", dev.url, "--to", "memory://cli", "--table", "h",
                          "--query", "SELECT block_num FROM eth_firehose.blocks", "--workers", "2",
                          "--reorg-buffer", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(2)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130, f"Ctrl+C of a hybrid load must exit 130, got {p.returncode}: {err}"
    assert time.time() - t0 < 5, "Ctrl+C must stop a hybrid load promptly"
    assert "2 partitions ok, 0 failed" in err and "(live)" in out, out + err

    # Job files: an unknown key names file:line:key; a valid job runs like the flags.
    tmp = tempfile.mkdtemp(prefix="cli_test_")
    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write(f'[server]\nurl = "{dev.url}"\n[job]\nquery = "SELECT * FROM eth_firehose.blocks"\n'
                'connection = "memory://cli"\ntable = "t"\n[job.parallel]\nworkers = 2\nwokers = 3\n')
    expect(run(amp, "run", bad, env=env), 2, "bad.toml:9", "job.parallel.wokers")
    expect(run(amp, "run", os.path.join(tmp, "missing.toml"), env=env), 2, "missing.toml")
    good = os.path.join(tmp, "good.toml")
    with open(good, "w") as f:
        f.write(f'[server]\nurl = "{dev.url}"\n[connections.scratch]\nuri = "memory://cli"\n'
                '[job]\nquery = "SELECT block_num FROM eth_firehose.blocks"\nconnection = "scratch"\n'
                'table = "b"\n[job.parallel]\nworkers = 3\nfrom_block = 5\nto_block = 44\n'
                'partition_size = 10\n')
    expect(run(amp, "run", good, env=env), 0, "ampsync load: 40 rows, 4 partitions ok, 0 failed")
    expect(run(amp, "run", good, "--dry-run", env=env), 0, '"block_num" >= 35 AND "block_num" < 45')


def check_optimize(amp: str, dev: Devnet, env: dict) -> None:
    """`ampsync optimize`: many small Delta files (one per microbatch of a streaming load)
    become one, the rows stay; an unknown table or a loader without optimize: exit 3."""
    import glob
    import json
    import tempfile
    root = tempfile.mkdtemp(prefix="amp-cli-optimize-")
    try:
        to = f"delta://{root}"
        cp = run(amp, "load", "--server", dev.url, "--query", "SELECT * FROM eth_firehose.logs",
                 "--to", to, "--table", "logs", "--workers", "5", "--to-block", "49",
                 "--partition-size", "10", "--batch-size", "20", env=env)
        expect(cp, 0)

        def live_files() -> set[str]:
            files: set[str] = set()
            for path in sorted(glob.glob(f"{root}/logs/_delta_log/*.json")):
                for line in open(path):
                    action = json.loads(line)
                    if "add" in action:
                        files.add(action["add"]["path"])
                    if "remove" in action:
                        files.discard(action["remove"]["path"])
            return files
        before = live_files()
        assert len(before) > 1, f"expected several files before optimize, got {before}"
        expect(run(amp, "optimize", "--to", to, "--table", "logs", env=env), 0, "optimized logs")
        after = live_files()
        assert len(after) == 1, f"optimize left {len(after)} files"
        audit = run(amp, "audit", "--server", dev.url, "--query", "SELECT * FROM eth_firehose.logs",
                    "--to", to, "--table", "logs", "--to-block", "49", env=env)
        expect(audit, 0, "OK")
        expect(run(amp, "optimize", "--to", to, "--table", "nope", env=env), 3, "nope")
        expect(run(amp, "optimize", "--to", "memory://x", "--table", "nope", env=env), 3, "does not exist")
    finally:
        shutil.rmtree(root, ignore_errors=True)


class ScriptedServer:
    """tests/interop/scripted_amp_server.py, which answers like ampd, scenario by table name."""

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.log_path = tempfile.mktemp(prefix="cli_scripted_", suffix=".jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(here, "..", "interop", "scripted_amp_server.py"),
             "--port", "0", "--log", self.log_path],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("LISTENING"), f"scripted server did not start: {line!r}"
        self.url = f"grpc://127.0.0.1:{int(line.split()[1])}"

    def calls(self, method: str, needle: str) -> int:
        """How many `method` calls were for a query containing `needle`."""
        n = 0
        if not os.path.exists(self.log_path):
            return 0
        for line in open(self.log_path):
            entry = json.loads(line)
            if entry["method"] != method:
                continue
            text = entry.get("query") or bytes.fromhex(entry.get("ticket", "")).decode("latin-1")
            if needle in text:
                n += 1
        return n

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Running:
    """An ampsync process whose stderr/stdout are collected on threads while it runs."""

    def __init__(self, ampsync: str, *args: str, env=None):
        import threading
        self.proc = subprocess.Popen([ampsync, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def _pump(stream, into):
        for line in stream:
            into.append(line)

    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, needle: str, timeout: float, where: str = "any") -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            hay = {"out": "".join(self.out), "err": "".join(self.err)}.get(where, self.text())
            if needle in hay:
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pumps drain
                hay = {"out": "".join(self.out), "err": "".join(self.err)}.get(where, self.text())
                if needle in hay:
                    return
                raise AssertionError(f"exited {self.proc.returncode} before printing {needle!r}: {self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} within {timeout} s: {self.text()}")

    def stop(self, sig=signal.SIGINT, within: float = 1.0, what: str = "") -> float:
        """Sends one `sig`; asserts exit 130 within `within` seconds; returns the time taken."""
        assert self.proc.poll() is None, f"{what}: exited early ({self.proc.returncode}): {self.text()}"
        t0 = time.time()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=max(10.0, within * 5))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{what}: one {sig.name} did not end ampsync within 10 s: {self.text()}")
        elapsed = time.time() - t0
        for t in self.threads:
            t.join(timeout=5)
        assert rc == 130, f"{what}: {sig.name} must exit 130, got {rc}: {self.text()}"
        assert elapsed < within, f"{what}: {sig.name} took {elapsed:.2f} s (limit {within} s): {self.text()}"
        print(f"cli_test: {what}: {sig.name} -> exit 130 after {elapsed:.2f} s")
        return elapsed


def edge_checks(amp: str, env: dict, srv: ScriptedServer) -> dict:
    """Issue 10 failures 1, 2, 4, 5, 6, 7 and 8, against a server that answers like ampd;
    by name, so that one can be run alone (--edge NAME)."""
    s = ["--server", srv.url]

    def stream_load(table: str, *extra: str) -> list[str]:
        return ["load", *s, "--stream", "--to", "memory://edges", "--table", "t",
                "--query", f"SELECT * FROM scripted.{table}", *extra]

    def hybrid_load(table: str, *extra: str) -> list[str]:
        return ["load", *s, "--to", "memory://edges", "--table", "t", "--workers", "2",
                "--to-block", "latest", "--source-table", f"scripted.{table}",
                "--query", f"SELECT * FROM scripted.{table}", *extra]

    def signals():
        # 2. One signal ends every command within a second, whatever the stream is doing: a
        # DoGet that has delivered nothing (ampd before its first microbatch, or resumed at
        # an idle head), GetFlightInfo unanswered; query --stream, load --stream, hybrid.
        for args, sig, what in (
                (["query", *s, "--stream", "--format", "csv", "SELECT * FROM scripted.silent"],
                 signal.SIGINT, "query --stream, DoGet silent"),
                (stream_load("silent"), signal.SIGTERM, "load --stream, DoGet silent"),
                (hybrid_load("silent"), signal.SIGINT, "hybrid load, DoGet silent"),
                (["query", *s, "SELECT * FROM scripted.slowinfo"], signal.SIGTERM,
                 "query, GetFlightInfo unanswered"),
                (stream_load("slowinfo"), signal.SIGINT, "load --stream, GetFlightInfo unanswered"),
                (hybrid_load("slowinfo"), signal.SIGTERM, "hybrid load, GetFlightInfo unanswered"),
                (["audit", *s, "--to", "memory://a", "--table", "t", "--to-block", "10",
                  "--query", "SELECT * FROM scripted.silent"], signal.SIGINT, "audit, DoGet silent"),
                (["audit", *s, "--to", "memory://a", "--table", "t", "--to-block", "10",
                  "--query", "SELECT * FROM scripted.slowinfo"], signal.SIGTERM,
                 "audit, GetFlightInfo unanswered")):
            p = Running(amp, *args, env=env)
            time.sleep(1.0)
            p.stop(sig, what=what)
        # During the backoff sleeps of a server that keeps failing.
        p = Running(amp, *stream_load("drop", "--max-attempts", "1000"), env=env)
        p.wait_for("attempt 3 of 1000", 20, where="err")
        p.stop(signal.SIGINT, what="load --stream, backoff sleep")

    def lagging():
        # 7 (and 2 after a reconnect). A replica behind our checkpoint accepts the cursor and
        # sends nothing: ampsync says it waits for the server to reach the next block.
        p = Running(amp, *stream_load("lagging"), env=env)
        p.wait_for("[mainnet[10..=19]]", 20, where="out")
        p.wait_for("waiting for the server to reach block 20", 20, where="err")
        p.stop(signal.SIGTERM, what="load --stream, resumed on a lagging replica")
        assert srv.calls("DoGet", "scripted.lagging") == 2, p.text()
        # query --stream --resume says so too (on the annotation stream).
        import hashlib
        cursor = json.dumps({"mainnet": {"number": 19, "hash": "0x" + hashlib.sha256(b"scripted:0:19").hexdigest()}})
        p = Running(amp, "query", *s, "--stream", "--format", "csv", "--resume", cursor,
                    "SELECT * FROM scripted.lagging WHERE 1 = 1", env=env)
        p.wait_for("-- waiting for the server to reach block 20 of mainnet", 20, where="err")
        p.stop(signal.SIGINT, what="query --stream, resumed on a lagging replica")

    def unsynced():
        # 1. A table with nothing synced yet: waited for (polling, logged), never a failure,
        # even with --max-attempts 2; the rows load once the server has them.
        p = Running(amp, *stream_load("unsynced3", "--max-attempts", "2"), env=env)
        p.wait_for("Loaded 20 rows to t", 30, where="out")
        assert "waiting for data" in "".join(p.err), p.text()
        assert "giving up" not in p.text(), p.text()
        p.stop(signal.SIGINT, what="load --stream after waiting for data")
        assert srv.calls("DoGet", "scripted.unsynced3") == 4, p.text()
        # Forever by default, and a signal ends the wait at once.
        p = Running(amp, *stream_load("unsynced", "--max-attempts", "1"), env=env)
        p.wait_for("waiting for data", 10, where="err")
        time.sleep(1.5)
        assert p.proc.poll() is None, p.text()
        p.stop(signal.SIGTERM, what="load --stream, waiting for data")
        # Hybrid: no head to catch up to, the live stream waits for data too.
        p = Running(amp, *hybrid_load("unsynced", "--max-attempts", "1"), env=env)
        p.wait_for("waiting for data", 20, where="err")
        p.stop(signal.SIGINT, what="hybrid load, waiting for data")
        # As long as the user asked: --wait-for-data S, then exit 4 (retrying later may work).
        t0 = time.time()
        cp = run(amp, *stream_load("unsynced", "--wait-for-data", "1"), env=env, timeout=30)
        expect(cp, 4, "--wait-for-data")
        assert time.time() - t0 < 10, cp.stderr
        # query --stream waits too, then prints the rows.
        p = Running(amp, "query", *s, "--stream", "--format", "csv", "SELECT * FROM scripted.unsynced2",
                    env=env)
        p.wait_for("\n9,", 30, where="out")
        p.stop(signal.SIGINT, what="query --stream after waiting for data")
        rows = [l.split(",")[0] for l in "".join(p.out).splitlines()[1:]]
        assert rows == [str(n) for n in range(10) for _ in range(2)], rows

    def networks():
        # 4. A batch that switches to another network after a reconnect is refused as it is
        # on a first connection, and nothing of it is committed.
        cp = run(amp, *stream_load("netswitch"), env=env, timeout=30)
        expect(cp, 1, "the set of networks changed", "othernet")
        assert "othernet[" not in cp.stdout, cp.stdout
        assert "[mainnet[0..=9]]" in cp.stdout, cp.stdout

    def unfixable():
        # 5. Errors a retry cannot fix fail at once with the server's message.
        t0 = time.time()
        cp = run(amp, *stream_load("exhausted"), env=env, timeout=30)
        expect(cp, 3, "RESOURCE_EXHAUSTED", "header list size exceeds")
        assert time.time() - t0 < 10 and srv.calls("GetFlightInfo", "scripted.exhausted") == 1, cp.stderr
        t0 = time.time()
        cp = run(amp, *stream_load("gap"), env=env, timeout=30)
        expect(cp, 1, "gap")
        assert time.time() - t0 < 10 and srv.calls("DoGet", "scripted.gap") == 1, cp.stderr
        cp = run(amp, *stream_load("infointernal"), env=env, timeout=30)
        expect(cp, 3, "INTERNAL", "failed to infer SQL output schema")
        assert srv.calls("GetFlightInfo", "scripted.infointernal") == 1, cp.stderr

    def logged():
        # 6. Every retry and reconnect is logged (component, reason, attempt, next delay) ...
        cp = run(amp, *stream_load("drop", "--max-attempts", "3"), env=env, timeout=60)
        expect(cp, 4, "UNAVAILABLE")
        warnings = [l for l in cp.stderr.splitlines() if l.startswith("WARNING: [stream]")]
        attempts = []
        for line in warnings:
            assert "UNAVAILABLE" in line and "reconnecting in" in line and " s (attempt " in line, line
            attempts.append(int(line.split("(attempt ")[1].split(" of 3)")[0]))
        # The count restarts after the commit of 0..=9, which may land after the first drop.
        assert attempts[-2:] == [2, 3] and len(attempts) in (2, 3), cp.stderr
        # ... and a keep-alive without ranges is a no-op: one DoGet, both microbatches loaded.
        p = Running(amp, *stream_load("keepalive"), env=env)
        p.wait_for("[mainnet[10..=19]]", 20, where="out")
        p.stop(signal.SIGINT, what="load --stream after a keep-alive")
        assert srv.calls("DoGet", "scripted.keepalive") == 1, p.text()

    def deep_reorg():
        # 8. A reorg deeper than the retained microbatches, rows without a block column: the
        # message names options that exist (and --retention-blocks is one).
        cp = run(amp, *stream_load("deepreorg", "--no-block-column", "--retention-blocks", "5"),
                 env=env, timeout=30)
        expect(cp, 3, "--retention-blocks", "--block-column")
        help_text = run(amp, "load", "--help").stdout
        for flag in ("--retention-blocks", "--block-column"):
            assert flag in help_text, help_text

    return {"signals": signals, "lagging": lagging, "unsynced": unsynced, "networks": networks,
            "unfixable": unfixable, "logged": logged, "deep_reorg": deep_reorg}


def check_devnet_edges(amp: str, env: dict) -> None:
    """The same edges against the devnet, which now answers as ampd does: a table with nothing
    synced, a server behind the checkpoint (a devnet with less history, over the same
    chain, as a replica after a failover), a 16 KB token."""
    dev = Devnet(amp, "--unsynced-tables", "calls")
    lake = tempfile.mkdtemp(prefix="cli_lagging_")
    try:
        s = ["--server", dev.url]
        calls = "SELECT * FROM eth_firehose.calls"
        p = Running(amp, "load", *s, "--stream", "--to", "memory://d", "--table", "c", "--query", calls,
                    "--max-attempts", "1", env=env)
        p.wait_for("waiting for data", 10, where="err")
        p.stop(signal.SIGTERM, what="devnet: load --stream on an unsynced table")
        p = Running(amp, "load", *s, "--to", "memory://d", "--table", "c", "--workers", "2",
                    "--query", calls, "--max-attempts", "1", env=env)
        p.wait_for("waiting for data", 20, where="err")
        p.stop(signal.SIGINT, what="devnet: hybrid load on an unsynced table")

        # The demo's own follow loop (its progress line every 2 s when not on a terminal)
        # must not hold a stop until its next tick: signal it just after a tick.
        p = Running(amp, "demo", "--history", "2000", "--to", "memory://demo", env=env)
        p.wait_for("live, head", 60, where="out")
        time.sleep(0.3)
        p.stop(signal.SIGTERM, what="demo, following the head")

        token = "t" * 16384
        t0 = time.time()
        cp = run(amp, "load", *s, "--stream", "--to", "memory://d", "--table", "b", "--token", token,
                 "--query", "SELECT block_num FROM eth_firehose.blocks", env=env, timeout=30)
        expect(cp, 3, "RESOURCE_EXHAUSTED")
        assert time.time() - t0 < 10, cp.stderr
        assert token not in cp.stdout + cp.stderr

        # Load blocks 0..=49 into a Delta table (its checkpoint survives the process) ...
        load = ["load", "--stream", "--to", f"delta://{lake}", "--table", "blocks",
                "--query", "SELECT block_num, hash FROM eth_firehose.blocks"]
        p = Running(amp, *load, *s, env=env)
        p.wait_for("..=49]]", 30, where="out")
        p.stop(signal.SIGINT, what="devnet: load --stream idle at the head")
    finally:
        dev.stop()
    # ... then resume on a replica that has only blocks 0..=29: it accepts the cursor and
    # waits silently, and ampsync says what it waits for.
    replica = Devnet(amp, history=30)
    try:
        p = Running(amp, *load, "--server", replica.url, env=env)
        p.wait_for("waiting for the server to reach block 50", 20, where="err")
        p.stop(signal.SIGTERM, what="devnet: resumed on a replica behind the checkpoint")
        assert "Loaded" not in "".join(p.out), p.text()
    finally:
        replica.stop()
        shutil.rmtree(lake, ignore_errors=True)


def check_edges(amp: str, env: dict, only: list[str] | None = None) -> None:
    srv = ScriptedServer()
    try:
        for name, check in edge_checks(amp, env, srv).items():
            if not only or name in only:
                check()
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampsync", required=True)
    ap.add_argument("--edge", action="append", help="run only this edge check (repeatable)")
    a = ap.parse_args()
    amp = a.ampsync
    env = dict(os.environ, HOME="/nonexistent-home-for-test")
    env.pop("AMP_AUTH_TOKEN", None)

    check_edges(amp, env, a.edge)
    if a.edge:
        return 0
    check_devnet_edges(amp, env)

    # Usage errors: exit 2.
    expect(run(amp, "query", "--bogus", "SELECT 1"), 2, "--bogus")
    expect(run(amp, "query"), 2, "sql")
    expect(run(amp, "devnet", "--reorg-depth", "5-2"), 2, "--reorg-depth")

    dev = Devnet(amp)
    try:
        s = ["--server", dev.url]
        expect(run(amp, "query", *s, "--format", "xml", "SELECT 1", env=env), 2, "xml", "table, csv, jsonl")
        expect(run(amp, "query", *s, "SELEC block_num FROM eth_firehose.blocks", env=env), 3, "INVALID_ARGUMENT")
        expect(run(amp, "query", *s, "SELECT nope FROM eth_firehose.blocks", env=env), 3, "nope")
        expect(run(amp, "query", *s, "SELECT * FROM eth_firehose.nope", env=env), 3, "INTERNAL", "nope")
        expect(run(amp, "query", *s, "SELECT * FROM eth_firehose.blocks LIMIT 3 SETTINGS stream = true",
                   env=env), 3, "non-incremental")
        expect(run(amp, "query", "--server", f"grpc://127.0.0.1:{free_port()}", "SELECT 1", env=env), 4,
               "127.0.0.1")
        expect(run(amp, "query", "--server", "grpc://host:notaport", "SELECT 1", env=env), 2, "notaport")
        expect(run(amp, "query", *s, "--resume", "{not json", "SELECT 1", env=env), 2, "--resume")

        # Content: CSV and JSON lines of a small batch query.
        cp = run(amp, "query", *s, "--format", "csv",
                 "SELECT block_num, tx_index FROM eth_firehose.transactions WHERE block_num BETWEEN 3 AND 4",
                 env=env)
        expect(cp, 0)
        lines = cp.stdout.strip().splitlines()
        assert lines[0] == "block_num,tx_index", lines
        assert lines[1:] == [f"{b},{t}" for b in (3, 4) for t in range(4)], lines
        cp = run(amp, "query", *s, "--format", "jsonl",
                 "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num = 7", env=env)
        expect(cp, 0)
        rows = [json.loads(l) for l in cp.stdout.splitlines()]
        assert len(rows) == 1 and rows[0]["block_num"] == 7, rows
        assert rows[0]["hash"].startswith("0x") and len(rows[0]["hash"]) == 66, rows

        check_parallel_load(amp, dev, env)
        check_optimize(amp, dev, env)

        # Ctrl+C during a stream that is idle at the head: exit 130 within seconds.
        p = subprocess.Popen([amp, "query", *s, "--stream", "--format", "csv",
                              "SELECT block_num FROM eth_firehose.blocks"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        seen = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            if line.strip().isdigit():
                seen.append(int(line))
            if len(seen) == 50:
                break
        assert seen == list(range(50)), seen[:5]
        time.sleep(0.3)  # now idle at the head: the server sends nothing
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=15)
        assert rc == 130, f"Ctrl+C must exit 130, got {rc}: {p.stderr.read()}"
        assert time.time() - t0 < 5, "Ctrl+C must stop promptly"
    finally:
        dev.stop()

    # Failing partitions: every DoGet stream drops after 3 messages (a partition of 2,000
    # blocks of logs takes more) and nothing is retried. The others finish (exit 1 naming
    # the failures); --stop-on-error also exits 1.
    dev = Devnet(amp, "--drop-stream-after", "3", history=20000)
    try:
        args = ["load", "--server", dev.url, "--to", "memory://cli", "--table", "logs",
                "--query", "SELECT * FROM eth_firehose.logs", "--workers", "2", "--to-block", "19999",
                "--partition-size", "2000", "--max-attempts", "1"]
        cp = run(amp, *args, env=env)
        expect(cp, 1, "0 partitions ok, 10 failed", "10 partitions failed", "UNAVAILABLE")
        cp = run(amp, *args, "--stop-on-error", env=env)
        expect(cp, 1, "partitions failed")
        assert "10 failed" not in cp.stderr, f"--stop-on-error must stop early: {cp.stderr}"
    finally:
        dev.stop()

    # A wrong token is rejected and never echoed.
    dev = Devnet(amp, "--require-token", "s3cret-token")
    try:
        cp = run(amp, "query", "--server", dev.url, "--token", "wrong-token-value", "SELECT 1", env=env)
        expect(cp, 3, "UNAUTHENTICATED")
        assert "wrong-token-value" not in cp.stdout + cp.stderr and "s3cret-token" not in cp.stderr
        cp = run(amp, "query", "--server", dev.url, "--format", "csv",
                 "SELECT COUNT(*) AS n FROM eth_firehose.blocks",
                 env=dict(env, AMP_AUTH_TOKEN="s3cret-token"))
        expect(cp, 0)
        assert cp.stdout.splitlines() == ["n", "50"], cp.stdout
    finally:
        dev.stop()
    print("cli_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
