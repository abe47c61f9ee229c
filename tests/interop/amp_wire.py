"""Shared helpers of the interop tests: Amp wire encodings written from the protocol notes
(/work/shared/reference/amp-protocol.md), independent of our C++ code, so that the tests
compare two independent implementations.

Provides:
  * a minimal protobuf encoder/decoder and the Flight SQL command (Any-packed
    CommandStatementQuery) and Amp ticket (bincode AmpTicket) encodings;
  * canonical app_metadata JSON (what serde_json emits: sorted keys, compact);
  * conversion of Arrow values to the `ampsync query --format jsonl` conventions;
  * ProtocolValidator: the app_metadata invariants of amp-protocol.md §2.3-2.7, which also
    computes the reorg invalidation a client must report;
  * process helpers (free ports, running ampsync with a timeout).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import os
import re
import select
import socket
import subprocess
import time
from typing import Any, Iterable, Optional

import pyarrow as pa

ZERO_HASH = "0x" + "00" * 32
STATEMENT_QUERY_TYPE_URL = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
_HASH_RE = re.compile(r"^0x[0-9a-f]{64}$")

# ---------------------------------------------------------------------------------------
# Protobuf (only what Flight needs: varints, length-delimited fields).


def pb_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields encode negatives as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(field: int, data: bytes) -> bytes:
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + bytes(data)


def pb_int(field: int, value: int) -> bytes:
    return pb_varint(field << 3 | 0) + pb_varint(value)


def pb_parse(data: bytes) -> list[tuple[int, int, Any]]:
    """Returns (field number, wire type, value) for each field; value is int or bytes."""
    fields = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data):
                raise ValueError("truncated varint")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while pos < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            fields.append((field, wire, varint()))
        elif wire == 2:
            n = varint()
            if pos + n > len(data):
                raise ValueError("truncated length-delimited field")
            fields.append((field, wire, bytes(data[pos:pos + n])))
            pos += n
        elif wire == 1:
            fields.append((field, wire, bytes(data[pos:pos + 8])))
            pos += 8
        elif wire == 5:
            fields.append((field, wire, bytes(data[pos:pos + 4])))
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def pb_field(fields: list, number: int, default=None):
    for f, _, v in fields:
        if f == number:
            return v
    return default


def statement_query_command(sql: str) -> bytes:
    """FlightDescriptor.cmd for a SQL query: Any{type_url, value=CommandStatementQuery{query}}."""
    inner = pb_bytes(1, sql.encode("utf-8"))
    return pb_bytes(1, STATEMENT_QUERY_TYPE_URL.encode()) + pb_bytes(2, inner)


def parse_statement_query_command(cmd: bytes) -> str:
    """Inverse of statement_query_command, as strict as Amp (exact type_url)."""
    any_fields = pb_parse(cmd)
    type_url = pb_field(any_fields, 1, b"").decode("utf-8", "replace")
    if type_url != STATEMENT_QUERY_TYPE_URL:
        raise ValueError(f"unsupported flight descriptor command: {type_url}")
    query = pb_field(pb_parse(pb_field(any_fields, 2, b"")), 1, b"")
    return query.decode("utf-8")


# ---------------------------------------------------------------------------------------
# bincode (config::standard(): little-endian, varint integers) for Amp's ticket:
#   struct AmpTicket { query: String, is_streaming: bool, cursor: Option<BTreeMap<..>> }


def bincode_varint(value: int) -> bytes:
    if value < 251:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfb" + value.to_bytes(2, "little")
    if value < 1 << 32:
        return b"\xfc" + value.to_bytes(4, "little")
    return b"\xfd" + value.to_bytes(8, "little")


def encode_amp_ticket(query: str, is_streaming: bool) -> bytes:
    q = query.encode("utf-8")
    return bincode_varint(len(q)) + q + bytes([1 if is_streaming else 0]) + b"\x00"  # cursor: None


def decode_amp_ticket(ticket: bytes) -> tuple[str, bool]:
    first = ticket[0]
    if first < 251:
        n, pos = first, 1
    else:
        width = {0xFB: 2, 0xFC: 4, 0xFD: 8}[first]
        n, pos = int.from_bytes(ticket[1:1 + width], "little"), 1 + width
    query = ticket[pos:pos + n].decode("utf-8")
    return query, ticket[pos + n] == 1


# ---------------------------------------------------------------------------------------
# app_metadata


def canonical_json(value: Any) -> str:
    """serde_json's compact output of a sorted map, which is what Amp sends."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def block_range(network: str, start: int, end: int, hash_hex: str, prev_hash_hex: str,
                timestamp: Optional[int] = None) -> dict:
    r = {"network": network, "numbers": {"start": start, "end": end}, "hash": hash_hex,
         "prev_hash": prev_hash_hex}
    if timestamp is not None:
        r["timestamp"] = timestamp
    return r


