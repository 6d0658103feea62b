"""SpanRecords as the data path builds them: an HTTP SERVER span with a remote parent, and variations."""

from __future__ import annotations

from proxy.spans.record import (
    FLAGS_PARENT_REMOTE,
    KIND_SERVER,
    STATUS_UNSET,
    Attribute,
    SpanRecord,
)

TRACE_ID = b"4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = b"00f067aa0ba902b7"
SPAN_ID = b"53995c3f42cd8ad8"
START_NS = 1_700_000_000_123_456_789
END_NS = START_NS + 1_234_567

HTTP_SERVER_ATTRIBUTES: list[Attribute] = [
    ("http.request.method", "GET"),
    ("url.path", "/api/v1/orders/12345"),
    ("url.scheme", "http"),
    ("server.address", "checkout.shop.svc.cluster.local"),
    ("server.port", 8080),
    ("client.address", "10.1.2.3"),
    ("network.protocol.version", "1.1"),
    ("http.response.status_code", 200),
    ("user_agent.original", "python-requests/2.31.0"),
    ("http.route", "/api/v1/orders/{id}"),
    ("network.peer.address", "10.1.2.3"),
    ("network.peer.port", 51234),
]


def server_span(
    *,
    span_id: bytes = SPAN_ID,
    trace_id: bytes = TRACE_ID,
    parent_span_id: bytes | None = PARENT_ID,
    trace_state: bytes = b"congo=t61rcWkgMzE",
    flags: int = 0x01 | FLAGS_PARENT_REMOTE,
    kind: int = KIND_SERVER,
    name: str = "GET /api/v1/orders/{id}",
    attributes: list[Attribute] | None = None,
    status: int = STATUS_UNSET,
    status_message: str = "",
) -> SpanRecord:
    return SpanRecord(
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        flags,
        kind,
        name,
        START_NS,
        END_NS,
        list(HTTP_SERVER_ATTRIBUTES) if attributes is None else attributes,
        status,
        status_message,
    )


def numbered(count: int) -> list[SpanRecord]:
    """`count` spans of one trace, span ids 1, 2, 3... (to tell them apart on arrival)."""
    return [server_span(span_id=b"%016x" % (i + 1)) for i in range(count)]
