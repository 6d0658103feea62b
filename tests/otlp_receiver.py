"""A real OTLP receiver for the test suite: a grpcio server implementing TraceService/Export and an HTTP
server accepting POST of binary protobuf (optionally gzipped), both on ephemeral ports.

    with OtlpReceiver() as receiver:                 # 127.0.0.1; OtlpReceiver("10.0.0.1") elsewhere
        exporter = OtlpGrpcExporter(receiver.grpc_endpoint, ...)   # or receiver.http_endpoint
        spans = receiver.wait_for_spans(3, timeout_s=5)

Everything received is kept (thread-safe) as `Received` entries: transport, path, headers and the
decoded request. To test retries and drops it can answer errors (`fail_next`) or partial success
(`reject_partially`), stall requests until released (`stall`/`release`), and go down and come back on
the same ports (`stop`/`start`).

Run as a process (`python -m tests.otlp_receiver [--host H]`) it prints its ports as one JSON line and
serves until its standard input closes: the span export benchmark uses it that way, so that its own
CPU is not counted as the exporter's.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.server
import json
import math
import socket
import ssl
import sys
import threading
import time
from collections import deque
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MAX_BODY = 20 * 1024 * 1024  # the OTLP specification's recommended request limit


@dataclass(frozen=True)
class Received:
    transport: str  # "grpc" or "http"
    path: str  # the HTTP request target, or the gRPC method
    headers: dict[str, str]  # HTTP headers or gRPC metadata, names lower-cased
    request: ExportTraceServiceRequest


@dataclass(frozen=True)
class Failure:
    grpc_code: grpc.StatusCode
    http_status: int
    retry_after_s: float | None  # sent as gRPC RetryInfo and as HTTP Retry-After


@dataclass(frozen=True)
class PartialSuccess:
    """Accept the request, but say this many spans were rejected (OTLP #partial-success)."""

    rejected_spans: int
    error_message: str


class OtlpReceiver:
    """`tls`, when given, is (certificate file, private key file) in PEM: both servers then use TLS."""

    def __init__(self, host: str = "127.0.0.1", tls: tuple[str, str] | None = None) -> None:
        self.host = host
        self.tls = tls
        self.grpc_port = 0
        self.http_port = 0
        self.attempts = 0  # export requests answered, failures included
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._failures: deque[Failure | PartialSuccess] = deque()
        self._released = threading.Event()
        self._released.set()
        self._grpc: grpc.Server | None = None
        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        return f"{self._scheme}://{self._netloc(self.grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """The base URL (OTEL_EXPORTER_OTLP_ENDPOINT form); traces go to `http_endpoint + "/v1/traces"`."""
        return f"{self._scheme}://{self._netloc(self.http_port)}"

    @property
    def _scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def start(self) -> OtlpReceiver:
        """Serve on the ports of the previous start, or on new ephemeral ports the first time."""
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"))
        handler = grpc.unary_unary_rpc_method_handler(
            self._grpc_export,
            request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        self._grpc.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})]
        )
        if self.tls is None:
            self.grpc_port = self._grpc.add_insecure_port(self._netloc(self.grpc_port))
        else:
            certificate, key = (Path(path).read_bytes() for path in self.tls)
            credentials = grpc.ssl_server_credentials([(key, certificate)])
            self.grpc_port = self._grpc.add_secure_port(self._netloc(self.grpc_port), credentials)
        self._grpc.start()
        self._http = _HttpServer((self.host, self.http_port), self)
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="otlp-http", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (a collector that went away)."""
        self._released.set()
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.close_all()
            self._http = None

    # What arrived.

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def resource_spans(self) -> list[ResourceSpans]:
        return [rs for r in self.received for rs in r.request.resource_spans]

    def spans(self) -> list[Span]:
        return [s for rs in self.resource_spans() for ss in rs.scope_spans for s in ss.spans]

    def wait_for_spans(self, count: int, timeout_s: float = 10.0) -> list[Span]:
        """Every span received, once there are at least `count`; AssertionError after the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (have := self._span_count()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"OTLP receiver: {have} spans after {timeout_s} s, wanted {count}")
                self._changed.wait(remaining)
        return self.spans()

    def _span_count(self) -> int:
        return sum(
            len(ss.spans) for r in self._received for rs in r.request.resource_spans for ss in rs.scope_spans
        )

    # How it answers.

    def fail_next(
        self,
        count: int,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        http_status: int = 503,
        retry_after_s: float | None = None,
    ) -> None:
        """Answer the next `count` export requests with this error instead of accepting them."""
        with self._changed:
            self._failures.extend([Failure(grpc_code, http_status, retry_after_s)] * count)

    def clear_failures(self) -> None:
        """Forget the failures `fail_next` planned that have not been answered yet."""
        with self._changed:
            self._failures.clear()

    def reject_partially(self, rejected_spans: int, error_message: str) -> None:
        """Accept the next export request, answering with a partial_success."""
        with self._changed:
            self._failures.append(PartialSuccess(rejected_spans, error_message))

    def stall(self) -> None:
        """Hold every export request from now until `release` (or `stop`)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _answer(
        self, transport: str, path: str, headers: dict[str, str], request: bytes | None
    ) -> Failure | ExportTraceServiceResponse:
        """Record one request; the failure or the response to answer it with. None: undecodable."""
        self._released.wait()
        with self._changed:
            self.attempts += 1
            planned = self._failures.popleft() if self._failures else None
            if isinstance(planned, Failure):
                return planned
            if request is not None:
                decoded = ExportTraceServiceRequest.FromString(request)
                self._received.append(Received(transport, path, headers, decoded))
                self._changed.notify_all()
        response = ExportTraceServiceResponse()
        if planned is not None:
            response.partial_success.rejected_spans = planned.rejected_spans
            response.partial_success.error_message = planned.error_message
        return response

    def _grpc_export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        metadata = {key.lower(): str(value) for key, value in context.invocation_metadata()}
        answer = self._answer("grpc", f"/{SERVICE}/Export", metadata, request.SerializeToString())
        if isinstance(answer, ExportTraceServiceResponse):
            return answer
        if answer.retry_after_s is not None:
            details = _retry_info_status(answer.grpc_code, answer.retry_after_s)
            context.set_trailing_metadata((("grpc-status-details-bin", details),))
        context.abort(answer.grpc_code, "OTLP receiver: failing on purpose")
        raise AssertionError("grpc's context.abort returned instead of raising")

    def _netloc(self, port: int) -> str:
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"


def _retry_info_status(code: grpc.StatusCode, delay_s: float) -> bytes:
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(delay_s), nanos=int(delay_s % 1 * 1e9))
    )
    status = status_pb2.Status(code=code.value[0], message="OTLP receiver: failing on purpose")
    status.details.add().Pack(info)
    return status.SerializeToString()


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: OtlpReceiver) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _HttpHandler)
        if receiver.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*receiver.tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a connection cut by stop(), or a client that went away: nothing for a test to read

    def close_all(self) -> None:
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as exporters expect (OTLP #otlphttp-connection)
    server: _HttpServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_BODY:
            self._reply(413, status_pb2.Status(message="request too large").SerializeToString())
            return
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            ExportTraceServiceRequest.FromString(body)
        except Exception:
            self.server.receiver._answer("http", self.path, headers, None)
            self._reply(
                400, status_pb2.Status(message="not an ExportTraceServiceRequest").SerializeToString()
            )
            return
        failure = self.server.receiver._answer("http", self.path, headers, body)
        if isinstance(failure, ExportTraceServiceResponse):
            self._reply(200, failure.SerializeToString())
            return
        extra = (
            {} if failure.retry_after_s is None else {"Retry-After": str(math.ceil(failure.retry_after_s))}
        )
        self._reply(
            failure.http_status, status_pb2.Status(message="failing on purpose").SerializeToString(), extra
        )

    def _reply(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read what was received, not an access log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve OTLP (gRPC and HTTP) until stdin closes.")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    with OtlpReceiver(args.host) as receiver:
        print(json.dumps({"grpc": receiver.grpc_port, "http": receiver.http_port}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
