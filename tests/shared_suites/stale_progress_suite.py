#!/usr/bin/env python3
"""Progress that outlives its table (issue 10, failure 3), for every destination
(--destination pg|redis|delta; adapters and readers in destinations.py).

A load records its progress (stream cursor, parallel partition ranges) next to the rows. When
the table is dropped, recreated or emptied behind the loader's back, a rerun of the same load
used to trust that progress, load nothing and exit 0 into an empty table. Now the rerun must
refuse (exit 3, a message naming `--reset` and `ampsync reset`), and both fixes must make the
next run load every row again, compared with the devnet's canonical rows by the destination's
own independent readers (psql, redis-py, deltalake + DuckDB).

One devnet (400 blocks of logs, no live blocks); three tables, `logs_w` loaded by a parallel
backfill (--workers 2 --from-block 0 --to-block HEAD: the partition ranges), `logs_s` by a
streaming load (--stream, stopped with Ctrl+C once its checkpoint is the head) and `logs_h`
by a hybrid load (--workers 2 --stream: ranges, the hand-off plan and the live cursor). For each of
the destination's mutations (below) and each table: load; mutate; the rerun exits 3 with the
message and changes nothing; fix it, in turn with `load --reset` and with
`ampsync reset --to URI --table T [--query Q | --truncate]` followed by the plain load (and,
for the backfill, `ampsync run job.toml --reset`); the table then equals the canonical rows.

Mutations:
  pg     DROP TABLE; TRUNCATE; a recreated table (renamed away, an empty copy created under
         the name, the old one dropped: a new OID); DELETE of every row.
  redis  every key of the table dropped (rows, description, index: the rerun recreates the
         table with a new id); its rows and block index deleted (description kept).
  delta  another writer's version removing every file (a DELETE); another writer's
         CREATE OR REPLACE (every file removed, a new metaData id). Deleting the table's
         directory takes its checkpoints with it: the rerun must simply load everything.

And what must keep working (no false positive):
  pg     VACUUM FULL (a new relfilenode, same rows): the rerun is accepted and loads nothing.
  all    a destination written by the previous release (no table record: pg drops
         amp_client_tables, redis deletes amp:state_tables:* and the table's id/rows
         fields, delta removes the amp.table domain): the rerun is accepted, loads only the
         new blocks, and its commit records the table again, after which a truncation is
         refused once more.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import destinations as D  # noqa: E402

lib = D.lib
log = D.log
check = D.check

QUERY = "SELECT * FROM eth_firehose.logs"
EXIT_REJECTED = 3
NEEDLES = ["progress outlives its table", "--reset", "ampsync reset"]


class Case:
    def __init__(self, suite, dest, dev, table: str, mode: str):
        self.suite, self.dest, self.dev, self.table, self.mode = suite, dest, dev, table, mode
        self.spec = D.TableSpec(table, QUERY, keys=D.LOG_KEYS)

    def flags(self, head: int) -> list[str]:
        if self.mode == "workers":
            return ["--workers", "2", "--from-block", "0", "--to-block", str(head), "--quiet"]
        if self.mode == "hybrid":
            return ["--workers", "2", "--from-block", "0", "--stream", "--reorg-buffer", "20",
                    "--progress", "never"]
        return ["--stream"]

    def load(self, *extra: str, expect_rows: bool = True) -> tuple[int, str]:
        """Runs the load to its end (workers) or until it has committed the head (stream,
        then Ctrl+C). Returns (rows loaded according to the summary, stderr)."""
        head = self.dev.head()
        if self.mode == "workers":
            cp = lib.run_load(self.suite, self.dev.url, QUERY, self.dest.uri(), self.table,
                              *self.flags(head[0]), *extra)
            check(cp.returncode == 0, f"{self.table}: load exit {cp.returncode}\n{cp.stderr}")
            return summary_rows(cp.stderr), cp.stderr
        ld = self.suite.loader(self.dev, None, QUERY, self.table, *self.flags(head[0]), *extra,
                               uri=self.dest.uri())
        what = f"{self.table}: stream to head {head[0]}"
        if expect_rows and self.mode == "hybrid":
            # The live stream's unit that reaches the head ("... [mainnet[a..=HEAD]] (live)").
            # Not the checkpoints: a hybrid load also keeps its hand-off plan, whose cursor
            # some readers cannot tell from the live one.
            D.wait_for(lambda: not ld.alive() or any(
                line.endswith("(live)") and f"..={head[0]}]]" in line
                for line in ld.stdout().splitlines()), 120, what, 0.02)
            return self.stop(ld)
        elif expect_rows:
            # The destination may still hold the old checkpoint at the head (a reset has
            # not run yet): wait for this run's own unit that reaches the head.
            D.wait_for(lambda: not ld.alive() or any(b >= head[0] for _, b, _ in ld.units()),
                       120, what, 0.02)
        else:
            D.wait_for(lambda: not ld.alive() or sigint_handled(ld.proc.pid), 60,
                       f"{self.table}: the loader's signal handling", 0.02)
        if self.mode != "hybrid":
            self.dest.wait_at_head([ld], head, 120, what)
        return self.stop(ld)

    def stop(self, ld) -> tuple[int, str]:
        rc = ld.interrupt()
        check(rc == lib.EXIT_INTERRUPTED, f"{self.table}: Ctrl+C exit {rc}: {ld.stderr()[-1500:]}")
        self.dest.quiesce()
        return summary_rows(ld.stderr()), ld.stderr()

    def run_job_file(self, *flags: str) -> int:
        """The backfill as a job file, run with `ampsync run JOB *flags`; rows loaded."""
        assert self.mode == "workers"
        head = self.dev.head()
        job = self.suite.workdir / f"{self.table}.toml"
        job.write_text(f"""[server]
