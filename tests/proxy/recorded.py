"""The proxy on a thread in front of a fixed upstream, keeping the spans and TCP connections it reports."""

from __future__ import annotations

import socket
import threading

from proxy.spans.record import SpanRecord
from proxy.tcp_span import TcpConnection
from tests.proxy.sidecar import ThreadSidecar


class Recorded:
    """A sidecar in front of `server`, keeping the spans and connections its listeners report."""

    def __init__(self, server_port: int, loop: str = "asyncio", **listener: object) -> None:
        self.sidecar = ThreadSidecar(server_port, loop)
        self.spans: list[SpanRecord] = []
        self.connections: list[TcpConnection] = []
        self.changed = threading.Condition()

        def configure() -> None:
            inbound = self.sidecar.proxy.listeners["inbound"]
            inbound.record = self._record
            inbound.tcp_finished = self._finished
            for name, value in listener.items():
                setattr(inbound, name, value)

        self.sidecar.call(configure)

    def _record(self, span: SpanRecord) -> None:
        with self.changed:
            self.spans.append(span)
            self.changed.notify_all()

    def _finished(self, connection: TcpConnection) -> None:
        with self.changed:
            self.connections.append(connection)
            self.changed.notify_all()

    def connection(self) -> TcpConnection:
        with self.changed:
            assert self.changed.wait_for(lambda: self.connections, 10), "no connection ended"
            return self.connections[0]

    def span(self) -> dict[str, object]:
        return dict(self.wait_spans(1)[0].attributes)

    def wait_spans(self, count: int) -> list[SpanRecord]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.spans) >= count, 10), f"{len(self.spans)} spans"
            return list(self.spans)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.sidecar.port), timeout=10)
