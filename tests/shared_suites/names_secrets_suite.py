#!/usr/bin/env python3
"""Names and secrets: every destination refuses table and column names it (or the tools that
read it) cannot take before writing anything, and reads `env:NAME` secrets the same way,
inside connection URIs too (--destination pg|redis|delta).

One devnet (30 blocks, no live production) and one throwaway destination holding a table
`good` loaded beforehand. Names: each case runs `ampsync load` with a bad `--table` or a
bad column alias in the query and asserts exit 3 (docs/cli.md: a destination problem a
retry cannot fix), the message naming the destination, the (escaped) name and the rule,
and that the destination is exactly as before (PostgreSQL: every relation of the database
and the amp_client_state rows; Redis: every key with its value digest; Delta Lake: every
file under the root with its size). Cases shared by all: a table named "a<newline>b", an
empty column alias (AS ""), a column named _amp_block_start, and the --workers (parallel)
path with the newline table (duplicate column names are refused by the server's planner
already, and names that are not UTF-8 cannot be written on a command line: the unit tests
in src/loaders/common cover both). Per destination: PostgreSQL a
64-byte table name (it would be truncated) and the table amp_client_state; Redis a column
_amp_seq; Delta Lake "a%20b" (the deltalake package decodes it), "a\\b", columns that differ
only in case, a column with a space (Spark cannot read it without column mapping). After
each refusal the same load with a good name succeeds, so the refusal was the name's.

Secrets (pg, redis): the server needs a password; `env:VAR` written as a URI query
parameter (?password=env:VAR), as the user-info password (user:env:VAR@) and
percent-encoded (env%3AVAR) all load (the rows are read back), the password never
appears in output; an unset variable fails with exit 3 naming the variable.

Usage: names_secrets_suite.py --destination pg|redis|delta --ampsync build/<dir>/tools/ampsync/ampsync
       [--pg-script scripts/pg] [--redis-script scripts/redis] [--keep]
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import destinations as D

lib = D.lib
check = lib.check
log = lib.log

EXIT_REJECTED = 3
BLOCKS = "SELECT block_num, hash FROM eth_firehose.blocks"
PASSWORD = "s3cret-pw&with@odd:chars%2F"
ENV_VAR = "AMP_NAMES_SUITE_PASSWORD"


# --- destination snapshots: everything a failed load could have touched ----------------

def snapshot_pg(pg) -> list:
    return pg.query(
        "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "ORDER BY 1") + pg.query(
        "SELECT stream_id, transaction_id, md5(checkpoint::text) FROM public.amp_client_state "
        "ORDER BY 1")


def snapshot_redis(server) -> list:
    out = []
    for key in sorted(server.r.scan_iter(count=1000)):
        dump = server.r.dump(key) or b""
        out.append((key, hashlib.md5(dump).hexdigest()))
    return out


def snapshot_delta(root: Path) -> list:
    if not root.exists():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def body(suite: lib.Suite) -> None:
    dest_name = suite.args.destination
    dest = D.make(suite)
    dev = suite.devnet("--seed", "5", "--history", "30", "--block-time", "0",
                       "--microbatch-blocks", "10")
    if dest_name == "pg":
        snapshot = lambda: snapshot_pg(dest.pg)  # noqa: E731
        tag = "[postgres]"
    elif dest_name == "redis":
        snapshot = lambda: snapshot_redis(dest.server)  # noqa: E731
        tag = "[redis]"
    else:
        snapshot = lambda: snapshot_delta(dest.root)  # noqa: E731
        tag = "[delta]"

    if suite.args.part == "secrets":
        if dest_name != "delta":
            secrets(suite, dest, dev)
        return
    cp = lib.run_load(suite, dev.url, BLOCKS, dest.uri(), "good")
    check(cp.returncode == 0, f"setup load failed: {cp.stderr}")
    before = snapshot()
    check(before, "setup: the destination is empty after the first load")

    # name, query, table, extra flags, needles in stderr
    cases = [
        ("newline in the table name", BLOCKS, "a\nb", [],
         ['table name "a\\nb" is not allowed', "control character U+000A"]),
        ("empty column alias", 'SELECT block_num, hash AS "" FROM eth_firehose.blocks', "empty_alias", [],
         ['column name "" (column 2 of the query', "must not be empty"]),
        ("our own column name", "SELECT block_num, hash AS _amp_block_start FROM eth_firehose.blocks",
         "own_column", [], ['column name "_amp_block_start"', "adds a column of that name itself"]),
        ("newline table, parallel", BLOCKS, "a\nb", ["--workers", "2", "--from-block", "0", "--to-block", "20"],
         ['table name "a\\nb" is not allowed']),
    ]
    if dest_name == "pg":
        cases += [
            ("64-byte table name", BLOCKS, "t" * 64, [], ["64 bytes long, the limit is 63", "truncates"]),
            ("the state table's name", BLOCKS, "amp_client_state", [], ["keeps its own state"]),
        ]
    elif dest_name == "redis":
        cases += [
            ("the sequence field", "SELECT block_num, hash AS _amp_seq FROM eth_firehose.blocks", "seq", [],
             ['column name "_amp_seq"']),
        ]
    else:
        cases += [
            ("an escape in the table name", BLOCKS, "a%20b", [], ["'%'", "escapes"]),
            ("a backslash in the table name", BLOCKS, "a\\b", [], ["'\\'"]),
            ("columns that differ in case", 'SELECT block_num, hash AS "Block_Num" FROM eth_firehose.blocks',
             "case_dup", [], ['differs from column "block_num" only in case']),
            ("a space in a column name", 'SELECT block_num, hash AS "block hash" FROM eth_firehose.blocks',
             "space", [], ["' ' (space)", "column mapping"]),
        ]
    for name, query, table, flags, needles in cases:
        for mode in ([], ["--stream"]) if not flags else ([],):
            what = f"{name}{' (stream)' if mode else ''}"
            cp = lib.run_load(suite, dev.url, query, dest.uri(), table, *flags, *mode, timeout=60)
            check(cp.returncode == EXIT_REJECTED,
                  f"{what}: exit {cp.returncode}, expected {EXIT_REJECTED}\n{cp.stderr}")
            for needle in [tag] + needles:
                check(needle in cp.stderr, f"{what}: {needle!r} missing from stderr:\n{cp.stderr}")
            after = snapshot()
            check(after == before, f"{what}: the destination changed:\nbefore {before}\nafter  {after}")
            log(f"{what}: refused, exit 3, nothing written: {cp.stderr.strip().splitlines()[-1]}")

    # The refusals were about the names: the same loads with good names succeed.
    cp = lib.run_load(suite, dev.url, 'SELECT block_num, hash AS "hash_2" FROM eth_firehose.blocks',
                      dest.uri(), "renamed")
    check(cp.returncode == 0, f"good-name load failed: {cp.stderr}")

    if dest_name == "delta" or suite.args.part == "names":
        return
    secrets(suite, dest, dev)


def secrets(suite: lib.Suite, dest, dev) -> None:
    """A password-protected server, reached with env: references inside the URI."""
    dest_name = dest.name
    os.environ[ENV_VAR] = PASSWORD
    os.environ.pop(ENV_VAR + "_UNSET", None)
    if dest_name == "pg":
        pg = dest.pg
        # scripts/pg's password role; it may create tables in its own schema only.
        pg.query("CREATE SCHEMA secure AUTHORIZATION amp_secure")
        pg.query(f"ALTER ROLE amp_secure PASSWORD '{PASSWORD}'")
        hostport = f"127.0.0.1:{pg.port}"
        base = f"postgresql://amp_secure@{hostport}/amp_test"
        uris = {
            "query parameter": f"{base}?password=env:{ENV_VAR}&schema=secure",
            "user-info password": f"postgresql://amp_secure:env:{ENV_VAR}@{hostport}/amp_test?schema=secure",
            "percent-encoded reference": f"{base}?password=env%3A{ENV_VAR}&schema=secure",
        }
        unset = f"{base}?password=env:{ENV_VAR}_UNSET&schema=secure"

        def rows(table: str) -> int:
            return int(pg.scalar(f'SELECT count(*) FROM secure."{table}"'))
    else:
        import redis_suite_lib as R
        server = R.redis_server(suite, "--password", PASSWORD)
        hostport = server.uri.split("://", 1)[1].split("/", 1)[0].split("@")[-1]
        uris = {
            "query parameter": f"redis://{hostport}/0?password=env:{ENV_VAR}",
            "user-info password": f"redis://:env:{ENV_VAR}@{hostport}/0",
            "percent-encoded reference": f"redis://:env%3A{ENV_VAR}@{hostport}/0",
        }
        unset = f"redis://{hostport}/0?password=env:{ENV_VAR}_UNSET"

        def rows(table: str) -> int:
            return int(server.r.zcard(f"amp:idx:{table}"))
    for i, (how, uri) in enumerate(uris.items()):
        table = f"secret_{i}"
        cp = lib.run_load(suite, dev.url, BLOCKS, uri, table)
        check(cp.returncode == 0, f"env: password as {how}: exit {cp.returncode}\n{cp.stderr}")
        check(PASSWORD not in cp.stdout + cp.stderr, f"{how}: the password was printed")
        n = rows(table)
        check(n == 30, f"{how}: {n} rows loaded, expected 30")
        log(f"env: password as {how}: loaded {n} rows")
    cp = lib.run_load(suite, dev.url, BLOCKS, unset, "secret_unset")
    check(cp.returncode == EXIT_REJECTED, f"unset variable: exit {cp.returncode}\n{cp.stderr}")
    check(f"{ENV_VAR}_UNSET, which is not set" in cp.stderr, f"unset variable not named:\n{cp.stderr}")
    check(PASSWORD not in cp.stdout + cp.stderr, "unset variable: the password was printed")
    log("unset variable: refused, exit 3, names it")


def main() -> int:
    ap = D.common_args(__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "names", "secrets"], default="all",
                    help="run one half only (default: both)")
    args = ap.parse_args()
    return lib.run_suite(f"shared_suite_names_secrets_{args.destination}", body, args)


if __name__ == "__main__":
    sys.exit(main())
