#!/usr/bin/env python3
"""Parallel and hybrid loads (`ampsync load --workers N`) into Redis or Delta Lake (GitHub
issue 5: those loaders pass the parallel/hybrid suite), each table read back with that
destination's own independent reader and compared row by row with the devnet's canonical
rows:
  redis  redis-py through the documented layout (tests/redis_suites/redis_suite_lib.py),
         a throwaway redis-server from scripts/redis;
  delta  the `deltalake` package AND DuckDB over deltalake's file list
         (tests/delta_suites/delta_suite_lib.py), under the suite's work directory.

One devnet of logs (1,200 blocks, 2 logs per block, no automatic production: the suite
produces blocks and reorgs through DoAction), three tables:
  (a) historical: 4 workers, 100-block partitions, blocks 0..=head; exit 0, the partitions
      cover [0, head + 1) disjointly, the table equals the canonical rows; audit exits 0.
  (b) hybrid (`--to-block latest`, --reorg-buffer 50): the workers are slowed (query latency
      and a per-stream bandwidth cap) so the catch-up lasts seconds; during it: +10 blocks,
      a reorg of 80 blocks (deeper than the buffer: the hand-off point is no longer
      canonical), +5. After the hand-off: +20, reorg 4, +5. At the head (the live
      checkpoint's number and hash) the table equals the canonical rows (a multiset
      comparison: zero duplicates; also no (_block_num, log_index) key twice), the live
      stream did not replay history, Ctrl+C exits 130, audit exits 0.
  (c) crash: the same hybrid load (50-block partitions, slowed) killed with SIGKILL 3 times
      during the catch-up (0.2-0.8 s after its first "Worker N processing" line); after
      each kill every block present is complete and canonical and no key is stored twice.
      A rerun then hands over and reaches the head: the table is exactly canonical; Ctrl+C
      exits 130, audit exits 0.

Usage: destination_parallel_suite.py --destination redis|delta --ampsync .../ampsync
       [--redis-script scripts/redis] [--seed N]
"""

from __future__ import annotations

import collections
import json
import random
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "redis_suites"))
sys.path.insert(0, str(HERE.parent / "delta_suites"))

import parallel_suite_lib as P  # noqa: E402
from parallel_suite_lib import L, check, log  # noqa: E402

QUERY = "SELECT * FROM eth_firehose.logs"
SOURCE = "eth_firehose.logs"
KEY = ("_block_num", "log_index")
HISTORY = 1_200
REORG_BUFFER = 50
DEFAULT_SEED = 9157


# ---------------------------------------------------------------------------------------
# The destinations: URI, checkpoints, rows read back independently.


class RedisDest:
    name = "redis"

    def __init__(self, suite: L.Suite):
        import redis_suite_lib as R
        self.R = R
        self.server = R.redis_server(suite)
        self.uri = self.server.uri

    def stream_cursors(self, table: str) -> dict[str, tuple[int, str]]:
        """{stream_id: cursor} of every stream the table lists (amp:table_streams:<table>)."""
        r = self.server.r
        out = {}
        for sid in r.smembers(f"amp:table_streams:{table}".encode()):
            raw = r.get(b"amp:state:" + sid)
            if raw is None:
                continue
            cur = json.loads(raw).get("cursor", {}).get(L.NETWORK)
            if cur:
                out[sid.decode()] = (int(cur["number"]), cur["hash"])
        return out

    def expected(self, canon) -> list[tuple]:
        return self.R.expected_tuples(canon)

    def stored(self, table: str, schema) -> list[tuple]:
        return self.R.stored_tuples(self.server, table, schema)

    def compare(self, dev: L.Devnet, head, table: str) -> int:
        n = self.R.compare_table(self.server, dev, head, QUERY, table)
        self.R.check_no_orphans(self.server, table)
        return n

    def quiesce(self) -> None:
        self.R.wait_no_clients(self.server)

    def audit(self, suite: L.Suite, dev: L.Devnet, table: str, head: int) -> str:
        return self.R.run_audit(suite, dev, self.uri, QUERY, table, head)


