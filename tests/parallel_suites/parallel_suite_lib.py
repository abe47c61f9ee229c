"""Shared parts of the parallel-load suites (tests/parallel_suites/*_suite.py).

Built on tests/pg_suites/pg_suite_lib.py (imported, not copied): its Suite, PgServer, Devnet,
Loader and compare_table do the process management and the row-by-row comparison against the
devnet's canonical rows (batch queries through pyarrow.flight, never through our client).
This module adds what `ampsync load --workers N` prints and stores:

  * ParallelOutput: the result lines of a parallel load, parsed. Partition results are
        Loaded R rows to T in S.SSs [partition P blocks [A, B) worker W]      (stdout)
        Failed to load to T: <error> [partition P blocks [A, B) worker W]     (stderr)
    live results of hybrid mode
        Loaded R rows to T in S.SSs [mainnet[a..=b]] (live)
    and the log lines "INFO: Worker W processing blocks A to B" / "Partition P completed".
  * state_rows(): amp_client_state as {stream_id: (number, hash)}; range checkpoints are
    "<job>/range/<start>", the hand-off record "<job>/plan", the live stream's own id.
  * compare_blocks(): the destination equals the canonical rows of a block interval set.
  * check_no_duplicates(): no (block_num, tx_index) key twice (transactions).
"""

from __future__ import annotations

import collections
import re
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pg_suites"))
import pg_suite_lib as L  # noqa: E402  (the generic machinery; see its docstring)

from pg_suite_lib import SuiteFailure, check, log  # noqa: E402,F401

TX_QUERY = "SELECT * FROM eth_firehose.transactions"
TX_KEY = ("block_num", "tx_index")

_PART_OK = re.compile(
    r"^Loaded (\d+) rows to (\S+) in ([0-9.]+)s \[partition (\d+) blocks \[(\d+), (\d+)\) worker (\d+)\]$")
_PART_FAIL = re.compile(
    r"^Failed to load to (\S+): (.*) \[partition (\d+) blocks \[(\d+), (\d+)\) worker (\d+)\]$")
_LIVE = re.compile(r"^Loaded (\d+) rows to (\S+) in [0-9.]+s \[(\w+)\[(\d+)\.\.=(\d+)\]\] \(live\)$")
_WORKER = re.compile(r"Worker (\d+) processing blocks (\d+) to (\d+)")
_COMPLETED = re.compile(r"Partition (\d+) completed: ([\d,]+) rows")


class Partition(collections.namedtuple("Partition", "pid start end worker rows seconds error")):
    """One partition result; error is None on success."""


class ParallelOutput:
    def __init__(self, stdout: str, stderr: str):
        self.stdout = stdout
        self.stderr = stderr
        self.ok: list[Partition] = []
        self.failed: list[Partition] = []
        self.live: list[tuple[int, int, int]] = []  # (first, last, rows)
        self.reorgs = 0
        for line in stdout.splitlines():
            m = _PART_OK.match(line)
            if m:
                self.ok.append(Partition(int(m.group(4)), int(m.group(5)), int(m.group(6)),
                                         int(m.group(7)), int(m.group(1)), float(m.group(3)), None))
                continue
            m = _LIVE.match(line)
            if m:
                self.live.append((int(m.group(4)), int(m.group(5)), int(m.group(1))))
                continue
            if line.startswith("Reorg detected:"):
                self.reorgs += 1
        for line in stderr.splitlines():
            m = _PART_FAIL.match(line)
            if m:
                self.failed.append(Partition(int(m.group(3)), int(m.group(4)), int(m.group(5)),
                                             int(m.group(6)), 0, 0.0, m.group(2)))
        self.worker_starts = [tuple(int(g) for g in m.groups()) for m in _WORKER.finditer(stderr)]
        self.completed_logs = [int(m.group(1)) for m in _COMPLETED.finditer(stderr)]

    def partitions_by_worker(self) -> dict[int, list[Partition]]:
        out: dict[int, list[Partition]] = collections.defaultdict(list)
        for p in self.ok:
            out[p.worker].append(p)
        return out

    def summary(self) -> str:
        return (f"{len(self.ok)} partitions ok, {len(self.failed)} failed, "
                f"{len(self.live)} live commits, {self.reorgs} reorgs")


def output_of(ld: L.Loader) -> ParallelOutput:
    return ParallelOutput(ld.stdout(), ld.stderr())


def check_disjoint_cover(parts: Iterable[Partition], lo: int, hi: int, what: str) -> None:
    """The partitions' [start, end) intervals are disjoint and cover exactly [lo, hi)."""
    spans = sorted((p.start, p.end) for p in parts)
    at = lo
    for a, b in spans:
        check(a == at, f"{what}: partitions {spans} leave a gap or overlap at block {at} (next starts at {a})")
        check(b > a, f"{what}: empty partition [{a}, {b})")
        at = b
    check(at == hi, f"{what}: partitions {spans} end at {at}, expected {hi}")


def state_rows(pg: L.PgServer) -> dict[str, Optional[tuple[int, str]]]:
    """{stream_id: (cursor number, cursor hash) or None} from amp_client_state."""
    if pg.scalar("SELECT to_regclass('public.amp_client_state') IS NULL") == "t":
        return {}
    rows = pg.query("SELECT stream_id, checkpoint->'cursor'->'mainnet'->>'number', "
                    "checkpoint->'cursor'->'mainnet'->>'hash' FROM amp_client_state")
    return {sid: (int(n), h) if n is not None else None for sid, n, h in rows}


