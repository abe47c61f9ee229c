"""Shared machinery of the Delta Lake end-to-end suites (tests/delta_suites/*_suite.py
and, through tests/shared_suites/destinations.py, the shared reorg and crash suites).

Built on the generic parts of tests/pg_suites/pg_suite_lib.py (Suite, Devnet, Producer,
Loader, run_load, canonical_tuples, compare_rows), with the destination side replaced:

  * committed_cursors(): the stream checkpoints each table holds, read from the Delta log
    here in Python (JSON versions after the newest checkpoint Parquet, read with pyarrow):
    the domainMetadata "amp.checkpoint.<stream_id>" action the loader commits with every
    unit (docs/loaders/deltalake.md);
  * wait_at_head(): like pg_suite_lib's, on those checkpoints;
  * compare_table(): the table read by TWO independent readers, the `deltalake` package
    (DeltaTable(...).to_pyarrow_table()) and DuckDB (read_parquet over the files
    deltalake lists; DuckDB cannot download its delta extension here), each compared
    row by row with the devnet's canonical rows as multisets of typed text tuples;
  * check_block_spans(), run_audit() (`ampsync audit --to delta:///...`), and a
    self-check that the comparison notices a corrupted table.

Type handling: the loader stores UInt64 as decimal(20,0), FixedSizeBinary as binary and
Timestamp(ns) as microseconds; pg_suite_lib.arrow_text_values renders decimals with scale
0 as integers, binaries as hex and timestamps as floored microseconds, so the destination's
tuples are computed by the same function as the canonical ones.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pg_suites"))
import pg_suite_lib as lib  # noqa: E402

NETWORK = lib.NETWORK
log = lib.log
check = lib.check
SuiteFailure = lib.SuiteFailure
EXIT_INTERRUPTED = lib.EXIT_INTERRUPTED
EXIT_MISMATCH = lib.EXIT_MISMATCH
DOMAIN_PREFIX = "amp.checkpoint."


def common_args(description: str):
    return lib.common_args(description)


def run_suite(name, body, args) -> int:
    return lib.run_suite(name, body, args)


def uri(root: Path) -> str:
    return f"delta://{root}"


def _log_state(table_dir: Path) -> dict:
    """{"version", "domains": {domain: configuration}, "files": set(paths)} of a Delta table."""
    log_dir = table_dir / "_delta_log"
    domains: dict[str, str] = {}
    files: set[str] = set()
    start = -1
    cps = sorted(glob.glob(str(log_dir / "*.checkpoint.parquet")))
    if cps:
        cp = cps[-1]
        start = int(Path(cp).name[:20])
        t = pq.read_table(cp).to_pylist()
        for row in t:
            if row.get("domainMetadata"):
                d = row["domainMetadata"]
                if not d["removed"]:
                    domains[d["domain"]] = d["configuration"]
            if row.get("add"):
                files.add(row["add"]["path"])
    v = start + 1
    while True:
        path = log_dir / f"{v:020d}.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            break
        for line in text.splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "domainMetadata" in action:
                d = action["domainMetadata"]
                if d.get("removed"):
                    domains.pop(d["domain"], None)
                else:
                    domains[d["domain"]] = d["configuration"]
            elif "add" in action:
                files.add(action["add"]["path"])
            elif "remove" in action:
                files.discard(action["remove"]["path"])
        v += 1
    return {"version": v - 1, "domains": domains, "files": files}


def committed_cursors(root: Path) -> dict[str, tuple[int, str]]:
    """{table: (cursor block, cursor hash)} from each table's amp checkpoint."""
    out = {}
    for table_dir in sorted(root.iterdir()) if root.exists() else []:
        if not (table_dir / "_delta_log").is_dir():
            continue
        for attempt in range(5):
            try:
                state = _log_state(table_dir)
                break
            except (OSError, ValueError, pa.ArrowInvalid):
                time.sleep(0.01)  # a checkpoint being replaced; retry
        else:
            continue
        for domain, config in state["domains"].items():
            if not domain.startswith(DOMAIN_PREFIX):
                continue
            cp = json.loads(config)
            c = cp.get("cursor", {}).get(NETWORK)
            if c:
                out[table_dir.name] = (int(c["number"]), c["hash"])
    return out


def wait_at_head(root: Path, loaders: Sequence[lib.Loader], head: tuple[int, str],
                 timeout: float = 120, what: str = "",
                 nudge: Optional[Callable[[], Optional[tuple[int, str]]]] = None,
                 stall: float = 1.0, interval: float = 0.05) -> Optional[tuple[int, str]]:
    """pg_suite_lib.wait_until_at_head on the Delta checkpoints, polling every `interval` s."""
    return lib.wait_until_at_head(lambda: committed_cursors(root), loaders, head, timeout, what,
                                  nudge, stall, interval)


# ---------------------------------------------------------------------------------------
# Reading the tables with independent readers


def read_deltalake(table_dir: Path) -> tuple[pa.Table, list[str]]:
    import deltalake
    dt = deltalake.DeltaTable(str(table_dir))
    return dt.to_pyarrow_table(), dt.file_uris()


