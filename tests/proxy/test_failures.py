"""Failures are exchanges too: refused or reset upstreams give the client a 502, a silent one a 504, a
break after the response head an abrupt end; a client that leaves mid-request ends its exchange with an
error; and the proxy keeps serving."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.forwarder import MAX_BUFFERED
from proxy.pool import Pool
from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, echo, reset, respond
from tests.proxy.wire import Message, connect, read_head, read_response

HEADER_TIMEOUT_S = 0.3


@pytest.fixture
def impatient(upstream: HttpServer, loop_name: str) -> Iterator[ThreadSidecar]:
    """A proxy that waits HEADER_TIMEOUT_S for a response head."""
    proxy = ThreadSidecar(upstream.port, loop_name, header_timeout_s=HEADER_TIMEOUT_S)
    yield proxy
    proxy.close()


def outcome(sidecar: ThreadSidecar, index: int = 0) -> tuple[int, str]:
    exchange = sidecar.wait_exchanges(index + 1)[index]
    return exchange.status, exchange.error_type


def test_refused_upstream_is_a_502_and_the_proxy_keeps_serving(loop_name: str) -> None:
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))  # held but not listening: connections are refused
    sidecar = ThreadSidecar(bound.getsockname()[1], loop_name)
    try:
        result = curl("--http1.1", "-w", "%{http_code}", url(sidecar.port, "/"))
        assert result.stdout.endswith(b"502")
        assert outcome(sidecar) == (502, "upstream_refused")
        bound.listen()
        server = HttpServer(listener=bound)
        assert curl("--http1.1", url(sidecar.port, "/back")).stdout == b"/back"
        server.close()
    finally:
        sidecar.close()
        bound.close()


def test_refused_upstream_during_a_large_upload_is_still_a_502(loop_name: str, tmp_path: Path) -> None:
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    (tmp_path / "body").write_bytes(b"u" * 8 * 1024 * 1024)
    sidecar = ThreadSidecar(bound.getsockname()[1], loop_name)
    try:
        body = f"@{tmp_path / 'body'}"
        result = curl(
            "--http1.1", "-H", "Expect:", "--data-binary", body, "-w", " %{http_code}", url(sidecar.port)
        )
        assert result.stdout.endswith(b" 502")
        assert outcome(sidecar) == (502, "upstream_refused")
    finally:
        sidecar.close()
        bound.close()


def test_upstream_reset_before_answering_is_a_502(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    def rude(connection: Connection, head: Message) -> bool:
        if head.start[1] == b"/reset":
            reset(connection)
            return False
        return echo(connection, head)

    upstream.handler = rude
    wire = connect(sidecar.port)
    wire.send(b"GET /reset HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).status == 502
    assert wire.read_to_eof() == b""
    assert outcome(sidecar) == (502, "upstream_reset")
    assert curl("--http1.1", url(sidecar.port, "/fine")).stdout == b"/fine"


def test_upstream_reset_after_an_interim_100_is_still_a_502(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    def continue_then_reset(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.read_body(head)
        reset(connection)
        return False

    upstream.handler = continue_then_reset
    wire = connect(sidecar.port)
    wire.send(b"PUT / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    interim = read_head(wire)
    assert interim is not None and interim.status == 100
    wire.send(b"hi")
    assert read_response(wire).status == 502
    assert outcome(sidecar) == (502, "upstream_reset")


def test_upstream_closing_mid_response_ends_the_client_connection(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    def truncated(connection: Connection, head: Message) -> bool:
        if head.start[1] != b"/truncated":
            return echo(connection, head)
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100)
        return False

    upstream.handler = truncated
    result = curl("--http1.1", url(sidecar.port, "/truncated"), check=False)
    assert result.returncode == 18  # CURLE_PARTIAL_FILE: the connection ended before the body did
    assert result.stdout == b"a" * 100
    assert outcome(sidecar) == (200, "upstream_reset")
    assert curl("--http1.1", url(sidecar.port, "/next")).stdout == b"/next"


def test_invalid_response_is_a_502(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    def garbage(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
        return False

    upstream.handler = garbage
    result = curl("--http1.1", "-w", " %{http_code}", url(sidecar.port, "/"))
    assert result.stdout.endswith(b" 502")
    assert outcome(sidecar) == (502, "upstream_protocol_error")


def test_silent_upstream_is_a_504(impatient: ThreadSidecar, upstream: HttpServer) -> None:
    def silent(connection: Connection, head: Message) -> bool:
        if head.start[1] != b"/silent":
            return echo(connection, head)
        connection.wire.read_to_eof()  # until the proxy gives up on us
        return False

    upstream.handler = silent
    started = time.monotonic()
    result = curl("--http1.1", "-w", " %{http_code}", url(impatient.port, "/silent"))
    assert HEADER_TIMEOUT_S <= time.monotonic() - started < HEADER_TIMEOUT_S + 2
    assert result.stdout.endswith(b" 504")
    assert outcome(impatient) == (504, "upstream_timeout")
    assert curl("--http1.1", url(impatient.port, "/next")).stdout == b"/next"
    assert len(upstream.connections) == 2  # the silent connection is never reused


def test_slow_upload_is_not_a_timeout(impatient: ThreadSidecar, upstream: HttpServer) -> None:
    """The header timeout runs from the last request byte sent, not from the request head."""
    wire = connect(impatient.port)
    wire.send(b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 8\r\n\r\n")
    for byte in b"patience":
        time.sleep(HEADER_TIMEOUT_S / 3)
        wire.send(bytes([byte]))
    assert read_response(wire).payload == b"patience"
    assert outcome(impatient) == (200, "")


def test_slow_response_head_after_100_continue_is_a_504(
    impatient: ThreadSidecar, upstream: HttpServer
) -> None:
    def stalls(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.read_body(head)
        connection.wire.read_to_eof()
        return False

    upstream.handler = stalls
    wire = connect(impatient.port)
    wire.send(b"PUT / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    interim = read_head(wire)
    assert interim is not None and interim.status == 100
    wire.send(b"ok")
    assert read_response(wire).status == 504
    assert outcome(impatient) == (504, "upstream_timeout")


def test_client_leaving_mid_body_ends_the_exchange(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    wire = connect(sidecar.port)
    wire.send(b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    time.sleep(0.1)
    wire.sock.close()
    assert outcome(sidecar) == (0, "client_disconnected")
    assert curl("--http1.1", url(sidecar.port, "/next")).stdout == b"/next"
    assert len(upstream.connections) == 2  # the half-sent request's connection is not reused
    assert upstream.connections[0].received.endswith(b"x" * 1000)


def test_client_leaving_before_the_response_ends_the_exchange(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    def late(connection: Connection, head: Message) -> bool:
        time.sleep(0.3)
        connection.send(respond(200, b"too late"))
        return True

    upstream.handler = late
    wire = connect(sidecar.port)
    wire.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    wire.sock.close()
    assert outcome(sidecar) == (0, "client_disconnected")


def test_bad_request_body_after_the_response_began_aborts(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    """A 400 cannot follow part of another response: the client connection is cut instead."""

    def answers_at_once(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        connection.wire.read_to_end()
        return False

    upstream.handler = answers_at_once
    wire = connect(sidecar.port)
    wire.send(b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    head = read_head(wire)
    assert head is not None and head.status == 200
    wire.send(b"not a chunk size\r\n")
    assert wire.read_to_end() == b"5\r\nfirst\r\n"
    assert outcome(sidecar) == (200, "http_400")


def queued_bytes(pool: Pool) -> int:
    """Request bytes the pool holds for connections still opening."""
    return sum(len(data) for waiting in pool.pending.values() for data in waiting)


def test_connect_timeout_is_a_504_and_the_upload_waits_bounded(loop_name: str) -> None:
    backlog = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(backlog.getsockname())  # fills the accept queue: SYNs are dropped
    sidecar = ThreadSidecar(backlog.getsockname()[1], loop_name, connect_timeout_s=1.0)
    try:
        wire = connect(sidecar.port)
        wire.send(b"PUT / HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\n\r\n" % (64 * 1024 * 1024))
        wire.sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # as fast as the proxy takes it, while it is still connecting
            try:
                sent += wire.sock.send(b"u" * 65536)
            except BlockingIOError:
                time.sleep(0.01)
        held = sidecar.call(lambda: queued_bytes(sidecar.pool))
        # The bound on body bytes, plus the one read that crossed it (256 KiB at most), plus the
        # request head itself (trace context added) which waits in the same queue.
        assert 0 < held <= MAX_BUFFERED + 256 * 1024 + 1024, f"{held} bytes held, {sent} sent"
        wire.sock.setblocking(True)
        assert outcome(sidecar) == (504, "upstream_connect_timeout")
    finally:
        sidecar.close()
        filler.close()
        backlog.close()
