#!/usr/bin/env python3
"""Bad input: every way `ampsync load` can be pointed at the wrong thing fails with a clear
error, a non-zero exit, and leaves the destination untouched.

One devnet (50 blocks, no live production) and one PostgreSQL holding a table `good`
loaded beforehand (with its checkpoint row) and a user table `badschema` whose
`_block_num` is text. Each case runs `ampsync load` (batch, and for the query cases also
--stream) and asserts the documented exit code (docs/cli.md: 2 usage, 3 rejected, 4
unavailable), substrings naming the problem, that no secret is echoed, and that the
destination is exactly as before: the same set of tables in the schema, the same content
of `good` and `badschema` (md5 over all rows), the same amp_client_state rows (so no
checkpoint was written), and no new table when the case targets one.

Cases: invalid SQL; unknown column; unknown dataset table; a non-incremental query as a
stream (Amp rejects it only at DoGet, after the schema was known); wrong password; unknown
role; unknown database; unreachable Amp server; unreachable PostgreSQL; an existing table
with an incompatible column type; a query whose columns the existing table lacks; an
unknown libpq parameter in the URI; a malformed loader option in the URI; an unknown URI
scheme.

Usage: bad_input_suite.py --ampsync build/<dir>/tools/ampsync/ampsync [--pg-script scripts/pg]
"""

from __future__ import annotations

import sys

import pg_suite_lib as lib

BLOCKS = "SELECT * FROM eth_firehose.blocks"


def snapshot(pg: lib.PgServer) -> dict:
    return {
        "tables": pg.scalar("SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') "
                            "FROM pg_tables WHERE schemaname = 'public'"),
        "good": pg.query("SELECT count(*), md5(string_agg(g::text, '|' ORDER BY g::text)) FROM good g"),
        "badschema": pg.query("SELECT count(*), md5(string_agg(b::text, '|' ORDER BY b::text)) "
                              "FROM badschema b"),
        "badschema_columns": pg.scalar(
            "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_name = 'badschema'"),
        "state": pg.query("SELECT stream_id, transaction_id, md5(checkpoint::text), table_names "
                          "FROM amp_client_state ORDER BY stream_id"),
    }


