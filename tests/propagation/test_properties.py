"""Property tests: round trips, totality on arbitrary bytes, output always within the specs' limits."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from propagation import (
    Baggage,
    Extracted,
    Propagators,
    SpanContext,
    TraceState,
    b3,
    baggage,
    sampling,
    traceparent,
    tracestate,
)
from propagation.context import SAMPLED
from propagation.headers import Header
from propagation.tracestate import EMPTY
from tests.propagation.strategies import (
    BAGGAGE_MAX_BYTES,
    BAGGAGE_MAX_MEMBERS,
    FORMATS,
    NAMES_BY_FORMAT,
    TRACESTATE_MAX_CHARS,
    baggage_members,
    baggages,
    header_values,
    is_valid_tracestate_header,
    mutated,
    pairs_header,
    request_headers,
    short_trace_id,
    short_tracestate_pairs,
    span_contexts,
    span_ids,
    spec_headers,
    trace_ids,
    tracestate_keys,
    tracestate_pairs,
    tracestate_values,
    trimmed,
)

SETTINGS = settings(max_examples=200, deadline=None)

# Every ordered selection of the formats, from none to all four: 65 configurations.
COMBINATIONS = [combo for size in range(len(FORMATS) + 1) for combo in itertools.permutations(FORMATS, size)]
SAMPLER_ENVS = [
    {},
    {"OTEL_TRACES_SAMPLER": "always_off"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
    {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
    {"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
]
samplers = st.sampled_from(SAMPLER_ENVS).map(sampling.from_env)
format_selections = st.sampled_from(COMBINATIONS)
contexts_with_state = span_contexts(
    trace_states=st.one_of(short_tracestate_pairs(), tracestate_pairs()), debug=st.booleans()
)
# Tracestate header values: valid (short and long) lists, mutated ones, arbitrary bytes.
tracestate_header_values = st.one_of(
    short_tracestate_pairs().map(pairs_header),
    tracestate_pairs().map(pairs_header),
    short_tracestate_pairs().map(lambda p: pairs_header(p).decode()).flatmap(mutated).map(str.encode),
    st.binary(max_size=200),
)


def fields(extracted: Extracted) -> tuple[SpanContext | None, bool | None, Baggage | None, bool]:
    return extracted.parent, extracted.decision, extracted.baggage, extracted.debug


# --- round trips ----------------------------------------------------------------------------------


@SETTINGS
@given(span_contexts())
def test_traceparent_round_trip(context: SpanContext) -> None:
    assert traceparent.parse([traceparent.render(context)]) == context


@SETTINGS
@given(trace_ids, span_ids, st.integers(0, 255))
def test_traceparent_render_sends_unknown_flags_as_zero(trace_id: bytes, span_id: bytes, flags: int) -> None:
    """#other-flags: bits other than sampled and random are sent as zero; the ids survive."""
    parsed = traceparent.parse([traceparent.render(SpanContext(trace_id, span_id, flags))])
    assert parsed == SpanContext(trace_id, span_id, flags & 0x03)


@SETTINGS
@given(st.one_of(short_tracestate_pairs(), tracestate_pairs()))
def test_tracestate_round_trip(pairs: list[tuple[str, str]]) -> None:
    state = TraceState.from_pairs(pairs)
    assert list(state) == pairs
    parsed = tracestate.parse([state.to_header()])
    if len(pairs_header(pairs)) <= TRACESTATE_MAX_CHARS:
        assert parsed == state
        assert list(parsed) == pairs
    else:  # #tracestate-limits: what goes out is the list trimmed by whole entries
        assert list(parsed) == trimmed(pairs)


@SETTINGS
@given(baggages)
def test_baggage_round_trip(bag: Baggage) -> None:
    parsed = baggage.parse([bag.to_header()])
    assert parsed == bag
    assert list(parsed) == list(bag)


@SETTINGS
@given(span_contexts(debug=st.booleans()))
def test_b3_single_round_trip(context: SpanContext) -> None:
    written = b3.render_single(context)
    assert written.split(b"-")[0] == short_trace_id(context.trace_id)
    got = b3.parse_single([written])
    decision = context.sampled or context.debug
    expected = SpanContext(context.trace_id, context.span_id, SAMPLED if decision else 0, debug=context.debug)
    assert (got.parent, got.decision, got.debug) == (expected, decision, context.debug)


