"""Every new connection starts here: where was it going, what does it speak, who handles it.

The acceptor is the protocol a listener creates. It refuses connections that were not redirected
(they would loop), reads until `proxy.sniff.classify` can tell the protocol, then hands the
transport and the bytes read so far to the handler registered for that protocol on the listener.

Waiting for the client must never hang a protocol in which the server speaks first: a client silent
for `SERVER_FIRST_WAIT_S` gets its upstream connection opened early (`proxy.early_upstream`), and if
the server speaks, closes or fails first the connection is relayed as opaque TCP at once. A
destination port declared opaque skips all this; a client silent for the detection timeout is
relayed as opaque TCP too.
"""

from __future__ import annotations

import asyncio
import logging
import time

from proxy.early_upstream import SERVER_FIRST_WAIT_S, EarlyUpstream, connect_error
from proxy.fd_limits import is_exhaustion, report_exhaustion
from proxy.forwarder import DRAIN_LINGER_S, MAX_BUFFERED, Listener, Upstream, stream
from proxy.handoff import Handoff
from proxy.original_dst import NotRedirected, original_dst
from proxy.pool import connect
from proxy.sniff import HTTP1, OPAQUE, TLS, UNDECIDED, classify
from proxy.tasks import spawn
from proxy.throttled_log import ThrottledLog

log = logging.getLogger("tracecar.proxy")
_log_refused = ThrottledLog(log, logging.WARNING)

_RELAYED = (OPAQUE, TLS)  # the protocols the opaque relay carries, which can use an early upstream


class Accepted(asyncio.Protocol):
    """A connection whose protocol is not known yet."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.destination: tuple[str, int] = ("", 0)
        self.first = b""
        self.since = time.monotonic()
        self.decided = UNDECIDED  # set once: the connection is handed over (or waits for `early`)
        self.early: EarlyUpstream | None = None
        self.connecting = False  # `early` is still connecting
        self.client_eof = False
        self.paused = False  # reading paused while the early upstream connects (MAX_BUFFERED held)
        self.timers: list[asyncio.TimerHandle] = []

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
        if self.destination[1] in listener.opaque_ports:
            self._decide(OPAQUE)
            return
        loop = asyncio.get_running_loop()
        self.timers = [
            loop.call_later(SERVER_FIRST_WAIT_S, self._open_early),
            loop.call_later(listener.detect_timeout_s, self._decide, OPAQUE),
        ]

    def data_received(self, data: bytes) -> None:
        if self.decided:  # waiting for the early upstream to connect: keep what comes meanwhile
            self.first += data
            if len(self.first) > MAX_BUFFERED and self.transport is not None and not self.paused:
                self.paused = True
                self.transport.pause_reading()  # resumed by the hand-over
            return
        self.first += data
        protocol = classify(self.first)
        if protocol != UNDECIDED:
            self._decide(protocol)

    def eof_received(self) -> bool:
        self.client_eof = True
        if self.decided:  # handed over once the early upstream is up; the handler hears of the end then
            return True
        # The client stopped before saying enough to tell: whatever it sent goes on as HTTP/1, whose
        # parser answers or closes a truncated request the way it always does.
        if self.first:
            self._decide(HTTP1)  # the handler hears of the end as it takes over, and closes if it wants
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)
        self._cancel_timers()
        if self.decided == UNDECIDED or self.early is not None:
            self._discard_early()

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

    # -- server-first ---------------------------------------------------------------------------------

    def _open_early(self) -> None:
        if self.decided or self.early is not None:
            return
        self.early = EarlyUpstream(self._server_moved)
        self.connecting = True
        spawn(self._connect_early(self.early), name=f"early connect {self.destination}")

    async def _connect_early(self, early: EarlyUpstream) -> None:
        try:
            await connect(lambda: early, self.destination, self.listener.pool.connect_timeout_s)
        except (OSError, TimeoutError) as error:
            if is_exhaustion(error):
                # Our own shortage, not the server's answer: carry on as if the server-first wait had
                # not run (HTTP opens its own connection, or fails with a 502).
                report_exhaustion()
                self.connecting = False
                self.early = None
                if self.decided:
                    self._hand_over(self.decided)
                return
            early.error = connect_error(error)
        self.connecting = False
        self._early_ready(early)

    def _early_ready(self, early: EarlyUpstream) -> None:
        if early is not self.early:  # this connection was handed over to HTTP or closed meanwhile
            self._lend_or_close(early)
        elif self.decided:
            self._hand_over(self.decided)
        elif not self.decided and (early.error or early.server_first):
            self._decide(OPAQUE)

    def _server_moved(self) -> None:
        """The early upstream heard from the server (data, close or error) before the client spoke."""
        early = self.early
        if not self.decided and not self.connecting and (early is None or early.server_first):
            self._decide(OPAQUE)

    # -- handing over ---------------------------------------------------------------------------------

    def _decide(self, protocol: str) -> asyncio.Protocol | None:
        self.decided = protocol
        self._cancel_timers()
        self.listener.detected(protocol)
        if self.connecting:
            # `_early_ready` hands over once the upstream connection is up (or failed): a relay adopts
            # it, HTTP finds it in the pool, and no second connection is opened.
            return None
        return self._hand_over(protocol)

    def _hand_over(self, protocol: str) -> asyncio.Protocol | None:
        transport = self.transport
        listener = self.listener
        if transport is None or transport.is_closing():
            return None
        listener.connections.discard(self)
        early = self.early if protocol in _RELAYED else None
        if early is None and self.early is not None and not self.connecting:
            self._lend_or_close(self.early)
        self.early = None
        # A protocol nothing handles yet goes to HTTP/1, which answers what it cannot parse.
        factory = listener.handlers.get(protocol) or listener.handlers[HTTP1]
        handler = factory(listener, Handoff(self.peer, self.destination, self.first, protocol, early))
        transport.set_protocol(handler)
        if self.paused:
            transport.resume_reading()
        handler.connection_made(transport)
        if self.first:
            handler.data_received(self.first)
        if self.client_eof and not handler.eof_received():
            transport.close()
        return handler

    def _lend_or_close(self, early: EarlyUpstream) -> None:
        """An early connection the client's protocol did not need: HTTP's pool may reuse it."""
        transport = early.transport
        if transport is None or transport.is_closing():
            return
        if early.spoke or self.decided != HTTP1:
            transport.close()
            return
        upstream = Upstream(self.listener.pool, self.destination)
        transport.set_protocol(upstream)
        upstream.connection_made(transport)
        self.listener.pool.opened += 1
        self.listener.pool.release(upstream)

    def _discard_early(self) -> None:
        early, self.early = self.early, None
        if early is not None and early.transport is not None:
            early.transport.close()

    def _cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers = []
