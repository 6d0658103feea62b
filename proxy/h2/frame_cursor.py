"""Where HTTP/2 frames begin and end in one connection's bytes, sans-IO: the relay hands every
frame to h2 except the payloads of DATA frames it can forward itself.

h2 copies a DATA payload six or seven times between the socket and the other side's socket (its
frame buffer, hyperframe's parse and serialize, its output buffer) and builds a frame object and an
event per frame. The relay instead takes a plain DATA frame's payload as slices of the bytes read and
appends them once to the other connection's output. h2 keeps every other frame, and with them the
state, the windows and the errors; a DATA frame the relay declines (or one that ends a stream or is
padded, whose handling h2 owns) goes to h2 whole.

Each read is `feed` once, then `next` until it says `DONE`:
- `CONTROL`: `chunk` is bytes for h2's `receive_data` (whole frames, or the start of one);
- `DATA_HEAD`: a plain DATA frame's head was read (`stream_id`, `length`); the caller answers with
  `take` (its payload follows as `PAYLOAD` chunks, over as many reads as it spans) or `decline`
  (the whole frame goes to h2 as `CONTROL`);
- `PAYLOAD`: `chunk` is a memoryview of the taken frame's payload, for `stream_id`.
"""

from __future__ import annotations

PREFACE_LENGTH = 24  # RFC 9113 section 3.4: the client preface, h2 checks it
HEAD = 9  # frame header length, RFC 9113 section 4.1
DATA_TYPE = 0
END_STREAM = 0x1
PADDED = 0x8
STREAM_ID_MASK = 0x7FFFFFFF

DONE = 0
CONTROL = 1
DATA_HEAD = 2
PAYLOAD = 3


class FrameCursor:
    """The frame boundaries of one direction of one connection, across reads."""

    __slots__ = (
        "chunk",
        "data",
        "declined",
        "h2_left",
        "length",
        "pass_left",
        "pos",
        "stream_id",
        "view",
    )

    def __init__(self, server: bool) -> None:
        self.data = b""
        self.view = memoryview(b"")
        self.pos = 0
        self.h2_left = PREFACE_LENGTH if server else 0  # bytes of the frame h2 is being given
        self.pass_left = 0  # payload bytes of the taken DATA frame still to come
        self.declined = False  # the head at `pos` is a DATA frame's the caller left to h2
        self.stream_id = 0
        self.length = 0
        self.chunk: bytes | memoryview = b""

    def feed(self, data: bytes) -> None:
        """The next read. A frame head split by the previous read is completed from it: a copy of the
        read, as rare as a head landing on a read boundary."""
        rest = self.data[self.pos :]
        self.data = rest + data if rest else data
        self.view = memoryview(self.data)
        self.pos = 0

    def next(self) -> int:
        if self.pass_left:
            return self._payload()
        start = self.pos
        self._control_run()
        if self.pos > start:
            whole = start == 0 and self.pos == len(self.data)
            self.chunk = self.data if whole else self.data[start : self.pos]
            return CONTROL
        if len(self.data) - self.pos < HEAD:
            return DONE  # nothing, or a head still incomplete: kept for the next read
        return self._data_head()

    def take(self) -> None:
        """The caller forwards the DATA frame just announced: its payload comes as `PAYLOAD`."""
        self.pass_left = self.length

    def decline(self) -> None:
        """The DATA frame just announced goes to h2 after all, head and payload."""
        self.pos -= HEAD
        self.declined = True

    def _control_run(self) -> None:
        """Advance `pos` over bytes that go to h2: the rest of h2's frame, then whole frames that
        are not plain DATA, up to the next plain DATA head or the end of the read."""
        data = self.data
        end = len(data)
        while self.pos < end:
            if self.h2_left:
                step = min(self.h2_left, end - self.pos)
                self.pos += step
                self.h2_left -= step
                continue
            if end - self.pos < HEAD:
                return
            pos = self.pos
            length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
            if _plain_data(data[pos + 3], data[pos + 4], length) and not self.declined:
                return
            self.declined = False
            self.pos = pos + HEAD
            self.h2_left = length

    def _data_head(self) -> int:
        data = self.data
        pos = self.pos
        self.length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
        self.stream_id = int.from_bytes(data[pos + 5 : pos + HEAD], "big") & STREAM_ID_MASK
        self.pos = pos + HEAD
        return DATA_HEAD

    def _payload(self) -> int:
        available = len(self.data) - self.pos
        if not available:
            return DONE
        step = min(self.pass_left, available)
        self.chunk = self.view[self.pos : self.pos + step]
        self.pos += step
        self.pass_left -= step
        return PAYLOAD


def _plain_data(frame_type: int, flags: int, length: int) -> bool:
    """A DATA frame the relay may forward itself: with a payload, unpadded, not ending its stream."""
    return frame_type == DATA_TYPE and length > 0 and not flags & (END_STREAM | PADDED)
