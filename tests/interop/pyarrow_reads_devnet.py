#!/usr/bin/env python3
"""pyarrow.flight and `ampsync query` read the same queries from `ampsync devnet`.

pyarrow is an independent Flight implementation, and this script builds the Flight SQL
command by hand from amp-protocol.md §1.1, so agreement means our client and our server
both speak the wire protocol rather than just each other's dialect.

Against one devnet subprocess (history 300 blocks, no live production, 50-block
microbatches) it asserts, per query:
  * FlightInfo: one endpoint, no locations, the DoGet schema equal to the FlightInfo schema;
  * the pyarrow side obeys Amp's app_metadata rules (amp_wire.ProtocolValidator: exact JSON
    form, a 0-row ranges_complete message closing every microbatch / the batch query,
    contiguous ranges whose prev_hash chains, prev_hash zero only at genesis);
  * `ampsync query --metadata-only` prints the same messages (rows, ranges,
    ranges_complete, and the invalidation the rules imply);
  * `ampsync query --format jsonl` prints the same rows, in the same order, with the column
    names of the schema and values in the JSON shape of their Arrow types.
Queries: a batch query over logs with a block range, other tables, a stream over blocks
stopped after a fixed number of messages, hex-literal filters (bare and quoted), and a
stream that sees a reorg injected through the devnet's DoAction control (both clients).
For the streams the rows are also checked against the ranges (the row of the end block
has the range's hash, the start row's parent_hash is the range's prev_hash).

Usage: pyarrow_reads_devnet.py --ampsync build/<dir>/tools/ampsync/ampsync
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amp_wire as w  # noqa: E402

HISTORY = 300
MICROBATCH = 50
TXS_PER_BLOCK = 3
LOGS_PER_BLOCK = 4
STREAM_MESSAGES = 10
REORG_DEPTH = 3
NETWORK = "mainnet"
CALL_TIMEOUT = 60.0


class Devnet:
    def __init__(self, ampsync: str):
        self.port = w.free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.cmd = [ampsync, "devnet", "--port", str(self.port), "--seed", "7",
                    "--history", str(HISTORY), "--halt-at", str(HISTORY), "--block-time", "0",
                    "--txs-per-block", str(TXS_PER_BLOCK), "--logs-per-block", str(LOGS_PER_BLOCK),
                    "--microbatch-blocks", str(MICROBATCH), "--keep-alive-ms", "600000"]
        # A file, not a pipe: nobody reads the log while the devnet runs, and a full pipe
        # would block it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        self.client = flight.connect(self.url)
        try:
            w.wait_until(lambda: self.proc.poll() is not None or self.status(), 60, "the devnet to answer")
        except AssertionError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError(f"`{' '.join(self.cmd)}` exited {self.proc.returncode}:\n{self.log.read()}")

    def action(self, kind: str, body: dict | None = None) -> dict:
        body_bytes = json.dumps(body).encode() if body is not None else b""
        results = list(self.client.do_action(flight.Action(kind, body_bytes),
                                             flight.FlightCallOptions(timeout=10)))
        return json.loads(results[0].body.to_pybytes())

    def status(self) -> dict:
        return self.action("ampsync.devnet.status")

    def stop(self) -> None:
        self.client.close()
        w.stop_process(self.proc)
        self.log.close()


class PyarrowRead:
    """One query read with pyarrow: schema, messages (as --metadata-only prints them), rows."""

    def __init__(self, devnet: Devnet, sql: str, streaming: bool, max_messages: int | None = None,
                 stop=None):
        call = flight.FlightCallOptions(timeout=CALL_TIMEOUT)
        descriptor = flight.FlightDescriptor.for_command(w.statement_query_command(sql))
        info = devnet.client.get_flight_info(descriptor, call)
        assert len(info.endpoints) == 1, f"{len(info.endpoints)} endpoints"
        assert not info.endpoints[0].locations, f"endpoint locations {info.endpoints[0].locations}"
        self.info_schema = info.schema
        reader = devnet.client.do_get(info.endpoints[0].ticket, call)
        self.validator = w.ProtocolValidator(streaming, MICROBATCH if streaming else None,
                                             first_start=0 if streaming else None)
        self.messages: list[dict] = []
        self.batches: list[pa.RecordBatch] = []
        self.rows: list[dict] = []
        while max_messages is None or len(self.messages) < max_messages:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            assert chunk.data is not None, "a FlightData without a record batch"
            inv = self.validator.feed(chunk.data.num_rows, chunk.app_metadata)
            meta = json.loads(chunk.app_metadata.to_pybytes())
            line = {"rows": chunk.data.num_rows, **meta}
            if inv:
                line["invalidates"] = inv
            self.messages.append(line)
            self.batches.append(chunk.data)
            self.rows.extend(w.batch_json_rows(chunk.data))
            if stop is not None and stop(self, line):
                break
        self.schema = reader.schema
        if max_messages is None and stop is None:
            self.validator.finish()
            assert not streaming, "a stream ended by itself"
        else:
            reader.cancel()
        assert self.info_schema.equals(self.schema), \
            f"FlightInfo schema differs from DoGet schema:\n{self.info_schema}\nvs\n{self.schema}"


def ampsync(args, devnet: Devnet, sql: str, *extra: str) -> str:
    return w.run([args.ampsync, "query", "--server", devnet.url, *extra, sql], timeout=120).stdout


def compare_with_cli(args, devnet: Devnet, ours: PyarrowRead, sql: str, stream_flags: list[str]) -> None:
    lines = w.metadata_lines(ampsync(args, devnet, sql, "--metadata-only", *stream_flags))
    for i, (want, got) in enumerate(zip(ours.messages, lines)):
        assert want == got, f"message {i}:\n  pyarrow {json.dumps(want)}\n  ampsync {json.dumps(got)}"
    assert len(lines) == len(ours.messages), f"{len(ours.messages)} messages via pyarrow, {len(lines)} via ampsync"

    rows = w.parse_jsonl(ampsync(args, devnet, sql, "--format", "jsonl", *stream_flags))
    names = ours.schema.names
    for i, row in enumerate(rows):
        assert list(row) == names, f"jsonl row {i} keys {list(row)} != schema {names}"
    for field in ours.schema:
        for i, row in enumerate(rows):
            problem = w.check_json_type(field, row[field.name])
            assert problem is None, f"jsonl row {i}: {problem}"
    w.compare_rows(ours.rows, rows, sql)


def check_block_rows(read: PyarrowRead) -> None:
    """Blocks table streamed: each microbatch's rows are exactly its blocks, hash-chained."""
    current: list[dict] = []
    for line, batch in zip(read.messages, read.batches):
        r = line["ranges"][0]
        s, e = r["numbers"]["start"], r["numbers"]["end"]
        rows = w.batch_json_rows(batch)
        for row in rows:
            assert s <= row["block_num"] <= e, f"block {row['block_num']} outside {w.rng_text(r)}"
        current.extend(rows)
        if line["ranges_complete"]:
            nums = [row["block_num"] for row in current]
            assert nums == list(range(s, e + 1)), f"{w.rng_text(r)} delivered blocks {nums}"
            assert current[-1]["hash"] == r["hash"], f"{w.rng_text(r)}: hash {r['hash']} != end block's"
            assert current[0]["parent_hash"] == r["prev_hash"], f"{w.rng_text(r)}: prev_hash mismatch"
            for a, b in zip(current, current[1:]):
                assert b["parent_hash"] == a["hash"], f"block {b['block_num']} does not chain"
            if "timestamp" in r:
                assert current[-1]["timestamp"].startswith(
                    time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r["timestamp"]))), (r, current[-1])
            current = []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampsync", required=True)
    args = ap.parse_args()
    failures = 0

    def step(name, fn):
        nonlocal failures
        try:
            summary = fn()
            print(f"ok: {name}" + (f" ({summary})" if summary else ""), flush=True)
        except (AssertionError, flight.FlightError, pa.ArrowException) as e:
            failures += 1
            print(f"FAIL: {name}: {e}", flush=True)
            traceback.print_exc(limit=4)

    devnet = Devnet(args.ampsync)
    try:
        head = devnet.status()["head"]
        assert head == HISTORY - 1, f"devnet head {head}, expected {HISTORY - 1}"
        ctx: dict = {}

        def batch_logs():
            sql = "SELECT * FROM eth_firehose.logs WHERE block_num >= 100 AND block_num <= 140"
            ours = PyarrowRead(devnet, sql, streaming=False)
            nums = [r["block_num"] for r in ours.rows]
            assert len(nums) == 41 * LOGS_PER_BLOCK, f"{len(nums)} rows for 41 blocks x {LOGS_PER_BLOCK} logs"
            assert set(nums) == set(range(100, 141)), "blocks outside the WHERE range or missing"
            assert ours.messages[-1]["rows"] == 0 and ours.messages[-1]["ranges_complete"]
            r = ours.messages[0]["ranges"]
            assert [x["numbers"] for x in r] == [{"start": 0, "end": HISTORY - 1}], \
                f"batch ranges must be the table's synced range, not the WHERE's: {r}"
            compare_with_cli(args, devnet, ours, sql, [])
            ctx["logs"] = ours.rows
            return f"{len(ours.rows)} rows in {len(ours.messages)} messages"

        def batch_other_tables():
            counts = []
            for sql in ("SELECT * FROM eth_firehose.blocks WHERE block_num < 5",
                        "SELECT * FROM eth_firehose.transactions WHERE block_num BETWEEN 10 AND 12",
                        "SELECT * FROM eth_firehose.calls WHERE block_num BETWEEN 20 AND 21",
                        'SELECT block_num, hash FROM "_/eth_firehose@1.0.0".blocks WHERE block_num = 299'):
                ours = PyarrowRead(devnet, sql, streaming=False)
                assert ours.rows, f"no rows: {sql}"
                compare_with_cli(args, devnet, ours, sql, [])
                counts.append(len(ours.rows))
            return f"{counts} rows"

        def stream_blocks():
            sql = "SELECT * FROM eth_firehose.blocks SETTINGS stream = true"
            ours = PyarrowRead(devnet, sql, streaming=True, max_messages=STREAM_MESSAGES)
            assert len(ours.messages) == STREAM_MESSAGES
            assert len(ours.validator.completed) >= 2, f"only {ours.validator.completed} completed"
            check_block_rows(ours)
            compare_with_cli(args, devnet, ours, sql, ["--stream", "--max-messages", str(STREAM_MESSAGES)])
            return f"{len(ours.rows)} rows, {len(ours.validator.completed)} microbatches completed"

        def hex_filters():
            logs = ctx.get("logs") or PyarrowRead(
                devnet, "SELECT * FROM eth_firehose.logs WHERE block_num >= 100 AND block_num <= 140",
                streaming=False).rows
            address, tx_hash = logs[5]["address"], logs[7]["tx_hash"]
            counts = []
            every = PyarrowRead(devnet, "SELECT block_num, log_index, address, tx_hash FROM eth_firehose.logs",
                                streaming=False).rows
            for sql, key, value in (
                    (f"SELECT block_num, log_index, address, topic0, data FROM eth_firehose.logs "
                     f"WHERE address = {address}", "address", address),
                    (f"SELECT * FROM eth_firehose.logs WHERE tx_hash = '{tx_hash}'", "tx_hash", tx_hash)):
                ours = PyarrowRead(devnet, sql, streaming=False)
                want = [(r["block_num"], r["log_index"]) for r in every if r[key] == value]
                got = [(r["block_num"], r["log_index"]) for r in ours.rows]
                assert got and sorted(got) == sorted(want), f"{sql}: rows {got}, expected {want}"
                assert all(r[key] == value for r in ours.rows)
                compare_with_cli(args, devnet, ours, sql, [])
                counts.append(len(ours.rows))
            return f"{counts} matching rows"

        def stream_to_head_matches_batch():
            sql = "SELECT block_num, hash, parent_hash, timestamp FROM eth_firehose.blocks"
            ours = PyarrowRead(devnet, sql + " SETTINGS stream = true", streaming=True,
                               stop=lambda rd, line: line["ranges_complete"] and
                               line["ranges"][0]["numbers"]["end"] == HISTORY - 1)
            check_block_rows(ours)
            batch = PyarrowRead(devnet, sql, streaming=False)
            w.compare_rows(batch.rows, ours.rows, "stream vs batch rows")
            return f"{len(ours.rows)} rows in {len(ours.validator.completed)} microbatches"

        def reorg_pyarrow():
            sql = "SELECT block_num, hash, parent_hash, timestamp FROM eth_firehose.blocks SETTINGS stream = true"
            state = {"reorged": False}

            def stop(rd, line):
                if line["ranges_complete"] and line["ranges"][0]["numbers"]["end"] == HISTORY - 1:
                    if state["reorged"]:
                        return True
                    devnet.action("ampsync.devnet.reorg", {"depth": REORG_DEPTH})
                    state["reorged"] = True
                return False

            ours = PyarrowRead(devnet, sql, streaming=True, stop=stop)
            want = [{"network": NETWORK, "start": HISTORY - REORG_DEPTH, "end": HISTORY - 1}]
            assert ours.validator.reorgs == want, f"reorgs seen {ours.validator.reorgs}, expected {want}"
            check_block_rows(ours)
            assert ours.rows[-1]["hash"] == devnet.status()["head_hash"], "rows after the reorg are stale"
            return f"invalidated {ours.validator.reorgs[0]}"

        def reorg_cli():
            sql = "SELECT block_num, hash FROM eth_firehose.blocks SETTINGS stream = true"
            proc = subprocess.Popen([args.ampsync, "query", "--server", devnet.url, "--stream",
                                     "--metadata-only", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                validator = w.ProtocolValidator(True, MICROBATCH, first_start=0)
                reorged = False
                reported = []
                for text in w.iter_lines_with_deadline(proc.stdout, time.monotonic() + 60):
                    line = json.loads(text)
                    raw = w.canonical_json({"ranges": line["ranges"], "ranges_complete": line["ranges_complete"]})
                    inv = validator.feed(line["rows"], raw.encode())
                    assert line.get("invalidates") == inv, f"ampsync reported {line.get('invalidates')}, rules say {inv}"
                    if inv:
                        reported.append(inv)
                    if line["ranges_complete"] and line["ranges"][0]["numbers"]["end"] == HISTORY - 1:
                        if reorged:
                            break
                        devnet.action("ampsync.devnet.reorg", {"depth": REORG_DEPTH})
                        reorged = True
                else:
                    raise AssertionError(f"ampsync exited {proc.wait()}: {proc.stderr.read().decode()}")
                want = [{"network": NETWORK, "start": HISTORY - REORG_DEPTH, "end": HISTORY - 1}]
                assert reported == want, f"ampsync reported {reported}, expected {want}"
                return f"invalidated {reported[0]}"
            finally:
                w.stop_process(proc)

        step("batch query over logs with a block range", batch_logs)
        step("batch queries over blocks, transactions and calls", batch_other_tables)
        step(f"stream over blocks, first {STREAM_MESSAGES} messages", stream_blocks)
        step("hex literal filters", hex_filters)
        step("stream to the head equals the batch result", stream_to_head_matches_batch)
        # These two change the chain; they run last.
        step("pyarrow stream sees an injected reorg", reorg_pyarrow)
        step("ampsync stream reports an injected reorg", reorg_cli)
    finally:
        devnet.stop()
    if failures:
        print(f"{failures} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
