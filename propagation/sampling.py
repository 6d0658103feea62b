"""Head sampling per the OpenTelemetry SDK environment variables, and the next hop's span context.

`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` as in the OpenTelemetry SDK configuration spec.
The ratio sampler looks only at the trace id, with the same rule as the OpenTelemetry SDKs (lower 64
bits below ratio * 2**64), so every sidecar and every SDK-instrumented service agrees on a trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from propagation.context import RANDOM, SAMPLED, Extracted, SpanContext
from propagation.errors import ConfigError
from propagation.ids import new_span_id, new_trace_id
from propagation.tracestate import EMPTY

DEFAULT_SAMPLER = "parentbased_always_on"


class Sampler:
    """Decides whether the span about to start is recorded and exported.

    `decision` is the upstream's explicit sampling decision, None when it made none.
    """

    name = "sampler"

    def should_sample(self, trace_id: bytes, decision: bool | None) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class AlwaysOn(Sampler):
    name = "always_on"

    def should_sample(self, trace_id: bytes, decision: bool | None) -> bool:
        return True


class AlwaysOff(Sampler):
    name = "always_off"

    def should_sample(self, trace_id: bytes, decision: bool | None) -> bool:
        return False


class TraceIdRatio(Sampler):
    def __init__(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"sampling ratio must be within [0, 1], got {ratio}")
        self.ratio = ratio
        self.bound = round(ratio * (1 << 64))
        self.name = f"traceidratio({ratio})"

    def should_sample(self, trace_id: bytes, decision: bool | None) -> bool:
        return int(trace_id[16:], 16) < self.bound


class ParentBased(Sampler):
    """Follow the upstream's decision when it made one; ask `root` otherwise.

    B3 can defer the decision (ids without a sampling state): then the root sampler decides, on the
    upstream's trace id, as the B3 spec asks of the receiver.
    """

    def __init__(self, root: Sampler) -> None:
        self.root = root
        self.name = f"parentbased_{root.name}"

    def should_sample(self, trace_id: bytes, decision: bool | None) -> bool:
        if decision is not None:
            return decision
        return self.root.should_sample(trace_id, decision)


def next_context(extracted: Extracted, sampler: Sampler) -> SpanContext:
    """The span context of the span this hop records, child of the extracted parent if any."""
    parent = extracted.parent
    if parent is None:
        # Our trace ids are fully random, so the Level 2 random flag holds for new traces.
        trace_id, flags, trace_state = new_trace_id(), RANDOM, EMPTY
    else:
        trace_id, flags, trace_state = parent.trace_id, parent.flags & RANDOM, parent.trace_state
    if sampler.should_sample(trace_id, extracted.decision):
        flags |= SAMPLED
    return SpanContext(trace_id, new_span_id(), flags, trace_state, extracted.debug)


def from_env(environ: Mapping[str, str]) -> Sampler:
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    arg = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    base = name.removeprefix("parentbased_")
    if base == "always_on":
        root: Sampler = AlwaysOn()
    elif base == "always_off":
        root = AlwaysOff()
    elif base == "traceidratio":
        root = TraceIdRatio(_ratio(arg))
    else:
        raise ConfigError(
            f"OTEL_TRACES_SAMPLER={name!r} is not supported; use always_on, always_off, "
            "traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
        )
    return ParentBased(root) if name.startswith("parentbased_") else root


def _ratio(arg: str) -> float:
    if not arg:
        return 1.0  # the SDK configuration spec's default for the ratio samplers
    try:
        ratio = float(arg)
    except ValueError:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a number in [0, 1]") from None
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is outside [0, 1]")
    return ratio
