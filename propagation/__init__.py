"""Trace-context propagation for the sidecar: pure, dependency-free, on wire bytes.

Typical use on every proxied request:

    propagators = Propagators.from_env(os.environ)
    sampler = sampling.from_env(os.environ)
    extracted = propagators.extract(headers)          # never raises on any input
    context = next_context(extracted, sampler)        # this hop's span
    headers = propagators.inject(headers, context, extracted.baggage)
"""

from __future__ import annotations

from propagation.baggage import Baggage
from propagation.context import RANDOM, SAMPLED, Extracted, SpanContext
from propagation.errors import ConfigError
from propagation.headers import Header, Headers
from propagation.ids import new_span_id, new_trace_id
from propagation.propagators import Propagators
from propagation.sampling import Sampler, next_context
from propagation.tracestate import TraceState

__all__ = [
    "RANDOM",
    "SAMPLED",
    "Baggage",
    "ConfigError",
    "Extracted",
    "Header",
    "Headers",
    "Propagators",
    "Sampler",
    "SpanContext",
    "TraceState",
    "new_span_id",
    "new_trace_id",
    "next_context",
]
