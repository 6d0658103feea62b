"""Content-Length and chunked bodies (with extensions and trailers) stream through in both directions,
framing and all, exactly as sent (RFC 9112 sections 6 and 7)."""

from __future__ import annotations

import hashlib
import http.client
import os

from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, connect, read_response

CHUNKED_REQUEST_BODY = (
    b"4;name=value\r\nWiki\r\n"
    b"6\r\npedia \r\n"
    b'E;quoted="a;b"\r\nin \r\n\r\nchunks.\r\n'
    b"0\r\n"
    b"Checksum: abc\r\n"
    b"X-Trailer: two\r\n"
    b"\r\n"
)


def digest(connection: Connection, head: Message) -> bool:
    """Answers with the sha256 of the request's payload and the trailer names it saw."""
    request = connection.read_body(head)
    trailers = b",".join(name for name, _ in request.trailers)
    body = hashlib.sha256(request.payload).hexdigest().encode() + b" " + trailers
    connection.send(respond(200, body))
    return True


def test_chunked_upload_with_trailers_is_forwarded_byte_exact(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n"
    wire = connect(sidecar.port)
    wire.send(head)
    for piece in (CHUNKED_REQUEST_BODY[:7], CHUNKED_REQUEST_BODY[7:30], CHUNKED_REQUEST_BODY[30:]):
        wire.send(piece)
    assert read_response(wire).payload == b"Wikipedia in \r\n\r\nchunks."
    received = upstream.connections[0].received
    assert received.endswith(b"\r\n\r\n" + CHUNKED_REQUEST_BODY)
    assert upstream.requests[0].raw_head.startswith(head[:-2])
    assert sidecar.wait_exchanges(1)[0].request_bytes == len(CHUNKED_REQUEST_BODY)


def test_chunked_download_with_trailers_arrives_byte_exact(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    response_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n"

    def chunked(connection: Connection, head: Message) -> bool:
        connection.send(response_head)
        for piece in (CHUNKED_REQUEST_BODY[:5], CHUNKED_REQUEST_BODY[5:40], CHUNKED_REQUEST_BODY[40:]):
            connection.send(piece)
        return True

    upstream.handler = chunked
    wire = connect(sidecar.port)
    wire.send(b"GET /a HTTP/1.1\r\nHost: app\r\n\r\nGET /b HTTP/1.1\r\nHost: app\r\n\r\n")
    first, second = read_response(wire), read_response(wire)
    assert first.trailers == second.trailers == [(b"Checksum", b"abc"), (b"X-Trailer", b"two")]
    assert bytes(wire.received) == 2 * (response_head + CHUNKED_REQUEST_BODY)
    exchanges = sidecar.wait_exchanges(2)
    assert [exchange.response_bytes for exchange in exchanges] == [len(CHUNKED_REQUEST_BODY)] * 2


def test_curl_chunked_upload(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = digest
    data = os.urandom(3 * 1024 * 1024 + 17)
    result = curl("--http1.1", "-T", "-", "-X", "POST", url(sidecar.port, "/stream"), stdin=data)
    assert result.stdout == hashlib.sha256(data).hexdigest().encode() + b" "
    assert upstream.requests[0].header(b"transfer-encoding") == b"chunked"


def test_curl_chunked_download(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)

    def chunked(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(data), 100_000):
            piece = data[start : start + 100_000]
            connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        connection.send(b"0\r\nX-Sum: done\r\n\r\n")
        return True

    upstream.handler = chunked
    result = curl("--http1.1", url(sidecar.port, "/download"), "--next", url(sidecar.port, "/again"))
    assert result.stdout == data + data
    assert len(upstream.connections) == 1


def test_python_client_content_length_upload(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = digest
    data = os.urandom(4 * 1024 * 1024)
    client = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    client.request("PUT", "/blob", body=data)
    assert client.getresponse().read() == hashlib.sha256(data).hexdigest().encode() + b" "
    client.close()
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.request_bytes) == (200, len(data))
