"""The destinations the shared end-to-end suites run against, behind one small interface.

tests/shared_suites/reorg_suite.py and crash_suite.py hold each scenario once; everything
that depends on where `ampsync load` writes lives here, in one adapter per destination:

  PgDest     a throwaway PostgreSQL (scripts/pg); read back with psql (COPY out), cursors
             from amp_client_state (tests/pg_suites/pg_suite_lib.py);
  RedisDest  a throwaway redis-server (scripts/redis); read back with redis-py through the
             documented block index, cursors from amp:state:* (tests/redis_suites/
             redis_suite_lib.py);
  DeltaDest  a Delta root in the suite's work directory; read back with the `deltalake`
             package AND DuckDB, cursors from the domainMetadata of the Delta log
             (tests/delta_suites/delta_suite_lib.py).

Every adapter keeps its own readers, independent of our loader, and compares them with the
devnet's canonical rows (pyarrow.flight). The interface (Dest):

  uri(suffix)                  the `--to` URI (suffix: per-loader URI options, e.g. Redis's
                               ?data_structure=string)
  checkpoints(tables)          {table: (cursor block, cursor hash)} as committed
  wait_at_head(loaders, head, ...)  every loader's table committed exactly `head`
  compare_table(dev, head, spec)    destination rows == canonical rows (every reader)
  check_block_spans(table, exact)   _amp_block_start/_amp_block_end against _block_num
  check_no_orphans(table)      nothing stored outside what the destination's index/log
                               references (Redis: SCAN vs the index; Delta: every file the
                               log references exists; PG: nothing to check, rows are the table)
  audit(suite, dev, spec, head, expect)   `ampsync audit` exits `expect`, first line back
  corrupt(table, column)       delete one row, duplicate another, modify `column` of a third
  assert_detects_corruption(...)   corrupt(); every reader's comparison reports exactly
                               "2 missing, 1 duplicate, 1 stale"; audit exits 5
  quiesce()                    wait until a killed loader's sessions are gone (PG backends,
                               Redis clients; Delta: nothing, a version file is atomic)
and the destination-specific parts of each scenario (REORG / CRASH parameters, extra
tables, the crash suite's kill point, extra post-crash / post-reorg checks). Only the
adapters import the per-destination libraries, and they reuse those libraries' readers;
written here are only what the old suite files held (the Redis corruption, the Delta undo
footprint), the Delta row-level corruption (a Delta version written with pyarrow), a
lighter Redis span check (HMGET of the three span fields through the index) and the Delta
"no missing file" check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Optional, Sequence

HERE = Path(__file__).resolve().parent
for _d in ("pg_suites", "redis_suites", "delta_suites"):
    sys.path.insert(0, str(HERE.parent / _d))

import pg_suite_lib as lib  # noqa: E402  (generic: Suite, Devnet, Producer, Loader, log, check)

log = lib.log
check = lib.check
SuiteFailure = lib.SuiteFailure
EXIT_INTERRUPTED = lib.EXIT_INTERRUPTED
EXIT_MISMATCH = lib.EXIT_MISMATCH

LOG_KEYS = ["_block_num", "log_index", "tx_hash"]
TX_KEYS = ["_block_num", "tx_index", "tx_hash"]
CORRUPTION_REPORT = "2 missing, 1 duplicate, 1 stale"


@dataclasses.dataclass
class TableSpec:
    """One streaming loader of the reorg scenario and how its table is checked."""
    name: str
    query: str
    flags: Sequence[str] = ()
    keys: Optional[Sequence[str]] = None   # None: full rows compared; else keys + row md5
    spans: Optional[str] = "exact"         # "exact", "span" (--no-block-column) or None
    audit: bool = True                     # `ampsync audit` must exit 0
    uri_suffix: str = ""                   # per-loader URI options
    structure: str = "hash"                # Redis data structure read back
    corrupt_column: Optional[str] = None   # binary column the self-check modifies


# The tables every destination loads in the reorg scenario.
BASE_REORG_TABLES = [
    TableSpec("blocks", "SELECT * FROM eth_firehose.blocks", corrupt_column="extra_data"),
    TableSpec("logs", "SELECT * FROM eth_firehose.logs", keys=LOG_KEYS, corrupt_column="data"),
    TableSpec("logs_nbc", "SELECT * FROM eth_firehose.logs", ["--no-block-column"],
              keys=LOG_KEYS, spans="span"),
]


@dataclasses.dataclass
class ReorgParams:
    reorgs: int
    wait_probability: float
    default_seed: int
    catchup_timeout: float
    timed_reorgs: bool = False  # part B: the devnet's own scheduled reorgs (PG)


@dataclasses.dataclass
class CrashParams:
    history: int
    logs_per_block: int
    txs_per_block: int
    microbatch: int
    batch_size: int
    kill_kind: str           # name of the destination-specific kill point in the plan
    kill_hits_what: str      # what a hit of that kill point is, for messages
    poll_interval: float     # wait_for polling


def wait_for(predicate, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SuiteFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def cache_canonical(dev: lib.Devnet) -> lib.Devnet:
    """Memoizes dev.canonical(sql, head): the checks after a run compare several tables and
    readers against the same frozen chain. A head is (number, hash), so a cached answer is
    only reused for exactly the chain it was checked against."""
    fetch = dev.canonical
    cache: dict = {}

    def canonical(sql: str, head: tuple[int, str]):
        key = (sql, tuple(head))
        if key not in cache:
            cache[key] = fetch(sql, head)
        return cache[key]
    dev.canonical = canonical
    return dev


class Dest:
    """The interface; see the module docstring."""
    name = ""
    label = ""
    REORG: ReorgParams
    CRASH: CrashParams

    def __init__(self, suite: lib.Suite):
        self.suite = suite

    # --- what every destination provides
    def uri(self, suffix: str = "") -> str:
        raise NotImplementedError

    def checkpoints(self, tables: Sequence[str]) -> dict[str, tuple[int, str]]:
        raise NotImplementedError

    def wait_at_head(self, loaders, head, timeout=120, what="", nudge=None, stall=1.0):
        raise NotImplementedError

    def compare_table(self, dev: lib.Devnet, head, spec: TableSpec) -> int:
        raise NotImplementedError

    def check_block_spans(self, table: str, exact: bool) -> None:
        raise NotImplementedError

    def check_no_orphans(self, table: str) -> None:
        raise NotImplementedError

    def audit(self, dev: lib.Devnet, spec: TableSpec, head: int, expect: int = 0) -> str:
        raise NotImplementedError

    def corrupt(self, table: str, column: str) -> None:
        raise NotImplementedError

    def quiesce(self) -> None:
        pass

    def loader(self, dev: lib.Devnet, spec: TableSpec, *flags: str) -> lib.Loader:
        return self.suite.loader(dev, None, spec.query, spec.name, *flags, *spec.flags,
                                 name=spec.name, uri=self.uri(spec.uri_suffix))

    def cursor(self, table: str) -> int:
        cp = self.checkpoints([table]).get(table)
        return cp[0] if cp else -1

    def readers(self, dev: lib.Devnet, head, spec: TableSpec) -> list[tuple[str, Callable[[], int]]]:
        """(reader name, comparison) pairs; the default is compare_table as one reader."""
        return [(self.name, lambda: self.compare_table(dev, head, spec))]

    def assert_detects_corruption(self, dev: lib.Devnet, head, spec: TableSpec) -> None:
        """Self-check of the oracle: one row deleted, one duplicated, one modified; every
        reader's comparison must report exactly that and `ampsync audit` must exit 5.
        Leaves the table corrupted."""
        self.corrupt(spec.name, spec.corrupt_column)
        for reader, compare in self.readers(dev, head, spec):
            try:
                compare()
            except SuiteFailure as e:
                check(CORRUPTION_REPORT in str(e),
                      f"{spec.name} ({reader}): the comparison misreported the corruption: {e}")
            else:
                raise SuiteFailure(f"{spec.name} ({reader}): the comparison did not notice a "
                                   "corrupted destination")
        self.audit(dev, spec, head[0], expect=EXIT_MISMATCH)

    # --- reorg scenario hooks
    def reorg_tables(self) -> list[TableSpec]:
        return list(BASE_REORG_TABLES)

    def reorg_table_extra(self, spec: TableSpec, max_depth: int, microbatch: int) -> str:
        """Destination-specific checks of one table after the reorgs; returns a log note."""
        return ""

    def reorg_extra(self, dev: lib.Devnet, head, tables: list[TableSpec]) -> None:
        """Destination-specific checks after the shared self-check."""

    # --- crash scenario hooks
    def crash_before_run(self, table: str) -> None:
        self.quiesce()

    def crash_kill_point(self, n: int, ld: lib.Loader, rng: random.Random, table: str,
                         previous_hits: int) -> str:
        """Waits for the destination-specific moment, returns a note ("" if the load
        finished before that moment came; a hit otherwise)."""
        raise NotImplementedError

    def crash_after_kill(self) -> None:
        self.quiesce()

    def crash_final_checks(self, table: str) -> str:
        return ""


# ---------------------------------------------------------------------------------------


class PgDest(Dest):
    name = "pg"
    label = "postgres"
    REORG = ReorgParams(reorgs=110, wait_probability=0.8, default_seed=20240611,
                        catchup_timeout=180, timed_reorgs=True)
    CRASH = CrashParams(history=30_000, logs_per_block=8, txs_per_block=4, microbatch=500,
                        batch_size=10_000, kill_kind="catchup",
                        kill_hits_what="while a COPY was in flight", poll_interval=0.01)

    def __init__(self, suite: lib.Suite):
        super().__init__(suite)
        self.pg = suite.pg()

    def uri(self, suffix: str = "") -> str:
        return self.pg.uri + suffix

    def checkpoints(self, tables):
        return lib.checkpoints(self.pg)

    def wait_at_head(self, loaders, head, timeout=120, what="", nudge=None, stall=1.0):
        return lib.wait_at_head(self.pg, loaders, head, timeout, what, nudge, stall)

    def compare_table(self, dev, head, spec):
        return lib.compare_table(self.pg, dev, head, spec.query, spec.name, spec.keys)

    def check_block_spans(self, table, exact):
        lib.check_block_spans(self.pg, table, exact)

    def check_no_orphans(self, table):
        pass  # the rows are the table: compare_table sees every one

    def audit(self, dev, spec, head, expect=0):
        return lib.run_audit(self.suite, dev, self.pg, spec.query, spec.name, head, expect)

    def corrupt(self, table, column):
        raise SuiteFailure("PgDest corrupts through pg_suite_lib.assert_detects_corruption")

    def assert_detects_corruption(self, dev, head, spec):
        lib.assert_detects_corruption(self.suite, self.pg, dev, head, spec.query, spec.name,
                                      spec.keys, spec.corrupt_column)

    def quiesce(self):
        lib.wait_no_backends(self.pg)

    def reorg_tables(self):
        return super().reorg_tables() + [
            TableSpec("transactions", "SELECT * FROM eth_firehose.transactions", keys=TX_KEYS),
            # No block number at all: compared as the multiset of (hash, parent_hash).
            TableSpec("hashes", "SELECT hash, parent_hash FROM eth_firehose.blocks",
                      ["--no-block-column"], spans=None, audit=False),
        ]

    def crash_kill_point(self, n, ld, rng, table, previous_hits):
        """During catch-up, right after PostgreSQL shows the loader's COPY as active
        (pg_stat_activity): a unit's COPY is in flight when the kill lands."""
        history = self.CRASH.history
        wait_for(lambda: ld.units() or not ld.alive() or self.cursor(table) >= history - 1,
                 60, f"run {n}: a first commit", self.CRASH.poll_interval)
        check(ld.alive(), f"run {n}: {ld.describe()}")

        def copy_or_done():
            if any(state == "active" and (q or "").startswith("COPY")
                   for _, state, q in self.pg.backends()):
                return "copy"
            return "done" if self.cursor(table) >= history - 1 else None
        if wait_for(copy_or_done, 30, f"run {n}: a COPY in flight",
                    self.CRASH.poll_interval) == "copy":
            time.sleep(rng.uniform(0, 0.05))
            return "COPY in flight"
        return ""

    def crash_final_checks(self, table):
        inserted = self.pg.scalar(
            f"SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = '{table}'")
        return f"rows inserted incl. rolled-back units: {inserted}"


