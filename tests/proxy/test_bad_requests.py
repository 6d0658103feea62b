"""Malformed and hostile requests through the running proxy (RFC 9112): each is answered 400, 431, 501
or 505 and the connection closed; nothing after the bad part reaches the application (a real upstream
records every byte it got); the refusal is counted and logged at most once per interval."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from proxy.forwarder import MAX_BUFFERED
from proxy.http1.head import MAX_HEADERS
from proxy.limits import ClientLimits
from tests.proxy.clients import curl, eventually, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, echo
from tests.proxy.wire import Message, connect, read_response

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n"
MAX_HEAD = 4096


@pytest.fixture
def strict(upstream: HttpServer, loop_name: str) -> Iterator[tuple[ThreadSidecar, list[int]]]:
    """A proxy with a 4 KiB head limit; the list collects the statuses of the requests it refused."""
    proxy = ThreadSidecar(upstream.port, loop_name, limits=ClientLimits(max_head_bytes=MAX_HEAD))
    refused: list[int] = []
    proxy.proxy.listeners["inbound"].refused = refused.append
    yield proxy, refused
    proxy.close()


def head(*lines: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n"


CASES = {
    "conflicting Content-Length": (
        head(b"POST / HTTP/1.1", b"Host: app", b"Content-Length: 5", b"Content-Length: 41")
        + b"hello"
        + SMUGGLED,
        400,
    ),
    "Content-Length with chunked (CL.TE)": (
        head(b"POST / HTTP/1.1", b"Host: app", b"Content-Length: 42", b"Transfer-Encoding: chunked")
        + b"0\r\n\r\n"
        + SMUGGLED,
        400,
    ),
    "chunked, then Content-Length (TE.CL)": (
        head(b"POST / HTTP/1.1", b"Host: app", b"Transfer-Encoding: chunked", b"Content-Length: 3")
        + b"8\r\nSMUGGLED\r\n0\r\n\r\n",
        400,
    ),
    "chunked twice": (
        head(b"POST / HTTP/1.1", b"Host: app", b"Transfer-Encoding: chunked, chunked")
        + b"0\r\n\r\n"
        + SMUGGLED,
        400,
    ),
    "Transfer-Encoding with a space before the colon": (
        head(b"POST / HTTP/1.1", b"Host: app", b"Transfer-Encoding : chunked") + b"0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "chunked in HTTP/1.0": (
        head(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "unknown transfer coding": (head(b"POST / HTTP/1.1", b"Host: app", b"Transfer-Encoding: gzip"), 501),
    "bare LF": (b"GET / HTTP/1.1\nHost: app\n\n" + SMUGGLED, 400),
    "obs-fold": (head(b"GET / HTTP/1.1", b"Host: app", b"X-Folded: a", b" b") + SMUGGLED, 400),
    "NUL in a value": (head(b"GET / HTTP/1.1", b"Host: app", b"X: a\x00b") + SMUGGLED, 400),
    "NUL in the target": (head(b"GET /a\x00b HTTP/1.1", b"Host: app"), 400),
    "two spaces in the request line": (head(b"GET  / HTTP/1.1", b"Host: app"), 400),
    "no version": (head(b"GET /", b"Host: app"), 400),
    "HTTP/2 request line": (head(b"GET / HTTP/2.0", b"Host: app"), 505),
    "no Host": (head(b"GET / HTTP/1.1"), 400),
    "two Hosts": (head(b"GET / HTTP/1.1", b"Host: app", b"Host: evil"), 400),
    "header name with a space": (head(b"GET / HTTP/1.1", b"Host: app", b"Bad Name: x"), 400),
    "too many headers": (
        head(b"GET / HTTP/1.1", b"Host: app", *[b"X-%d: v" % i for i in range(MAX_HEADERS)]),
        431,
    ),
    "head over the limit": (head(b"GET / HTTP/1.1", b"Host: app", b"X: " + b"a" * MAX_HEAD), 431),
}
BAD_BODIES = {
    "chunk size not hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "chunk size overflowing 64 bits": b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n",
    "chunk size with a bare LF": b"5\nhello\r\n0\r\n\r\n",
    "chunk data longer than its size": b"3\r\nhello\r\n0\r\n\r\n",
    "chunk size with whitespace": b"5 \r\nhello\r\n0\r\n\r\n",
    "Content-Length in the trailers": b"0\r\nContent-Length: 5\r\n\r\n",
}


def upload_sink(connection: Connection, head: Message) -> bool:
    """Takes /upload's bytes whatever they are, until the proxy closes; echoes anything else."""
    if head.start[1] != b"/upload":
        return echo(connection, head)
    connection.wire.read_to_eof()
    return False


