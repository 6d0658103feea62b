"""The opaque TCP relay: bytes both ways, untouched, for every connection that is not HTTP.

Backpressure both ways (a full write buffer on one side pauses reading on the other), half-close
passed on (`write_eof`), a reset on one side becomes a reset on the other (SO_LINGER 0), and a
failed connect resets the client, as connecting directly would have. Each connection becomes one
span (`proxy.tcp_span`); database protocols on it get a span per command from the observers
(`proxy.observers`), which see the bytes as they pass and can never stop them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from propagation import SAMPLED, Extracted, SpanContext, next_context
from proxy.active_spans import ACTIVE
from proxy.early_upstream import EarlyUpstream, connect_error, no_delay, reset
from proxy.forwarder import Listener, stream
from proxy.handoff import Handoff
from proxy.observers import StreamInfo, StreamObserver, observer_for
from proxy.pool import connect
from proxy.sniff import TLS
from proxy.tasks import spawn
from proxy.tcp_span import CLOSE, RESET, TIMEOUT, TcpConnection, connection_span
from proxy.throttled_log import ThrottledLog
from proxy.tls_hello import MAX_RECORD, record_complete, server_name

log = logging.getLogger("tracecar.opaque")
_log_observer = ThrottledLog(log, logging.WARNING)

MAX_PENDING = 256 * 1024  # client bytes held while the upstream connection opens; then reading pauses


def connection_context(direction: str, listener: Listener) -> tuple[SpanContext, bytes | None]:
    """An outbound connection opened while one request is served belongs to it (`proxy.active_spans`)."""
    parent = ACTIVE.sole() if direction == "outbound" else None
    extracted = Extracted(parent, None if parent is None else bool(parent.flags & SAMPLED))
    return next_context(extracted, listener.sampler), None if parent is None else parent.span_id


class Relay(asyncio.Protocol):
    """The client side of a relayed connection; `_ServerSide` is the upstream side."""

    def __init__(self, listener: Listener, handoff: Handoff) -> None:
        self.listener = listener
        self.handoff = handoff
        self.transport: asyncio.Transport | None = None  # the client
        self.server: asyncio.Transport | None = None
        self.pending = bytearray()
        self.client_eof = self.server_eof = False
        self.client_lost = self.server_lost = False
        self.tls = handoff.protocol == TLS
        self.hello = bytearray()  # the ClientHello so far, until its record is complete
        self.observer: StreamObserver | None = None
        self.observed = self.tls  # observer_for has been asked (encrypted bytes: nothing to ask)
        self.active_at = time.monotonic()  # the last byte either way (see expire)
        context, parent = connection_context(listener.direction, listener)
        self.connection = TcpConnection(
            listener.direction, handoff.peer, handoff.destination, context, parent, time.time_ns()
        )

    # -- the client -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)
        self.listener.connections.add(self)
        early = self.handoff.upstream
        if early is None:
            spawn(self._connect(), name=f"relay to {self.handoff.destination}")
        elif early.error:
            self._connect_failed(early.error)
        else:
            self._adopt(early)

    def data_received(self, data: bytes) -> None:
        self.connection.bytes_from_client += len(data)
        self.active_at = time.monotonic()
        if self.tls:
            self._read_hello(data)
        elif self.observer is not None or not self.observed:
            self._observe_client(data)
        if self.server is not None:
            self.server.write(data)
            return
        self.pending += data
        if len(self.pending) > MAX_PENDING and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.client_eof = True
        if self.server is None:
            return True  # passed on once connected
        if self.server_eof:
            self._close_both()
            return False
        if self.server.can_write_eof():
            self.server.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.client_lost = True
        self.listener.connections.discard(self)
        self.side_lost(exc, self.server)

    def side_lost(self, exc: Exception | None, other: asyncio.Transport | None) -> None:
        """One side is gone: an error there resets the other side, a close closes it (after its writes)."""
        if exc is not None and self.connection.ended == CLOSE:
            self.connection.ended = RESET
            reset(other)
        elif other is not None and not other.is_closing():
            other.close()
        self._finish_if_done()

    def pause_writing(self) -> None:
        if self.server is not None:
            self.server.pause_reading()

    def resume_writing(self) -> None:
        if self.server is not None:
            self.server.resume_reading()

    def drain(self) -> None:
        """Opaque bytes have no message boundary to stop at: the connection runs until the grace ends."""

    def expire(self, now: float) -> None:
        """The listener's sweep: no byte either way for --tcp-idle-timeout closes both sides."""
        if now - self.active_at >= self.listener.limits.tcp_idle_timeout_s and self.connection.ended == CLOSE:
            self.connection.ended = TIMEOUT
            self._close_both()

    # -- the upstream -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            await connect(
                lambda: _ServerSide(self), self.handoff.destination, self.listener.pool.connect_timeout_s
            )
        except (OSError, TimeoutError) as error:
            self._connect_failed(connect_error(error))

    def _connect_failed(self, error: str) -> None:
        log.info("%s: relaying to %s:%d failed", error, *self.handoff.destination)
        self.connection.error = error
        if error == "upstream_connect_timeout":
            self.connection.ended = TIMEOUT
        self.server_lost = True
        reset(self.transport)
        self._finish_if_done()

    def connected(self, server: asyncio.Transport) -> None:
        self.server = server
        no_delay(server)
        if self.client_lost:
            server.close()
            return
        if self.pending:
            server.write(bytes(self.pending))
            self.pending.clear()
            if self.transport is not None:
                self.transport.resume_reading()
        if self.client_eof and server.can_write_eof():
            server.write_eof()

    def _adopt(self, early: EarlyUpstream) -> None:
        """Take over the connection the acceptor opened, with what the server already said."""
        assert early.transport is not None
        side = _ServerSide(self)
        early.transport.set_protocol(side)
        side.connection_made(early.transport)
        early.transport.resume_reading()
        if early.received:
            side.data_received(bytes(early.received))
        if early.eof:
            side.eof_received()
        if early.closed:
            side.connection_lost(early.exc)

    def _close_both(self) -> None:
        for transport in (self.transport, self.server):
            if transport is not None and not transport.is_closing():
                transport.close()

    def _finish_if_done(self) -> None:
        if not (self.client_lost and self.server_lost):
            return
        connection = self.connection
        connection.end_ns = time.time_ns()
        self._observe_end(connection.end_ns)
        self.listener.tcp_finished(connection)
        if connection.context.flags & SAMPLED:
            self.listener.record(connection_span(connection))

    # -- what the observers and the span see ------------------------------------------------------

    def _read_hello(self, data: bytes) -> None:
        self.hello += data[: MAX_RECORD - len(self.hello)]
        hello = bytes(self.hello)
        if record_complete(hello):
            self.connection.server_name = server_name(hello)
            self.tls, self.hello = False, bytearray()  # read: the rest is encrypted

    def _observe_client(self, data: bytes) -> None:
        if not self.observed:
            self.observed = True
            info = StreamInfo(
                self.listener.direction,
                self.handoff.peer,
                self.handoff.destination,
                self.listener.record,
                self.listener.sampler,
            )
            self.observer = self._guard(lambda: observer_for(data, info))
        observer = self.observer
        if observer is not None:
            self._guard(lambda: observer.client_data(data, time.time_ns()))

    def observe_server(self, data: bytes) -> None:
        observer = self.observer
        if observer is not None:
            self._guard(lambda: observer.server_data(data, time.time_ns()))

    def _observe_end(self, now_ns: int) -> None:
        observer = self.observer
        if observer is not None:
            self._guard(lambda: observer.closed(now_ns))

    def _guard(self, call: Callable[[], StreamObserver | None]) -> StreamObserver | None:
        try:
            return call()
        except Exception as error:  # an observer's bug costs its spans, never the connection
            _log_observer("observer failed on %s:%d (dropped): %r", *self.handoff.destination, error)
            self.observer = None
            return None


class _ServerSide(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.relay.connected(stream(transport))

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        relay.connection.bytes_from_server += len(data)
        relay.active_at = time.monotonic()
        relay.observe_server(data)
        if relay.transport is not None:
            relay.transport.write(data)

    def eof_received(self) -> bool:
        relay = self.relay
        relay.server_eof = True
        if relay.client_eof or relay.transport is None:
            relay._close_both()
            return False
        if relay.transport.can_write_eof():
            relay.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.server_lost = True
        self.relay.side_lost(exc, self.relay.transport)

    def pause_writing(self) -> None:
        if self.relay.transport is not None:
            self.relay.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.relay.transport is not None:
            self.relay.transport.resume_reading()
