"""The configured set of propagation formats (`OTEL_PROPAGATORS`): extract from and inject into headers.

Extraction follows the OpenTelemetry composite propagator: formats run in the configured order and
the last one that finds a context wins. Injection replaces every header of every configured format,
so no stale value of an earlier hop survives; headers of formats not configured are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from propagation import b3, baggage, traceparent, tracestate
from propagation.baggage import Baggage
from propagation.context import SAMPLED, Extracted, SpanContext
from propagation.errors import ConfigError
from propagation.headers import Header, Headers, NameIndex, replace
from propagation.sampling import Sampler, next_context

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"
BAGGAGE = b"baggage"

FORMAT_HEADERS: dict[str, tuple[bytes, ...]] = {
    "tracecontext": (TRACEPARENT, TRACESTATE),
    "baggage": (BAGGAGE,),
    "b3": (b3.SINGLE,),
    "b3multi": b3.MULTI,
}
DEFAULT_FORMATS = ("tracecontext", "baggage")


class Propagators:
    __slots__ = ("_baggage", "_context_formats", "_names", "formats")

    def __init__(self, formats: Sequence[str] = DEFAULT_FORMATS) -> None:
        unknown = [name for name in formats if name not in FORMAT_HEADERS]
        if unknown:
            raise ConfigError(
                f"unsupported propagation format(s) {', '.join(unknown)}; "
                f"supported: {', '.join(FORMAT_HEADERS)}, none"
            )
        self.formats = tuple(dict.fromkeys(formats))
        self._names = NameIndex(frozenset(h for name in self.formats for h in FORMAT_HEADERS[name]))
        self._context_formats = tuple(name for name in self.formats if name != "baggage")
        self._baggage = "baggage" in self.formats

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Propagators:
        raw = environ.get("OTEL_PROPAGATORS", "").strip()
        names = [part.strip().lower() for part in raw.split(",") if part.strip()]
        if not names:
            return cls()
        if "none" in names:
            if len(names) > 1:
                raise ConfigError(f"OTEL_PROPAGATORS={raw!r}: 'none' cannot be combined")
            return cls(())
        try:
            return cls(names)
        except ConfigError as error:
            raise ConfigError(f"OTEL_PROPAGATORS={raw!r}: {error}") from None

    def __repr__(self) -> str:
        return f"Propagators({','.join(self.formats) or 'none'})"

    def extract(self, headers: Headers) -> Extracted:
        """The incoming context; malformed input of any kind yields "no context", never an error."""
        return self._extract(self._names.scan(headers)[0])

    def inject(self, headers: Headers, context: SpanContext, baggage: Baggage | None = None) -> list[Header]:
        """`headers` with the configured formats set for `context` (and `baggage`, when given)."""
        return replace(headers, self._names.scan(headers)[1], self._fresh(context, baggage))

    def hop(
        self, headers: Headers, sampler: Sampler, orphan_parent: SpanContext | None = None
    ) -> tuple[Extracted, SpanContext, list[Header]]:
        """What the proxy does per request, with one pass over the headers: extract the incoming
        context, start this hop's span context, and return the headers to forward with it.

        `orphan_parent` is the caller's guess at the parent of a request that carries no trace
        context at all; it is taken only then (a request with a context or a sampling decision of
        its own keeps it), and the result says `inferred`."""
        found, positions = self._names.scan(headers)
        extracted = self._extract(found)
        if orphan_parent is not None and extracted.parent is None and extracted.decision is None:
            adopted = Extracted(orphan_parent, bool(orphan_parent.flags & SAMPLED), extracted.baggage)
            adopted.inferred = True
            extracted = adopted
        context = next_context(extracted, sampler)
        return extracted, context, replace(headers, positions, self._fresh(context, extracted.baggage))

    def _extract(self, found: dict[bytes, list[bytes]]) -> Extracted:
        parent = w3c = None
        decision: bool | None = None
        debug = False
        for name in self._context_formats:
            if name == "tracecontext":
                w3c = traceparent.parse(found[TRACEPARENT]) if TRACEPARENT in found else None
                if w3c is not None:
                    # #tracestate-header: tracestate is only read alongside a valid traceparent.
                    if TRACESTATE in found:
                        w3c.trace_state = tracestate.parse(found[TRACESTATE])
                    parent, decision, debug = w3c, w3c.sampled, False
                continue
            if name == "b3":
                got = b3.parse_single(found[b3.SINGLE]) if b3.SINGLE in found else b3.NONE
            else:
                got = b3.parse_multi(found)
            if got is not b3.NONE:
                parent, decision, debug = got.parent, got.decision, got.debug
        # A B3 context won but names the same trace as traceparent: keep the W3C tracestate.
        if parent is not None and w3c is not None and parent is not w3c and parent.trace_id == w3c.trace_id:
            parent.trace_state = w3c.trace_state
        bag = None
        if self._baggage:
            bag = baggage.parse(found[BAGGAGE]) if BAGGAGE in found else baggage.EMPTY
        return Extracted(parent, decision, bag, debug)

    def _fresh(self, context: SpanContext, bag: Baggage | None) -> dict[bytes, bytes]:
        fresh: dict[bytes, bytes] = {}
        for name in self.formats:
            if name == "tracecontext":
                fresh[TRACEPARENT] = traceparent.render(context)
                state = context.trace_state.to_header()
                if state:
                    fresh[TRACESTATE] = state
            elif name == "b3":
                fresh[b3.SINGLE] = b3.render_single(context)
            elif name == "b3multi":
                fresh.update(b3.render_multi(context))
            elif bag:
                fresh[BAGGAGE] = bag.to_header()
        return fresh
