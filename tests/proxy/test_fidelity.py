"""Apart from the trace-context headers it manages, the proxy changes nothing: header order, case and
duplicates, the request target and every body byte arrive as sent, in both directions."""

from __future__ import annotations

import re

from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer
from tests.proxy.wire import Message, connect, read_head, read_response

PARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(rb"00-4bf92f3577b34da6a3ce929d0e0e4736-([0-9a-f]{16})-01")


def test_request_arrives_byte_exact_but_for_traceparent(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    request = (
        b"PATCH http://App.Example:8080/a/../b;p%2F?q=1&q=2&empty=&%E2%82%AC HTTP/1.1\r\n"
        b"HOST: App.Example:8080\r\n"
        b"x-lower: 1\r\n"
        b"X-UPPER: Two  Spaces\tand tab\r\n"
        b"X-Dup: first\r\n"
        b"TraceParent: " + PARENT + b"\r\n"
        b"Cookie: a=1\r\n"
        b"TRACESTATE: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\r\n"  # valid: passed on as it came
        b"X-Dup: second\r\n"
        b"X-Empty:\r\n"
        b"x-obs-text: caf\xe9\r\n"
        b"cookie: b=2\r\n"
        b"Content-Length: 14\r\n"
        b"\r\n"
        b"\x00\r\n\xff body \r\n\r\n"
    )
    wire = connect(sidecar.port)
    wire.send(request)
    read_response(wire)
    received = upstream.connections[0].received
    child = TRACEPARENT.search(received)
    assert child is not None and child[1] != b"00f067aa0ba902b7"  # same trace, this hop as the parent
    assert received == request.replace(PARENT, child[0])
    exchange = sidecar.wait_exchanges(1)[0]
    assert exchange.context.span_id == child[1]
    assert exchange.request.target == request.split(b" ")[1]


def test_traceparent_is_added_after_the_other_headers(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    head = b"GET /plain HTTP/1.1\r\nHost: app\r\nAccept: */*\r\nX-Last: yes\r\n"
    wire = connect(sidecar.port)
    wire.send(head + b"\r\n")
    read_response(wire)
    received = upstream.connections[0].received
    assert received.startswith(head)
    assert re.fullmatch(rb"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[13]\r\n\r\n", received[len(head) :])


def test_response_arrives_byte_exact(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    response = (
        b"HTTP/1.1 299 Somewhat  OK \r\n"
        b"set-cookie: a=1; Path=/\r\n"
        b"X-Order: 1\r\n"
        b"SET-COOKIE: b=2\r\n"
        b"Content-Length: 7\r\n"
        b"x-order: 2\r\n"
        b"\r\n"
        b"\x00\xff\r\n\r\n!"
    )

    def raw(connection: Connection, head: Message) -> bool:
        connection.send(response)
        return True

    upstream.handler = raw
    wire = connect(sidecar.port)
    wire.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    assert read_response(wire).payload == response[-7:]
    assert bytes(wire.received) == response
    assert sidecar.wait_exchanges(1)[0].status == 299


def test_interim_responses_pass_through(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def hints(connection: Connection, head: Message) -> bool:
        connection.send(interim)
        connection.send(final)
        return True

    upstream.handler = hints
    wire = connect(sidecar.port)
    wire.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    first = read_head(wire)
    assert first is not None and first.raw_head == interim
    assert read_response(wire).payload == b"ok"
    assert sidecar.wait_exchanges(1)[0].status == 200
