"""Inbound requests in flight are known by their span context while they last, and only then."""

from __future__ import annotations

import threading

from propagation import SpanContext
from proxy.active_spans import ActiveServerSpans
from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import Connection, HttpServer, echo
from tests.proxy.wire import Message


def _context(n: int) -> SpanContext:
    return SpanContext(b"%032x" % n, b"%016x" % n, 1)


def test_sole_is_the_only_span_in_flight_and_none_otherwise() -> None:
    active = ActiveServerSpans()
    first, second = _context(1), _context(2)
    assert active.sole() is None
    active.begin(first)
    assert active.sole() is first
    active.begin(second)
    assert active.sole() is None
    active.end(first)
    assert active.sole() is second
    active.end(second)
    active.end(second)  # ending twice is harmless
    assert active.sole() is None and len(active) == 0


def test_an_inbound_request_is_active_while_its_upstream_works() -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(connection: Connection, head: Message) -> bool:
        arrived.set()
        release.wait(10)
        return echo(connection, head)

    upstream = HttpServer(slow)
    sidecar = ThreadSidecar(upstream.port)
    try:
        listener = sidecar.proxy.listeners["inbound"]
        assert listener.active is not None and sidecar.proxy.listeners["outbound"].active is None
        done = threading.Thread(target=curl, args=(url(sidecar.port, "/x"),))
        done.start()
        assert arrived.wait(10)
        in_flight = sidecar.call(listener.active.sole)
        release.set()
        done.join(10)
        (exchange,) = sidecar.wait_exchanges(1)
        assert in_flight is exchange.context
        assert sidecar.call(listener.active.sole) is None
    finally:
        release.set()
        sidecar.close()
        upstream.close()
