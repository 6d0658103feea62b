"""A client that reads slowly: the proxy holds at most `MAX_HELD` bytes for it, and loses nothing.

The upstream gRPC server streams 24 MiB as fast as flow control lets it; the client advertises huge
windows (so only its socket pushes back) and does not read at all for a while, then reads everything.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator

import h2.events as ev
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.settings import SettingCodes

from proxy.h2.streams import MAX_HELD
from tests.h2.frames import grpc_head
from tests.h2.harness import RunningProxy, proxied_app

MESSAGES = 24
HUGE_WINDOW = 2**31 - 1


@pytest.fixture
def proxy() -> Iterator[RunningProxy]:
    with proxied_app() as running:
        yield running


def held(proxy: RunningProxy) -> int:
    async def measure() -> int:
        return sum(relay.held() for relay in proxy.relays())

    return asyncio.run_coroutine_threadsafe(measure(), proxy.loop).result(5)


def open_download(port: int) -> tuple[socket.socket, H2Connection]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: HUGE_WINDOW})
    conn.increment_flow_control_window(HUGE_WINDOW - 65_535)
    conn.send_headers(1, grpc_head(b"/demo.Echo/Download"))
    message = b"%d" % MESSAGES
    conn.send_data(1, struct.pack(">BI", 0, len(message)) + message, end_stream=True)
    sock.sendall(conn.data_to_send())
    return sock, conn


def read_all(sock: socket.socket, conn: H2Connection) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body, trailers = bytearray(), []
    while True:
        chunk = sock.recv(1 << 20)
        assert chunk, "the proxy closed the connection"
        for event in conn.receive_data(chunk):
            if isinstance(event, ev.DataReceived):
                body += event.data or b""
            elif isinstance(event, ev.TrailersReceived):
                trailers = list(event.headers or ())
            elif isinstance(event, ev.StreamEnded):
                return bytes(body), trailers
        sock.sendall(conn.data_to_send())


def test_slow_reader_bounded_memory_and_nothing_lost(proxy: RunningProxy) -> None:
    sock, conn = open_download(proxy.port)
    most = 0
    stop = time.monotonic() + 1.5
    while time.monotonic() < stop:  # not reading: the proxy must stop taking data, not buffer it
        most = max(most, held(proxy))
        time.sleep(0.05)
    assert 0 < most <= MAX_HELD
    body, trailers = read_all(sock, conn)
    sock.close()
    assert (b"grpc-status", b"0") in trailers
    offset, index = 0, 0
    while offset < len(body):
        _, length = struct.unpack(">BI", body[offset : offset + 5])
        message = body[offset + 5 : offset + 5 + length]
        assert message == bytes((index % 251,)) * (1 << 20), f"message {index} damaged"
        offset, index = offset + 5 + length, index + 1
    assert index == MESSAGES
