"""Upgrade (101, here WebSocket) and CONNECT (2xx) turn the connection into a byte tunnel after the
handshake (RFC 9110 sections 7.8 and 9.3.6); when both sides are done the proxy lets both go."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp

from tests.proxy.clients import curl, eventually, url
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import HttpServer, connect_echo, websocket_server
from tests.proxy.wire import connect, read_head


async def websocket_echoes(port: int, messages: list[str | bytes]) -> list[str | bytes]:
    answers: list[str | bytes] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{port}/echo") as ws:
        for message in messages:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
            answer = await ws.receive(timeout=5)
            answers.append(answer.data)
    return answers


def test_websocket_echo(loop_name: str) -> None:
    messages: list[str | bytes] = ["hello", os.urandom(300_000), "x" * 70_000, b"", "bye"]
    with websocket_server() as port:
        sidecar = ThreadSidecar(port, loop_name)
        try:
            assert asyncio.run(websocket_echoes(sidecar.port, messages)) == messages
            exchange = sidecar.wait_exchanges(1)[0]
            assert (exchange.status, exchange.error_type) == (101, "")
            assert exchange.request.upgrade.lower() == b"websocket"
            assert eventually(lambda: sidecar.open_connections() == 0)
        finally:
            sidecar.close()


def test_connect_tunnel_to_an_echo_server(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    upstream.handler = connect_echo
    wire = connect(sidecar.port)
    early = b"bytes sent before the 200 arrived"
    wire.send(b"CONNECT echo.internal:443 HTTP/1.1\r\nHost: echo.internal:443\r\n\r\n" + early)
    head = read_head(wire)
    assert head is not None and head.raw_head == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    assert wire.read_exact(len(early)) == early
    payload = os.urandom(1_000_000) + b"HTTP/1.1 200 OK\r\n\r\n"  # nothing in a tunnel is parsed
    wire.send(payload)
    assert wire.read_exact(len(payload)) == payload
    wire.sock.shutdown(socket.SHUT_WR)  # the echo server closes once it sees our end
    assert wire.read_to_eof() == b""
    assert upstream.requests[0].start == [b"CONNECT", b"echo.internal:443", b"HTTP/1.1"]
    exchange = sidecar.wait_exchanges(1)[0]
    assert (exchange.status, exchange.error_type) == (200, "")
    assert eventually(lambda: sidecar.open_connections() == 0)
    assert eventually(lambda: sidecar.call(lambda: sum(map(len, sidecar.pool.idle.values()))) == 0)


def test_curl_asking_for_h2c_stays_on_traced_http1(sidecar: ThreadSidecar, upstream: HttpServer) -> None:
    """`curl --http2` on an http URL asks to upgrade to h2c (RFC 7540 section 3.2). The sidecar drops
    the upgrade, so the connection stays HTTP/1.1 and each of its requests is a span, not a tunnel."""
    args: list[str] = []
    for path in ("/one", "/two"):
        args += ["--next", "--http2", "-v", "-w", "%{http_version} %{num_connects} ", url(sidecar.port, path)]
    result = curl(*args[1:])
    assert b"> Upgrade: h2c" in result.stderr  # what curl asked for
    assert result.stdout == b"/one1.1 1 /two1.1 0 "
    assert len(upstream.connections) == 1
    for request in upstream.requests:
        assert request.header(b"Upgrade") is None and request.header(b"HTTP2-Settings") is None
        assert request.header(b"Connection") is None  # curl's listed only the upgrade's two options
    exchanges = sidecar.wait_exchanges(2)
    assert [(exchange.status, exchange.request.upgrade) for exchange in exchanges] == [(200, b"")] * 2
