"""The sans-IO pieces of the HTTP/2 path: bytes, headers and state machines in, decisions out."""

from __future__ import annotations

import h2.events as ev
from h2.config import H2Configuration
from h2.connection import H2Connection

from propagation import Propagators
from propagation.sampling import AlwaysOn
from proxy.h2 import grpc
from proxy.h2.exchange import StreamExchange, request_head, stream_exchange
from proxy.h2.flood import BURST, PING, RATE_PER_S, RESET, FloodGuard
from proxy.h2.streams import Flow, new_connection, pump, start
from proxy.http_span import describe
from proxy.routes import Routes
from proxy.spans.record import STATUS_ERROR, STATUS_UNSET
from tests.h2.frames import grpc_head

GRPC_REQUEST = [(n, b"cart:50051" if n == b":authority" else v) for n, v in grpc_head(b"/shop.v1.Cart/Add")]


def exchange_for(headers: list[tuple[bytes, bytes]], direction: str = "inbound") -> StreamExchange:
    extracted, context, _ = Propagators().hop(headers, AlwaysOn())
    return stream_exchange(
        direction, headers, extracted, context, peer=("10.0.0.9", 4242), destination=("10.0.0.2", 50051)
    )


def test_grpc_status_parsing_and_reset_mapping() -> None:
    assert grpc.parse_status(b"0") == grpc.OK
    assert grpc.parse_status(b"14") == grpc.UNAVAILABLE
    assert grpc.parse_status(None) == grpc.UNKNOWN
    assert grpc.parse_status(b"x1") == grpc.UNKNOWN
    assert grpc.status_of_reset(0x8) == grpc.CANCELLED
    assert grpc.status_of_reset(0x7) == grpc.UNAVAILABLE
    assert grpc.status_of_reset(0x2) == grpc.INTERNAL
    assert grpc.status_of_http(503) == grpc.UNAVAILABLE
    assert grpc.status_of_http(404) == grpc.UNIMPLEMENTED


def test_trailers_only_answer_percent_encodes_the_message() -> None:
    headers = dict(grpc.trailers_only(grpc.UNAVAILABLE, "upstream 10.0.0.2:80 unreachable: 100%"))
    assert headers[b":status"] == b"200"
    assert headers[b"grpc-status"] == b"14"
    assert headers[b"grpc-message"] == b"upstream 10.0.0.2%3A80 unreachable%3A 100%25"


def test_flood_guard_allows_a_burst_then_a_rate() -> None:
    guard = FloodGuard(now=0.0)
    assert all(guard.allow(PING, 0.0) for _ in range(BURST))
    assert not guard.allow(PING, 0.0)
    assert guard.allow(RESET, 0.0)  # each kind has its own budget
    assert guard.allow(PING, 1.0 / RATE_PER_S * 1.5)  # refilled at the sustained rate


def test_request_head_maps_pseudo_headers() -> None:
    head = request_head([*GRPC_REQUEST, (b"x-a", b"1")])
    assert (head.method, head.target, head.host) == (b"POST", b"/shop.v1.Cart/Add", b"cart:50051")
    assert head.headers == [(b"content-type", b"application/grpc"), (b"te", b"trailers"), (b"x-a", b"1")]


def test_request_head_takes_host_without_authority_and_the_first_user_agent() -> None:
    headers = [(b":method", b"GET"), (b":path", b"/"), (b"user-agent", b"curl/8"), (b"host", b"web:8080")]
    head = request_head([*headers, (b"user-agent", b"second"), (b"host", b"other")])
    assert (head.host, head.user_agent) == (b"web:8080", b"curl/8")
    assert request_head([*headers, (b":authority", b"api")]).host == b"api"  # :authority wins over host


def test_rpc_span_for_server_and_client() -> None:
    exchange = exchange_for(GRPC_REQUEST)
    exchange.grpc_status, exchange.grpc_message = 5, "gone"  # NOT_FOUND
    span = describe(exchange, Routes())
    attributes = dict(span.attributes)
    assert span.name == "shop.v1.Cart/Add"
    assert (attributes["rpc.service"], attributes["rpc.method"]) == ("shop.v1.Cart", "Add")
    assert (attributes["server.address"], attributes["server.port"]) == ("cart", 50051)
    assert attributes["rpc.grpc.status_code"] == 5
    assert span.status == STATUS_UNSET  # NOT_FOUND is the caller's problem, not the server's
    exchange.direction = "outbound"
    client = describe(exchange, Routes())
    assert (client.kind, client.status, client.status_message) == ("client", STATUS_ERROR, "gone")


