#!/usr/bin/env python3
"""Bad input: every way `ampsync load --to delta://...` can be pointed at the wrong thing
fails with a clear error naming the destination or the problem, a non-zero exit, and
leaves the Delta root exactly as it was; a rerun after the fix resumes cleanly.

One devnet (50 blocks, no live production) and one Delta root holding: `good` (blocks,
loaded beforehand), `good_stream` (a streamed load with its checkpoint), `badschema` (a
Delta table written by the deltalake package whose `_block_num` is a string), `notdelta`
(a directory holding a CSV file, no _delta_log) and `plainfile` (a regular file). Each case
runs `ampsync load` (batch, and for some also --stream) and asserts the documented exit
code (docs/cli.md: 2 usage, 3 rejected, 4 unavailable), substrings naming the problem, and
that the root is unchanged: the same files with the same sizes and the same log contents
(so no version, no checkpoint and no table directory was written).

Cases: invalid SQL; unknown column; unknown dataset table; a non-incremental query as a
stream; unreachable Amp server; a root below a regular file; a root the process cannot
create (/proc); a table directory that is not a Delta table; a table path that is a file;
a Delta table with a conflicting column type; a query whose columns the existing table
lacks; a relative URI; a malformed and an unknown loader option. Then the fix: the CSV is
moved away and the same load into `notdelta` succeeds and equals the canonical rows (read
by deltalake and DuckDB), and the streamed load resumes from its checkpoint.

Usage: bad_input_suite.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pyarrow as pa

import delta_suite_lib as dl

lib = dl.lib
BLOCKS = "SELECT * FROM eth_firehose.blocks"


def tree(root: Path) -> dict:
    """Every file under root: size, and a digest for log files."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            rel = str(p.relative_to(root))
            digest = hashlib.md5(p.read_bytes()).hexdigest() if "_delta_log" in rel else ""
            out[rel] = (p.stat().st_size, digest)
    return out