def range_checkpoints(pg: L.PgServer) -> dict[str, Optional[tuple[int, str]]]:
    return {k: v for k, v in state_rows(pg).items() if "/range/" in k}


def live_checkpoint(pg: L.PgServer) -> Optional[tuple[int, str]]:
    """The live stream's cursor in hybrid mode: the state row that is neither a range
    checkpoint nor the hand-off record."""
    live = [v for k, v in state_rows(pg).items() if "/range/" not in k and not k.endswith("/plan")]
    check(len(live) <= 1, f"more than one live checkpoint: {state_rows(pg)}")
    return live[0] if live else None


def wait_live_at_head(pg: L.PgServer, ld: L.Loader, dev: L.Devnet, timeout: float = 60,
                      what: str = "") -> tuple[int, str]:
    """Waits until the live checkpoint is the devnet's head (number and hash); produces one
    more block when nothing moved for a second (the load cadence may hold the last unit
    open until the next microbatch). Returns the head reached."""
    deadline = time.monotonic() + timeout
    head = dev.head()
    last, last_change = None, time.monotonic()
    while True:
        check(ld.alive(), f"{what}: {ld.describe()}")
        cp = live_checkpoint(pg)
        if cp == head:
            return head
        now = time.monotonic()
        if cp != last:
            last, last_change = cp, now
        elif now - last_change > 1.0:
            head = dev.produce_one()
            last_change = now
        if now > deadline:
            raise SuiteFailure(f"{what}: live checkpoint {cp} did not reach head {head} in {timeout}s; "
                               f"state: {state_rows(pg)}")
        time.sleep(0.05)


def bounded_query(lo: int, hi: int, base: str = TX_QUERY) -> str:
    """The canonical rows of blocks [lo, hi] (inclusive)."""
    return f"{base} WHERE block_num >= {lo} AND block_num <= {hi}"


def compare_blocks(pg: L.PgServer, dev: L.Devnet, table: str, intervals: Sequence[tuple[int, int]],
                   base: str = TX_QUERY) -> int:
    """The destination equals the canonical rows of the union of the inclusive block
    intervals (the devnet must be frozen). Returns the row count."""
    head = dev.head()
    if not intervals:
        n = pg.scalar(f"SELECT count(*) FROM public.{L.quote_ident(table)}")
        check(n == "0", f"table {table}: expected no rows, found {n}")
        return 0
    cond = " OR ".join(f"(block_num >= {a} AND block_num <= {b})" for a, b in intervals)
    return L.compare_table(pg, dev, head, f"{base} WHERE {cond}", table)


def check_no_duplicates(pg: L.PgServer, table: str, key: Sequence[str] = TX_KEY) -> None:
    cols = ", ".join(L.quote_ident(k) for k in key)
    dups = pg.scalar(f"SELECT count(*) FROM (SELECT {cols} FROM public.{L.quote_ident(table)} "
                     f"GROUP BY {cols} HAVING count(*) > 1) d")
    check(dups == "0", f"table {table}: {dups} keys ({', '.join(key)}) appear more than once")


def rows_in(dev: L.Devnet, lo: int, hi: int, base: str = TX_QUERY) -> int:
    """Canonical row count of blocks [lo, hi] (inclusive)."""
    table, _ = dev.batch_query(f"SELECT COUNT(*) AS n FROM ({base}) AS t "
                               f"WHERE block_num >= {lo} AND block_num <= {hi}")
    return int(table.column(0)[0].as_py())


def drop_table(pg: L.PgServer, table: str) -> None:
    pg.query(f"DROP TABLE IF EXISTS public.{L.quote_ident(table)}")
    if pg.scalar("SELECT to_regclass('public.amp_client_state') IS NOT NULL") == "t":
        pg.query("DELETE FROM amp_client_state")


def parallel_flags(workers: int, *, lo: int = 0, hi: Optional[int] = None,
                   partition_size: Optional[int] = None, batch_size: Optional[int] = None,
                   reorg_buffer: Optional[int] = None, stop_on_error: bool = False,
                   source_table: str = "eth_firehose.transactions") -> list[str]:
    flags = ["--workers", str(workers), "--from-block", str(lo),
             "--to-block", "latest" if hi is None else str(hi), "--source-table", source_table,
             "--progress", "never"]
    if partition_size is not None:
        flags += ["--partition-size", str(partition_size)]
    if batch_size is not None:
        flags += ["--batch-size", str(batch_size)]
    if reorg_buffer is not None:
        flags += ["--reorg-buffer", str(reorg_buffer)]
    if stop_on_error:
        flags.append("--stop-on-error")
    return flags


def run_parallel(suite: L.Suite, dev: L.Devnet, pg: L.PgServer, table: str, flags: Sequence[str],
                 timeout: float = 90, query: str = TX_QUERY, name: Optional[str] = None
                 ) -> tuple[int, ParallelOutput, L.Loader]:
    """A parallel load run to completion: (exit code, parsed output, loader)."""
    ld = suite.loader(dev, pg, query, table, *flags, name=name)
    rc = ld.wait(timeout)
    out = output_of(ld)
    log(f"load {ld.name}: exit {rc}, {out.summary()}")
    return rc, out, ld


def wait_for(pred: Callable[[], bool], timeout: float, what: str, ld: Optional[L.Loader] = None,
             poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if ld is not None:
            check(ld.alive(), f"{what}: {ld.describe()}")
        check(time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)
