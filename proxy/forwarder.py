"""The HTTP/1 data path: one `Downstream` per client connection, `Upstream`s borrowed from a pool.

Protocols never await: bytes are parsed with the sans-IO pieces in `proxy.http1` and written on as
they come. Backpressure is explicit both ways: a peer that cannot keep up pauses reading on the
other side, and at most `MAX_BUFFERED` bytes wait per connection.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from propagation import Propagators, Sampler
from proxy.active_spans import ACTIVE
from proxy.exchange import Exchange
from proxy.handoff import Handoff
from proxy.http1 import framing
from proxy.http1.body import BodyReader, UntilCloseReader
from proxy.http1.errors import HttpError, RequestTimeout
from proxy.http1.head import RequestHead, head_end, parse_request, parse_response
from proxy.http1.responses import error_response
from proxy.limits import DEFAULT_LIMITS, ClientLimits
from proxy.spans.record import SpanRecord
from proxy.throttled_log import ThrottledLog

if TYPE_CHECKING:
    from proxy.pool import Pool
    from proxy.tcp_span import TcpConnection

log = logging.getLogger("tracecar.proxy")
_log_rejected = ThrottledLog(log, logging.INFO)  # any client can send bad requests at will

MAX_BUFFERED = 256 * 1024  # per connection: pipelined requests and bytes waiting on a slow peer
DRAIN_LINGER_S = 1.0  # how long a connection idle at drain time may still bring one last request
DETECT_TIMEOUT_S = 10.0  # a client that has said nothing this long is relayed as opaque TCP


def stream(transport: asyncio.BaseTransport) -> asyncio.Transport:
    """uvloop's TCP transports implement `asyncio.Transport` without subclassing it."""
    return cast(asyncio.Transport, transport)


def send_fin(transport: asyncio.Transport) -> None:
    """Half-close now, behind what was written. uvloop's `close` closes the socket only on the loop's
    next iteration: a client reading a last response before our FIN arrives closes first, and the
    TIME-WAIT sockets that leaves in its network namespace make each of its later connect() calls
    search longer for a free port (wrk's took 1-2 ms each, a per-request connection ran at a tenth
    of nginx's rate). Sending the FIN at once keeps TIME-WAIT on our side, as nginx does."""
    raw = transport.get_extra_info("socket")
    if raw is None or transport.get_write_buffer_size():
        return  # bytes still queued in the transport: its own close sends the FIN after them
    with contextlib.suppress(OSError):  # the peer may have gone already
        # uvloop's socket objects refuse shutdown(); family, type and proto given spare the three
        # system calls socket() would make to find them out, and _socket's class has no Python
        # __init__ to run (socket.socket's is interpreted, and runs for every connection that ends)
        sock = _socket.socket(raw.family, raw.type, raw.proto, raw.fileno())
        try:
            sock.shutdown(socket.SHUT_WR)
        finally:
            sock.detach()


# RFC 9110 section 9.2.2: methods whose intended effect is the same sent once or several times.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


def close_connection(raw_head: bytes) -> bytes:
    """The response head, telling the client this connection ends after it (RFC 9112 section 9.6)."""
    return raw_head[:-2] + b"connection: close\r\n\r\n"


class Connection(Protocol):
    """What a listener needs of each open connection, whatever it speaks."""

    transport: asyncio.Transport | None

    def drain(self) -> None: ...


Handler = Callable[["Listener", Handoff], asyncio.Protocol]