def metadata_bytes(ranges: list, complete: bool) -> bytes:
    return canonical_json({"ranges": ranges, "ranges_complete": complete}).encode()


class ProtocolError(AssertionError):
    pass


def _check_range_shape(r: Any, where: str) -> None:
    if not isinstance(r, dict):
        raise ProtocolError(f"{where}: range is not an object: {r!r}")
    extra = set(r) - {"network", "numbers", "hash", "prev_hash", "timestamp"}
    missing = {"network", "numbers", "hash", "prev_hash"} - set(r)
    if extra or missing:
        raise ProtocolError(f"{where}: range keys wrong (missing {missing}, unexpected {extra}): {r}")
    nums = r["numbers"]
    if not isinstance(nums, dict) or set(nums) != {"start", "end"}:
        raise ProtocolError(f"{where}: numbers must be {{start,end}}: {nums}")
    if not all(isinstance(nums[k], int) and nums[k] >= 0 for k in ("start", "end")):
        raise ProtocolError(f"{where}: numbers must be unsigned integers: {nums}")
    if nums["start"] > nums["end"]:
        raise ProtocolError(f"{where}: start > end: {nums}")
    for k in ("hash", "prev_hash"):
        if not isinstance(r[k], str) or not _HASH_RE.match(r[k]):
            raise ProtocolError(f"{where}: {k} is not 0x + 64 lowercase hex: {r[k]!r}")
    if (r["prev_hash"] == ZERO_HASH) != (nums["start"] == 0):
        raise ProtocolError(f"{where}: prev_hash must be zero iff start == 0: {r}")
    if "timestamp" in r and not (isinstance(r["timestamp"], int) and r["timestamp"] >= 0):
        raise ProtocolError(f"{where}: timestamp must be unsigned seconds: {r}")


def rng_text(r: dict) -> str:
    return f"{r['network']}[{r['numbers']['start']}..={r['numbers']['end']}]"


