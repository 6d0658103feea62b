"""A connection the proxy ends gets its FIN at once, right behind the last response.

uvloop's `transport.close()` closes the socket only on the loop's next iteration; a client that
reads the response first then closes first, and keeps the TIME-WAIT socket (thousands of them slow
every later connect() in its network namespace). `send_fin` half-closes before the callback returns.
"""

from __future__ import annotations

import asyncio
import socket

import uvloop

from proxy.forwarder import send_fin, stream


class _Answer(asyncio.Protocol):
    """Answers the first bytes, ends the connection, and reads the client's socket before returning."""

    def __init__(self, client: socket.socket, fin: bool, seen: list[bytes]) -> None:
        self.client, self.fin, self.seen = client, fin, seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        if self.fin:
            send_fin(self.transport)
        self.transport.close()
        self.client.settimeout(0.5)  # still inside the callback: the loop has not turned since
        try:
            while chunk := self.client.recv(4096):
                self.seen.append(chunk)
            self.seen.append(b"<EOF>")
        except TimeoutError:
            self.seen.append(b"<no FIN yet>")


def _answered(fin: bool) -> list[bytes]:
    seen: list[bytes] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        client = socket.socket()
        server = await loop.create_server(lambda: _Answer(client, fin, seen), "127.0.0.1", 0)
        client.connect(server.sockets[0].getsockname())
        client.sendall(b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        while not seen:
            await asyncio.sleep(0.01)
        client.close()
        server.close()

    uvloop.run(run())
    return seen


def test_the_fin_leaves_with_the_response_not_a_loop_iteration_later() -> None:
    seen = _answered(fin=True)
    assert seen[-1] == b"<EOF>"
    assert b"".join(seen[:-1]).startswith(b"HTTP/1.1 200 OK\r\n")


def test_without_it_uvloop_sends_the_fin_only_after_the_callback() -> None:
    """Why send_fin exists: if uvloop ever closes at once, this fails and send_fin can go."""
    assert _answered(fin=False)[-1] == b"<no FIN yet>"


def test_bytes_the_transport_still_holds_are_never_cut_off() -> None:
    """With data still queued in the transport send_fin does nothing: close sends the FIN after it."""

    async def run() -> int:
        loop = asyncio.get_running_loop()
        reader_sock, writer_sock = socket.socketpair()
        reader_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=writer_sock)
        transport = stream(transport)
        transport.write(b"x" * (8 << 20))  # more than the socket buffers take at once
        assert transport.get_write_buffer_size() > 0
        send_fin(transport)
        received = 0
        reader_sock.setblocking(False)
        while received < 8 << 20:
            try:
                chunk = reader_sock.recv(1 << 16)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            assert chunk, "EOF before all the bytes"
            received += len(chunk)
        transport.close()
        reader_sock.close()
        return received

    assert uvloop.run(run()) == 8 << 20
