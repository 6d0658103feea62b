"""What the data path keeps of one finished span: a few fields, built in well under a microsecond.

Nothing here validates: the data path builds records from ids it already holds (lower-case hex bytes
from `propagation`) and constant attribute keys. Turning a record into OTLP happens on the export
thread (`proxy.spans.otlp`), which is where a malformed record is caught.
"""

from __future__ import annotations

# OTLP `Span.SpanKind` (opentelemetry/proto/trace/v1/trace.proto): the numbers go on the wire as-is.
KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
KIND_PRODUCER = 4
KIND_CONSUMER = 5

# OTLP `Status.StatusCode`.
STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

# OTLP `SpanFlags`: bits 0-7 are the W3C trace-flags, bit 8 says whether bit 9 is known, bit 9 says the
# parent was remote. The data path ORs one of these into the trace-flags it propagates.
FLAGS_PARENT_LOCAL = 0x100
FLAGS_PARENT_REMOTE = 0x300

AttributeValue = str | int | float | bool
Attribute = tuple[str, AttributeValue]


class SpanRecord:
    """One finished span, as the hot path recorded it.

    `trace_id` and `span_id` are lower-case hex bytes (32 and 16 characters), `parent_span_id` too or
    None for a root span; `trace_state` is the W3C header value (b"" when empty); `flags` is OTLP's
    `Span.flags` (trace-flags plus `FLAGS_PARENT_*`); `kind` a `KIND_*`; `start_ns` and `end_ns` are
    `time.time_ns()` readings; `attributes` holds (key, value) pairs in the order recorded.
    """

    __slots__ = (
        "attributes",
        "end_ns",
        "flags",
        "kind",
        "name",
        "parent_span_id",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
        "trace_state",
    )

    # Positional on purpose: one is built per request, and keyword arguments cost about a third more.
    def __init__(  # noqa: PLR0917
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes | None,
        trace_state: bytes,
        flags: int,
        kind: int,
        name: str,
        start_ns: int,
        end_ns: int,
        attributes: list[Attribute],
        status: int = STATUS_UNSET,
        status_message: str = "",
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.trace_state = trace_state
        self.flags = flags
        self.kind = kind
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.attributes = attributes
        self.status = status
        self.status_message = status_message

    def __repr__(self) -> str:
        return (
            f"SpanRecord({self.name!r}, kind={self.kind}, trace_id={self.trace_id!r}, "
            f"span_id={self.span_id!r}, parent={self.parent_span_id!r}, status={self.status})"
        )