# ---------------------------------------------------------------------------------------


class RedisDest(Dest):
    name = "redis"
    label = "redis"
    REORG = ReorgParams(reorgs=110, wait_probability=0.8, default_seed=20240611,
                        catchup_timeout=120)
    CRASH = CrashParams(history=24_000, logs_per_block=2, txs_per_block=2, microbatch=250,
                        batch_size=2_000, kill_kind="multi",
                        kill_hits_what="while a MULTI was in flight", poll_interval=0.005)

    def __init__(self, suite: lib.Suite):
        super().__init__(suite)
        import redis_suite_lib as R
        self.R = R
        self.server = R.redis_server(suite)

    def uri(self, suffix: str = "") -> str:
        return self.server.uri + suffix

    def checkpoints(self, tables):
        return self.R.checkpoints(self.server, tables)

    def wait_at_head(self, loaders, head, timeout=120, what="", nudge=None, stall=1.0):
        return self.R.wait_at_head(self.server, loaders, head, timeout, what, nudge, stall)

    def compare_table(self, dev, head, spec):
        # redis-py through amp:idx:<table>; a dangling index entry fails inside.
        return self.R.compare_table(self.server, dev, head, spec.query, spec.name, spec.keys,
                                    spec.structure)

    def check_block_spans(self, table, exact):
        """Like redis_suite_lib.check_block_spans, but reads only the three fields (HMGET
        through the index, pipelined): the full rows were just read by compare_table."""
        r = self.server.r
        members = self.R.index_members(self.server, table)
        fields = (b"_block_num", b"_amp_block_start", b"_amp_block_end")
        bad = 0
        for i in range(0, len(members), 5000):
            pipe = r.pipeline(transaction=False)
            for m in members[i:i + 5000]:
                pipe.hmget(m, *fields)
            for values in pipe.execute():
                check(None not in values, f"table {table}: a row without {fields}: {values}")
                b, s, e = (int(v) for v in values)
                if (exact and not (s == b == e)) or (not exact and not (s <= b <= e)):
                    bad += 1
        check(bad == 0, f"table {table}: {bad} rows whose _amp_block_* span does not match "
                        "_block_num")

    def check_no_orphans(self, table):
        self.R.check_no_orphans(self.server, table)

    def audit(self, dev, spec, head, expect=0):
        return self.R.run_audit(self.suite, dev, self.uri(spec.uri_suffix), spec.query,
                                spec.name, head, expect)

    def corrupt(self, table, column):
        """Hash rows: modify `column` of the 6th index member, copy the 10th under a new
        key (indexed), delete the 1st (key and index entry)."""
        r = self.server.r
        index = f"amp:idx:{table}".encode()
        members = sorted(r.zrange(index, 0, -1))
        check(len(members) >= 10, f"{table}: only {len(members)} rows to corrupt")
        victim_modify, victim_dup, victim_delete = members[5], members[9], members[0]
        value = r.hget(victim_modify, column.encode())
        check(value is not None, f"{table}: row {victim_modify!r} has no field {column}")
        r.hset(victim_modify, column.encode(), value + b"01")
        copy_key = victim_dup + b":copy"
        r.hset(copy_key, mapping=r.hgetall(victim_dup))
        r.zadd(index, {copy_key: float(r.hget(victim_dup, b"_amp_block_end"))})
        r.delete(victim_delete)
        r.zrem(index, victim_delete)

    def quiesce(self):
        self.R.wait_no_clients(self.server)

    def reorg_tables(self):
        # The string structure: one JSON document per row.
        return super().reorg_tables() + [
            TableSpec("txs_json", "SELECT * FROM eth_firehose.transactions", keys=TX_KEYS,
                      spans=None, uri_suffix="?data_structure=string", structure="string"),
        ]

    def crash_kill_point(self, n, ld, rng, table, previous_hits):
        """During catch-up, right after Redis shows the loader's connection inside MULTI
        (CLIENT LIST flags "x"): a unit's transaction is queued or executing."""
        history = self.CRASH.history
        wait_for(lambda: ld.units() or not ld.alive() or self.cursor(table) >= history - 1,
                 60, f"run {n}: a first commit", self.CRASH.poll_interval)
        check(ld.alive(), f"run {n}: {ld.describe()}")

        def in_multi():
            if any("x" in c.get("flags", "") for c in self.R.ampsync_clients(self.server)):
                return "multi"
            return "done" if self.cursor(table) >= history - 1 else None
        if wait_for(in_multi, 30, f"run {n}: a transaction in flight",
                    self.CRASH.poll_interval) == "multi":
            time.sleep(rng.uniform(0, 0.01))
            return "MULTI in flight"
        return ""


