"""Watching the bytes of a connection the proxy relays without understanding it (opaque TCP).

Application protocols without trace context (Redis, PostgreSQL) still deserve a span per command.
The opaque relay, and the eBPF fallback for traffic the proxy never sees, offer every stream to
`observer_for`; a parser that recognises the client's first bytes returns an observer, which then
sees every byte in order (those first ones included) and hands finished spans to `StreamInfo.record`.
Observers are sans-IO: they never write to the connection, and an observer that fails is dropped,
never the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from propagation import Sampler
from proxy.spans.record import SpanRecord


@dataclass(frozen=True, slots=True)
class StreamInfo:
    direction: str  # "inbound" (this pod serves) or "outbound" (this pod is the client)
    client: tuple[str, int]
    server: tuple[str, int]
    record: Callable[[SpanRecord], None]  # where finished, sampled spans go
    sampler: Sampler  # decides for spans that start a trace of their own


class StreamObserver(Protocol):
    def client_data(self, data: bytes, now_ns: int) -> None:
        """Bytes the client sent, in order, as they pass."""

    def server_data(self, data: bytes, now_ns: int) -> None:
        """Bytes the server sent, in order, as they pass."""

    def closed(self, now_ns: int) -> None:
        """The stream ended: commands still waiting for a reply end here."""


ObserverFactory = Callable[[bytes, StreamInfo], "StreamObserver | None"]
# Tried in order by `observer_for`; a parser module appends its factory with `register`.
FACTORIES: list[ObserverFactory] = []


def register(factory: ObserverFactory) -> None:
    FACTORIES.append(factory)


def observer_for(first: bytes, stream: StreamInfo) -> StreamObserver | None:
    """An observer for the protocol the client's `first` bytes start (Redis, PostgreSQL), or None.

    `first` is only looked at: the observer is then given every byte, `first` included, through
    `client_data`. Failures are the caller's to contain (drop the observer, keep the stream).
    Registered factories (`register`) are tried first, then the database parsers.
    """
    for factory in FACTORIES:
        observer = factory(first, stream)
        if observer is not None:
            return observer
    from proxy.db.observer import db_observer  # noqa: PLC0415 - proxy.db builds on this module

    return db_observer(first, stream)
