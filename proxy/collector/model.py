"""What the collector keeps of a span, and what a trace list shows of a trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OTLP `Span.SpanKind` and `Status.StatusCode` numbers (opentelemetry/proto/trace/v1/trace.proto).
KIND_NAMES = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
KIND_SERVER, KIND_CLIENT = 2, 3
STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
STATUS_ERROR = 2
UNKNOWN_SERVICE = "unknown_service"


@dataclass(frozen=True)
class Span:
    """One span. Ids are lower-case hex; times are Unix nanoseconds; attributes are JSON values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # The span as OTLP sent it (a serialized `Span` message): the store keeps these bytes, and reads
    # attributes and events back from them only when a trace is shown, so ingesting is cheap.
    otlp: bytes = field(default=b"", repr=False, compare=False)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        return self.status == STATUS_ERROR

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, str(self.status))


@dataclass(frozen=True)
class TraceSummary:
    """One row of the trace list. The root is the span without a parent, else the earliest span."""

    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    end_ns: int
    span_count: int
    error_count: int
    services: tuple[str, ...] = ()

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class TraceFilter:
    """Which traces a list shows: a service taking part, a minimum duration, errors only."""

    service: str | None = None
    min_duration_ns: int = 0
    errors_only: bool = False
    limit: int = 50
