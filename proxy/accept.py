"""Every new connection starts here: where was it going, what does it speak, who handles it.

The acceptor is the protocol a listener creates. It refuses connections that were not redirected
(they would loop), reads until `proxy.sniff.classify` can tell the protocol, then hands the
transport and the bytes read so far to the handler registered for that protocol on the listener.
"""

from __future__ import annotations

import asyncio
import logging
import time

from proxy.forwarder import DRAIN_LINGER_S, Listener, stream
from proxy.handoff import Handoff
from proxy.original_dst import NotRedirected, original_dst
from proxy.sniff import UNDECIDED, classify
from proxy.throttled_log import ThrottledLog

log = logging.getLogger("tracecar.proxy")
_log_refused = ThrottledLog(log, logging.WARNING)


class Accepted(asyncio.Protocol):
    """A connection whose protocol is not known yet."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.destination: tuple[str, int] = ("", 0)
        self.first = b""
        self.since = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        listener = self.listener
        try:
            self.destination = listener.upstream_override or original_dst(transport.get_extra_info("socket"))
        except NotRedirected as error:
            _log_refused("refusing %s connection from %s: %s", listener.direction, self.peer, error)
            self.transport.abort()
            return
        listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.first += data
        protocol = classify(self.first)
        if protocol != UNDECIDED:
            self._hand_over(protocol)

    def eof_received(self) -> bool:
        # The client stopped before saying enough to tell: whatever it sent goes on as HTTP/1, whose
        # parser answers or closes a truncated request the way it always does.
        if self.first:
            return self._hand_over("http1").eof_received() or False
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)

    def drain(self) -> None:
        # As for an idle HTTP/1 connection: its first request may be on the wire right now.
        asyncio.get_running_loop().call_later(DRAIN_LINGER_S, self._close_if_undecided)

    def expire(self, now: float) -> None:
        """The sweep's check (see Listener.expire): a client that says too little for too long goes."""
        if now - self.since >= self.listener.limits.idle_timeout_s and self.transport is not None:
            self.transport.close()

    def _close_if_undecided(self) -> None:
        if self in self.listener.connections and self.transport is not None:
            self.transport.close()

    def _hand_over(self, protocol: str) -> asyncio.Protocol:
        transport = self.transport
        assert transport is not None
        listener = self.listener
        listener.connections.discard(self)
        # A protocol nothing handles yet goes to HTTP/1, which answers what it cannot parse.
        factory = listener.handlers.get(protocol) or listener.handlers["http1"]
        handler = factory(listener, Handoff(self.peer, self.destination, self.first))
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(self.first)
        return handler
