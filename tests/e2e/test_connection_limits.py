"""File descriptors: the proxy raises its open-file limit at start, so thousands of concurrent client
connections work where the usual soft limit of 1024 would stop them; when descriptors do run out it
logs one clear error, keeps running, and serves again once connections close."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.proxy_process import proxy_process
from tests.proxy.upstream import HttpServer
from tests.proxy.wire import Wire, read_response

CONNECTIONS = 2000
# A client silent past the server-first wait gets an upstream connection opened early (proxy.accept):
# at most two descriptors per client in the proxy, and the test's upstream holds those ends too.
DESCRIPTORS = 2 * CONNECTIONS
REQUEST = b"GET /c HTTP/1.1\r\nHost: app\r\n\r\n"


@pytest.fixture(autouse=True)
def enough_descriptors() -> Iterator[None]:
    """This test process holds the client ends: it needs more than the usual 1024 itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < DESCRIPTORS + 200:
        pytest.fail(f"the hard open-file limit ({hard}) is below what the test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def request(wire: Wire) -> int:
    wire.send(REQUEST)
    return read_response(wire).status


def test_thousands_of_connections_beyond_the_soft_limit(tmp_path: Path) -> None:
    upstream = HttpServer(record=False)
    with proxy_process(upstream.port, tmp_path, nofile=(1024, DESCRIPTORS + 512)) as proxy:
        # Each client asks at once: one left silent would get an upstream connection opened early,
        # which this test's upstream closes after its read timeout (and the proxy passes that on).
        wires: list[Wire] = []
        try:
            for _ in range(CONNECTIONS):
                wires.append(Wire(socket.create_connection(("127.0.0.1", proxy.inbound))))
                assert request(wires[-1]) == 200
            assert proxy.metric('tracecar_open_connections{direction="inbound"}') == CONNECTIONS
            assert all(request(wire) == 200 for wire in wires[::100])  # each still usable
        finally:
            for wire in wires:
                wire.sock.close()
    upstream.close()
    assert b"out of file descriptors" not in proxy.log.read_bytes()


def test_exhausted_descriptors_are_reported_and_recovered_from(tmp_path: Path) -> None:
    upstream = HttpServer(record=False)
    with proxy_process(upstream.port, tmp_path, nofile=(128, 128)) as proxy:
        held = []
        for _ in range(300):  # far more than 128 descriptors allow; none sends a byte
            with contextlib.suppress(OSError):
                held.append(socket.create_connection(("127.0.0.1", proxy.inbound), timeout=2))
        deadline = time.monotonic() + 10
        while b"out of file descriptors" not in proxy.log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        for sock in held:
            sock.close()
        assert proxy.process.poll() is None
        time.sleep(1)
        wire = Wire(socket.create_connection(("127.0.0.1", proxy.inbound), timeout=10))
        assert request(wire) == 200
        wire.sock.close()
    upstream.close()
    log = proxy.log.read_bytes()
    assert log.count(b"out of file descriptors (") == 1, log.decode(errors="replace")[-2000:]
