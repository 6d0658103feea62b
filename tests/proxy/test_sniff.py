"""Each connection is classified from its first bytes and handed to that protocol's handler."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hyperframe.frame import DataFrame, PingFrame, SettingsFrame, WindowUpdateFrame
from hypothesis import given
from hypothesis import strategies as st

from proxy.forwarder import Listener
from proxy.handoff import Handoff
from proxy.sniff import (
    H2,
    H2_PREFACE,
    HTTP1,
    OPAQUE,
    TLS,
    UNDECIDED,
    _request_line,
    classify,
    h2_server_opening,
)
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import HttpServer


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"", UNDECIDED),
        (b"P", UNDECIDED),
        (H2_PREFACE[:-1], UNDECIDED),
        (H2_PREFACE, H2),
        (H2_PREFACE + b"\x00\x00\x12\x04", H2),
        (b"GET / HTTP/1.1\r\n", HTTP1),
        (b"POST", UNDECIDED),
        (b"GET /a", UNDECIDED),
        (b"GET /a HT", UNDECIDED),
        (b"PRI * HTTP/1.1\r\n", HTTP1),  # not the preface: HTTP/1's parser decides what it is
        (b"\x16", UNDECIDED),
        (b"\x16\x03", TLS),
        (b"\x16\x03\x01\x02\x00\x01", TLS),
        (b"\x16\x00", OPAQUE),
        (b"*1\r\n$4\r\nPING\r\n", OPAQUE),  # Redis (RESP)
        (b"SET a b\r\n", OPAQUE),  # a Redis inline command: no HTTP version after the target
        (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", OPAQUE),  # PostgreSQL SSLRequest
        (b"get / HTTP/1.1\r\n", OPAQUE),  # methods are case-sensitive
        (b"GET / HTTP/1.1\r\n", HTTP1),
    ],
)
def test_classify(first: bytes, expected: str) -> None:
    assert classify(first) == expected


class Recorder(asyncio.Protocol):
    """A handler that keeps what the acceptor handed over and answers with it."""

    def __init__(self, listener: Listener, handoff: Handoff) -> None:
        self.handoff = handoff
        self.received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= len(H2_PREFACE) + 4:
            self.transport.write(repr((self.handoff.destination[0], self.received)).encode())  # type: ignore[attr-defined]
            self.transport.close()


def test_a_preface_sent_byte_by_byte_reaches_the_h2_handler_whole(upstream: HttpServer) -> None:
    sidecar = ThreadSidecar(upstream.port)
    try:
        sidecar.call(lambda: sidecar.proxy.listeners["inbound"].handlers.__setitem__(H2, Recorder))
        with socket.create_connection(("127.0.0.1", sidecar.port), timeout=5) as client:
            for byte in H2_PREFACE + b"abcd":
                client.sendall(bytes([byte]))
            reply = b""
            while chunk := client.recv(4096):
                reply += chunk
        assert reply == repr(("127.0.0.1", H2_PREFACE + b"abcd")).encode()
    finally:
        sidecar.close()


def test_a_connection_ended_before_deciding_is_closed_and_nothing_forwarded(upstream: HttpServer) -> None:
    # Handed to HTTP/1, which treats a truncated head at EOF as a client that left (as nginx does).
    sidecar = ThreadSidecar(upstream.port)
    try:
        with socket.create_connection(("127.0.0.1", sidecar.port), timeout=5) as client:
            client.sendall(b"PRI")
            client.shutdown(socket.SHUT_WR)
            assert client.recv(4096) == b""
        with socket.create_connection(("127.0.0.1", sidecar.port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert [request.start for request in upstream.requests] == [[b"GET", b"/", b"HTTP/1.1"]]
        assert sidecar.open_connections() <= 1
    finally:
        sidecar.close()


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_the_fast_path_agrees_with_the_byte_by_byte_rules(head: bytes, tail: bytes) -> None:
    for first in (head, b"GET " + head + b" HTTP/1.1" + tail, b"POST /" + head + b" " + tail):
        if (
            first
            and not H2_PREFACE.startswith(first)
            and not first.startswith(H2_PREFACE)
            and first[0] != 0x16
        ):
            assert classify(first) == _request_line(first)


_SETTINGS = SettingsFrame(0, settings={3: 100, 4: 1 << 20}).serialize()
_WINDOW = WindowUpdateFrame(0, 1 << 20).serialize()


@pytest.mark.parametrize(
    ("server_first", "opening"),
    [
        (_SETTINGS, True),
        (_SETTINGS + _WINDOW + PingFrame(0, b"12345678").serialize(), True),  # grpcio's opening, and a PING
        (_SETTINGS[:5], True),  # the rest still on its way
        (_SETTINGS + _WINDOW[:3], True),
        (b"220 mail.example.com ESMTP\r\n", False),  # SMTP's greeting: server-first
        (b"+OK POP3 ready\r\n", False),
        (b"J\x00\x00\x00\n8.0.36\x00", False),  # MySQL's handshake
        (SettingsFrame(0, flags=["ACK"]).serialize(), False),  # answers SETTINGS nobody sent
        (_SETTINGS + DataFrame(1, b"x").serialize(), False),  # a stream before any request
        (b"\x00\x00\x0c\x04\x00\x00\x00\x00\x01", False),  # SETTINGS on a stream
        (b"\x00\x00\x05\x04\x00\x00\x00\x00\x00", False),  # not a whole number of settings
    ],
)
def test_an_http2_servers_opening_is_not_a_server_first_greeting(server_first: bytes, opening: bool) -> None:
    assert h2_server_opening(server_first) is opening
