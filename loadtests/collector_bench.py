"""Benchmark: how many spans per second the embedded collector ingests (stored and acknowledged).

    .venv/bin/python -m loadtests.collector_bench [--seconds S] [--clients N] [--batch B]

`tracecar collector` runs as its own process with a fresh database; N client threads in this process
send pre-encoded OTLP requests (realistic HTTP SERVER spans of 12 attributes, batches of B, one trace
per batch, as a sidecar's exporter sends them) as fast as they are acknowledged, over OTLP/HTTP and
then OTLP/gRPC. An acknowledgement means the spans are committed to SQLite (`synchronous=FULL`).
Reported: spans/s acknowledged, the collector's CPU per span (from /proc), and database bytes per span.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from loadtests.span_export_bench import RESOURCE, TRACE_STATE, attributes
from proxy.spans.exporters import SCOPE_NAME
from proxy.spans.otlp import Encoder
from proxy.spans.record import KIND_SERVER, STATUS_UNSET, SpanRecord

ROOT = Path(__file__).resolve().parent.parent
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PREPARED_BATCHES = 64  # encoded once, sent round-robin with the trace id rewritten per send
_LISTENING = re.compile(r"OTLP/gRPC on [^ ]+:(\d+), OTLP/HTTP on [^ ]+:(\d+)")


def encoded_batch(index: int, size: int) -> bytes:
    trace = b"%032x" % (index + 1)
    now = time.time_ns()
    records = [
        SpanRecord(trace, b"%016x" % (n + 1), b"%016x" % n if n else None, TRACE_STATE, 0x01, KIND_SERVER,
                   "GET /api/v1/orders/{id}", now + n * 1000, now + n * 1000 + 1_250_000, attributes(n),
                   STATUS_UNSET, "")
        for n in range(size)
    ]  # fmt: skip
    return Encoder(RESOURCE, SCOPE_NAME, "bench").encode(records)


class Senders:
    """Client threads sending until told to stop; each rewrites the 16 trace-id bytes per request so
    every batch is a new trace (the collector stores a retried span once)."""

    def __init__(
        self, bodies: list[bytes], send: Callable[[int], Callable[[bytes], None]], clients: int
    ) -> None:
        self.bodies, self.send, self.clients = bodies, send, clients
        self.acked_batches = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0

    def run_for(self, seconds: float) -> tuple[int, float]:
        threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(self.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self._stop.set()
        for thread in threads:
            thread.join()
        return self.acked_batches, time.perf_counter() - started

    def _loop(self, client: int) -> None:
        send = self.send(client)
        while not self._stop.is_set():
            with self._lock:
                self._counter += 1
                number = self._counter
            body = self.bodies[number % len(self.bodies)]
            send(_with_trace_id(body, number))
            with self._lock:
                self.acked_batches += 1


def _with_trace_id(body: bytes, number: int) -> bytes:
    """Every `Span.trace_id` field (tag 0x0a, length 16) gets this number's trace id."""
    trace_id = (number * 7919 + 1).to_bytes(16, "big")
    return body.replace(body[_first_trace_id(body) : _first_trace_id(body) + 16], trace_id)


def _first_trace_id(body: bytes) -> int:
    return body.index(b"\x0a\x10") + 2  # the first span's trace id (the resource has no 16-byte field)


def http_sender(port: int) -> Callable[[int], Callable[[bytes], None]]:
    def make(client: int) -> Callable[[bytes], None]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/x-protobuf"}

        def send(body: bytes) -> None:
            connection.request("POST", "/v1/traces", body, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"collector answered {answer.status}")

        return send

    return make


def grpc_sender(port: int) -> Callable[[int], Callable[[bytes], None]]:
    def make(client: int) -> Callable[[bytes], None]:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(EXPORT)

        def send(body: bytes) -> None:
            call(body, timeout=60)

        return send

    return make


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_collector(db: Path) -> tuple[subprocess.Popen[str], int, int]:
    argv = [sys.executable, "-m", "proxy.cli", "collector", "--db", str(db), "--host", "127.0.0.1",
            "--grpc-port", "0", "--http-port", "0", "--web-port", "0", "--log-level", "WARNING"]  # fmt: skip
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    listening = _LISTENING.search(process.stdout.readline())
    if listening is None:
        process.kill()
        raise RuntimeError("tracecar collector did not start")
    return process, int(listening.group(1)), int(listening.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per transport (default %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent exporters (default %(default)s)")
    parser.add_argument("--batch", type=int, default=512, help="spans per request (default %(default)s)")
    args = parser.parse_args(argv)
    bodies = [encoded_batch(n, args.batch) for n in range(PREPARED_BATCHES)]
    print(f"{args.clients} clients, {args.batch} spans per request, {args.seconds:g} s per transport")
    print(f"{'transport':10} {'spans/s':>10} {'CPU/span':>10} {'DB/span':>9}")
    for transport in ("http", "grpc"):
        with tempfile.TemporaryDirectory() as directory:
            db = Path(directory) / "bench.db"
            process, grpc_port, http_port = start_collector(db)
            try:
                make = http_sender(http_port) if transport == "http" else grpc_sender(grpc_port)
                cpu_before = cpu_seconds(process.pid)
                batches, elapsed = Senders(bodies, make, args.clients).run_for(args.seconds)
                cpu = cpu_seconds(process.pid) - cpu_before
            finally:
                process.terminate()
                process.wait(timeout=30)
            spans = batches * args.batch
            size = sum(p.stat().st_size for p in db.parent.iterdir())
            print(
                f"{transport:10} {spans / elapsed:>10,.0f} {cpu / max(spans, 1) * 1e6:>8.1f}us "
                f"{size / max(spans, 1):>8.0f}B"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
