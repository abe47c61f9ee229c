#!/usr/bin/env python3
"""Reorgs: `ampsync load --stream` follows a devnet through >= 100 reorgs of random depth
1-64 and ends with exactly the canonical rows, for every destination (--destination
pg|redis|delta; the adapters are in destinations.py).

One devnet (200 blocks of history, 16-block microbatches, no timed production) and one
throwaway destination; streaming loaders run at once, each into its own table:
  blocks        SELECT * FROM eth_firehose.blocks                  (full rows compared)
  logs          SELECT * FROM eth_firehose.logs                    (keys + row md5)
  logs_nbc      the logs query with --no-block-column: rows are tagged with their
                microbatch range, so a reorg inside a multi-block microbatch reloads it
The chain is driven through DoAction with a seeded RNG: after catch-up it produces one
block and reorgs 64 blocks deep (into the multi-block catch-up unit, deterministically),
then more rounds of reorg(depth 1-64) + produce(0-8 blocks). After most rounds it waits
until every loader has committed the head (number and hash), so those reorgs are certainly
seen one by one; the other rounds fire while the loaders are busy. Then production stops,
every checkpoint reaches the head (the chain did not move), Ctrl+C must exit 130 with the
checkpoints still at the head, and
  * each table, read back by the destination's own independent readers, equals the
    canonical rows (pyarrow.flight batch query) over 0..=head: no missing, duplicate or
    stale row; nothing stored outside the destination's index (orphan check);
  * block-column tables tag rows with their own block, the nbc table with a span holding it;
  * each loader reported at least one reorg per isolated round (a reorg with a wait before
    and after it), and at least one reorg that invalidated a committed multi-block unit
    older than the latest one (a reorg deeper than the last microbatch);
  * `ampsync audit` exits 0 for every table that has a block column;
  * self-check: after deleting, duplicating and modifying one row each in `blocks` and
    `logs`, every reader's comparison reports exactly that and `ampsync audit` exits 5.

Every destination, part C, late rewinds: a devnet as ampd looks on the wire (--chunking ampd:
one message per block; --reorg-delay-ms 120: a rewind shows up late, orphans in between
never reach the wire), a block every 25 ms and a reorg (depth 1-64) every 6th block, 2
loaders (blocks, logs nbc); the same final checks as part B.

What each destination adds:
  pg     110 reorgs, 80% waited; PostgreSQL read with psql (COPY); two more loaders:
         `transactions` (keys + md5) and `hashes` (SELECT hash, parent_hash, with
         --no-block-column: no block number at all, compared as a multiset, no audit);
         part B, timed reorgs: a second devnet producing a block every 25 ms and reorging
         (depth 1-64) every 3rd block by itself, nobody waiting, 2 loaders (blocks, logs
         nbc); after the halt: checkpoints at the head after Ctrl+C (exit 130), rows equal,
         spans, >= 1 reorg reported, audit exits 0.
  redis  110 reorgs, 80% waited; Redis read with redis-py through the documented block
         index (no dangling index entry) and a SCAN for row keys outside the index; one
         more loader `txs_json` (transactions, URI option data_structure=string: JSON
         documents; audited with the same URI).
  delta  100 reorgs, 70% waited; every table read by the `deltalake` package AND by DuckDB
         over the files deltalake lists; the log references no missing file; undo footprint:
         no version removed a file lying entirely below the deepest block a reorg could
         reach (undo rewrites only affected files; from the add stats); the self-check is
         written as a new Delta version, and a second one removes a data file of `logs_nbc`
         (both readers and the audit, exit 5, notice).

Usage: reorg_suite.py --destination pg|redis|delta --ampsync build/<dir>/tools/ampsync/ampsync
       [--pg-script scripts/pg] [--redis-script scripts/redis] [--seed N] [--keep]
"""

from __future__ import annotations

import random
import sys
import time

import destinations as D

lib = D.lib

