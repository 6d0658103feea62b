"""HEAD, 204 and 304 responses carry no body whatever their Content-Length says (RFC 9112 section 6.3):
the proxy must not wait for one, and the next response on the connection must still line up."""

from __future__ import annotations

from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, echo
from tests.proxy.wire import Message, connect, read_head, read_response


def bodiless(connection: Connection, head: Message) -> bool:
    target = head.start[1]
    if head.start[0] == b"HEAD":
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/html\r\n\r\n")
    elif target == b"/204":
        connection.send(b"HTTP/1.1 204 No Content\r\nX-Note: none\r\n\r\n")
    elif target == b"/304":
        connection.send(b'HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\nETag: "v1"\r\n\r\n')
    else:
        return echo(connection, head)
    return True


def test_curl_head_then_get_on_the_same_connection(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = bodiless
    result = curl(
        "--http1.1",
        "-I",
        url(sidecar.port, "/page"),
        "--next",
        "-w",
        "%{num_connects}",
        url(sidecar.port, "/after"),
    )
    assert b"Content-Length: 1000" in result.stdout
    assert result.stdout.endswith(b"\r\n\r\n/after0")
    assert len(upstream.connections) == 1


def test_head_204_304_then_get_pipelined(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = bodiless
    wire = connect(sidecar.port)
    wire.send(
        b"HEAD /page HTTP/1.1\r\nHost: app\r\n\r\n"
        b"DELETE /204 HTTP/1.1\r\nHost: app\r\n\r\n"
        b'GET /304 HTTP/1.1\r\nHost: app\r\nIf-None-Match: "v1"\r\n\r\n'
        b"GET /after HTTP/1.1\r\nHost: app\r\n\r\n"
    )
    heads = [read_head(wire) for _ in range(3)]
    assert [head.status for head in heads if head is not None] == [200, 204, 304]
    assert read_response(wire).payload == b"/after"  # nothing stray between the heads
    assert len(upstream.connections) == 1
    statuses = [exchange.status for exchange in sidecar.wait_exchanges(4)]
    assert statuses == [200, 204, 304, 200]
