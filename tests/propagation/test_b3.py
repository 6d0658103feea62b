"""B3 propagation (github.com/openzipkin/b3-propagation): single `b3` header and multi `X-B3-*`."""

from __future__ import annotations

import pytest

from propagation import b3
from propagation.context import SAMPLED, Extracted, SpanContext

TRACE = b"80f198ee56343ba864fe8b2a57d3eff7"
SPAN = b"e457b5a2e4d86bd1"
PARENT = b"05e3ac9a4f6e3b90"


def single(value: bytes) -> tuple[bytes | None, bytes | None, bool | None, bool]:
    return fields(b3.parse_single([value]))


def multi(**headers: bytes) -> tuple[bytes | None, bytes | None, bool | None, bool]:
    names = {"trace": b3.TRACE_ID, "span": b3.SPAN_ID, "sampled": b3.SAMPLED_HEADER, "flags": b3.FLAGS}
    return fields(b3.parse_multi({names[key]: [value] for key, value in headers.items()}))


def fields(got: Extracted) -> tuple[bytes | None, bytes | None, bool | None, bool]:
    if got.parent is None:
        return (None, None, got.decision, got.debug)
    return (got.parent.trace_id, got.parent.span_id, got.decision, got.debug)


def test_single_full_form() -> None:
    """b3: {TraceId}-{SpanId}-{SamplingState}-{ParentSpanId}."""
    assert single(TRACE + b"-" + SPAN + b"-1-" + PARENT) == (TRACE, SPAN, True, False)


def test_single_without_sampling_state_defers_the_decision() -> None:
    """b3: ids alone mean the receiver decides (sampling state absent: deferred)."""
    assert single(TRACE + b"-" + SPAN) == (TRACE, SPAN, None, False)


@pytest.mark.parametrize(("state", "decision"), [(b"1", True), (b"0", False)])
def test_single_sampling_state(state: bytes, decision: bool) -> None:
    """b3: SamplingState 1 accepts, 0 denies."""
    assert single(TRACE + b"-" + SPAN + b"-" + state) == (TRACE, SPAN, decision, False)


def test_single_debug_implies_accept() -> None:
    """b3: `d` is debug, which implies an accept decision."""
    assert single(TRACE + b"-" + SPAN + b"-d") == (TRACE, SPAN, True, True)


@pytest.mark.parametrize(
    ("value", "decision", "debug"), [(b"0", False, False), (b"1", True, False), (b"d", True, True)]
)
def test_single_sampling_only(value: bytes, decision: bool, debug: bool) -> None:
    """b3: a lone sampling state (`b3: 0` deny) carries a decision without ids."""
    assert single(value) == (None, None, decision, debug)


def test_64_bit_trace_id_is_zero_extended() -> None:
    """TraceId: 64 or 128-bit; a 64-bit id is the lower half of a 128-bit one."""
    assert single(b"64fe8b2a57d3eff7-" + SPAN + b"-1")[0] == b"0" * 16 + b"64fe8b2a57d3eff7"


@pytest.mark.parametrize(
    "value",
    [
        TRACE.upper() + b"-" + SPAN + b"-1",  # ids are lower-hex
        TRACE + b"-" + SPAN + b"-2",  # unknown sampling state
        TRACE[:-1] + b"-" + SPAN,  # 31 hex
        TRACE + b"-" + SPAN[:-1],  # 15 hex
        b"0" * 32 + b"-" + SPAN + b"-1",  # zero trace id
        TRACE + b"-" + b"0" * 16 + b"-1",  # zero span id
        TRACE + b"-" + SPAN + b"-1-" + PARENT[:-1],
        TRACE + b"-" + SPAN + b"-1-" + PARENT + b"-x",
        b"",
        b"true",
    ],
)
def test_single_malformed(value: bytes) -> None:
    """b3: anything outside the grammar is no context and no decision."""
    assert single(value) == (None, None, None, False)


def test_single_repeated_header_is_invalid() -> None:
    """A singleton header sent twice is as bad as a malformed one."""
    assert b3.parse_single([TRACE + b"-" + SPAN + b"-1"] * 2).parent is None


def test_multi_headers() -> None:
    """X-B3-TraceId, X-B3-SpanId, X-B3-Sampled."""
    assert multi(trace=TRACE, span=SPAN, sampled=b"1") == (TRACE, SPAN, True, False)
    assert multi(trace=TRACE, span=SPAN, sampled=b"0") == (TRACE, SPAN, False, False)
    assert multi(trace=TRACE, span=SPAN) == (TRACE, SPAN, None, False)


@pytest.mark.parametrize(("value", "decision"), [(b"true", True), (b"false", False), (b"True", True)])
def test_multi_legacy_true_false(value: bytes, decision: bool) -> None:
    """X-B3-Sampled: tracers older than the spec sent true/false; accept them."""
    assert multi(trace=TRACE, span=SPAN, sampled=value)[2] is decision


def test_multi_debug_flag() -> None:
    """X-B3-Flags: 1 is debug, which implies accept."""
    assert multi(trace=TRACE, span=SPAN, flags=b"1") == (TRACE, SPAN, True, True)
    assert multi(flags=b"1") == (None, None, True, True)
    assert multi(sampled=b"0") == (None, None, False, False)


def test_multi_needs_both_ids() -> None:
    """X-B3-TraceId and X-B3-SpanId come together; one alone is no context."""
    assert multi(trace=TRACE, sampled=b"1") == (None, None, None, False)
    assert multi(span=SPAN) == (None, None, None, False)
    assert multi(trace=TRACE, span=b"xyz") == (None, None, None, False)


def test_render_single_and_multi() -> None:
    """Outgoing B3 carries the sampling state; debug is `d` / X-B3-Flags: 1 without X-B3-Sampled."""
    context = SpanContext(TRACE, SPAN, SAMPLED)
    assert b3.render_single(context) == TRACE + b"-" + SPAN + b"-1"
    assert b3.render_multi(context) == [(b3.TRACE_ID, TRACE), (b3.SPAN_ID, SPAN), (b3.SAMPLED_HEADER, b"1")]
    debug = SpanContext(TRACE, SPAN, SAMPLED, debug=True)
    assert b3.render_single(debug).endswith(b"-d")
    assert (b3.FLAGS, b"1") in b3.render_multi(debug)
    assert b3.SAMPLED_HEADER not in dict(b3.render_multi(debug))
    assert b3.render_single(SpanContext(TRACE, SPAN, 0)).endswith(b"-0")


def test_render_keeps_64_bit_trace_ids_short() -> None:
    """TraceId: a trace that came in as 64 bits goes back as 64 bits, for tracers that know no other."""
    context = SpanContext(b"0" * 16 + b"64fe8b2a57d3eff7", SPAN, SAMPLED)
    assert b3.render_single(context).startswith(b"64fe8b2a57d3eff7-")