def body(suite: lib.Suite) -> None:
    dev = suite.devnet("--seed", "17", "--history", "50", "--block-time", "0",
                       "--microbatch-blocks", "10")
    root = suite.workdir / "lake"
    uri = dl.uri(root)

    cp = lib.run_load(suite, dev.url, BLOCKS, uri, "good")
    lib.check(cp.returncode == 0, f"setup load failed: {cp.stderr}")
    ld = suite.loader(dev, None, "SELECT block_num, hash FROM eth_firehose.blocks", "good_stream",
                      "--stream", name="good_stream", uri=uri)
    head = dl.wait_at_head(root, [ld], dev.head(), 60, "setup stream", nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "setup stream: Ctrl+C must exit 130")
    import deltalake
    deltalake.write_deltalake(str(root / "badschema"),
                              pa.table({"_block_num": ["x"], "hash": [b"\x00"], "note": ["keep me"]}))
    (root / "notdelta").mkdir()
    (root / "notdelta" / "data.csv").write_text("a,b\n1,2\n")
    (root / "plainfile").write_text("not a table\n")
    afile = suite.workdir / "afile"
    afile.write_text("x")
    before = tree(root)

    dead_port = lib.w.free_port()
    cases = [
        # name, query, uri, table, flags, exit codes, needles, server
        ("invalid SQL", "SELEC * FROM eth_firehose.blocks", uri, "new_sql", [], {3}, ["INVALID_ARGUMENT"]),
        ("unknown column", "SELECT nope_col FROM eth_firehose.blocks", uri, "new_col", [], {3}, ["nope_col"]),
        ("unknown table", "SELECT * FROM eth_firehose.nope", uri, "new_tab", [], {3}, ["eth_firehose.nope"]),
        ("non-incremental stream", "SELECT * FROM eth_firehose.blocks LIMIT 3", uri, "new_limit",
         ["--stream"], {3}, ["non-incremental"]),
        ("unreachable Amp server", BLOCKS, uri, "new_amp", ["--max-attempts", "2"], {4},
         [f"127.0.0.1:{dead_port}"], f"grpc://127.0.0.1:{dead_port}"),
        ("root below a regular file", BLOCKS, dl.uri(afile / "sub"), "t", [], {3},
         [str(afile / "sub")]),
        ("root that cannot be created", BLOCKS, "delta:///proc/amp-no-such-dir/lake", "t", [], {3},
         ["/proc/amp-no-such-dir/lake"]),
        ("directory that is not a Delta table", BLOCKS, uri, "notdelta", [], {3},
         [str(root / "notdelta"), "not a Delta table"]),
        ("table path is a file", BLOCKS, uri, "plainfile", [], {3},
         [str(root / "plainfile"), "not a directory"]),
        ("conflicting column type", BLOCKS, uri, "badschema", [], {3},
         [str(root / "badschema"), "_block_num", "string"]),
        ("table lacks the query's columns", "SELECT * FROM eth_firehose.logs", uri, "good", [], {3},
         [str(root / "good"), "block_hash", "not in the existing Delta table"]),
        ("relative URI", BLOCKS, "delta://relative/lake", "t", [], {2, 3}, ["absolute"]),
        ("malformed loader option", BLOCKS, f"{uri}?checkpoint_interval=lots", "new_opt", [], {2},
         ["checkpoint_interval", "lots"]),
        ("unknown loader option", BLOCKS, f"{uri}?bogus_option=1", "new_opt2", [], {2},
         ["bogus_option"]),
    ]
    stream_variants = {"invalid SQL", "unknown column", "directory that is not a Delta table",
                       "conflicting column type"}
    failures = []
    ran = 0
    for case in cases:
        name, query, to, table, flags, codes, needles = case[:7]
        server = case[7] if len(case) > 7 else dev.url
        variants = [flags]
        if name in stream_variants:
            variants.append(flags + ["--stream"])
        for extra in variants:
            ran += 1
            label = name + (" (--stream)" if "--stream" in extra else "")
            res = lib.run_load(suite, server, query, to, table, *extra, timeout=90)
            text = res.stdout + res.stderr
            problems = []
            if res.returncode not in codes:
                problems.append(f"exit {res.returncode}, expected {sorted(codes)}")
            problems += [f"no {n!r} in the output" for n in needles if n not in text]
            if "ampsync: error:" not in res.stderr:
                problems.append("no 'ampsync: error:' line on stderr")
            after = tree(root)
            if after != before:
                added = sorted(set(after) - set(before))
                changed = sorted(k for k in before if after.get(k) != before[k])
                problems.append(f"destination changed: added {added[:5]}, changed/removed {changed[:5]}")
            lib.check(not (afile / "sub").exists(), "a directory appeared below a regular file")
            if problems:
                failures.append(f"{label}: " + "; ".join(problems) + f"\n    output: {text.strip()[-600:]}")
                lib.log(f"FAIL {label}")
                before = after
            else:
                line = [l for l in res.stderr.splitlines() if l.startswith("ampsync: error:")][-1]
                lib.log(f"ok   {label}: exit {res.returncode}: {line[:160]}")
    lib.check(not failures, f"{len(failures)} of {ran} bad-input cases failed:\n  " + "\n  ".join(failures))

    # The fix: move the CSV away; the same load now succeeds and is exact.
    (root / "notdelta" / "data.csv").rename(suite.workdir / "data.csv")
    res = lib.run_load(suite, dev.url, BLOCKS, uri, "notdelta")
    lib.check(res.returncode == 0, f"after the fix: exit {res.returncode}: {res.stderr[-800:]}")
    rows = dl.compare_table(root, dev, dev.head(), BLOCKS, "notdelta")
    lib.log(f"after the fix: notdelta holds {rows} rows equal to canonical (deltalake and DuckDB)")
    # The streamed load resumes from its checkpoint: its first unit starts right after it.
    dev.produce(3)
    ld = suite.loader(dev, None, "SELECT block_num, hash FROM eth_firehose.blocks", "good_stream",
                      "--stream", name="good_stream", uri=uri)
    new_head = dl.wait_at_head(root, [ld], dev.head(), 60, "resume", nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "resume: Ctrl+C must exit 130")
    units = ld.units()
    lib.check(units and units[0][0] == head[0] + 1,
              f"resume: first unit {units[:1]}, the checkpoint was {head[0]}")
    lib.log(f"rerun resumed at {units[0][0]} (checkpoint {head[0]}) and reached {new_head[0]}")


def main() -> int:
    args = dl.common_args(__doc__.splitlines()[0]).parse_args()
    return dl.run_suite("delta_suite_bad_input", body, args)


if __name__ == "__main__":
    sys.exit(main())