class DeltaDest:
    name = "delta"

    def __init__(self, suite: L.Suite):
        import delta_suite_lib as D
        self.D = D
        self.root = suite.workdir / "delta"
        self.root.mkdir()
        self.uri = D.uri(self.root)

    def stream_cursors(self, table: str) -> dict[str, tuple[int, str]]:
        """{stream_id: cursor} from the table's "amp.checkpoint.<stream_id>" domains."""
        if not (self.root / table / "_delta_log").is_dir():
            return {}
        for _ in range(5):
            try:
                state = self.D._log_state(self.root / table)
                break
            except (OSError, ValueError):
                time.sleep(0.02)  # a checkpoint file being replaced
        else:
            return {}
        out = {}
        for domain, config in state["domains"].items():
            if domain.startswith(self.D.DOMAIN_PREFIX):
                cur = json.loads(config).get("cursor", {}).get(L.NETWORK)
                if cur:
                    out[domain[len(self.D.DOMAIN_PREFIX):]] = (int(cur["number"]), cur["hash"])
        return out

    def expected(self, canon) -> list[tuple]:
        return L.canonical_tuples(canon)

    def stored(self, table: str, schema) -> list[tuple]:
        if not (self.root / table / "_delta_log").is_dir():
            return []
        t, _ = self.D.read_deltalake(self.root / table)
        return self.D._tuples(t, schema, None)

    def compare(self, dev: L.Devnet, head, table: str) -> int:
        return self.D.compare_table(self.root, dev, head, QUERY, table)

    def quiesce(self) -> None:
        pass  # a killed process writes nothing more; commits are atomic log entries

    def audit(self, suite: L.Suite, dev: L.Devnet, table: str, head: int) -> str:
        return self.D.run_audit(suite, dev, self.root, QUERY, table, head)


def live_cursor(dest, table: str) -> Optional[tuple[int, str]]:
    """The live stream's cursor: neither a range checkpoint nor the hand-off record."""
    cps = dest.stream_cursors(table)
    live = [v for k, v in cps.items() if "/range/" not in k and not k.endswith("/plan")]
    check(len(live) <= 1, f"table {table}: more than one live checkpoint: {cps}")
    return live[0] if live else None


def wait_live_at_head(dest, table: str, ld: L.Loader, dev: L.Devnet, timeout: float,
                      what: str) -> tuple[int, str]:
    """P.wait_live_at_head on the destination's own checkpoints."""
    deadline = time.monotonic() + timeout
    head = dev.head()
    last, last_change = None, time.monotonic()
    while True:
        check(ld.alive(), f"{what}: {ld.describe()}")
        cp = live_cursor(dest, table)
        if cp == head:
            return head
        now = time.monotonic()
        if cp != last:
            last, last_change = cp, now
        elif now - last_change > 1.0:
            head = dev.produce_one()
            last_change = now
        if now > deadline:
            raise L.SuiteFailure(f"{what}: live checkpoint {cp} did not reach head {head} in "
                                 f"{timeout}s; checkpoints: {dest.stream_cursors(table)}")
        time.sleep(0.05)


def check_unique_keys(dest, table: str, schema) -> None:
    idx = [schema.names.index(k) for k in KEY]
    counts = collections.Counter(tuple(r[i] for i in idx) for r in dest.stored(table, schema))
    dups = [k for k, n in counts.items() if n > 1]
    check(not dups, f"table {table}: {len(dups)} keys {KEY} stored more than once, e.g. {dups[:3]}")


def check_present_blocks_canonical(dest, dev: L.Devnet, table: str) -> tuple[int, int]:
    """Every block present in the table holds exactly its canonical rows (the devnet frozen).
    Returns (rows, blocks)."""
    canon = dev.canonical(QUERY, dev.head())
    bi = canon.schema.names.index("_block_num")
    actual = dest.stored(table, canon.schema)
    blocks = {int(r[bi]) for r in actual}
    expected = [r for r in dest.expected(canon) if int(r[bi]) in blocks]
    L.compare_rows(expected, actual, f"table {table} (blocks present)", lambda r: int(r[bi]))
    return len(actual), len(blocks)


