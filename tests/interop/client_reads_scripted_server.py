#!/usr/bin/env python3
"""Our client (through `ampsync query`) against a scripted Amp server (scripted_amp_server.py).

The server replays fixed sessions byte for byte, so this checks the client's handling of
what the devnet never sends: dictionary messages, Utf8View/BinaryView columns, keep-alives
before any data and inside a microbatch, a reorg, and a protocol violation (a gap).

Asserted:
  * `--stream --metadata-only` prints every message in order (keep-alives and 0-row
    completions included) with exactly the scripted ranges, and reports the reorg as
    invalidates {mainnet, 18, 25} on the first message of range 18..=25 and nowhere else;
  * `--stream --format jsonl` prints exactly the scripted rows: the dictionary column
    decoded to its strings, view columns to their values, binaries as 0x hex, nulls as null;
  * a batch (non-streaming) scenario prints all its messages and rows;
  * the gap scenario makes the CLI exit non-zero with an error naming the gap, after it has
    printed the valid messages before it;
  * the client made only GetFlightInfo then DoGet, sent the Any-packed command, passed the
    ticket back unchanged, sent `authorization: Bearer <token>` on both calls and
    `amp-stream: true` for --stream.
The same sessions are first read with pyarrow.flight as a self-check of the script.

Usage: client_reads_scripted_server.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import traceback

import pyarrow.flight as flight

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import amp_wire as w  # noqa: E402
import scripted_amp_server as scripted  # noqa: E402

TOKEN = "interop-test-token"
STREAM_SQL = "SELECT * FROM scripted.{} SETTINGS stream = true"


def expected_metadata_lines(name: str) -> list[dict]:
    """What `--metadata-only` must print: the script, plus the client's invalidation."""
    validator = w.ProtocolValidator(streaming=name != "batch")
    out = []
    for rows, meta in scripted.scenario(name):
        line = {"rows": len(rows), "ranges": meta["ranges"], "ranges_complete": meta["ranges_complete"]}
        inv = validator.feed(len(rows), w.canonical_json(meta).encode())
        if inv:
            line["invalidates"] = inv
        out.append(line)
    return out


def expected_json_rows(name: str) -> list[dict]:
    out = []
    for rows, _ in scripted.scenario(name):
        if rows:
            out.extend(w.batch_json_rows(scripted.make_batch(rows)))
    return out


def check_script_with_pyarrow(port: int) -> None:
    """Self-check: pyarrow reads the scripted sessions as scripted."""
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    for name in ("reorg", "batch"):
        sql = STREAM_SQL.format(name) if name != "batch" else "SELECT * FROM scripted.batch"
        info = client.get_flight_info(flight.FlightDescriptor.for_command(w.statement_query_command(sql)))
        assert len(info.endpoints) == 1 and not info.endpoints[0].locations, info.endpoints
        reader = client.do_get(info.endpoints[0].ticket)
        got_meta, got_rows = [], []
        validator = w.ProtocolValidator(streaming=name != "batch")
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            inv = validator.feed(chunk.data.num_rows, chunk.app_metadata)
            line = {"rows": chunk.data.num_rows, **json.loads(chunk.app_metadata.to_pybytes())}
            if inv:
                line["invalidates"] = inv
            got_meta.append(line)
            got_rows.extend(w.batch_json_rows(chunk.data))
        validator.finish()
        assert reader.schema.equals(scripted.SCHEMA), reader.schema
        assert got_meta == expected_metadata_lines(name), f"pyarrow self-check {name}: {got_meta}"
        w.compare_rows(expected_json_rows(name), got_rows, f"pyarrow self-check {name}")
    # The validator the devnet test relies on must reject the gap too.
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        w.statement_query_command(STREAM_SQL.format("gap"))))
    reader = client.do_get(info.endpoints[0].ticket)
    validator = w.ProtocolValidator(streaming=True)
    try:
        for chunk in iter(reader.read_chunk, None):
            validator.feed(chunk.data.num_rows, chunk.app_metadata)
    except w.ProtocolError as e:
        assert "gap" in str(e), e
    except StopIteration:
        raise AssertionError("ProtocolValidator accepted the gap scenario")
    else:
        raise AssertionError("ProtocolValidator accepted the gap scenario")


def ampsync_query(ampsync: str, port: int, sql: str, *extra: str, check=True):
    cmd = [ampsync, "query", "--server", f"grpc://127.0.0.1:{port}", "--token", TOKEN, *extra, sql]
    return w.run(cmd, timeout=60, check=check)


