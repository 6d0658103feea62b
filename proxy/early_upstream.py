"""The upstream connection opened while a client is still silent: how server-first protocols work.

MySQL, SMTP, FTP and many brokers wait for the server's greeting before saying anything, so a proxy
that waits for the client's first bytes hangs them. When a client has said nothing for
`SERVER_FIRST_WAIT_S`, the acceptor opens the upstream connection itself. Whatever the server
does first (speak, close, fail) settles the question: the connection is opaque TCP. Except an
HTTP/2 server's opening SETTINGS, which it sends to every client at once and then waits: a gRPC
client slow to send its preface is still a gRPC client. If the client speaks first after all, the
connection goes to whichever protocol it speaks (HTTP gets it as a pooled connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Callable

from proxy.forwarder import stream
from proxy.sniff import h2_server_opening

SERVER_FIRST_WAIT_S = 0.01  # a client that sends nothing this long may be waiting for the server
MAX_EARLY_BYTES = 256 * 1024  # server bytes held for a client not yet handed over; then reading pauses


class EarlyUpstream(asyncio.Protocol):
    """An upstream connection with no client protocol yet: it keeps what arrives and tells its owner."""

    def __init__(self, settled: Callable[[], None]) -> None:
        self.settled = settled  # the server spoke, closed or failed: the owner decides now
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.eof = False
        self.closed = False
        self.exc: Exception | None = None
        self.error = ""  # error.type when connecting failed (set by the acceptor)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream(transport)
        no_delay(self.transport)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > MAX_EARLY_BYTES and self.transport is not None:
            self.transport.pause_reading()
        self.settled()

    def eof_received(self) -> bool:
        self.eof = True
        self.settled()
        return True  # the relay that adopts us passes the half-close on

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.exc = True, exc
        self.settled()

    @property
    def spoke(self) -> bool:
        return bool(self.received) or self.eof or self.closed

    @property
    def server_first(self) -> bool:
        """The server did what a server that waits for its client would not (see the module)."""
        return (
            self.eof or self.closed or (bool(self.received) and not h2_server_opening(bytes(self.received)))
        )


def connect_error(error: BaseException) -> str:
    """The `error.type` of a failed upstream connect."""
    if isinstance(error, TimeoutError):
        return "upstream_connect_timeout"
    if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
        return "upstream_refused"
    return "upstream_unreachable"


def no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer may have closed already: nothing left to tune
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reset(transport: asyncio.Transport | None) -> None:
    """Close with a TCP RST (SO_LINGER 0): how a reset on one side is passed on to the other."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone: abort() below is all that is left to do
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
