"""Real grpcio (sync and grpc.aio) through the proxy's HTTP/2 relay on loopback.

The listener is the real one; iptables is replaced by a fixed upstream (the netns tests in
tests/e2e/test_grpc_two_pods.py cover the redirected path). Each test asserts what the client got
and what the stream's exchange (its span and metrics source) recorded.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import grpc
import grpc.aio
import h2.events as ev
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection

from propagation import SpanContext
from propagation.context import SAMPLED
from proxy.active_spans import ActiveServerSpans
from proxy.early_upstream import SERVER_FIRST_WAIT_S
from proxy.h2.exchange import StreamExchange
from proxy.h2.streams import IDLE_TIMEOUT_S
from proxy.http_span import describe
from proxy.routes import Routes
from proxy.spans.record import STATUS_ERROR, STATUS_UNSET
from tests.h2.frames import grpc_head
from tests.h2.grpc_app import OPTIONS, methods, serve
from tests.h2.harness import RunningProxy, free_port, running_proxy, wait_until


@pytest.fixture(scope="module")
def app() -> Iterator[int]:
    port = free_port()
    server = serve(f"127.0.0.1:{port}", workers=64)
    yield port
    server.stop(0)


@pytest.fixture
def proxy(app: int) -> Iterator[RunningProxy]:
    with running_proxy(("127.0.0.1", app)) as running:
        yield running


@pytest.fixture
def channel(proxy: RunningProxy) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{proxy.port}", options=OPTIONS) as chan:
        yield chan


def last_stream(proxy: RunningProxy, count: int = 1) -> StreamExchange:
    exchange = proxy.wait_for_exchanges(count)[-1]
    assert isinstance(exchange, StreamExchange)
    return exchange


def test_unary_gets_fresh_trace_context_and_an_rpc_span(proxy: RunningProxy, channel: grpc.Channel) -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    answer = methods(channel).unary(b"?", metadata=(("traceparent", incoming),), timeout=5)
    seen = answer.decode()
    exchange = last_stream(proxy)
    # Same trace, this hop's span as the parent the application sees.
    assert "0af7651916cd43dd8448eb211c80319c" in seen
    assert exchange.context.span_id.decode() in seen
    span = describe(exchange, Routes())
    assert span.name == "demo.Echo/Unary"
    assert span.kind == "server"
    attributes = dict(span.attributes)
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == "demo.Echo"
    assert attributes["rpc.method"] == "Unary"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["server.address"] == "127.0.0.1"
    assert span.status == STATUS_UNSET


def test_streaming_in_every_direction(proxy: RunningProxy, channel: grpc.Channel) -> None:
    replies = list(methods(channel).server_stream(b"50", timeout=5))
    assert replies == [b"%d" % i for i in range(50)]
    joined = methods(channel).client_stream(iter([b"a", b"b", b"c"]), timeout=5)
    assert joined == b"a|b|c"
    echoed = list(methods(channel).bidi(iter([b"x"] * 20), timeout=5))
    assert echoed == [b"x"] * 20
    assert [e.grpc_status for e in proxy.wait_for_exchanges(3)] == [0, 0, 0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_every_status_code_reaches_client_and_span(
    proxy: RunningProxy, channel: grpc.Channel, code: grpc.StatusCode
) -> None:
    number = code.value[0]
    call = methods(channel).status
    if code == grpc.StatusCode.OK:
        assert call(b"0", timeout=5) == b"ok"
    else:
        with pytest.raises(grpc.RpcError) as raised:
            call(str(number).encode(), timeout=5)
        assert raised.value.code() == code
        assert raised.value.details() == f"asked for {code.name}"
    exchange = last_stream(proxy)
    assert exchange.grpc_status == number
    server_error = code.name in {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL"}
    server_error |= code.name in {"UNAVAILABLE", "DATA_LOSS"}
    assert describe(exchange, Routes()).status == (STATUS_ERROR if server_error else STATUS_UNSET)
    exchange.direction = "outbound"  # the same stream seen by a client sidecar
    assert describe(exchange, Routes()).status == (STATUS_UNSET if number == 0 else STATUS_ERROR)


def test_deadline_exceeded_and_the_proxy_keeps_serving(proxy: RunningProxy, channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        methods(channel).sleep(b"2", timeout=0.2)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    exchange = last_stream(proxy)
    assert exchange.grpc_status in (1, 4)  # the client's RST_STREAM(CANCEL) or the server's status
    assert methods(channel).unary(b"after", timeout=5) == b"after"


def test_client_cancellation_resets_the_upstream_stream(proxy: RunningProxy, channel: grpc.Channel) -> None:
    future = methods(channel).sleep.future(b"1", timeout=5)
    wait_until(lambda: any(relay.down.pairs for relay in proxy.relays()), "the stream to open")
    future.cancel()
    exchange = last_stream(proxy)
    assert exchange.error_type == "cancelled"
    assert exchange.grpc_status == 1
    span = describe(exchange, Routes())
    assert span.status == STATUS_UNSET  # CANCELLED is not a server error
    assert "error.type" not in dict(span.attributes)
    exchange.direction = "outbound"
    client = describe(exchange, Routes())
    assert client.status == STATUS_ERROR
    assert dict(client.attributes)["error.type"] == "cancelled"


def test_16_mb_messages_both_ways(proxy: RunningProxy, channel: grpc.Channel) -> None:
    message = bytes(range(256)) * (16 * 4096)
    assert methods(channel).unary(message, timeout=30) == message
    exchange = last_stream(proxy)
    assert exchange.request_bytes > 16 << 20 and exchange.response_bytes > 16 << 20


def test_metadata_and_trailers_byte_for_byte(proxy: RunningProxy, channel: grpc.Channel) -> None:
    sent: list[tuple[str, str | bytes]] = [
        ("x-plain", "Value with  spaces, and ; odd = chars"),
        ("x-binary-bin", bytes(range(256))),
        ("x-repeated", "one"),
        ("x-repeated", "two"),
    ]
    call = methods(channel).metadata
    reply, state = call.with_call(b"m", metadata=tuple(sent), timeout=5)
    assert reply == b"m"
    assert [(k, v) for k, v in state.initial_metadata() if k.startswith("x-")] == sent
    assert [(k, v) for k, v in state.trailing_metadata() if k.startswith("x-")] == sent


def test_a_thousand_concurrent_rpcs_on_one_channel(proxy: RunningProxy) -> None:
    async def run() -> list[bytes]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}", options=OPTIONS) as chan:
            unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = chan.unary_unary("/demo.Echo/Unary")
            return list(await asyncio.gather(*(unary(b"%d" % i, timeout=60) for i in range(1000))))

    assert asyncio.run(run()) == [b"%d" % i for i in range(1000)]
    assert len(proxy.wait_for_exchanges(1000, timeout_s=30)) == 1000


def test_refused_upstream_is_unavailable_and_the_span_an_error() -> None:
    with running_proxy(("127.0.0.1", free_port())) as proxy:
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")
        with pytest.raises(grpc.RpcError) as raised:
            methods(channel).unary(b"x", timeout=5)
        channel.close()
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        exchange = last_stream(proxy)
        assert exchange.error_type == "upstream_unreachable"
        assert exchange.grpc_status == 14
        span = describe(exchange, Routes())
        assert span.status == STATUS_ERROR
        assert ("error.type", "upstream_unreachable") in span.attributes


def test_drain_lets_streams_in_flight_finish_then_closes(proxy: RunningProxy, channel: grpc.Channel) -> None:
    """GOAWAY with the last stream id (RFC 9113 section 6.8): no RPC in flight fails."""
    echo = methods(channel)
    future = echo.sleep.future(b"0.5", timeout=10)
    wait_until(lambda: any(relay.down.pairs for relay in proxy.relays()), "the stream to open")
    drained = proxy.relays()
    proxy.call(proxy.listener.drain)
    assert future.result() == b"slept"
    # The client may open a new connection at once: the drained one must be gone.
    wait_until(lambda: not set(drained) & set(proxy.relays()), "the drained connection to close")
    assert last_stream(proxy).grpc_status == 0


def test_a_slow_stream_does_not_stall_the_others(proxy: RunningProxy, channel: grpc.Channel) -> None:
    echo = methods(channel)
    slow = echo.sleep.future(b"1", timeout=10)
    for i in range(20):  # on the same connection, while the slow one is in flight
        assert echo.unary(b"%d" % i, timeout=5) == b"%d" % i
    assert not slow.done()
    assert slow.result() == b"slept"


def test_an_idle_connection_is_closed_and_the_client_reconnects(
    proxy: RunningProxy, channel: grpc.Channel
) -> None:
    echo = methods(channel)
    assert echo.unary(b"one", timeout=5) == b"one"
    later = time.monotonic() + IDLE_TIMEOUT_S + 1

    def sweep() -> None:  # what the listener's periodic sweep does, at a time past the timeout
        for relay in proxy.relays():
            relay.expire(later)

    idle = proxy.relays()
    proxy.call(sweep)
    wait_until(lambda: not set(idle) & set(proxy.relays()), "the idle connection to close")
    assert echo.unary(b"two", timeout=5) == b"two"


def test_a_client_silent_past_the_server_first_wait_is_still_traced(proxy: RunningProxy) -> None:
    """The proxy opens the upstream connection early for a silent client (server-first protocols);
    a gRPC server sends its SETTINGS at once, and that must not make the connection opaque TCP."""
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        time.sleep(SERVER_FIRST_WAIT_S * 10)  # the server's SETTINGS reach the proxy meanwhile
        client.initiate_connection()
        client.send_headers(1, grpc_head(b"/demo.Echo/Unary"))
        client.send_data(1, b"\0\0\0\0\2hi", end_stream=True)
        sock.sendall(client.data_to_send())
        reply = b""
        while not reply.endswith(b"hi") and (data := sock.recv(65536)):
            events = client.receive_data(data)
            reply += b"".join(e.data or b"" for e in events if isinstance(e, ev.DataReceived))
            sock.sendall(client.data_to_send())
    exchange = last_stream(proxy)
    assert (exchange.grpc, exchange.grpc_status) == (True, 0)
    assert describe(exchange, Routes()).name == "demo.Echo/Unary"


def test_an_outbound_call_without_context_joins_the_one_request_in_flight(app: int) -> None:
    """--infer-context on an HTTP/2 listener: the same guess as for HTTP/1 (proxy.active_spans)."""
    serving = SpanContext(b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", SAMPLED)
    with running_proxy(("127.0.0.1", app), direction="outbound") as proxy:
        in_flight = ActiveServerSpans()
        in_flight.begin(serving)
        proxy.listener.adopt = in_flight
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}", options=OPTIONS) as chan:
            seen = methods(chan).unary(b"?", timeout=5).decode()
            exchange = last_stream(proxy)
            assert (exchange.extracted.parent, exchange.extracted.inferred) == (serving, True)
            assert "4bf92f3577b34da6a3ce929d0e0e4736" in seen  # the application is in that trace
            in_flight.begin(SpanContext(b"0af7651916cd43dd8448eb211c80319c", b"b7ad6b7169203331", SAMPLED))
            methods(chan).unary(b"?", timeout=5)  # two in flight: no guess
            assert last_stream(proxy, 2).extracted.parent is None