def body(suite: lib.Suite) -> None:
    pg = suite.pg()
    dev = suite.devnet("--seed", "17", "--history", "50", "--block-time", "0",
                       "--microbatch-blocks", "10")
    uri = pg.uri
    host_port = f"127.0.0.1:{pg.port}"

    # The destination before: a loaded table with its checkpoint, and a user table.
    cp = lib.run_load(suite, dev.url, BLOCKS, uri, "good")
    lib.check(cp.returncode == 0, f"setup load failed: {cp.stderr}")
    pg.query("CREATE TABLE badschema (_block_num text, hash bytea, note text)")
    pg.query("INSERT INTO badschema VALUES ('x', '\\x00', 'keep me')")
    # A streamed load too, so the state table has a streaming checkpoint to protect.
    ld = suite.loader(dev, pg, "SELECT block_num, hash FROM eth_firehose.blocks", "good_stream",
                      "--stream", name="good_stream")
    lib.wait_at_head(pg, [ld], dev.head(), 60, "setup stream",
                     nudge=dev.produce_one)
    lib.check(ld.interrupt() == lib.EXIT_INTERRUPTED, "setup stream: Ctrl+C must exit 130")
    before = snapshot(pg)
    lib.check(before["good"][0][0] == "50" and len(before["state"]) == 2,
              f"setup: unexpected destination {before}")

    dead_port = lib.w.free_port()  # nothing listens there
    cases = [
        # name, query, uri, table, extra flags, exit code(s), needles, forbidden
        ("invalid SQL", "SELEC * FROM eth_firehose.blocks", uri, "good", [], {3},
         ["INVALID_ARGUMENT", "SELEC"], []),
        ("invalid SQL, new table", "SELECT * FROM eth_firehose.blocks WHERE", uri, "new_sql",
         [], {3}, ["INVALID_ARGUMENT"], []),
        ("unknown column", "SELECT nope_col FROM eth_firehose.blocks", uri, "new_col", [], {3},
         ["nope_col"], []),
        ("unknown table", "SELECT * FROM eth_firehose.nope", uri, "new_tab", [], {3},
         ["INTERNAL", "eth_firehose.nope"], []),
        ("non-incremental stream", "SELECT * FROM eth_firehose.blocks LIMIT 3", uri, "new_limit",
         ["--stream"], {3}, ["non-incremental"], []),
        ("wrong password", BLOCKS, f"postgresql://amp_secure:wrong-pw-s3cret@{host_port}/amp_test",
         "new_pw", [], {3}, ["password authentication failed", "amp_secure"], ["wrong-pw-s3cret"]),
        ("unknown role", BLOCKS, f"postgresql://no_such_role@{host_port}/amp_test", "new_role", [],
         {3}, ["no_such_role", "does not exist"], []),
        ("unknown database", BLOCKS, f"postgresql://amp_test@{host_port}/no_such_db", "new_db", [],
         {3}, ["no_such_db", "does not exist"], []),
        ("unreachable Amp server", BLOCKS, uri, "new_amp", ["--max-attempts", "2"], {4},
         [f"127.0.0.1:{dead_port}"], [], f"grpc://127.0.0.1:{dead_port}"),
        ("unreachable database", BLOCKS, f"postgresql://amp_test@127.0.0.1:{dead_port}/amp_test",
         "new_pgdown", ["--max-attempts", "2"], {4}, [f"127.0.0.1:{dead_port}"], []),
        ("incompatible column type", BLOCKS, uri, "badschema", [], {3},
         ["badschema", "_block_num", "text"], []),
        ("table lacks the query's columns", "SELECT * FROM eth_firehose.logs", uri, "good", [], {3},
         ['"good"', "incompatible"], []),
        ("unknown URI parameter", BLOCKS, f"{uri}?bogus_option=1", "new_uri", [], {2, 3},
         ["bogus_option"], []),
        ("malformed loader option", BLOCKS, f"{uri}?max_connections=lots", "new_opt", [], {2},
         ["max_connections", "lots"], []),
        ("unknown URI scheme", BLOCKS, f"mysql://amp_test@{host_port}/amp_test", "new_scheme", [],
         {2}, ["mysql", "postgresql"], []),
    ]
    stream_variants = {"invalid SQL", "unknown column", "unknown table", "wrong password",
                       "unreachable Amp server", "incompatible column type"}
    failures = []
    ran = 0
    for case in cases:
        name, query, to, table, flags, codes, needles, forbidden = case[:8]
        server = case[8] if len(case) > 8 else dev.url
        variants = [flags]
        if name in stream_variants and "--stream" not in flags:
            variants.append(flags + ["--stream"])
        for extra in variants:
            ran += 1
            label = name + (" (--stream)" if "--stream" in extra else "")
            cp = lib.run_load(suite, server, query, to, table, *extra, timeout=90)
            text = cp.stdout + cp.stderr
            problems = []
            if cp.returncode not in codes:
                problems.append(f"exit {cp.returncode}, expected {sorted(codes)}")
            problems += [f"no {n!r} in the output" for n in needles if n not in text]
            problems += [f"the output echoes {s!r}" for s in forbidden if s in text]
            if "ampsync: error:" not in cp.stderr:
                problems.append("no 'ampsync: error:' line on stderr")
            after = snapshot(pg)
            for key in before:
                if after[key] != before[key]:
                    problems.append(f"destination changed: {key} {before[key]} -> {after[key]}")
            if problems:
                failures.append(f"{label}: " + "; ".join(problems) + f"\n    output: {text.strip()[-600:]}")
                lib.log(f"FAIL {label}")
                # Undo what the case did so that the next cases start from the same state.
                if table not in ("good", "badschema") and pg.table_exists(table):
                    pg.query(f"DROP TABLE public.{lib.quote_ident(table)}")
                before = snapshot(pg)
            else:
                error_line = [l for l in cp.stderr.splitlines() if l.startswith("ampsync: error:")][-1]
                lib.log(f"ok   {label}: exit {cp.returncode}: {error_line[:150]}")
    lib.check(not failures, f"{len(failures)} of {ran} bad-input cases failed:\n  " + "\n  ".join(failures))


def main() -> int:
    args = lib.common_args(__doc__.splitlines()[0]).parse_args()
    return lib.run_suite("pg_suite_bad_input", body, args)


if __name__ == "__main__":
    sys.exit(main())
