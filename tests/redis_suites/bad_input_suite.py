#!/usr/bin/env python3
"""Bad input: every way `ampsync load` can be pointed at a Redis that refuses it fails with a
clear error naming the destination, a non-zero exit, nothing half-written, and a rerun after
the fix resumes cleanly.

One devnet (50 blocks, no timed production) and one throwaway Redis with a password
(requirepass; the loader gets it through password=env:AMP_SUITE_REDIS_PW, so it appears in
no command line). The destination holds a table `good` loaded beforehand by a stream (with
its checkpoint). Each case runs `ampsync load` and asserts the documented exit code
(docs/cli.md: 2 usage, 3 rejected, 4 unavailable), substrings naming the problem and the
destination, that the password is never echoed, and that the destination is exactly as
before (every key: type and content).

Cases: wrong password; no password; unreachable Redis; an existing table with other
columns; an unknown option; a bad data_structure; a key_pattern naming no column; a key of
the wrong type where a row goes (WRONGTYPE); out of memory (maxmemory reached, noeviction)
for a new table and in the middle of a stream. The last two are then fixed (the key removed,
maxmemory lifted) and rerun: the rerun succeeds, resumes after the committed checkpoint and
the table equals the canonical rows exactly.

Usage: bad_input_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--redis-script scripts/redis]
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys

import redis_suite_lib as lib

BLOCKS = "SELECT * FROM eth_firehose.blocks"
PASSWORD = "suite-pw-s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(server: lib.RedisServer) -> dict:
    """Every key: its type and a digest of its content."""
    r = server.r
    out = {}
    for key in r.scan_iter(count=1000):
        t = r.type(key).decode()
        if t == "string":
            content = r.get(key)
        elif t == "hash":
            content = repr(sorted(r.hgetall(key).items()))
        elif t == "zset":
            content = repr(r.zrange(key, 0, -1, withscores=True))
        elif t == "set":
            content = repr(sorted(r.smembers(key)))
        elif t == "list":
            content = repr(r.lrange(key, 0, -1))
        else:
            content = repr(r.xrange(key))
        if isinstance(content, str):
            content = content.encode()
        out[key] = (t, hashlib.md5(content or b"").hexdigest())
    return out


def body(suite) -> None:
    os.environ["AMP_SUITE_REDIS_PW"] = PASSWORD
    server = lib.redis_server(suite, "--password", PASSWORD)
    dev = suite.devnet("--seed", "17", "--history", "50", "--block-time", "0",
                       "--microbatch-blocks", "10")
    base = server.uri
    uri = base + "?password=env:AMP_SUITE_REDIS_PW"
    hostport = f"127.0.0.1:{server.port}"

    ld = lib.loader(suite, dev, uri, BLOCKS, "good", "--stream", name="good")
    lib.wait_at_head(server, [ld], dev.head(), 60, "setup stream", nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "setup stream: Ctrl+C must exit 130")
    before = snapshot(server)
    lib.check(len(lib.index_members(server, "good")) >= 50, "setup: table good was not loaded")

    dead_port = free_port()
    cases = [
        # name, query, uri, table, flags, exit codes, needles, forbidden
        ("wrong password", BLOCKS, base + "?password=wrong-pw-456", "new_pw", [], {3},
         ["authentication", hostport], ["wrong-pw-456"]),
        ("no password", BLOCKS, base, "new_nopw", [], {3}, ["requires a password", hostport], []),
        ("unreachable Redis", BLOCKS, f"redis://127.0.0.1:{dead_port}/0", "new_down",
         ["--max-attempts", "2"], {4}, [f"127.0.0.1:{dead_port}"], []),
        ("table with other columns", "SELECT block_num, hash FROM eth_firehose.blocks", uri, "good",
         [], {3}, ["'good'", "incompatible", hostport], [PASSWORD]),
        ("unknown option", BLOCKS, uri + "&bogus_option=1", "new_opt", [], {2, 3},
         ["bogus_option"], [PASSWORD]),
        ("bad data_structure", BLOCKS, uri + "&data_structure=json", "new_ds", [], {2, 3},
         ["data_structure", "json"], [PASSWORD]),
        ("key_pattern naming no column", BLOCKS, uri + "&key_pattern={table}:{txhash}", "new_kp", [],
         {2, 3}, ["{txhash}", "block_num"], [PASSWORD]),
    ]
    failures = []

    def run_case(label, query, to, table, flags, codes, needles, forbidden, expect_same=True):
        nonlocal before
        cp = lib.pglib.run_load(suite, dev.url, query, to, table, *flags, timeout=90)
        text = cp.stdout + cp.stderr
        problems = []
        if cp.returncode not in codes:
            problems.append(f"exit {cp.returncode}, expected {sorted(codes)}")
        problems += [f"no {n!r} in the output" for n in needles if n not in text]
        problems += [f"the output echoes {s!r}" for s in forbidden if s in text]
        if "ampsync: error:" not in cp.stderr:
            problems.append("no 'ampsync: error:' line on stderr")
        after = snapshot(server)
        if expect_same and after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))[:5]
            problems.append(f"destination changed: {changed}")
        if problems:
            failures.append(f"{label}: " + "; ".join(problems) + f"\n    output: {text.strip()[-600:]}")
            lib.log(f"FAIL {label}")
            before = after
        else:
            line = [l for l in cp.stderr.splitlines() if l.startswith("ampsync: error:")][-1]
            lib.log(f"ok   {label}: exit {cp.returncode}: {line[:170]}")

    for case in cases:
        run_case(*case)

    # WRONGTYPE: a user's string where a row's hash goes. Nothing of the table is written;
    # after the key is removed the rerun loads everything.
    wt_uri = uri + "&key_pattern={table}:{block_num}"
    server.r.set(b"wt:7", b"a user's string")
    before = snapshot(server)
    run_case("wrong type at a key", BLOCKS, wt_uri, "wt", [], {3},
             ["WRONGTYPE", "wt:7", "string", hostport], [PASSWORD])
    server.r.delete(b"wt:7")
    before = snapshot(server)
    cp = lib.pglib.run_load(suite, dev.url, BLOCKS, wt_uri, "wt", timeout=90)
    lib.check(cp.returncode == 0, f"wrong type: rerun after the fix failed: {cp.stderr[-800:]}")
    head = dev.head()
    lib.compare_table(server, dev, head, BLOCKS, "wt")
    lib.check_no_orphans(server, "wt")
    lib.log("ok   wrong type: after removing the key the rerun loads the table exactly")

    # Out of memory, new table: refused before anything is written.
    used = int(server.r.info("memory")["used_memory"])
    server.r.config_set("maxmemory-policy", "noeviction")
    server.r.config_set("maxmemory", str(used))
    before = snapshot(server)
    run_case("out of memory (new table)", BLOCKS, uri, "oom_new", [], {3},
             ["OOM", "maxmemory", hostport], [PASSWORD])
    server.r.config_set("maxmemory", "0")

    # Out of memory in the middle of a stream: the committed part stays, the failed unit
    # leaves no trace, and the rerun resumes after the checkpoint.
    ld = lib.loader(suite, dev, uri, BLOCKS, "oom_stream", "--stream", name="oom_stream")
    head = lib.wait_at_head(server, [ld], dev.head(), 60, "oom stream setup", nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "oom stream: Ctrl+C must exit 130")
    cp_before = lib.checkpoints(server, ["oom_stream"]).get("oom_stream")
    dev.produce(20)
    used = int(server.r.info("memory")["used_memory"])
    server.r.config_set("maxmemory", str(used))
    before = snapshot(server)
    run_case("out of memory (stream)", BLOCKS, uri, "oom_stream", ["--stream"], {3},
             ["OOM", hostport], [PASSWORD])
    lib.check(lib.checkpoints(server, ["oom_stream"]).get("oom_stream") == cp_before,
              "oom stream: the checkpoint moved although the commit failed")
    server.r.config_set("maxmemory", "0")
    ld = lib.loader(suite, dev, uri, BLOCKS, "oom_stream", "--stream", name="oom_stream")
    head = lib.wait_at_head(server, [ld], dev.head(), 60, "oom stream rerun", nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "oom stream rerun: Ctrl+C must exit 130")
    units = ld.units()
    lib.check(units and units[0][0] == cp_before[0] + 1,
              f"oom stream rerun: first unit {units[:1]}, expected to start at {cp_before[0] + 1}")
    rows = lib.compare_table(server, dev, head, BLOCKS, "oom_stream")
    lib.check_no_orphans(server, "oom_stream")
    lib.log(f"ok   out of memory (stream): the rerun resumed at {cp_before[0] + 1}; {rows} rows "
            f"equal to canonical; audit: "
            f"{lib.run_audit(suite, dev, uri, BLOCKS, 'oom_stream', head[0])}")

    lib.check(not failures, f"{len(failures)} bad-input cases failed:\n  " + "\n  ".join(failures))


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("redis_suite_bad_input", body, args)


if __name__ == "__main__":
    sys.exit(main())
