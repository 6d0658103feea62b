"""Client-side timeouts, all found by the pool's one periodic sweep: a head that does not finish in
time (slowloris) gets 408, a keep-alive connection idle too long is closed, and pooled upstream
connections idle too long are closed too. Requests not affected go through."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from proxy.limits import ClientLimits
from tests.proxy.clients import curl, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import HttpServer
from tests.proxy.wire import Wire, connect, read_response

TIMEOUT_S = 0.5
REQUEST = b"GET /t HTTP/1.1\r\nHost: app\r\n\r\n"


@pytest.fixture
def hurried(upstream: HttpServer, loop_name: str) -> Iterator[tuple[ThreadSidecar, list[int]]]:
    limits = ClientLimits(header_timeout_s=TIMEOUT_S, idle_timeout_s=TIMEOUT_S * 2)
    proxy = ThreadSidecar(upstream.port, loop_name, limits=limits)
    proxy.pool.idle_timeout_s = TIMEOUT_S
    refused: list[int] = []
    proxy.proxy.listeners["inbound"].refused = refused.append
    yield proxy, refused
    proxy.close()


def closed_within(wire: Wire, seconds: float) -> bool:
    """The proxy closed the connection (EOF) within `seconds`, sending nothing."""
    wire.sock.settimeout(seconds)
    return wire.read_some() == b""


def test_slowloris_head_gets_408(hurried: tuple[ThreadSidecar, list[int]], upstream: HttpServer) -> None:
    sidecar, refused = hurried
    wire = connect(sidecar.port)
    started = time.monotonic()
    for byte in REQUEST[:-2]:  # a byte every 50 ms: each read is recent, the head never completes
        wire.send(bytes([byte]))
        if time.monotonic() - started > TIMEOUT_S * 6:
            break
        time.sleep(0.05)
    response = read_response(wire)
    assert response.status == 408
    assert refused == [408]
    # A client this slow to say what it speaks gets an upstream connection opened early (in case the
    # server speaks first, proxy.accept), but no request reaches it.
    assert upstream.requests == []
    assert curl("--http1.1", url(sidecar.port, "/next")).stdout == b"/next"


def test_idle_keep_alive_connection_is_closed(hurried: tuple[ThreadSidecar, list[int]]) -> None:
    sidecar, refused = hurried
    wire = connect(sidecar.port)
    wire.send(REQUEST)
    assert read_response(wire).payload == b"/t"
    assert closed_within(wire, TIMEOUT_S * 8)
    assert refused == []  # idle is not an error: closed without a response
    assert sidecar.open_connections() == 0


def test_connection_that_never_sends_is_closed(hurried: tuple[ThreadSidecar, list[int]]) -> None:
    sidecar, _ = hurried
    wire = connect(sidecar.port)
    assert closed_within(wire, TIMEOUT_S * 8)


def test_busy_connection_is_not_cut(hurried: tuple[ThreadSidecar, list[int]], upstream: HttpServer) -> None:
    """Requests more often than the idle timeout keep one connection for longer than it."""
    sidecar, refused = hurried
    wire = connect(sidecar.port)
    deadline = time.monotonic() + TIMEOUT_S * 4
    while time.monotonic() < deadline:
        wire.send(REQUEST)
        assert read_response(wire).status == 200
        time.sleep(TIMEOUT_S / 2)
    assert refused == []
    assert len(upstream.connections) == 1


def test_idle_upstream_connection_is_closed(
    hurried: tuple[ThreadSidecar, list[int]], upstream: HttpServer
) -> None:
    sidecar, _ = hurried
    assert curl("--http1.1", url(sidecar.port, "/a")).stdout == b"/a"
    pool = sidecar.pool

    def pooled() -> int:
        return sum(len(idle) for idle in pool.idle.values())

    deadline = time.monotonic() + TIMEOUT_S * 8
    while sidecar.call(pooled) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sidecar.call(pooled) == 0
    assert curl("--http1.1", url(sidecar.port, "/b")).stdout == b"/b"
    assert len(upstream.connections) == 2  # a new one: the idle one was closed
