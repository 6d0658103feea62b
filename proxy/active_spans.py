"""The server spans in flight in this process: what a context-less database call belongs to.

Database protocols carry no trace context. When exactly one inbound request (HTTP/1, HTTP/2 or
gRPC) is being served by this pod's proxy as a database command starts, the command is almost
surely part of it, so its span becomes that request's child. With two or more in flight the
guess could be wrong, and a wrong parent is worse than none: the command starts its own trace.
"""

from __future__ import annotations

from propagation import SpanContext


class ActiveServerSpans:
    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[int, SpanContext] = {}

    def begin(self, context: SpanContext) -> None:
        self._open[id(context)] = context

    def end(self, context: SpanContext) -> None:
        self._open.pop(id(context), None)

    def sole(self) -> SpanContext | None:
        """The one server span in flight, or None when there are none or several."""
        if len(self._open) != 1:
            return None
        return next(iter(self._open.values()))

    def __len__(self) -> int:
        return len(self._open)


# One per worker process: the sidecar of one pod, so "in flight here" means "in flight in this pod".
ACTIVE = ActiveServerSpans()
