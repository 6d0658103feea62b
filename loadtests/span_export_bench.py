"""Micro-benchmark: what a span costs the proxy, on the data path and on the export thread.

    .venv/bin/python -m loadtests.span_export_bench [--spans N] [--iterations N] [--repeat R]

A realistic HTTP SERVER span: W3C ids, a short tracestate, 12 attributes of the stable HTTP semantic
conventions, of which the path and the peer port change from request to request.

- hot path: building the attribute list and the SpanRecord, encoding it (`Encoder.span`, which the
  OTLP exporters' `prepare` is, run by `SpanPipeline.record`), and `SpanPipeline.record` itself
  (microseconds per span, best of R);
- export: the CPU the export side spends per span sending batches of 512 already encoded spans to a
  real OTLP receiver running in another process (`tests.otlp_receiver`), over gRPC, HTTP and HTTP with
  gzip. `thread` is the export thread's own CPU (`time.thread_time`); `process` is all of this
  process's CPU during the flush, which adds grpcio's internal threads; best of R;
- references: the same span through the upb protobuf classes and through the OpenTelemetry SDK, the
  alternatives `proxy.spans` chose against.

The budget: the whole proxy under 60 us of CPU per request including span export.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from proxy.spans.config import TRACECAR_VERSION
from proxy.spans.exporters import SCOPE_NAME, NoneExporter, OtlpHttpExporter
from proxy.spans.grpc_exporter import OtlpGrpcExporter
from proxy.spans.otlp import Encoder
from proxy.spans.otlp_messages import build_request
from proxy.spans.pipeline import Exporter, SpanPipeline
from proxy.spans.record import FLAGS_PARENT_REMOTE, KIND_SERVER, STATUS_UNSET, Attribute, SpanRecord

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = b"4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = b"00f067aa0ba902b7"
TRACE_STATE = b"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
RESOURCE: list[Attribute] = [
    ("service.name", "checkout"),
    ("telemetry.sdk.name", "tracecar"),
    ("telemetry.sdk.language", "python"),
    ("telemetry.sdk.version", TRACECAR_VERSION),
    ("k8s.pod.name", "checkout-7d9f8c6b5-x2x4q"),
    ("k8s.namespace.name", "shop"),
]
BATCH = 512
TRANSPORTS = ("grpc", "http", "http+gzip")


def attributes(n: int) -> list[Attribute]:
    """The 12 attributes of one request; path and peer port differ per request."""
    return [
        ("http.request.method", "GET"),
        ("url.path", f"/api/v1/orders/{n}"),
        ("url.scheme", "http"),
        ("server.address", "checkout.shop.svc.cluster.local"),
        ("server.port", 8080),
        ("client.address", "10.1.2.3"),
        ("network.protocol.version", "1.1"),
        ("http.response.status_code", 200),
        ("user_agent.original", "python-requests/2.31.0"),
        ("http.route", "/api/v1/orders/{id}"),
        ("network.peer.address", "10.1.2.3"),
        ("network.peer.port", 40000 + n % 20000),
    ]


def span(n: int) -> SpanRecord:
    start = time.time_ns()
    return SpanRecord(
        TRACE_ID,
        b"%016x" % (n + 1),
        PARENT_ID,
        TRACE_STATE,
        0x01 | FLAGS_PARENT_REMOTE,
        KIND_SERVER,
        "GET /api/v1/orders/{id}",
        start,
        start + 1_250_000,
        attributes(n),
        STATUS_UNSET,
        "",
    )


def best_us(run: Callable[[], object], iterations: int, repeat: int) -> float:
    return min(timeit.repeat(run, number=iterations, repeat=repeat)) / iterations * 1e6


def hot_path(iterations: int, repeat: int) -> dict[str, float]:
    attrs = attributes(7)
    path, port = "/api/v1/orders/7", 51234

    def build() -> SpanRecord:
        start = time.time_ns()
        return SpanRecord(
            TRACE_ID,
            b"53995c3f42cd8ad8",
            PARENT_ID,
            TRACE_STATE,
            0x301,
            KIND_SERVER,
            "GET /api/v1/orders/{id}",
            start,
            time.time_ns(),
            [
                ("http.request.method", "GET"),
                ("url.path", path),
                ("url.scheme", "http"),
                ("server.address", "checkout.shop.svc.cluster.local"),
                ("server.port", 8080),
                ("client.address", "10.1.2.3"),
                ("network.protocol.version", "1.1"),
                ("http.response.status_code", 200),
                ("user_agent.original", "python-requests/2.31.0"),
                ("http.route", "/api/v1/orders/{id}"),
                ("network.peer.address", "10.1.2.3"),
                ("network.peer.port", port),
            ],
        )

    record = span(0)
    encoder = Encoder(RESOURCE, SCOPE_NAME, TRACECAR_VERSION)
    fresh = iter([span(n) for n in range(iterations * repeat)])  # new paths and ports: cache misses
    results = {
        "SpanRecord only (attributes prebuilt)": best_us(
            lambda: SpanRecord(
                TRACE_ID, b"53995c3f42cd8ad8", PARENT_ID, TRACE_STATE, 0x301, 2, "GET", 1, 2, attrs
            ),
            iterations,
            repeat,
        ),
        "12 attributes + 2 clock reads + SpanRecord": best_us(build, iterations, repeat),
        "Encoder.span (OTLP prepare), new path and port": best_us(
            lambda: encoder.span(next(fresh)), iterations, repeat
        ),
    }
    pipeline = SpanPipeline(
        NoneExporter(), max_queue=max(iterations * repeat + 1, BATCH), max_batch=BATCH, interval_s=3600
    )
    results["SpanPipeline.record (queue has room)"] = best_us(
        lambda: pipeline.record(record), iterations, repeat
    )
    pipeline.shutdown(timeout_s=30)
    results["SpanPipeline.record (queue full, dropped)"] = best_us(
        lambda: pipeline.record(record), iterations, repeat
    )
    return results


class ThreadTimed:
    """Adds up the export thread's own CPU time spent in `export`. Its `shutdown` leaves the exporter
    open: one exporter (one connection) serves every repetition."""

    def __init__(self, exporter: Exporter[bytes]) -> None:
        self.exporter = exporter
        self.cpu_s = 0.0
        self.failures = 0

    def prepare(self, span: SpanRecord) -> bytes:
        return self.exporter.prepare(span)

    def export(self, batch: Sequence[bytes]) -> bool:
        started = time.thread_time()
        accepted = self.exporter.export(batch)
        self.cpu_s += time.thread_time() - started
        self.failures += not accepted
        return accepted

    def shutdown(self) -> None:
        pass


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def export_costs(transport: str, ports: dict[str, int], count: int, repeat: int) -> dict[str, float]:
    """Export-side CPU per span, each batch made fresh just before it is handed over, as in a steady
    stream (spans made long before sit in cold memory and cost more to encode)."""
    encoder = Encoder(RESOURCE, SCOPE_NAME, TRACECAR_VERSION)
    exporter: Exporter[bytes]
    if transport == "grpc":
        exporter = OtlpGrpcExporter(f"http://127.0.0.1:{ports['grpc']}", encoder)
    else:
        gzip = "gzip" if transport.endswith("gzip") else "none"
        exporter = OtlpHttpExporter(f"http://127.0.0.1:{ports['http']}/v1/traces", encoder, compression=gzip)
    timed = ThreadTimed(exporter)
    pipeline = SpanPipeline(timed, max_queue=BATCH, max_batch=BATCH, interval_s=3600)
    best = {"thread": float("inf"), "process": float("inf"), "wall": float("inf")}
    try:
        if not exporter.export([exporter.prepare(span(n)) for n in range(BATCH)]):  # connect and warm up
            raise RuntimeError(f"{transport}: the receiver refused the warm-up batch")
        for _ in range(repeat):
            timed.cpu_s, other_cpu, wall = 0.0, 0.0, 0.0
            for first in range(0, count, BATCH):
                process, own = process_cpu_s(), time.thread_time()
                for n in range(first, first + BATCH):
                    pipeline.record(span(n))
                started = time.perf_counter()
                if not pipeline.force_flush(timeout_s=120) or timed.failures:
                    raise RuntimeError(f"{transport}: export failed")
                wall += time.perf_counter() - started
                # Everything but this thread, which made the spans and then waited.
                other_cpu += process_cpu_s() - process - (time.thread_time() - own)
            spans = -(-count // BATCH) * BATCH
            best = {
                "thread": min(best["thread"], timed.cpu_s / spans * 1e6),
                "process": min(best["process"], other_cpu / spans * 1e6),
                "wall": min(best["wall"], wall / spans * 1e6),
            }
    finally:
        pipeline.shutdown(timeout_s=5)
        exporter.shutdown()
    return best


def references(spans: list[SpanRecord], repeat: int) -> dict[str, float]:
    encoder = Encoder(RESOURCE, SCOPE_NAME, TRACECAR_VERSION)

    def best_per_span(encode: Callable[[list[SpanRecord]], object]) -> float:
        """Best of several fresh batches (new paths and ports: the cache misses of real traffic)."""
        times = []
        for round_ in range(1, repeat * 3 + 1):
            batch = [span(n) for n in range(round_ * BATCH, (round_ + 1) * BATCH)]
            started = time.perf_counter()
            encode(batch)
            times.append(time.perf_counter() - started)
        return min(times) / BATCH * 1e6

    results = {
        "proxy.spans Encoder.encode": best_per_span(encoder.encode),
        "opentelemetry-proto messages + serialize": best_per_span(
            lambda batch: build_request(batch, RESOURCE, SCOPE_NAME, TRACECAR_VERSION).SerializeToString()
        ),
    }
    results.update(sdk_references(spans, repeat))
    return results


def sdk_references(batch: list[SpanRecord], repeat: int) -> dict[str, float]:
    # Imported here: only the comparison needs the SDK.
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    tracer = TracerProvider(resource=Resource.create(dict(RESOURCE))).get_tracer(SCOPE_NAME)
    attrs = dict(batch[0].attributes)

    def start_and_end() -> ReadableSpan:
        sdk_span = tracer.start_span("GET /api/v1/orders/{id}", kind=SpanKind.SERVER, attributes=attrs)
        sdk_span.end()
        return sdk_span  # type: ignore[return-value]  # the SDK's Span is a ReadableSpan

    sdk_spans = [start_and_end() for _ in batch]
    return {
        "opentelemetry-sdk start_span + end (hot path)": best_us(start_and_end, len(batch), repeat),
        "opentelemetry-sdk OTLP encoder + serialize": best_us(
            lambda: encode_spans(sdk_spans).SerializeToString(), 1, repeat * 3
        )
        / len(batch),
    }


@contextmanager
def receiver_process() -> Iterator[dict[str, int]]:
    """A real OTLP receiver in its own process, so its CPU is not counted as ours."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.otlp_receiver"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        ports: dict[str, int] = json.loads(process.stdout.readline())
        yield ports
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=20_480, help="spans per export measurement")
    parser.add_argument("--iterations", type=int, default=200_000, help="hot-path calls per timing")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is printed")
    args = parser.parse_args(argv)
    spans = [span(n) for n in range(BATCH)]

    print("hot path (event-loop thread), us per span")
    for name, us in hot_path(args.iterations, args.repeat).items():
        print(f"  {name:<48} {us:7.3f} us")
    print(
        f"export side, CPU us per span (batches of {BATCH}, {args.spans} spans, receiver in another process)"
    )
    print(f"  {'transport':<12} {'thread':>10} {'process':>10} {'wall':>10}")
    with receiver_process() as ports:
        for transport in TRANSPORTS:
            cost = export_costs(transport, ports, args.spans, args.repeat)
            print(
                f"  {transport:<12} {cost['thread']:7.2f} us {cost['process']:7.2f} us {cost['wall']:7.2f} us"
            )
    print("references, us per span (encoding only, and the SDK's own hot path)")
    for name, us in references(spans, args.repeat).items():
        print(f"  {name:<48} {us:7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
