#!/usr/bin/env python3
"""Faults: streaming loads into PostgreSQL survive dropped streams, UNAVAILABLE bursts and
PostgreSQL restarts without intervention and without loss.

Phase 0, on a devnet of its own (1,000 blocks, 50-block microbatches,
`--drop-stream-after 12`): a streaming load into a table whose every COPY takes 200 ms
longer (a statement trigger), so the loader reads ahead of its commits when a stream drops;
the table must end equal to the canonical rows.

Then one devnet (3,000 blocks of history, 100-block microbatches, started with
`--drop-stream-after 40`) and one PostgreSQL; two streaming loaders (blocks: full rows,
logs: keys + row md5) run through, never restarted:
  1. catch-up while every stream is dropped after 40 messages (the devnet flag);
  2. live blocks (one every 50 ms) while set_faults drops every stream after 7 messages;
  3. two UNAVAILABLE bursts: after 20 single-block microbatches (so both streams have sent
     > 30 messages), set_faults {drop after 30 messages, fail the next 3 (then 5) calls}
     and one block: both streams drop, their reconnects hit the failures, and both loaders
     must reach the new head, which they can only do once every failing call is consumed;
  4. `scripts/pg restart` (fast shutdown: the loaders' sessions are terminated) twice:
     while following live blocks, and while both loaders hold an open unit (300 new
     blocks streamed with a 100 ms delay per message; pg_stat_activity shows both
     sessions inside a transaction when the restart begins).
After each phase both loaders must still be running and commit the head (number and
hash). Finally Ctrl+C exits 130, both tables equal the canonical rows and `ampsync audit`
exits 0 for both.

Usage: fault_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import sys
import time

import pg_suite_lib as lib

HISTORY = 3_000
TABLES = [
    ("blocks", "SELECT * FROM eth_firehose.blocks", None),
    ("logs", "SELECT * FROM eth_firehose.logs", ["_block_num", "log_index", "tx_hash"]),
]


def slow_destination(suite: lib.Suite, pg: lib.PgServer) -> None:
    """Phase 0: dropped streams while the destination is slow (every COPY into the table
    takes 200 ms more: a statement trigger sleeps), so the loader's reader thread is well
    ahead of its commits when a stream drops."""
    dev = suite.devnet("--seed", "19", "--history", "1000", "--block-time", "0",
                       "--microbatch-blocks", "50", "--drop-stream-after", "12",
                       name="devnet-slow")
    table, query = "slow_blocks", "SELECT * FROM eth_firehose.blocks"
    # The table as the loader creates it (a one-block batch load), emptied, plus the trigger.
    cp = lib.run_load(suite, dev.url, f"{query} WHERE block_num = 0", pg.uri, table)
    lib.check(cp.returncode == 0, f"creating {table}: {cp.stderr}")
    pg.query(f"DELETE FROM {table}; DELETE FROM amp_client_state; "
             "CREATE FUNCTION amp_suite_slow() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$; "
             f"CREATE TRIGGER amp_suite_slow AFTER INSERT ON {table} FOR EACH STATEMENT "
             "EXECUTE FUNCTION amp_suite_slow()")
    ld = suite.loader(dev, pg, query, table, "--stream", name=table)
    t0 = time.monotonic()
    head = lib.wait_at_head(pg, [ld], dev.head(), 180, "slow destination, streams dropped",
                            nudge=dev.produce_one)
    rc = ld.interrupt()
    lib.check(rc == lib.EXIT_INTERRUPTED, f"{ld.name}: Ctrl+C exit {rc}; {ld.describe()}")
    rows = lib.compare_table(pg, dev, head, query, table)
    lib.log(f"slow destination with streams dropped every 12 messages: {rows} rows equal to "
            f"canonical over 0..={head[0]} ({time.monotonic() - t0:.1f}s, {len(ld.units())} units)")
    dev.stop()


def body(suite: lib.Suite) -> None:
    pg = suite.pg()
    slow_destination(suite, pg)
    dev = suite.devnet("--seed", "13", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", "100", "--drop-stream-after", "40")
    loaders = [suite.loader(dev, pg, query, table, "--stream", name=table)
               for table, query, _ in TABLES]
    producer = lib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    def nudge():
        return dev.produce_one()

    def settle(what: str, timeout: float = 120) -> tuple[int, str]:
        producer.pause()
        t0 = time.monotonic()
        head = lib.wait_at_head(pg, loaders, dev.head(), timeout, what, nudge)
        lib.log(f"{what}: both loaders at head {head[0]} ({time.monotonic() - t0:.1f}s to settle)")
        return head

    # 1. Catch-up through streams dropped every 40 messages (30 microbatches need > 90).
    settle("catch-up with streams dropped after 40 messages")
    dev.set_faults()

    # 2. Live blocks while streams drop every 7 messages.
    producer.resume()
    time.sleep(0.5)
    dev.set_faults(drop_stream_after_messages=7)
    time.sleep(3)
    dev.set_faults()
    producer.resume()
    time.sleep(0.5)
    settle("live with streams dropped after 7 messages")

    # 3. UNAVAILABLE bursts during reconnects.
    for fails in (3, 5):
        for _ in range(20):
            dev.produce(1)
            lib.wait_at_head(pg, loaders, dev.head(), 60, "single-block microbatches", nudge)
        dev.set_faults(drop_stream_after_messages=30, fail_next_calls=fails)
        dev.produce(1)
        t0 = time.monotonic()
        lib.wait_at_head(pg, loaders, dev.head(), 120, f"burst of {fails} UNAVAILABLE calls", nudge)
        dev.set_faults()
        lib.log(f"burst of {fails} UNAVAILABLE calls survived: head reached after "
                f"{time.monotonic() - t0:.1f}s")

    # 4. PostgreSQL restarts mid-stream.
    producer.resume()
    time.sleep(0.5)
    took = pg.restart()
    lib.log(f"postgres restarted while following live blocks ({took:.1f}s)")
    time.sleep(0.5)
    settle("after a PostgreSQL restart (live)")
    # Slow the streams down so that both loaders hold an open unit (a transaction with
    # rows already copied) when the server goes away.
    dev.set_faults(message_delay_ms=100)
    dev.produce(300)
    open_units = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ampsync' " \
                 "AND xact_start IS NOT NULL"
    deadline = time.monotonic() + 60
    while int(pg.scalar(open_units)) < len(loaders):
        lib.check(time.monotonic() < deadline, "the loaders never opened a unit for the new blocks")
        time.sleep(0.01)
    took = pg.restart()
    lib.log(f"postgres restarted while both loaders had a unit open ({took:.1f}s)")
    dev.set_faults()
    producer.resume()
    time.sleep(0.5)
    producer.stop()
    head = settle("after a PostgreSQL restart (catch-up)")

    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"{ld.name}: Ctrl+C exit {rc}, expected 130; {ld.describe()}")
    final = lib.checkpoints(pg)
    for (table, query, keys), ld in zip(TABLES, loaders):
        lib.check(final.get(table) == head, f"{table}: checkpoint {final.get(table)}, expected {head}")
        rows = lib.compare_table(pg, dev, head, query, table, keys)
        lib.check_block_spans(pg, table, exact=True)
        lib.log(f"{table}: {rows} rows equal to canonical over 0..={head[0]}, "
                f"{len(ld.units())} units; audit: {lib.run_audit(suite, dev, pg, query, table, head[0])}")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("pg_suite_faults", body, args)


if __name__ == "__main__":
    sys.exit(main())
