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
  * `query` output formats carry the right content (CSV header + rows, JSON lines).

Usage: cli_test.py --ampsync build/release/tools/ampsync/ampsync
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Devnet:
    def __init__(self, ampsync: str, *extra: str):
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [ampsync, "devnet", "--port", str(self.port), "--history", "50", "--block-time", "0",
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampsync", required=True)
    a = ap.parse_args()
    amp = a.ampsync
    env = dict(os.environ, HOME="/nonexistent-home-for-test")
    env.pop("AMP_AUTH_TOKEN", None)

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
        expect(run(amp, "query", *s, "SELECT * FROM eth_firehose.nope", env=env), 3, "NOT_FOUND", "nope")
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