class Listener:
    """What every connection accepted on one listener shares."""

    def __init__(
        self,
        direction: str,
        pool: Pool,
        propagators: Propagators,
        sampler: Sampler,
        *,
        finished: Callable[[Exchange], None],
        record: Callable[[SpanRecord], None] = lambda span: None,
        upstream_override: tuple[str, int] | None = None,
        limits: ClientLimits = DEFAULT_LIMITS,
        opaque_ports: frozenset[int] = frozenset(),
        detect_timeout_s: float = DETECT_TIMEOUT_S,
        tcp_finished: Callable[[TcpConnection], None] = lambda connection: None,
        detected: Callable[[str], None] = lambda protocol: None,
        infer_context: bool = False,
    ) -> None:
        self.direction = direction  # "inbound" (SERVER spans) or "outbound" (CLIENT spans)
        self.pool = pool
        self.propagators = propagators
        self.sampler = sampler
        self.finished = finished  # an HTTP/1 exchange ended (metrics, and its span if sampled)
        self.record = record  # other protocols hand their finished, sampled spans here
        # Inbound requests in flight, for database commands to find their parent (proxy.active_spans).
        self.active = ACTIVE if direction == "inbound" else None
        # With --infer-context, an outbound request carrying no context is taken for part of the one
        # inbound request in flight, if there is exactly one (proxy.active_spans says why one).
        self.adopt = ACTIVE if direction == "outbound" and infer_context else None
        self.upstream_override = upstream_override  # tests and local mode: no redirection
        self.limits = limits
        # A request the proxy answered itself (400, 408, 431, 501, 505): metrics bind it to a counter.
        self.refused: Callable[[int], None] = lambda status: None
        self.opaque_ports = opaque_ports  # destination ports relayed without sniffing (proxy.opaque_ports)
        self.detect_timeout_s = detect_timeout_s  # a client silent this long is relayed as opaque TCP
        self.tcp_finished = tcp_finished  # an opaque connection ended (metrics; its span goes to record)
        self.detected = detected  # what each new connection was classified as (metrics)
        self.connections: set[Connection] = set()
        self.draining = False
        # What each protocol `proxy.sniff.classify` can name is handled by.
        self.handlers: dict[str, Handler] = {"http1": Downstream}

    def drain(self) -> None:
        """Stop keeping connections alive: each closes after its current or next exchange, an idle
        one after `DRAIN_LINGER_S` at the latest."""
        self.draining = True
        for connection in list(self.connections):
            connection.drain()

    def expire(self, now: float) -> None:
        """Called by the pool's sweep: close connections past their timeouts."""
        for connection in list(self.connections):
            # Protocols without timeouts of their own (yet) are left alone.
            expire: Callable[[float], None] | None = getattr(connection, "expire", None)
            if expire is not None:
                expire(now)


