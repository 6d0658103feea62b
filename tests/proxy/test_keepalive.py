"""Keep-alive on both sides, a bounded idle pool, and Connection: close from either side
(RFC 9112 section 9)."""

from __future__ import annotations

import http.client
import socket
import threading
import time

from proxy.pool import MAX_IDLE_PER_DESTINATION
from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, connect, read_response


def test_curl_reuses_one_connection_on_each_side(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    args: list[str] = []
    for path in ("/one", "/two", "/three"):
        args += ["--next", "--http1.1", "-w", "%{num_connects} ", url(sidecar.port, path)]
    result = curl(*args[1:])
    assert result.stdout == b"/one1 /two0 /three0 "
    assert len(upstream.connections) == 1
    assert [request.start[1] for request in upstream.requests] == [b"/one", b"/two", b"/three"]
    assert [exchange.status for exchange in sidecar.wait_exchanges(3)] == [200, 200, 200]


def test_python_client_keeps_its_connection(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    client = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    bodies, sockets = [], set()
    for method, body in (("GET", None), ("POST", b"x" * 70_000), ("PUT", b"put"), ("GET", None)):
        client.request(method, f"/{method.lower()}", body=body)
        bodies.append(client.getresponse().read())
        sockets.add(id(client.sock))
    client.close()
    assert len(sockets) == 1
    assert bodies == [b"/get", b"x" * 70_000, b"put", b"/get"]
    assert len(upstream.connections) == 1


def test_sequential_clients_share_a_pooled_upstream(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    for path in ("/a", "/b", "/c"):
        assert curl("--http1.1", url(sidecar.port, path)).stdout == path.encode()
    assert len(upstream.connections) == 1


def test_idle_pool_is_bounded(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    assert sidecar.pool.max_idle == MAX_IDLE_PER_DESTINATION
    bound = 16  # the default bound behaves the same, with a thousand threads more in this test
    sidecar.pool.max_idle = bound
    clients = bound + 8
    everyone_arrived = threading.Barrier(clients, timeout=10)

    def held(connection: Connection, head: Message) -> bool:
        everyone_arrived.wait()  # all requests in flight at once: one upstream connection each
        connection.send(respond(200, b"held"))
        return True

    upstream.handler = held
    wires = [connect(sidecar.port) for _ in range(clients)]
    for wire in wires:
        wire.send(b"GET /held HTTP/1.1\r\nHost: app\r\n\r\n")
    assert all(read_response(wire).payload == b"held" for wire in wires)
    idle = sidecar.call(lambda: sum(len(idle) for idle in sidecar.pool.idle.values()))
    assert len(upstream.connections) == clients
    assert idle == bound


def test_client_connection_close_ends_the_client_connection(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    wire = connect(sidecar.port)
    wire.send(b"GET /bye HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
    assert read_response(wire).payload == b"/bye"
    assert wire.read_to_eof() == b""
    assert upstream.requests[0].header(b"connection") == b"close"
    assert curl("--http1.1", url(sidecar.port, "/next")).stdout == b"/next"


def test_upstream_connection_close_is_passed_on(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    def closing(connection: Connection, head: Message) -> bool:
        connection.send(respond(200, b"last", [(b"Content-Length", b"4"), (b"Connection", b"close")]))
        return False

    upstream.handler = closing
    wire = connect(sidecar.port)
    wire.send(b"GET /one HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).header(b"connection") == b"close"
    assert wire.read_to_eof() == b""  # the client was told the connection closes: it does
    assert curl("--http1.1", url(sidecar.port, "/two")).stdout == b"last"
    assert len(upstream.connections) == 2


def test_response_delimited_by_close_closes_the_client(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    def until_close(connection: Connection, head: Message) -> bool:
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends at the close")
        return False

    upstream.handler = until_close
    wire = connect(sidecar.port)
    wire.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).payload == b"the body ends at the close"
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.error_type) == (200, "")


def test_upstream_paused_by_a_slow_client_is_pooled_reading(
    sidecar: ThreadSidecar, upstream: HttpServer
) -> None:
    """A response that ends while the client is behind leaves its upstream paused: the pool must not
    hand that connection to the next client still paused."""
    size = 4_000_000  # not a multiple of the proxy's 256 KiB reads: the last one is big enough to pause

    def big(connection: Connection, head: Message) -> bool:
        body = b"b" * size if head.start[1] == b"/big" else b"small"
        connection.send(respond(200, body))
        return True

    upstream.handler = big
    slow = connect(sidecar.port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    slow.send(b"GET /big HTTP/1.1\r\nHost: app\r\n\r\n")
    received = 0
    while received < size:  # read in sips, so the proxy's write buffer stays above its high-water mark
        received += len(slow.read_some(32 * 1024))
        time.sleep(0.002)
    other = connect(sidecar.port)
    other.send(b"GET /small HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(other).payload == b"small"
    assert len(upstream.connections) == 1


def test_upstream_connections_send_without_delay(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    """The pool sets no TCP_NODELAY itself: both loops set it on every connection they open, so a small
    request head leaves at once instead of waiting for the ACK of the one before (Nagle)."""
    curl(url(sidecar.port, "/one"))

    def no_delay() -> list[int]:
        transports = [pooled.transport for idle in sidecar.pool.idle.values() for pooled in idle]
        sockets = [transport.get_extra_info("socket") for transport in transports if transport is not None]
        return [sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in sockets]

    assert sidecar.call(no_delay) == [1]
