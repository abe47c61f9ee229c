"""Shared machinery of the PostgreSQL end-to-end suites (tests/pg_suites/*_suite.py
and, through tests/shared_suites/destinations.py, the shared reorg and crash suites).

Every suite runs the real binaries: a throwaway PostgreSQL (scripts/pg start into a temp
dir, stopped at exit even on failure), `ampsync devnet` subprocesses on free ports, and
`ampsync load` subprocesses writing into PostgreSQL. What the destination holds is checked
against the devnet's canonical rows fetched independently with pyarrow.flight batch queries
(the Flight SQL command is encoded by tests/interop/amp_wire.py, not by our client), and
read back from PostgreSQL with psql, never through our loader. Provides:

  * PgServer: start/stop/restart of a scripts/pg instance, a persistent psql session for
    quick queries (survives server restarts), COPY-out of whole tables for comparisons;
  * Devnet: an `ampsync devnet` subprocess, its DoAction control actions (status, produce,
    reorg, set_faults) and canonical batch queries through pyarrow.flight;
  * Producer: a thread producing live blocks through DoAction until paused or stopped;
  * Loader: an `ampsync load` subprocess with its output in files, parsed into the units
    it committed ("Loaded ... [mainnet[a..=b]]") and the reorgs it reported;
  * checkpoints()/wait_at_head(): the committed cursors in amp_client_state;
  * compare_table(): the destination's rows against the canonical rows as multisets of
    typed text tuples (full rows, or key columns + an md5 of the whole row), reporting
    missing / duplicate / stale rows by block;
  * run_audit(): `ampsync audit` over the covered range.

Child processes get PR_SET_PDEATHSIG (through setpriv) so that a suite killed by ctest's
timeout leaves no devnet or loader behind (scripts/pg's --owner-pid watcher does the same
for PostgreSQL). The signal fires when the forking *thread* ends, so subprocesses are only
ever started from the main thread.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "interop"))
import amp_wire as w  # noqa: E402

NETWORK = "mainnet"
EXIT_INTERRUPTED = 130
EXIT_MISMATCH = 5

_SETPRIV = shutil.which("setpriv")


def guarded(cmd: list[str]) -> list[str]:
    """`cmd` run so that it gets SIGKILL when the suite process dies (PR_SET_PDEATHSIG,
    set by util-linux's setpriv before it execs `cmd`, so the pid stays the same).
    Not preexec_fn: that is unsafe once the suite has threads (Producer)."""
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd] if _SETPRIV else list(cmd)


def log(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


class SuiteFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SuiteFailure(message)


def common_args(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--ampsync", required=True, help="the ampsync binary")
    ap.add_argument("--pg-script", default=str(REPO / "scripts" / "pg"), help="scripts/pg")
    ap.add_argument("--seed", type=int, default=None, help="RNG seed (default: the suite's)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return ap


def run_suite(name: str, body: Callable[["Suite"], None], args: argparse.Namespace) -> int:
    """Runs body(suite) with cleanup guaranteed (SIGTERM/SIGINT included); 0 on success."""
    suite = Suite(name, args)

    def on_signal(signum, frame):
        raise SystemExit(f"{name}: interrupted by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    ok = False
    try:
        body(suite)
        ok = True
    except BaseException as e:  # report, then clean up
        if not isinstance(e, SystemExit):
            traceback.print_exc()
        else:
            print(e, file=sys.stderr)
    finally:
        suite.close(keep_logs=not ok or args.keep)
    elapsed = time.monotonic() - started
    if ok:
        print(f"{name}: all checks passed in {elapsed:.1f}s", flush=True)
        return 0
    print(f"{name}: FAILED after {elapsed:.1f}s (logs kept in {suite.workdir})", flush=True)
    return 1


class Suite:
    """Owns the work directory and everything started; close() stops it all in reverse order."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.args = args
        self.ampsync = str(Path(args.ampsync).resolve())
        self.pg_script = str(Path(args.pg_script).resolve())
        self.workdir = Path(tempfile.mkdtemp(prefix=f"amp-{name}-"))
        self._cleanups: list[tuple[str, Callable[[], None]]] = []

    def on_close(self, what: str, fn: Callable[[], None]) -> None:
        self._cleanups.append((what, fn))

    def close(self, keep_logs: bool) -> None:
        while self._cleanups:
            what, fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # keep cleaning up
                print(f"cleanup of {what} failed: {e}", file=sys.stderr)
        if keep_logs:
            self._dump_logs()
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _dump_logs(self) -> None:
        # ctest only shows the output: print the tail of each log so a failure is readable.
        for path in sorted(self.workdir.glob("*.log")):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            if not text.strip():
                continue
            lines = text.splitlines()
            print(f"----- {path.name} (last {min(len(lines), 15)} of {len(lines)} lines)")
            print("\n".join(lines[-15:]))

    def pg(self) -> "PgServer":
        server = PgServer(self.pg_script)
        self.on_close("postgres", server.stop)
        return server

    def devnet(self, *flags: str, name: str = "devnet") -> "Devnet":
        dev = Devnet(self.ampsync, list(flags), self.workdir / f"{name}.log")
        self.on_close(name, dev.stop)
        return dev

    def loader(self, devnet: "Devnet", pg: "PgServer", query: str, table: str, *flags: str,
               name: Optional[str] = None, uri: Optional[str] = None) -> "Loader":
        ld = Loader(self.ampsync, devnet.url, query, uri or pg.uri, table, list(flags),
                    self.workdir, name or table)
        self.on_close(f"loader {ld.name}", ld.kill9)
        return ld


# ---------------------------------------------------------------------------------------
# PostgreSQL


class PgError(RuntimeError):
    pass


class PgConnectionLost(PgError):
    pass


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unescape_copy_text(field: str) -> Optional[str]:
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, i = [], 0
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


class PsqlSession:
    """One long-lived psql process: a query costs a round-trip, not a process start.

    psql reads the script from stdin; after each statement an \\echo of a unique token
    marks the end of its output. A lost connection (server restart) ends psql in script
    mode; the next query starts a new one and retries until `timeout`.
    """

    def __init__(self, uri: str):
        self.uri = uri
        self.proc: Optional[subprocess.Popen] = None
        self._buf = b""
        self._n = 0
        self._lock = threading.Lock()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            guarded(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-P", "null=\\N",
                     "-v", "ON_ERROR_STOP=0", "-d", self.uri]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Notices would be read as result rows.
            env=dict(os.environ, PGCONNECT_TIMEOUT="5", PGOPTIONS="-c client_min_messages=warning"))
        self._buf = b""

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
            with contextlib.suppress(Exception):
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def _read_until(self, token: bytes, deadline: float) -> list[bytes]:
        fd = self.proc.stdout.fileno()
        while True:
            idx = self._buf.find(token + b"\n")
            if idx >= 0:
                out = self._buf[:idx]
                self._buf = self._buf[idx + len(token) + 1:]
                return out.splitlines()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise PgError("psql did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                text = self._buf.decode(errors="replace")
                self.close()
                raise PgConnectionLost(f"psql ended: {text.strip()[-400:]}")
            self._buf += chunk

    def _query_once(self, sql: str, timeout: float) -> list[list[Optional[str]]]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self._n += 1
        token = f"__ampsuite_end_{self._n}__".encode()
        script = sql.strip().rstrip(";") + ";\n\\echo " + token.decode() + "\n"
        try:
            self.proc.stdin.write(script.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.close()
            raise PgConnectionLost(f"psql pipe: {e}")
        lines = self._read_until(token, time.monotonic() + timeout)
        errors = [l.decode(errors="replace") for l in lines
                  if l.startswith(b"psql:") or l.startswith(b"ERROR:") or l.startswith(b"FATAL:")]
        if errors:
            text = "\n".join(errors)
            if "connection" in text and ("lost" in text or "closed" in text or "terminat" in text):
                self.close()
                raise PgConnectionLost(text)
            raise PgError(text)
        return [[None if f == "\\N" else f for f in l.decode().split("\t")] for l in lines]

    def query(self, sql: str, timeout: float = 60, retry_for: float = 0) -> list[list[Optional[str]]]:
        """Rows of `sql` as lists of strings (None for NULL). retry_for: seconds to keep
        retrying while the server is unreachable (restarting)."""
        deadline = time.monotonic() + retry_for
        with self._lock:
            while True:
                try:
                    return self._query_once(sql, timeout)
                except PgConnectionLost:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.2)


class PgServer:
    def __init__(self, script: str):
        self.script = script
        # scripts/pg wants an empty directory; as root it hands it to the postgres user.
        self.dir = tempfile.mkdtemp(prefix="amp-pgsuite-pg-")
        proc = subprocess.run([script, "start", self.dir, "--owner-pid", str(os.getpid())],
                              capture_output=True, text=True, timeout=120)
        out = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not out or not out[-1].startswith("postgresql://"):
            shutil.rmtree(self.dir, ignore_errors=True)
            raise SuiteFailure(f"scripts/pg start failed (exit {proc.returncode}): "
                               f"{proc.stdout}\n{proc.stderr}")
        self.uri = out[-1]
        self.port = int(re.search(r":(\d+)/", self.uri).group(1))
        self.session = PsqlSession(self.uri)
        self._stopped = False
        log(f"postgres: {self.uri} in {self.dir}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.session.close()
        subprocess.run([self.script, "stop", self.dir], capture_output=True, timeout=120)

    def restart(self) -> float:
        """scripts/pg restart (fast shutdown: backends are terminated). Returns seconds."""
        t0 = time.monotonic()
        proc = subprocess.run([self.script, "restart", self.dir], capture_output=True, text=True,
                              timeout=120)
        check(proc.returncode == 0, f"scripts/pg restart failed: {proc.stderr}")
        return time.monotonic() - t0

    def query(self, sql: str, retry_for: float = 30) -> list[list[Optional[str]]]:
        return self.session.query(sql, retry_for=retry_for)

    def scalar(self, sql: str, retry_for: float = 30) -> Optional[str]:
        rows = self.query(sql, retry_for=retry_for)
        check(len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}: {rows}")
        return rows[0][0]

    def table_exists(self, table: str) -> bool:
        return self.scalar(f"SELECT to_regclass('public.{quote_ident(table)}') IS NOT NULL") == "t"

    def copy_out(self, select_sql: str, timeout: float = 300) -> Iterable[list[Optional[str]]]:
        """All rows of `select_sql` through one COPY ... TO STDOUT (text format)."""
        proc = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.uri,
                               "-c", f"COPY ({select_sql}) TO STDOUT"],
                              capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise PgError(f"COPY out failed: {proc.stderr.decode(errors='replace')}")
        for line in proc.stdout.decode().split("\n"):
            if line:
                yield [_unescape_copy_text(f) for f in line.split("\t")]

    def backends(self, application_name: str = "ampsync") -> list[list[Optional[str]]]:
        return self.query("SELECT pid, state, left(query, 60) FROM pg_stat_activity "
                          f"WHERE application_name = '{application_name}'")


# ---------------------------------------------------------------------------------------
# Devnet


class Devnet:
    def __init__(self, ampsync: str, flags: list[str], log_path: Path):
        self.cmd = [ampsync, "devnet", "--port", "0", *flags]
        self.log_path = log_path
        self._log = open(log_path, "w+")
        self.proc = subprocess.Popen(guarded(self.cmd), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.url = None
        while time.monotonic() < deadline:
            m = re.search(r"listening on (grpc://\S+)", log_path.read_text(errors="replace"))
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.url is None:
            self.stop()
            raise SuiteFailure(f"`{' '.join(self.cmd)}` did not start: "
                               f"{log_path.read_text(errors='replace')}")
        self.client = flight.connect(self.url)
        log(f"devnet: {self.url} ({' '.join(flags)})")

    def action(self, kind: str, body: Optional[dict] = None, client=None) -> dict:
        payload = json.dumps(body).encode() if body is not None else b""
        results = list((client or self.client).do_action(
            flight.Action(kind, payload), flight.FlightCallOptions(timeout=30)))
        return json.loads(results[0].body.to_pybytes())

    def status(self) -> dict:
        return self.action("ampsync.devnet.status")

    def head(self) -> tuple[int, str]:
        s = self.status()
        return s["head"], s["head_hash"]

    def produce(self, count: int = 1, client=None) -> dict:
        return self.action("ampsync.devnet.produce", {"count": count}, client=client)

    def produce_one(self) -> tuple[int, str]:
        """One more block; returns the new head (a wait_at_head nudge)."""
        self.produce(1)
        return self.head()

    def reorg(self, depth: int) -> dict:
        return self.action("ampsync.devnet.reorg", {"depth": depth})

    def set_faults(self, **faults) -> dict:
        return self.action("ampsync.devnet.set_faults", faults)

    def batch_query(self, sql: str, timeout: float = 300) -> tuple[pa.Table, list]:
        """A batch query through pyarrow.flight: the table and the ranges of its metadata."""
        call = flight.FlightCallOptions(timeout=timeout)
        descriptor = flight.FlightDescriptor.for_command(w.statement_query_command(sql))
        info = self.client.get_flight_info(descriptor, call)
        check(len(info.endpoints) == 1, f"{len(info.endpoints)} endpoints")
        reader = self.client.do_get(info.endpoints[0].ticket, call)
        batches, ranges, complete = [], None, False
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            meta = json.loads(chunk.app_metadata.to_pybytes())
            ranges, complete = meta["ranges"], meta["ranges_complete"]
            if chunk.data.num_rows:
                batches.append(chunk.data)
        check(complete, f"batch query {sql!r} did not end with a ranges_complete message")
        return pa.Table.from_batches(batches, schema=info.schema), ranges

    def canonical(self, sql: str, head: tuple[int, str]) -> pa.Table:
        """Rows of a batch query, checked to come from the chain whose head is `head`."""
        table, ranges = self.batch_query(sql)
        check(len(ranges) == 1 and ranges[0]["numbers"]["end"] == head[0]
              and ranges[0]["hash"] == head[1],
              f"canonical query ran against another chain than head {head}: {ranges}")
        return table

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Producer:
    """Produces live blocks through DoAction from a thread (so timing stays in the test's
    hands and the head can be frozen at will): `count` blocks every `interval` seconds."""

    def __init__(self, devnet: Devnet, interval: float = 0.05, count: int = 1):
        self.devnet = devnet
        self.interval = interval
        self.count = count
        self.client = flight.connect(devnet.url)
        self._running = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self.error: Optional[BaseException] = None
        self.produced = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._running.is_set():
                    self._idle.set()
                    self._running.wait(0.05)
                    continue
                self._idle.clear()
                self.devnet.produce(self.count, client=self.client)
                self.produced += self.count
                self._stop.wait(self.interval)
        except BaseException as e:  # surfaced by pause()/stop()
            self.error = e
        finally:
            self._idle.set()

    def resume(self) -> None:
        self._running.set()

    def pause(self) -> None:
        """Returns once no produce call is in flight."""
        self._running.clear()
        self._idle.wait(30)
        if self.error:
            raise SuiteFailure(f"block producer failed: {self.error}")

    def stop(self) -> None:
        self._running.clear()
        self._stop.set()
        self._thread.join(30)
        with contextlib.suppress(Exception):
            self.client.close()
        if self.error:
            raise SuiteFailure(f"block producer failed: {self.error}")


# ---------------------------------------------------------------------------------------
# ampsync load

_LOADED_RE = re.compile(r"^Loaded (\d+) rows to (\S+) in [0-9.]+s \[(\w+)\[(\d+)\.\.=(\d+)\]\]$")
_REORG_RE = re.compile(r"^Reorg detected: (\d+) ranges invalidated \((.*?)\)( \[.*\])?$")
_RANGE_RE = re.compile(r"(\w+)\[(\d+)\.\.=(\d+)\]")


class Loader:
    """One `ampsync load` process. stdout/stderr go to files (never a pipe nobody reads)."""

    _counter = collections.Counter()

    def __init__(self, ampsync: str, server: str, query: str, uri: str, table: str,
                 flags: list[str], workdir: Path, name: str):
        Loader._counter[name] += 1
        self.name = f"{name}.{Loader._counter[name]}"
        self.query = query
        self.table = table
        self.cmd = [ampsync, "load", "--server", server, "--query", query, "--to", uri,
                    "--table", table, *flags]
        self.out_path = workdir / f"load-{self.name}.out.log"
        self.err_path = workdir / f"load-{self.name}.err.log"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(guarded(self.cmd), stdout=self._out, stderr=self._err)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        rc = self.proc.poll()
        return (f"loader {self.name} ({'running' if rc is None else f'exit {rc}'}); "
                f"stderr tail: {self.stderr()[-1500:]}")

    def events(self) -> list[tuple]:
        """('load', start, end, rows) and ('reorg', [(start, end), ...]) in output order."""
        out = []
        for line in self.stdout().splitlines():
            m = _LOADED_RE.match(line)
            if m:
                out.append(("load", int(m.group(4)), int(m.group(5)), int(m.group(1))))
                continue
            m = _REORG_RE.match(line)
            if m:
                ranges = [(int(a), int(b)) for _, a, b in _RANGE_RE.findall(m.group(2))]
                check(len(ranges) == int(m.group(1)), f"cannot parse reorg line {line!r}")
                out.append(("reorg", ranges))
        return out

    def units(self) -> list[tuple[int, int, int]]:
        return [(a, b, rows) for kind, *rest in self.events() if kind == "load"
                for a, b, rows in [rest]]

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl+C: the loader finishes its in-flight commit and exits (130 expected)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise SuiteFailure(f"loader {self.name} did not stop within {timeout}s of SIGINT")
        self._close_files()
        return rc

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise SuiteFailure(f"loader {self.name} still running after {timeout}s: "
                               f"{' '.join(self.cmd)}")
        self._close_files()
        return rc

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_files()

    def _close_files(self) -> None:
        for f in (self._out, self._err):
            with contextlib.suppress(Exception):
                f.close()


def run_load(suite: Suite, server: str, query: str, uri: str, table: str, *flags: str,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """`ampsync load` run to completion (batch loads and the bad-input cases)."""
    cmd = [suite.ampsync, "load", "--server", server, "--query", query, "--to", uri,
           "--table", table, *flags]
    try:
        return subprocess.run(guarded(cmd), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise SuiteFailure(f"timed out after {timeout}s: {cmd}\n{e.stderr}")


# ---------------------------------------------------------------------------------------
# Checkpoints


def checkpoints(pg: PgServer, retry_for: float = 30) -> dict[str, tuple[int, str]]:
    """{destination table: (cursor block, cursor hash)} from amp_client_state."""
    if pg.scalar("SELECT to_regclass('public.amp_client_state') IS NULL", retry_for) == "t":
        return {}
    rows = pg.query("SELECT array_to_string(table_names, ','), "
                    f"checkpoint->'cursor'->'{NETWORK}'->>'number', "
                    f"checkpoint->'cursor'->'{NETWORK}'->>'hash' FROM amp_client_state",
                    retry_for=retry_for)
    out = {}
    for tables, number, hash_hex in rows:
        if number is None:
            continue
        for t in (tables or "").split(","):
            out[t] = (int(number), hash_hex)
    return out


def wait_until_at_head(read_checkpoints: Callable[[], dict], loaders: Sequence[Loader],
                       head: tuple[int, str], timeout: float = 120, what: str = "",
                       nudge: Optional[Callable[[], Optional[tuple[int, str]]]] = None,
                       stall: float = 1.0, interval: float = 0.02) -> Optional[tuple[int, str]]:
    """Waits until every loader's table has committed exactly `head` (number and hash),
    reading the committed checkpoints ({table: (number, hash)}) with `read_checkpoints`
    every `interval` seconds; the destination libraries pass their own reader. Fails at once
    when a loader exits.

    nudge: called (and the target moved to the head it returns) when some loader is behind
    and no checkpoint has moved for `stall` seconds; if it returns None, so does this. The
    load cadence (amp/load.h) keeps a unit open when the stream's last microbatch was
    full-sized, until the next block's microbatch arrives; a chain that stops right there
    needs one more block. Returns the head finally reached."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    last_change = time.monotonic()
    while True:
        for ld in loaders:
            check(ld.alive(), f"{what}: {ld.describe()}")
        current = read_checkpoints()
        if all(current.get(ld.table) == head for ld in loaders):
            return head
        now = time.monotonic()
        if current != last:
            last, last_change = current, now
        elif nudge is not None and now - last_change > stall:
            moved = nudge()
            if moved is None:  # the caller handles a stall itself
                return None
            head = moved
            last_change = now
        if now > deadline:
            raise SuiteFailure(
                f"{what}: checkpoints did not reach head {head} within {timeout}s: "
                + ", ".join(f"{ld.table}={last.get(ld.table)}" for ld in loaders))
        time.sleep(interval)


def wait_at_head(pg: PgServer, loaders: Sequence[Loader], head: tuple[int, str],
                 timeout: float = 120, what: str = "",
                 nudge: Optional[Callable[[], Optional[tuple[int, str]]]] = None,
                 stall: float = 1.0) -> Optional[tuple[int, str]]:
    """wait_until_at_head on the PostgreSQL checkpoints."""
    return wait_until_at_head(lambda: checkpoints(pg), loaders, head, timeout, what, nudge, stall)


# ---------------------------------------------------------------------------------------
# Content comparison


def _is_binary(t: pa.DataType) -> bool:
    return (pa.types.is_binary(t) or pa.types.is_large_binary(t)
            or pa.types.is_fixed_size_binary(t))


def pg_text_expr(field: pa.Field) -> str:
    """SQL giving the canonical text of a column as the loader stored it."""
    t, c = field.type, quote_ident(field.name)
    if _is_binary(t):
        return f"encode({c}, 'hex')"
    if pa.types.is_timestamp(t):
        return f"((extract(epoch FROM {c}) * 1000000)::bigint)::text"
    if (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t)):
        return f"{c}::text"
    raise SuiteFailure(f"no comparison rule for column {field.name} of type {t}")


def arrow_text_values(arr: pa.ChunkedArray | pa.Array, field: pa.Field) -> list[Optional[str]]:
    """The same canonical text computed from the devnet's Arrow values."""
    t = field.type
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=t)
    if _is_binary(t):
        return [None if v is None else v.hex() for v in arr.to_pylist()]
    if pa.types.is_timestamp(t):
        per_us = {"s": None, "ms": None, "us": 1, "ns": 1000}[t.unit]
        ints = arr.cast(pa.int64()).to_pylist()
        if per_us is None:
            mul = {"s": 1_000_000, "ms": 1000}[t.unit]
            return [None if v is None else str(v * mul) for v in ints]
        return [None if v is None else str(v // per_us) for v in ints]  # PostgreSQL floors
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        scale = t.scale
        out = []
        for v in arr.to_pylist():
            if v is None:
                out.append(None)
            elif scale <= 0:
                out.append(str(int(v)))
            else:
                out.append(format(v.quantize(type(v)(1).scaleb(-scale)), "f"))
        return out
    if pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return [None if v is None else str(v) for v in arr.to_pylist()]
    raise SuiteFailure(f"no comparison rule for column {field.name} of type {t}")


_SEP = "\x1f"
_NULL = "~null~"


def _row_digest(values: Sequence[Optional[str]]) -> str:
    return hashlib.md5(_SEP.join(_NULL if v is None else v for v in values).encode()).hexdigest()


def canonical_tuples(table: pa.Table, key_columns: Optional[Sequence[str]] = None) -> list[tuple]:
    """Rows as text tuples: all columns, or key columns + md5 of the whole row."""
    cols = [arrow_text_values(table.column(i), table.schema.field(i)) for i in range(table.num_columns)]
    rows = list(zip(*cols)) if cols else []
    if key_columns is None:
        return rows
    idx = [table.schema.get_field_index(k) for k in key_columns]
    return [tuple(r[i] for i in idx) + (_row_digest(r),) for r in rows]


def destination_tuples(pg: PgServer, table: str, schema: pa.Schema,
                       key_columns: Optional[Sequence[str]] = None) -> list[tuple]:
    exprs = [pg_text_expr(f) for f in schema]
    if key_columns is None:
        select = ", ".join(exprs)
    else:
        keys = [pg_text_expr(schema.field(k)) for k in key_columns]
        digest = ("md5(concat_ws(E'\\x1f', "
                  + ", ".join(f"coalesce({e}, '{_NULL}')" for e in exprs) + "))")
        select = ", ".join(keys + [digest])
    return [tuple(r) for r in pg.copy_out(f"SELECT {select} FROM public.{quote_ident(table)}")]


def _ranges_text(numbers: Iterable[int], limit: int = 12) -> str:
    nums = sorted(set(numbers))
    runs, start = [], None
    for i, n in enumerate(nums):
        if start is None:
            start = n
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            runs.append(f"{start}" if start == n else f"{start}..={n}")
            start = None
    more = f" (+{len(runs) - limit} more runs)" if len(runs) > limit else ""
    return ", ".join(runs[:limit]) + more


def compare_rows(expected: list[tuple], actual: list[tuple], what: str,
                 block_of: Optional[Callable[[tuple], Optional[int]]] = None) -> None:
    """Multiset equality; on failure names missing, duplicated and stale rows by block."""
    exp, act = collections.Counter(expected), collections.Counter(actual)
    if exp == act:
        return
    missing = exp - act
    extra = act - exp
    duplicates = {r: n for r, n in extra.items() if r in exp}
    stale = {r: n for r, n in extra.items() if r not in exp}
    lines = [f"{what}: destination differs from the canonical rows: "
             f"{len(expected)} canonical rows, {len(actual)} in the destination; "
             f"{sum(missing.values())} missing, {sum(duplicates.values())} duplicate, "
             f"{sum(stale.values())} stale"]
    if block_of is not None:
        for label, rows in (("missing", missing), ("duplicate", duplicates), ("stale", stale)):
            blocks = [block_of(r) for r in rows]
            if blocks:
                lines.append(f"  {label} rows in blocks: {_ranges_text(b for b in blocks if b is not None)}")
    for label, rows in (("missing", missing), ("duplicate", duplicates), ("stale", stale)):
        for r in list(rows)[:3]:
            lines.append(f"  e.g. {label}: {str(r)[:300]}")
    raise SuiteFailure("\n".join(lines))


def compare_table(pg: PgServer, devnet: Devnet, head: tuple[int, str], query: str, table: str,
                  key_columns: Optional[Sequence[str]] = None) -> int:
    """The destination table equals the canonical rows of `query` over blocks 0..=head
    (the devnet must be frozen at `head`). Returns the row count."""
    canon = devnet.canonical(query, head)
    expected = canonical_tuples(canon, key_columns)
    actual = destination_tuples(pg, table, canon.schema, key_columns)
    block_idx = None
    names = list(key_columns) if key_columns is not None else canon.schema.names
    for candidate in ("_block_num", "block_num"):
        if candidate in names:
            block_idx = names.index(candidate)
            break
    block_of = (lambda r: int(r[block_idx]) if r[block_idx] is not None else None) \
        if block_idx is not None else None
    compare_rows(expected, actual, f"table {table}", block_of)
    return len(expected)


def check_block_spans(pg: PgServer, table: str, exact: bool) -> None:
    """_amp_block_start/_amp_block_end: the row's own block (exact) or a span containing it."""
    if exact:
        cond = "_amp_block_start <> _block_num OR _amp_block_end <> _block_num"
    else:
        cond = "NOT (_amp_block_start <= _block_num AND _block_num <= _amp_block_end)"
    bad = pg.scalar(f"SELECT count(*) FROM public.{quote_ident(table)} WHERE {cond}")
    check(bad == "0", f"table {table}: {bad} rows whose _amp_block_* span does not match _block_num")


def run_audit(suite: Suite, devnet: Devnet, pg: PgServer, query: str, table: str,
              head: int, expect: int = 0, timeout: float = 180) -> str:
    """`ampsync audit` of blocks 0..=head; asserts its exit code, returns its first line."""
    cmd = [suite.ampsync, "audit", "--server", devnet.url, "--query", query, "--to", pg.uri,
           "--table", table, "--from-block", "0", "--to-block", str(head)]
    proc = subprocess.run(guarded(cmd), capture_output=True, text=True, timeout=timeout)
    check(proc.returncode == expect,
          f"ampsync audit of {table} exited {proc.returncode} (expected {expect}):\n"
          f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""


def assert_detects_corruption(suite: Suite, pg: PgServer, devnet: Devnet, head: tuple[int, str],
                              query: str, table: str, key_columns: Optional[Sequence[str]],
                              bytea_column: str) -> None:
    """Self-check of the oracle: delete one row, duplicate another and change a value of a
    third; compare_table must then report 2 missing, 1 duplicate and 1 stale row, and
    `ampsync audit` must exit 5. Leaves the table corrupted."""
    t = f"public.{quote_ident(table)}"
    pick = f"(SELECT ctid FROM {t} ORDER BY _block_num, ctid LIMIT 1 OFFSET %d)"
    pg.query(f"UPDATE {t} SET {quote_ident(bytea_column)} = {quote_ident(bytea_column)} || "
             f"'\\x01'::bytea WHERE ctid = {pick % 5}")
    pg.query(f"INSERT INTO {t} SELECT * FROM {t} WHERE ctid = {pick % 9}")
    pg.query(f"DELETE FROM {t} WHERE ctid = {pick % 0}")
    try:
        compare_table(pg, devnet, head, query, table, key_columns)
    except SuiteFailure as e:
        check("2 missing, 1 duplicate, 1 stale" in str(e),
              f"{table}: the comparison misreported the corruption: {e}")
    else:
        raise SuiteFailure(f"{table}: the comparison did not notice a corrupted destination")
    run_audit(suite, devnet, pg, query, table, head[0], expect=EXIT_MISMATCH)


def wait_no_backends(pg: PgServer, timeout: float = 30) -> None:
    """Waits until no ampsync session is connected (a killed loader's backend has exited,
    so its last COMMIT, if any, has been applied or rolled back)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = pg.backends()
        if not rows:
            return
        if time.monotonic() > deadline:
            raise SuiteFailure(f"ampsync backends still connected after {timeout}s: {rows}")
        time.sleep(0.02)
