"""eBPF events in, connection spans and observed payload out: a pure state machine.

A reported connection becomes the same `proxy.tcp_span` span the opaque relay records, and its
payload (client bytes and server bytes, in order) goes to `proxy.observers.observer_for` exactly as
the relay offers it, so the same database command spans come out of both paths.

bpftrace reads per-CPU buffers, so a connection's events can arrive out of order: each carries a
sequence number (payload chunks also an offset) and waits here until the ones before it came. When
order cannot be restored (lost events, a read longer than the capture limit) the connection is
still reported, but its observer is dropped: a parser fed a stream with a hole would invent commands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from propagation import Sampler
from propagation.context import SAMPLED, Extracted
from propagation.sampling import next_context
from proxy.ebpf.events import Closed, Data, Event, Failed, Key, Lost, Opened
from proxy.ebpf.policy import Policy, reported
from proxy.ebpf.program import CAPTURE_LIMIT
from proxy.observers import StreamInfo, StreamObserver, observer_for
from proxy.spans.record import SpanRecord
from proxy.tcp_span import RESET, TIMEOUT, TcpConnection, connection_span

log = logging.getLogger("tracecar.ebpf")

MAX_CONNECTIONS = 65536  # followed at once; past it the oldest is forgotten (its close was lost)
MAX_HELD = 256  # events of one connection waiting for an earlier one; past it order is given up
MAX_EARLY = 4096  # events of connections whose open has not arrived yet
ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH = 104, 110, 111, 113, 101
CONNECT_ERRORS = {
    ECONNREFUSED: "connection_refused",
    ETIMEDOUT: "connect_timeout",
    EHOSTUNREACH: "unreachable",
    ENETUNREACH: "unreachable",
}

Observe = Callable[[bytes, StreamInfo], StreamObserver | None]
Position = tuple[int, int]  # (seq, offset)
V = TypeVar("V")


@dataclass(slots=True)
class _Connection:
    tcp: TcpConnection
    client_writes: bool  # this side's writes are the client's bytes (it connected)
    sampled: bool
    next: Position = (1, 0)
    held: dict[Position, Data | Closed] = field(default_factory=dict)
    observer: StreamObserver | None = None
    observing: bool = True  # False once nothing recognised the stream or it could not be trusted


@dataclass
class Counts:
    events: int = 0
    lost: int = 0
    reported: int = 0
    skipped: int = 0
    observers_dropped: int = 0


class Tracker:
    def __init__(
        self,
        policy: Policy,
        record: Callable[[SpanRecord], None],
        sampler: Sampler,
        wall_offset_ns: int,
        observe: Observe = observer_for,
    ) -> None:
        self.policy = policy
        self.record = record
        self.sampler = sampler
        self.wall_offset_ns = wall_offset_ns  # time.time_ns() - time.monotonic_ns(): kernel times to wall
        self.observe = observe
        self.counts = Counts()
        self._open: dict[Key, _Connection] = {}
        self._ignored: dict[Key, None] = {}  # skipped by the policy, until their close
        self._early: dict[Key, list[Data | Closed]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def handle(self, event: Event) -> None:
        self.counts.events += 1
        if isinstance(event, Opened):
            self._opened(event)
        elif isinstance(event, Data | Closed):
            self._sequenced(event)
        elif isinstance(event, Failed):
            self._failed(event)
        elif isinstance(event, Lost):
            self._lost(event.count)

    def _opened(self, opened: Opened) -> None:
        early = self._early.pop(opened.key, [])
        if not reported(self.policy, opened):
            self.counts.skipped += 1
            if not any(isinstance(event, Closed) for event in early):
                _bounded_add(self._ignored, opened.key, None, MAX_CONNECTIONS)
            return
        connection = self._connection(opened)
        _bounded_add(self._open, opened.key, connection, MAX_CONNECTIONS)
        for event in early:
            self._sequenced(event)

    def _connection(self, opened: Opened) -> _Connection:
        context = next_context(Extracted(), self.sampler)
        client, server = (opened.local, opened.remote) if opened.outbound else (opened.remote, opened.local)
        direction = "outbound" if opened.outbound else "inbound"
        tcp = TcpConnection(direction, client, server, context, None, opened.key[1] + self.wall_offset_ns)
        return _Connection(tcp, opened.outbound, bool(context.flags & SAMPLED), observing=opened.capture)

    def _sequenced(self, event: Data | Closed) -> None:
        connection = self._open.get(event.key)
        if connection is None:
            if event.key in self._ignored:
                if isinstance(event, Closed):
                    del self._ignored[event.key]
                return
            _bounded_add(self._early, event.key, [*self._early.get(event.key, []), event], MAX_EARLY)
            return
        position = (event.seq, event.offset if isinstance(event, Data) else 0)
        if position > connection.next:
            connection.held[position] = event
            if len(connection.held) > MAX_HELD:
                self._give_up_order(connection)
            return
        self._apply(connection, event)
        while connection.next in connection.held:
            self._apply(connection, connection.held.pop(connection.next))

    def _apply(self, connection: _Connection, event: Data | Closed) -> None:
        if isinstance(event, Closed):
            self._closed(connection, event)
            return
        end = event.offset + len(event.payload)
        captured = min(event.length, CAPTURE_LIMIT)
        connection.next = (event.seq, end) if end < captured else (event.seq + 1, 0)
        if connection.observing:
            self._observe(connection, event, truncated=end == captured < event.length)

    def _observe(self, connection: _Connection, data: Data, truncated: bool) -> None:
        now = data.at_ns + self.wall_offset_ns
        from_client = data.sent == connection.client_writes
        try:
            if connection.observer is None:
                if not from_client:
                    return  # server bytes before the client spoke: nothing to recognise yet
                connection.observer = self.observe(data.payload, self._stream(connection))
                if connection.observer is None:
                    connection.observing = False
                    return
            if from_client:
                connection.observer.client_data(data.payload, now)
            else:
                connection.observer.server_data(data.payload, now)
        except Exception:
            log.exception(
                "ebpf: an observer failed on %s; its connection is still reported", _name(connection)
            )
            self._drop_observer(connection)
            return
        if truncated:  # the rest of this read was not copied: what follows would be misread
            self._drop_observer(connection)

    def _stream(self, connection: _Connection) -> StreamInfo:
        tcp = connection.tcp
        return StreamInfo(tcp.direction, tcp.client, tcp.server, self.record, self.sampler)

    def _closed(self, connection: _Connection, closed: Closed) -> None:
        del self._open[closed.key]
        tcp = connection.tcp
        tcp.end_ns = closed.end_ns + self.wall_offset_ns
        mine = (closed.sent, closed.received)
        tcp.bytes_from_client, tcp.bytes_from_server = mine if connection.client_writes else mine[::-1]
        if closed.errno == ETIMEDOUT:
            tcp.ended = TIMEOUT
        elif closed.reset or closed.errno == ECONNRESET:
            tcp.ended = RESET
        if connection.observer is not None:
            try:
                connection.observer.closed(tcp.end_ns)
            except Exception:
                log.exception("ebpf: an observer failed at the close of %s", _name(connection))
        self._report(connection)

    def _failed(self, failed: Failed) -> None:
        opened = failed.opened
        if not reported(self.policy, opened):
            self.counts.skipped += 1
            return
        connection = self._connection(opened)
        connection.tcp.end_ns = failed.end_ns + self.wall_offset_ns
        connection.tcp.error = CONNECT_ERRORS.get(failed.errno, "connect_failed")
        self._report(connection)

    def _report(self, connection: _Connection) -> None:
        self.counts.reported += 1
        if connection.sampled:
            self.record(connection_span(connection.tcp))

    def _lost(self, count: int) -> None:
        """Some events never arrived: no stream can be trusted, and waiting for them is pointless."""
        self.counts.lost += count
        for connection in list(self._open.values()):
            self._give_up_order(connection)

    def _give_up_order(self, connection: _Connection) -> None:
        self._drop_observer(connection)
        held = sorted(connection.held.items(), key=lambda item: item[0])
        connection.held.clear()
        for position, event in held:
            connection.next = max(connection.next, position)
            self._apply(connection, event)

    def _drop_observer(self, connection: _Connection) -> None:
        if connection.observing:
            self.counts.observers_dropped += 1
        connection.observer, connection.observing = None, False


def _bounded_add(table: dict[Key, V], key: Key, value: V, limit: int) -> None:
    if len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value


def _name(connection: _Connection) -> str:
    host, port = connection.tcp.server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