def test_plain_http2_stream_uses_http_conventions() -> None:
    headers = [(b":method", b"GET"), (b":path", b"/users/42?a=1"), (b":authority", b"web")]
    exchange = exchange_for(headers)
    exchange.status = 200
    span = describe(exchange, Routes())
    attributes = dict(span.attributes)
    assert span.name == "GET /users/{id}"
    assert attributes["network.protocol.version"] == "2"
    assert attributes["url.path"] == "/users/42"


def test_pump_stops_at_the_window_and_the_end_waits_behind_the_data() -> None:
    """Bytes move from a server-side connection to a client-side one; the sender's window reopens
    only for what the receiver's window let through."""
    proxy_down, proxy_up = new_connection(client_side=False), new_connection(client_side=True)
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    for ours, theirs in ((proxy_down, client), (proxy_up, server)):
        start(ours)
        theirs.initiate_connection()
    proxy_down.receive_data(client.data_to_send())
    server.receive_data(proxy_up.data_to_send())
    proxy_up.receive_data(server.data_to_send())  # the server's default 64 KiB window
    client.send_headers(1, GRPC_REQUEST)
    for _ in range(5):
        client.send_data(1, b"x" * 10_000)
    events = proxy_down.receive_data(client.data_to_send())
    flow = Flow()
    for data in (e for e in events if isinstance(e, ev.DataReceived)):
        flow.queue.append((data.data or b"", data.flow_controlled_length or 0))
    proxy_up.send_headers(1, GRPC_REQUEST)
    for _ in range(4):
        proxy_up.send_data(1, b"y" * 10_000)  # leaves 25,535 bytes of the server's window
    pump(flow, proxy_down, 1, proxy_up, 1)
    assert sum(len(d) for d, _ in flow.queue) == 50_000 - 25_535
    assert proxy_up.local_flow_control_window(1) == 0
    flow.ended = True
    pump(flow, proxy_down, 1, proxy_up, 1)
    assert not flow.finished  # END_STREAM waits behind the queued data


def test_the_last_data_carries_end_stream_itself() -> None:
    """A direction ending without trailers: its last DATA frame ends the stream, no empty frame after."""
    proxy_down, proxy_up = new_connection(client_side=False), new_connection(client_side=True)
    server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    start(proxy_up)
    server.initiate_connection()
    server.receive_data(proxy_up.data_to_send())
    proxy_up.receive_data(server.data_to_send())
    proxy_up.send_headers(1, GRPC_REQUEST)
    flow = Flow(ended=True)
    flow.queue.append((b"\0\0\0\0\2hi", 0))
    pump(flow, proxy_down, 1, proxy_up, 1)
    assert flow.finished
    events = server.receive_data(proxy_up.data_to_send())
    data = [e for e in events if isinstance(e, ev.DataReceived)]
    assert [(e.data, e.stream_ended is not None) for e in data] == [(b"\0\0\0\0\2hi", True)]


def test_a_window_update_read_with_the_reset_that_follows_it_sends_nothing() -> None:
    """h2 applies a whole read before the relay handles its events: the window update's pump finds
    the stream already closed by the reset after it, and must leave it alone, not fail."""
    proxy_down, proxy_up = new_connection(client_side=False), new_connection(client_side=True)
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    start(proxy_down)
    client.initiate_connection()
    client.send_headers(1, GRPC_REQUEST)
    client.receive_data(proxy_down.data_to_send())
    proxy_down.receive_data(client.data_to_send())
    proxy_down.send_headers(1, [(b":status", b"200")])
    client.receive_data(proxy_down.data_to_send())
    client.increment_flow_control_window(1000, stream_id=1)
    client.reset_stream(1, 8)  # CANCEL, in the same write as the window update
    events = proxy_down.receive_data(client.data_to_send())
    assert [type(e) for e in events] == [ev.WindowUpdated, ev.StreamReset]
    flow = Flow()
    flow.queue.append((b"late", 0))
    pump(flow, proxy_up, 1, proxy_down, 1)
    assert not proxy_down.data_to_send()
