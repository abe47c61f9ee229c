#!/usr/bin/env python3
"""Runs the command-line examples of the docs against a real `ampsync devnet` subprocess.

Every ```sh block preceded by a marker

    <!-- example-sh: NAME [exit=N] [expect="text"] [interrupt=SECONDS] -->

is run, command by command (`\\` continuations joined, `# comments` skipped, `export K=V`
setting the environment of later commands), after replacing:
  * the placeholder server grpc://your-amp-server:1602 by the devnet's URL;
  * the placeholder destination postgresql://postgres@localhost:5432/blockchain_data by
    memory://docs (the memory loader of the ampsync process);
  * a leading `ampsync` by the built binary;
  * examples/jobs/X.toml by a copy whose server url points at the devnet.
Each command must exit with `exit` (default 0; with `interrupt`, SIGINT is sent after that
many seconds and the default is 130), and the block's combined output must contain `expect`.

Usage: docs_cli_test.py --ampsync PATH --doc docs/parallel-streaming.md [--cli-doc docs/cli.md] --root SRC
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

MARKER = re.compile(r"<!--\s*example-sh:\s*(\w+)(.*?)-->")
SERVER = "grpc://your-amp-server:1602"
DESTINATION = "postgresql://postgres@localhost:5432/blockchain_data"


def blocks(path: str):
    lines = open(path, encoding="utf-8").read().split("\n")
    pending = None
    i = 0
    while i < len(lines):
        m = MARKER.search(lines[i])
        if m:
            attrs = {}
            for item in shlex.split(m.group(2)):
                k, eq, v = item.partition("=")
                attrs[k] = v if eq else "true"
            pending = (m.group(1), attrs, i + 1)
        elif lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if pending and lines[i].strip() == "```sh":
                yield pending[0], pending[1], f"{path}:{pending[2]}", lines[i + 1:j]
            elif pending:
                sys.exit(f"{path}:{pending[2]}: example-sh marker not followed by a ```sh block")
            pending = None
            i = j
        elif lines[i].strip() and not lines[i].lstrip().startswith("<!--"):
            pending = None
        i += 1


def commands(body: list[str]):
    cmd = ""
    for line in body:
        stripped = line.strip()
        if not cmd and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            cmd += stripped[:-1] + " "
            continue
        cmd += stripped
        yield cmd
        cmd = ""


class Devnet:
    def __init__(self, ampsync: str):
        self.proc = subprocess.Popen(
            [ampsync, "devnet", "--port", "0", "--history", "20000", "--block-time", "100"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"grpc://[0-9.]+:\d+", line)
        assert m, f"devnet did not start: {line!r}"
        self.url = m.group(0)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=20) == 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampsync", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--cli-doc")
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    docs = [a.doc] + ([a.cli_doc] if a.cli_doc else [])
    found = [b for d in docs for b in blocks(d)]
    assert found, "no example-sh blocks found"
    tmp = tempfile.mkdtemp(prefix="docs_cli_")
    dev = Devnet(a.ampsync)
    env = dict(os.environ, HOME="/nonexistent-home-for-test")
    env.pop("AMP_AUTH_TOKEN", None)
    failures = 0
    try:
        for name, attrs, where, body in found:
            failures_before = failures
            output = ""
            interrupt = float(attrs["interrupt"]) if "interrupt" in attrs else None
            want = int(attrs.get("exit", "130" if interrupt else "0"))
            for cmd in commands(body):
                cmd = cmd.replace(SERVER, dev.url).replace(DESTINATION, "memory://docs")
                argv = shlex.split(cmd)
                if argv[0] == "export":
                    k, _, v = argv[1].partition("=")
                    env[k] = v
                    continue
                if argv[0] != "ampsync":
                    sys.exit(f"{where}: only ampsync commands can run here: {cmd}")
                argv[0] = a.ampsync
                for k, arg in enumerate(argv):
                    if arg.startswith("examples/jobs/"):
                        text = open(os.path.join(a.root, arg), encoding="utf-8").read()
                        text = re.sub(r'url = "grpc://[^"]*"', f'url = "{dev.url}"', text)
                        copy = os.path.join(tmp, os.path.basename(arg))
                        open(copy, "w", encoding="utf-8").write(text)
                        argv[k] = copy
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                if interrupt is not None:
                    time.sleep(interrupt)
                    p.send_signal(signal.SIGINT)
                out, err = p.communicate(timeout=120)
                output += out + err
                if p.returncode != want:
                    print(f"FAIL {name} ({where}): `{cmd}` exited {p.returncode}, expected {want}\n{out}{err}")
                    failures += 1
            if "expect" in attrs and attrs["expect"] not in output:
                print(f"FAIL {name} ({where}): {attrs['expect']!r} not in the output:\n{output}")
                failures += 1
            elif failures == failures_before:
                print(f"ok   {name}")
    finally:
        dev.stop()
    if failures:
        print(f"docs_cli_test: {failures} failure(s)")
        return 1
    print(f"docs_cli_test: {len(found)} examples passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
