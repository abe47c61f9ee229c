#!/usr/bin/env python3
"""Reorgs: `ampsync load --stream` into PostgreSQL follows a devnet through >= 100 reorgs of
random depth 1-64 and ends with exactly the canonical rows.

One devnet (200 blocks of history, 16-block microbatches, no timed production) and one
PostgreSQL; five streaming loaders run at once:
  blocks        SELECT * FROM eth_firehose.blocks                 (full rows compared)
  transactions  SELECT * FROM eth_firehose.transactions           (keys + row md5)
  logs          SELECT * FROM eth_firehose.logs                   (keys + row md5)
  logs_nbc      the logs query with --no-block-column: rows are tagged with their
                microbatch range, so a reorg inside a multi-block microbatch reloads it
  hashes        SELECT hash, parent_hash FROM eth_firehose.blocks, --no-block-column
                (no block number at all: compared as the multiset of (hash, parent_hash))
The test drives the chain through DoAction with a seeded RNG: after catch-up it produces
one block and reorgs 64 blocks deep (into the multi-block catch-up unit, deterministically),
then 109 more rounds of reorg(depth 1-64) + produce(0-8 blocks). After most rounds it waits
until every loader has committed the head (number and hash), so those reorgs are certainly
seen one by one; the other rounds fire while the loaders are busy. Then production stops,
every checkpoint reaches the head, Ctrl+C must exit 130, and
  * each table equals the canonical rows (pyarrow.flight batch query) over 0..=head: no
    missing, duplicate or stale row;
  * block-column tables tag rows with their own block, the nbc table with a span holding it;
  * each loader reported at least one reorg per isolated round (a reorg with a wait before
    and after it), and at least one reorg that invalidated a committed multi-block unit
    older than the latest one (a reorg deeper than the last microbatch);
  * `ampsync audit` exits 0 for every table with a block column;
  * self-check: after deleting, duplicating and modifying one row each in `blocks` and
    `logs`, the comparison reports exactly that and `ampsync audit` exits 5.

Usage: reorg_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import random
import sys
import time

import pg_suite_lib as lib

HISTORY = 200
MICROBATCH = 16
REORGS = 110
REORGS_TIMED = 105
MAX_DEPTH = 64
WAIT_PROBABILITY = 0.8
DEFAULT_SEED = 20240611

LOADERS = [
    # name, query, flags, key columns (None: full rows), block column mode
    ("blocks", "SELECT * FROM eth_firehose.blocks", [], None, "exact"),
    ("transactions", "SELECT * FROM eth_firehose.transactions", [],
     ["_block_num", "tx_index", "tx_hash"], "exact"),
    ("logs", "SELECT * FROM eth_firehose.logs", [], ["_block_num", "log_index", "tx_hash"], "exact"),
    ("logs_nbc", "SELECT * FROM eth_firehose.logs", ["--no-block-column"],
     ["_block_num", "log_index", "tx_hash"], "span"),
    ("hashes", "SELECT hash, parent_hash FROM eth_firehose.blocks", ["--no-block-column"], None, None),
]


def analyse(events: list[tuple]) -> dict:
    """Counts reorgs and those that invalidated an older multi-block unit.

    The driver prints a unit's reorg results just before the unit's own "Loaded" line (the
    unit that carried the undo), so at a reorg line every unit seen so far predates it."""
    live: list[tuple[int, int]] = []
    reorgs = deep = 0
    max_len = 0
    for ev in events:
        if ev[0] == "load":
            live.append((ev[1], ev[2]))
            continue
        reorgs += 1
        x = min(a for a, _ in ev[1])
        max_len = max(max_len, max(b - a + 1 for a, b in ev[1]))
        invalidated = [u for u in live if u[1] >= x]
        if len(invalidated) >= 2 and any(a < b for a, b in invalidated[:-1]):
            deep += 1
        live = [(a, min(b, x - 1)) for a, b in live if a < x]
    return {"reorgs": reorgs, "deep": deep, "max_invalidated": max_len,
            "units": sum(1 for e in events if e[0] == "load")}


def body(suite: lib.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    pg = suite.pg()
    dev = suite.devnet("--seed", "5", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", str(MICROBATCH), "--txs-per-block", "4",
                       "--logs-per-block", "8")
    loaders = [suite.loader(dev, pg, query, name, "--stream", *flags, name=name)
               for name, query, flags, _, _ in LOADERS]

    nudges = 0

    def nudge() -> tuple[int, str]:
        nonlocal nudges
        nudges += 1
        return dev.produce_one()

    t0 = time.monotonic()
    head = lib.wait_at_head(pg, loaders, dev.head(), 180, "catch-up", nudge)
    lib.log(f"caught up to {head[0]} in {time.monotonic() - t0:.1f}s")
    dev.produce(1)
    lib.wait_at_head(pg, loaders, dev.head(), 60, "first live block", nudge)

    t0 = time.monotonic()
    isolated = 0
    waited_before = True
    depths = []
    for i in range(REORGS):
        if i > 0 and rng.random() < 0.3:
            time.sleep(rng.uniform(0, 0.03))
        depth = MAX_DEPTH if i == 0 else rng.randint(1, MAX_DEPTH)
        depths.append(depth)
        dev.reorg(depth)
        count = rng.randint(1, 8) if i == 0 else rng.choice([0, 1, 1, 2, 3, 5, 8])
        if count:
            dev.produce(count)
        wait = i == 0 or i == REORGS - 1 or rng.random() < WAIT_PROBABILITY
        if wait:
            lib.wait_at_head(pg, loaders, dev.head(), 60, f"after reorg {i} (depth {depth})", nudge)
            if waited_before:
                isolated += 1
        waited_before = wait
    head = lib.wait_at_head(pg, loaders, dev.head(), 120, "final head", nudge)
    lib.log(f"{REORGS} reorgs (depths {min(depths)}-{max(depths)}, {isolated} isolated) in "
            f"{time.monotonic() - t0:.1f}s; head {head[0]}; {nudges} nudge blocks")
    status = dev.status()
    lib.check(status["head"] == head[0] and status["head_hash"] == head[1], "the chain moved")

    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"loader {ld.name}: Ctrl+C exit {rc}, expected 130; "
                                              f"{ld.describe()}")
    # Ctrl+C finishes the in-flight commit only: the checkpoints stay at the head.
    final = lib.checkpoints(pg)
    for ld in loaders:
        lib.check(final.get(ld.table) == head, f"{ld.table}: checkpoint {final.get(ld.table)} "
                                               f"after Ctrl+C, expected {head}")

    for (name, query, flags, keys, spans), ld in zip(LOADERS, loaders):
        rows = lib.compare_table(pg, dev, head, query, name, keys)
        if spans:
            lib.check_block_spans(pg, name, exact=(spans == "exact"))
        stats = analyse(ld.events())
        lib.log(f"{name}: {rows} rows equal to canonical; {stats['units']} units, "
                f"{stats['reorgs']} reorgs reported (>= {isolated} required), {stats['deep']} "
                f"into older multi-block units, largest invalidation {stats['max_invalidated']} blocks")
        lib.check(stats["reorgs"] >= isolated,
                  f"{name}: {stats['reorgs']} reorgs reported, but {isolated} isolated reorgs happened")
        lib.check(stats["deep"] >= 1, f"{name}: no reorg invalidated an older multi-block unit")
        if spans:
            first = lib.run_audit(suite, dev, pg, query, name, head[0])
            lib.log(f"{name}: audit: {first}")

    # The oracle and the audit can fail: corrupt two tables and expect both to notice.
    for name, query, column, keys in (
            ("blocks", LOADERS[0][1], "extra_data", None),
            ("logs", LOADERS[2][1], "data", LOADERS[2][3])):
        lib.assert_detects_corruption(suite, pg, dev, head, query, name, keys, column)
    lib.log("self-check: a deleted, a duplicated and a modified row are reported by the "
            "comparison and by the audit (exit 5)")
    timed_reorgs(suite, pg)


def timed_reorgs(suite: lib.Suite, pg: lib.PgServer) -> None:
    """Part B: the devnet's own timed production and scheduled reorgs, nobody waiting."""
    halt = HISTORY + 3 * REORGS_TIMED
    dev = suite.devnet("--seed", "6", "--history", str(HISTORY), "--block-time", "25",
                       "--reorg-every", "3", "--reorg-depth", f"1-{MAX_DEPTH}", "--halt-at",
                       str(halt), "--microbatch-blocks", str(MICROBATCH), name="devnet-timed")
    parts = [("timed_blocks", "SELECT * FROM eth_firehose.blocks", [], None, "exact"),
             ("timed_logs_nbc", "SELECT * FROM eth_firehose.logs", ["--no-block-column"],
              ["_block_num", "log_index", "tx_hash"], "span")]
    loaders = [suite.loader(dev, pg, query, name, "--stream", *flags, name=name)
               for name, query, flags, _, _ in parts]
    t0 = time.monotonic()
    deadline = t0 + 120
    while dev.status()["head"] < halt:
        lib.check(time.monotonic() < deadline, f"the timed devnet did not reach {halt}")
        lib.check(all(ld.alive() for ld in loaders), "; ".join(ld.describe() for ld in loaders))
        time.sleep(0.1)
    status = dev.status()
    scheduled = (status["produced"] // 3) - (HISTORY // 3)
    # Production has halted: nudging is impossible, Ctrl+C commits a unit left open at a
    # full-sized final microbatch (the stop rule of amp/load.h).
    head = (status["head"], status["head_hash"])
    if lib.wait_at_head(pg, loaders, head, 120, "timed reorgs: head", nudge=lambda: None,
                        stall=10.0) is None:
        lib.log("timed reorgs: a loader holds a full final microbatch open; Ctrl+C commits it")
    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"{ld.name}: Ctrl+C exit {rc}; {ld.describe()}")
    final = lib.checkpoints(pg)
    for (name, query, flags, keys, spans), ld in zip(parts, loaders):
        lib.check(final.get(name) == head, f"{name}: checkpoint {final.get(name)} after Ctrl+C, "
                                           f"expected {head}")
        rows = lib.compare_table(pg, dev, head, query, name, keys)
        lib.check_block_spans(pg, name, exact=(spans == "exact"))
        stats = analyse(ld.events())
        lib.check(stats["reorgs"] >= 1, f"{name}: no reorg reported")
        lib.log(f"{name}: {scheduled} scheduled reorgs in {time.monotonic() - t0:.1f}s; {rows} rows "
                f"equal to canonical over 0..={head[0]}; {stats['reorgs']} reorgs reported, "
                f"{stats['deep']} into older multi-block units; "
                f"audit: {lib.run_audit(suite, dev, pg, query, name, head[0])}")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("pg_suite_reorgs", body, args)


if __name__ == "__main__":
    sys.exit(main())
