#!/usr/bin/env python3
"""Crashes: `ampsync load --stream` into Delta Lake killed with SIGKILL at >= 20 random
moments and restarted each time ends with exactly the canonical rows (read by deltalake
and DuckDB), and never replays history.

One devnet (12,000 blocks of logs history, 8 logs per block: 96,000 rows to catch up;
500-block microbatches) and one Delta root; the loader (`--batch-size 8000`, so catch-up
commits a unit every ~8,000 rows) is killed 21 times, the moments drawn from a seeded RNG:
  start      0-250 ms after the process started (before or during its first commit);
  write      during catch-up (every other one after the run's first commit), as soon as a
             Parquet file the log does not reference yet appears in the table directory:
             the unit's data is being written and its version file is not (a kill between
             writing Parquet and committing);
  live       while following the head (a block every 50 ms, produced through DoAction);
  reconnect  while the loader is reconnecting: the devnet drops its stream and fails the
             next 2-5 calls with UNAVAILABLE, the kill lands 0.1-1 s later.
After each kill the suite reads the checkpoint from the Delta log (a version file is
there whole or not at all); the next run must start exactly after it: its first committed
unit starts at checkpoint + 1, and over all runs no block is ever committed twice. A
kill leaves at most unreferenced Parquet files, which no reader sees. Finally a last run
catches up, production stops, the checkpoint reaches the head, Ctrl+C exits 130, the
table equals the canonical rows (keys + row md5) for both readers, every Delta version
parses, and `ampsync audit` exits 0.

Usage: crash_suite.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import json
import random
import sys
import time

import delta_suite_lib as dl

lib = dl.lib
HISTORY = 12_000
LOGS_PER_BLOCK = 8
BATCH_SIZE = 8_000
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


def body(suite: lib.Suite) -> None:
    seed = suite.args.seed if suite.args.seed is not None else DEFAULT_SEED
    rng = random.Random(seed)
    lib.log(f"seed {seed}")
    root = suite.workdir / "lake"
    uri = dl.uri(root)
    dev = suite.devnet("--seed", "11", "--history", str(HISTORY), "--block-time", "0",
                       "--logs-per-block", str(LOGS_PER_BLOCK), "--txs-per-block", "4",
                       "--microbatch-blocks", "500")
    producer = lib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    catchup_plan = ["start"] * 3 + ["write"] * 8
    live_plan = ["start"] + ["live"] * 5 + ["reconnect"] * 4
    rng.shuffle(catchup_plan)
    rng.shuffle(live_plan)
    plan = catchup_plan + live_plan

    flags = ["--stream", "--batch-size", str(BATCH_SIZE)]
    all_units: list[tuple[int, int, str]] = []
    write_hits = 0
    tally: dict[str, int] = {}

    def cursor() -> int:
        cp = dl.committed_cursors(root).get(TABLE)
        return cp[0] if cp else -1

    def table_exists() -> bool:
        return (root / TABLE / "_delta_log").is_dir()

    for n, kind in enumerate(plan, 1):
        before = cursor()
        known_orphans = set(dl.orphan_files(root, TABLE)) if table_exists() else set()
        if kind in ("live", "reconnect") or (kind == "start" and n > len(catchup_plan)):
            producer.resume()
        ld = suite.loader(dev, None, QUERY, TABLE, *flags, name="logs", uri=uri)
        note = ""
        if kind == "start":
            time.sleep(rng.uniform(0, 0.25))
        elif kind == "write":
            if tally.get("write", 0) % 2 == 1:
                # Every other time, after the run's first commit (a later unit's write).
                wait_for(lambda: ld.units() or not ld.alive() or cursor() >= HISTORY - 1, 60,
                         f"run {n}: a first commit")
                known_orphans = set(dl.orphan_files(root, TABLE)) if table_exists() else set()
            # A new Parquet file that no version references: the unit is being written.
            def writing_or_done():
                if not ld.alive():
                    return "exited"
                if table_exists() and set(dl.orphan_files(root, TABLE)) - known_orphans:
                    return "write"
                return "done" if cursor() >= HISTORY - 1 else None
            got = wait_for(writing_or_done, 60, f"run {n}: a Parquet file being written")
            if got == "write":
                time.sleep(rng.uniform(0, 0.03))
                write_hits += 1
                note = "Parquet written, no version yet"
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
    lib.check(write_hits >= 4, f"only {write_hits} kills landed between writing Parquet and committing")
    orphans = dl.orphan_files(root, TABLE)

    before = cursor()
    producer.resume()
    ld = suite.loader(dev, None, QUERY, TABLE, *flags, name="logs", uri=uri)
    wait_for(lambda: cursor() >= dev.head()[0] - 3 or not ld.alive(), 120, "the final run to catch up")
    producer.stop()
    head = dl.wait_at_head(root, [ld], dev.head(), 120, "final head", nudge=dev.produce_one)
    rc = ld.interrupt()
    lib.check(rc == lib.EXIT_INTERRUPTED, f"final run: Ctrl+C exit {rc}, expected 130; {ld.describe()}")
    units = ld.units()
    lib.check(not units or units[0][0] == before + 1,
              f"final run: first commit {units[0][:2] if units else None}, checkpoint was {before}")
    all_units += [(a, b, ld.name) for a, b, _ in units]
    lib.check(dl.committed_cursors(root).get(TABLE) == head, "final checkpoint is not the head")

    all_units.sort()
    for (a1, b1, r1), (a2, b2, r2) in zip(all_units, all_units[1:]):
        lib.check(a2 > b1, f"blocks committed twice: {r1} [{a1}..={b1}] and {r2} [{a2}..={b2}]")

    # Every version file is complete JSON (a commit appears whole or not at all).
    log_dir = root / TABLE / "_delta_log"
    versions = sorted(log_dir.glob("[0-9]*.json"))
    for path in versions:
        for line in path.read_text().splitlines():
            json.loads(line)
    rows = dl.compare_table(root, dev, head, QUERY, TABLE, KEYS)
    dl.check_block_spans(root, TABLE, exact=True)
    lib.log(f"{rows} rows equal to canonical over 0..={head[0]} (deltalake and DuckDB) after "
            f"{len(plan)} kills {tally} ({write_hits} between Parquet and commit); "
            f"{len(all_units)} units reported, none overlapping; {len(versions)} versions; "
            f"{len(orphans)} unreferenced Parquet files left by kills (invisible to readers)")
    lib.log(f"audit: {dl.run_audit(suite, dev, root, QUERY, TABLE, head[0])}")


def main() -> int:
    args = dl.common_args(__doc__.splitlines()[0]).parse_args()
    return dl.run_suite("delta_suite_crashes", body, args)


if __name__ == "__main__":
    sys.exit(main())
