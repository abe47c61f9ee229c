#!/usr/bin/env python3
"""Crashes: `ampsync load --stream` killed with SIGKILL at >= 20 random moments and
restarted each time ends with exactly the canonical rows, and never replays history.

One devnet (30,000 blocks of logs history, 8 logs per block: 240,000 rows to catch up;
500-block microbatches) and one PostgreSQL; the loader (`--batch-size 10000`, so catch-up
commits a unit every ~12,000 rows) is killed 21 times, the moments drawn from a seeded RNG:
  start      0-250 ms after the process started (before or during its first commit);
  catchup    during catch-up, right after PostgreSQL shows the loader's COPY in progress
             (pg_stat_activity), so a unit's COPY is in flight when the kill lands;
  live       while following the head (a block every 50 ms, produced through DoAction);
  reconnect  while the loader is reconnecting: the devnet drops its stream and fails the
             next 2-5 calls with UNAVAILABLE (set_faults), the kill lands 0.1-1 s later.
After each kill the suite waits for the loader's PostgreSQL sessions to end (so a COMMIT
the kill raced with has been applied or rolled back) and reads the checkpoint; the next run
must start exactly after it: its first committed unit starts at checkpoint + 1 (0 without
one), and over all runs no block is ever committed twice. Finally a last run catches up,
production stops, the checkpoint reaches the head, Ctrl+C exits 130, the table equals the
canonical rows (keys + row md5: no missing, duplicate or stale row) and `ampsync audit`
exits 0.

Usage: crash_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import random
import sys
import time

import pg_suite_lib as lib

HISTORY = 30_000
LOGS_PER_BLOCK = 8
BATCH_SIZE = 10_000
QUERY = "SELECT * FROM eth_firehose.logs"
TABLE = "logs"
KEYS = ["_block_num", "log_index", "tx_hash"]
DEFAULT_SEED = 7351


def wait_for(predicate, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise lib.SuiteFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def body(suite: lib.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    pg = suite.pg()
    dev = suite.devnet("--seed", "11", "--history", str(HISTORY), "--block-time", "0",
                       "--logs-per-block", str(LOGS_PER_BLOCK), "--txs-per-block", "4",
                       "--microbatch-blocks", "500")
    producer = lib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    catchup_plan = ["start"] * 3 + ["catchup"] * 8
    live_plan = ["start"] + ["live"] * 5 + ["reconnect"] * 4
    rng.shuffle(catchup_plan)
    rng.shuffle(live_plan)
    plan = catchup_plan + live_plan

    flags = ["--stream", "--batch-size", str(BATCH_SIZE)]
    all_units: list[tuple[int, int, str]] = []
    copy_hits = 0
    tally: dict[str, int] = {}

    def cursor() -> int:
        cp = lib.checkpoints(pg).get(TABLE)
        return cp[0] if cp else -1

    for n, kind in enumerate(plan, 1):
        lib.wait_no_backends(pg)
        before = cursor()
        if kind in ("live", "reconnect") or (kind == "start" and n > len(catchup_plan)):
            producer.resume()
        ld = suite.loader(dev, pg, QUERY, TABLE, *flags, name="logs")
        note = ""
        if kind == "start":
            time.sleep(rng.uniform(0, 0.25))
        elif kind == "catchup":
            wait_for(lambda: ld.units() or not ld.alive(), 60, f"run {n}: a first commit")
            lib.check(ld.alive(), f"run {n}: {ld.describe()}")
            # The next unit's COPY is under way as soon as PostgreSQL reports it active.
            def copy_or_done():
                if any(state == "active" and (q or "").startswith("COPY")
                       for _, state, q in pg.backends()):
                    return "copy"
                return "done" if cursor() >= HISTORY - 1 else None
            if wait_for(copy_or_done, 30, f"run {n}: a COPY in flight") == "copy":
                time.sleep(rng.uniform(0, 0.05))
                copy_hits += 1
                note = "COPY in flight"
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
        lib.wait_no_backends(pg)
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
    lib.check(copy_hits >= 4, f"only {copy_hits} kills landed while a COPY was in flight")

    # The last run: catch up, freeze the chain, reach the head, Ctrl+C.
    lib.wait_no_backends(pg)
    before = cursor()
    producer.resume()
    ld = suite.loader(dev, pg, QUERY, TABLE, *flags, name="logs")
    wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120, "the final run to catch up")
    producer.stop()
    head = lib.wait_at_head(pg, [ld], dev.head(), 120, "final head",
                            nudge=dev.produce_one)
    rc = ld.interrupt()
    lib.check(rc == lib.EXIT_INTERRUPTED, f"final run: Ctrl+C exit {rc}, expected 130; {ld.describe()}")
    units = ld.units()
    lib.check(not units or units[0][0] == before + 1,
              f"final run: first commit {units[0][:2] if units else None}, checkpoint was {before}")
    all_units += [(a, b, ld.name) for a, b, _ in units]
    lib.check(lib.checkpoints(pg).get(TABLE) == head, "final checkpoint is not the head")

    # No block was committed twice over all runs (units reported by the CLI; a unit whose
    # commit raced with a kill may be missing from the output, never duplicated).
    all_units.sort()
    for (a1, b1, r1), (a2, b2, r2) in zip(all_units, all_units[1:]):
        lib.check(a2 > b1, f"blocks committed twice: {r1} [{a1}..={b1}] and {r2} [{a2}..={b2}]")

    rows = lib.compare_table(pg, dev, head, QUERY, TABLE, KEYS)
    lib.check_block_spans(pg, TABLE, exact=True)
    inserted = pg.scalar(f"SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = '{TABLE}'")
    lib.log(f"{rows} rows equal to canonical over 0..={head[0]} after {len(plan)} kills {tally} "
            f"({copy_hits} with a COPY in flight); {len(all_units)} units reported, none "
            f"overlapping; rows inserted incl. rolled-back units: {inserted}")
    lib.log(f"audit: {lib.run_audit(suite, dev, pg, QUERY, TABLE, head[0])}")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("pg_suite_crashes", body, args)


if __name__ == "__main__":
    sys.exit(main())
