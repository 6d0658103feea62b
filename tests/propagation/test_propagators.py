"""The configured formats together: OTEL_PROPAGATORS, precedence, injection, conversion."""

from __future__ import annotations

import pytest

from propagation import ConfigError, Propagators, SpanContext, TraceState, next_context, sampling
from propagation.context import RANDOM, SAMPLED
from propagation.headers import Header

TRACE = b"4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = b"00f067aa0ba902b7"
TRACEPARENT = b"00-" + TRACE + b"-" + SPAN + b"-01"
ALL = Propagators(("tracecontext", "baggage", "b3", "b3multi"))


def names(headers: list[Header]) -> list[bytes]:
    return [name for name, _ in headers]


def test_default_is_tracecontext_and_baggage() -> None:
    """OTEL_PROPAGATORS unset or empty: tracecontext,baggage (OpenTelemetry SDK environment spec)."""
    assert Propagators.from_env({}).formats == ("tracecontext", "baggage")
    assert Propagators.from_env({"OTEL_PROPAGATORS": " "}).formats == ("tracecontext", "baggage")


def test_env_list_is_parsed_in_order_without_duplicates() -> None:
    """OTEL_PROPAGATORS: comma-separated, order kept, repeats ignored."""
    got = Propagators.from_env({"OTEL_PROPAGATORS": "b3multi, tracecontext,B3,b3multi"})
    assert got.formats == ("b3multi", "tracecontext", "b3")


def test_none_disables_propagation() -> None:
    """OTEL_PROPAGATORS=none: nothing extracted, headers passed through untouched."""
    none = Propagators.from_env({"OTEL_PROPAGATORS": "none"})
    headers = [(b"traceparent", TRACEPARENT)]
    assert none.extract(headers).parent is None
    assert none.inject(headers, SpanContext(TRACE, SPAN, SAMPLED)) == headers


@pytest.mark.parametrize("value", ["jaeger", "xray,tracecontext", "none,b3", "tracecontext,bogus"])
def test_unsupported_values_are_a_clear_error(value: str) -> None:
    """A propagator we do not speak is a configuration error naming the variable and value."""
    with pytest.raises(ConfigError, match="OTEL_PROPAGATORS"):
        Propagators.from_env({"OTEL_PROPAGATORS": value})


def test_header_names_in_any_case() -> None:
    """#header-name: vendors must accept the header name in any case."""
    for name in (b"TraceParent", b"TRACEPARENT", b"trAcEpArEnT"):
        parent = Propagators().extract([(name, TRACEPARENT)]).parent
        assert parent is not None
        assert parent.trace_id == TRACE


def test_wrong_header_names_are_ignored() -> None:
    """Conformance suite: trace-parent / trace.parent / trace-state are not the headers."""
    got = Propagators().extract([(b"trace-parent", TRACEPARENT), (b"trace.state", b"foo=1")])
    assert got.parent is None


def test_tracestate_without_valid_traceparent_is_discarded() -> None:
    """#tracestate-header: with no valid traceparent, tracestate is not used (conformance suite)."""
    got = Propagators().extract([(b"traceparent", b"00-bad"), (b"tracestate", b"foo=1")])
    assert got.parent is None


def test_tracestate_is_inherited() -> None:
    """#tracestate-header: a valid traceparent's tracestate travels on with the trace."""
    got = Propagators().extract([(b"traceparent", TRACEPARENT), (b"TraceState", b"foo=1,bar=2")])
    assert got.parent is not None
    assert got.parent.trace_state == TraceState(b"foo=1,bar=2")


def test_inject_replaces_in_place_and_leaves_everything_else() -> None:
    """The proxy changes only the headers it manages: their first position and name case are kept,
    repeats are removed, every other header keeps its order, case and value."""
    headers = [
        (b"Host", b"b"),
        (b"TraceParent", b"stale"),
        (b"X-Other", b"1"),
        (b"traceparent", b"also stale"),
        (b"tracestate", b"old=1"),
        (b"Accept", b"*/*"),
    ]
    context = SpanContext(TRACE, SPAN, SAMPLED, TraceState(b"new=2"))
    out = Propagators().inject(headers, context)
    assert out == [
        (b"Host", b"b"),
        (b"TraceParent", TRACEPARENT),
        (b"X-Other", b"1"),
        (b"tracestate", b"new=2"),
        (b"Accept", b"*/*"),
    ]


def test_inject_removes_stale_headers_of_every_configured_format() -> None:
    """Injection replaces every header of the configured formats, never leaves a stale one."""
    stale = [
        (b"b3", b"stale"),
        (b"X-B3-TraceId", b"stale"),
        (b"X-B3-ParentSpanId", b"stale"),
        (b"X-B3-Flags", b"1"),
        (b"tracestate", b"old=1"),
        (b"baggage", b"old=1"),
    ]
    out = ALL.inject(stale, SpanContext(TRACE, SPAN, SAMPLED))
    assert dict(out) == {
        b"b3": TRACE + b"-" + SPAN + b"-1",
        b"X-B3-TraceId": TRACE,
        b"x-b3-spanid": SPAN,
        b"x-b3-sampled": b"1",
        b"traceparent": TRACEPARENT,
    }


def test_formats_not_configured_are_left_alone() -> None:
    """Headers of formats not in OTEL_PROPAGATORS are not ours to change."""
    headers = [(b"b3", b"whatever"), (b"baggage", b"k=v")]
    out = Propagators(("tracecontext",)).inject(headers, SpanContext(TRACE, SPAN, SAMPLED))
    assert out[:2] == headers


