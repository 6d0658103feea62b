"""Message bodies (RFC 9112 sections 6-7): find where a body ends, forwarding its bytes untouched.

A `BodyReader` is fed whatever arrived and answers how many of those bytes belong to the body; the
proxy forwards exactly those. Chunked bodies are checked chunk by chunk (size lines, CRLFs, trailer
section) but their framing, extensions and trailers pass through as sent.
"""

from __future__ import annotations

import re

from proxy.http1.errors import BadRequest
from proxy.http1.head import CONTENT_LENGTH, FIELD_LINE, TOKEN, TRANSFER_ENCODING

MAX_CHUNK_LINE = 4096  # a chunk-size line with extensions, or one trailer line
MAX_TRAILER_BYTES = 64 * 1024

# RFC 9112 section 7.1.1 without the optional whitespace (BWS), which llhttp and others refuse: the bytes
# are forwarded as they came, so only a form every parser reads alike may pass.
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+"'
_CHUNK_EXT = rb"(?:;" + TOKEN + rb"(?:=(?:" + TOKEN + rb"|" + _QUOTED + rb"))?+)*+"
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})" + _CHUNK_EXT)
# RFC 9110 section 6.5.1: framing fields cannot be trailers; a parser merging them would reframe.
_NOT_TRAILERS = frozenset((CONTENT_LENGTH, TRANSFER_ENCODING))


class BodyReader:
    """Base: a body with nothing in it (HEAD responses, 204, 304, bodiless requests)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = True

    def feed(self, data: bytes, start: int) -> int:
        """Consume body bytes from `data[start:]`; return the index where the body's bytes stop."""
        return start


class LengthReader(BodyReader):
    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        super().__init__()
        self.remaining = length
        self.done = length == 0

    def feed(self, data: bytes, start: int) -> int:
        take = min(self.remaining, len(data) - start)
        self.remaining -= take
        self.done = self.remaining == 0
        return start + take


class UntilCloseReader(BodyReader):
    """A response delimited by the connection closing (RFC 9112 section 6.3, last rule)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self.done = False

    def feed(self, data: bytes, start: int) -> int:
        return len(data)

    def close(self) -> None:
        self.done = True


_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)


class ChunkedReader(BodyReader):
    """The chunked transfer coding, validated as it streams (RFC 9112 section 7.1)."""

    __slots__ = ("_line", "_remaining", "_state", "_trailer_bytes")

    def __init__(self) -> None:
        super().__init__()
        self.done = False
        self._state = _SIZE
        self._remaining = 0  # data bytes left in this chunk, or CRLF bytes left after it
        self._line = b""  # a size or trailer line split across reads
        self._trailer_bytes = 0

    def feed(self, data: bytes, start: int) -> int:
        pos = start
        while not self.done and pos < len(data):
            if self._state == _DATA:
                take = min(self._remaining, len(data) - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state, self._remaining = _DATA_END, 2
            elif self._state == _DATA_END:
                pos = self._data_end(data, pos)
            else:
                pos = self._line_step(data, pos)
        return pos

    def _data_end(self, data: bytes, pos: int) -> int:
        expected = b"\r\n"[2 - self._remaining]
        if data[pos] != expected:
            raise BadRequest("chunk data not followed by CRLF")
        self._remaining -= 1
        if self._remaining == 0:
            self._state = _SIZE
        return pos + 1

    def _line_step(self, data: bytes, pos: int) -> int:
        """Collect one size or trailer line, then act on it."""
        end = data.find(b"\n", pos)
        line = self._line + data[pos : len(data) if end < 0 else end]
        if len(line) > MAX_CHUNK_LINE:  # checked whether or not the line arrived in one piece
            raise BadRequest("chunk-size or trailer line too long")
        if end < 0:
            self._line = line
            return len(data)
        self._line = b""
        if not line.endswith(b"\r"):
            raise BadRequest("chunk line ended by a bare LF (RFC 9112 section 7.1)")
        if self._state == _SIZE:
            self._size_line(line[:-1])
        else:
            self._trailer_line(line[:-1])
        return end + 1

    def _size_line(self, line: bytes) -> None:
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise BadRequest(f"invalid chunk size line {line[:64]!r}")
        size = int(match[1], 16)
        if size == 0:
            self._state = _TRAILERS
        else:
            self._state, self._remaining = _DATA, size

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self.done = True
            return
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            raise BadRequest("trailer section too large")
        field = FIELD_LINE.fullmatch(line)
        if field is None or field[1].lower() in _NOT_TRAILERS:
            # The name only: a value may be a credential, and reasons are logged.
            raise BadRequest(
                f"invalid trailer field {line.partition(b':')[0][:100]!r} (RFC 9112 section 7.1.2)"
            )
