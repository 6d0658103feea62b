"""Real OpenTelemetry SDK exporters (OTLP/gRPC, OTLP/HTTP protobuf) and raw OTLP requests against the
collector's receivers; what they send comes back out of the store."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import sqlite3
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from proxy.collector.model import Span
from proxy.collector.store import Retention
from proxy.collector.writer import Writer
from tests.collector.running import RunningCollector

TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")


def emit_trace(exporter: SpanExporter, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "GET")
        with tracer.start_as_current_span("SELECT stock", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "no stock"))
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_exporters_spans_are_stored(tmp_path: Path, transport: str) -> None:
    with RunningCollector(tmp_path / "traces.db") as collector:
        if transport == "grpc":
            exporter: SpanExporter = GrpcExporter(endpoint=collector.grpc_endpoint, insecure=True)
        else:
            exporter = HttpExporter(endpoint=collector.http_endpoint + "/v1/traces")
        trace_id = emit_trace(exporter, f"shop-{transport}")
        spans = {span.name: span for span in collector.wait_for_spans(2)}
    root, child = spans["GET /checkout"], spans["SELECT stock"]
    assert root.trace_id == child.trace_id == trace_id
    assert child.parent_span_id == root.span_id and root.parent_span_id is None
    assert (root.kind_name, child.kind_name) == ("SERVER", "CLIENT")
    assert root.service == f"shop-{transport}"
    assert root.attributes["http.request.method"] == "GET"
    assert (child.status_name, child.status_message) == ("ERROR", "no stock")


def one_span_request(span_id: bytes = b"\x01" * 8) -> ExportTraceServiceRequest:
    span = ProtoSpan(
        trace_id=TRACE_ID, span_id=span_id, name="raw", start_time_unix_nano=1, end_time_unix_nano=2
    )
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/traces", body=body, headers=headers)
    answer = connection.getresponse()
    result = answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    connection.close()
    return result


def test_http_gzip_json_bad_input_and_partial_success(tmp_path: Path) -> None:
    with RunningCollector(tmp_path / "traces.db") as collector:
        port = collector.collector.http_port
        assert port is not None
        body = gzip.compress(one_span_request().SerializeToString())
        status, _, _ = post(
            port, body, {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        )
        assert status == 200
        document = {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": TRACE_ID.hex(), "spanId": "0000000000000002", "parentSpanId": "0101010101010101",
             "name": "json", "kind": 3, "startTimeUnixNano": "5", "endTimeUnixNano": "9"},
            {"traceId": "", "spanId": "0000000000000003", "name": "no trace id"},
        ]}]}]}  # fmt: skip
        status, _, answer = post(port, json.dumps(document).encode(), {"Content-Type": "application/json"})
        assert status == 200
        assert json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"
        status, _, answer = post(port, b"\xff\xff not protobuf", {"Content-Type": "application/x-protobuf"})
        assert status == 400
        status, _, _ = post(port, b"{}", {"Content-Type": "text/plain"})
        assert status == 415
        spans = {span.name: span for span in collector.wait_for_spans(2)}
    assert spans["json"].parent_span_id == "0101010101010101"
    assert spans["json"].kind_name == "CLIENT"
    assert (spans["json"].start_ns, spans["json"].end_ns) == (5, 9)


def test_full_queue_answers_retryable_errors(tmp_path: Path) -> None:
    with RunningCollector(tmp_path / "traces.db", max_pending_spans=1) as collector:
        # Another connection holds the database's write lock (a slow disk): the writer waits on it,
        # the one span submitted stays pending, and the next export finds the queue full.
        blocker = sqlite3.connect(collector.config.db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        pending = collector.call(_submit(collector.collector.writer))
        port = collector.collector.http_port
        assert port is not None
        status, headers, _ = post(
            port,
            one_span_request(b"\x02" * 8).SerializeToString(),
            {"Content-Type": "application/x-protobuf"},
        )
        with grpc.insecure_channel(f"127.0.0.1:{collector.collector.grpc_port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=ExportTraceServiceRequest.SerializeToString,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as refused:
                export(one_span_request(b"\x03" * 8), timeout=10)
        blocker.execute("ROLLBACK")
        blocker.close()
        collector.call(asyncio.wait_for(pending, 10))
        assert [span.name for span in collector.spans()] == ["held"]
    assert status == 503 and headers["retry-after"] == "1"
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailer = [str(item.key) for item in refused.value.trailing_metadata() or ()]
    assert "grpc-status-details-bin" in trailer


async def _submit(writer: Writer) -> asyncio.Future[int]:
    return writer.submit([Span(TRACE_ID.hex(), "01" * 8, None, "s", "held", 1, 1, 2)])


def test_the_running_collector_applies_retention(tmp_path: Path) -> None:
    retention = Retention(max_age_s=0.2)
    with RunningCollector(
        tmp_path / "traces.db", retention=retention, retention_interval_s=0.05
    ) as collector:
        emit_trace(HttpExporter(endpoint=collector.http_endpoint + "/v1/traces"), "short-lived")
        deadline = time.monotonic() + 15
        while collector.spans():
            assert time.monotonic() < deadline, "retention never deleted the trace"
            time.sleep(0.05)
