"""OTLP/HTTP JSON (`Content-Type: application/json`) to the protobuf request.

OTLP's JSON is the protobuf JSON mapping with three exceptions (OTLP specification, #json-protobuf-
encoding): trace and span ids are hex, not base64; enum values are integers (the mapping accepts
those); keys are lowerCamelCase (also accepted). So the ids are rewritten to base64 and the rest is the
standard `json_format` parse.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proxy.collector.decode import DecodeError

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def parse_json_request(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, or nested beyond reason
        raise DecodeError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise DecodeError("an OTLP JSON request is an object with resourceSpans")
    for span in _spans_and_links(document):
        _hex_ids_to_base64(span)
    try:
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise DecodeError(f"not an OTLP ExportTraceServiceRequest: {error}") from None


def _spans_and_links(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for resource_spans in _objects(document.get("resourceSpans", document.get("resource_spans"))):
        for scope_spans in _objects(resource_spans.get("scopeSpans", resource_spans.get("scope_spans"))):
            for span in _objects(scope_spans.get("spans")):
                found.append(span)
                found.extend(_objects(span.get("links")))
    return found


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _hex_ids_to_base64(span: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        value = span.get(name)
        if isinstance(value, str) and value:
            try:
                span[name] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise DecodeError(f"{name} {value!r}: not hex") from None
