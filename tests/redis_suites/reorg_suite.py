#!/usr/bin/env python3
"""Reorgs: `ampsync load --stream` into Redis follows a devnet through >= 100 reorgs of random
depth 1-64 and ends with exactly the canonical rows.

One devnet (200 blocks of history, 16-block microbatches, no timed production) and one
throwaway Redis (scripts/redis); four streaming loaders run at once:
  blocks        SELECT * FROM eth_firehose.blocks        hash per row   (full rows compared)
  logs          SELECT * FROM eth_firehose.logs          hash per row   (keys + row md5)
  logs_nbc      the logs query with --no-block-column: rows are tagged with their
                microbatch range (second index amp:idxs:<t>), so a reorg inside a
                multi-block microbatch reloads it                       (keys + row md5)
  txs_json      SELECT * FROM eth_firehose.transactions  data_structure=string (JSON docs)
The chain is driven through DoAction with a seeded RNG: after catch-up one block and a
64-deep reorg (into the multi-block catch-up unit), then 109 more rounds of reorg(depth
1-64) + produce(0-8 blocks), waiting for every loader to commit the head after most rounds.
Then production stops, every checkpoint reaches the head, Ctrl+C must exit 130, and
  * each table read back with redis-py through the documented index equals the canonical
    rows (encoded in Python by the documented rules): no missing, duplicate or stale row,
    no dangling index entry, and no row key outside the index (a SCAN, test-side only);
  * block-column tables tag rows with their own block, the nbc table with a span holding it;
  * every loader reported reorgs, at least one invalidating an older multi-block unit;
  * `ampsync audit --to redis://...` exits 0 for every table;
  * self-check: after deleting, duplicating and modifying one row of `logs`, the comparison
    reports exactly that and `ampsync audit` exits 5.

Usage: reorg_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--redis-script scripts/redis]
"""

from __future__ import annotations

import random
import sys
import time

import redis_suite_lib as lib

HISTORY = 200
MICROBATCH = 16
REORGS = 110
MAX_DEPTH = 64
WAIT_PROBABILITY = 0.8
DEFAULT_SEED = 20240611
LOG_KEYS = ["_block_num", "log_index", "tx_hash"]

LOADERS = [
    # table, query, extra flags, URI query, key columns, spans, structure
    ("blocks", "SELECT * FROM eth_firehose.blocks", [], "", None, "exact", "hash"),
    ("logs", "SELECT * FROM eth_firehose.logs", [], "", LOG_KEYS, "exact", "hash"),
    ("logs_nbc", "SELECT * FROM eth_firehose.logs", ["--no-block-column"], "", LOG_KEYS, "span", "hash"),
    ("txs_json", "SELECT * FROM eth_firehose.transactions", [], "?data_structure=string",
     ["_block_num", "tx_index", "tx_hash"], None, "string"),
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


def body(suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    server = lib.redis_server(suite)
    dev = suite.devnet("--seed", "5", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", str(MICROBATCH), "--txs-per-block", "4",
                       "--logs-per-block", "8")
    loaders = [lib.loader(suite, dev, server.uri + uri_q, query, name, "--stream", *flags, name=name)
               for name, query, flags, uri_q, _, _, _ in LOADERS]

    nudges = 0

    def nudge():
        nonlocal nudges
        nudges += 1
        return dev.produce_one()

    t0 = time.monotonic()
    head = lib.wait_at_head(server, loaders, dev.head(), 120, "catch-up", nudge)
    lib.log(f"caught up to {head[0]} in {time.monotonic() - t0:.1f}s")
    dev.produce(1)
    lib.wait_at_head(server, loaders, dev.head(), 60, "first live block", nudge)

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
            lib.wait_at_head(server, loaders, dev.head(), 60, f"after reorg {i} (depth {depth})", nudge)
            if waited_before:
                isolated += 1
        waited_before = wait
    head = lib.wait_at_head(server, loaders, dev.head(), 120, "final head", nudge)
    lib.log(f"{REORGS} reorgs (depths {min(depths)}-{max(depths)}, {isolated} isolated) in "
            f"{time.monotonic() - t0:.1f}s; head {head[0]}; {nudges} nudge blocks")
    status = dev.status()
    lib.check(status["head"] == head[0] and status["head_hash"] == head[1], "the chain moved")

    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"loader {ld.name}: Ctrl+C exit {rc}, expected 130; "
                                              f"{ld.describe()}")
    final = lib.checkpoints(server, [ld.table for ld in loaders])
    for ld in loaders:
        lib.check(final.get(ld.table) == head, f"{ld.table}: checkpoint {final.get(ld.table)} "
                                               f"after Ctrl+C, expected {head}")

    for (name, query, flags, uri_q, keys, spans, structure), ld in zip(LOADERS, loaders):
        rows = lib.compare_table(server, dev, head, query, name, keys, structure)
        lib.check_no_orphans(server, name)
        if spans:
            lib.check_block_spans(server, name, exact=(spans == "exact"))
        stats = analyse(ld.events())
        lib.log(f"{name}: {rows} rows equal to canonical; {stats['units']} units, "
                f"{stats['reorgs']} reorgs reported (>= {isolated} required), {stats['deep']} "
                f"into older multi-block units")
        lib.check(stats["reorgs"] >= isolated,
                  f"{name}: {stats['reorgs']} reorgs reported, but {isolated} isolated reorgs happened")
        lib.check(stats["deep"] >= 1, f"{name}: no reorg invalidated an older multi-block unit")
        lib.log(f"{name}: audit: {lib.run_audit(suite, dev, server.uri + uri_q, query, name, head[0])}")

    # The oracle and the audit can fail: corrupt `logs` and expect both to notice.
    r = server.r
    members = sorted(r.zrange(b"amp:idx:logs", 0, -1))
    victim_modify, victim_dup, victim_delete = members[5], members[9], members[0]
    data = r.hget(victim_modify, b"data")
    r.hset(victim_modify, b"data", data + b"01")
    copy_key = victim_dup + b":copy"
    r.hset(copy_key, mapping=r.hgetall(victim_dup))
    r.zadd(b"amp:idx:logs", {copy_key: float(r.hget(victim_dup, b"_amp_block_end"))})
    r.delete(victim_delete)
    r.zrem(b"amp:idx:logs", victim_delete)
    try:
        lib.compare_table(server, dev, head, LOADERS[1][1], "logs", LOG_KEYS)
    except lib.SuiteFailure as e:
        lib.check("2 missing, 1 duplicate, 1 stale" in str(e),
                  f"the comparison misreported the corruption: {e}")
    else:
        raise lib.SuiteFailure("the comparison did not notice a corrupted destination")
    lib.run_audit(suite, dev, server.uri, LOADERS[1][1], "logs", head[0], expect=lib.EXIT_MISMATCH)
    lib.log("self-check: a deleted, a duplicated and a modified row are reported by the "
            "comparison and by the audit (exit 5)")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("redis_suite_reorgs", body, args)


if __name__ == "__main__":
    sys.exit(main())