# ---------------------------------------------------------------------------------------


def part_a_historical(suite, dest, dev) -> None:
    table = "logs_hist"
    head = dev.head()
    flags = P.parallel_flags(4, lo=0, hi=head[0], partition_size=100, batch_size=150,
                             source_table=SOURCE)
    started = time.monotonic()
    ld = suite.loader(dev, None, QUERY, table, *flags, uri=dest.uri, name="hist")
    rc = ld.wait(60)
    out = P.output_of(ld)
    check(rc == 0, f"historical load: exit {rc}: {ld.stderr()[-2000:]}")
    check(not out.failed, f"failed partitions: {out.failed}")
    P.check_disjoint_cover(out.ok, 0, head[0] + 1, "historical")
    check(len({p.worker for p in out.ok}) >= 2, f"only one worker did anything: {out.summary()}")
    n = dest.compare(dev, head, table)
    canon = dev.canonical(QUERY, head)
    check_unique_keys(dest, table, canon.schema)
    check(sum(p.rows for p in out.ok) == n, f"partitions report {sum(p.rows for p in out.ok)} rows, "
                                            f"canonical {n}")
    dest.audit(suite, dev, table, head[0])
    log(f"(a) historical: {len(out.ok)} partitions over {len({p.worker for p in out.ok})} workers, "
        f"{n} rows exact, audit 0 ({time.monotonic() - started:.1f}s)")


def part_b_hybrid(suite, dest, dev) -> None:
    table = "logs_hybrid"
    started = time.monotonic()
    head0 = dev.head()[0]
    dev.set_faults(query_latency_ms=200, bandwidth_bytes_per_second=100_000)
    flags = P.parallel_flags(4, partition_size=100, batch_size=100, reorg_buffer=REORG_BUFFER,
                             source_table=SOURCE)
    ld = suite.loader(dev, None, QUERY, table, *flags, uri=dest.uri, name="hybrid")

    P.wait_for(lambda: P.output_of(ld).worker_starts, 30, "the catch-up to start", ld)
    check(not P.output_of(ld).live, "the catch-up ended before the suite could reorg during it")
    dev.produce(10)
    deep = dev.reorg(80)
    dev.produce(5)
    check(not P.output_of(ld).live and "Handing over" not in ld.stderr(),
          "the hand-off happened before the reorgs were injected: slow the workers more")
    log(f"(b) during catch-up: +10, reorg 80 > buffer {REORG_BUFFER} (head {deep['head']}), +5")

    P.wait_for(lambda: P.output_of(ld).live, 60, "the hand-off to the live stream", ld, poll=0.05)
    dev.set_faults()
    log(f"(b) handed over: first live commit {P.output_of(ld).live[0]}")
    dev.produce(20)
    time.sleep(0.3)
    dev.reorg(4)
    dev.produce(5)

    head = wait_live_at_head(dest, table, ld, dev, 40, "hybrid")
    n = dest.compare(dev, head, table)
    check_unique_keys(dest, table, dev.canonical(QUERY, head).schema)
    out = P.output_of(ld)
    check(out.live[0][0] >= head0 - REORG_BUFFER - 150,
          f"the live stream replayed history: its first commit covers {out.live[0]}")
    check(out.reorgs >= 1, f"the live stream reported no reorg: {out.stdout[-2000:]}")
    check(len(out.ok) >= 1 and not out.failed, f"catch-up partitions: {out.summary()}")
    rc = ld.interrupt()
    check(rc == L.EXIT_INTERRUPTED, f"Ctrl+C: exit {rc}: {ld.stderr()[-1500:]}")
    dest.quiesce()
    dest.compare(dev, head, table)
    dest.audit(suite, dev, table, head[0])
    log(f"(b) hybrid at head {head[0]}: {n} rows exact, no duplicate key; {out.summary()}; "
        f"audit 0 ({time.monotonic() - started:.1f}s)")


