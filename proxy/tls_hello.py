"""The server name a TLS ClientHello asks for (SNI): pure, from the client's first bytes.

The proxy does not terminate TLS; it only reads the first handshake record to name the
connection's span. RFC 8446 section 4.1.2 (ClientHello), RFC 6066 section 3 (server_name).
"""

from __future__ import annotations

RECORD_HEADER = 5
MAX_RECORD = 16384 + 2048  # RFC 8446 section 5.2: the largest record a peer may send
_HANDSHAKE, _CLIENT_HELLO, _SERVER_NAME, _HOST_NAME = 22, 1, 0, 0


class Truncated(Exception):
    """The ClientHello ends before the field being read."""


def record_complete(data: bytes) -> bool:
    """Whether `data` holds the whole first record (or all of it the proxy will wait for)."""
    if len(data) < RECORD_HEADER:
        return False
    return len(data) >= RECORD_HEADER + int.from_bytes(data[3:5], "big") or len(data) >= MAX_RECORD


def server_name(data: bytes) -> str:
    """The SNI host name in the ClientHello `data` starts with; "" when there is none or it is malformed."""
    if len(data) < RECORD_HEADER + 4 or data[0] != _HANDSHAKE or data[RECORD_HEADER] != _CLIENT_HELLO:
        return ""
    end = RECORD_HEADER + int.from_bytes(data[3:5], "big")
    try:
        return _find_server_name(_Reader(data[RECORD_HEADER + 4 : end]))
    except Truncated:
        return ""


class _Reader:
    __slots__ = ("data", "offset")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise Truncated
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> _Reader:
        return _Reader(self.take(self.number(length_size)))

    def done(self) -> bool:
        return self.offset >= len(self.data)


def _find_server_name(hello: _Reader) -> str:
    hello.take(2 + 32)  # legacy_version, random
    hello.vector(1)  # legacy_session_id
    hello.vector(2)  # cipher_suites
    hello.vector(1)  # legacy_compression_methods
    if hello.done():
        return ""  # no extensions at all (pre-TLS 1.2 clients)
    extensions = hello.vector(2)
    while not extensions.done():
        kind, body = extensions.number(2), extensions.vector(2)
        if kind == _SERVER_NAME:
            names = body.vector(2)
            while not names.done():
                name_type, name = names.number(1), names.vector(2)
                if name_type == _HOST_NAME:
                    return name.data.decode("ascii", "replace")
    return ""
