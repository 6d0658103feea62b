"""A pooled upstream connection the server closes as the proxy reuses it (its idle timeout, a request
limit per connection): an idempotent request without content goes again on a new connection, once
(RFC 9112 section 9.3.1.1); anything else is a 502 as before."""

from __future__ import annotations

import threading

from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, Handler, HttpServer, echo
from tests.proxy.wire import Message, connect, read_response


def one_per_connection(connection: Connection, head: Message) -> bool:
    """Answers the first request of each connection; at the next one it closes without a word, as a
    server does whose keep-alive timeout fired while the request was on its way."""
    if len(connection.requests) > 1:
        return False
    return echo(connection, head)


def first_only(answered: list[bool]) -> Handler:
    """Answers only the first request it ever gets; every other connection closes unanswered."""
    lock = threading.Lock()

    def handler(connection: Connection, head: Message) -> bool:
        with lock:
            if answered:
                return False
            answered.append(True)
        return echo(connection, head)

    return handler


def test_a_get_goes_again_on_a_new_connection(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = one_per_connection
    wire = connect(sidecar.port)
    for path in (b"/one", b"/two", b"/three"):
        wire.send(b"GET %s HTTP/1.1\r\nHost: app\r\n\r\n" % path)
        response = read_response(wire)
        assert (response.status, response.payload) == (200, path)
    # /two and /three each met a closed pooled connection first, then went on a new one
    assert [c.requests[0].start[1] for c in upstream.connections] == [b"/one", b"/two", b"/three"]
    assert [len(c.requests) for c in upstream.connections] == [2, 2, 1]
    exchanges = sidecar.wait_exchanges(3)
    assert [(e.status, e.error_type, e.resends) for e in exchanges] == [
        (200, "", 0),
        (200, "", 1),
        (200, "", 1),
    ]
    # the request the new connection carried is the same bytes, trace context included
    assert upstream.connections[0].requests[1].raw_head == upstream.connections[1].requests[0].raw_head


def test_a_post_is_not_sent_twice(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = one_per_connection
    wire = connect(sidecar.port)
    wire.send(b"GET /one HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).status == 200
    wire.send(b"POST /order HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nhi")
    assert read_response(wire).status == 502
    assert len(upstream.connections) == 1
    assert [(e.error_type, e.resends) for e in sidecar.wait_exchanges(2)][1] == ("upstream_reset", 0)


def test_only_once_and_never_for_a_new_connection(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = first_only([])
    wire = connect(sidecar.port)
    wire.send(b"GET /one HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).status == 200
    wire.send(b"GET /two HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).status == 502  # the pooled one closed, then the new one did too
    assert [len(c.requests) for c in upstream.connections] == [2, 1]
    exchange = sidecar.wait_exchanges(2)[1]
    assert (exchange.status, exchange.error_type, exchange.resends) == (502, "upstream_reset", 1)