def part_c_crash(suite, dest, dev, rng) -> None:
    table = "logs_crash"
    started = time.monotonic()
    slow = dict(query_latency_ms=150, bandwidth_bytes_per_second=200_000)
    flags = P.parallel_flags(4, partition_size=50, batch_size=50, reorg_buffer=REORG_BUFFER,
                             source_table=SOURCE)
    kills, attempt, rows = 0, 0, 0
    while kills < 3:
        attempt += 1
        check(attempt <= 6, f"only {kills} kills landed during the catch-up in {attempt - 1} runs")
        dev.set_faults(**slow)  # a partition takes ~0.5 s: the catch-up lasts ~3 s
        ld = suite.loader(dev, None, QUERY, table, *flags, uri=dest.uri, name="crash")
        P.wait_for(lambda: P.output_of(ld).worker_starts or P.output_of(ld).live, 30,
                   "the workers to start", ld)
        time.sleep(rng.uniform(0.5, 1.2))
        check(ld.alive(), f"run {attempt} ended before the kill: {ld.describe()}")
        during = not P.output_of(ld).live and "Handing over" not in ld.stderr()
        ld.kill9()
        dev.set_faults()  # the checks' own canonical queries at full speed
        dest.quiesce()
        kills += during
        rows, blocks = check_present_blocks_canonical(dest, dev, table)
        check_unique_keys(dest, table, dev.canonical(QUERY, dev.head()).schema)
        log(f"(c) kill {attempt} ({'catch-up' if during else 'after the hand-off'}): {rows} rows "
            f"in {blocks} blocks, all complete and canonical, no key twice")

    check(rows > 0, "no kill landed after a commit: nothing was left to resume")
    ld = suite.loader(dev, None, QUERY, table, *flags, uri=dest.uri, name="crash-final")
    P.wait_for(lambda: P.output_of(ld).live, 60, "the rerun's hand-off", ld, poll=0.05)
    reloaded = sum(p.rows for p in P.output_of(ld).ok)
    check(reloaded < len(dev.canonical(QUERY, dev.head())),
          f"the rerun reloaded all history ({reloaded} rows): completed partitions were not resumed")
    dev.produce(3)
    head = wait_live_at_head(dest, table, ld, dev, 40, "rerun after the kills")
    n = dest.compare(dev, head, table)
    check_unique_keys(dest, table, dev.canonical(QUERY, head).schema)
    rc = ld.interrupt()
    check(rc == L.EXIT_INTERRUPTED, f"Ctrl+C: exit {rc}: {ld.stderr()[-1500:]}")
    dest.quiesce()
    dest.audit(suite, dev, table, head[0])
    log(f"(c) after {kills} kills during the catch-up ({rows} rows committed by then) the rerun "
        f"reloaded {reloaded} rows and reached head {head[0]}: {n} rows exact; audit 0 ({time.monotonic() - started:.1f}s)")


def body(suite: L.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    log(f"destination {suite.args.destination}, seed {seed}")
    dest = RedisDest(suite) if suite.args.destination == "redis" else DeltaDest(suite)
    dev = suite.devnet("--seed", "73", "--history", str(HISTORY), "--block-time", "0",
                       "--txs-per-block", "2", "--logs-per-block", "2", "--microbatch-blocks", "100",
                       "--keep-alive-ms", "500")
    part_a_historical(suite, dest, dev)
    part_b_hybrid(suite, dest, dev)
    part_c_crash(suite, dest, dev, rng)


def main() -> int:
    ap = L.common_args("parallel/hybrid loads into Redis or Delta Lake")
    ap.add_argument("--destination", choices=("redis", "delta"), required=True)
    ap.add_argument("--redis-script", default=str(HERE.parents[1] / "scripts" / "redis"))
    args = ap.parse_args()
    return L.run_suite(f"parallel_{args.destination}", body, args)


if __name__ == "__main__":
    sys.exit(main())
