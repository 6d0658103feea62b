"""The proxy under test, fixed upstream and no iptables: on a thread with its own loop, or as a process.

    python -m tests.proxy.sidecar UPSTREAM_PORT asyncio|uvloop
runs it as a process: it prints its port, then one line per finished exchange
("<status> <error_type or ->"), until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import uvloop

from propagation import Propagators
from propagation.sampling import AlwaysOn, ParentBased
from proxy.exchange import Exchange
from proxy.limits import DEFAULT_LIMITS, ClientLimits
from proxy.pool import Pool
from proxy.server import Proxy, ProxyConfig

T = TypeVar("T")
LOOPS = ("asyncio", "uvloop")


def _config(upstream_port: int, limits: ClientLimits = DEFAULT_LIMITS) -> ProxyConfig:
    return ProxyConfig(
        inbound_port=0,
        outbound_port=0,
        ipv6=False,
        upstream=("127.0.0.1", upstream_port),
        drain_grace_s=1.0,
        limits=limits,
    )


def _proxy(
    upstream_port: int, finished: Callable[[Exchange], None], limits: ClientLimits = DEFAULT_LIMITS
) -> Proxy:
    """The default propagation formats (tracecontext, baggage) and sampler, whatever the environment."""
    return Proxy(_config(upstream_port, limits), Propagators(), ParentBased(AlwaysOn()), finished)


def _inbound_port(proxy: Proxy) -> int:
    server: Any = proxy.servers[0]  # asyncio.Server or uvloop's Server: both have `sockets`
    port: int = server.sockets[0].getsockname()[1]
    return port


class ThreadSidecar:
    """A `Proxy` serving on a thread; `exchanges` collects what it passed to `finished`."""

    def __init__(
        self,
        upstream_port: int,
        loop: str = "asyncio",
        *,
        header_timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        limits: ClientLimits = DEFAULT_LIMITS,
    ) -> None:
        self.loop = uvloop.new_event_loop() if loop == "uvloop" else asyncio.new_event_loop()
        self.proxy = _proxy(upstream_port, self._finished, limits)
        for pool in self.proxy.pools.values():
            pool.header_timeout_s = header_timeout_s
            pool.connect_timeout_s = connect_timeout_s
        self.exchanges: list[Exchange] = []
        self._changed = threading.Condition()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._serve(),), daemon=True
        )
        self._started = threading.Event()
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the proxy did not start")
        self.port = _inbound_port(self.proxy)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self.proxy.start()
        self._started.set()
        await self._stop.wait()
        await self.proxy.drain()

    def _finished(self, exchange: Exchange) -> None:
        with self._changed:
            self.exchanges.append(exchange)
            self._changed.notify_all()

    def wait_exchanges(self, count: int, timeout: float = 10.0) -> list[Exchange]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.exchanges) >= count, timeout):
                raise AssertionError(f"{len(self.exchanges)} exchanges finished, expected {count}")
            return list(self.exchanges)

    @property
    def pool(self) -> Pool:
        """The inbound listener's upstream pool: the one `port` (the inbound listener) uses."""
        return self.proxy.listeners["inbound"].pool

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the proxy's loop (its state belongs to that thread) and return its result."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def open_connections(self) -> int:
        return self.call(self.proxy.open_connections)

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self.loop.close()


async def _main(upstream_port: int) -> None:
    def finished(exchange: Exchange) -> None:
        print(exchange.status, exchange.error_type or "-", flush=True)

    proxy = _proxy(upstream_port, finished)
    await proxy.start()
    print(_inbound_port(proxy), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await proxy.drain()


def main(argv: list[str]) -> None:
    port, loop = int(argv[0]), argv[1]
    if loop == "uvloop":
        uvloop.run(_main(port))
    else:
        asyncio.run(_main(port))


if __name__ == "__main__":
    main(sys.argv[1:])