class ProtocolValidator:
    """Checks a sequence of Flight messages (row count + app_metadata) against Amp's rules.

    streaming=True: amp-protocol.md §2.3/§2.7 (one range per message, every microbatch
    closed by exactly one 0-row ranges_complete message, contiguous ranges whose prev_hash
    chains, a backwards jump is a reorg whose invalidation feed() returns).
    streaming=False: §2.4 (identical ranges on every message, the last message and only it
    is a 0-row completion).
    """

    def __init__(self, streaming: bool, max_microbatch_blocks: Optional[int] = None,
                 first_start: Optional[int] = None):
        self.streaming = streaming
        self.max_blocks = max_microbatch_blocks
        self.first_start = first_start
        self.count = 0
        self.prev: Optional[dict] = None       # range of the previous message
        self.prev_complete = False             # whether the previous microbatch completed
        self.batch_ranges = None
        self.completed: list[dict] = []        # completed ranges, in order
        self.reorgs: list[dict] = []

    def feed(self, rows: int, raw: Optional[bytes]) -> Optional[dict]:
        where = f"message {self.count}"
        self.count += 1
        if raw is None:
            raise ProtocolError(f"{where}: record batch without app_metadata")
        text = bytes(raw).decode("utf-8")
        meta = json.loads(text)
        if not isinstance(meta, dict) or set(meta) != {"ranges", "ranges_complete"}:
            raise ProtocolError(f"{where}: app_metadata keys must be ranges, ranges_complete: {text}")
        if canonical_json(meta) != text:
            raise ProtocolError(f"{where}: app_metadata not in Amp's form (sorted keys, compact): "
                                f"{text} vs {canonical_json(meta)}")
        ranges, complete = meta["ranges"], meta["ranges_complete"]
        if not isinstance(complete, bool) or not isinstance(ranges, list):
            raise ProtocolError(f"{where}: bad types: {text}")
        for r in ranges:
            _check_range_shape(r, where)
        if complete and rows != 0:
            raise ProtocolError(f"{where}: ranges_complete:true on a batch with {rows} rows")
        return self._feed_stream(where, rows, ranges, complete) if self.streaming else \
            self._feed_batch(where, rows, ranges, complete)

    def _feed_batch(self, where, rows, ranges, complete):
        if self.batch_ranges is None:
            self.batch_ranges = ranges
        elif ranges != self.batch_ranges:
            raise ProtocolError(f"{where}: batch query ranges changed: {ranges} vs {self.batch_ranges}")
        if self.prev_complete:
            raise ProtocolError(f"{where}: message after the batch query's completion")
        if complete:
            self.prev_complete = True
            self.completed.append(ranges)
        return None

    def _feed_stream(self, where, rows, ranges, complete):
        if len(ranges) != 1:
            raise ProtocolError(f"{where}: a streaming message must carry exactly one range: {ranges}")
        r = ranges[0]
        s, e = r["numbers"]["start"], r["numbers"]["end"]
        if self.max_blocks is not None and e - s + 1 > self.max_blocks:
            raise ProtocolError(f"{where}: {rng_text(r)} is longer than {self.max_blocks} blocks")
        invalidates = None
        p = self.prev
        if p is None:
            if self.first_start is not None and s != self.first_start:
                raise ProtocolError(f"{where}: first range {rng_text(r)} does not start at {self.first_start}")
        elif r == p:
            if self.prev_complete:
                raise ProtocolError(f"{where}: {rng_text(r)} repeated after its completion")
        else:
            if r["network"] != p["network"]:
                raise ProtocolError(f"{where}: network changed {p['network']} -> {r['network']}")
            if not self.prev_complete:
                raise ProtocolError(f"{where}: {rng_text(r)} started before {rng_text(p)} completed")
            ps, pe = p["numbers"]["start"], p["numbers"]["end"]
            if s == pe + 1:
                if r["prev_hash"] != p["hash"]:
                    raise ProtocolError(f"{where}: {rng_text(r)} prev_hash {r['prev_hash']} does not "
                                        f"chain to {rng_text(p)} hash {p['hash']}")
            elif s > pe + 1:
                raise ProtocolError(f"{where}: gap between {rng_text(p)} and {rng_text(r)}")
            else:
                if r["prev_hash"] == p["hash"]:
                    raise ProtocolError(f"{where}: backwards range {rng_text(r)} chains to {rng_text(p)}")
                invalidates = {"network": r["network"], "start": s, "end": max(e, pe)}
                self.reorgs.append(invalidates)
        self.prev = r
        self.prev_complete = complete
        if complete:
            self.completed.append(r)
        return invalidates

    def finish(self) -> None:
        """For streams read to their end (or a batch query): the last message completed."""
        if self.count == 0:
            raise ProtocolError("no messages")
        if not self.prev_complete:
            raise ProtocolError("the last message is not a 0-row ranges_complete:true batch")


# ---------------------------------------------------------------------------------------
# Arrow values -> `ampsync query --format jsonl` conventions.


