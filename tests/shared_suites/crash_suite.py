#!/usr/bin/env python3
"""Crashes: `ampsync load --stream` killed with SIGKILL at >= 20 random moments and
restarted each time ends with exactly the canonical rows, and never replays history, for
every destination (--destination pg|redis|delta; the adapters are in destinations.py).

One devnet of logs history (size per destination, below) and one throwaway destination;
the loader (`--stream --batch-size N`, so catch-up commits many units) is killed 21 times,
the moments drawn from a seeded RNG (3 start + 8 destination kills during catch-up, then
1 start + 5 live + 4 reconnect while following the head):
  start      0-250 ms after the process started (before or during its first commit);
  <dest>     during catch-up, at the destination's own critical moment (below);
  live       while following the head (a block every 50 ms, produced through DoAction);
  reconnect  while the loader is reconnecting: the devnet drops its stream and fails the
             next 2-5 calls with UNAVAILABLE (set_faults), the kill lands 0.1-1 s later.
After each kill the suite waits until the destination has let go of the killed loader
(so a commit the kill raced with has been applied or rolled back) and reads the checkpoint:
it never goes back; the run's first committed unit starts exactly at checkpoint + 1 (0
without one); no reported unit lies beyond the checkpoint; over all runs no block is ever
committed twice. At least 4 of the destination kills must land at their moment. Finally a
last run catches up, production stops, the checkpoint reaches the head, Ctrl+C exits 130,
the run started right after the checkpoint, the checkpoint is the head, the table equals
the canonical rows (keys + row md5: no missing, duplicate or stale row) for every reader,
nothing is stored outside the destination's index (orphan check), every row's
_amp_block_* span is its own block, and `ampsync audit` exits 0.

What each destination adds:
  pg     30,000 blocks x 8 logs (240,000 rows), 500-block microbatches, --batch-size
         10000; kill point `catchup`: right after pg_stat_activity shows the loader's COPY
         active (a unit's COPY in flight); after each kill, wait until no ampsync backend
         is connected; logs pg_stat_user_tables.n_tup_ins (rolled-back units included).
  redis  24,000 blocks x 2 logs (48,000 rows), 250-block microbatches, --batch-size 2000;
         kill point `multi`: right after CLIENT LIST shows the loader's connection inside
         MULTI (flags "x"): a unit's transaction queued or executing; after each kill,
         wait until Redis has closed every connection named ampsync; rows read with
         redis-py through the index, and a SCAN finds no row key outside it.
  delta  12,000 blocks x 8 logs (96,000 rows), 500-block microbatches, --batch-size 8000;
         kill point `write`: as soon as a Parquet file no version references appears (every
         other time after the run's first commit): a kill between the Parquet write and the
         commit; no wait after a kill (a version file is atomic); both deltalake and DuckDB
         read the table; every version file parses as complete JSON; the log references no
         missing file; unreferenced Parquet files left by kills are counted (never read).

Usage: crash_suite.py --destination pg|redis|delta --ampsync build/<dir>/tools/ampsync/ampsync
       [--pg-script scripts/pg] [--redis-script scripts/redis] [--seed N] [--keep]
"""

from __future__ import annotations

import random
import sys
import time

import destinations as D

lib = D.lib
SPEC = D.TableSpec("logs", "SELECT * FROM eth_firehose.logs", keys=D.LOG_KEYS)
DEFAULT_SEED = 7351


