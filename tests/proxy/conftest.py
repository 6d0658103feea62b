"""Fixtures: a recording upstream server and the proxy in front of it, on both event loops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.proxy.sidecar import LOOPS, ThreadSidecar
from tests.proxy.upstream import HttpServer


@pytest.fixture
def upstream() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def sidecar(upstream: HttpServer, loop_name: str) -> Iterator[ThreadSidecar]:
    proxy = ThreadSidecar(upstream.port, loop_name)
    yield proxy
    proxy.close()