def refused(sidecar: ThreadSidecar, request: bytes) -> tuple[int, bytes]:
    """Send `request`; the proxy's status and its connection's end (b"" when it closed cleanly)."""
    wire = connect(sidecar.port)
    wire.send(request)
    response = read_response(wire)
    assert response.header(b"connection") == b"close"
    return response.status, wire.read_to_eof()


@pytest.mark.parametrize("case", CASES)
def test_malformed_head_is_refused_and_nothing_reaches_the_app(
    strict: tuple[ThreadSidecar, list[int]], upstream: HttpServer, case: str
) -> None:
    sidecar, statuses = strict
    request, status = CASES[case]
    assert refused(sidecar, request) == (status, b"")
    assert statuses == [status]
    assert upstream.connections == []
    assert curl("--http1.1", url(sidecar.port, "/after")).stdout == b"/after"  # the proxy goes on


@pytest.mark.parametrize("case", BAD_BODIES)
def test_malformed_chunked_body_is_refused_and_nothing_follows_it(
    strict: tuple[ThreadSidecar, list[int]], upstream: HttpServer, case: str
) -> None:
    sidecar, statuses = strict
    upstream.handler = upload_sink
    wire = connect(sidecar.port)
    wire.send(head(b"POST /upload HTTP/1.1", b"Host: app", b"Transfer-Encoding: chunked"))
    assert eventually(lambda: len(upstream.requests) == 1)  # the head went on before the body came
    wire.send(BAD_BODIES[case] + SMUGGLED)
    response = read_response(wire)
    assert (response.status, wire.read_to_eof()) == (400, b"")
    assert statuses == [400]
    assert sidecar.wait_exchanges(1)[0].error_type == "http_400"
    assert curl("--http1.1", url(sidecar.port, "/after")).stdout == b"/after"
    # The app's connection that carried the bad body is closed, never reused for another request.
    assert [request.start[1] for request in upstream.requests] == [b"/upload", b"/after"]
    assert len(upstream.connections) == 2
    assert b"/smuggled" not in upstream.connections[0].received


def test_head_up_to_the_limit_goes_through(
    strict: tuple[ThreadSidecar, list[int]], upstream: HttpServer
) -> None:
    sidecar, _ = strict
    start = head(b"GET /big HTTP/1.1", b"Host: app", b"X: ")
    request = head(b"GET /big HTTP/1.1", b"Host: app", b"X: " + b"a" * (MAX_HEAD - len(start)))
    assert len(request) == MAX_HEAD
    wire = connect(sidecar.port)
    wire.send(request)
    assert read_response(wire).payload == b"/big"
    assert upstream.requests[0].header(b"x") == b"a" * (MAX_HEAD - len(start))


def test_a_limit_above_the_connection_buffer_still_takes_whole_heads(
    upstream: HttpServer, loop_name: str
) -> None:
    """A head may be larger than the bytes buffered for pipelining (MAX_BUFFERED) when configured so."""
    size = MAX_BUFFERED + 64 * 1024
    sidecar = ThreadSidecar(upstream.port, loop_name, limits=ClientLimits(max_head_bytes=size + 1024))
    try:
        wire = connect(sidecar.port)
        wire.send(head(b"GET /huge HTTP/1.1", b"Host: app", b"X: " + b"a" * size))
        assert read_response(wire).payload == b"/huge"
    finally:
        sidecar.close()


def test_refusals_are_logged_once_per_interval(
    strict: tuple[ThreadSidecar, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    sidecar, statuses = strict
    caplog.set_level(logging.INFO, logger="tracecar.proxy")
    for _ in range(20):  # (bytes that are not HTTP at all are relayed as opaque TCP, not refused)
        assert refused(sidecar, b"GET /a\x00b HTTP/1.1\r\nHost: app\r\n\r\n")[0] == 400
    assert len(statuses) == 20
    lines = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(lines) <= 1  # an earlier test in this process may have used this interval's line


def test_error_response_survives_a_client_still_sending(
    strict: tuple[ThreadSidecar, list[int]], upstream: HttpServer
) -> None:
    """Lingering close: the proxy reads and drops what the client still sends instead of resetting the
    connection (a reset can destroy the response in flight), so the upload ends cleanly and the client
    reads the answer after it."""
    sidecar, _ = strict
    sock = socket.create_connection(("127.0.0.1", sidecar.port), timeout=10)
    sock.sendall(head(b"POST / HTTP/1.1", b"Host: app", b"Transfer-Encoding: gzip"))
    time.sleep(0.2)  # the refusal is written and our side of the connection closed by now
    sock.sendall(b"x" * 4 * 1024 * 1024)  # would fail with a reset if the proxy had closed outright
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    sock.close()
    assert response.startswith(b"HTTP/1.1 501 ")
    assert upstream.connections == []