def body(suite: lib.Suite) -> None:
    dest = D.make(suite)
    p = dest.CRASH
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"destination {dest.name}, seed {seed}")
    table = SPEC.name
    dev = suite.devnet("--seed", "11", "--history", str(p.history), "--block-time", "0",
                       "--logs-per-block", str(p.logs_per_block),
                       "--txs-per-block", str(p.txs_per_block),
                       "--microbatch-blocks", str(p.microbatch))
    D.cache_canonical(dev)  # the final checks compare one frozen chain many times
    producer = lib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    catchup_plan = ["start"] * 3 + [p.kill_kind] * 8
    live_plan = ["start"] + ["live"] * 5 + ["reconnect"] * 4
    rng.shuffle(catchup_plan)
    rng.shuffle(live_plan)
    plan = catchup_plan + live_plan

    flags = ["--stream", "--batch-size", str(p.batch_size)]
    all_units: list[tuple[int, int, str]] = []
    hits = 0
    tally: dict[str, int] = {}

    def cursor() -> int:
        return dest.cursor(table)

    # A hit (a kill inside the window that matters, e.g. a MULTI in flight) depends on timing;
    # the catch-up phase gets extra kills until 4 have hit, so a fast machine cannot thin out
    # the coverage the suite asserts.
    catchup_len = len(catchup_plan)
    extra_kills = 8
    n = 0
    while n < len(plan):
        n += 1
        kind = plan[n - 1]
        dest.crash_before_run(table)
        before = cursor()
        if kind in ("live", "reconnect") or (kind == "start" and n > catchup_len):
            producer.resume()
        ld = dest.loader(dev, SPEC, *flags)
        note = ""
        if kind == "start":
            time.sleep(rng.uniform(0, 0.25))
        elif kind == p.kill_kind:
            note = dest.crash_kill_point(n, ld, rng, table, tally.get(kind, 0))
            if note:
                hits += 1
        elif kind in ("live", "reconnect"):
            D.wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120,
                       f"run {n}: the loader to follow the head", p.poll_interval)
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
        dest.crash_after_kill()
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
        if n == catchup_len and hits < 4 and extra_kills > 0:
            plan.insert(n, p.kill_kind)
            catchup_len += 1
            extra_kills -= 1

    lib.check(len(plan) >= 20, "at least 20 kills")
    lib.check(hits >= 4, f"only {hits} kills landed {p.kill_hits_what}")

    # The last run: catch up, freeze the chain, reach the head, Ctrl+C.
    dest.crash_before_run(table)
    before = cursor()
    producer.resume()
    ld = dest.loader(dev, SPEC, *flags)
    D.wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120,
               "the final run to catch up", p.poll_interval)
    producer.stop()
    head = dest.wait_at_head([ld], dev.head(), 120, "final head", nudge=dev.produce_one)
    rc = ld.interrupt()
    lib.check(rc == lib.EXIT_INTERRUPTED, f"final run: Ctrl+C exit {rc}, expected 130; {ld.describe()}")
    units = ld.units()
    lib.check(not units or units[0][0] == before + 1,
              f"final run: first commit {units[0][:2] if units else None}, checkpoint was {before}")
    all_units += [(a, b, ld.name) for a, b, _ in units]
    lib.check(dest.checkpoints([table]).get(table) == head, "final checkpoint is not the head")

    # No block was committed twice over all runs (units reported by the CLI; a unit whose
    # commit raced with a kill may be missing from the output, never duplicated).
    all_units.sort()
    for (a1, b1, r1), (a2, b2, r2) in zip(all_units, all_units[1:]):
        lib.check(a2 > b1, f"blocks committed twice: {r1} [{a1}..={b1}] and {r2} [{a2}..={b2}]")

    t0 = time.monotonic()
    extra = dest.crash_final_checks(table)
    rows = dest.compare_table(dev, head, SPEC)
    t1 = time.monotonic()
    dest.check_no_orphans(table)
    t2 = time.monotonic()
    dest.check_block_spans(table, exact=True)
    lib.log(f"final checks: compare {t1 - t0:.1f}s, orphans {t2 - t1:.1f}s, "
            f"spans {time.monotonic() - t2:.1f}s")
    lib.log(f"{rows} rows equal to canonical over 0..={head[0]} after {len(plan)} kills {tally} "
            f"({hits} {p.kill_hits_what}); {len(all_units)} units reported, none overlapping"
            + (f"; {extra}" if extra else ""))
    lib.log(f"audit: {dest.audit(dev, SPEC, head[0])}")


def main() -> int:
    args = D.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite(f"shared_suite_crash_{args.destination}", body, args)


if __name__ == "__main__":
    sys.exit(main())
