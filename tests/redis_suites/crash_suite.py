#!/usr/bin/env python3
"""Crashes: `ampsync load --stream` into Redis killed with SIGKILL at >= 20 random moments
and restarted each time ends with exactly the canonical rows, and never replays history.

One devnet (24,000 blocks of logs history, 2 logs per block: 48,000 rows to catch up;
250-block microbatches) and one throwaway Redis; the loader (`--batch-size 2000`, so
catch-up commits a unit every ~2,000 rows) is killed 21 times, the moments drawn from a
seeded RNG:
  start      0-250 ms after the process started (before or during its first commit);
  catchup    during catch-up, right after Redis shows the loader's connection inside
             MULTI (CLIENT LIST flags "x"), so a unit's transaction is being queued or
             executed when the kill lands;
  live       while following the head (a block every 50 ms, produced through DoAction);
  reconnect  while the loader is reconnecting: the devnet drops its stream and fails the
             next 2-5 calls with UNAVAILABLE, the kill lands 0.1-1 s later.
After each kill the suite waits until Redis has closed the loader's connections (so an EXEC
the kill raced with has been applied or discarded) and reads the checkpoint; the next run
must start exactly after it, and over all runs no block is ever committed twice. Finally a
last run catches up, production stops, the checkpoint reaches the head, Ctrl+C exits 130,
the table read back with redis-py equals the canonical rows (keys + row md5: no missing,
duplicate or stale row; no row key outside the index) and `ampsync audit` exits 0.

Usage: crash_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--redis-script scripts/redis]
"""

from __future__ import annotations

import random
import sys
import time

import redis_suite_lib as lib

HISTORY = 24_000
LOGS_PER_BLOCK = 2
BATCH_SIZE = 2_000
QUERY = "SELECT * FROM eth_firehose.logs"
TABLE = "logs"
KEYS = ["_block_num", "log_index", "tx_hash"]
DEFAULT_SEED = 7351


def wait_for(predicate, timeout: float, what: str, interval: float = 0.005):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise lib.SuiteFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def body(suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    server = lib.redis_server(suite)
    dev = suite.devnet("--seed", "11", "--history", str(HISTORY), "--block-time", "0",
                       "--logs-per-block", str(LOGS_PER_BLOCK), "--txs-per-block", "2",
                       "--microbatch-blocks", "250")
    producer = lib.pglib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    catchup_plan = ["start"] * 3 + ["catchup"] * 8
    live_plan = ["start"] + ["live"] * 5 + ["reconnect"] * 4
    rng.shuffle(catchup_plan)
    rng.shuffle(live_plan)
    plan = catchup_plan + live_plan

    flags = ["--stream", "--batch-size", str(BATCH_SIZE)]
    all_units: list[tuple[int, int, str]] = []
    multi_hits = 0
    tally: dict[str, int] = {}

    def cursor() -> int:
        cp = lib.checkpoints(server, [TABLE]).get(TABLE)
        return cp[0] if cp else -1

    for n, kind in enumerate(plan, 1):
        lib.wait_no_clients(server)
        before = cursor()
        if kind in ("live", "reconnect") or (kind == "start" and n > len(catchup_plan)):
            producer.resume()
        ld = lib.loader(suite, dev, server.uri, QUERY, TABLE, *flags, name="logs")
        note = ""
        if kind == "start":
            time.sleep(rng.uniform(0, 0.25))
        elif kind == "catchup":
            wait_for(lambda: ld.units() or not ld.alive() or cursor() >= HISTORY - 1, 60,
                     f"run {n}: a first commit")
            lib.check(ld.alive(), f"run {n}: {ld.describe()}")

            def in_multi():
                if any("x" in c.get("flags", "") for c in lib.ampsync_clients(server)):
                    return "multi"
                return "done" if cursor() >= HISTORY - 1 else None
            if wait_for(in_multi, 30, f"run {n}: a transaction in flight") == "multi":
                time.sleep(rng.uniform(0, 0.01))
                multi_hits += 1
                note = "MULTI in flight"
        elif kind in ("live", "reconnect"):
            wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120,
                     f"run {n}: the loader to follow the head")
            if kind == "live":
                time.sleep(rng.uniform(0.05, 0.6))
            else:
                fails = rng.randint(2, 5)
                dev.set_faults(drop_stream_after_messages=1, fail_next_calls=fails)
                note = f"stream dropped, {fails} calls failing"
                time.sleep(rng.uniform(0.1, 1.0))
        lib.check(ld.alive(), f"run {n} ({kind}): the loader exited on its own: {ld.describe()}")
        ld.kill9()
        dev.set_faults()
        lib.wait_no_clients(server)
        after = cursor()
        units = ld.units()
        lib.check(after >= before, f"run {n}: checkpoint went back from {before} to {after}")
        if units:
            lib.check(units[0][0] == before + 1,
                      f"run {n} ({kind}): first commit covers {units[0][:2]} but the checkpoint "
                      f"was {before}: resume must start at {before + 1}")
            lib.check(units[-1][1] <= after, f"run {n}: reported unit {units[-1][:2]} beyond "
                                             f"the checkpoint {after}")
        all_units += [(a, b, ld.name) for a, b, _ in units]
        tally[kind] = tally.get(kind, 0) + 1
        lib.log(f"kill {n:2d} ({kind:9s}) checkpoint {before} -> {after}, {len(units)} units "
                f"committed {note}")
        producer.pause()

    lib.check(len(plan) >= 20, "at least 20 kills")
    lib.check(multi_hits >= 4, f"only {multi_hits} kills landed while a MULTI was in flight")

    lib.wait_no_clients(server)
    before = cursor()
    producer.resume()
    ld = lib.loader(suite, dev, server.uri, QUERY, TABLE, *flags, name="logs")
    wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120, "the final run to catch up")
    producer.stop()
    head = lib.wait_at_head(server, [ld], dev.head(), 120, "final head", nudge=dev.produce_one)
    rc = ld.interrupt()
    lib.check(rc == lib.EXIT_INTERRUPTED, f"final run: Ctrl+C exit {rc}, expected 130; {ld.describe()}")
    units = ld.units()
    lib.check(not units or units[0][0] == before + 1,
              f"final run: first commit {units[0][:2] if units else None}, checkpoint was {before}")
    all_units += [(a, b, ld.name) for a, b, _ in units]
    lib.check(lib.checkpoints(server, [TABLE]).get(TABLE) == head, "final checkpoint is not the head")

    all_units.sort()
    for (a1, b1, r1), (a2, b2, r2) in zip(all_units, all_units[1:]):
        lib.check(a2 > b1, f"blocks committed twice: {r1} [{a1}..={b1}] and {r2} [{a2}..={b2}]")

    rows = lib.compare_table(server, dev, head, QUERY, TABLE, KEYS)
    lib.check_no_orphans(server, TABLE)
    lib.check_block_spans(server, TABLE, exact=True)
    lib.log(f"{rows} rows equal to canonical over 0..={head[0]} after {len(plan)} kills {tally} "
            f"({multi_hits} with a MULTI in flight); {len(all_units)} units reported, none overlapping")
    lib.log(f"audit: {lib.run_audit(suite, dev, server.uri, QUERY, TABLE, head[0])}")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("redis_suite_crashes", body, args)


if __name__ == "__main__":
    sys.exit(main())
