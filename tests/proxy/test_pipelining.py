"""Pipelined requests are forwarded one at a time and answered in order (RFC 9112 section 9.3.2)."""

from __future__ import annotations

import socket
import time

from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, echo
from tests.proxy.wire import Message, connect, read_response

PIPELINE = (
    b"GET /first HTTP/1.1\r\nHost: app\r\n\r\n"
    b"POST /second HTTP/1.1\r\nHost: app\r\nContent-Length: 6\r\n\r\nsecond"
    b"POST /third HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n"
    b"GET /fourth HTTP/1.1\r\nHost: app\r\n\r\n"
)


def test_pipelined_requests_are_answered_in_order(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    wire = connect(sidecar.port)
    wire.send(PIPELINE)
    assert [read_response(wire).payload for _ in range(4)] == [b"/first", b"second", b"third", b"/fourth"]
    assert [request.start[1] for request in upstream.requests] == [
        b"/first",
        b"/second",
        b"/third",
        b"/fourth",
    ]
    assert len(upstream.connections) == 1
    assert [exchange.request.target for exchange in sidecar.wait_exchanges(4)] == [
        b"/first",
        b"/second",
        b"/third",
        b"/fourth",
    ]


def test_slow_first_response_does_not_let_later_ones_overtake(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    def slow_first(connection: Connection, head: Message) -> bool:
        if head.start[1] == b"/first":
            time.sleep(0.2)
        return echo(connection, head)

    upstream.handler = slow_first
    wire = connect(sidecar.port)
    wire.send(PIPELINE)
    assert [read_response(wire).payload for _ in range(4)] == [b"/first", b"second", b"third", b"/fourth"]


def test_pipeline_sent_byte_by_byte(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    wire = connect(sidecar.port)
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in PIPELINE:
        wire.send(bytes([byte]))
    assert [read_response(wire).payload for _ in range(4)] == [b"/first", b"second", b"third", b"/fourth"]


def test_a_read_holding_a_body_end_and_the_next_head(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    """A read that starts inside a body goes on without the buffer; what follows the body's end in
    that read (the next request, or a chunk-size line cut in two) must still be parsed."""
    cuts = [
        PIPELINE.index(b"\r\n\r\nsecond") + 4,  # the body, then the chunked request's head, in one read
        PIPELINE.index(b"5\r\nthird") + 1,  # a read starting right after the chunk-size digit
        PIPELINE.index(b"0\r\n\r\nGET") + 1,  # the last-chunk line split, then the next head
    ]
    wire = connect(sidecar.port)
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = 0
    for cut in [*cuts, len(PIPELINE)]:
        wire.send(PIPELINE[start:cut])
        time.sleep(0.05)  # separate reads on the proxy's side, most likely; any split must work
        start = cut
    assert [read_response(wire).payload for _ in range(4)] == [b"/first", b"second", b"third", b"/fourth"]
    assert [request.raw_body for request in upstream.requests] == [
        b"",
        b"second",
        b"5\r\nthird\r\n0\r\n\r\n",
        b"",
    ]
