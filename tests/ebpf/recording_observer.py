"""A real StreamObserver for the tests: it keeps every byte it is given, in order, and its close."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from proxy import observers
from proxy.observers import StreamInfo, StreamObserver


class RecordingObserver:
    def __init__(self, first: bytes, stream: StreamInfo) -> None:
        self.first = first
        self.stream = stream
        self.seen: list[tuple[str, bytes]] = []  # ("client" | "server", bytes)
        self.closed_at = 0

    def client_data(self, data: bytes, now_ns: int) -> None:
        self.seen.append(("client", data))

    def server_data(self, data: bytes, now_ns: int) -> None:
        self.seen.append(("server", data))

    def closed(self, now_ns: int) -> None:
        self.closed_at = now_ns

    def side(self, name: str) -> bytes:
        return b"".join(data for side, data in self.seen if side == name)


@contextmanager
def recording(prefix: bytes) -> Iterator[list[RecordingObserver]]:
    """Register an observer for streams whose client starts with `prefix`; yields those made."""
    made: list[RecordingObserver] = []

    def factory(first: bytes, stream: StreamInfo) -> StreamObserver | None:
        if not first.startswith(prefix):
            return None
        made.append(RecordingObserver(first, stream))
        return made[-1]

    observers.register(factory)
    try:
        yield made
    finally:
        observers.FACTORIES.remove(factory)
