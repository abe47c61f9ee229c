#!/usr/bin/env python3
"""Reorgs: `ampsync load --stream` into Delta Lake follows a devnet through >= 100 reorgs of
random depth 1-64 and ends with exactly the canonical rows, read by deltalake and DuckDB.

One devnet (200 blocks of history, 16-block microbatches, no timed production) and one
Delta root; three streaming loaders run at once, each into its own table under the root:
  blocks     SELECT * FROM eth_firehose.blocks                  (full rows compared)
  logs       SELECT * FROM eth_firehose.logs                    (keys + row md5)
  logs_nbc   the logs query with --no-block-column: rows are tagged with their microbatch
             range, so a reorg inside a multi-block microbatch reloads it
The test drives the chain through DoAction with a seeded RNG: after catch-up it produces
one block and reorgs 64 blocks deep (into the multi-block catch-up unit), then more
rounds of reorg(depth 1-64) + produce(0-8 blocks); after most rounds it waits until every
table's checkpoint (the domainMetadata of its Delta log) is the head. Then:
  * each table, read by the deltalake package and by DuckDB over the files deltalake
    lists, equals the canonical rows (pyarrow.flight batch query) over 0..=head;
  * block-column tables tag rows with their own block, the nbc table with a span;
  * each loader reported its reorgs, at least one into an older multi-block unit;
  * undo never rewrote the whole table: no version removed a file lying entirely below
    the deepest block a reorg could reach (checked on the Delta log's add stats);
  * `ampsync audit --to delta:///...` exits 0 for every table with a block column;
  * self-check: after a file is removed from `logs`, both comparisons and the audit
    (exit 5) notice.

Usage: reorg_suite.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import delta_suite_lib as dl

lib = dl.lib

HISTORY = 200
MICROBATCH = 16
REORGS = 100
MAX_DEPTH = 64
WAIT_PROBABILITY = 0.7
DEFAULT_SEED = 20251121

LOADERS = [
    ("blocks", "SELECT * FROM eth_firehose.blocks", [], None, "exact"),
    ("logs", "SELECT * FROM eth_firehose.logs", [], ["_block_num", "log_index", "tx_hash"], "exact"),
    ("logs_nbc", "SELECT * FROM eth_firehose.logs", ["--no-block-column"],
     ["_block_num", "log_index", "tx_hash"], "span"),
]


def analyse(events: list[tuple]) -> dict:
    live: list[tuple[int, int]] = []
    reorgs = deep = 0
    for ev in events:
        if ev[0] == "load":
            live.append((ev[1], ev[2]))
            continue
        reorgs += 1
        x = min(a for a, _ in ev[1])
        invalidated = [u for u in live if u[1] >= x]
        if len(invalidated) >= 2 and any(a < b for a, b in invalidated[:-1]):
            deep += 1
        live = [(a, min(b, x - 1)) for a, b in live if a < x]
    return {"reorgs": reorgs, "deep": deep, "units": sum(1 for e in events if e[0] == "load")}


def undo_footprint(table_dir: Path) -> tuple[int, int, int]:
    """(versions with removes, largest remove count, live files before it) over the log;
    fails when a version removes a file lying entirely below the deepest block a reorg
    could have reached (head - MAX_DEPTH - MICROBATCH): undo must leave such files alone,
    never rewrite the whole table."""
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
            floor = head - MAX_DEPTH - MICROBATCH
            for r in removes:
                lib.check(live.get(r, head) >= floor,
                          f"{table_dir.name}: version {v} removed {r} (blocks up to {live.get(r)}), "
                          f"entirely below any reorg of head {head}: more than the affected files")
            if len(removes) > worst:
                worst, worst_live = len(removes), len(live)
        for r in removes:
            live.pop(r, None)
        live.update(adds)
        v += 1
    return versions, worst, worst_live


def body(suite: lib.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    root = suite.workdir / "lake"
    dev = suite.devnet("--seed", "5", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", str(MICROBATCH), "--txs-per-block", "4",
                       "--logs-per-block", "8")
    loaders = [suite.loader(dev, None, query, name, "--stream", *flags, name=name, uri=dl.uri(root))
               for name, query, flags, _, _ in LOADERS]
    nudges = 0

    def nudge():
        nonlocal nudges
        nudges += 1
        return dev.produce_one()

    t0 = time.monotonic()
    head = dl.wait_at_head(root, loaders, dev.head(), 120, "catch-up", nudge)
    lib.log(f"caught up to {head[0]} in {time.monotonic() - t0:.1f}s")
    dev.produce(1)
    dl.wait_at_head(root, loaders, dev.head(), 60, "first live block", nudge)

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
            dl.wait_at_head(root, loaders, dev.head(), 60, f"after reorg {i} (depth {depth})", nudge)
            if waited_before:
                isolated += 1
        waited_before = wait
    head = dl.wait_at_head(root, loaders, dev.head(), 120, "final head", nudge)
    lib.log(f"{REORGS} reorgs (depths {min(depths)}-{max(depths)}, {isolated} isolated) in "
            f"{time.monotonic() - t0:.1f}s; head {head[0]}; {nudges} nudge blocks")

    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"loader {ld.name}: Ctrl+C exit {rc}; {ld.describe()}")
    final = dl.committed_cursors(root)
    for ld in loaders:
        lib.check(final.get(ld.table) == head, f"{ld.table}: checkpoint {final.get(ld.table)} "
                                               f"after Ctrl+C, expected {head}")

    for (name, query, flags, keys, spans), ld in zip(LOADERS, loaders):
        rows = dl.compare_table(root, dev, head, query, name, keys)
        dl.check_block_spans(root, name, exact=(spans == "exact"))
        stats = analyse(ld.events())
        versions, worst, worst_live = undo_footprint(root / name)
        lib.log(f"{name}: {rows} rows equal to canonical (deltalake and DuckDB); {stats['units']} "
                f"units, {stats['reorgs']} reorgs reported, {stats['deep']} into older multi-block "
                f"units; {versions} versions removed files, at most {worst} of {worst_live} live")
        lib.check(stats["reorgs"] >= isolated,
                  f"{name}: {stats['reorgs']} reorgs reported, but {isolated} isolated reorgs happened")
        lib.check(stats["deep"] >= 1, f"{name}: no reorg invalidated an older multi-block unit")
        lib.log(f"{name}: audit: {dl.run_audit(suite, dev, root, query, name, head[0])}")

    dl.assert_detects_corruption(suite, root, dev, head, LOADERS[1][1], "logs", LOADERS[1][3])
    lib.log("self-check: a removed file is reported by both comparisons and by the audit (exit 5)")


def main() -> int:
    args = dl.common_args(__doc__.splitlines()[0]).parse_args()
    return dl.run_suite("delta_suite_reorgs", body, args)


if __name__ == "__main__":
    sys.exit(main())