HISTORY = 200
MICROBATCH = 16
MAX_DEPTH = 64
REORGS_TIMED = 105
REORGS_LATE = 20       # part C: scheduled reorgs on an ampd-like devnet (late rewinds)
REORG_DELAY_MS = 120   # < the 150 ms between two scheduled reorgs: most rewinds are seen


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
    dest = D.make(suite)
    params = dest.REORG
    seed = suite.args.seed if suite.args.seed is not None else params.default_seed
    rng = random.Random(seed)
    lib.log(f"destination {dest.name}, seed {seed}")
    dev = suite.devnet("--seed", "5", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", str(MICROBATCH), "--txs-per-block", "4",
                       "--logs-per-block", "8")
    D.cache_canonical(dev)  # the final checks compare one frozen chain many times
    tables = dest.reorg_tables()
    loaders = [dest.loader(dev, spec, "--stream") for spec in tables]

    nudges = 0

    def nudge() -> tuple[int, str]:
        nonlocal nudges
        nudges += 1
        return dev.produce_one()

    t0 = time.monotonic()
    head = dest.wait_at_head(loaders, dev.head(), params.catchup_timeout, "catch-up", nudge)
    lib.log(f"caught up to {head[0]} in {time.monotonic() - t0:.1f}s")
    dev.produce(1)
    dest.wait_at_head(loaders, dev.head(), 60, "first live block", nudge)

    t0 = time.monotonic()
    isolated = 0
    waited_before = True
    depths = []
    reorgs = params.reorgs
    lib.check(reorgs >= 100, f"only {reorgs} reorgs planned")
    for i in range(reorgs):
        if i > 0 and rng.random() < 0.3:
            time.sleep(rng.uniform(0, 0.03))
        depth = MAX_DEPTH if i == 0 else rng.randint(1, MAX_DEPTH)
        depths.append(depth)
        dev.reorg(depth)
        count = rng.randint(1, 8) if i == 0 else rng.choice([0, 1, 1, 2, 3, 5, 8])
        if count:
            dev.produce(count)
        wait = i == 0 or i == reorgs - 1 or rng.random() < params.wait_probability
        if wait:
            dest.wait_at_head(loaders, dev.head(), 60, f"after reorg {i} (depth {depth})", nudge)
            if waited_before:
                isolated += 1
        waited_before = wait
    head = dest.wait_at_head(loaders, dev.head(), 120, "final head", nudge)
    lib.log(f"{reorgs} reorgs (depths {min(depths)}-{max(depths)}, {isolated} isolated) in "
            f"{time.monotonic() - t0:.1f}s; head {head[0]}; {nudges} nudge blocks")
    status = dev.status()
    lib.check(status["head"] == head[0] and status["head_hash"] == head[1], "the chain moved")

    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"loader {ld.name}: Ctrl+C exit {rc}, expected 130; "
                                              f"{ld.describe()}")
    # Ctrl+C finishes the in-flight commit only: the checkpoints stay at the head.
    final = dest.checkpoints([spec.name for spec in tables])
    for ld in loaders:
        lib.check(final.get(ld.table) == head, f"{ld.table}: checkpoint {final.get(ld.table)} "
                                               f"after Ctrl+C, expected {head}")

    for spec, ld in zip(tables, loaders):
        rows = dest.compare_table(dev, head, spec)
        dest.check_no_orphans(spec.name)
        if spec.spans:
            dest.check_block_spans(spec.name, exact=(spec.spans == "exact"))
        stats = analyse(ld.events())
        extra = dest.reorg_table_extra(spec, MAX_DEPTH, MICROBATCH)
        lib.log(f"{spec.name}: {rows} rows equal to canonical; {stats['units']} units, "
                f"{stats['reorgs']} reorgs reported (>= {isolated} required), {stats['deep']} "
                f"into older multi-block units, largest invalidation {stats['max_invalidated']} "
                f"blocks{extra}")
        lib.check(stats["reorgs"] >= isolated,
                  f"{spec.name}: {stats['reorgs']} reorgs reported, but {isolated} isolated "
                  f"reorgs happened")
        lib.check(stats["deep"] >= 1, f"{spec.name}: no reorg invalidated an older multi-block unit")
        if spec.audit:
            lib.log(f"{spec.name}: audit: {dest.audit(dev, spec, head[0])}")

    # The oracle and the audit can fail: corrupt two tables and expect every reader to notice.
    corrupted = [spec for spec in tables if spec.corrupt_column]
    lib.check([s.name for s in corrupted] == ["blocks", "logs"], "self-check tables")
    for spec in corrupted:
        dest.assert_detects_corruption(dev, head, spec)
    lib.log("self-check: a deleted, a duplicated and a modified row are reported by the "
            "comparison and by the audit (exit 5)")
    dest.reorg_extra(dev, head, tables)
    if params.timed_reorgs:
        timed_reorgs(suite, dest)
    timed_reorgs(suite, dest, late=True)