# ---------------------------------------------------------------------------------------


class DeltaDest(Dest):
    name = "delta"
    label = "delta"
    REORG = ReorgParams(reorgs=100, wait_probability=0.7, default_seed=20251121,
                        catchup_timeout=120)
    CRASH = CrashParams(history=12_000, logs_per_block=8, txs_per_block=4, microbatch=500,
                        batch_size=8_000, kill_kind="write",
                        kill_hits_what="between writing Parquet and committing",
                        poll_interval=0.005)

    def __init__(self, suite: lib.Suite):
        super().__init__(suite)
        import delta_suite_lib as D
        self.D = D
        self.root = suite.workdir / "lake"
        self._known_orphans: set[str] = set()

    def uri(self, suffix: str = "") -> str:
        return self.D.uri(self.root) + suffix

    def checkpoints(self, tables):
        return self.D.committed_cursors(self.root)

    def wait_at_head(self, loaders, head, timeout=120, what="", nudge=None, stall=1.0):
        # Polled as often as the other destinations (the reorg rounds wait ~70 times).
        return self.D.wait_at_head(self.root, loaders, head, timeout, what, nudge, stall,
                                   interval=0.02)

    def compare_table(self, dev, head, spec):
        # deltalake, then DuckDB over the files deltalake lists.
        return self.D.compare_table(self.root, dev, head, spec.query, spec.name, spec.keys)

    def readers(self, dev, head, spec):
        """Each reader on its own, so that the self-check sees both report the corruption."""
        def one(read):
            canon = dev.canonical(spec.query, head)
            expected = lib.canonical_tuples(canon, spec.keys)
            names = list(spec.keys) if spec.keys is not None else canon.schema.names
            i = names.index("_block_num") if "_block_num" in names else None
            block_of = (lambda r: int(r[i]) if r[i] is not None else None) if i is not None else None
            table, what = read()
            lib.compare_rows(expected, self.D._tuples(table, canon.schema, spec.keys), what,
                             block_of)
            return len(expected)

        def by_deltalake():
            t, _ = self.D.read_deltalake(self.root / spec.name)
            return t, f"table {spec.name} read by deltalake"

        def by_duckdb():  # over the files deltalake lists, as compare_table does
            _, files = self.D.read_deltalake(self.root / spec.name)
            return self.D.read_duckdb(files), f"table {spec.name} read by DuckDB"
        return [("deltalake", lambda: one(by_deltalake)), ("DuckDB", lambda: one(by_duckdb))]

    def check_block_spans(self, table, exact):
        self.D.check_block_spans(self.root, table, exact)

    def check_no_orphans(self, table):
        """Every file the live snapshot references exists (a dangling add would make every
        reader fail or, worse, a reader skip it)."""
        state = self.D._log_state(self.root / table)
        missing = [p for p in state["files"] if not (self.root / table / p).exists()]
        check(not missing, f"table {table}: the log references {len(missing)} missing files, "
                           f"e.g. {missing[:3]}")

    def audit(self, dev, spec, head, expect=0):
        return self.D.run_audit(self.suite, dev, self.root, spec.query, spec.name, head, expect)

    def corrupt(self, table, column):
        """A new Delta version (written here with pyarrow) replaces every live file by one
        holding the same rows, ordered by _block_num, except: the 1st deleted, the 10th
        duplicated and `column` of the 6th modified."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        table_dir = self.root / table
        state = self.D._log_state(table_dir)
        files = sorted(state["files"])
        data = pa.concat_tables([pq.read_table(table_dir / p) for p in files])
        check(data.num_rows >= 10, f"{table}: only {data.num_rows} rows to corrupt")
        blocks = [int(v) for v in data.column("_block_num").to_pylist()]
        order = sorted(range(data.num_rows), key=lambda i: (blocks[i], i))
        victim_modify, victim_dup, victim_delete = order[5], order[9], order[0]
        take = [i for i in order if i != victim_delete] + [victim_dup]
        out = data.take(pa.array(take))
        pos = take.index(victim_modify)
        col_idx = out.schema.get_field_index(column)
        values = out.column(col_idx).to_pylist()
        values[pos] = values[pos] + b"\x01"
        out = out.set_column(col_idx, out.schema.field(col_idx),
                             pa.array(values, type=out.schema.field(col_idx).type))
        name = f"part-selfcheck-{uuid.uuid4().hex}.parquet"
        pq.write_table(out, table_dir / name)

        def mm(col, fn):
            return int(fn(int(v) for v in out.column(col).to_pylist()))
        stats = {"numRecords": out.num_rows,
                 "minValues": {c: mm(c, min) for c in ("_amp_block_start", "_amp_block_end")},
                 "maxValues": {c: mm(c, max) for c in ("_amp_block_start", "_amp_block_end")},
                 "nullCount": {"_amp_block_start": 0, "_amp_block_end": 0}}
        now = int(time.time() * 1000)
        actions = [{"commitInfo": {"operation": "WRITE", "engineInfo": "suite self-check"}}]
        actions += [{"remove": {"path": p, "deletionTimestamp": now, "dataChange": True}}
                    for p in files]
        actions.append({"add": {"path": name, "partitionValues": {},
                                "size": os.path.getsize(table_dir / name),
                                "modificationTime": now, "dataChange": True,
                                "stats": json.dumps(stats)}})
        with open(table_dir / "_delta_log" / f"{state['version'] + 1:020d}.json", "x") as f:
            f.write("".join(json.dumps(a) + "\n" for a in actions))

    def reorg_table_extra(self, spec, max_depth, microbatch):
        versions, worst, worst_live = undo_footprint(self.root / spec.name, max_depth, microbatch)
        return (f"; {versions} versions removed files, at most {worst} of {worst_live} live")

    def reorg_extra(self, dev, head, tables):
        """The old Delta self-check too: a version (written here) that removes one data file
        of `logs_nbc`; both readers' comparisons and the audit must notice."""
        spec = next(t for t in tables if t.name == "logs_nbc")
        self.D.assert_detects_corruption(self.suite, self.root, dev, head, spec.query,
                                         spec.name, spec.keys)
        log("self-check (delta): a removed data file is reported by the comparison and by "
            "the audit (exit 5)")

    def crash_before_run(self, table):
        self._known_orphans = self._orphans(table)

    def _orphans(self, table) -> set[str]:
        if not (self.root / table / "_delta_log").is_dir():
            return set()
        return set(self.D.orphan_files(self.root, table))

    def crash_kill_point(self, n, ld, rng, table, previous_hits):
        """During catch-up (every other time after the run's first commit), as soon as a
        Parquet file the log does not reference yet appears: the unit's data is written and
        its version file is not (a kill between the Parquet write and the commit)."""
        history = self.CRASH.history
        if previous_hits % 2 == 1:
            wait_for(lambda: ld.units() or not ld.alive() or self.cursor(table) >= history - 1,
                     60, f"run {n}: a first commit", self.CRASH.poll_interval)
            self._known_orphans = self._orphans(table)

        def writing_or_done():
            if not ld.alive():
                return "exited"
            if self._orphans(table) - self._known_orphans:
                return "write"
            return "done" if self.cursor(table) >= history - 1 else None
        if wait_for(writing_or_done, 60, f"run {n}: a Parquet file being written",
                    self.CRASH.poll_interval) == "write":
            time.sleep(rng.uniform(0, 0.03))
            return "Parquet written, no version yet"
        return ""

    def crash_after_kill(self):
        pass  # a version file is there whole or not at all

    def crash_final_checks(self, table):
        # Every version file is complete JSON (a commit appears whole or not at all).
        versions = sorted((self.root / table / "_delta_log").glob("[0-9]*.json"))
        for path in versions:
            for line in path.read_text().splitlines():
                try:
                    json.loads(line)
                except ValueError as e:
                    raise SuiteFailure(f"{path.name}: not a complete Delta version: {e}")
        orphans = self.D.orphan_files(self.root, table)
        return (f"{len(versions)} versions, all complete; {len(orphans)} unreferenced Parquet "
                f"files left by kills (invisible to readers)")


