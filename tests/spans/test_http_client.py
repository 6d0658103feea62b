"""The OTLP/HTTP exporter's own HTTP/1.1 client against a real socket server that answers exactly the
bytes a test gives it: the answers a collector or a proxy in front of one may send that the test
receiver (Python's http.server) never does: chunked bodies, interim 1xx answers, bodies delimited by
the connection closing, and garbage."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from proxy.spans.exporters import OtlpHttpExporter
from proxy.spans.http_client import dechunk
from proxy.spans.otlp import Encoder
from tests.spans.factory import server_span


class ScriptedServer:
    """Accepts connections one after another; answers each request with the next scripted reply.
    A reply of None closes the connection instead. Keeps every request it read."""

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._converse(conn)

    def _converse(self, conn: socket.socket) -> None:
        buffer = b""
        while self.replies:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(buffer) < length:
                buffer += conn.recv(65536)
            self.requests.append((head, buffer[:length]))
            buffer = buffer[length:]
            reply = self.replies.pop(0)
            if reply is None:
                return
            conn.sendall(reply)
            if b"connection: close" in reply.lower():
                return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def servers() -> Iterator[list[ScriptedServer]]:
    made: list[ScriptedServer] = []
    yield made
    for server in made:
        server.close()


def exporter_to(server: ScriptedServer, timeout_s: float = 2.0, **options: object) -> OtlpHttpExporter:
    encoder = Encoder([("service.name", "checkout")], "tracecar", "1")
    return OtlpHttpExporter(
        f"http://127.0.0.1:{server.port}/v1/traces",
        encoder,
        timeout_s=timeout_s,
        initial_backoff_s=0.01,
        max_backoff_s=0.02,
        **options,  # type: ignore[arg-type]
    )


def export_one(exporter: OtlpHttpExporter) -> bool:
    return exporter.export([exporter.prepare(server_span())])


OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"


def chunked(body: bytes, pieces: int = 3) -> bytes:
    size = max(1, len(body) // pieces)
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    return framed + b"0\r\nx-trailer: 1\r\n\r\n"


def partial_success(rejected: int, message: str) -> bytes:
    response = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
    )
    return response.SerializeToString()


def test_the_request_is_one_post_with_exact_framing(servers: list[ScriptedServer]) -> None:
    server = ScriptedServer([OK_EMPTY, OK_EMPTY])
    servers.append(server)
    exporter = exporter_to(server, headers=[("x-tenant", "shop"), ("Content-Type", "text/plain")])
    assert export_one(exporter) and export_one(exporter)
    assert server.connections == 1  # kept alive
    head, body = server.requests[0]
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/traces HTTP/1.1"
    fields = dict(line.split(b": ", 1) for line in lines[1:])
    assert fields[b"Host"] == f"127.0.0.1:{server.port}".encode()
    assert fields[b"content-type"] == b"application/x-protobuf"  # ours wins over a configured one
    assert fields[b"x-tenant"] == b"shop"
    assert fields[b"Content-Length"] == str(len(body)).encode()
    assert ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0].name


def test_a_chunked_answer_is_read_and_its_partial_success_logged(
    servers: list[ScriptedServer], caplog: pytest.LogCaptureFixture
) -> None:
    body = partial_success(2, "two spans too old")
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body)
    server = ScriptedServer([reply, OK_EMPTY])
    servers.append(server)
    exporter = exporter_to(server)
    with caplog.at_level(logging.WARNING, logger="tracecar.spans"):
        assert export_one(exporter)
    assert "rejected 2 spans: two spans too old" in caplog.text
    assert export_one(exporter)
    assert server.connections == 1  # the chunked body ended where it said: the connection is reusable


def test_interim_answers_are_skipped(servers: list[ScriptedServer]) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK_EMPTY
    server = ScriptedServer([reply])
    servers.append(server)
    assert export_one(exporter_to(server))


def test_an_answer_delimited_by_close_then_a_new_connection(servers: list[ScriptedServer]) -> None:
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + partial_success(0, "")
    server = ScriptedServer([reply, OK_EMPTY])
    servers.append(server)
    exporter = exporter_to(server)
    assert export_one(exporter) and export_one(exporter)
    assert server.connections == 2


def test_a_dropped_connection_and_garbage_are_retried_on_a_new_connection(
    servers: list[ScriptedServer],
) -> None:
    server = ScriptedServer([None, b"SMTP ready\r\n\r\n", OK_EMPTY])
    servers.append(server)
    assert export_one(exporter_to(server))
    assert server.connections == 3
    assert len(server.requests) == 3 and server.requests[0][1] == server.requests[2][1]  # the same batch


def test_an_answer_cut_short_is_a_failure_not_a_success(servers: list[ScriptedServer]) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly this"
    server = ScriptedServer([cut, cut, cut, cut])
    servers.append(server)
    assert not export_one(exporter_to(server, timeout_s=0.3))  # the retries give up within this


def test_dechunk() -> None:
    assert dechunk(chunked(b"hello, world", pieces=4)) == b"hello, world"
    assert dechunk(b"0\r\n\r\n") == b""
