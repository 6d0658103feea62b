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
        buffer = self._buffer
        buffer += data
        values: list[object] = []
        pos = 0
        try:
            while True:
                if self._skip:
                    pos = self._read_blob(pos)
                    if self._skip:
                        return values
                    value: object = self._blob_value()
                else:
                    end = buffer.find(b"\r\n", pos)
                    if end < 0:
                        if len(buffer) - pos > MAX_LINE:
                            raise ProtocolError("line too long")
                        return values
                    if end == pos:
                        raise ProtocolError("empty line")
                    value, pos = self._start(buffer[pos], bytes(buffer[pos + 1 : end]), end + 2)
                    if value is _PENDING:
                        continue
                done = self._add(value) if self._stack else value
                if done is not _PENDING:
                    values.append(done)
        finally:
            del buffer[:pos]

    def _start(self, kind: int, rest: bytes, pos: int) -> tuple[object, int]:
        """The value a line starts and where reading goes on; _PENDING when more is to come."""
        if kind in _LINES:
            return _line_value(kind, rest), pos
        size = _number(rest)
        if kind in _BLOBS:
            if size < 0:
                return None, pos
            buffer = self._buffer
            if pos + size + 2 <= len(buffer) and kind == 36:  # the common case: a whole bulk string
                return bytes(buffer[pos : pos + min(size, MAX_KEPT_BYTES)]), pos + size + 2
            self._skip, self._blob, self._blob_kind = size + 2, bytearray(), kind
            return _PENDING, pos
        if kind in _AGGREGATES:
            count = size * 2 if kind in b"%|" else size
            if count < 0:
                return None, pos
            self._stack.append(_Aggregate(count, [], kind == 62, kind == 124))  # ">" push, "|" attribute
            return self._close_empty(), pos
        raise ProtocolError(f"unknown type byte {kind:#x}")

    def _read_blob(self, pos: int) -> int:
        buffer = self._buffer
        take = min(self._skip, len(buffer) - pos)
        keep = max(0, min(take, MAX_KEPT_BYTES + 2 - len(self._blob)))
        self._blob += buffer[pos : pos + keep]
        self._skip -= take
        return pos + take

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