def read_duckdb(files: list[str]) -> Optional[pa.Table]:
    import duckdb
    if not files:
        return None
    con = duckdb.connect()
    try:
        result = con.execute("SELECT * FROM read_parquet(?, union_by_name = true)", [files])
        for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
            if hasattr(result, name):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "makes an extra copy": fine here
                    table = getattr(result, name)()
                return table.read_all() if isinstance(table, pa.RecordBatchReader) else table
        raise SuiteFailure("this duckdb has no Arrow result API")
    finally:
        con.close()


def _tuples(table: Optional[pa.Table], schema: pa.Schema,
            key_columns: Optional[Sequence[str]]) -> list[tuple]:
    """The destination rows (columns of the canonical schema, in its order) as text tuples."""
    if table is None or table.num_rows == 0:
        return []
    cols = []
    for f in schema:
        check(f.name in table.column_names, f"column {f.name} missing from the destination")
        cols.append(table.column(f.name))
    # Render with the destination's own types (decimal, binary, timestamp[us]).
    t = pa.table(cols, names=schema.names)
    return lib.canonical_tuples(t, key_columns)


def compare_table(root: Path, devnet: lib.Devnet, head: tuple[int, str], query: str,
                  table: str, key_columns: Optional[Sequence[str]] = None) -> int:
    """The table, read by deltalake and by DuckDB, equals the canonical rows of `query` over
    0..=head (the devnet frozen at `head`). Returns the row count."""
    canon = devnet.canonical(query, head)
    expected = lib.canonical_tuples(canon, key_columns)
    names = list(key_columns) if key_columns is not None else canon.schema.names
    block_idx = next((names.index(c) for c in ("_block_num", "block_num") if c in names), None)
    block_of = (lambda r: int(r[block_idx]) if r[block_idx] is not None else None) \
        if block_idx is not None else None
    dl_table, files = read_deltalake(root / table)
    lib.compare_rows(expected, _tuples(dl_table, canon.schema, key_columns),
                     f"table {table} read by deltalake", block_of)
    lib.compare_rows(expected, _tuples(read_duckdb(files), canon.schema, key_columns),
                     f"table {table} read by DuckDB over deltalake's {len(files)} files", block_of)
    return len(expected)


def check_block_spans(root: Path, table: str, exact: bool) -> None:
    t, _ = read_deltalake(root / table)
    if t.num_rows == 0:
        return
    block = [int(v) for v in t.column("_block_num").to_pylist()]
    start = t.column("_amp_block_start").to_pylist()
    end = t.column("_amp_block_end").to_pylist()
    if exact:
        bad = sum(1 for b, s, e in zip(block, start, end) if s != b or e != b)
    else:
        bad = sum(1 for b, s, e in zip(block, start, end) if not (s <= b <= e))
    check(bad == 0, f"table {table}: {bad} rows whose _amp_block_* span does not match _block_num")


def run_audit(suite: lib.Suite, devnet: lib.Devnet, root: Path, query: str, table: str,
              head: int, expect: int = 0, timeout: float = 180) -> str:
    cmd = [suite.ampsync, "audit", "--server", devnet.url, "--query", query, "--to", uri(root),
           "--table", table, "--from-block", "0", "--to-block", str(head)]
    proc = subprocess.run(lib.guarded(cmd), capture_output=True, text=True, timeout=timeout)
    check(proc.returncode == expect,
          f"ampsync audit of {table} exited {proc.returncode} (expected {expect}):\n"
          f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""


def assert_detects_corruption(suite: lib.Suite, root: Path, devnet: lib.Devnet,
                              head: tuple[int, str], query: str, table: str,
                              key_columns: Optional[Sequence[str]]) -> None:
    """Self-check of the oracle: a new Delta version (written here) removes one data file
    from the table; both readers' comparisons and the audit must notice. Leaves the table
    corrupted."""
    state = _log_state(root / table)
    victim = sorted(state["files"])[len(state["files"]) // 2]
    log_dir = root / table / "_delta_log"
    version = state["version"] + 1
    action = {"remove": {"path": victim, "deletionTimestamp": int(time.time() * 1000),
                         "dataChange": True}}
    with open(log_dir / f"{version:020d}.json", "x") as f:
        f.write(json.dumps({"commitInfo": {"operation": "DELETE", "engineInfo": "suite self-check"}}) + "\n")
        f.write(json.dumps(action) + "\n")
    try:
        compare_table(root, devnet, head, query, table, key_columns)
    except SuiteFailure as e:
        check("missing" in str(e), f"{table}: the comparison misreported the corruption: {e}")
    else:
        raise SuiteFailure(f"{table}: the comparison did not notice a corrupted destination")
    run_audit(suite, devnet, root, query, table, head[0], expect=EXIT_MISMATCH)


def orphan_files(root: Path, table: str) -> list[str]:
    """Parquet files under the table not referenced by its live snapshot (what a crash
    between writing files and committing leaves; harmless, vacuum-able)."""
    state = _log_state(root / table)
    live = {os.path.normpath(p) for p in state["files"]}
    out = []
    for path in (root / table).rglob("*.parquet"):
        rel = os.path.relpath(path, root / table)
        if rel.startswith("_delta_log"):
            continue
        if os.path.normpath(rel) not in live:
            out.append(rel)
    return out
