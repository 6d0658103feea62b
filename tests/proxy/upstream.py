"""Real servers for the proxy to forward to: a raw-socket HTTP/1 server that records exactly what it
received, a CONNECT endpoint that echoes the tunnel, and an aiohttp WebSocket echo server.

Each runs on its own threads (the WebSocket one on its own event loop), so the proxy under test
shares nothing with them but sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

from aiohttp import WSMsgType, web

from tests.proxy.wire import Message, Wire, read_body, read_head

# A handler answers one request whose head has been read; it reads the body itself (or not) and
# returns whether the connection stays open for another request.
Handler = Callable[["Connection", Message], bool]


class Connection:
    def __init__(self, sock: socket.socket, record: bool) -> None:
        self.wire = Wire(sock, record=record)
        self.requests: list[Message] = []

    @property
    def received(self) -> bytes:
        return bytes(self.wire.received)

    def send(self, data: bytes) -> None:
        self.wire.send(data)

    def read_body(self, head: Message) -> Message:
        return read_body(self.wire, head)


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    reason: bytes = b"OK",
) -> bytes:
    fields = [(b"Content-Length", b"%d" % len(body))] if headers is None else headers
    lines = b"".join(b"%s: %s\r\n" % field for field in fields)
    return b"HTTP/1.1 %d %s\r\n%s\r\n%s" % (status, reason, lines, body)


def keeps_alive(head: Message) -> bool:
    """RFC 9112 section 9.3: HTTP/1.1 persists unless closed; HTTP/1.0 only when asked to."""
    options = (head.header(b"connection") or b"").lower()
    if head.start[2] == b"HTTP/1.0":
        return options == b"keep-alive"
    return options != b"close"


def echo(connection: Connection, head: Message) -> bool:
    """The default: 200 with the request's payload (or its target when there is none) as the body."""
    request = connection.read_body(head)
    body = request.payload or request.start[1]
    keep = keeps_alive(head)
    options = b"keep-alive" if keep else b"close"
    connection.send(respond(200, body, [(b"Content-Length", b"%d" % len(body)), (b"Connection", options)]))
    return keep


class HttpServer:
    """Serves each connection on a thread: read a head, let `handler` answer, repeat."""

    def __init__(
        self, handler: Handler = echo, *, record: bool = True, listener: socket.socket | None = None
    ) -> None:
        self.handler = handler
        self.record = record
        self.connections: list[Connection] = []
        self.listener = listener or socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def requests(self) -> list[Message]:
        return [request for connection in self.connections for request in connection.requests]

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            connection = Connection(sock, self.record)
            self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: Connection) -> None:
        try:
            while (head := read_head(connection.wire)) is not None:
                connection.requests.append(head)
                if not self.handler(connection, head):
                    break
        except (OSError, EOFError) as error:  # a test that breaks connections on purpose
            self.errors.append(error)
        finally:
            connection.wire.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()
        self._accepting.join(timeout=5)
        for connection in list(self.connections):
            with contextlib.suppress(OSError):  # shutdown, unlike close, wakes a thread blocked in recv
                connection.wire.sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)


def reset(connection: Connection) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    connection.wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.wire.sock.close()


def connect_echo(connection: Connection, head: Message) -> bool:
    """A CONNECT endpoint: 200, then echo the tunnel's bytes until the client half-closes, then close."""
    connection.send(b"HTTP/1.1 200 Connection Established\r\n\r\n")
    while data := connection.wire.read_some():
        connection.send(data)
    connection.wire.sock.shutdown(socket.SHUT_WR)
    return False


async def _websocket_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


@contextlib.contextmanager
def websocket_server() -> Iterator[int]:
    """An aiohttp WebSocket echo server at /echo on its own loop and thread; yields its port."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/echo", _websocket_echo)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    sock = socket.create_server(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
