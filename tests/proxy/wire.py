"""A deliberately small HTTP/1 reader for the test side (servers and clients), independent of `proxy.http1`.

`Wire` reads a blocking socket through a buffer and can record every byte that arrived, so tests can
compare what a peer received with what the other peer sent, byte for byte.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

TIMEOUT_S = 5.0


class Wire:
    def __init__(self, sock: socket.socket, *, record: bool = True) -> None:
        sock.settimeout(TIMEOUT_S)
        self.sock = sock
        self.buffer = bytearray()
        self.received = bytearray()  # everything read from the socket, when recording
        self.record = record
        self.eof = False

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            return False
        if self.record:
            self.received += data
        self.buffer += data
        return True

    def read_until(self, marker: bytes) -> bytes | None:
        """Bytes through `marker`; None on a clean EOF before any byte of them."""
        while (end := self.buffer.find(marker)) < 0:
            if not self._fill():
                if self.buffer:
                    raise EOFError(f"connection ended inside a message: {bytes(self.buffer[:200])!r}")
                return None
        end += len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise EOFError(f"connection ended {size - len(self.buffer)} bytes short")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_some(self, limit: int = 1 << 20) -> bytes:
        """Up to `limit` bytes as soon as any are there; b"" at EOF."""
        if not self.buffer and not self._fill():
            return b""
        data = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def read_to_end(self) -> bytes:
        """Like `read_to_eof`, but a reset also ends the connection (a peer that closed with bytes of
        ours unread answers what follows with an RST)."""
        try:
            return self.read_to_eof()
        except ConnectionResetError:
            data = bytes(self.buffer)
            self.buffer.clear()
            return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


@dataclass
class Message:
    raw_head: bytes
    start: list[bytes]  # the start line split on the first two spaces
    headers: list[tuple[bytes, bytes]]
    raw_body: bytes = b""  # the body as framed on the wire (chunk sizes and trailers included)
    payload: bytes = b""  # the body with chunked framing removed
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def status(self) -> int:
        return int(self.start[1])

    @property
    def chunked(self) -> bool:
        return (self.header(b"transfer-encoding") or b"").lower().endswith(b"chunked")

    @property
    def content_length(self) -> int | None:
        value = self.header(b"content-length")
        return None if value is None else int(value)


def _fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    fields = []
    for line in lines:
        name, _, value = line.partition(b":")
        fields.append((name, value.strip(b" \t")))
    return fields


def read_head(wire: Wire) -> Message | None:
    raw = wire.read_until(b"\r\n\r\n")
    if raw is None:
        return None
    lines = raw[:-4].split(b"\r\n")
    return Message(raw, lines[0].split(b" ", 2), _fields(lines[1:]))


def read_chunked(wire: Wire, message: Message) -> None:
    raw, payload = bytearray(), bytearray()
    while True:
        line = wire.read_until(b"\r\n")
        assert line is not None
        raw += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        data = wire.read_exact(size + 2)
        raw += data
        payload += data[:-2]
    trailer_lines = []
    while (line := wire.read_until(b"\r\n")) != b"\r\n":
        assert line is not None
        raw += line
        trailer_lines.append(line[:-2])
    raw += b"\r\n"
    message.raw_body, message.payload, message.trailers = bytes(raw), bytes(payload), _fields(trailer_lines)


def read_body(wire: Wire, message: Message, *, bodiless: bool = False) -> Message:
    """Fill in the body; `bodiless` for responses to HEAD and 1xx/204/304 (RFC 9112 section 6.3)."""
    if bodiless:
        return message
    if message.chunked:
        read_chunked(wire, message)
    elif message.content_length is not None:
        message.raw_body = message.payload = wire.read_exact(message.content_length)
    elif message.start[0].startswith(b"HTTP/"):  # a response without framing runs to the close
        message.raw_body = message.payload = wire.read_to_eof()
    return message


def read_request(wire: Wire) -> Message | None:
    head = read_head(wire)
    return None if head is None else read_body(wire, head)


def read_response(wire: Wire, method: bytes = b"GET") -> Message:
    """The final response, skipping interim 1xx ones."""
    while True:
        head = read_head(wire)
        if head is None:
            raise EOFError("connection closed before a response")
        if head.status >= 200 or head.status == 101:
            break
    bodiless = method == b"HEAD" or head.status in (101, 204, 304)
    return read_body(wire, head, bodiless=bodiless)


def connect(port: int) -> Wire:
    return Wire(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S))
