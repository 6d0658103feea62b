"""The OTLP request for a batch built with the opentelemetry-proto message classes.

The readable statement of the mapping `proxy.spans.otlp.Encoder` writes by hand, and what its tests
compare against. The proxy itself never imports this module (the message classes cost 3.5 MB).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from proxy.spans.otlp import SPAN_ID_BYTES, TRACE_ID_BYTES, _int64, _raw_id
from proxy.spans.record import STATUS_UNSET, Attribute, AttributeValue, SpanRecord


def build_request(
    batch: Sequence[SpanRecord], resource: Sequence[Attribute], scope_name: str, scope_version: str
) -> ExportTraceServiceRequest:
    """The OTLP request for one batch, as opentelemetry-proto messages."""
    scope = InstrumentationScope(name=scope_name, version=scope_version)
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_key_value_message(k, v) for k, v in resource]),
                scope_spans=[ScopeSpans(scope=scope, spans=[_span_message(r) for r in batch])],
            )
        ]
    )


def _span_message(record: SpanRecord) -> Span:
    span = Span(
        trace_id=_raw_id(record.trace_id, TRACE_ID_BYTES, "trace_id"),
        span_id=_raw_id(record.span_id, SPAN_ID_BYTES, "span_id"),
        trace_state=record.trace_state.decode("ascii"),
        flags=record.flags,
        name=record.name,
        kind=record.kind,  # type: ignore[arg-type]  # an OTLP enum number
        start_time_unix_nano=record.start_ns,
        end_time_unix_nano=record.end_ns,
        attributes=[_key_value_message(k, v) for k, v in record.attributes],
    )
    if record.parent_span_id is not None:
        span.parent_span_id = _raw_id(record.parent_span_id, SPAN_ID_BYTES, "parent_span_id")
    if record.status != STATUS_UNSET or record.status_message:
        span.status.CopyFrom(Status(code=record.status, message=record.status_message))  # type: ignore[arg-type]
    return span


def _key_value_message(key: str, value: AttributeValue) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=_int64(key, value)))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    raise ValueError(f"attribute {key!r}: unsupported value type {type(value).__name__}")