def test_b3_in_w3c_out_keeps_one_trace() -> None:
    """Conversion: a Zipkin (B3) caller and a W3C callee share the trace id across the sidecar."""
    incoming = [(b"X-B3-TraceId", b"64fe8b2a57d3eff7"), (b"X-B3-SpanId", SPAN), (b"X-B3-Sampled", b"1")]
    extracted = Propagators(("b3multi",)).extract(incoming)
    child = next_context(extracted, sampling.from_env({}))
    out = dict(Propagators(("tracecontext",)).inject([], child))
    assert out[b"traceparent"].startswith(b"00-0000000000000000" + b"64fe8b2a57d3eff7" + b"-")
    assert out[b"traceparent"].endswith(b"-01")


def test_w3c_in_b3_out_keeps_one_trace() -> None:
    """Conversion: a W3C caller and a B3 callee share the trace id across the sidecar."""
    extracted = Propagators(("tracecontext",)).extract([(b"traceparent", TRACEPARENT)])
    child = next_context(extracted, sampling.from_env({}))
    b3 = dict(Propagators(("b3",)).inject([], child))[b"b3"]
    assert b3.startswith(TRACE + b"-")
    assert b3.endswith(b"-1")


def test_last_configured_format_wins() -> None:
    """OpenTelemetry composite propagator: formats run in order, the last valid context wins."""
    headers = [(b"traceparent", TRACEPARENT), (b"b3", b"1" * 32 + b"-" + b"2" * 16 + b"-1")]
    w3c_last = Propagators(("b3", "tracecontext")).extract(headers).parent
    b3_last = Propagators(("tracecontext", "b3")).extract(headers).parent
    assert w3c_last is not None
    assert b3_last is not None
    assert (w3c_last.trace_id, b3_last.trace_id) == (TRACE, b"1" * 32)


def test_invalid_later_format_does_not_erase_an_earlier_valid_one() -> None:
    """Composite: a format that finds nothing leaves the earlier result in place."""
    headers = [(b"traceparent", TRACEPARENT), (b"b3", b"garbage")]
    parent = Propagators(("tracecontext", "b3")).extract(headers).parent
    assert parent is not None
    assert parent.trace_id == TRACE


def test_b3_winner_of_the_same_trace_keeps_tracestate() -> None:
    """When B3 wins but names the same trace as traceparent, the W3C tracestate is not lost."""
    headers = [
        (b"traceparent", TRACEPARENT),
        (b"tracestate", b"vendor=1"),
        (b"b3", TRACE + b"-" + b"3" * 16 + b"-1"),
    ]
    parent = Propagators(("tracecontext", "b3")).extract(headers).parent
    assert parent is not None
    assert parent.span_id == b"3" * 16
    assert parent.trace_state.get("vendor") == "1"


def test_b3_deny_without_ids_is_honoured() -> None:
    """`b3: 0`: the upstream asked for no sampling; a new trace starts unsampled."""
    extracted = Propagators(("b3",)).extract([(b"b3", b"0")])
    assert extracted.parent is None
    child = next_context(extracted, sampling.from_env({}))
    assert not child.sampled


def test_hop_is_extract_sample_inject() -> None:
    """hop(): the child keeps the trace, gets a new span id, inherits flags and tracestate."""
    headers = [
        (b"Host", b"b"),
        (b"traceparent", b"00-" + TRACE + b"-" + SPAN + b"-03"),
        (b"tracestate", b"a=1"),
    ]
    extracted, child, out = Propagators().hop(headers, sampling.from_env({}))
    assert extracted.parent is not None
    assert extracted.parent.span_id == SPAN
    assert child.trace_id == TRACE
    assert child.span_id != SPAN
    assert child.flags == SAMPLED | RANDOM
    assert out == [
        (b"Host", b"b"),
        (b"traceparent", b"00-" + TRACE + b"-" + child.span_id + b"-03"),
        (b"tracestate", b"a=1"),
    ]


def test_hop_without_context_starts_a_random_trace() -> None:
    """#random-trace-id-flag: our new trace ids are random, so new traces carry the random flag."""
    _, child, out = Propagators().hop([], sampling.from_env({}))
    assert child.flags == SAMPLED | RANDOM
    assert dict(out)[b"traceparent"] == b"00-%s-%s-03" % (child.trace_id, child.span_id)


def test_baggage_travels_through_a_hop() -> None:
    """W3C Baggage: members are passed on to the next hop."""
    _, _, out = Propagators().hop([(b"Baggage", b"user=alice;p=1, tier=gold")], sampling.from_env({}))
    assert (b"Baggage", b"user=alice;p=1,tier=gold") in out


ORPHAN_PARENT = SpanContext(b"0af7651916cd43dd8448eb211c80319c", b"b7ad6b7169203331", SAMPLED | RANDOM)


def test_hop_takes_the_orphan_parent_only_for_a_request_without_context() -> None:
    """--infer-context: the caller's guess at a parent (the one inbound request in flight)."""
    propagators, sampler = Propagators(("tracecontext", "b3")), sampling.ParentBased(sampling.AlwaysOff())
    extracted, context, headers = propagators.hop([(b"host", b"b")], sampler, ORPHAN_PARENT)
    assert (extracted.parent, extracted.inferred) == (ORPHAN_PARENT, True)
    assert context.trace_id == ORPHAN_PARENT.trace_id and context.sampled  # its sampling decision too
    assert dict(headers)[b"traceparent"].split(b"-")[1] == ORPHAN_PARENT.trace_id
    # A context, or a bare sampling decision, that the request brings wins over any guess.
    own, _, _ = propagators.hop([(b"traceparent", TRACEPARENT)], sampler, ORPHAN_PARENT)
    assert own.parent is not None and own.parent.trace_id == TRACE and not own.inferred
    denied, context, _ = propagators.hop([(b"b3", b"0")], sampler, ORPHAN_PARENT)
    assert (denied.parent, denied.inferred, context.sampled) == (None, False, False)
