"""PostgreSQL wire protocol v3 framing: bytes in, (type, body) messages out. Pure and bounded.

https://www.postgresql.org/docs/current/protocol-message-formats.html . A frontend stream starts with
a message that has no type byte (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest); after
that every message is a type byte and a 4-byte length that counts itself. Only the first
`MAX_KEPT` bytes of a message body are kept (a query is cut, a 1 GB DataRow is skipped as it
streams), so memory per stream is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_KEPT = 16 * 1024  # of each message's body
PROTOCOL_3 = 196608
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
STARTUP = 0  # the type given to the first, untyped frontend message
_MAX_LENGTH = 1 << 30  # the server's own limit for one message


class ProtocolError(Exception):
    """Not the PostgreSQL protocol: the observer stops watching this stream."""


def is_startup(first: bytes) -> bool:
    """Whether a client's first bytes start a startup packet (protocol 3.0, SSL or GSS request)."""
    if len(first) < 8:
        return False
    length, code = int.from_bytes(first[:4], "big"), int.from_bytes(first[4:8], "big")
    return 8 <= length <= 10_000 and code in (PROTOCOL_3, SSL_REQUEST, GSSENC_REQUEST)


@dataclass(frozen=True, slots=True)
class Message:
    type: int  # the type byte (STARTUP for the first frontend message)
    body: bytes  # up to MAX_KEPT bytes of it


class Framer:
    """Messages of one direction. `expect_untyped()` makes the next message the untyped startup kind."""

    __slots__ = ("_body", "_buffer", "_remaining", "_type", "_untyped")

    def __init__(self, untyped_first: bool) -> None:
        self._buffer = bytearray()
        self._untyped = untyped_first
        self._type = -1  # the message being read, -1 between messages
        self._remaining = 0
        self._body = bytearray()

    def expect_untyped(self) -> None:
        self._untyped = True

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        pos = 0
        try:
            while True:
                if self._type < 0:
                    pos = self._header(pos)
                    if self._type < 0:
                        return messages
                take = min(self._remaining, len(buffer) - pos)
                keep = max(0, min(take, MAX_KEPT - len(self._body)))
                if keep:
                    self._body += buffer[pos : pos + keep]
                pos += take
                self._remaining -= take
                if self._remaining:
                    return messages
                messages.append(Message(self._type, bytes(self._body)))
                self._type, self._body = -1, bytearray()
        finally:
            del buffer[:pos]

    def _header(self, pos: int) -> int:
        """Read a message header at `pos` if it is all there; return where reading goes on."""
        buffer = self._buffer
        size = 4 if self._untyped else 5
        if len(buffer) - pos < size:
            return pos
        kind = STARTUP if self._untyped else buffer[pos]
        length = int.from_bytes(buffer[pos + size - 4 : pos + size], "big")
        if not 4 <= length <= _MAX_LENGTH:
            raise ProtocolError(f"message length {length}")
        self._untyped = False
        self._type, self._remaining = kind, length - 4
        return pos + size


def cstring(body: bytes, offset: int = 0) -> tuple[str, int]:
    """The NUL-terminated string at `offset` and the offset after it (a cut body ends the string)."""
    end = body.find(b"\0", offset)
    if end < 0:
        end = len(body)
    return body[offset:end].decode("utf-8", "replace"), end + 1


def startup_parameters(body: bytes) -> dict[str, str]:
    """The key/value pairs of a StartupMessage body (after its protocol version)."""
    parameters: dict[str, str] = {}
    offset = 4
    while offset < len(body) and body[offset] != 0:
        key, offset = cstring(body, offset)
        value, offset = cstring(body, offset)
        parameters[key] = value
    return parameters


def error_fields(body: bytes) -> dict[str, str]:
    """An ErrorResponse's fields by their code letter: S severity, C SQLSTATE, M message..."""
    fields: dict[str, str] = {}
    offset = 0
    while offset < len(body) and body[offset] != 0:
        code = chr(body[offset])
        fields[code], offset = cstring(body, offset + 1)
    return fields
