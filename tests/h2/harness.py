"""One proxy listener in a thread of the test process, on loopback, forwarding to a fixed upstream.

The listener is the real one (`proxy.accept.Accepted`, the real handlers); only iptables is left
out, by `upstream_override`. Finished exchanges are collected for the test to inspect.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from propagation import Propagators
from propagation.sampling import AlwaysOn
from proxy.accept import Accepted
from proxy.exchange import Exchange
from proxy.forwarder import Listener
from proxy.h2.relay import Relay
from proxy.pool import Pool
from tests.e2e.test_w3c_through_sidecar import free_port as e2e_free_port
from tests.h2.grpc_app import serve


class RunningProxy:
    def __init__(self, direction: str, upstream: tuple[str, int]) -> None:
        self.exchanges: list[Exchange] = []
        self.loop = asyncio.new_event_loop()
        self.listener = Listener(
            direction,
            Pool(connect_timeout_s=2.0),
            Propagators(),
            AlwaysOn(),
            finished=self.exchanges.append,
            upstream_override=upstream,
        )
        self.listener.handlers["h2"] = Relay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        factory = functools.partial(Accepted, self.listener)
        self.loop.run_until_complete(self.loop.create_server(factory, sock=self.sock))
        self.loop.run_forever()

    def call(self, function: object) -> None:
        self.loop.call_soon_threadsafe(function)  # type: ignore[arg-type]

    def relays(self) -> list[Relay]:
        return [c for c in list(self.listener.connections) if isinstance(c, Relay)]

    def wait_for_exchanges(self, count: int, timeout_s: float = 10.0) -> list[Exchange]:
        deadline = time.monotonic() + timeout_s
        while len(self.exchanges) < count:
            assert time.monotonic() < deadline, f"{len(self.exchanges)} of {count} exchanges finished"
            time.sleep(0.01)
        return list(self.exchanges)


@contextmanager
def running_proxy(upstream: tuple[str, int], direction: str = "inbound") -> Iterator[RunningProxy]:
    proxy = RunningProxy(direction, upstream)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.loop.call_soon_threadsafe(proxy.loop.stop)
        proxy.thread.join(5)


@contextmanager
def proxied_app() -> Iterator[RunningProxy]:
    """The demo gRPC application (tests.h2.grpc_app) on loopback, and a proxy in front of it."""
    port = free_port()
    server = serve(f"127.0.0.1:{port}")
    try:
        with running_proxy(("127.0.0.1", port)) as proxy:
            yield proxy
    finally:
        server.stop(0)


def wait_until(check: Callable[[], object], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def free_port() -> int:
    return e2e_free_port()  # below the ephemeral range: see there
