"""Expect: 100-continue (RFC 9110 section 10.1.1): the proxy forwards Expect and the upstream's interim
100, and copes with an upstream that answers finally without ever reading the body."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, connect, read_head, read_response

# curl waits this long for a 100 before sending the body anyway; a test that finishes well inside it
# proves the 100 (or the final answer) travelled through the proxy.
EXPECT_TIMEOUT = "5"


def continue_then_digest(connection: Connection, head: Message) -> bool:
    if (head.header(b"expect") or b"").lower() == b"100-continue":
        connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    request = connection.read_body(head)
    connection.send(respond(200, hashlib.sha256(request.payload).hexdigest().encode()))
    return True


def refuse(connection: Connection, head: Message) -> bool:
    """417 to a request that expects 100-continue, without its body; the sha256 to others.

    Like curl, the server takes a final answer sent before any 100 to cancel the body, and reads
    the client's next bytes as a new request.
    """
    if head.header(b"expect") is None:
        return continue_then_digest(connection, head)
    connection.send(respond(417, b"no", reason=b"Expectation Failed"))
    return True


def test_curl_gets_the_interim_100_and_sends_the_body(
    sidecar: ThreadSidecar, upstream: HttpServer, tmp_path: Path
) -> None:
    upstream.handler = continue_then_digest
    data = os.urandom(1024 * 1024)
    (tmp_path / "body").write_bytes(data)
    started = time.monotonic()
    result = curl(
        "--http1.1",
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        EXPECT_TIMEOUT,
        "--data-binary",
        f"@{tmp_path / 'body'}",
        url(sidecar.port, "/upload"),
    )
    assert time.monotonic() - started < 3
    assert result.stdout == hashlib.sha256(data).hexdigest().encode()
    assert upstream.requests[0].header(b"expect") == b"100-continue"
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.request_bytes) == (200, len(data))


def test_raw_client_sees_100_before_sending(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = continue_then_digest
    wire = connect(sidecar.port)
    wire.send(b"POST / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    interim = read_head(wire)
    assert interim is not None and interim.raw_head == b"HTTP/1.1 100 Continue\r\n\r\n"
    wire.send(b"hello")
    assert read_response(wire).payload == hashlib.sha256(b"hello").hexdigest().encode()


def test_curl_upload_refused_with_417(sidecar: ThreadSidecar, upstream: HttpServer, tmp_path: Path) -> None:
    upstream.handler = refuse
    data = os.urandom(2 * 1024 * 1024)  # over 1 MiB, curl adds Expect: 100-continue by itself
    (tmp_path / "body").write_bytes(data)
    started = time.monotonic()
    result = curl(
        "--http1.1",
        "--expect100-timeout",
        EXPECT_TIMEOUT,
        "--data-binary",
        f"@{tmp_path / 'body'}",
        "-w",
        " %{http_code}",
        url(sidecar.port, "/upload"),
    )
    assert time.monotonic() - started < 3
    # curl answers a 417 by sending the request again without Expect (RFC 9110 section 10.1.1)
    assert result.stdout == hashlib.sha256(data).hexdigest().encode() + b" 200"
    assert [request.header(b"expect") for request in upstream.requests] == [b"100-continue", None]
    statuses = [(exchange.status, exchange.error_type) for exchange in sidecar.wait_exchanges(2)]
    assert statuses == [(417, ""), (200, "")]


def test_refused_expectation_cancels_the_body(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = refuse
    wire = connect(sidecar.port)
    wire.send(b"PUT / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 44\r\n\r\n")
    assert read_response(wire).status == 417
    wire.send(b"PUT /again HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nagain")
    assert read_response(wire).payload == hashlib.sha256(b"again").hexdigest().encode()
    assert len(upstream.connections) == 1


def test_unread_body_never_becomes_the_next_request(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    """After a final answer to a request whose body has not all come, the proxy cannot know whether
    the client's next bytes are the rest of that body or a new request: it must close, not guess."""

    def early(connection: Connection, head: Message) -> bool:
        connection.send(respond(413, b"too large", reason=b"Content Too Large"))
        return False

    upstream.handler = early
    wire = connect(sidecar.port)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n"
    wire.send(b"PUT / HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\n\r\nstart" % (5 + len(smuggled)))
    assert read_response(wire).status == 413
    wire.send(smuggled)
    assert wire.read_to_end() == b""
    assert [request.start[1] for request in upstream.requests] == [b"/"]


def test_final_response_before_the_body_is_read(
    sidecar: ThreadSidecar, upstream: HttpServer, tmp_path: Path
) -> None:
    def too_large(connection: Connection, head: Message) -> bool:
        connection.send(respond(413, b"too large", reason=b"Content Too Large"))
        return False

    upstream.handler = too_large
    (tmp_path / "body").write_bytes(b"z" * 8 * 1024 * 1024)
    result = curl(
        "--http1.1", "--data-binary", f"@{tmp_path / 'body'}", "-w", " %{http_code}", url(sidecar.port, "/")
    )
    assert result.stdout == b"too large 413"
    exchange = sidecar.wait_exchanges(1)[0]
    assert exchange.status == 413
    assert curl("--http1.1", url(sidecar.port, "/next")).stdout == b"too large"
