"""HTTP/1.0 clients (RFC 9112 section 9.3 and appendix C.2.2): forwarded as HTTP/1.0, closed after the
response unless they asked for keep-alive and the server agreed."""

from __future__ import annotations

from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer
from tests.proxy.wire import Message, connect, read_response


def test_curl_http10_without_keep_alive(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    path_one, path_two = url(sidecar.port, "/one"), url(sidecar.port, "/two")
    result = curl("--http1.0", path_one, "--next", "--http1.0", "-w", "%{num_connects}", path_two)
    assert result.stdout == b"/one/two1"
    assert [request.start for request in upstream.requests] == [
        [b"GET", b"/one", b"HTTP/1.0"],
        [b"GET", b"/two", b"HTTP/1.0"],
    ]


def test_curl_http10_keep_alive(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    keep = ("--http1.0", "-H", "Connection: keep-alive")
    result = curl(
        *keep, url(sidecar.port, "/one"), "--next", *keep, "-w", "%{num_connects}", url(sidecar.port, "/two")
    )
    assert result.stdout == b"/one/two0"
    assert len(upstream.connections) == 1


def test_raw_http10_without_host_and_a_body_ending_at_close(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    def http10(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the connection closes")
        return False

    upstream.handler = http10
    wire = connect(sidecar.port)
    wire.send(b"POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\na=b")
    response = read_response(wire)
    assert response.payload == b"until the connection closes"
    assert bytes(wire.received) == b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the connection closes"
    assert upstream.connections[0].received.startswith(b"POST /form HTTP/1.0\r\nContent-Length: 3\r\n")
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.error_type, exchange.response_bytes) == (200, "", 27)


def test_no_interim_response_for_an_http10_client(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    """RFC 9110 section 15.2: a 1xx must not be sent to an HTTP/1.0 client."""

    def hints(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        return False

    upstream.handler = hints
    wire = connect(sidecar.port)
    wire.send(b"GET / HTTP/1.0\r\n\r\n")
    assert wire.read_to_eof() == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
