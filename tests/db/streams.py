"""A `StreamInfo` that keeps what observers record, for feeding them bytes in tests."""

from __future__ import annotations

from propagation.sampling import AlwaysOn
from proxy.observers import StreamInfo, StreamObserver, observer_for
from proxy.spans.record import SpanRecord

SERVER = ("10.0.0.9", 6379)


def observe(first: bytes, direction: str = "outbound") -> tuple[StreamObserver, list[SpanRecord]]:
    spans: list[SpanRecord] = []
    stream = StreamInfo(direction, ("10.0.0.1", 40000), SERVER, spans.append, AlwaysOn())
    observer = observer_for(first, stream)
    assert observer is not None
    return observer, spans


def attributes(span: SpanRecord) -> dict[str, object]:
    return dict(span.attributes)
