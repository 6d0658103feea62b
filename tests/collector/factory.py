"""Model spans for tests: `span("checkout", "GET /stock", start_ms=2, end_ms=5, parent=root)`."""

from __future__ import annotations

import itertools
from typing import Any

from proxy.collector.model import KIND_SERVER, Span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
_ids = itertools.count(1)
BASE_NS = 1_700_000_000_000_000_000


def span(  # noqa: PLR0917 - tests read better with the times positional
    service: str,
    name: str,
    start_ms: float = 0,
    end_ms: float = 10,
    parent: Span | None = None,
    kind: int = KIND_SERVER,
    status: int = 0,
    trace_id: str = TRACE,
    **attributes: Any,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=f"{next(_ids):016x}",
        parent_span_id=parent.span_id if parent else None,
        service=service,
        name=name,
        kind=kind,
        start_ns=BASE_NS + int(start_ms * 1e6),
        end_ns=BASE_NS + int(end_ms * 1e6),
        status=status,
        attributes={k.replace("_", "."): v for k, v in attributes.items()},
        resource={"service.name": service},
    )
