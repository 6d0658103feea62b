"""The HTTP/2 data path's asyncio shell: one `Relay` per client connection, one upstream HTTP/2
connection (prior knowledge) to the original destination, streams mapped one to one.

Protocols never await. Each read is fed to that side's sans-IO `H2Connection`; its events move
headers, data and resets to the other side's connection (`proxy.h2.streams`), and both connections'
output is written once at the end of the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import h2.events as ev
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import H2Error, ProtocolError
from hyperframe.frame import GoAwayFrame

from proxy.forwarder import stream
from proxy.h2 import flood, grpc, validate
from proxy.h2.exchange import StreamExchange, header_value, stream_exchange
from proxy.h2.frame_cursor import CONTROL, DATA_HEAD, PAYLOAD, FrameCursor
from proxy.h2.streams import IDLE_TIMEOUT_S, Flow, Pair, keep, new_connection, pump, start, take_data
from proxy.handoff import Handoff
from proxy.pool import connect
from proxy.tasks import spawn
from proxy.throttled_log import ThrottledLog

if TYPE_CHECKING:
    from proxy.forwarder import Listener

log = logging.getLogger("tracecar.h2")
_log_bad_peer = ThrottledLog(log, logging.INFO)
MAX_GRPC_MESSAGE = 256  # characters of grpc-message kept for the span status


class Side:
    """One HTTP/2 connection of a relay: its state machine, its transport, its streams by id."""

    __slots__ = ("conn", "connected", "cursor", "going_away", "pairs", "paused", "transport", "waiting")

    def __init__(self, conn: H2Connection) -> None:
        self.conn = conn
        self.cursor = FrameCursor(server=not conn.config.client_side)
        self.transport: asyncio.Transport | None = None
        self.paused = False  # our write buffer is over its high-water mark: hand nothing more on
        self.pairs: dict[int, Pair] = {}
        self.waiting: list[Pair] = []  # upstream only: streams waiting for the connection or a slot
        self.connected = False
        self.going_away = False  # GOAWAY received or the connection failed: no new streams here

    def flush(self) -> None:
        # h2's data_to_send() copies its output buffer into bytes; a megabyte message is copied
        # often enough on its way through. The transport takes the buffer itself, and h2 a new one.
        conn = self.conn
        data = conn._data_to_send
        if not data:
            return
        conn._data_to_send = bytearray()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class Relay(asyncio.Protocol):
    """A client's HTTP/2 connection and the upstream connection its streams go out on."""

    def __init__(self, listener: Listener, handoff: Handoff) -> None:
        self.listener = listener
        self.peer = handoff.peer
        self.destination = handoff.destination
        self.down = Side(new_connection(client_side=False))
        self.ups: list[Side] = []  # the last one takes new streams; older ones are going away
        self.transport: asyncio.Transport | None = None
        self.guard = flood.FloodGuard(time.monotonic())
        self.draining = False
        self.last_stream = 0  # after a drain's GOAWAY: streams above this are refused
        self.closed = False
        self.flush_due = False  # a flush is scheduled for the end of this loop iteration
        self.idle_since = time.monotonic()  # when the last stream ended (see expire)

    # -- the client side --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = self.down.transport = stream(transport)
        self.listener.connections.add(self)
        start(self.down.conn)
        self.down.flush()
        if self.listener.draining:
            self.drain()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        cursor = self.down.cursor
        cursor.feed(data)
        while not self.closed:
            kind = cursor.next()
            if kind == CONTROL:
                self._client_frames(cursor.chunk)
            elif kind == DATA_HEAD:
                pair = self.down.pairs.get(cursor.stream_id)
                self._take_or_decline(self.down, cursor, None if pair is None else pair.request)
            elif kind == PAYLOAD:
                try:
                    self._client_payload(cursor.stream_id, cursor.chunk)
                except H2Error as error:  # as for an event: that stream fails, not the connection
                    self._stream_failed(self.down.pairs.get(cursor.stream_id), error)
            else:
                self._flush_soon()
                return

    def _client_frames(self, data: bytes | memoryview) -> None:
        try:
            events = self.down.conn.receive_data(data)
        except ProtocolError as error:
            _log_bad_peer("%s HTTP/2 connection from %s ended: %s", self.listener.direction, self.peer, error)
            self._abandon("protocol_error")
            return
        for event in events:
            try:
                self._client_event(event)
            except H2Error as error:  # a state we did not foresee: that stream fails, not the rest
                self._stream_failed(self.down.pairs.get(getattr(event, "stream_id", 0)), error)
            if self.closed:
                return

    def _take_or_decline(self, side: Side, cursor: FrameCursor, flow: Flow | None) -> None:
        """A DATA frame's head: its payload comes to us if its stream is one we relay, else to h2."""
        if flow is not None and not flow.finished and take_data(side.conn, cursor.stream_id, cursor.length):
            cursor.take()
        else:
            cursor.decline()

    def _client_payload(self, stream_id: int, data: memoryview | bytes) -> None:
        pair = self.down.pairs.get(stream_id)
        if pair is None or pair.request.finished:  # ended while its frame was arriving: give the window back
            self.down.conn.acknowledge_received_data(len(data), stream_id)
            return
        pair.exchange.request_bytes += len(data)
        pair.request.queue.append((data, len(data)))
        self._pump_request(pair)
        keep(pair.request)

    def _client_event(self, event: ev.Event) -> None:  # noqa: PLR0912 (one branch per event type)
        if isinstance(event, ev.RequestReceived):
            headers = list(event.headers or ())
            problem = validate.request_problem(headers)
            if problem:
                self._malformed(event.stream_id, problem)
            else:
                self._open(event.stream_id, headers, event.stream_ended is not None)
        elif isinstance(event, ev.DataReceived):
            self._client_data(event)
        elif isinstance(event, ev.StreamEnded):
            self._request_ended(event.stream_id)
        elif isinstance(event, ev.TrailersReceived):
            self._request_trailers(event.stream_id, list(event.headers or ()))
        elif isinstance(event, ev.StreamReset):
            if self._within(flood.RESET):
                self._client_reset(event.stream_id, event.error_code or 0)
        elif isinstance(event, ev.WindowUpdated):
            self._pump_into(self.down, event.stream_id)
        elif isinstance(event, ev.RemoteSettingsChanged):
            if self._within(flood.SETTINGS):
                self._pump_into(self.down, 0)
        elif isinstance(event, ev.PingReceived):
            self._within(flood.PING)
        elif isinstance(event, ev.PriorityUpdated):
            self._within(flood.PRIORITY)
        elif isinstance(event, ev.ConnectionTerminated):
            self.draining = True
            self._close_if_done()

    def _malformed(self, stream_id: int, problem: str) -> None:
        """RFC 9113 section 8.1.1: a malformed request is a stream error; the other streams go on.

        Refusals count against the reset budget, as client resets do: a peer provoking them at speed
        costs us a frame each, and is ended like a rapid-reset flood.
        """
        if not self._within(flood.RESET):
            return
        _log_bad_peer("%s HTTP/2 stream from %s refused: %s", self.listener.direction, self.peer, problem)
        _reset(self.down.conn, stream_id, ErrorCodes.PROTOCOL_ERROR)
        self._client_reset(stream_id, ErrorCodes.PROTOCOL_ERROR, "malformed_request")

    def _request_trailers(self, stream_id: int, trailers: list[tuple[bytes, bytes]]) -> None:
        problem = validate.trailers_problem(trailers)
        if problem:
            self._malformed(stream_id, problem)
            return
        pair = self.down.pairs.get(stream_id)
        if pair is not None:
            pair.request.trailers = trailers

    def _within(self, kind: str) -> bool:
        """Count a frame that costs work; past the budget the connection ends (ENHANCE_YOUR_CALM)."""
        if self.guard.allow(kind, time.monotonic()):
            return True
        direction = self.listener.direction
        _log_bad_peer("%s HTTP/2 connection from %s ended: %s flood", direction, self.peer, kind)
        self.down.conn.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM)
        self._abandon("flood")
        return False

    def _open(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        if self.draining and stream_id > self.last_stream:
            self.down.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        listener = self.listener
        orphan_parent = listener.adopt.sole() if listener.adopt is not None else None
        extracted, context, forwarded = listener.propagators.hop(headers, listener.sampler, orphan_parent)
        exchange = stream_exchange(
            listener.direction, headers, extracted, context, peer=self.peer, destination=self.destination
        )
        if listener.active is not None:
            listener.active.begin(context)
        pair = Pair(exchange, stream_id, forwarded, ended)
        self.down.pairs[stream_id] = pair
        self._send_upstream(pair)

    def _client_data(self, event: ev.DataReceived) -> None:
        data = event.data or b""
        stream_id = event.stream_id
        length = event.flow_controlled_length or 0
        if not data and event.stream_ended is None and not self._within(flood.EMPTY_DATA):
            return
        pair = self.down.pairs.get(stream_id)
        if pair is None or pair.request.finished:  # a stream we already ended: drop, give the window back
            if length:
                self.down.conn.acknowledge_received_data(length, stream_id)
            return
        pair.exchange.request_bytes += len(data)
        pair.request.queue.append((data, length))
        if event.stream_ended is not None:  # known now, so the data can carry END_STREAM on
            pair.request.ended = True
        self._pump_request(pair)

    def _request_ended(self, stream_id: int) -> None:
        pair = self.down.pairs.get(stream_id)
        if pair is not None:
            pair.request.ended = True
            self._pump_request(pair)

    def _client_reset(self, stream_id: int, code: int, error_type: str = "") -> None:
        """The client cancelled (or otherwise reset) a stream, or we refused what it sent on one
        (`error_type` says so): pass the reset upstream, end its span."""
        pair = self.down.pairs.get(stream_id)
        if pair is None:
            return
        pair.response.finished = pair.request.finished = True
        self._reset_upstream(pair, code)
        exchange = pair.exchange
        exchange.error_type = error_type or ("cancelled" if code == ErrorCodes.CANCEL else "client_reset")
        if exchange.grpc and exchange.grpc_status < 0:
            exchange.grpc_status = grpc.status_of_reset(code)
        self._finish(pair)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)
        if not self.closed:
            self._abandon("client_disconnected")

    def pause_writing(self) -> None:
        self.down.paused = True

    def resume_writing(self) -> None:
        self.down.paused = False
        self._pump_into(self.down, 0)
        self._flush()

    def expire(self, now: float) -> None:
        """The listener's periodic sweep: a connection without streams for `IDLE_TIMEOUT_S` is
        closed with a graceful GOAWAY, as an idle HTTP/1 keep-alive connection is closed."""
        if not self.down.pairs and not self.closed and now - self.idle_since >= IDLE_TIMEOUT_S:
            self.drain()

    def drain(self) -> None:
        """Graceful GOAWAY (RFC 9113 section 6.8): streams already opened finish, new ones are refused."""
        if self.draining or self.closed:
            self.draining = True
            return
        self.draining = True
        self.last_stream = self.down.conn.highest_inbound_stream_id
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(GoAwayFrame(0, last_stream_id=self.last_stream).serialize())
        self._close_if_done()

    # -- the upstream side ------------------------------------------------------------------------

    def _upstream(self) -> Side:
        if self.ups and not self.ups[-1].going_away:
            return self.ups[-1]
        side = Side(new_connection(client_side=True))
        self.ups.append(side)
        spawn(self._connect(side), f"h2 upstream {self.destination}")
        return side

    async def _connect(self, side: Side) -> None:
        host, port = self.destination
        try:
            await connect(
                lambda: Upstream(self, side), self.destination, self.listener.pool.connect_timeout_s
            )
        except (OSError, TimeoutError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else error.strerror or str(error)
            log.info("%s HTTP/2 upstream %s:%s unreachable: %s", self.listener.direction, host, port, reason)
            self._upstream_lost(side, "upstream_unreachable", f"upstream {host}:{port} unreachable: {reason}")
            self._flush()

    def upstream_made(self, side: Side, transport: asyncio.Transport) -> None:
        side.transport = transport
        side.connected = True
        start(side.conn)
        if self.closed:
            transport.close()
            return
        self._start_waiting(side)
        self._flush()

    def _send_upstream(self, pair: Pair) -> None:
        side = self._upstream()
        side.waiting.append(pair)
        if side.connected:
            self._start_waiting(side)

    def _start_waiting(self, side: Side) -> None:
        """Open upstream streams for waiting requests, as many as the upstream allows at once."""
        conn = side.conn
        while side.waiting and conn.open_outbound_streams < conn.remote_settings.max_concurrent_streams:
            pair = side.waiting.pop(0)
            pair.up_id = conn.get_next_available_stream_id()
            side.pairs[pair.up_id] = pair
            request = pair.request
            headers_only = request.ended and not request.queue and request.trailers is None
            conn.send_headers(pair.up_id, pair.headers, end_stream=headers_only)
            request.finished = headers_only
            self._pump_request(pair)

    def _pump_request(self, pair: Pair) -> None:
        side = self._side_of(pair)
        if side is None or not pair.up_id or side.paused or pair.request.finished:
            return
        pump(pair.request, self.down.conn, pair.down_id, side.conn, pair.up_id)

    def _pump_response(self, pair: Pair, side: Side) -> None:
        if self.down.paused or pair.response.finished:
            return
        pump(pair.response, side.conn, pair.up_id, self.down.conn, pair.down_id)
        if pair.response.finished:
            self._response_done(pair, side)

    def _pump_into(self, target: Side, stream_id: int) -> None:
        """`target`'s peer gave window (or its transport drained): move what waits for it."""
        if target is self.down:
            for side in self.ups:
                pairs = side.pairs.values() if stream_id == 0 else [self.down.pairs.get(stream_id)]
                for pair in list(pairs):
                    if pair is not None and side.pairs.get(pair.up_id) is pair:
                        self._pump_response(pair, side)
            return
        pairs = target.pairs.values() if stream_id == 0 else [target.pairs.get(stream_id)]
        for pair in list(pairs):
            if pair is not None:
                self._pump_request(pair)

    def _side_of(self, pair: Pair) -> Side | None:
        for side in self.ups:
            if side.pairs.get(pair.up_id) is pair:
                return side
        return None

    def upstream_data(self, side: Side, data: bytes) -> None:
        cursor = side.cursor
        cursor.feed(data)
        while True:
            kind = cursor.next()
            if kind == CONTROL:
                if not self._server_frames(side, cursor.chunk):
                    return
            elif kind == DATA_HEAD:
                pair = side.pairs.get(cursor.stream_id)
                self._take_or_decline(side, cursor, None if pair is None else pair.response)
            elif kind == PAYLOAD:
                try:
                    self._server_payload(side, cursor.stream_id, cursor.chunk)
                except H2Error as error:
                    self._stream_failed(side.pairs.get(cursor.stream_id), error)
            else:
                break
        self._flush_soon()

    def _server_payload(self, side: Side, stream_id: int, data: memoryview | bytes) -> None:
        pair = side.pairs.get(stream_id)
        if pair is None or pair.response.finished:
            side.conn.acknowledge_received_data(len(data), stream_id)
            return
        pair.exchange.response_bytes += len(data)
        pair.response.queue.append((data, len(data)))
        self._pump_response(pair, side)
        keep(pair.response)

    def _server_frames(self, side: Side, data: bytes | memoryview) -> bool:
        """h2's share of an upstream read; False when the upstream connection broke on it."""
        try:
            events = side.conn.receive_data(data)
        except ProtocolError as error:
            log.warning("bad HTTP/2 from upstream %s:%s: %s", *self.destination, error)
            self._upstream_lost(side, "upstream_protocol_error", "invalid HTTP/2 from upstream")
            if side.transport is not None:
                side.flush()
                side.transport.close()
            self._flush()
            return False
        for event in events:
            try:
                self._server_event(side, event)
            except H2Error as error:
                self._stream_failed(side.pairs.get(getattr(event, "stream_id", 0)), error)
        return True

    def _stream_failed(self, pair: Pair | None, error: H2Error) -> None:
        log.warning("%s HTTP/2 stream failed in the proxy: %r", self.listener.direction, error)
        if pair is None:
            return
        pair.request.finished = pair.response.finished = True
        _reset(self.down.conn, pair.down_id, ErrorCodes.INTERNAL_ERROR)
        self._reset_upstream(pair, ErrorCodes.CANCEL)
        pair.exchange.error_type = "proxy_error"
        if pair.exchange.grpc and pair.exchange.grpc_status < 0:
            pair.exchange.grpc_status = grpc.INTERNAL
        self._finish(pair)

    def _server_event(self, side: Side, event: ev.Event) -> None:
        if isinstance(event, ev.WindowUpdated | ev.RemoteSettingsChanged):
            stream_id = getattr(event, "stream_id", 0)
            self._pump_into(side, stream_id)
            self._start_waiting(side)
            return
        if isinstance(event, ev.ConnectionTerminated):
            self._upstream_goaway(side, event.last_stream_id or 0)
            return
        stream_id = getattr(event, "stream_id", 0)
        pair = side.pairs.get(stream_id)
        if pair is None:
            if isinstance(event, ev.DataReceived) and event.flow_controlled_length:
                side.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            return
        if isinstance(event, ev.ResponseReceived | ev.InformationalResponseReceived):
            self._response_head(pair, side, list(event.headers or ()), event)
        elif isinstance(event, ev.DataReceived):
            pair.exchange.response_bytes += len(event.data or b"")
            pair.response.queue.append((event.data or b"", event.flow_controlled_length or 0))
            if event.stream_ended is not None:
                pair.response.ended = True
            self._pump_response(pair, side)
        elif isinstance(event, ev.TrailersReceived):
            pair.response.trailers = list(event.headers or ())
            self._grpc_status(pair.exchange, pair.response.trailers)
        elif isinstance(event, ev.StreamEnded):
            pair.response.ended = True
            self._pump_response(pair, side)
        elif isinstance(event, ev.StreamReset):
            self._upstream_reset(pair, side, event.error_code or 0)

    def _response_head(
        self,
        pair: Pair,
        side: Side,
        headers: list[tuple[bytes, bytes]],
        event: ev.ResponseReceived | ev.InformationalResponseReceived,
    ) -> None:
        ended = isinstance(event, ev.ResponseReceived) and event.stream_ended is not None
        status = header_value(headers, b":status") or b"0"
        if isinstance(event, ev.ResponseReceived):
            pair.exchange.status = int(status) if status.isdigit() else 0
            pair.responded = True
            if ended:  # Trailers-Only
                self._grpc_status(pair.exchange, headers)
        self.down.conn.send_headers(pair.down_id, headers, end_stream=ended)
        if ended:
            pair.response.ended = pair.response.finished = True
            self._response_done(pair, side)

    def _grpc_status(self, exchange: StreamExchange, headers: list[tuple[bytes, bytes]]) -> None:
        if not exchange.grpc:
            return
        exchange.grpc_status = grpc.parse_status(header_value(headers, b"grpc-status"))
        message = header_value(headers, b"grpc-message")
        if message:
            exchange.grpc_message = message[:MAX_GRPC_MESSAGE].decode("latin-1")

    def _response_done(self, pair: Pair, side: Side) -> None:
        """The response ended: the request may still be open, and is ended too (RFC 9113 section 8.1)."""
        if not pair.request.finished:
            pair.request.finished = True
            _reset(self.down.conn, pair.down_id, ErrorCodes.NO_ERROR)
            _reset(side.conn, pair.up_id, ErrorCodes.NO_ERROR)
        exchange = pair.exchange
        if exchange.grpc and exchange.grpc_status < 0:
            exchange.grpc_status = grpc.status_of_http(exchange.status)
        self._finish(pair)

    def _upstream_reset(self, pair: Pair, side: Side, code: int) -> None:
        pair.request.finished = pair.response.finished = True
        _reset(self.down.conn, pair.down_id, code)
        exchange = pair.exchange
        exchange.error_type = "upstream_reset"
        if exchange.grpc and exchange.grpc_status < 0:
            exchange.grpc_status = grpc.status_of_reset(code)
        self._finish(pair)

    def _reset_upstream(self, pair: Pair, code: int) -> None:
        for side in self.ups:
            if pair in side.waiting:
                side.waiting.remove(pair)
            elif side.pairs.get(pair.up_id) is pair:
                _reset(side.conn, pair.up_id, code)

    def _upstream_goaway(self, side: Side, last_stream_id: int) -> None:
        """Streams above `last_stream_id` were never processed: the client may retry them."""
        side.going_away = True
        for up_id, pair in list(side.pairs.items()):
            if up_id > last_stream_id:
                self._refuse(pair, "upstream_goaway")
        for pair in side.waiting:
            self._send_upstream(pair)
        side.waiting.clear()
        self._close_idle_upstreams()

    def _refuse(self, pair: Pair, error_type: str) -> None:
        pair.request.finished = pair.response.finished = True
        _reset(self.down.conn, pair.down_id, ErrorCodes.REFUSED_STREAM)
        pair.exchange.error_type = error_type
        if pair.exchange.grpc:
            pair.exchange.grpc_status = grpc.UNAVAILABLE
        self._finish(pair)

    def upstream_lost(self, side: Side) -> None:
        self._upstream_lost(side, "upstream_reset", "upstream closed the connection")
        self._flush()

    def _upstream_lost(self, side: Side, error_type: str, message: str) -> None:
        """Every stream on `side` fails: before a response as UNAVAILABLE (or 502), after as a reset."""
        side.going_away = True
        side.connected = False
        pairs = [*side.waiting, *side.pairs.values()]
        side.waiting.clear()
        side.pairs.clear()
        if side in self.ups:
            self.ups.remove(side)
        for pair in pairs:
            if pair.response.finished:
                continue
            pair.request.finished = pair.response.finished = True
            pair.exchange.error_type = error_type
            if pair.responded:
                _reset(self.down.conn, pair.down_id, ErrorCodes.INTERNAL_ERROR)
                if pair.exchange.grpc and pair.exchange.grpc_status < 0:
                    pair.exchange.grpc_status = grpc.INTERNAL
            else:
                self._answer_failure(pair, message)
            self._finish(pair)

    def _answer_failure(self, pair: Pair, message: str) -> None:
        """What a client understands of an upstream it cannot reach: UNAVAILABLE, or a 502."""
        exchange = pair.exchange
        conn = self.down.conn
        try:
            if exchange.grpc:
                exchange.status, exchange.grpc_status = 200, grpc.UNAVAILABLE
                exchange.grpc_message = message
                answer = grpc.trailers_only(grpc.UNAVAILABLE, message)
                conn.send_headers(pair.down_id, answer, end_stream=True)
                return
            body = message.encode() + b"\n"
            exchange.status = 502
            length = str(len(body)).encode()
            head = [(b":status", b"502"), (b"content-type", b"text/plain"), (b"content-length", length)]
            conn.send_headers(pair.down_id, head)
            conn.send_data(pair.down_id, body, end_stream=True)
        except ProtocolError:  # the client already closed or reset the stream
            pass

    # -- ends -------------------------------------------------------------------------------------

    def _finish(self, pair: Pair) -> None:
        """The stream is over: its span ends, and its slots on both connections are freed."""
        exchange = pair.exchange
        if self.down.pairs.pop(pair.down_id, None) is None:
            return
        for side in self.ups:
            if side.pairs.get(pair.up_id) is pair:
                del side.pairs[pair.up_id]
                self._start_waiting(side)
        exchange.end_ns = time.time_ns()
        listener = self.listener
        if listener.active is not None:
            listener.active.end(exchange.context)
        listener.finished(exchange)
        if not self.down.pairs:
            self.idle_since = time.monotonic()
        self._close_idle_upstreams()
        self._close_if_done()

    def _close_idle_upstreams(self) -> None:
        for side in list(self.ups):
            if side.going_away and not side.pairs and not side.waiting:
                self.ups.remove(side)
                if side.transport is not None:
                    side.flush()
                    side.transport.close()

    def _close_if_done(self) -> None:
        if self.draining and not self.down.pairs and self.transport is not None:
            self._flush()
            self.closed = True
            self.transport.close()
            for side in self.ups:
                if side.transport is not None:
                    side.transport.close()

    def _abandon(self, error_type: str) -> None:
        """The client connection is gone or broken: every stream ends, upstream streams are cancelled."""
        self.closed = True
        for pair in list(self.down.pairs.values()):
            pair.request.finished = pair.response.finished = True
            self._reset_upstream(pair, ErrorCodes.CANCEL)
            if pair.exchange.grpc and pair.exchange.grpc_status < 0:
                pair.exchange.grpc_status = grpc.CANCELLED
            pair.exchange.error_type = pair.exchange.error_type or error_type
            self._finish(pair)
        self._flush()
        if self.transport is not None:
            self.transport.close()
        for side in self.ups:
            if side.transport is not None:
                side.transport.close()
        self.ups.clear()

    def held(self) -> int:
        """Bytes this connection holds for peers that have not taken them yet (queued or unwritten)."""
        queued = sum(
            len(data)
            for pair in self.down.pairs.values()
            for flow in (pair.request, pair.response)
            for data, _ in flow.queue
        )
        sides = [self.down, *self.ups]
        return queued + sum(side.transport.get_write_buffer_size() for side in sides if side.transport)

    def _flush_soon(self) -> None:
        """Write both sides' output once per loop iteration: a client read and an upstream read
        handled in the same iteration share their send() calls."""
        if not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_due = False
        self.down.flush()
        for side in self.ups:
            side.flush()


class Upstream(asyncio.Protocol):
    """The upstream connection's transport callbacks, handed to its relay."""

    def __init__(self, relay: Relay, side: Side) -> None:
        self.relay = relay
        self.side = side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.relay.upstream_made(self.side, stream(transport))

    def data_received(self, data: bytes) -> None:
        self.relay.upstream_data(self.side, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.side.transport = None
        if self.side.connected or self.side.pairs:
            self.relay.upstream_lost(self.side)

    def pause_writing(self) -> None:
        self.side.paused = True

    def resume_writing(self) -> None:
        self.side.paused = False
        self.relay._pump_into(self.side, 0)
        self.relay._flush()


def _reset(conn: H2Connection, stream_id: int, code: int) -> None:
    """Reset a stream that may already be closed on that connection."""
    with contextlib.suppress(ProtocolError):
        conn.reset_stream(stream_id, code)
