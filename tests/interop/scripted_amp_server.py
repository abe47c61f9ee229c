#!/usr/bin/env python3
"""A Flight server that replays scripted Amp sessions, byte for byte, for client tests.

Why not pyarrow.flight.FlightServerBase: its GeneratorStream turns each yielded
(RecordBatch, app_metadata) into a record-batch message only and never emits dictionary
messages, so a dictionary-encoded column cannot be served with app_metadata (the client
fails with "IPC stream did not have the expected number (1) of dictionaries"). This server
speaks the Flight gRPC service directly (grpcio, hand-encoded protobuf) and takes the IPC
messages from pyarrow's stream writer, so every FlightData is exactly what Amp would send:
schema first, the dictionary message without app_metadata, then each record batch with its
app_metadata JSON in Amp's form (sorted keys, compact).

Protocol behaviour mirrored from amp-protocol.md §1:
  * GetFlightInfo accepts only a CMD descriptor holding an Any-packed
    CommandStatementQuery with the exact type_url (INVALID_ARGUMENT otherwise);
  * the FlightInfo has one endpoint, no locations, total_records/total_bytes -1; its ticket
    is a bincode AmpTicket {query, is_streaming, cursor: None};
  * streaming is decided by the amp-stream header, else `SETTINGS stream = true`;
  * Handshake (a panic in Amp) and every other RPC are refused.

Scenarios, chosen by the table in the SQL (`SELECT * FROM scripted.<name>`):
  reorg: keep-alive, microbatches 0..=9 (two data batches), 10..=19 (with a keep-alive
         inside), then a reorg to 18..=25 whose prev_hash does not chain, then 26..=30;
  gap:   0..=9 then 12..=15, a protocol violation a client must reject;
  batch: a non-streaming result: two data batches and the 0-row completion.
Behaviours, for the command line's edge cases (tests/cli/cli_test.py), where the answer
depends on the call (the amp-resume header, how often the same query was asked):
  silent:       DoGet sends nothing (not even the schema, as ampd before its first
                microbatch) until the client cancels; batch or streaming;
  slowinfo:     GetFlightInfo never answers until the client cancels;
  unsynced[N]:  ampd's answer on a table with nothing synced: the schema, one 0-row
                {"ranges":[],"ranges_complete":true}, end of stream (a batch query gets
                the 0-row batch and completion with empty ranges); after N such answers
                to the same query (none: forever) microbatch 0..=9, then silence;
  drop:         microbatch 0..=9, then UNAVAILABLE; with amp-resume UNAVAILABLE at once;
  keepalive:    0..=9, a 0-row keep-alive with "ranges":[], 10..=19, then silence;
  netswitch:    0..=9 on mainnet, then UNAVAILABLE; with amp-resume the next microbatch
                arrives on another network (othernet), then silence;
  lagging:      0..=9 and 10..=19, a second later UNAVAILABLE; with amp-resume (a replica behind the
                cursor) nothing at all, as ampd waits silently until it reaches the cursor;
  deepreorg:    0..=9 .. 30..=39, then a reorg from block 5 (5..=40), then silence;
  exhausted:    GetFlightInfo fails RESOURCE_EXHAUSTED;
  infointernal: GetFlightInfo fails INTERNAL as ampd does for an unknown table.
Every call is logged as one JSON line (method, headers, query, ticket) to --log.

Usage: scripted_amp_server.py [--port 0] [--log FILE]; prints "LISTENING <port>".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
from concurrent import futures

import grpc
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amp_wire as w  # noqa: E402

NETWORK = "mainnet"
LABELS = ["transfer", "approval", "swap", "mint"]
GENESIS_TIME = 1_700_000_000
# The reorg scenario's fork: heights >= REORG_FROM are replaced by branch 1 after block 19.
REORG_FROM = 18

SCHEMA = pa.schema([
    pa.field("block_num", pa.uint64(), nullable=False),
    pa.field("label", pa.dictionary(pa.int32(), pa.string())),
    pa.field("note", pa.string_view()),
    pa.field("payload", pa.binary_view()),
    pa.field("hash", pa.binary(32), nullable=False),
])


def block_hash(n: int, branch: int) -> bytes:
    return hashlib.sha256(f"scripted:{branch}:{n}".encode()).digest()


def hex32(b: bytes) -> str:
    return "0x" + b.hex()


def rows_for_block(n: int, branch: int) -> list[dict]:
    """Two rows per block. Values exercise inline (<= 12 bytes) and out-of-line view
    values, nulls in every nullable column, and a shared dictionary."""
    rows = []
    for k in range(2):
        rows.append({
            "block_num": n,
            "label": None if (n + k) % 11 == 5 else LABELS[(2 * n + k) % len(LABELS)],
            "note": (f"b{n}" if k == 0 else f"block {n} branch {branch}: a note longer than twelve bytes")
            if not (k == 1 and n % 7 == 3) else None,
            "payload": None if (k == 0 and n % 9 == 4) else bytes([n, k, branch]) * (1 if k == 0 else 8),
            "hash": block_hash(n, branch),
        })
    return rows


def make_batch(rows: list[dict]) -> pa.RecordBatch:
    dictionary = pa.array(LABELS, pa.string())
    indices = pa.array([None if r["label"] is None else LABELS.index(r["label"]) for r in rows], pa.int32())
    return pa.record_batch([
        pa.array([r["block_num"] for r in rows], pa.uint64()),
        pa.DictionaryArray.from_arrays(indices, dictionary),
        pa.array([r["note"] for r in rows], pa.string_view()),
        pa.array([r["payload"] for r in rows], pa.binary_view()),
        pa.array([r["hash"] for r in rows], pa.binary(32)),
    ], schema=SCHEMA)


class Chain:
    """Which branch each height is on; the reorg scenario switches heights >= 18."""

    def __init__(self):
        self.reorged = False

    def branch(self, n: int) -> int:
        return 1 if self.reorged and n >= REORG_FROM else 0

    def range(self, start: int, end: int) -> dict:
        prev = w.ZERO_HASH if start == 0 else hex32(block_hash(start - 1, self.branch(start - 1)))
        return w.block_range(NETWORK, start, end, hex32(block_hash(end, self.branch(end))), prev,
                             GENESIS_TIME + 12 * end)

    def rows(self, start: int, end: int) -> list[dict]:
        return [r for n in range(start, end + 1) for r in rows_for_block(n, self.branch(n))]


def scenario(name: str) -> list[tuple[list[dict], dict]]:
    """The messages of a scenario: (rows, app_metadata dict) in wire order."""
    chain = Chain()
    msgs: list[tuple[list[dict], dict]] = []

    def data(start, end, rows_from=None, rows_to=None, rng=None):
        rng = rng or chain.range(start, end)
        rows = chain.rows(start if rows_from is None else rows_from, end if rows_to is None else rows_to)
        msgs.append((rows, {"ranges": [rng], "ranges_complete": False}))

    def empty(start, end, complete):
        msgs.append(([], {"ranges": [chain.range(start, end)], "ranges_complete": complete}))

    if name == "reorg":
        empty(0, 9, False)                 # keep-alive at the start of the first microbatch
        data(0, 9, 0, 4)                   # a microbatch split into two data messages
        data(0, 9, 5, 9)
        empty(0, 9, True)
        data(10, 19)
        empty(10, 19, False)               # keep-alive inside a microbatch
        empty(10, 19, True)
        chain.reorged = True               # 18 and 19 replaced: restart at 18, prev = hash(17)
        data(18, 25)
        empty(18, 25, True)
        data(26, 30)
        empty(26, 30, True)
    elif name == "gap":
        data(0, 9)
        empty(0, 9, True)
        data(12, 15)                       # 10 and 11 never sent
        empty(12, 15, True)
    elif name == "batch":
        full = chain.range(0, 30)
        data(0, 30, 0, 14, rng=full)
        data(0, 30, 15, 30, rng=full)
        msgs.append(([], {"ranges": [full], "ranges_complete": True}))
    else:
        raise KeyError(name)
    return msgs


SCENARIOS = ("reorg", "gap", "batch")
BEHAVIOURS = ("silent", "slowinfo", "unsynced", "drop", "keepalive", "netswitch", "lagging",
              "deepreorg", "exhausted", "infointernal")
# Behaviours that also answer batch queries (a hybrid load's head detection and partitions).
BATCH_BEHAVIOURS = ("silent", "unsynced")


def behaviour_script(name: str, resumed: bool, repeat: int) -> tuple[list, str]:
    """The messages of a behaviour's streaming DoGet and how the call ends afterwards:
    "end" (gRPC OK), "hold" (silence until cancelled), "unavailable", or
    "quiet-then-unavailable" (a second of silence first, so that the client has committed
    what it received before the failover)."""
    chain = Chain()
    msgs: list[tuple[list[dict], dict]] = []

    def micro(start, end, network=NETWORK):
        rng = chain.range(start, end)
        rng["network"] = network
        msgs.append((chain.rows(start, end), {"ranges": [rng], "ranges_complete": False}))
        msgs.append(([], {"ranges": [rng], "ranges_complete": True}))

    base, count = re.match(r"([a-z]+)(\d*)$", name).groups()
    if base == "silent":
        return [], "hold"
    if base == "unsynced":
        if not count or repeat < int(count):
            return [([], {"ranges": [], "ranges_complete": True})], "end"
        micro(0, 9)
        return msgs, "hold"
    if base == "drop":
        if resumed:
            return [], "unavailable"
        micro(0, 9)
        return msgs, "unavailable"
    if base == "keepalive":
        micro(0, 9)
        msgs.append(([], {"ranges": [], "ranges_complete": False}))
        micro(10, 19)
        return msgs, "hold"
    if base == "netswitch":
        if resumed:
            micro(10, 19, network="othernet")
            return msgs, "hold"
        micro(0, 9)
        return msgs, "unavailable"
    if base == "lagging":
        if resumed:
            return [], "hold"
        micro(0, 9)
        micro(10, 19)
        return msgs, "quiet-then-unavailable"
    if base == "deepreorg":
        for start in range(0, 40, 10):
            micro(start, start + 9)
        rng = w.block_range(NETWORK, 5, 40, hex32(block_hash(40, 1)), hex32(block_hash(4, 1)))
        msgs.append((chain.rows(5, 40), {"ranges": [rng], "ranges_complete": False}))
        msgs.append(([], {"ranges": [rng], "ranges_complete": True}))
        return msgs, "hold"
    raise KeyError(name)


def encode_messages(script: list) -> list[bytes]:
    """Serialized FlightData protobufs of (rows, app_metadata) messages, schema first."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        for rows, _ in script:
            writer.write_batch(make_batch(rows))
    reader = pa.ipc.MessageReader.open_stream(sink.getvalue())
    out = []
    batch_index = 0
    while True:
        try:
            msg = reader.read_next_message()
        except StopIteration:
            break
        if msg is None:
            break
        fd = w.pb_bytes(2, msg.metadata.to_pybytes())  # data_header
        if msg.type == "record batch":
            fd += w.pb_bytes(3, w.canonical_json(script[batch_index][1]).encode())  # app_metadata
            batch_index += 1
        if msg.body is not None and msg.body.size:
            fd += w.pb_bytes(1000, msg.body.to_pybytes())  # data_body
        out.append(fd)
    assert batch_index == len(script), (batch_index, len(script))
    return out


