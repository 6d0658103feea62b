"""Upstream connections per original destination: reuse idle ones, bound how many are kept.

`acquire` never awaits in the caller: a new connection is opened in a task and the request's bytes
wait (bounded by the downstream's own buffer limit) until it is up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from proxy.early_upstream import connect_error
from proxy.tasks import spawn

if TYPE_CHECKING:
    from proxy.forwarder import Downstream, Upstream

log = logging.getLogger("tracecar.pool")
P = TypeVar("P", bound=asyncio.BaseProtocol)

# As many idle connections per destination as clients keep busy: with 256 concurrent clients and a
# cap of 32, most requests opened and closed a connection (10,000 sockets in TIME-WAIT after 5 s,
# four times the CPU per request, and ephemeral ports running out). Idle ones still expire.
MAX_IDLE_PER_DESTINATION = 1024
# --upstream-idle-timeout: below the usual 75 s of servers' keep-alive, so we close first
IDLE_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 5.0
HEADER_TIMEOUT_S = 60.0  # from the last request byte sent to the response head; then a 504
MAX_SWEEP_INTERVAL_S = 1.0  # timeouts fire up to this late (or a quarter of the shortest timeout)


async def connect(factory: Callable[[], P], destination: tuple[str, int], timeout_s: float) -> P:
    """A TCP connection to `destination` with `factory`'s protocol, or TimeoutError / OSError.
    asyncio.timeout rather than wait_for: wait_for runs the connect in a second Task, and every
    upstream connection pays for it."""
    async with asyncio.timeout(timeout_s):
        _, protocol = await asyncio.get_running_loop().create_connection(factory, *destination)
    return protocol


class Pool:
    def __init__(
        self,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.header_timeout_s = header_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_idle = MAX_IDLE_PER_DESTINATION  # per destination
        # Other timeouts the sweep checks (the listeners' client timeouts), and the shortest of them.
        self.sweepers: list[Callable[[float], None]] = []
        self.shortest_timeout_s = MAX_SWEEP_INTERVAL_S * 4
        self.idle: dict[tuple[str, int], list[Upstream]] = {}
        self.pending: dict[Downstream, list[bytes]] = {}  # bytes for connections still opening
        self.connecting: set[asyncio.Task[None]] = set()
        self.awaiting_head: set[Upstream] = set()  # sent a request, no response head yet
        self.opened = 0  # connections opened, ever
        self.live = 0  # connections open now: connected and not yet lost
        self._sweeper: asyncio.TimerHandle | None = None

    # Timeouts are found by one periodic sweep rather than a timer per request and per idle
    # connection: in CPython 3.11 each `call_later` costs a getpid() system call on top of the
    # timer itself, and nearly every timer would be cancelled unfired.

    def watch(self, expire: Callable[[float], None], timeout_s: float) -> None:
        """Have every sweep call `expire(now)` too, often enough for a timeout of `timeout_s`."""
        self.sweepers.append(expire)
        self.shortest_timeout_s = min(self.shortest_timeout_s, timeout_s)

    def start_sweeping(self) -> None:
        if self._sweeper is None:
            self._sweep_later()

    def _sweep_later(self) -> None:
        shortest = min(self.shortest_timeout_s, self.header_timeout_s, self.idle_timeout_s)
        interval = min(MAX_SWEEP_INTERVAL_S, shortest / 4)
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._sweep_later()  # first: a failure below must not end the sweeping
        now = time.monotonic()
        for upstream in list(self.awaiting_head):
            upstream.check_head_timeout(now)
        for idle in list(self.idle.values()):
            for upstream in [u for u in idle if now - u.idle_since >= self.idle_timeout_s]:
                upstream.discard()
        for expire in self.sweepers:
            expire(now)

    def acquire(self, key: tuple[str, int], downstream: Downstream, head: bytes, fresh: bool = False) -> None:
        """Send `head` on an idle connection to `key`, or on a new one (always, with `fresh`)."""
        self.start_sweeping()
        idle = None if fresh else self.idle.get(key)
        while idle:
            upstream = idle.pop()
            if upstream.transport is not None and not upstream.transport.is_closing():
                upstream.begin(downstream, head)
                return
        self.pending[downstream] = [head]
        task = spawn(self._open(key, downstream), name=f"connect {key[0]}:{key[1]}")
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    def queue(self, downstream: Downstream, data: bytes) -> None:
        waiting = self.pending.get(downstream)
        if waiting is not None:
            waiting.append(data)

    async def _open(self, key: tuple[str, int], downstream: Downstream) -> None:
        from proxy.forwarder import Upstream  # noqa: PLC0415 - the two modules refer to each other

        try:
            upstream = await connect(lambda: Upstream(self, key), key, self.connect_timeout_s)
        except TimeoutError:
            detail = f"connecting to {key[0]}:{key[1]} timed out"
            self._failed(downstream, 504, "upstream_connect_timeout", detail)
            return
        except OSError as error:
            detail = f"cannot connect to {key[0]}:{key[1]}: {error.strerror}"
            self._failed(downstream, 502, connect_error(error), detail)
            return
        self.opened += 1
        waiting = self.pending.pop(downstream, None)
        if waiting is None or downstream.closing:  # the client left while we were connecting
            upstream.discard()
            return
        # No TCP_NODELAY to set: uvloop and asyncio set it on every TCP connection they make.
        upstream.begin(downstream, waiting[0])
        for data in waiting[1:]:
            upstream.send(data)

    def _failed(self, downstream: Downstream, status: int, error_type: str, detail: str) -> None:
        self.pending.pop(downstream, None)
        log.info("%s: %s", error_type, detail)
        if not downstream.closing:
            downstream.upstream_failed(status, error_type, detail)

    def release(self, upstream: Upstream) -> None:
        idle = self.idle.setdefault(upstream.key, [])
        if len(idle) >= self.max_idle:
            upstream.discard()
            return
        idle.append(upstream)
        if upstream.transport is not None:  # its last client may have paused it: idle ones must see a close
            upstream.transport.resume_reading()
        upstream.idle_since = time.monotonic()

    def idle_connections(self) -> int:
        return sum([len(idle) for idle in self.idle.values()])

    def forget(self, upstream: Upstream) -> None:
        idle = self.idle.get(upstream.key)
        if idle and upstream in idle:
            idle.remove(upstream)

    def close(self) -> None:
        """At shutdown: no connection is being opened or kept any more."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self.connecting):
            task.cancel()
        for idle in self.idle.values():
            for upstream in list(idle):
                upstream.discard()
        self.idle.clear()
