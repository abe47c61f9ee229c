"""Shared machinery of the Redis end-to-end suites (tests/redis_suites/*_suite.py
and, through tests/shared_suites/destinations.py, the shared reorg and crash suites).

Builds on the generic parts of tests/pg_suites/pg_suite_lib.py (Suite, Devnet, Producer,
Loader, run_load, compare_rows, log/check) and adds what is Redis-specific:

  * RedisServer: a throwaway redis-server from scripts/redis (stopped at exit), with a
    redis-py client for independent reads;
  * expected_tuples(): the devnet's canonical Arrow rows turned into the text the loader
    documents (docs/loaders/redis.md, "Encoding"), computed here in Python, independently
    of the C++ codec: integers as decimal digits, binaries as 0x-hex (stored_rows() shows
    the raw bytes of format-2 hash fields in that form), Decimal128(38,0) as
    its integer, timestamps as ISO 8601 UTC with 9 fraction digits, booleans true/false;
  * stored_tuples(): the rows of a table read back with redis-py through the documented
    layout: the block index amp:idx:<table> (sorted set of row keys), then HGETALL of each
    row key (hash) or GET + JSON (string); never through our loader;
  * checkpoints()/wait_at_head(): committed cursors from amp:state:<stream_id>, found
    through amp:table_streams:<table>;
  * wait_no_clients(): no connection named "ampsync" is left (a killed loader's last
    EXEC has been applied or discarded);
  * run_audit(): `ampsync audit --to redis://...`.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pg_suites"))
import pg_suite_lib as pglib  # noqa: E402  (generic parts: Suite, Devnet, Producer, Loader)

import redis  # noqa: E402

log = pglib.log
check = pglib.check
SuiteFailure = pglib.SuiteFailure
NETWORK = pglib.NETWORK
EXIT_INTERRUPTED = pglib.EXIT_INTERRUPTED
EXIT_MISMATCH = pglib.EXIT_MISMATCH


def common_args(description: str):
    ap = pglib.common_args(description)
    ap.add_argument("--redis-script", default=str(REPO / "scripts" / "redis"), help="scripts/redis")
    return ap


class RedisServer:
    def __init__(self, script: str, *flags: str):
        self.script = script
        self.dir = tempfile.mkdtemp(prefix="amp-redis-suite-")
        out = subprocess.run([script, "start", self.dir, "--owner-pid", str(os.getpid()), *flags],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, f"scripts/redis start failed: {out.stderr}")
        self.uri = out.stdout.strip().splitlines()[-1]
        hostport = self.uri.split("://", 1)[1].split("/", 1)[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.password = flags[flags.index("--password") + 1] if "--password" in flags else None
        self.r = redis.Redis(host=self.host, port=self.port, password=self.password,
                             decode_responses=False, socket_timeout=30)
        log(f"redis: {self.uri}")

    def restart(self) -> None:
        subprocess.run([self.script, "restart", self.dir], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        if self.dir:
            subprocess.run([self.script, "stop", self.dir], capture_output=True, timeout=60)
            self.dir = None


def redis_server(suite: pglib.Suite, *flags: str) -> RedisServer:
    server = RedisServer(suite.args.redis_script, *flags)
    suite.on_close("redis", server.stop)
    return server


# ---------------------------------------------------------------------------------------
# The documented encoding, computed independently from the canonical Arrow rows.


def _iso(value: int, digits: int) -> str:
    per = 10 ** digits
    seconds, frac = divmod(value, per)
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:0{digits}d}" if digits else "") + "Z"


def encoded_values(arr, field: pa.Field) -> list[Optional[str]]:
    t = field.type
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return [None if v is None else "0x" + v.hex() for v in arr.to_pylist()]
    if pa.types.is_timestamp(t):
        digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[t.unit]
        return [None if v is None else _iso(v, digits) for v in arr.cast(pa.int64()).to_pylist()]
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        out = []
        for v in arr.to_pylist():
            if v is None:
                out.append(None)
            elif t.scale == 0:
                out.append(str(int(v)))
            else:
                out.append(format(v.quantize(type(v)(1).scaleb(-t.scale)), "f"))
        return out
    if pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return [None if v is None else str(v) for v in arr.to_pylist()]
    raise SuiteFailure(f"no encoding rule for column {field.name} of type {t}")


def _digest_rows(rows, names, key_columns):
    if key_columns is None:
        return rows
    idx = [names.index(k) for k in key_columns]
    return [tuple(r[i] for i in idx) + (pglib._row_digest(r),) for r in rows]


def expected_tuples(table: pa.Table, key_columns: Optional[Sequence[str]] = None) -> list[tuple]:
    cols = [encoded_values(table.column(i), table.schema.field(i)) for i in range(table.num_columns)]
    rows = list(zip(*cols)) if cols else []
    return _digest_rows(rows, table.schema.names, key_columns)


def index_members(server: RedisServer, table: str, prefix: str = "") -> list[bytes]:
    return server.r.zrange(f"{prefix}amp:idx:{table}".encode(), 0, -1)


def stored_rows(server: RedisServer, table: str, names: Sequence[str], prefix: str = "",
                structure: str = "hash") -> list[dict]:
    """Every row of `table` (as {column: text or None, '_amp_block_start': ..}) read through
    the index with redis-py."""
    members = index_members(server, table, prefix)
    # Hash fields of binary columns hold the raw bytes in tables of description format 2
    # (0x-hex in format 1); shown here as 0x-hex, the form expected_tuples() computes.
    meta = server.r.hgetall(f"{prefix}amp:table:{table}".encode())
    fmt = meta.get(b"format", b"1").decode()
    check(fmt in ("1", "2"), f"table {table}: unknown description format {fmt!r}")
    raw_binary = set()
    if fmt == "2":
        for c in json.loads(meta.get(b"columns", b"[]")):
            t = c["type"]
            if t in ("binary", "large_binary", "binary_view") or t.startswith("fixed_size_binary["):
                raw_binary.add(c["name"])
    rows = []
    for i in range(0, len(members), 1000):
        chunk = members[i:i + 1000]
        pipe = server.r.pipeline(transaction=False)
        for m in chunk:
            if structure == "hash":
                pipe.hgetall(m)
            else:
                pipe.get(m)
        for m, value in zip(chunk, pipe.execute()):
            if structure == "hash":
                check(value, f"index member {m!r} has no hash (dangling index entry)")
                d = {}
                for k, v in value.items():
                    name = k.decode()
                    d[name] = "0x" + v.hex() if name in raw_binary else v.decode()
            else:
                check(value is not None, f"index member {m!r} has no value (dangling index entry)")
                doc = json.loads(value)
                d = {k: (None if v is None else (("true" if v else "false") if isinstance(v, bool)
                                                 else str(v))) for k, v in doc.items()}
            rows.append(d)
    return rows


def stored_tuples(server: RedisServer, table: str, schema: pa.Schema,
                  key_columns: Optional[Sequence[str]] = None, prefix: str = "",
                  structure: str = "hash") -> list[tuple]:
    names = schema.names
    rows = [tuple(d.get(n) for n in names)
            for d in stored_rows(server, table, names, prefix, structure)]
    return _digest_rows(rows, names, key_columns)


def compare_table(server: RedisServer, devnet: pglib.Devnet, head: tuple[int, str], query: str,
                  table: str, key_columns: Optional[Sequence[str]] = None,
                  structure: str = "hash") -> int:
    canon = devnet.canonical(query, head)
    expected = expected_tuples(canon, key_columns)
    actual = stored_tuples(server, table, canon.schema, key_columns, structure=structure)
    names = list(key_columns) if key_columns is not None else canon.schema.names
    block_of = None
    for candidate in ("_block_num", "block_num"):
        if candidate in names:
            i = names.index(candidate)
            block_of = (lambda r, i=i: int(r[i]) if r[i] is not None else None)
            break
    pglib.compare_rows(expected, actual, f"table {table}", block_of)
    return len(expected)


def check_no_orphans(server: RedisServer, table: str, prefix: str = "") -> None:
    """Every row key `<table>:*` is in the block index (an undo that missed a key would leave
    a stale row the index no longer knows). A SCAN: test code only, the loader never scans."""
    keys = set(server.r.scan_iter(match=f"{prefix}{table}:*".encode(), count=1000))
    indexed = set(index_members(server, table, prefix))
    orphans = keys - indexed
    check(not orphans, f"table {table}: {len(orphans)} row keys outside the block index, "
                       f"e.g. {sorted(orphans)[:3]}")


def check_block_spans(server: RedisServer, table: str, exact: bool) -> None:
    bad = 0
    for d in stored_rows(server, table, []):
        b = int(d["_block_num"])
        s, e = int(d["_amp_block_start"]), int(d["_amp_block_end"])
        if (exact and not (s == b == e)) or (not exact and not (s <= b <= e)):
            bad += 1
    check(bad == 0, f"table {table}: {bad} rows whose _amp_block_* span does not match _block_num")


# ---------------------------------------------------------------------------------------
# Checkpoints and clients


def checkpoints(server: RedisServer, tables: Sequence[str]) -> dict[str, tuple[int, str]]:
    out = {}
    for t in tables:
        for sid in server.r.smembers(f"amp:table_streams:{t}".encode()):
            raw = server.r.get(b"amp:state:" + sid)
            if raw is None:
                continue
            cur = json.loads(raw).get("cursor", {}).get(NETWORK)
            if cur:
                out[t] = (int(cur["number"]), cur["hash"])
    return out


def wait_at_head(server: RedisServer, loaders: Sequence[pglib.Loader], head: tuple[int, str],
                 timeout: float = 120, what: str = "",
                 nudge: Optional[Callable[[], Optional[tuple[int, str]]]] = None,
                 stall: float = 1.0) -> Optional[tuple[int, str]]:
    """pg_suite_lib.wait_until_at_head, reading the checkpoints from Redis."""
    tables = [ld.table for ld in loaders]
    return pglib.wait_until_at_head(lambda: checkpoints(server, tables), loaders, head, timeout,
                                    what, nudge, stall)


def ampsync_clients(server: RedisServer, name: str = "ampsync") -> list[dict]:
    return [c for c in server.r.client_list() if c.get("name") == name]


def wait_no_clients(server: RedisServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ampsync_clients(server):
        check(time.monotonic() < deadline, f"ampsync connections still open after {timeout}s")
        time.sleep(0.02)


def run_audit(suite: pglib.Suite, devnet: pglib.Devnet, uri: str, query: str, table: str,
              head: int, expect: int = 0, timeout: float = 180, *flags: str) -> str:
    cmd = [suite.ampsync, "audit", "--server", devnet.url, "--query", query, "--to", uri,
           "--table", table, "--from-block", "0", "--to-block", str(head), *flags]
    proc = subprocess.run(pglib.guarded(cmd), capture_output=True, text=True, timeout=timeout)
    check(proc.returncode == expect,
          f"ampsync audit of {table} exited {proc.returncode} (expected {expect}):\n"
          f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""


def loader(suite: pglib.Suite, devnet: pglib.Devnet, uri: str, query: str, table: str,
           *flags: str, name: Optional[str] = None) -> pglib.Loader:
    return suite.loader(devnet, None, query, table, *flags, name=name, uri=uri)


def run_suite(name: str, body, args) -> int:
    return pglib.run_suite(name, body, args)
