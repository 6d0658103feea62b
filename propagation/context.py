"""The span context that travels between services, and what extraction found on a request."""

from __future__ import annotations

from propagation.baggage import Baggage
from propagation.tracestate import EMPTY, TraceState

# W3C Trace Context Level 2 #trace-flags: the bits.
SAMPLED = 0x01
RANDOM = 0x02  # the trace id's rightmost 7 bytes are random (Level 2 #random-trace-id-flag)
KNOWN_FLAGS = SAMPLED | RANDOM


class SpanContext:
    """Identity of one span as propagated: ids as lower-case hex bytes (32 and 16 characters, never
    all zeros, see `propagation.ids`), trace-flags, tracestate.

    `debug` is B3's debug flag (implies sampled); W3C has no such bit, so it only survives B3 hops.
    """

    __slots__ = ("debug", "flags", "span_id", "trace_id", "trace_state")

    def __init__(
        self,
        trace_id: bytes,
        span_id: bytes,
        flags: int = 0,
        trace_state: TraceState = EMPTY,
        debug: bool = False,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.trace_state = trace_state
        self.debug = debug

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpanContext) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"SpanContext(trace_id={self.trace_id.decode()}, span_id={self.span_id.decode()}, "
            f"flags={self.flags:02x}, trace_state={self.trace_state!r}, debug={self.debug})"
        )

    def _key(self) -> tuple[bytes, bytes, int, TraceState, bool]:
        return (self.trace_id, self.span_id, self.flags, self.trace_state, self.debug)


class Extracted:
    """What the configured formats found on an incoming request.

    `parent` is the remote span context, or None. `decision` is the upstream's explicit sampling
    decision: B3 can carry one without ids (`b3: 0`, deny) and ids without one (deferred: None).
    `debug` is B3's debug request, which can also come without ids (`b3: d`).
    """

    __slots__ = ("baggage", "debug", "decision", "inferred", "parent")

    def __init__(
        self,
        parent: SpanContext | None = None,
        decision: bool | None = None,
        baggage: Baggage | None = None,
        debug: bool = False,
    ) -> None:
        self.parent = parent
        self.decision = decision
        self.baggage = baggage
        self.debug = debug
        self.inferred = False  # `parent` is the caller's guess, not read from the request (see hop)

    def __repr__(self) -> str:
        return (
            f"Extracted(parent={self.parent!r}, decision={self.decision}, "
            f"baggage={self.baggage!r}, debug={self.debug})"
        )


NOTHING = Extracted()