url = {json.dumps(self.dev.url)}

[connections.dest]
uri = {json.dumps(self.dest.uri())}

[job]
query = {json.dumps(QUERY)}
connection = "dest"
table = {json.dumps(self.table)}

[job.parallel]
workers = 2
from_block = 0
to_block = {head[0]}
""")
        cmd = [self.suite.ampsync, "run", str(job), "--quiet", *flags]
        cp = subprocess.run(lib.guarded(cmd), capture_output=True, text=True, timeout=120)
        check(cp.returncode == 0, f"{' '.join(cmd)}: exit {cp.returncode}\n{cp.stderr}")
        check("--reset: deleted the rows" in cp.stderr, f"{self.table}: no --reset line:\n{cp.stderr}")
        return summary_rows(cp.stderr)

    def reported_all(self, rows: int, canonical: int) -> bool:
        """A full load reports every canonical row; a hybrid one also the blocks after the
        hand-off point that the live stream loads again (replacing the workers' copy)."""
        return rows >= canonical if self.mode == "hybrid" else rows == canonical

    def refused(self, what: str) -> None:
        """The rerun refuses: exit 3, the message, nothing written."""
        head = self.dev.head()
        cp = lib.run_load(self.suite, self.dev.url, QUERY, self.dest.uri(), self.table,
                          *self.flags(head[0]), timeout=60)
        check(cp.returncode == EXIT_REJECTED,
              f"{self.table} after {what}: the rerun exited {cp.returncode}, expected "
              f"{EXIT_REJECTED} (a refusal)\n{cp.stderr[-2000:]}")
        for needle in NEEDLES:
            check(needle in cp.stderr, f"{self.table} after {what}: {needle!r} missing:\n{cp.stderr}")
        check(self.dest.row_count(self.table) == 0,
              f"{self.table} after {what}: the refused rerun wrote rows")
        line = [x for x in cp.stderr.splitlines() if x.startswith("ampsync: error:")]
        log(f"  {self.mode}: refused (exit 3): {line[-1] if line else cp.stderr.strip()[-200:]}")

    def compare(self, what: str) -> int:
        n = self.dest.compare_table(self.dev, self.dev.head(), self.spec)
        check(n > 0, f"{self.table} {what}: the canonical rows are empty")
        return n


def sigint_handled(pid: int) -> bool:
    """The CLI blocks SIGINT in every thread and waits for it on its own (stop_signal.cc):
    once the mask is set, a Ctrl+C is a clean stop, not the default death."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigBlk:"):
                return bool(int(line.split()[1], 16) & (1 << 1))
    except OSError:
        pass
    return False


def summary_rows(stderr: str) -> int:
    for line in reversed(stderr.splitlines()):
        if line.startswith("ampsync load: ") and " rows" in line:
            return int(line.split()[2].replace(",", ""))
    raise D.SuiteFailure(f"no summary line in:\n{stderr[-1500:]}")


def ampsync_reset(suite, dest, table: str, *flags: str) -> str:
    cmd = [suite.ampsync, "reset", "--to", dest.uri(), "--table", table, *flags]
    cp = subprocess.run(lib.guarded(cmd), capture_output=True, text=True, timeout=60)
    check(cp.returncode == 0, f"{' '.join(cmd)}: exit {cp.returncode}\n{cp.stderr}")
    return cp.stdout.strip()


# --- Destination-specific mutations and probes. -------------------------------------------

class PgOps:
    def __init__(self, dest):
        self.dest, self.pg = dest, dest.pg

    def mutations(self):
        def recreate(t):
            self.pg.query(f"ALTER TABLE {t} RENAME TO {t}_old; CREATE TABLE {t} (LIKE {t}_old "
                          f"INCLUDING ALL); DROP TABLE {t}_old")
        return [("DROP TABLE", lambda t: self.pg.query(f"DROP TABLE {t}")),
                ("TRUNCATE", lambda t: self.pg.query(f"TRUNCATE {t}")),
                ("a recreated table", recreate),
                ("DELETE of every row", lambda t: self.pg.query(f"DELETE FROM {t}"))]

    def row_count(self, t):
        if not self.pg.table_exists(t):
            return 0
        return int(self.pg.scalar(f"SELECT count(*) FROM {t}"))

    def make_legacy(self, t):
        self.pg.query("DROP TABLE IF EXISTS amp_client_tables")

    def recorded(self, t) -> bool:
        return self.pg.scalar("SELECT count(*) FROM amp_client_tables WHERE table_name = "
                              f"'{t}' AND has_rows") == "1"


class RedisOps:
    def __init__(self, dest):
        self.dest, self.r = dest, dest.server.r

    def _delete_rows(self, t):
        members = self.r.zrange(f"amp:idx:{t}", 0, -1)
        for i in range(0, len(members), 1000):
            self.r.delete(*members[i:i + 1000])
        self.r.delete(f"amp:idx:{t}", f"amp:idxs:{t}")

    def mutations(self):
        def drop(t):
            self._delete_rows(t)
            self.r.delete(f"amp:table:{t}", f"amp:seq:{t}", f"amp:table_streams:{t}")
            self.r.srem("amp:tables", t)
        return [("every key of the table deleted", drop),
                ("its rows and block index deleted", self._delete_rows)]

    def row_count(self, t):
        return int(self.r.zcard(f"amp:idx:{t}"))

    def make_legacy(self, t):
        for key in self.r.scan_iter(match="amp:state_tables:*"):
            self.r.delete(key)
        self.r.hdel(f"amp:table:{t}", "id", "rows")

    def recorded(self, t) -> bool:
        tables = [self.r.hget(k, t) for k in self.r.scan_iter(match="amp:state_tables:*")]
        return (any(v is not None for v in tables)
                and self.r.hget(f"amp:table:{t}", "rows") == b"1"
                and self.r.hget(f"amp:table:{t}", "id") is not None)


class DeltaOps:
    """Another Delta writer: `deltalake` refuses to write tables with the domainMetadata
    feature, so the versions are written here, as Spark would write them."""

    def __init__(self, dest):
        self.dest, self.root, self.D = dest, dest.root, dest.D

    def _commit(self, t, actions):
        table_dir = self.root / t
        state = self.D._log_state(table_dir)
        with open(table_dir / "_delta_log" / f"{state['version'] + 1:020d}.json", "x") as f:
            f.write("".join(json.dumps(a) + "\n" for a in actions))

    def _removes(self, t):
        now = int(time.time() * 1000)
        state = self.D._log_state(self.root / t)
        return [{"remove": {"path": p, "deletionTimestamp": now, "dataChange": True}}
                for p in sorted(state["files"])]

    def _metadata(self, t):
        meta = None
        for path in sorted((self.root / t / "_delta_log").glob("[0-9]*.json")):
            for line in path.read_text().splitlines():
                a = json.loads(line)
                if "metaData" in a:
                    meta = a["metaData"]
        return meta

    def mutations(self):
        def delete(t):
            self._commit(t, [{"commitInfo": {"operation": "DELETE", "engineInfo": "suite"}}]
                         + self._removes(t))

        def replace(t):
            meta = dict(self._metadata(t))
            meta["id"] = str(uuid.uuid4())
            meta["createdTime"] = int(time.time() * 1000)
            self._commit(t, [{"commitInfo": {"operation": "CREATE OR REPLACE TABLE",
                                             "engineInfo": "suite"}}, {"metaData": meta}]
                         + self._removes(t))
        return [("another writer's DELETE of every row", delete),
                ("another writer's CREATE OR REPLACE TABLE", replace)]

    def row_count(self, t):
        if not (self.root / t / "_delta_log").is_dir():
            return 0
        table, _ = self.D.read_deltalake(self.root / t)
        return table.num_rows

    def _domains(self, t):
        live = {}
        for path in sorted((self.root / t / "_delta_log").glob("[0-9]*.json")):
            for line in path.read_text().splitlines():
                a = json.loads(line)
                if "domainMetadata" in a:
                    d = a["domainMetadata"]
                    if d.get("removed"):
                        live.pop(d["domain"], None)
                    else:
                        live[d["domain"]] = d["configuration"]
        return live

    def make_legacy(self, t):
        config = self._domains(t).get("amp.table")
        check(config is not None, f"{t}: no amp.table domain to remove")
        self._commit(t, [{"commitInfo": {"operation": "SET TBLPROPERTIES", "engineInfo": "suite"}},
                         {"domainMetadata": {"domain": "amp.table", "configuration": config,
                                             "removed": True}}])

    def recorded(self, t) -> bool:
        config = self._domains(t).get("amp.table")
        return config is not None and json.loads(config).get("rows") is True


OPS = {"pg": PgOps, "redis": RedisOps, "delta": DeltaOps}


def body(suite: lib.Suite) -> None:
    dest = D.make(suite)
    ops = OPS[suite.args.destination](dest)
    dest.row_count = ops.row_count
    dev = suite.devnet("--seed", "9", "--history", "400", "--block-time", "0",
                       "--microbatch-blocks", "50")
    cases = [Case(suite, dest, dev, "logs_w", "workers"), Case(suite, dest, dev, "logs_s", "stream"),
             Case(suite, dest, dev, "logs_h", "hybrid")]
    for c in cases:
        rows, _ = c.load()
        n = c.compare("after the first load")
        check(c.reported_all(rows, n), f"{c.table}: the first load reported {rows} rows, canonical {n}")
    log(f"first loads: {n} rows each, equal to the canonical rows")

    for mi, (what, mutate) in enumerate(ops.mutations()):
        log(f"{what}:")
        for ci, c in enumerate(cases):
            mutate(c.table)
            c.refused(what)
            # Rotate the fixes over mutations and tables: load --reset; ampsync reset
            # --query, then the load; ampsync reset --truncate, then the load; and for the
            # backfill, `ampsync run job.toml --reset` too.
            kind = (mi * 3) % 4 if c.mode == "workers" else (mi + ci) % 3
            if kind == 0:
                rows, err = c.load("--reset")
                check("--reset: deleted the rows" in err, f"{c.table}: no --reset line:\n{err}")
                how = "load --reset"
            elif kind == 1:
                out = ampsync_reset(suite, dest, c.table, "--query", QUERY)
                rows, _ = c.load()
                how = f"ampsync reset --query ({out})"
            elif kind == 2:
                out = ampsync_reset(suite, dest, c.table, "--truncate")
                rows, _ = c.load()
                how = f"ampsync reset --truncate ({out})"
            else:
                rows = c.run_job_file("--reset")
                how = "ampsync run job.toml --reset"
            n = c.compare(f"after {what} and {how}")
            check(c.reported_all(rows, n),
                  f"{c.table}: after {how} the load reported {rows} rows, canonical {n}")
            log(f"  {c.mode}: {how}: every row loaded again, {n} rows equal to the canonical rows")

    if suite.args.destination == "delta":
        for c in cases:
            shutil.rmtree(dest.root / c.table)
            rows, _ = c.load()
            n = c.compare("after its directory was deleted")
            check(c.reported_all(rows, n),
                  f"{c.table}: after rm -r the load reported {rows} rows, canonical {n}")
        log("table directories deleted: their checkpoints went with them; the reruns loaded "
            f"all {n} rows")

    if suite.args.destination == "pg":
        for c in cases:
            dest.pg.query(f"VACUUM FULL {c.table}")
            rows, _ = c.load(expect_rows=False)
            check(rows == 0, f"{c.table}: after VACUUM FULL the rerun loaded {rows} rows, expected 0")
            c.compare("after VACUUM FULL and a rerun")
        log("VACUUM FULL (new relfilenode, same rows): reruns accepted, 0 rows loaded, tables "
            "unchanged")

    # A destination written by the previous release: no record of the table. Accepted; the
    # next commit records it; then an emptied table is refused again.
    for c in cases:
        ops.make_legacy(c.table)
    dev.produce(20)
    for c in cases:
        rows, _ = c.load()
        check(0 < rows < c.compare("after the legacy rerun"),
              f"{c.table}: the rerun of a legacy destination loaded {rows} rows (only the new "
              "blocks expected)")
        check(ops.recorded(c.table), f"{c.table}: the rerun's commit did not record the table")
    what, mutate = ops.mutations()[-1]
    for c in cases:
        mutate(c.table)
        c.refused(f"{what} (after the legacy rerun)")
    log("legacy destination (no table record): reruns accepted, only the new blocks loaded, "
        "the table recorded by their commit, then an emptied table refused again")


def main() -> int:
    ap = D.common_args("progress that outlives its table: refused, then --reset / ampsync reset")
    args = ap.parse_args()
    return lib.run_suite(f"stale_progress_{args.destination}", body, args)


if __name__ == "__main__":
    sys.exit(main())