def undo_footprint(table_dir: Path, max_depth: int, microbatch: int) -> tuple[int, int, int]:
    """(versions with removes, largest remove count, live files before it) over the log;
    fails when a version removes a file lying entirely below the deepest block a reorg
    could have reached (head - max_depth - microbatch): undo must rewrite only the affected
    files, never the whole table."""
    log_dir = table_dir / "_delta_log"
    live: dict[str, int] = {}  # path -> max _amp_block_end (stats)
    versions = worst = worst_live = 0
    v = 0
    while (log_dir / f"{v:020d}.json").exists():
        removes, adds = [], {}
        for line in (log_dir / f"{v:020d}.json").read_text().splitlines():
            a = json.loads(line)
            if "remove" in a:
                removes.append(a["remove"]["path"])
            elif "add" in a:
                stats = json.loads(a["add"].get("stats") or "{}")
                adds[a["add"]["path"]] = stats.get("maxValues", {}).get("_amp_block_end", 0)
        if removes:
            versions += 1
            head = max(live.values(), default=0)
            floor = head - max_depth - microbatch
            for r in removes:
                check(live.get(r, head) >= floor,
                      f"{table_dir.name}: version {v} removed {r} (blocks up to {live.get(r)}), "
                      f"entirely below any reorg of head {head}: more than the affected files")
            if len(removes) > worst:
                worst, worst_live = len(removes), len(live)
        for r in removes:
            live.pop(r, None)
        live.update(adds)
        v += 1
    return versions, worst, worst_live


DESTINATIONS = {"pg": PgDest, "redis": RedisDest, "delta": DeltaDest}


def common_args(description: str):
    ap = lib.common_args(description)
    ap.add_argument("--destination", required=True, choices=sorted(DESTINATIONS))
    ap.add_argument("--redis-script", default=str(lib.REPO / "scripts" / "redis"),
                    help="scripts/redis")
    return ap


def make(suite: lib.Suite) -> Dest:
    return DESTINATIONS[suite.args.destination](suite)
