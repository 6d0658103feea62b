"""A collector killed with SIGKILL while exports are in flight loses no span it acknowledged."""

from __future__ import annotations

import http.client
import os
import signal
import threading
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from proxy.collector.store import Store
from tests.collector.process import CollectorProcess

SPANS_PER_EXPORT = 50
ACKED_BEFORE_KILL = 1000


def export_request(client: int, number: int) -> tuple[ExportTraceServiceRequest, set[str]]:
    trace_id = (client * 1_000_000 + number + 1).to_bytes(16, "big")
    spans = [
        Span(trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"), name=f"op{i}", start_time_unix_nano=1,
             end_time_unix_nano=2)
        for i in range(SPANS_PER_EXPORT)
    ]  # fmt: skip
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="crashy"))])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request, {f"{trace_id.hex()}/{span.span_id.hex()}" for span in spans}


class Exporter(threading.Thread):
    """Exports until the collector goes away, keeping the ids of the spans it was told were stored."""

    def __init__(self, client: int, port: int, acked: set[str], lock: threading.Condition) -> None:
        super().__init__(daemon=True)
        self.client, self.port, self.acked, self.lock = client, port, acked, lock

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for number in range(100_000):
            request, ids = export_request(self.client, number)
            try:
                connection.request(
                    "POST",
                    "/v1/traces",
                    request.SerializeToString(),
                    {"Content-Type": "application/x-protobuf"},
                )
                answer = connection.getresponse()
                answer.read()
            except OSError:
                return  # the collector was killed
            if answer.status == 200:
                with self.lock:
                    self.acked.update(ids)
                    self.lock.notify_all()


def test_sigkill_loses_no_acknowledged_span(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    acked: set[str] = set()
    lock = threading.Condition()
    with CollectorProcess(db) as collector:
        exporters = [Exporter(client, collector.http_port, acked, lock) for client in range(4)]
        for exporter in exporters:
            exporter.start()
        with lock:
            assert lock.wait_for(lambda: len(acked) >= ACKED_BEFORE_KILL, timeout=60), len(acked)
        assert collector.process is not None
        os.kill(collector.process.pid, signal.SIGKILL)  # exports are still in flight
        collector.process.wait(timeout=10)
        for exporter in exporters:
            exporter.join(timeout=30)
    with lock:
        acknowledged = set(acked)
    store = Store(db)  # opening recovers from the write-ahead log, as the next start would
    stored = {
        f"{span.trace_id}/{span.span_id}"
        for summary in store.recent_traces(limit=1000)
        for span in store.trace(summary.trace_id)
    }
    assert len(acknowledged) >= ACKED_BEFORE_KILL
    assert acknowledged - stored == set()