@SETTINGS
@given(span_contexts(debug=st.booleans()))
def test_b3_multi_round_trip(context: SpanContext) -> None:
    written = dict(b3.render_multi(context))
    assert len(written) == 3
    assert written[b"x-b3-traceid"] == short_trace_id(context.trace_id)
    got = b3.parse_multi({name: [value] for name, value in written.items()})
    decision = context.sampled or context.debug
    expected = SpanContext(context.trace_id, context.span_id, SAMPLED if decision else 0, debug=context.debug)
    assert (got.parent, got.decision, got.debug) == (expected, decision, context.debug)


def expected_extraction(combo: tuple[str, ...], context: SpanContext, bag: Baggage) -> Extracted:
    """What a receiver configured like the sender gets back (the composite rule: the last configured
    context format wins; B3 carries no random flag and no tracestate, W3C no debug flag)."""
    state = TraceState.from_pairs(trimmed(list(context.trace_state)))
    bag_back = bag if "baggage" in combo else None
    context_formats = [name for name in combo if name != "baggage"]
    if not context_formats:
        return Extracted(None, None, bag_back)
    if context_formats[-1] == "tracecontext":
        parent = SpanContext(context.trace_id, context.span_id, context.flags & 0x03, state)
        return Extracted(parent, context.sampled, bag_back)
    decision = context.sampled or context.debug
    kept_state = state if "tracecontext" in combo else EMPTY
    flags = SAMPLED if decision else 0
    parent = SpanContext(context.trace_id, context.span_id, flags, kept_state, context.debug)
    return Extracted(parent, decision, bag_back, context.debug)


@SETTINGS
@given(contexts_with_state, baggages, request_headers())
def test_extract_inject_round_trip_for_every_format_combination(
    context: SpanContext, bag: Baggage, stale: list[Header]
) -> None:
    """Whatever stale headers the request carried, the next hop extracts what we injected."""
    for combo in COMBINATIONS:
        propagators = Propagators(combo)
        got = propagators.extract(propagators.inject(stale, context, bag))
        assert fields(got) == fields(expected_extraction(combo, context, bag)), combo


# --- totality: nothing raises -------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=200), header_values), max_size=4))
def test_parsers_never_raise_on_arbitrary_bytes(values: list[bytes]) -> None:
    traceparent.parse(values)
    state = tracestate.parse(values)
    assert len(list(state)) == len(state)
    state.to_header()
    bag = baggage.parse(values)
    list(bag)
    bag.to_header()
    b3.parse_single(values)
    b3.parse_multi(dict.fromkeys(NAMES_BY_FORMAT["b3multi"], values))
    b3.parse_multi({b"x-b3-sampled": values, b"x-b3-flags": values})


@SETTINGS
@given(request_headers(), format_selections, contexts_with_state, samplers)
def test_propagators_never_raise_on_arbitrary_header_lists(
    headers: list[Header], combo: tuple[str, ...], context: SpanContext, sampler: sampling.Sampler
) -> None:
    propagators = Propagators(combo)
    extracted = propagators.extract(headers)
    propagators.inject(headers, context, extracted.baggage)
    hopped, child, out = propagators.hop(headers, sampler)
    # hop is extract, next_context and inject in one pass: it must agree with the three
    assert fields(hopped) == fields(extracted)
    assert out == propagators.inject(headers, child, extracted.baggage)
    if extracted.parent is not None:
        assert child.trace_id == extracted.parent.trace_id
        assert child.trace_state == extracted.parent.trace_state


# --- outputs stay within the specs -------------------------------------------------------------


@SETTINGS
@given(st.lists(tracestate_header_values, max_size=4))
def test_tracestate_output_is_always_valid_and_short(values: list[bytes]) -> None:
    state = tracestate.parse(values)
    header = state.to_header()
    assert is_valid_tracestate_header(header), header
    assert len(header) <= TRACESTATE_MAX_CHARS
    # trimming drops whole entries and keeps the order of the rest
    members = list(state)
    kept = list(tracestate.parse([header]))
    assert kept == [pair for pair in members if pair in kept]


@SETTINGS
@given(
    st.lists(tracestate_header_values, max_size=2),
    st.lists(st.tuples(st.booleans(), tracestate_keys, tracestate_values), max_size=40),
)
def test_with_entry_chains_stay_valid_and_short(
    values: list[bytes], edits: list[tuple[bool, str, str]]
) -> None:
    """#mutating-the-tracestate-field: the updated key moves to the left, the rest keep their order,
    never more than 32 members; whatever the edits, the header stays valid and within 512."""
    state = tracestate.parse(values)
    for add, key, value in edits:
        before = list(state)
        if add:
            state = state.with_entry(key, value)
            assert list(state) == ([(key, value)] + [p for p in before if p[0] != key])[:32]
        else:
            state = state.without(key)
            assert list(state) == [p for p in before if p[0] != key]
        header = state.to_header()
        assert is_valid_tracestate_header(header), header
        assert len(header) <= TRACESTATE_MAX_CHARS


