"""What the demo's spans show, computed from the collector's spans (pure), and printed as text.

- the counts: traces, spans per service, spans with an error status;
- one complete trace (frontend to checkout, no error) and one failed trace, for the waterfalls;
- the broken hop: traces that start at checkout's CLIENT span, because checkout does not pass the
  trace context on to inventory;
- Redis command spans, and how many of them the sidecar linked to the inventory request they were
  made for although Redis' protocol carries no context.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.collector.model import KIND_CLIENT, KIND_SERVER, Span

DB_SYSTEM_KEYS = ("db.system.name", "db.system")


@dataclass
class Findings:
    traces: int = 0
    spans: int = 0
    per_service: dict[str, int] = field(default_factory=dict)
    error_spans: int = 0
    complete: list[Span] = field(default_factory=list)
    failed: list[Span] = field(default_factory=list)
    broken: list[Span] = field(default_factory=list)  # one trace started at the broken hop
    broken_traces: int = 0
    db_spans: int = 0
    db_linked: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "traces": self.traces,
            "spans": self.spans,
            "spans_per_service": self.per_service,
            "error_spans": self.error_spans,
            "complete_trace": _trace_json(self.complete),
            "failed_trace": _trace_json(self.failed),
            "broken_hop": {"traces": self.broken_traces, "example": _trace_json(self.broken)},
            "db_commands": {"spans": self.db_spans, "linked_to_request": self.db_linked},
        }


def is_db(span: Span) -> bool:
    return any(key in span.attributes for key in DB_SYSTEM_KEYS)


def findings(spans: Sequence[Span]) -> Findings:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
        traces[span.trace_id].append(span)
    by_id = {(span.trace_id, span.span_id): span for span in spans}
    db = [span for span in spans if is_db(span)]
    linked = [
        span
        for span in db
        if (parent := by_id.get((span.trace_id, span.parent_span_id or ""))) and parent.kind == KIND_SERVER
    ]
    broken = [trace for trace in traces.values() if _starts_at_broken_hop(trace)]
    return Findings(
        traces=len(traces),
        spans=len(spans),
        per_service=dict(sorted(Counter(span.service for span in spans).items())),
        error_spans=sum(span.is_error for span in spans),
        complete=_largest([t for t in traces.values() if _reaches_checkout(t) and not _errors(t)]),
        failed=_most_errors([t for t in traces.values() if _root(t).service == "frontend" and _errors(t)]),
        broken=_largest(broken),
        broken_traces=len(broken),
        db_spans=len(db),
        db_linked=len(linked),
    )


def _root(trace: list[Span]) -> Span:
    return next((span for span in trace if span.parent_span_id is None), trace[0])


def _errors(trace: list[Span]) -> int:
    return sum(span.is_error for span in trace)


def _reaches_checkout(trace: list[Span]) -> bool:
    return _root(trace).service == "frontend" and any(
        span.service == "checkout" and span.kind == KIND_SERVER for span in trace
    )


def _starts_at_broken_hop(trace: list[Span]) -> bool:
    root = _root(trace)
    return root.service == "checkout" and root.kind == KIND_CLIENT and root.parent_span_id is None


def _largest(traces: list[list[Span]]) -> list[Span]:
    """The trace with the most spans; the latest of those (the system is warm by then)."""
    return max(traces, key=lambda trace: (len(trace), trace[0].start_ns), default=[])


def _most_errors(traces: list[list[Span]]) -> list[Span]:
    """A failure that shows: the most error spans (a 503 fails at more hops than a 404), then size."""
    return max(traces, key=lambda trace: (_errors(trace), len(trace), trace[0].start_ns), default=[])


def _trace_json(trace: list[Span]) -> dict[str, Any] | None:
    if not trace:
        return None
    return {
        "trace_id": trace[0].trace_id,
        "spans": [
            {
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id,
                "service": span.service,
                "name": span.name,
                "kind": span.kind_name,
                "status": span.status_name,
                "attributes": span.attributes,
            }
            for span in trace
        ],
    }
