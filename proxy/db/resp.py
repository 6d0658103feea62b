"""A RESP2/RESP3 reader: bytes in, complete top-level values out; pure, bounded, never raises on input.

https://redis.io/docs/latest/develop/reference/protocol-spec/ . Values are `bytes` (simple and bulk
strings), `int`, `None`, `list` (arrays, sets, maps flattened, pushes), or `RespError`. Only the first
`MAX_KEPT_ITEMS` items of an aggregate and the first `MAX_KEPT_BYTES` of a bulk string are kept:
the rest is skipped as it streams, so memory stays bounded whatever the values' size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_KEPT_ITEMS = 16  # of each aggregate: enough for a command's name, key and argument count
MAX_KEPT_BYTES = 256  # of each bulk string
MAX_LINE = 64 * 1024  # a simple string, error or length line longer than this is a protocol error
_AGGREGATES = frozenset(b"*~>%|")  # array, set, push, map (two items per entry), attribute
_BLOBS = frozenset(b"$=!")  # bulk string, verbatim string, bulk error
_LINES = frozenset(b"+-:,(#_")  # simple string, error, integer, double, big number, boolean, null


class ProtocolError(Exception):
    """The bytes are not RESP: the observer stops watching this stream."""


@dataclass(frozen=True, slots=True)
class RespError:
    message: str

    @property
    def code(self) -> str:
        """The error's first word, as Redis uses it: ERR, WRONGTYPE, NOAUTH, MOVED..."""
        return self.message.split(" ", 1)[0] or "ERR"


@dataclass(slots=True)
class Push:
    """`>`: a RESP3 out-of-band push (pub/sub, invalidation), not the reply to any command."""

    items: list[object] = field(default_factory=list)


@dataclass(slots=True)
class _Aggregate:
    remaining: int
    items: list[object]
    push: bool
    is_attribute: bool


class RespReader:
    __slots__ = ("_blob", "_blob_kind", "_buffer", "_skip", "_stack")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._stack: list[_Aggregate] = []
        self._skip = 0  # bulk bytes (and their CRLF) still to come for the blob being read
        self._blob = bytearray()
        self._blob_kind = 0

    def feed(self, data: bytes) -> list[object]:
        """The top-level values `data` completes, in order. Raises ProtocolError on non-RESP bytes."""
        self._buffer += data
        values: list[object] = []
        while True:
            if self._skip:
                if not self._read_blob():
                    return values
                value: object = self._blob_value()
            else:
                line = self._line()
                if line is None:
                    return values
                parsed = self._start(line)
                if parsed is _PENDING:
                    continue
                value = parsed
            done = self._add(value)
            if done is not _PENDING:
                values.append(done)

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError("line too long")
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        if not line:
            raise ProtocolError("empty line")
        return line

    def _start(self, line: bytes) -> object:
        kind, rest = line[0], line[1:]
        if kind in _LINES:
            return _line_value(kind, rest)
        size = _number(rest)
        if kind in _BLOBS:
            if size < 0:
                return None
            self._skip, self._blob, self._blob_kind = size + 2, bytearray(), kind
            return _PENDING
        if kind in _AGGREGATES:
            count = size * 2 if kind in b"%|" else size
            if count < 0:
                return None
            self._stack.append(_Aggregate(count, [], kind == ord(">"), kind == ord("|")))
            return self._close_empty()
        raise ProtocolError(f"unknown type byte {kind:#x}")

    def _read_blob(self) -> bool:
        take = min(self._skip, len(self._buffer))
        keep = max(0, min(take, MAX_KEPT_BYTES + 2 - len(self._blob)))
        self._blob += self._buffer[:keep]
        del self._buffer[:take]
        self._skip -= take
        return self._skip == 0

    def _blob_value(self) -> object:
        body = bytes(self._blob[:-2]) if len(self._blob) >= 2 else b""
        body = body[:MAX_KEPT_BYTES]
        if self._blob_kind == ord("!"):
            return RespError(body.decode("utf-8", "replace"))
        if self._blob_kind == ord("="):
            return body[4:]  # "txt:" or "mkd:"
        return body

    def _close_empty(self) -> object:
        top = self._stack[-1]
        if top.remaining:
            return _PENDING
        self._stack.pop()
        if top.is_attribute:
            return _PENDING
        return Push(top.items) if top.push else top.items

    def _add(self, value: object) -> object:
        """Put `value` in the aggregate being read; a value that completes the top level is returned."""
        while self._stack:
            top = self._stack[-1]
            if len(top.items) < MAX_KEPT_ITEMS:
                top.items.append(value)
            top.remaining -= 1
            if top.remaining:
                return _PENDING
            self._stack.pop()
            if top.is_attribute:  # RESP3 attributes annotate the next value: not a value themselves
                return _PENDING
            value = Push(top.items) if top.push else top.items
        return value


_PENDING = object()


def _number(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"not a number: {text[:20]!r}") from None


def _line_value(kind: int, rest: bytes) -> object:
    if kind == ord("-"):
        return RespError(rest.decode("utf-8", "replace"))
    if kind == ord(":"):
        return _number(rest)
    if kind == ord("_"):
        return None
    return rest