@SETTINGS
@given(
    st.dictionaries(tracestate_keys, tracestate_values, min_size=32, max_size=32),
    tracestate_keys,
    tracestate_values,
)
def test_with_entry_on_a_full_list_drops_the_rightmost(full: dict[str, str], key: str, value: str) -> None:
    """#mutating-the-tracestate-field with 32 members: a new key goes left, the rightmost member goes."""
    pairs = list(full.items())
    state = TraceState.from_pairs(pairs).with_entry(key, value)
    rest = [pair for pair in pairs if pair[0] != key]
    assert list(state) == [(key, value), *rest][:32]
    assert len(state) == 32


@SETTINGS
@given(st.lists(baggage_members, min_size=1, max_size=64))
def test_baggage_exactly_at_the_limits_is_kept_whole(members: list[bytes]) -> None:
    """W3C Baggage #limits: 64 members and 8192 bytes are allowed; one member more is dropped."""
    if len(b",".join(members)) > BAGGAGE_MAX_BYTES:
        members = members[:1]
    if len(members) < BAGGAGE_MAX_MEMBERS:  # pad to exactly 8192 bytes with one more member
        members.append(b"k=" + b"x" * (BAGGAGE_MAX_BYTES - len(b",".join(members)) - 3))
    assert len(b",".join(members)) == BAGGAGE_MAX_BYTES or len(members) == BAGGAGE_MAX_MEMBERS
    assert baggage.parse([b",".join(members)]) == Baggage(tuple(members))
    assert baggage.parse([b",".join(members), b"z=1"]) == Baggage(tuple(members))


baggage_header_values = st.one_of(
    st.lists(baggage_members, max_size=120).map(b",".join),
    st.lists(baggage_members, max_size=8)
    .map(lambda members: b",".join(members).decode())
    .flatmap(mutated)
    .map(str.encode),
    st.binary(max_size=300),
)


@SETTINGS
@given(st.lists(baggage_header_values, max_size=4))
def test_baggage_output_within_limits(values: list[bytes]) -> None:
    """W3C Baggage #limits: at most 64 members and 8192 bytes go out, members dropped whole."""
    bag = baggage.parse(values)
    header = bag.to_header()
    assert len(bag) <= BAGGAGE_MAX_MEMBERS
    assert len(header) <= BAGGAGE_MAX_BYTES
    assert baggage.parse([header]) == bag
    received = [m.strip(b" \t") for value in values for m in value.split(b",")]
    assert all(member in received for member in (header.split(b",") if header else []))


# --- inject rewrites only what it owns ----------------------------------------------------------


@SETTINGS
@given(request_headers(), format_selections, contexts_with_state, baggages)
def test_inject_keeps_other_headers_and_replaces_every_managed_one(
    headers: list[Header], combo: tuple[str, ...], context: SpanContext, bag: Baggage
) -> None:
    owned = {name for fmt in combo for name in NAMES_BY_FORMAT[fmt]}
    out = Propagators(combo).inject(headers, context, bag)

    def is_owned(header: Header) -> bool:
        return header[0].lower() in owned

    # everything else: same headers, same order, same bytes and case
    assert [h for h in out if not is_owned(h)] == [h for h in headers if not is_owned(h)]
    # the managed ones: exactly the fresh set, each name once, no stale value left
    sent = [(name.lower(), value) for name, value in out if is_owned((name, value))]
    assert len({name for name, _ in sent}) == len(sent), sent
    assert dict(sent) == spec_headers(combo, context, bag)
    # a fresh header takes the place and the spelling of the first header of its name
    for index, (name, _) in enumerate(out):
        if not is_owned((name, b"")):
            continue
        others_before = sum(not is_owned(h) for h in out[:index])
        first = next((i for i, h in enumerate(headers) if h[0].lower() == name.lower()), None)
        if first is None:
            assert name == name.lower()
            assert others_before == sum(not is_owned(h) for h in headers)
        else:
            assert name == headers[first][0]
            assert others_before == sum(not is_owned(h) for h in headers[:first])
