"""Connections that are not HTTP are relayed untouched as opaque TCP, each one a span.

Real loopback servers behind the proxy (fixed upstream, no iptables): server-first banners, echo
with half-close, resets, refused connects, TLS with SNI, declared opaque ports, silent clients.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy import opaque
from proxy.commands.proxy import OPAQUE_PORTS_DEFAULT
from proxy.limits import ClientLimits
from proxy.opaque_ports import DEFAULT_OPAQUE_PORTS, parse_ports
from proxy.spans.record import STATUS_ERROR
from tests.proxy.recorded import Recorded
from tests.proxy.sidecar import LOOPS, ThreadSidecar
from tests.proxy.tcp_servers import Banner, Echo, Flood, Refuser, Resetter, TcpServer, TlsEcho, read_all
from tests.proxy.upstream import HttpServer


class Servers(list[TcpServer]):
    """The servers a test started, and the event loop its proxy runs on."""

    def __init__(self, loop: str) -> None:
        super().__init__()
        self.loop = loop


@pytest.fixture(params=LOOPS)
def servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    started = Servers(request.param)
    yield started
    for server in started:
        server.__exit__(None, None, None)


def recorded(servers: Servers, server: TcpServer, **listener: object) -> Recorded:
    servers.append(server)
    return Recorded(server.port, servers.loop, **listener)


def expect_reset(proxy: Recorded, data: bytes) -> None:
    with proxy.connect() as client:
        client.sendall(data)
        with pytest.raises(ConnectionResetError):
            read_all(client)


def test_a_server_first_protocol_gets_its_banner_without_the_client_speaking(
    servers: Servers,
) -> None:
    proxy = recorded(servers, Banner())
    try:
        with proxy.connect() as client:
            assert client.recv(4096) == Banner.greeting
            client.sendall(b"QUIT\r\n")
            client.shutdown(socket.SHUT_WR)
            assert read_all(client) == b""
        connection = proxy.connection()
        assert (connection.bytes_from_server, connection.bytes_from_client) == (len(Banner.greeting), 6)
        assert connection.ended == "close"
        span = proxy.span()
        assert span["network.transport"] == "tcp" and span["tracecar.tcp.end"] == "close"
    finally:
        proxy.sidecar.close()


def test_bytes_pass_both_ways_and_a_half_close_is_passed_on(servers: Servers) -> None:
    echo = Echo()
    proxy = recorded(servers, echo)
    payload = b"*1\r\n$4\r\nPING\r\n" + bytes(range(256)) * 4000  # not HTTP, and more than any buffer
    try:
        with proxy.connect() as client:

            def send() -> None:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send)
            sender.start()
            answer = read_all(client)
            sender.join()
        assert answer == payload + b"bye"
        assert echo.received == [payload]
        connection = proxy.connection()
        assert (connection.bytes_from_client, connection.bytes_from_server) == (
            len(payload),
            len(payload) + 3,
        )
        assert connection.ended == "close"
        assert connection.server == ("127.0.0.1", echo.port)
    finally:
        proxy.sidecar.close()


def test_a_reset_from_the_server_reaches_the_client_as_a_reset(servers: Servers) -> None:
    proxy = recorded(servers, Resetter())
    try:
        expect_reset(proxy, b"\x00\x01binary hello")
        assert proxy.connection().ended == "reset"
        assert proxy.span()["error.type"] == "reset"
        assert proxy.spans[0].status == STATUS_ERROR
    finally:
        proxy.sidecar.close()


def test_a_refused_upstream_resets_the_client_and_is_an_error_span() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    proxy = Recorded(port)
    try:
        expect_reset(proxy, b"\x00binary")
        assert proxy.connection().error == "upstream_refused"
        assert proxy.span()["error.type"] == "upstream_refused"
    finally:
        proxy.sidecar.close()


def test_tls_passes_through_untouched_with_its_sni_recorded(servers: Servers, tmp_path: Path) -> None:
    server = TlsEcho(tmp_path)
    proxy = recorded(servers, server)
    try:
        with (
            proxy.connect() as raw,
            server.client_context().wrap_socket(raw, server_hostname="db.example.test") as tls,
        ):
            tls.sendall(b"secret")
            assert tls.recv(4096) == b"secret"  # the proxy's certificate would fail verification
        assert server.received == [b"secret"]
        span = proxy.span()
        assert span["tls.client.server_name"] == "db.example.test"
        assert proxy.spans[0].name == "TLS db.example.test"
    finally:
        proxy.sidecar.close()


def test_a_declared_opaque_port_is_relayed_without_sniffing(servers: Servers) -> None:
    echo = Echo()
    proxy = recorded(servers, echo, opaque_ports=frozenset({echo.port}))
    try:
        with proxy.connect() as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")  # HTTP, but the port says opaque
            client.shutdown(socket.SHUT_WR)
            assert read_all(client) == b"GET / HTTP/1.1\r\nhost: a\r\n\r\nbye"
        assert proxy.sidecar.exchanges == []
    finally:
        proxy.sidecar.close()


def test_a_silent_client_is_relayed_as_opaque_after_the_detection_timeout(servers: Servers) -> None:
    echo = Echo()
    proxy = recorded(servers, echo, detect_timeout_s=0.2)
    try:
        with proxy.connect() as client:
            time.sleep(0.5)  # past the detection timeout (not a timing assertion: the outcome is)
            client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # too late to be HTTP: relayed as bytes
            client.shutdown(socket.SHUT_WR)
            assert read_all(client) == b"GET / HTTP/1.1\r\n\r\nbye"
        assert proxy.sidecar.exchanges == []
    finally:
        proxy.sidecar.close()


def test_http_after_a_pause_reuses_the_connection_opened_early(upstream: HttpServer) -> None:
    sidecar = ThreadSidecar(upstream.port)
    try:
        with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as client:
            time.sleep(0.2)  # long enough for the proxy to open the upstream connection early
            client.sendall(b"GET /late HTTP/1.1\r\nhost: a\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert [request.start[1] for request in upstream.requests] == [b"/late"]
        assert len(upstream.connections) == 1  # the early connection, lent to the pool
    finally:
        sidecar.close()


def test_the_cli_default_lists_the_default_opaque_ports() -> None:
    assert parse_ports(OPAQUE_PORTS_DEFAULT) == DEFAULT_OPAQUE_PORTS
    assert parse_ports("none") == frozenset()
    assert parse_ports("6379, 7000-7002") == {6379, 7000, 7001, 7002}
    for bad in ("http", "0", "9-3", "70000"):
        with pytest.raises(ValueError, match="--opaque-ports"):
            parse_ports(bad)


def test_a_reset_from_the_client_reaches_the_server_as_a_reset(servers: Servers) -> None:
    echo = Echo()
    proxy = recorded(servers, echo)
    client = proxy.connect()
    client.sendall(b"\x00hello")
    assert client.recv(100) == b"\x00hello"
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    try:
        assert proxy.connection().ended == "reset"
        assert echo.received == []  # the echo server's read failed: it never saw an orderly end
    finally:
        proxy.sidecar.close()


class Broken:
    """An observer with a bug: it fails on the first bytes it is given."""

    def client_data(self, data: bytes, now_ns: int) -> None:
        raise ValueError("observer bug")

    def server_data(self, data: bytes, now_ns: int) -> None:
        raise AssertionError("never called once dropped")

    def closed(self, now_ns: int) -> None:
        raise AssertionError("never called once dropped")


def test_a_failing_observer_is_dropped_and_the_connection_goes_on(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opaque, "observer_for", lambda first, stream: Broken())
    echo = Echo()
    proxy = recorded(servers, echo)
    try:
        with proxy.connect() as client:
            client.sendall(b"*1\r\n$4\r\nPING\r\n")
            client.shutdown(socket.SHUT_WR)
            assert read_all(client) == b"*1\r\n$4\r\nPING\r\nbye"
        assert proxy.connection().ended == "close"
    finally:
        proxy.sidecar.close()


def test_a_server_that_greets_and_hangs_up_before_the_client_speaks(servers: Servers) -> None:
    proxy = recorded(servers, Refuser())
    try:
        with proxy.connect() as client:
            assert read_all(client) == Refuser.greeting  # the greeting, then the end
        connection = proxy.connection()
        assert (connection.bytes_from_server, connection.ended) == (len(Refuser.greeting), "close")
    finally:
        proxy.sidecar.close()


def test_a_client_that_does_not_read_holds_the_server_back(servers: Servers) -> None:
    flood = Flood()
    proxy = recorded(servers, flood)
    try:
        with proxy.connect() as client:
            client.sendall(b"\x00")
            # Far more than the socket buffers hold: without backpressure the proxy would take it all.
            assert not flood.done.wait(0.5)
            received = 0
            while received < Flood.size and (chunk := client.recv(1 << 20)):
                received += len(chunk)
        assert received == Flood.size and flood.done.wait(5)
    finally:
        proxy.sidecar.close()


def test_a_connection_idle_both_ways_is_closed_and_a_busy_one_is_not(servers: Servers) -> None:
    echo = Echo()
    limits = ClientLimits(tcp_idle_timeout_s=0.8)
    proxy = recorded(servers, echo, opaque_ports=frozenset({echo.port}), limits=limits)
    try:
        with proxy.connect() as busy, proxy.connect() as idle:
            idle.sendall(b"once")
            assert idle.recv(4) == b"once"
            for _ in range(20):  # 2 s of a byte every 0.1 s: never idle for the timeout
                busy.sendall(b"x")
                assert busy.recv(1) == b"x"
                time.sleep(0.1)
            assert read_all(idle) == b""  # closed by the proxy meanwhile, no reset
            connection = proxy.connection()
            assert (connection.ended, connection.bytes_from_client) == ("timeout", 4)
            assert proxy.span()["tracecar.tcp.end"] == "timeout"
            busy.sendall(b"still")
            assert busy.recv(5) == b"still"
    finally:
        proxy.sidecar.close()
