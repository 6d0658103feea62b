"""The upstream connection metrics of a real `tracecar proxy`: each direction's pool, read at scrape
time (they once stayed 0 whatever the pool held)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.proxy_process import ProxyProcess, proxy_process
from tests.proxy.upstream import Connection, HttpServer, echo
from tests.proxy.wire import Message

INBOUND = 'direction="inbound"'


@pytest.fixture
def upstream() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


def gauge(proxy: ProxyProcess, state: str, direction: str = INBOUND) -> float:
    return proxy.metric(f'tracecar_upstream_connections{{{direction},state="{state}"}}')


def test_opened_idle_and_active_follow_the_pool(upstream: HttpServer, tmp_path: Path) -> None:
    release = threading.Event()

    def held(connection: Connection, head: Message) -> bool:
        if head.start[1] == b"/held":
            release.wait(10)
        return echo(connection, head)

    upstream.handler = held
    with proxy_process(upstream.port, tmp_path) as proxy:
        client = http.client.HTTPConnection("127.0.0.1", proxy.inbound, timeout=10)
        for path in ("/a", "/b", "/c"):
            client.request("GET", path)
            assert client.getresponse().read() == path.encode()
        assert proxy.metric(f"tracecar_upstream_connections_opened_total{{{INBOUND}}}") == 1
        assert (gauge(proxy, "idle"), gauge(proxy, "active"), gauge(proxy, "connecting")) == (1, 0, 0)

        client.request("GET", "/held")  # the pooled connection carries it; the upstream holds on
        other = http.client.HTTPConnection("127.0.0.1", proxy.inbound, timeout=10)
        other.request("GET", "/d")  # needs a second connection meanwhile
        assert other.getresponse().read() == b"/d"
        assert (gauge(proxy, "idle"), gauge(proxy, "active")) == (1, 1)
        release.set()
        assert client.getresponse().read() == b"/held"
        assert (gauge(proxy, "idle"), gauge(proxy, "active")) == (2, 0)
        assert proxy.metric(f"tracecar_upstream_connections_opened_total{{{INBOUND}}}") == 2
        outbound = 'direction="outbound"'
        assert proxy.metric(f"tracecar_upstream_connections_opened_total{{{outbound}}}") == 0
        client.close()
        other.close()
