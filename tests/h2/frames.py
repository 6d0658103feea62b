"""A raw HTTP/2 client for hand-crafted frames: what a hostile or broken peer sends.

Frames are built with hyperframe and sent as bytes on a plain socket; the answer is read back
frame by frame until the connection says GOAWAY, resets a stream, or closes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from hpack import Encoder
from hyperframe.frame import (
    Frame,
    GoAwayFrame,
    HeadersFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def grpc_head(path: bytes) -> list[tuple[bytes, bytes]]:
    """A gRPC request head for `path`, as a client library sends it."""
    lines = [b":method POST", b":scheme http", b":path " + path, b":authority app"]
    lines += [b"content-type application/grpc", b"te trailers"]
    return [(name, value) for name, _, value in (line.partition(b" ") for line in lines)]


GRPC_HEAD = grpc_head(b"/demo.Echo/Sleep")


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder = Encoder()
        self.buffer = b""
        self.send(PREFACE + SettingsFrame(0).serialize())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def headers(self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool = False) -> bytes:
        frame = HeadersFrame(stream_id, self.encoder.encode(headers), flags=["END_HEADERS"])
        if end_stream:
            frame.flags.add("END_STREAM")
        return bytes(frame.serialize())

    def frames(self) -> Iterator[Frame]:
        """Frames as they arrive, until the proxy closes the connection."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return
            self.buffer += chunk
            while len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
                self.buffer = self.buffer[9 + length :]
                yield frame

    def ending(self) -> tuple[str, int]:
        """How the proxy ended things: ("goaway" or "rst", error code)."""
        for frame in self.frames():
            if isinstance(frame, GoAwayFrame):
                return "goaway", frame.error_code
            if isinstance(frame, RstStreamFrame):
                return "rst", frame.error_code
        return "closed", -1

    def close(self) -> None:
        self.sock.close()
