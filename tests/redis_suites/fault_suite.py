#!/usr/bin/env python3
"""Faults: streaming loads into Redis survive dropped streams, UNAVAILABLE bursts and Redis
restarts without intervention and without loss.

One devnet (2,000 blocks of history, 100-block microbatches, `--drop-stream-after 40`) and
one throwaway Redis; two streaming loaders (blocks: full rows, logs: keys + row md5) run
through, never restarted:
  1. catch-up while every stream is dropped after 40 messages (the devnet flag);
  2. live blocks (one every 50 ms) while set_faults drops every stream after 7 messages;
  3. an UNAVAILABLE burst: set_faults {drop after 30 messages, fail the next 4 calls} and
     one block: both streams drop, their reconnects hit the failures;
  4. `scripts/redis restart` (SHUTDOWN SAVE, then the same port and data) twice while
     following live blocks: the loaders' connections die, open MULTIs are discarded, the
     Lua scripts are forgotten by the server (they are loaded again before each unit).
After each phase both loaders must still be running and commit the head (number and hash).
Finally Ctrl+C exits 130, both tables (read back with redis-py) equal the canonical rows,
no row key lies outside the index, and `ampsync audit` exits 0 for both.

Usage: fault_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--redis-script scripts/redis]
"""

from __future__ import annotations

import sys
import time

import redis_suite_lib as lib

HISTORY = 2_000
TABLES = [
    ("blocks", "SELECT * FROM eth_firehose.blocks", None),
    ("logs", "SELECT * FROM eth_firehose.logs", ["_block_num", "log_index", "tx_hash"]),
]


def body(suite) -> None:
    server = lib.redis_server(suite)
    dev = suite.devnet("--seed", "9", "--history", str(HISTORY), "--block-time", "0",
                       "--microbatch-blocks", "100", "--logs-per-block", "4",
                       "--txs-per-block", "2", "--drop-stream-after", "40")
    loaders = [lib.loader(suite, dev, server.uri, query, name, "--stream", name=name)
               for name, query, _ in TABLES]
    producer = lib.pglib.Producer(dev, interval=0.05)
    suite.on_close("producer", producer.stop)

    def at_head(what: str):
        return lib.wait_at_head(server, loaders, dev.head(), 120, what, nudge=dev.produce_one)

    t0 = time.monotonic()
    head = at_head("1. catch-up with streams dropped every 40 messages")
    lib.log(f"1. caught up to {head[0]} through dropped streams in {time.monotonic() - t0:.1f}s")

    dev.set_faults(drop_stream_after_messages=7)
    producer.resume()
    time.sleep(2.0)
    producer.pause()
    head = at_head("2. live blocks, streams dropped every 7 messages")
    dev.set_faults()
    lib.log(f"2. followed live blocks through dropped streams to {head[0]}")

    dev.set_faults(drop_stream_after_messages=30, fail_next_calls=4)
    for _ in range(20):
        dev.produce(1)
        time.sleep(0.02)
    head = at_head("3. UNAVAILABLE burst")
    dev.set_faults()
    lib.log(f"3. survived an UNAVAILABLE burst, head {head[0]}")

    for n in (1, 2):
        producer.resume()
        time.sleep(0.5)
        t = time.monotonic()
        server.restart()
        lib.log(f"4.{n} redis restarted in {time.monotonic() - t:.2f}s")
        time.sleep(1.0)
        producer.pause()
        head = at_head(f"4.{n} after a Redis restart")
        for ld in loaders:
            lib.check(ld.alive(), f"4.{n}: {ld.describe()}")
        lib.log(f"4.{n} both loaders committed head {head[0]} after the restart")

    producer.stop()
    head = at_head("final head")
    for ld in loaders:
        rc = ld.interrupt()
        lib.check(rc == lib.EXIT_INTERRUPTED, f"{ld.name}: Ctrl+C exit {rc}; {ld.describe()}")
    for name, query, keys in TABLES:
        rows = lib.compare_table(server, dev, head, query, name, keys)
        lib.check_no_orphans(server, name)
        lib.log(f"{name}: {rows} rows equal to canonical over 0..={head[0]}; audit: "
                f"{lib.run_audit(suite, dev, server.uri, query, name, head[0])}")


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("redis_suite_faults", body, args)


if __name__ == "__main__":
    sys.exit(main())
