"""One database command as an OpenTelemetry CLIENT span (database semantic conventions, v1.33+):
https://opentelemetry.io/docs/specs/semconv/database/database-spans/ . Pure.

The protocols carry no trace context, so the parent is a guess that is only made when it cannot be
wrong: an outbound command started while exactly one inbound request is being served
(`proxy.active_spans`) is that request's child; otherwise the command starts a trace of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from propagation import SAMPLED, Extracted, Sampler, SpanContext, next_context
from proxy.active_spans import ACTIVE
from proxy.spans.record import (
    FLAGS_PARENT_LOCAL,
    KIND_CLIENT,
    KIND_SERVER,
    STATUS_ERROR,
    STATUS_UNSET,
    Attribute,
    SpanRecord,
)


@dataclass(slots=True)
class DbCall:
    system: str  # db.system.name: "redis", "postgresql"
    operation: str  # db.operation.name
    query_text: str  # sanitized
    namespace: str  # db.namespace: the Redis database index, the PostgreSQL database
    server: tuple[str, int]
    context: SpanContext
    parent_span_id: bytes | None
    start_ns: int
    error_code: str = ""  # db.response.status_code: the Redis error prefix, the SQLSTATE
    error_message: str = ""
    inbound: bool = False  # this pod is the database: a SERVER span (the conventions' CLIENT otherwise)


def command_context(direction: str, sampler: Sampler) -> tuple[SpanContext, bytes | None]:
    """This command's span context and its parent's span id (see the module's docstring)."""
    parent = ACTIVE.sole() if direction == "outbound" else None
    if parent is None:
        return next_context(Extracted(), sampler), None
    return next_context(Extracted(parent, bool(parent.flags & SAMPLED)), sampler), parent.span_id


def sampled(context: SpanContext) -> bool:
    return bool(context.flags & SAMPLED)


def db_span(call: DbCall, end_ns: int) -> SpanRecord:
    host, port = call.server
    attributes: list[Attribute] = [
        ("db.system.name", call.system),
        ("db.operation.name", call.operation),
        ("server.address", host),
        ("server.port", port),
    ]
    if call.namespace:
        attributes.append(("db.namespace", call.namespace))
    if call.query_text:
        attributes.append(("db.query.text", call.query_text))
    if call.error_code:
        attributes += [("db.response.status_code", call.error_code), ("error.type", call.error_code)]
    name = f"{call.operation} {call.namespace}".strip() if call.system == "postgresql" else call.operation
    context = call.context
    return SpanRecord(
        context.trace_id,
        context.span_id,
        call.parent_span_id,
        context.trace_state.to_header(),
        (context.flags & 0xFF) | FLAGS_PARENT_LOCAL,
        KIND_SERVER if call.inbound else KIND_CLIENT,
        name or call.system,
        call.start_ns,
        end_ns,
        attributes,
        STATUS_ERROR if call.error_code else STATUS_UNSET,
        call.error_message,
    )
