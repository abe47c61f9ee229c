#!/usr/bin/env python3
"""Reads one Amp query with pyarrow.flight into a null sink; prints {"rows","bytes","seconds"}.

The peer of amp_flight_read_bench's own client run: same server, same query, same
accounting. Rows and bytes are counted per record batch (bytes = the batch's buffer sizes,
arrow::util::TotalBufferSize, which RecordBatch.get_total_buffer_size calls). The clock
runs from GetFlightInfo to the end of the DoGet stream; interpreter start-up and the
connection set-up are outside it, as they are for our client.

Usage: pyarrow_flight_read.py --server grpc://127.0.0.1:PORT [--sql "SELECT ..."]
"""

import argparse
import json
import sys
import time

import pyarrow.flight as flight

WARM_UP_SQL = "SELECT block_num FROM eth_firehose.blocks WHERE block_num = 0"
TYPE_URL = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"


def _len_delimited(field: int, data: bytes) -> bytes:
    n, out = len(data), bytearray([field << 3 | 2])
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out) + data
        out.append(n & 0x7F | 0x80)
        n >>= 7


def statement_query_command(sql: str) -> bytes:
    """Any{type_url, value=CommandStatementQuery{query}} (amp-protocol.md §1.1)."""
    return _len_delimited(1, TYPE_URL) + _len_delimited(2, _len_delimited(1, sql.encode()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--sql", default="SELECT * FROM eth_firehose.logs")
    args = ap.parse_args()

    client = flight.connect(args.server)
    # Warm-up: gRPC connects lazily; keep the connection set-up outside the clock (the
    # C++ side does the same).
    client.get_flight_info(flight.FlightDescriptor.for_command(statement_query_command(WARM_UP_SQL)))
    descriptor = flight.FlightDescriptor.for_command(statement_query_command(args.sql))
    rows = size = 0
    start = time.perf_counter()
    info = client.get_flight_info(descriptor)
    reader = client.do_get(info.endpoints[0].ticket)
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        if chunk.data is not None:
            rows += chunk.data.num_rows
            size += chunk.data.get_total_buffer_size()
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "bytes": size, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
