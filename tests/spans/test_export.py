"""End to end: SpanRecords through the pipeline and the OTLP exporters into a real receiver (grpcio server
and HTTP server on 127.0.0.1), including errors, retries, a collector that goes away and comes back,
and the console exporter."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from proxy.spans.config import TRACECAR_VERSION, from_env
from proxy.spans.exporters import (
    ConsoleExporter,
    FanOutExporter,
    OtlpHttpExporter,
    make_exporter,
)
from proxy.spans.grpc_exporter import OtlpGrpcExporter, grpc_target
from proxy.spans.otlp import Encoder
from proxy.spans.pipeline import Exporter, SpanPipeline
from proxy.spans.record import KIND_CLIENT, STATUS_ERROR, Attribute, SpanRecord
from tests.otlp_receiver import OtlpReceiver
from tests.spans.factory import PARENT_ID, SPAN_ID, TRACE_ID, numbered, server_span

RESOURCE: list[Attribute] = [("service.name", "checkout"), ("k8s.namespace.name", "shop")]
BACKOFF_S, MAX_BACKOFF_S = 0.05, 0.2  # our own retry waits, short for tests


def encoder() -> Encoder:
    return Encoder(RESOURCE, "tracecar", TRACECAR_VERSION)


def send(exporter: Exporter[Any], batch: Sequence[SpanRecord]) -> bool:
    """What the pipeline does: each span prepared as recorded, then the batch exported."""
    return exporter.export([exporter.prepare(span) for span in batch])


@pytest.fixture(params=["grpc", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def closing() -> Iterator[list[Exporter[Any]]]:
    made: list[Exporter[Any]] = []
    yield made
    for exporter in made:
        exporter.shutdown()


def exporter_for(
    transport: str,
    receiver: OtlpReceiver,
    closing: list[Exporter[Any]],
    *,
    timeout_s: float = 5.0,
    headers: Sequence[tuple[str, str]] = (),
    compression: str = "none",
    scheme: str = "http",
) -> Exporter[Any]:
    exporter: Exporter[Any]
    if transport == "grpc":
        exporter = OtlpGrpcExporter(
            f"{scheme}://127.0.0.1:{receiver.grpc_port}",
            encoder(),
            timeout_s=timeout_s,
            headers=headers,
            compression=compression,
            initial_backoff_s=BACKOFF_S,
            max_backoff_s=MAX_BACKOFF_S,
        )
    else:
        exporter = OtlpHttpExporter(
            f"{scheme}://127.0.0.1:{receiver.http_port}/v1/traces",
            encoder(),
            timeout_s=timeout_s,
            headers=headers,
            compression=compression,
            initial_backoff_s=BACKOFF_S,
            max_backoff_s=MAX_BACKOFF_S,
        )
    closing.append(exporter)
    return exporter


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {span.span_id.hex(): span for span in spans}


def test_spans_arrive_with_ids_parent_kind_attributes_status_and_resource(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    pipeline = SpanPipeline(exporter_for(transport, receiver, closing), max_batch=2, interval_s=0.05)
    client = server_span(
        span_id=b"00000000000000c1",
        parent_span_id=SPAN_ID,
        kind=KIND_CLIENT,
        status=STATUS_ERROR,
        status_message="x",
    )
    pipeline.record(server_span())
    pipeline.record(client)
    assert pipeline.shutdown(timeout_s=5)
    spans = by_id(receiver.wait_for_spans(2, timeout_s=5))
    server, outbound = spans[SPAN_ID.decode()], spans["00000000000000c1"]
    assert server.trace_id.hex() == TRACE_ID.decode() == outbound.trace_id.hex()
    assert server.parent_span_id.hex() == PARENT_ID.decode()
    assert outbound.parent_span_id.hex() == SPAN_ID.decode()
    assert (server.kind, outbound.kind) == (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT)
    assert outbound.status == Status(code=Status.STATUS_CODE_ERROR, message="x")
    assert server.trace_state == "congo=t61rcWkgMzE"
    assert server.flags == 0x301
    attributes = {kv.key: kv.value for kv in server.attributes}
    assert attributes["url.path"] == AnyValue(string_value="/api/v1/orders/12345")
    assert attributes["http.response.status_code"] == AnyValue(int_value=200)
    [resource_spans, *_] = receiver.resource_spans()
    resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert resource == {"service.name": "checkout", "k8s.namespace.name": "shop"}
    assert resource_spans.scope_spans[0].scope.name == "tracecar"
    assert pipeline.exported == 2


def test_headers_reach_the_collector(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    exporter = exporter_for(transport, receiver, closing, headers=[("x-api-key", "secret")])
    assert send(exporter, [server_span()])
    [received] = receiver.received
    assert received.headers["x-api-key"] == "secret"
    assert received.headers["user-agent"].startswith("tracecar/")


def test_http_posts_protobuf_to_the_traces_path(receiver: OtlpReceiver, closing: list[Exporter[Any]]) -> None:
    exporter = exporter_for("http", receiver, closing)
    assert send(exporter, [server_span()])
    [received] = receiver.received
    assert (received.path, received.headers["content-type"]) == ("/v1/traces", "application/x-protobuf")
    assert "content-encoding" not in received.headers


def test_gzip_compression(transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]) -> None:
    exporter = exporter_for(transport, receiver, closing, compression="gzip")
    assert send(exporter, numbered(3))
    assert len(receiver.wait_for_spans(3, timeout_s=5)) == 3
    if transport == "http":  # grpcio consumes grpc-encoding before a handler could see it
        [received] = receiver.received
        assert received.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize(("protocol", "variable"), [("grpc", "grpc"), ("http/protobuf", "http")])
def test_configured_from_the_environment(protocol: str, variable: str, receiver: OtlpReceiver) -> None:
    base = receiver.grpc_endpoint if variable == "grpc" else receiver.http_endpoint
    config = from_env(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": base,
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_EXPORTER_OTLP_HEADERS": "tenant=shop%20eu",
            "POD_NAME": "checkout-7d9f",
        }
    )
    exporter = make_exporter(config)
    try:
        assert send(exporter, [server_span()])
    finally:
        exporter.shutdown()
    [received] = receiver.received
    assert received.headers["tenant"] == "shop eu"
    resource = {
        kv.key: kv.value.string_value for kv in received.request.resource_spans[0].resource.attributes
    }
    assert (resource["service.name"], resource["k8s.pod.name"]) == ("checkout", "checkout-7d9f")
    if variable == "http":
        assert received.path == "/v1/traces"


def test_the_traces_endpoint_is_posted_to_as_is(receiver: OtlpReceiver) -> None:
    url = receiver.http_endpoint + "/custom/traces"
    exporter = make_exporter(from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url}))
    try:
        assert send(exporter, [server_span()])
    finally:
        exporter.shutdown()
    assert receiver.received[0].path == "/custom/traces"


def test_transient_errors_are_retried(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.fail_next(2)  # UNAVAILABLE / 503
    assert send(exporter_for(transport, receiver, closing), [server_span()])
    assert receiver.attempts == 3
    assert len(receiver.spans()) == 1


@pytest.mark.parametrize(
    ("code", "status"), [(grpc.StatusCode.INVALID_ARGUMENT, 400), (grpc.StatusCode.INTERNAL, 500)]
)
def test_permanent_errors_are_not_retried(
    code: grpc.StatusCode, status: int, transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.fail_next(5, grpc_code=code, http_status=status)
    assert not send(exporter_for(transport, receiver, closing), [server_span()])
    assert receiver.attempts == 1


def test_partial_success_is_accepted_logged_and_not_retried(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    receiver.reject_partially(2, "span names too long")
    assert send(exporter_for(transport, receiver, closing), numbered(3))
    assert receiver.attempts == 1
    assert "rejected 2 spans: span names too long" in caplog.text


def test_a_permanent_rejection_is_logged_once_not_per_batch(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next(3, grpc_code=grpc.StatusCode.PERMISSION_DENIED, http_status=403)
    exporter = exporter_for(transport, receiver, closing)
    assert not any(send(exporter, [server_span()]) for _ in range(3))
    assert len([r for r in caplog.records if "rejected" in r.getMessage()]) == 1
    assert send(exporter, [server_span()])


def test_the_servers_retry_delay_is_honoured(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.fail_next(1, retry_after_s=1.0)  # gRPC RetryInfo; HTTP Retry-After: 1
    started = time.monotonic()
    assert send(exporter_for(transport, receiver, closing), [server_span()])
    assert time.monotonic() - started >= 0.9  # against a 0.05 s backoff of our own
    assert receiver.attempts == 2


def test_resource_exhausted_is_retried_only_with_retry_info(
    receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    exporter = exporter_for("grpc", receiver, closing)
    receiver.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert not send(exporter, [server_span()])
    receiver.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=0.1)
    assert send(exporter, [server_span()])
    assert receiver.attempts == 3


def test_retries_stop_at_the_timeout(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.fail_next(1000)
    started = time.monotonic()
    assert not send(exporter_for(transport, receiver, closing, timeout_s=0.5), [server_span()])
    assert time.monotonic() - started < 1.5
    assert 2 <= receiver.attempts < 1000


def test_a_stalled_collector_times_out(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.stall()
    started = time.monotonic()
    assert not send(exporter_for(transport, receiver, closing, timeout_s=0.5), [server_span()])
    assert time.monotonic() - started < 2
    receiver.release()


def test_collector_down_drops_and_counts_then_export_resumes(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    exporter = exporter_for(transport, receiver, closing, timeout_s=0.3)
    pipeline = SpanPipeline(exporter, max_queue=100, max_batch=10, interval_s=0.02)
    try:
        assert send(exporter, [server_span()])  # connected once, then the collector goes away
        receiver.stop()
        started = time.monotonic()
        for span in numbered(5000):
            pipeline.record(span)
        assert time.monotonic() - started < 1.0  # 5000 records: ~1 ms; the exporter is retrying meanwhile
        assert pipeline.dropped >= 5000 - 100 - 10
        deadline = time.monotonic() + 5
        while pipeline.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pipeline.failed > 0
        receiver.start()  # back on the same ports
        late = server_span(span_id=b"00000000000a7e00")
        deadline = time.monotonic() + 10
        while "00000000000a7e00" not in by_id(receiver.spans()) and time.monotonic() < deadline:
            pipeline.record(late)
            time.sleep(0.1)
        assert "00000000000a7e00" in by_id(receiver.spans())
    finally:
        pipeline.shutdown(timeout_s=2)
    assert pipeline.exported > 0
    assert pipeline.exported + pipeline.failed + pipeline.dropped + pipeline.queued >= 5000


def test_shutdown_aborts_an_export_stuck_in_retries(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    receiver.fail_next(10_000)
    exporter = exporter_for(transport, receiver, closing, timeout_s=30)
    pipeline = SpanPipeline(exporter, max_queue=100, max_batch=10, interval_s=0.01)
    for span in numbered(30):
        pipeline.record(span)
    time.sleep(0.2)
    started = time.monotonic()
    assert not pipeline.shutdown(timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert pipeline.failed == 30  # the batch in flight and the two left behind fail fast
    assert not send(exporter, [server_span()])  # shut down: fails fast from now on


def test_grpc_targets() -> None:
    assert grpc_target("http://collector:4317", insecure=False) == ("collector:4317", False)
    assert grpc_target("https://collector", insecure=True) == ("collector:443", True)
    assert grpc_target("http://[::1]:4317/ignored", insecure=False) == ("[::1]:4317", False)
    assert grpc_target("collector:4317", insecure=False) == ("collector:4317", True)
    assert grpc_target("collector:4317", insecure=True) == ("collector:4317", False)


def test_tls_endpoint_needs_a_trusted_server(
    transport: str, receiver: OtlpReceiver, closing: list[Exporter[Any]]
) -> None:
    # The receiver speaks plain text: an https:// endpoint must try TLS on it, and fail.
    exporter = exporter_for(transport, receiver, closing, timeout_s=0.5, scheme="https")
    assert not send(exporter, [server_span()])
    assert receiver.spans() == []


def test_console_exporter_writes_one_json_line_per_span() -> None:
    stream = io.StringIO()
    exporter = ConsoleExporter(RESOURCE, stream)
    root = server_span(parent_span_id=None, status=STATUS_ERROR, status_message="boom")
    assert send(exporter, [server_span(), root])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["trace_id"] == TRACE_ID.decode()
    assert first["span_id"] == SPAN_ID.decode()
    assert first["parent_span_id"] == PARENT_ID.decode()
    assert first["kind"] == "SERVER"
    assert first["attributes"]["server.port"] == 8080
    assert first["resource"] == {"service.name": "checkout", "k8s.namespace.name": "shop"}
    assert second["parent_span_id"] is None
    assert second["status"] == {"code": "ERROR", "message": "boom"}


def test_console_from_the_environment_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = SpanPipeline(make_exporter(from_env({"OTEL_TRACES_EXPORTER": "console"})), interval_s=0.01)
    pipeline.record(server_span())
    assert pipeline.shutdown(timeout_s=5)
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["name"] == "GET /api/v1/orders/{id}"


def test_otlp_and_console_together(receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint}
    exporter = make_exporter(from_env(environ))
    assert isinstance(exporter, FanOutExporter)
    try:
        assert send(exporter, [server_span()])
    finally:
        exporter.shutdown()
    assert len(receiver.spans()) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_none_exporter_discards() -> None:
    exporter = make_exporter(from_env({"OTEL_TRACES_EXPORTER": "none"}))
    assert send(exporter, [server_span()])


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_the_receiver_binds_to_another_address(
    host: str, transport: str, closing: list[Exporter[Any]]
) -> None:
    with OtlpReceiver(host) as elsewhere:
        endpoint = elsewhere.grpc_endpoint if transport == "grpc" else elsewhere.http_endpoint
        config = from_env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if transport == "grpc" else "",
            }
        )
        exporter = make_exporter(config)
        closing.append(exporter)
        assert send(exporter, [server_span()])
        assert len(elsewhere.wait_for_spans(1, timeout_s=5)) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_tls_to_a_collector_with_a_trusted_certificate(
    transport: str, certificate: tuple[str, str], closing: list[Exporter[Any]]
) -> None:
    with OtlpReceiver(tls=certificate) as secure:
        endpoint = secure.grpc_endpoint if transport == "grpc" else secure.http_endpoint
        assert endpoint.startswith("https://")
        environ = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if transport == "grpc" else "http/protobuf",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
        }
        untrusted = make_exporter(from_env(environ))
        closing.append(untrusted)
        assert not send(untrusted, [server_span()])  # the system's CAs do not know this certificate
        trusted = make_exporter(from_env({**environ, "OTEL_EXPORTER_OTLP_CERTIFICATE": certificate[0]}))
        closing.append(trusted)
        assert send(trusted, [server_span()])
        assert len(secure.wait_for_spans(1, timeout_s=5)) == 1