def _format_timestamp(value: int, unit: str) -> str:
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    seconds, fraction = divmod(value, per_second)
    text = (_dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        digits = {1_000: 3, 1_000_000: 6, 1_000_000_000: 9}[per_second]
        text += "." + str(fraction).zfill(digits)
    return text + "Z"


def _is_binary_like(t: pa.DataType) -> bool:
    return (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
            or pa.types.is_binary_view(t))


def column_json_values(arr: pa.Array) -> list:
    """Values of one column as `ampsync query --format jsonl` should print them, parsed."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return column_json_values(arr.dictionary_decode())
    if _is_binary_like(t):
        return [None if v is None else "0x" + v.hex() for v in arr.to_pylist()]
    if pa.types.is_timestamp(t):
        ints = arr.cast(pa.int64()).to_pylist()
        return [None if v is None else _format_timestamp(v, t.unit) for v in ints]
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)):
        out = []
        for i in range(len(arr)):
            scalar = arr[i]
            out.append(None if not scalar.is_valid else column_json_values(scalar.values))
        return out
    if pa.types.is_struct(t):
        children = [column_json_values(c) for c in arr.flatten()]
        names = [t.field(i).name for i in range(t.num_fields)]
        return [None if not arr[i].is_valid else {n: c[i] for n, c in zip(names, children)}
                for i in range(len(arr))]
    return arr.to_pylist()


def batch_json_rows(batch: pa.RecordBatch) -> list[dict]:
    cols = [column_json_values(c) for c in batch.columns]
    names = batch.schema.names
    return [dict(zip(names, vals)) for vals in zip(*cols)] if cols else [{} for _ in range(batch.num_rows)]


def parse_jsonl(text: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line, parse_float=decimal.Decimal))
        except json.JSONDecodeError as e:
            raise AssertionError(f"jsonl line {n} is not JSON ({e}): {line[:200]}")
    return rows


def values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (int, decimal.Decimal)) and isinstance(b, (int, decimal.Decimal)):
        return decimal.Decimal(a) == decimal.Decimal(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def check_json_type(field: pa.Field, value: Any) -> Optional[str]:
    """Whether a jsonl value has the JSON shape our conventions give `field`'s type."""
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if value is None:
        return None if field.nullable else f"{field.name}: null in a NOT NULL column"
    ok = True
    if _is_binary_like(t):
        ok = isinstance(value, str) and re.fullmatch(r"0x([0-9a-f]{2})*", value) is not None
        if ok and pa.types.is_fixed_size_binary(t):
            ok = len(value) == 2 + 2 * t.byte_width
    elif pa.types.is_timestamp(t):
        ok = isinstance(value, str) and _ISO_RE.match(value) is not None
    elif pa.types.is_decimal(t):
        ok = isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool)
    elif pa.types.is_integer(t):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif pa.types.is_boolean(t):
        ok = isinstance(value, bool)
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        ok = isinstance(value, str)
    elif pa.types.is_floating(t):
        ok = isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool)
    elif pa.types.is_struct(t):
        ok = isinstance(value, dict)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        ok = isinstance(value, list)
    return None if ok else f"{field.name}: {value!r} is not the JSON form of {field.type}"


def compare_rows(expected: list[dict], actual: list[dict], what: str) -> None:
    """Row-by-row equality with a readable first difference."""
    for i, (e, a) in enumerate(zip(expected, actual)):
        if list(e.keys()) != list(a.keys()):
            raise AssertionError(f"{what}: row {i} columns differ: {list(e)} vs {list(a)}")
        for k in e:
            if not values_equal(e[k], a[k]):
                raise AssertionError(f"{what}: row {i} column {k!r}: pyarrow {e[k]!r} vs ampsync {a[k]!r}")
    if len(expected) != len(actual):
        raise AssertionError(f"{what}: {len(expected)} rows via pyarrow vs {len(actual)} via ampsync")


# ---------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the server is not up yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def run(cmd: list[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {timeout}s: {' '.join(cmd)}\nstderr: {e.stderr}")
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {' '.join(cmd)}\nstderr:\n{proc.stderr}")
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def metadata_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def iter_lines_with_deadline(stream, deadline: float) -> Iterable[str]:
    """Lines of a pipe until EOF; AssertionError if the deadline passes (select-based)."""
    buf = b""
    fd = stream.fileno()
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out reading process output")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            if buf:
                yield buf.decode()
            return
        buf += chunk
