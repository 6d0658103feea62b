"""A client may leave at any stage: before sending a byte, mid-head, while the upstream connection is
still opening, mid-upload (tests/proxy/test_failures.py), waiting for the response, and mid-response.
Each time the exchange (if one began) ends as client_disconnected, the upstream connection that may
hold part of it is never reused, nothing stays open, and the next client is served."""

from __future__ import annotations

import contextlib
import socket
import time

from tests.proxy.clients import curl, eventually, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, connect


def served_after(sidecar: ThreadSidecar) -> bool:
    return curl("--http1.1", url(sidecar.port, "/after")).stdout == b"/after"


def test_leaving_before_a_byte_or_mid_head(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    connect(sidecar.port).sock.close()
    wire = connect(sidecar.port)
    wire.send(b"GET /half HTTP/1.1\r\nHost: a")
    wire.sock.close()
    assert eventually(lambda: sidecar.open_connections() == 0)
    assert sidecar.exchanges == []  # no request was complete: nothing to record
    assert upstream.connections == []
    assert served_after(sidecar)


def test_leaving_while_the_upstream_connection_opens(loop_name: str) -> None:
    backlog = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(backlog.getsockname())  # the accept queue is full: connect hangs
    sidecar = ThreadSidecar(backlog.getsockname()[1], loop_name, connect_timeout_s=1.0)
    try:
        wire = connect(sidecar.port)
        wire.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        time.sleep(0.1)
        wire.sock.close()
        exchange = sidecar.wait_exchanges(1)[0]
        assert (exchange.status, exchange.error_type) == (0, "client_disconnected")
        assert eventually(lambda: sidecar.call(lambda: len(sidecar.pool.pending)) == 0)
        assert sidecar.open_connections() == 0
    finally:
        sidecar.close()
        filler.close()
        backlog.close()


def test_leaving_mid_response(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    def large(connection: Connection, head: Message) -> bool:
        if head.start[1] != b"/large":
            connection.send(respond(200, head.start[1]))
            return True
        size = 8 * 1024 * 1024
        connection.send(respond(200, b"r" * 65536, [(b"Content-Length", b"%d" % size)]))
        time.sleep(0.5)  # the client leaves now, with most of the body still to come
        with contextlib.suppress(OSError):  # the proxy closes this connection when its client leaves
            connection.send(b"r" * (size - 65536))
        return True

    upstream.handler = large
    wire = connect(sidecar.port)
    wire.send(b"GET /large HTTP/1.1\r\nHost: app\r\n\r\n")
    assert wire.read_exact(1024).startswith(b"HTTP/1.1 200")
    wire.sock.close()
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.error_type) == (200, "client_disconnected")
    assert eventually(lambda: sidecar.open_connections() == 0)
    assert served_after(sidecar)
    assert len(upstream.connections) == 2  # the half-read response's connection was not reused
