"""OTLP `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1) to model spans.

Ids become lower-case hex; a span whose trace or span id has the wrong length is rejected (counted by
the caller as OTLP #partial-success rejected spans), as the specification says an all-zero or
malformed id makes a span invalid. Attribute values become JSON values: arrays and key-value lists
nest, bytes become hex text.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from proxy.collector.model import UNKNOWN_SERVICE, Span

TRACE_ID_BYTES, SPAN_ID_BYTES = 16, 8
MAX_VALUE_DEPTH = 8  # nested arrays/maps deeper than this are cut (a hostile request cannot recurse us)


class DecodeError(ValueError):
    """The request body is not an OTLP trace export; it becomes HTTP 400 / gRPC INVALID_ARGUMENT."""


def parse_request(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except Exception as error:  # protobuf raises its own DecodeError, or others on odd input
        raise DecodeError(f"not an OTLP ExportTraceServiceRequest: {error}") from None


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def spans_of(request: ExportTraceServiceRequest, details: bool = True) -> tuple[list[Span], int]:
    """The valid spans of a request, and how many were rejected as invalid.

    Without `details`, attributes and events are left in each span's `otlp` bytes, undecoded: that is
    what the store keeps, and converting them costs far more than the rest of the span.
    """
    spans: list[Span] = []
    rejected = 0
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or UNKNOWN_SERVICE)
        for scope_spans in resource_spans.scope_spans:
            for proto in scope_spans.spans:
                span = _span(proto, service, resource, details)
                if span is None:
                    rejected += 1
                else:
                    spans.append(span)
    return spans, rejected


def _span(proto: ProtoSpan, service: str, resource: dict[str, Any], details: bool = True) -> Span | None:
    if len(proto.trace_id) != TRACE_ID_BYTES or len(proto.span_id) != SPAN_ID_BYTES:
        return None
    if not any(proto.trace_id) or not any(proto.span_id):
        return None
    parent = proto.parent_span_id
    return Span(
        trace_id=proto.trace_id.hex(),
        span_id=proto.span_id.hex(),
        parent_span_id=parent.hex() if len(parent) == SPAN_ID_BYTES and any(parent) else None,
        service=service,
        name=proto.name,
        kind=int(proto.kind),
        start_ns=proto.start_time_unix_nano,
        end_ns=proto.end_time_unix_nano,
        status=int(proto.status.code),
        status_message=proto.status.message,
        attributes=attributes_of(proto.attributes) if details else {},
        resource=resource,
        events=[
            {"name": e.name, "time_ns": e.time_unix_nano, "attributes": attributes_of(e.attributes)}
            for e in proto.events
        ]
        if details
        else [],
        otlp=b"" if details else proto.SerializeToString(),
    )


def span_from_otlp(body: bytes, service: str, resource: dict[str, Any]) -> Span:
    """A stored span, attributes and events decoded."""
    span = _span(ProtoSpan.FromString(body), service, resource)
    if span is None:
        raise ValueError("a stored span has invalid ids")
    return span


def to_otlp(span: Span) -> bytes:
    """A span built by hand (not received) as the OTLP `Span` message the store keeps."""
    proto = ProtoSpan(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_span_id or ""),
        name=span.name,
        kind=span.kind,  # type: ignore[arg-type]  # an OTLP enum number
        start_time_unix_nano=span.start_ns,
        end_time_unix_nano=span.end_ns,
        attributes=key_values(span.attributes),
    )
    proto.status.code = span.status  # type: ignore[assignment]
    proto.status.message = span.status_message
    for event in span.events:
        proto.events.add(
            name=event.get("name", ""),
            time_unix_nano=event.get("time_ns", 0),
            attributes=key_values(event.get("attributes", {})),
        )
    return proto.SerializeToString()


def key_values(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in values.items()]


def any_value(value: Any) -> AnyValue:
    """A JSON value as an OTLP AnyValue (the inverse of `value_of`, bytes aside)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        message = AnyValue()
        message.array_value.values.extend(any_value(item) for item in value)
        return message
    if isinstance(value, dict):
        message = AnyValue()
        message.kvlist_value.values.extend(key_values(value))
        return message
    return AnyValue() if value is None else AnyValue(string_value=str(value))


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP `repeated KeyValue` to a dict (the last of a repeated key wins)."""
    return {pair.key: value_of(pair.value) for pair in pairs}


def value_of(value: AnyValue, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value") and depth >= MAX_VALUE_DEPTH:
        return "..."
    if kind == "array_value":
        return [value_of(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: value_of(pair.value, depth + 1) for pair in _pairs(value.kvlist_value.values)}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _pairs(values: Any) -> list[KeyValue]:
    return list(values)