class Downstream(asyncio.Protocol):
    """A client connection: requests in, responses out, one exchange at a time (pipelining in order)."""

    def __init__(self, listener: Listener, handoff: Handoff) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.destination = handoff.destination
        self.peer = handoff.peer
        self.buffer = bytearray()
        self.exchange: Exchange | None = None
        self.request: RequestHead | None = None
        self.body: BodyReader | None = None  # the request body still arriving
        self.upstream: Upstream | None = None
        self.tunnel = False
        self.closing = False  # going away: process nothing more
        self.draining = False  # finish the exchange in flight, then close
        self.told_close = False  # a response said "connection: close" (see Upstream._response_head)
        self.eof = False  # a tunnel's client sent its last byte
        self.paused = False  # our write buffer is full: the upstream's reading is paused
        self.queued = 0  # bytes held by the pool while the upstream connection opens
        self.scanned = 0  # how much of the buffer head_end has searched for the head's end
        self.waiting_since = 0.0  # monotonic time the connection went idle or its next head began
        self.linger_until = 0.0  # after an error response: reading and dropping until then (see expire)

    # -- asyncio callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)
        self.listener.connections.add(self)
        self.draining = self.listener.draining
        self.waiting_since = time.monotonic()

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            self._to_upstream(data)
            return
        if self.closing:  # lingering after an error response: dropped unread
            return
        if not self.buffer and self.exchange is None:  # a new head begins: the header timeout runs
            self.waiting_since = time.monotonic()
        if self.body is not None and not self.buffer:
            try:
                data = self._body_read(data)
            except HttpError as error:
                self._reject(error)
                return
        self.buffer += data
        self._advance()

    def eof_received(self) -> bool:
        self.eof = True
        if self.tunnel:
            return _half_close(self.upstream)
        # Outside a tunnel an end is a client leaving (as nginx reads it), even if it only half-closed.
        if self.exchange is not None:
            self.exchange.error_type = "client_disconnected"
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)
        self.closing = True
        exchange = self.exchange
        if exchange is not None and exchange.end_ns == 0:
            exchange.error_type = exchange.error_type or "client_disconnected"
            self._finish_exchange()
        if self.upstream is not None:
            self.upstream.discard()
            self.upstream = None

    def pause_writing(self) -> None:
        self.paused = True
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    def drain(self) -> None:
        # An idle connection is not cut at once: its client may be sending a request this very
        # moment, and that request would fail. It gets a short while, and any response from now on
        # says "connection: close", so clients stop reusing the connection without losing a request.
        self.draining = True
        if self.exchange is None and not self.tunnel:
            asyncio.get_running_loop().call_later(DRAIN_LINGER_S, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.exchange is None and not self.tunnel and not self.buffer:
            self._close()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            send_fin(self.transport)
            self.transport.close()

    def expire(self, now: float) -> None:
        """The sweep's check: a head too slow (408), a keep-alive connection idle too long, a linger over."""
        if self.linger_until:
            if now >= self.linger_until and self.transport is not None:
                self.transport.close()
            return
        if self.exchange is not None or self.tunnel or self.closing:
            return  # an exchange in flight is timed on the upstream side (Upstream.check_head_timeout)
        limits = self.listener.limits
        waited = now - self.waiting_since
        if self.buffer and waited >= limits.header_timeout_s:
            self._reject(RequestTimeout(f"request head not complete within {limits.header_timeout_s:g} s"))
        elif not self.buffer and waited >= limits.idle_timeout_s:
            self._close()

    # -- requests ---------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Parse as far as the buffer allows; one request is in flight at a time."""
        try:
            while not self.closing:
                if self.body is not None:
                    if not self._forward_request_body():
                        return
                elif self.exchange is None:
                    if not self._start_request():
                        return
                else:  # waiting for the response: later requests stay buffered
                    self._check_buffer_bound()
                    return
        except HttpError as error:
            self._reject(error)

    def _start_request(self) -> bool:
        if not self.buffer:  # the usual case after a response: nothing pipelined
            return False
        end = head_end(self.buffer, 0, self.scanned, self.listener.limits.max_head_bytes)
        if end < 0:  # no pause for the buffer bound: head_end refuses a head over its own limit
            self.scanned = len(self.buffer)
            return False
        self.scanned = 0
        raw = bytes(self.buffer[:end])
        del self.buffer[:end]
        head = parse_request(raw)
        listener = self.listener
        orphan_parent = listener.adopt.sole() if listener.adopt is not None else None
        extracted, context, headers = listener.propagators.hop(head.headers, listener.sampler, orphan_parent)
        self.exchange = Exchange(
            listener.direction, head, extracted, context, peer=self.peer, destination=self.destination
        )
        self.request = head
        self.body = framing.request_body(head)
        if listener.active is not None:
            listener.active.begin(context)
        listener.pool.acquire(self.destination, self, head.serialize(headers))
        return True

    def _body_read(self, data: bytes) -> bytes:
        """Request body bytes, from a read (how most of an upload arrives, without the buffer's
        copies) or from the buffer: forwarded. Returns the bytes past the body's end."""
        body = self.body
        assert body is not None and self.exchange is not None
        end = body.feed(data, 0)
        if end:
            self.exchange.request_bytes += end
            self._to_upstream(data if end == len(data) else data[:end])
        if body.done:
            self.body = None
        return data[end:]

    def _forward_request_body(self) -> bool:
        """Forward what is buffered of the request body; False when more bytes are needed."""
        data = bytes(self.buffer)
        self.buffer.clear()
        self.buffer += self._body_read(data)
        return self.body is None

    def _to_upstream(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.send(data)
            return
        # Still connecting: the pool hands the bytes over once connected, and holds a bounded amount.
        self.listener.pool.queue(self, data)
        self.queued += len(data)
        if self.queued > MAX_BUFFERED and self.transport is not None:
            self.transport.pause_reading()

    def _check_buffer_bound(self) -> None:
        if len(self.buffer) > MAX_BUFFERED and self.transport is not None:
            self.transport.pause_reading()

    def _reject(self, error: HttpError) -> None:
        """A request we cannot forward: answer it and close, or abort if a response is already under way."""
        direction, status = self.listener.direction, error.status
        _log_rejected("%s request from %s refused: %d %s", direction, self.peer, status, error.reason)
        self.listener.refused(status)
        if self.upstream is not None:  # it may hold part of this request: never reuse it
            self.upstream.discard()
            self.upstream = None
        exchange = self.exchange
        if exchange is not None:
            exchange.error_type = f"http_{error.status}"
            self._finish_exchange()
            if exchange.status and self.transport is not None:  # ours cannot follow part of a response
                self.closing = True
                self.transport.abort()
                return
        self._send_error(error.status, error.reason)

    def _send_error(self, status: int, detail: str) -> None:
        self.closing = True
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(error_response(status, detail))
        # Lingering close: a close with request bytes still unread makes the kernel send a reset,
        # and a reset can destroy the response before the client reads it. So: end our side, read
        # and drop what still comes, and close at the client's end or after `linger_s` (see expire).
        try:
            transport.write_eof()
        except (OSError, RuntimeError):
            transport.close()
            return
        self.buffer.clear()
        self.linger_until = time.monotonic() + self.listener.limits.linger_s
        transport.resume_reading()

    # -- called by the upstream side --------------------------------------------------------------

    def attach(self, upstream: Upstream) -> None:
        """Pair with `upstream`, carrying over either side's backpressure."""
        self.upstream = upstream
        self.queued = 0
        if self.paused and upstream.transport is not None:
            upstream.transport.pause_reading()
        if self.transport is None:
            return
        if upstream.paused:
            self.transport.pause_reading()
        else:  # also ends a pause for bytes queued while connecting
            self.transport.resume_reading()

    def upstream_failed(self, status: int, error_type: str, detail: str) -> None:
        """The upstream could not be reached or broke before answering: tell the client."""
        exchange = self.exchange
        self.upstream = None
        if exchange is not None:
            exchange.error_type = error_type
            exchange.status = status
            self._finish_exchange()
        self._send_error(status, detail)

    def may_resend(self) -> bool:
        """RFC 9112 section 9.3.1.1: a proxy may send an idempotent request again after its connection
        closed without an answer. Only one without content (nothing of it is kept to send twice), only
        once, and only while the client still waits."""
        request, exchange = self.request, self.exchange
        return (
            request is not None
            and exchange is not None
            and not exchange.resends
            and request.method in IDEMPOTENT
            and not request.chunked
            and request.content_length <= 0
            and not self.closing
            and self.transport is not None
        )

    def resend(self, head: bytes) -> None:
        assert self.exchange is not None
        self.exchange.resends += 1
        self.upstream = None
        self.listener.pool.acquire(self.destination, self, head, fresh=True)

    def upstream_broke(self, error_type: str) -> None:
        """The response was already under way: the client can only see the connection end."""
        if self.exchange is not None:
            self.exchange.error_type = error_type
            self._finish_exchange()
        self.upstream = None
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def body_unsent(self) -> bool:
        """The request expects 100-continue and not one byte of its body has come."""
        request, exchange = self.request, self.exchange
        return (
            request is not None
            and request.expect_continue
            and exchange is not None
            and not exchange.request_bytes
        )

    def response_started(self, status: int) -> None:
        if self.exchange is not None:
            self.exchange.status = status

    def response_finished(self, keep_alive: bool) -> None:
        self.upstream = None
        if not keep_alive or self.closing or self.told_close:
            self._close()  # the FIN right behind the response, the span after it (see send_fin)
            self._finish_exchange()
            return
        self._finish_exchange()
        if self.draining:  # this response left before the drain: the client may reuse the connection
            self.drain()
        self.waiting_since = time.monotonic()
        if self.transport is not None:
            self.transport.resume_reading()
        self._advance()

    def become_tunnel(self) -> None:
        self._finish_exchange()
        self.tunnel = True
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            self._to_upstream(data)

    def _finish_exchange(self) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        self.exchange = None
        self.request = None
        self.body = None
        exchange.end_ns = time.time_ns()
        if self.listener.active is not None:
            self.listener.active.end(exchange.context)
        self.listener.finished(exchange)


class Upstream(asyncio.Protocol):
    """A connection to the original destination: carries one exchange at a time, then returns to the pool."""

    def __init__(self, pool: Pool, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.downstream: Downstream | None = None
        self.held = b""  # a response head not yet written (see _response_head)
        self.scanned = 0  # how much of the buffer head_end has searched for the head's end
        self.buffer = bytearray()
        self.body: BodyReader | None = None
        self.head_seen = False  # the final response head (not a 1xx) has arrived
        self.continued = False  # a 1xx went to the client
        self.keep_alive = False
        self.tunnel = False
        self.eof = False
        self.paused = False  # our write buffer is full: the downstream's reading is paused
        self.idle_since = 0.0  # monotonic time it went back to the pool
        self.sent_at = 0.0  # monotonic time of the last request byte written (or 1xx received)
        self.exchanges = 0  # begun on this connection: from the second on it came from the pool
        self.head_sent = b""  # the current request's head, as written
        self.heard = False  # a byte of the current exchange's response arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)
        self.pool.live += 1

    def begin(self, downstream: Downstream, head: bytes) -> None:
        self.downstream = downstream
        self.exchanges += 1
        self.head_sent = head
        self.head_seen = self.continued = self.heard = False
        self.body = None
        downstream.attach(self)
        self.send(head)
        # No timer per exchange (arming and cancelling one costs more than the rest of the
        # bookkeeping): the pool's sweep checks every connection in this set.
        self.pool.awaiting_head.add(self)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
            self.sent_at = time.monotonic()

    # -- the header timeout: from the last request byte sent to the final response head ----------

    def check_head_timeout(self, now: float) -> None:
        """Called by the pool's sweep while this connection waits for a response head."""
        timeout = self.pool.header_timeout_s
        if self.head_seen or self.downstream is None or now - self.sent_at < timeout:
            return
        host, port = self.key
        self._fail("upstream_timeout", f"no response from {host}:{port} within {timeout:g} s", 504)

    def _stop_head_timer(self) -> None:
        self.pool.awaiting_head.discard(self)

    def data_received(self, data: bytes) -> None:
        downstream = self.downstream
        if downstream is None:  # an idle pooled connection has nothing to say
            self.discard()
            return
        self.heard = True
        if self.tunnel:
            downstream.write(data)
            return
        try:
            if self.body is not None and not self.buffer:
                self._body_read(downstream, data)
            else:
                self.buffer += data
            self._advance(downstream)
        except HttpError as error:
            log.warning("bad response from %s:%s: %s", *self.key, error.reason)
            self._fail("upstream_protocol_error", f"invalid response from upstream: {error.reason}")
        self._release_held(downstream)

    def _release_held(self, downstream: Downstream) -> None:
        """A response head waits at most until the end of the read it came in."""
        if self.held:
            held, self.held = self.held, b""
            downstream.write(held)

    def _advance(self, downstream: Downstream) -> None:
        while self.downstream is downstream and not self.tunnel:
            if self.body is None:
                if not self._response_head(downstream):
                    return
            elif not self._response_body(downstream):
                return

    def _response_head(self, downstream: Downstream) -> bool:
        end = head_end(self.buffer, 0, self.scanned)
        if end < 0:
            self.scanned = len(self.buffer)
            return False
        self.scanned = 0
        raw = bytes(self.buffer[:end])
        del self.buffer[:end]
        head = parse_response(raw)
        request = downstream.request
        assert request is not None
        tunnel = framing.becomes_tunnel(request, head)
        if head.status < 200 and not tunnel:  # interim (100 Continue): the final response follows
            self.sent_at = time.monotonic()
            if not request.http10:  # RFC 9110 section 15.2: HTTP/1.0 clients get no 1xx
                downstream.write(raw)
                self.continued = True
            return True
        self.head_seen = True
        self._stop_head_timer()
        downstream.response_started(head.status)
        if tunnel:
            downstream.write(raw)
            self._become_tunnel(downstream)
            return False
        # Held back until the body bytes of this read are known: one send() for head and body
        # instead of two is a measurable share of a small request's cost.
        self.held = raw
        if downstream.draining:
            self.held = close_connection(raw)
            downstream.told_close = True
        self.body = framing.response_body(request, head)
        self.keep_alive = framing.reusable(request, head, self.body)
        return True

    def _body_read(self, downstream: Downstream, data: bytes) -> None:
        """Response body bytes, from a read (how most of a large body arrives, without the buffer's
        copies) or from the buffer: forwarded, with a held head in front; bytes past the body's end
        are buffered."""
        body = self.body
        assert body is not None
        end = body.feed(data, 0)
        if end < len(data):
            self.buffer += memoryview(data)[end:]
        if end:
            if downstream.exchange is not None:
                downstream.exchange.response_bytes += end
            chunk = data if end == len(data) else data[:end]
            if self.held:
                chunk, self.held = self.held + chunk, b""
            downstream.write(chunk)
        if body.done:
            self._complete(downstream)

    def _response_body(self, downstream: Downstream) -> bool:
        data = bytes(self.buffer)
        self.buffer.clear()
        self._body_read(downstream, data)
        return False

    def _complete(self, downstream: Downstream) -> None:
        self._release_held(downstream)
        # The client's connection lives on only if both ends allow it (a close, or a body ended by the
        # close, is passed on) and its request was read whole: an unread body must never be taken for
        # the next request (RFC 9112 section 9.3). One exception, RFC 9110 section 10.1.1: a final
        # answer to `Expect: 100-continue` before any 1xx and any body byte cancels the body (curl
        # then reuses the connection), and an upstream that keeps its connection reads it so too.
        unread = downstream.body is not None and (self.continued or not downstream.body_unsent())
        reusable = self.keep_alive and not unread
        self.downstream = None
        self.body = None
        if not reusable:  # the client's connection closes first (see send_fin)
            downstream.response_finished(keep_alive=False)
            self.discard()
            return
        if self.buffer:
            self.discard()
        else:
            self.pool.release(self)  # before the client's next request looks for a connection
        downstream.response_finished(keep_alive=True)

    def _become_tunnel(self, downstream: Downstream) -> None:
        self.tunnel = True
        if self.buffer:
            downstream.write(bytes(self.buffer))
            self.buffer.clear()
        downstream.become_tunnel()

    def eof_received(self) -> bool:
        self.eof = True
        return self.tunnel and _half_close(self.downstream)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        self.pool.live -= 1
        self._stop_head_timer()
        downstream = self.downstream
        self.downstream = None
        self.transport = None
        if downstream is None:
            return
        if self.tunnel:
            if downstream.transport is not None:
                downstream.transport.close()
            return
        if isinstance(self.body, UntilCloseReader):
            self.body.close()
            self._complete(downstream)
        elif self.head_seen:
            downstream.upstream_broke("upstream_reset")
        elif self.exchanges > 1 and not self.heard and downstream.may_resend():
            # A pooled connection the server closed as we reused it (its idle timeout, or a request
            # limit per connection) has said nothing: the request goes again, once, on a new one.
            downstream.resend(self.head_sent)
        else:
            downstream.upstream_failed(
                502, "upstream_reset", "upstream closed the connection before responding"
            )

    def pause_writing(self) -> None:
        self.paused = True
        if self.downstream is not None and self.downstream.transport is not None:
            self.downstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.downstream is not None and self.downstream.transport is not None:
            self.downstream.transport.resume_reading()

    def _fail(self, error_type: str, detail: str, status: int = 502) -> None:
        downstream = self.downstream
        self.downstream = None
        self.discard()
        if downstream is None:
            return
        if self.head_seen:
            downstream.upstream_broke(error_type)
        else:
            downstream.upstream_failed(status, error_type, detail)

    def discard(self) -> None:
        """Close for good: never reused."""
        self.downstream = None
        self._stop_head_timer()
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.close()


def _half_close(peer: Downstream | Upstream | None) -> bool:
    """One tunnel direction ended: pass the end on. True while the other direction still runs
    (keep our transport open); once both have ended, close both."""
    if peer is None or peer.transport is None:
        return False
    if peer.eof:
        peer.transport.close()
        return False
    peer.transport.write_eof()
    return True