def read_log(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_calls(log: list[dict], sql: str, stream: bool) -> None:
    """The client's RPCs for one query: GetFlightInfo then DoGet with the same ticket."""
    methods = [e["method"] for e in log]
    assert methods == ["GetFlightInfo", "DoGet"], f"RPCs made: {methods} (expected GetFlightInfo, DoGet)"
    info, get = log
    assert info.get("query") == sql, f"server decoded query {info.get('query')!r}, sent {sql!r}"
    assert get["ticket"] == info["ticket"], "DoGet ticket differs from the FlightInfo ticket"
    for e in log:
        auth = e["headers"].get("authorization")
        assert auth == f"Bearer {TOKEN}", f"{e['method']}: authorization header {auth!r}"
    if stream:
        assert info["headers"].get("amp-stream") == "true", f"amp-stream header: {info['headers']}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampsync", required=True)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "calls.jsonl")
        server = subprocess.Popen([sys.executable, os.path.join(HERE, "scripted_amp_server.py"),
                                   "--log", log_path], stdout=subprocess.PIPE, text=True)
        failures = 0

        def step(name, fn):
            nonlocal failures
            if os.path.exists(log_path):
                os.remove(log_path)
            try:
                fn()
                print(f"ok: {name}")
            except AssertionError as e:
                failures += 1
                print(f"FAIL: {name}: {e}")
                traceback.print_exc(limit=3)

        try:
            line = server.stdout.readline()
            assert line.startswith("LISTENING "), f"scripted server did not start: {line!r}"
            port = int(line.split()[1])

            step("pyarrow self-check", lambda: check_script_with_pyarrow(port))

            def metadata_reorg():
                sql = STREAM_SQL.format("reorg")
                proc = ampsync_query(args.ampsync, port, sql, "--stream", "--metadata-only")
                got = w.metadata_lines(proc.stdout)
                want = expected_metadata_lines("reorg")
                for i, (g, e) in enumerate(zip(got, want)):
                    assert g == e, f"message {i}:\n  ampsync  {json.dumps(g)}\n  expected {json.dumps(e)}"
                assert len(got) == len(want), f"{len(got)} messages printed, {len(want)} sent"
                inv = [(i, g["invalidates"]) for i, g in enumerate(got) if "invalidates" in g]
                assert inv == [(7, {"network": "mainnet", "start": 18, "end": 25})], inv
                check_calls(read_log(log_path), sql, stream=True)

            def jsonl_reorg():
                sql = STREAM_SQL.format("reorg")
                proc = ampsync_query(args.ampsync, port, sql, "--stream", "--format", "jsonl")
                got = w.parse_jsonl(proc.stdout)
                want = expected_json_rows("reorg")
                w.compare_rows(want, got, "reorg rows")
                # Literal spot checks, independent of the shared conversion code.
                assert got[0] == {"block_num": 0, "label": "transfer", "note": "b0", "payload": "0x000000",
                                  "hash": "0x" + scripted.block_hash(0, 0).hex()}, got[0]
                assert got[1]["note"] == "block 0 branch 0: a note longer than twelve bytes", got[1]
                assert got[1]["payload"] == "0x" + "000100" * 8, got[1]
                assert [r["label"] for r in got[10:14]] == [None, "mint", "transfer", "approval"], got[10:14]
                assert got[7]["note"] is None and got[8]["payload"] is None, (got[7], got[8])
                reorged = [r for r in got if r["block_num"] == 18]
                assert [r["hash"] for r in reorged] == ["0x" + scripted.block_hash(18, 0).hex()] * 2 + \
                    ["0x" + scripted.block_hash(18, 1).hex()] * 2, reorged
                check_calls(read_log(log_path), sql, stream=True)

            def batch():
                sql = "SELECT * FROM scripted.batch"
                proc = ampsync_query(args.ampsync, port, sql, "--metadata-only")
                assert w.metadata_lines(proc.stdout) == expected_metadata_lines("batch"), proc.stdout
                check_calls(read_log(log_path), sql, stream=False)
                proc = ampsync_query(args.ampsync, port, sql, "--format", "jsonl")
                w.compare_rows(expected_json_rows("batch"), w.parse_jsonl(proc.stdout), "batch rows")

            def gap():
                sql = STREAM_SQL.format("gap")
                proc = ampsync_query(args.ampsync, port, sql, "--stream", "--metadata-only", check=False)
                assert proc.returncode != 0, f"ampsync accepted a gap (exit 0):\n{proc.stdout}"
                err = proc.stderr.lower()
                assert "gap" in err and "12" in err, f"error does not name the gap: {proc.stderr!r}"
                got = w.metadata_lines(proc.stdout)
                want = expected_metadata_lines_until_gap()
                assert got == want, f"messages before the gap:\n{proc.stdout}"

            def expected_metadata_lines_until_gap():
                return [{"rows": len(rows), **meta} for rows, meta in scripted.scenario("gap")[:2]]

            step("metadata-only stream with keep-alives and a reorg", metadata_reorg)
            step("jsonl rows: dictionary, view, fixed-size binary columns", jsonl_reorg)
            step("batch scenario", batch)
            step("gap is a protocol error", gap)
        finally:
            w.stop_process(server)
    if failures:
        print(f"{failures} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