def flight_data_messages(name: str) -> list[bytes]:
    """Serialized FlightData protobufs of a scenario's DoGet stream."""
    return encode_messages(scenario(name))


def scenario_of(query: str) -> str:
    m = re.search(r"\bscripted\.(\w+)", query)
    if not m or (m.group(1) not in SCENARIOS and behaviour_of(m.group(1)) is None):
        raise KeyError(f"table not found: {query!r} (known: scripted.{{{','.join(SCENARIOS + BEHAVIOURS)}}})")
    return m.group(1)


def behaviour_of(name: str):
    """The behaviour a scenario name selects (a name, optionally followed by a count)."""
    m = re.match(r"([a-z]+)\d*$", name)
    return m.group(1) if m and m.group(1) in BEHAVIOURS else None


def is_streaming(query: str, headers: dict) -> bool:
    forced = headers.get("amp-stream", "").lower()
    if forced in ("true", "1"):
        return True
    if forced in ("false", "0"):
        return False
    return re.search(r"\bSETTINGS\s+stream\s*=\s*true\b", query, re.IGNORECASE) is not None


class Service(grpc.GenericRpcHandler):
    PREFIX = "/arrow.flight.protocol.FlightService/"

    def __init__(self, log_path: str | None):
        self.log_path = log_path
        self.lock = threading.Lock()
        self.repeats: dict[str, int] = {}  # DoGet calls per query text
        self.resumed: dict[str, bool] = {}  # the last GetFlightInfo of the query had amp-resume

    def log(self, entry: dict) -> None:
        if not self.log_path:
            return
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def service(self, details):
        method = details.method
        headers = {k: v for k, v in details.invocation_metadata if isinstance(v, str)}
        name = method[len(self.PREFIX):] if method.startswith(self.PREFIX) else method
        if name == "GetFlightInfo":
            return grpc.unary_unary_rpc_method_handler(lambda req, ctx: self.get_flight_info(req, ctx, headers))
        if name == "DoGet":
            return grpc.unary_stream_rpc_method_handler(lambda req, ctx: self.do_get(req, ctx, headers))
        self.log({"method": name, "headers": headers})
        # Amp answers UNIMPLEMENTED for all others and panics on Handshake; either way a
        # client must not call them, and the test checks the log.
        return None

    def get_flight_info(self, request: bytes, ctx, headers: dict) -> bytes:
        entry = {"method": "GetFlightInfo", "headers": headers}
        try:
            fields = w.pb_parse(request)
            if w.pb_field(fields, 1, 0) != 2:  # FlightDescriptor.type: CMD
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported flight descriptor type")
            try:
                query = w.parse_statement_query_command(w.pb_field(fields, 2, b""))
            except ValueError as e:
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            entry["query"] = query
            try:
                name = scenario_of(query)
            except KeyError as e:
                ctx.abort(grpc.StatusCode.NOT_FOUND, str(e.args[0]))
            streaming = is_streaming(query, headers)
            behaviour = behaviour_of(name)
            if behaviour == "slowinfo":
                while ctx.is_active():
                    time.sleep(0.02)
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "never answered")
            if behaviour == "exhausted":
                ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          "request header list size exceeds the server's limit")
            if behaviour == "infointernal":
                ctx.abort(grpc.StatusCode.INTERNAL,
                          "failed to infer SQL output schema | Caused by: Error during planning: "
                          f"table '{name}' not found")
            if behaviour in BATCH_BEHAVIOURS:
                pass
            elif (name == "batch") == streaming:
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"scenario {name} must be run {'without' if streaming else 'with'} streaming")
            with self.lock:
                # amp-resume travels in the ticket for ampd; here the DoGet that follows
                # looks it up by query text.
                self.resumed[query] = "amp-resume" in headers
            ticket = w.encode_amp_ticket(query, streaming)
            entry["ticket"] = ticket.hex()
            entry["streaming"] = streaming
            endpoint = w.pb_bytes(1, w.pb_bytes(1, ticket))   # FlightEndpoint.ticket = Ticket{ticket}
            return (w.pb_bytes(1, SCHEMA.serialize().to_pybytes())  # schema (encapsulated IPC)
                    + w.pb_bytes(2, request)                         # flight_descriptor, echoed
                    + w.pb_bytes(3, endpoint)
                    + w.pb_int(4, -1) + w.pb_int(5, -1))             # total_records/bytes unknown
        finally:
            self.log(entry)

    def do_get(self, request: bytes, ctx, headers: dict):
        ticket = w.pb_field(w.pb_parse(request), 1, b"")
        entry = {"method": "DoGet", "headers": headers, "ticket": ticket.hex()}
        self.log(entry)
        try:
            query, streaming = w.decode_amp_ticket(ticket)
            name = scenario_of(query)
        except Exception as e:  # noqa: BLE001 - any malformed ticket is the client's error
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ticket decoding error: {e}")
        behaviour = behaviour_of(name)
        if behaviour is None:
            yield from flight_data_messages(name)
            return
        with self.lock:
            repeat = self.repeats.get(query, 0)
            self.repeats[query] = repeat + 1
            resumed = self.resumed.get(query, False)
        if not streaming:
            if behaviour == "silent":
                ending = "hold"
                script = []
            else:  # unsynced: a batch query over an unsynced table
                script = [([], {"ranges": [], "ranges_complete": False}),
                          ([], {"ranges": [], "ranges_complete": True})]
                ending = "end"
        else:
            script, ending = behaviour_script(name, resumed, repeat)
        if script:
            yield from encode_messages(script)
        if ending == "hold":
            while ctx.is_active():
                time.sleep(0.02)
        elif ending in ("unavailable", "quiet-then-unavailable"):
            if ending == "quiet-then-unavailable":
                time.sleep(1.0)
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "the replica is restarting")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append one JSON line per RPC to this file")
    args = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    server.add_generic_rpc_handlers((Service(args.log),))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    if port == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    server.start()
    print(f"LISTENING {port}", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