def timed_reorgs(suite: lib.Suite, dest: D.Dest, late: bool = False) -> None:
    """Part B: the devnet's own timed production and scheduled reorgs, nobody waiting.

    With late=True (part C, every destination) the devnet behaves as ampd does on the
    wire: --chunking ampd (one message per block, few start-of-microbatch keep-alives, so
    the loaders must coalesce) and --reorg-delay-ms (the rewind shows up late, and blocks
    orphaned by a second reorg inside the delay never reach the wire)."""
    every, count = (6, REORGS_LATE) if late else (3, REORGS_TIMED)
    halt = HISTORY + every * count
    prefix = "late" if late else "timed"
    extra = ["--chunking", "ampd", "--reorg-delay-ms", str(REORG_DELAY_MS)] if late else []
    dev = suite.devnet("--seed", "7" if late else "6", "--history", str(HISTORY),
                       "--block-time", "25", "--reorg-every", str(every), "--reorg-depth",
                       f"1-{MAX_DEPTH}", "--halt-at", str(halt), "--microbatch-blocks",
                       str(MICROBATCH), *extra, name=f"devnet-{prefix}")
    D.cache_canonical(dev)  # the final checks compare one frozen chain many times
    parts = [D.TableSpec(f"{prefix}_blocks", "SELECT * FROM eth_firehose.blocks"),
             D.TableSpec(f"{prefix}_logs_nbc", "SELECT * FROM eth_firehose.logs",
                         ["--no-block-column"], keys=D.LOG_KEYS, spans="span")]
    loaders = [dest.loader(dev, spec, "--stream") for spec in parts]
    t0 = time.monotonic()
    deadline = t0 + 120
    while dev.status()["head"] < halt:
        lib.check(time.monotonic() < deadline, f"the {prefix} devnet did not reach {halt}")
        lib.check(all(ld.alive() for ld in loaders), "; ".join(ld.describe() for ld in loaders))
        time.sleep(0.1)
    status = dev.status()
    scheduled = (status["produced"] // every) - (HISTORY // every)
    # Production has halted: nudging is impossible, Ctrl+C commits a unit left open at a
    # full-sized final microbatch (the stop rule of amp/load.h).
    head = (status["head"], status["head_hash"])
    if dest.wait_at_head(loaders, head, 120, f"{prefix} reorgs: head", nudge=lambda: None,
                         stall=10.0) is None:
        lib.log(f"{prefix} reorgs: a loader holds a full final microbatch open; Ctrl+C commits it")
    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"{ld.name}: Ctrl+C exit {rc}; {ld.describe()}")
    final = dest.checkpoints([spec.name for spec in parts])
    for spec, ld in zip(parts, loaders):
        lib.check(final.get(spec.name) == head, f"{spec.name}: checkpoint {final.get(spec.name)} "
                                                f"after Ctrl+C, expected {head}")
        rows = dest.compare_table(dev, head, spec)
        dest.check_no_orphans(spec.name)
        dest.check_block_spans(spec.name, exact=(spec.spans == "exact"))
        stats = analyse(ld.events())
        lib.check(stats["reorgs"] >= 1, f"{spec.name}: no reorg reported")
        lib.log(f"{spec.name}: {scheduled} scheduled reorgs in {time.monotonic() - t0:.1f}s; "
                f"{rows} rows equal to canonical over 0..={head[0]}; {stats['reorgs']} reorgs "
                f"reported, {stats['deep']} into older multi-block units; "
                f"audit: {dest.audit(dev, spec, head[0])}")


def main() -> int:
    args = D.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite(f"shared_suite_reorg_{args.destination}", body, args)


if __name__ == "__main__":
    sys.exit(main())
