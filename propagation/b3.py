"""B3 propagation, single header (`b3`) and multi-header (`X-B3-*`): github.com/openzipkin/b3-propagation.

Ids are lower-case hex; trace ids may be 64-bit (16 hex) and are zero-extended to 128 bits, so a
64-bit Zipkin trace and its W3C continuation share one trace id. On the way out a trace id whose
upper half is zero is written in 16 hex digits: a 64-bit-only tracer gets back exactly what it sent,
and a 128-bit one reads the same value either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from propagation.context import SAMPLED, Extracted, SpanContext
from propagation.headers import OWS, Header
from propagation.ids import ZERO_SPAN_ID, ZERO_TRACE_ID

_ZERO_HALF = b"0" * 16

SINGLE = b"b3"
TRACE_ID = b"x-b3-traceid"
SPAN_ID = b"x-b3-spanid"
PARENT_SPAN_ID = b"x-b3-parentspanid"
SAMPLED_HEADER = b"x-b3-sampled"
FLAGS = b"x-b3-flags"
MULTI = (TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SAMPLED_HEADER, FLAGS)

_TRACE = rb"([0-9a-f]{32}|[0-9a-f]{16})"
_SPAN = rb"([0-9a-f]{16})"
# b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]], or a lone {SamplingState}.
_SINGLE = re.compile(_TRACE + b"-" + _SPAN + rb"(?:-([01d])(?:-[0-9a-f]{16})?)?")
_TRACE_ONLY = re.compile(_TRACE)
_SPAN_ONLY = re.compile(_SPAN)
_DECISIONS = {b"1": True, b"d": True, b"0": False}
# X-B3-Sampled is "1"/"0"; tracers older than the spec sent "true"/"false".
_MULTI_DECISIONS = {b"1": True, b"true": True, b"0": False, b"false": False}

NONE = Extracted()


def parse_single(values: Sequence[bytes]) -> Extracted:
    if len(values) != 1:
        return NONE
    value = values[0].strip(OWS)
    decision = _DECISIONS.get(value)
    if decision is not None:
        return Extracted(decision=decision, debug=value == b"d")
    match = _SINGLE.fullmatch(value)
    if match is None:
        return NONE
    trace_hex, span_hex, state = match.groups()
    debug = state == b"d"
    decision = None if state is None else _DECISIONS[state]
    return _extracted(trace_hex, span_hex, decision, debug)


def parse_multi(found: Mapping[bytes, Sequence[bytes]]) -> Extracted:
    """`found` maps the lower-case X-B3 names present to their values."""
    debug = _first_value(found, FLAGS) == b"1"
    sampled = _first_value(found, SAMPLED_HEADER)
    decision = True if debug else _MULTI_DECISIONS.get((sampled or b"").lower())
    trace_hex = _first_value(found, TRACE_ID)
    span_hex = _first_value(found, SPAN_ID)
    if trace_hex is None and span_hex is None:
        return NONE if decision is None else Extracted(decision=decision, debug=debug)
    if trace_hex is None or span_hex is None:
        return NONE
    if not (_TRACE_ONLY.fullmatch(trace_hex) and _SPAN_ONLY.fullmatch(span_hex)):
        return NONE
    return _extracted(trace_hex, span_hex, decision, debug)


def render_single(context: SpanContext) -> bytes:
    return b"%s-%s-%s" % (_short_trace_id(context.trace_id), context.span_id, _state(context))


def render_multi(context: SpanContext) -> list[Header]:
    headers = [(TRACE_ID, _short_trace_id(context.trace_id)), (SPAN_ID, context.span_id)]
    # The spec: debug implies an accept decision, so X-B3-Sampled is not sent beside X-B3-Flags.
    if context.debug:
        headers.append((FLAGS, b"1"))
    else:
        headers.append((SAMPLED_HEADER, b"1" if context.sampled else b"0"))
    return headers


def _extracted(trace_hex: bytes, span_hex: bytes, decision: bool | None, debug: bool) -> Extracted:
    trace_id = trace_hex.rjust(32, b"0")
    if trace_id == ZERO_TRACE_ID or span_hex == ZERO_SPAN_ID:
        return NONE
    flags = SAMPLED if decision else 0
    return Extracted(SpanContext(trace_id, span_hex, flags, debug=debug), decision, debug=debug)


def _first_value(found: Mapping[bytes, Sequence[bytes]], name: bytes) -> bytes | None:
    """B3 "Multiple Headers": when extracting state headers, the first value wins."""
    values = found.get(name, ())
    return values[0].strip(OWS) if values else None


def _short_trace_id(trace_id: bytes) -> bytes:
    return trace_id[16:] if trace_id[:16] == _ZERO_HALF else trace_id


def _state(context: SpanContext) -> bytes:
    if context.debug:
        return b"d"
    return b"1" if context.sampled else b"0"
