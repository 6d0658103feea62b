"""Differential tests: our propagators against OpenTelemetry's own on the same wire input.

For each format the same header list goes to `Propagators([format])` and to OpenTelemetry's
propagator (TraceContextTextMapPropagator, B3SingleFormat, B3MultiFormat), and both sides must find
the same trace id, span id, trace-flags, sampling decision and tracestate; for the same span context
both must send the same headers.

Where we differ on purpose, the difference is a named predicate over the input in
`DELIBERATE_DIFFERENCES`, with the reason. Inputs it matches are not compared with OpenTelemetry;
instead our result must equal what the spec prescribes (`spec_extract`, `spec_inject`, written from
the specs' text). `test_every_deliberate_difference_is_real` keeps the table honest: each entry has
a witness input on which the two sides really differ and we follow the spec.
"""

from __future__ import annotations

import inspect
import logging
import random
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState as OtelTraceState

from propagation import Propagators, SpanContext, TraceState
from propagation.baggage import EMPTY as NO_BAGGAGE
from propagation.headers import Header
from tests.propagation.strategies import (
    KEYCHARS,
    L1_KEY,
    L2_KEY,
    L2_VALUE,
    LCALPHA_DIGIT,
    NAMES_BY_FORMAT,
    NBLK_CHARS,
    OTHER_NAMES,
    VALUE_CHARS,
    hex_id,
    mutated,
    random_case,
    span_ids,
    spec_headers,
    trace_ids,
)

SETTINGS = settings(max_examples=400, deadline=None)
OWS = " \t"
ZERO_TRACE = "0" * 32
ZERO_SPAN = "0" * 16
# The OpenTelemetry limits the predicates below refer to (opentelemetry.trace.span and
# opentelemetry.trace.propagation.tracecontext).
OTEL_TRACEPARENT_MAX_CHARS = 512
OTEL_TRACESTATE_MAX_CHARS = 8192
# propagation/tracestate.py MAX_INPUT_CHARS: 32 members of the largest size with some whitespace.
# Longer input cannot be a valid list unless padded with empty members; it is refused unread.
OUR_TRACESTATE_MAX_INPUT_CHARS = 32 * (1 + 256 + 1 + 256 + 8)

OTEL = {
    "tracecontext": TraceContextTextMapPropagator(),
    "b3": B3SingleFormat(),
    "b3multi": B3MultiFormat(),
}
OURS = {name: Propagators([name]) for name in OTEL}


class Got(NamedTuple):
    """What one side extracted, in comparable form; ids are lower-case hex text."""

    trace_id: str | None
    span_id: str | None
    flags: int | None
    decision: bool | None  # the sampling decision a parent-based sampler would follow
    trace_state: tuple[tuple[str, str], ...]


NOTHING = Got(None, None, None, None, ())


class Case(NamedTuple):
    """One input: headers to extract from, or a context to inject (then `headers` is empty)."""

    fmt: str
    headers: tuple[Header, ...] = ()
    context: SpanContext | None = None

    def values(self, name: str) -> list[str]:
        raw = name.encode()
        return [value.decode("latin-1") for key, value in self.headers if key.lower() == raw]


# --- the two sides ------------------------------------------------------------------------------


def ours_extract(case: Case) -> Got:
    got = OURS[case.fmt].extract(case.headers)
    parent = got.parent
    if parent is None:
        return NOTHING._replace(decision=got.decision)
    return Got(
        parent.trace_id.decode(),
        parent.span_id.decode(),
        parent.flags,
        got.decision,
        tuple(parent.trace_state),
    )


def otel_extract(case: Case) -> Got:
    carrier: dict[str, list[str]] = {}
    for name, value in case.headers:
        if name.lower() in NAMES_BY_FORMAT[case.fmt]:  # each propagator sees only its own headers
            carrier.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    span = trace.get_current_span(OTEL[case.fmt].extract(carrier)).get_span_context()
    if not span.is_valid:
        return NOTHING
    flags = int(span.trace_flags)
    return Got(
        trace.format_trace_id(span.trace_id),
        trace.format_span_id(span.span_id),
        flags,
        bool(flags & 0x01),
        tuple(span.trace_state.items()),
    )


def ours_inject(case: Case) -> dict[str, str]:
    assert case.context is not None
    out = OURS[case.fmt].inject([], case.context)
    return {name.decode().lower(): value.decode("latin-1") for name, value in out}


def otel_inject(case: Case) -> dict[str, str]:
    context = case.context
    assert context is not None
    span = trace.SpanContext(
        trace_id=int(context.trace_id, 16),
        span_id=int(context.span_id, 16),
        is_remote=False,
        trace_flags=trace.TraceFlags(context.flags),
        trace_state=OtelTraceState(list(context.trace_state)),
    )
    carrier: dict[str, str] = {}
    OTEL[case.fmt].inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(span)))
    return carrier


# --- what the specs say -------------------------------------------------------------------------

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)
_B3_SINGLE = re.compile(r"([0-9a-f]{32}|[0-9a-f]{16})-([0-9a-f]{16})(?:-([01d])(?:-[0-9a-f]{16})?)?")
_B3_TRACE_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{16}")
_B3_SPAN_ID = re.compile(r"[0-9a-f]{16}")


def spec_extract(case: Case) -> Got:
    if case.fmt == "tracecontext":
        return _spec_tracecontext(case)
    if case.fmt == "b3":
        return _spec_b3_single(case)
    return _spec_b3_multi(case)


def _spec_tracecontext(case: Case) -> Got:
    """#traceparent-header, #versioning-of-traceparent; two traceparent headers restart the trace
    (W3C test suite, test_traceparent_duplicated); OWS around the value is not part of it (RFC 9110
    section 5.5; test suite, test_traceparent_ows_handling)."""
    values = case.values("traceparent")
    if len(values) != 1:
        return NOTHING
    match = _TRACEPARENT.fullmatch(values[0].strip(OWS))
    if match is None:
        return NOTHING
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == ZERO_TRACE or span_id == ZERO_SPAN:
        return NOTHING
    bits = int(flags, 16)
    return Got(trace_id, span_id, bits, bool(bits & 0x01), _spec_tracestate(case.values("tracestate")))


def _spec_tracestate(values: list[str]) -> tuple[tuple[str, str], ...]:
    """#tracestate-header-field-values, #list, #key (Level 2), #value, #combined-header-value: any
    invalid member, a repeated key or more than 32 members discards the whole list."""
    combined = ",".join(values)
    if not values or len(combined) > OUR_TRACESTATE_MAX_INPUT_CHARS:
        return ()
    pairs: list[tuple[str, str]] = []
    for member in (part.strip(OWS) for part in combined.split(",")):
        if not member:
            continue
        key, equals, value = member.partition("=")
        if not (equals and L2_KEY.fullmatch(key) and L2_VALUE.fullmatch(value)):
            return ()
        pairs.append((key, value))
    if len(pairs) > 32 or len({key for key, _ in pairs}) != len(pairs):
        return ()
    return tuple(pairs)


def _b3_context(trace_id: str, span_id: str, decision: bool | None) -> Got:
    """B3: 16-hex trace ids are the lower half of a 128-bit one; all-zero ids are no ids."""
    trace_id = trace_id.rjust(32, "0")
    if trace_id == ZERO_TRACE or span_id == ZERO_SPAN:
        return NOTHING
    return Got(trace_id, span_id, 0x01 if decision else 0, decision, ())


def _spec_b3_single(case: Case) -> Got:
    """B3 "Single Header": {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]] or a lone state;
    lower-hex ids; no state means defer. A repeated `b3` is malformed (not a list field)."""
    values = case.values("b3")
    if len(values) != 1:
        return NOTHING
    value = values[0].strip(OWS)
    if value in ("0", "1", "d"):
        return NOTHING._replace(decision=value != "0")
    match = _B3_SINGLE.fullmatch(value)
    if match is None:
        return NOTHING
    trace_id, span_id, state = match.groups()
    return _b3_context(trace_id, span_id, None if state is None else state != "0")


def _spec_b3_multi(case: Case) -> Got:
    """B3 "Multiple Headers": the first value wins; X-B3-Sampled 1/0 (leniently true/false), absent
    or unknown defers; X-B3-Flags: 1 is debug, an accept; TraceId and SpanId both or neither."""

    def first(name: str) -> str | None:
        values = case.values(name)
        return values[0].strip(OWS) if values else None

    sampled = (first("x-b3-sampled") or "").lower()
    decision = (
        True
        if first("x-b3-flags") == "1"
        else {"1": True, "true": True, "0": False, "false": False}.get(sampled)
    )
    trace_id, span_id = first("x-b3-traceid"), first("x-b3-spanid")
    if trace_id is None and span_id is None:
        return NOTHING._replace(decision=decision)
    if trace_id is None or span_id is None:
        return NOTHING
    if not (_B3_TRACE_ID.fullmatch(trace_id) and _B3_SPAN_ID.fullmatch(span_id)):
        return NOTHING
    return _b3_context(trace_id, span_id, decision)


def spec_inject(case: Case) -> dict[str, str]:
    assert case.context is not None
    sent = spec_headers((case.fmt,), case.context, NO_BAGGAGE)
    return {name.decode(): value.decode() for name, value in sent.items()}


# --- the deliberate differences -----------------------------------------------------------------

DELIBERATE_DIFFERENCES: dict[str, str] = {}
_PREDICATES: dict[str, Callable[[Case], bool]] = {}


def deliberate(predicate: Callable[[Case], bool]) -> Callable[[Case], bool]:
    """Register `predicate`: its name is the difference, its docstring the justification."""
    DELIBERATE_DIFFERENCES[predicate.__name__] = inspect.cleandoc(predicate.__doc__ or "")
    _PREDICATES[predicate.__name__] = predicate
    return predicate


def _members(values: list[str]) -> Iterator[str]:
    return (m.strip(OWS) for m in ",".join(values).split(",") if m.strip(OWS))


def _b3_values(case: Case) -> list[str]:
    return [value for name in NAMES_BY_FORMAT[case.fmt] for value in case.values(name.decode())]


@deliberate
def traceparent_repeated(case: Case) -> bool:
    """More than one traceparent header restarts the trace: the value is not a list (RFC 9110
    section 5.3) and the W3C test suite requires it (test_traceparent_duplicated). OpenTelemetry
    uses the first header."""
    return case.fmt == "tracecontext" and len(case.values("traceparent")) > 1


@deliberate
def traceparent_over_512_chars(case: Case) -> bool:
    """A higher version may append fields (#versioning-of-traceparent) and pass-through services
    "should expect that headers may have larger size limits in the future": we parse the first 55
    characters of any length. OpenTelemetry refuses traceparent values over 512 characters."""
    return case.fmt == "tracecontext" and any(
        len(v) > OTEL_TRACEPARENT_MAX_CHARS for v in case.values("traceparent")
    )


@deliberate
def traceparent_line_break(case: Case) -> bool:
    """A line feed is not optional whitespace (RFC 9110 section 5.5): `00-...-01\\n` is 56 characters
    of version 00 and invalid, while a higher version may carry anything after its dash. OpenTelemetry's
    regular expression lets `$` match before a final line feed and `.` stop at one."""
    return case.fmt == "tracecontext" and any("\n" in v for v in case.values("traceparent"))


@deliberate
def tracestate_level2_keys(case: Case) -> bool:
    """Level 2 #key is `(lcalpha / DIGIT) 0*255(keychar)` with `@` a keychar anywhere, so `1vendor`,
    `a@b@c` and `t@1x` are valid. OpenTelemetry still uses Level 1's two key forms and drops the whole
    list on such a key (on extract), or the entry (on inject)."""
    if case.fmt != "tracecontext":
        return False
    if case.context is not None:
        keys = [key for key, _ in case.context.trace_state]
    else:
        keys = [member.partition("=")[0] for member in _members(case.values("tracestate"))]
    return any(L2_KEY.fullmatch(key) and not L1_KEY.fullmatch(key) for key in keys)


@deliberate
def tracestate_over_8192_chars(case: Case) -> bool:
    """#tracestate-limits sets no upper bound and requires truncation by whole entries; a valid list
    can reach 32 * 513 characters. We read it and trim to 512 on the way out; OpenTelemetry drops
    the whole tracestate when the combined header exceeds 8192 characters."""
    values = case.values("tracestate")
    return case.fmt == "tracecontext" and bool(values) and len(",".join(values)) > OTEL_TRACESTATE_MAX_CHARS


@deliberate
def traceparent_unknown_flags(case: Case) -> bool:
    """#other-flags: flags other than sampled (and Level 2's random) "Vendors MUST set those to zero",
    so we send them as zero. OpenTelemetry writes all eight bits it received."""
    context = case.context
    return case.fmt == "tracecontext" and context is not None and bool(context.flags & ~0x03)


@deliberate
def tracestate_trimmed_to_512(case: Case) -> bool:
    """#tracestate-limits: vendors SHOULD propagate at least 512 characters and, when truncating, MUST
    drop whole entries, those over 128 characters first, then from the right. We send at most 512;
    OpenTelemetry sends the list unshortened."""
    context = case.context
    return (
        case.fmt == "tracecontext"
        and context is not None
        and len(",".join(f"{k}={v}" for k, v in context.trace_state)) > 512
    )


@deliberate
def b3_repeated_single_header(case: Case) -> bool:
    """A repeated `b3` header is malformed: the value is not a list (RFC 9110 section 5.3) and the B3
    spec gives no rule for it, so we ignore it as we ignore two traceparent headers. OpenTelemetry
    uses the first. (The B3 "first value wins" rule is stated for the X-B3-* headers only.)"""
    return case.fmt == "b3" and len(case.values("b3")) > 1


@deliberate
def b3_surrounding_whitespace(case: Case) -> bool:
    """Leading and trailing whitespace is not part of a field value (RFC 9110 section 5.5); HTTP
    parsers strip it and so do we. OpenTelemetry's B3 propagators compare the raw value, so `1 `
    is not an accept and ` 463a...` not an id."""
    b3_extract = case.fmt in ("b3", "b3multi") and case.context is None
    return b3_extract and any(v != v.strip(OWS) for v in _b3_values(case))


@deliberate
def b3_upper_case_hex(case: Case) -> bool:
    """B3: TraceId and SpanId are "encoded as 32 or 16 lower-hex characters"; we refuse upper case
    as W3C does (HEXDIGLC). OpenTelemetry accepts `[0-9a-fA-F]`."""
    if case.fmt == "b3":
        ids = [field for v in case.values("b3") for field in v.split("-")[:2]]
    elif case.fmt == "b3multi" and case.context is None:
        ids = case.values("x-b3-traceid") + case.values("x-b3-spanid")
    else:
        return False
    return any(re.search("[A-F]", field) for field in ids)


@deliberate
def b3_decision_without_ids(case: Case) -> bool:
    """B3 sampling state may travel alone (`b3: 0`, `X-B3-Sampled: 0`): "A deny decision may omit
    identifiers". We keep the decision (so the next hop is not sampled); OpenTelemetry has no context
    to hold it and drops it."""
    if case.fmt == "b3":
        return any(v.strip(OWS) in ("0", "1", "d") for v in case.values("b3"))
    if case.fmt == "b3multi" and case.context is None:
        no_ids = not case.values("x-b3-traceid") and not case.values("x-b3-spanid")
        return no_ids and bool(case.values("x-b3-sampled") or case.values("x-b3-flags"))
    return False


@deliberate
def b3_deferred_decision(case: Case) -> bool:
    """B3: no sampling state means "Defer": the receiver decides. We extract no decision (the local
    sampler decides on the trace id). OpenTelemetry turns it into accept (single header) or deny
    (multiple headers)."""
    if case.fmt == "b3":
        return any(v.strip(OWS).count("-") == 1 for v in case.values("b3"))
    if case.fmt == "b3multi" and case.context is None:
        flags = case.values("x-b3-flags")
        return not case.values("x-b3-sampled") and (not flags or flags[0].strip(OWS) != "1")
    return False


@deliberate
def b3_malformed_state_or_parent(case: Case) -> bool:
    """B3 single: the third field is one of `1`, `0`, `d`, and the fourth a 16 lower-hex ParentSpanId;
    anything else makes the value malformed and we ignore it. OpenTelemetry reads any third field (not
    sampled unless 1/true/True/d) and never looks at the fourth. For X-B3-Sampled only 1/0 (and
    leniently true/false, in any case) are defined: we defer on anything else, OpenTelemetry accepts
    `d` and denies the rest (`TRUE` included)."""
    if case.fmt == "b3":
        for value in case.values("b3"):
            fields = value.strip(OWS).split("-")
            if len(fields) >= 3 and fields[2] not in ("0", "1", "d"):
                return True
            if len(fields) == 4 and _B3_SPAN_ID.fullmatch(fields[3]) is None:
                return True
        return False
    if case.fmt == "b3multi" and case.context is None:
        canonical = ("1", "0", "true", "false", "True", "False")
        return any(v.strip(OWS) not in canonical for v in case.values("x-b3-sampled"))
    return False


@deliberate
def b3_short_trace_id(case: Case) -> bool:
    """B3 trace ids are "32 or 16 lower-hex characters". When the upper 64 bits are zero we write 16,
    so a 64-bit-only tracer gets back exactly the id it sent (and a 128-bit one reads the same value);
    OpenTelemetry always writes 32."""
    context = case.context
    return case.fmt in ("b3", "b3multi") and context is not None and context.trace_id.startswith(b"0" * 16)


@deliberate
def b3_debug(case: Case) -> bool:
    """B3 debug is `b3: ...-d` or `X-B3-Flags: 1` without X-B3-Sampled; we carry it from hop to hop.
    OpenTelemetry's SpanContext has no debug bit and writes a plain accept."""
    context = case.context
    return case.fmt in ("b3", "b3multi") and context is not None and context.debug


# --- comparison ---------------------------------------------------------------------------------


def check_extract(case: Case) -> None:
    ours, otel = ours_extract(case), otel_extract(case)
    matched = [name for name, predicate in _PREDICATES.items() if predicate(case)]
    if matched:
        spec = spec_extract(case)
        assert ours == spec, (
            f"{case}\nwhere we differ on purpose ({matched}) the spec says {spec}, we got {ours}"
        )
    else:
        assert ours == otel, f"{case}\nOpenTelemetry extracted {otel}\nwe extracted           {ours}"


def check_inject(case: Case) -> None:
    ours, otel = ours_inject(case), otel_inject(case)
    matched = [name for name, predicate in _PREDICATES.items() if predicate(case)]
    if matched:
        spec = spec_inject(case)
        assert ours == spec, (
            f"{case}\nwhere we differ on purpose ({matched}) the spec says {spec}, we sent {ours}"
        )
    else:
        assert ours == otel, f"{case}\nOpenTelemetry sent {otel}\nwe sent           {ours}"


@pytest.fixture(autouse=True, scope="module")
def _quiet_opentelemetry() -> Iterator[None]:
    """OpenTelemetry logs a warning for every malformed tracestate; thousands are expected here."""
    logger = logging.getLogger("opentelemetry")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


# --- inputs: valid values and their near misses -------------------------------------------------

# All-zero ids (invalid everywhere) one time in five.
zero_or_trace_id = st.sampled_from([True, True, True, True, False]).flatmap(
    lambda valid: trace_ids.map(bytes.decode) if valid else st.just(ZERO_TRACE)
)
zero_or_span_id = st.sampled_from([True, True, True, True, False]).flatmap(
    lambda valid: span_ids.map(bytes.decode) if valid else st.just(ZERO_SPAN)
)
_FUTURE_TAILS = st.one_of(
    st.just(""), st.text(VALUE_CHARS + "\n", max_size=12).map(lambda t: "-" + t), st.just(".x"), st.just("-")
)


@st.composite
def sometimes_mutated(draw: st.DrawFn, value: str) -> str:
    """One value in three is mutated: enough near misses, and enough valid input to compare."""
    return draw(mutated(value)) if draw(st.integers(0, 2)) == 0 else value


long_trace_ids = st.integers(2**64, 2**128 - 1).map(lambda v: hex_id(v, 32))
debug = st.sampled_from([False, False, False, True])


@st.composite
def traceparent_values(draw: st.DrawFn) -> str:
    version = draw(st.sampled_from(["00", "00", "00", "01", "cc", "fe", "ff"]))
    trace_id, span_id = draw(zero_or_trace_id), draw(zero_or_span_id)
    flags = draw(st.integers(0, 255))
    tail = draw(_FUTURE_TAILS) if draw(st.booleans()) else ""
    value = f"{version}-{trace_id}-{span_id}-{flags:02x}{tail}"
    if draw(st.integers(0, 20)) == 0:
        value += "-" + "x" * 600  # past OpenTelemetry's 512-character limit
    return draw(sometimes_mutated(value))


# Keys of all three shapes: Level 1 simple, Level 1 multi-tenant, and anything Level 2 allows.
_KEY_REST = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
tracestate_keys = st.one_of(
    st.builds(
        lambda a, b: a + b, st.sampled_from("abcdefghijklmnopqrstuvwxyz"), st.text(_KEY_REST, max_size=12)
    ),
    st.builds(
        lambda a, b, c, d: f"{a}{b}@{c}{d}",
        st.sampled_from(LCALPHA_DIGIT),
        st.text(_KEY_REST, max_size=8),
        st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
        st.text(_KEY_REST, max_size=13),
    ),
    st.builds(lambda a, b: a + b, st.sampled_from(LCALPHA_DIGIT), st.text(KEYCHARS, max_size=12)),
)
# Level 2-only keys make OpenTelemetry drop the list: mostly Level 1 keys, so there is more to compare.
common_tracestate_keys = st.one_of(
    tracestate_keys.filter(L1_KEY.fullmatch), tracestate_keys.filter(L1_KEY.fullmatch), tracestate_keys
)
tracestate_values = st.builds(
    lambda a, b: a + b, st.text(VALUE_CHARS, max_size=16), st.sampled_from(NBLK_CHARS)
)


def long_tracestate(seed: int) -> str:
    """A valid list over 8192 characters (OpenTelemetry's limit): about 30 entries of ~450."""
    rng = random.Random(seed)
    members = []
    for index in range(rng.randint(20, 32)):
        key = f"k{index}" + "".join(rng.choice(_KEY_REST) for _ in range(rng.randint(150, 200)))
        value = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(200, 255))) + "v"
        members.append(f"{key}={value}")
    return ",".join(members)


@st.composite
def tracestate_values_list(draw: st.DrawFn) -> list[str]:
    values = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 15)) == 0:
            values.append(long_tracestate(draw(st.integers(0, 2**32))))
            continue
        pairs = draw(st.lists(st.tuples(common_tracestate_keys, tracestate_values), max_size=6))
        ows = draw(st.sampled_from(["", " ", "\t ", ""]))
        value = f"{ows},{ows}".join(f"{k}={v}" for k, v in pairs)
        values.append(draw(sometimes_mutated(value)))
    return values


@st.composite
def b3_single_values(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 5)) == 0:
        value = draw(st.sampled_from(["0", "1", "d", "0", "1", "d", "true", "x", ""]))
    else:
        trace_id = draw(zero_or_trace_id)
        if trace_id.startswith("0" * 16) and draw(st.booleans()):
            trace_id = trace_id[16:]
        value = f"{trace_id}-{draw(zero_or_span_id)}"
        state = draw(st.sampled_from([None, "0", "1", "d", "0", "1", "d", None, "true", "x", ""]))
        if state is not None:
            value += "-" + state
            parent = draw(st.sampled_from([None, "span", None, "span", "junk"]))
            if parent == "span":
                value += "-" + draw(span_ids).decode()
            elif parent == "junk":
                value += "-" + draw(st.text("0123456789abcdefXYZ-", max_size=18))
    return draw(sometimes_mutated(value))


_MULTI_CHOICES: dict[str, st.SearchStrategy[str]] = {
    "x-b3-traceid": st.one_of(zero_or_trace_id, zero_or_trace_id.map(lambda t: t[16:])),
    "x-b3-spanid": zero_or_span_id,
    "x-b3-parentspanid": st.one_of(span_ids.map(bytes.decode), st.just("junk")),
    "x-b3-sampled": st.sampled_from(
        ["1", "0", "1", "0", "1", "0", "true", "false", "True", "TRUE", "d", "", "yes"]
    ),
    "x-b3-flags": st.sampled_from(["1", "0", "", "true"]),
}


@st.composite
def b3_multi_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    headers = []
    for name, values in _MULTI_CHOICES.items():
        present = draw(st.integers(0, 9))
        copies = 0 if present < 2 else 2 if present == 9 else 1
        for _ in range(copies):
            value = draw(values)
            headers.append((name, draw(sometimes_mutated(value))))
    return headers


@st.composite
def cases(draw: st.DrawFn, fmt: str) -> Case:
    headers: list[tuple[str, str]] = []
    if fmt == "tracecontext":
        count = draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2]))
        headers += [("traceparent", draw(traceparent_values())) for _ in range(count)]
        headers += [("tracestate", value) for value in draw(tracestate_values_list())]
    elif fmt == "b3":
        count = draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2]))
        headers += [("b3", draw(b3_single_values())) for _ in range(count)]
    else:
        headers += draw(b3_multi_headers())
    headers += [(name.decode(), "x") for name in draw(st.lists(st.sampled_from(OTHER_NAMES), max_size=2))]
    draw(st.randoms(use_true_random=False)).shuffle(headers)
    wire = tuple((draw(random_case(name.encode())), value.encode("latin-1")) for name, value in headers)
    return Case(fmt, wire)


@st.composite
def inject_cases(draw: st.DrawFn, fmt: str) -> Case:
    pairs = draw(st.dictionaries(common_tracestate_keys, tracestate_values, max_size=32))
    if draw(st.integers(0, 6)) == 0:  # long enough to be trimmed
        members = long_tracestate(draw(st.integers(0, 2**32))).split(",")[:8]
        pairs.update(member.partition("=")[::2] for member in members)
    trace_id = draw(st.one_of(long_trace_ids, long_trace_ids, long_trace_ids, trace_ids))
    flags = draw(st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 255)))
    context = SpanContext(
        trace_id, draw(span_ids), flags, TraceState.from_pairs(list(pairs.items())), draw(debug)
    )
    return Case(fmt, context=context)


# --- the tests ----------------------------------------------------------------------------------


@SETTINGS
@given(cases("tracecontext"))
def test_tracecontext_extract_agrees_with_opentelemetry(case: Case) -> None:
    check_extract(case)


@SETTINGS
@given(cases("b3"))
def test_b3_single_extract_agrees_with_opentelemetry(case: Case) -> None:
    check_extract(case)


@SETTINGS
@given(cases("b3multi"))
def test_b3_multi_extract_agrees_with_opentelemetry(case: Case) -> None:
    check_extract(case)


@SETTINGS
@given(st.sampled_from(sorted(OTEL)).flatmap(inject_cases))
def test_inject_agrees_with_opentelemetry(case: Case) -> None:
    check_inject(case)


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
SHORT_TRACE = "0" * 16 + "a3ce929d0e0e4736"


def _extract_case(fmt: str, *headers: tuple[str, str]) -> Case:
    return Case(fmt, tuple((name.encode(), value.encode("latin-1")) for name, value in headers))


def _inject_case(
    fmt: str, trace_id: str = TRACE, flags: int = 1, state: str = "", debug: bool = False
) -> Case:
    pairs = [tuple(member.split("=", 1)) for member in state.split(",") if member]
    trace_state = TraceState.from_pairs([(k, v) for k, v in pairs])
    return Case(fmt, context=SpanContext(trace_id.encode(), SPAN.encode(), flags, trace_state, debug))


# One input per deliberate difference on which the two sides really disagree.
WITNESSES: dict[str, Case] = {
    "traceparent_repeated": _extract_case(
        "tracecontext", ("traceparent", f"00-{TRACE}-{SPAN}-01"), ("traceparent", f"00-{TRACE}-{SPAN}-00")
    ),
    "traceparent_over_512_chars": _extract_case(
        "tracecontext", ("traceparent", f"01-{TRACE}-{SPAN}-01-" + "x" * 500)
    ),
    "traceparent_line_break": _extract_case("tracecontext", ("traceparent", f"00-{TRACE}-{SPAN}-01\n")),
    "tracestate_level2_keys": _extract_case(
        "tracecontext", ("traceparent", f"00-{TRACE}-{SPAN}-01"), ("tracestate", "1vendor=x,a@b@c=y")
    ),
    "tracestate_over_8192_chars": _extract_case(
        "tracecontext", ("traceparent", f"00-{TRACE}-{SPAN}-01"), ("tracestate", long_tracestate(7))
    ),
    "traceparent_unknown_flags": _inject_case("tracecontext", flags=0x09),
    "tracestate_trimmed_to_512": _inject_case(
        "tracecontext", state=",".join(f"k{i}={'v' * 60}" for i in range(10))
    ),
    "b3_repeated_single_header": _extract_case(
        "b3", ("b3", f"{TRACE}-{SPAN}-1"), ("b3", f"{TRACE}-{SPAN}-0")
    ),
    "b3_surrounding_whitespace": _extract_case("b3", ("b3", f"{TRACE}-{SPAN}-1 ")),
    "b3_upper_case_hex": _extract_case("b3multi", ("x-b3-traceid", TRACE.upper()), ("x-b3-spanid", SPAN)),
    "b3_decision_without_ids": _extract_case("b3", ("b3", "0")),
    "b3_deferred_decision": _extract_case("b3", ("b3", f"{TRACE}-{SPAN}")),
    "b3_malformed_state_or_parent": _extract_case("b3", ("b3", f"{TRACE}-{SPAN}-1-notaspanid")),
    "b3_short_trace_id": _inject_case("b3multi", trace_id=SHORT_TRACE),
    "b3_debug": _inject_case("b3", debug=True),
}


def test_every_deliberate_difference_has_a_witness() -> None:
    assert set(WITNESSES) == set(DELIBERATE_DIFFERENCES)
    assert all(DELIBERATE_DIFFERENCES.values()), "every difference needs its justification"


@pytest.mark.parametrize("name", sorted(WITNESSES))
def test_every_deliberate_difference_is_real(name: str) -> None:
    """The predicate matches its witness, OpenTelemetry really answers differently there, and we do
    what the spec says: an entry that no longer differs, or where we are wrong, fails here."""
    case = WITNESSES[name]
    assert _PREDICATES[name](case)
    if case.context is None:
        ours: Any = ours_extract(case)
        otel: Any = otel_extract(case)
        spec: Any = spec_extract(case)
    else:
        ours, otel, spec = ours_inject(case), otel_inject(case), spec_inject(case)
    assert ours != otel, f"{name}: OpenTelemetry now agrees with us ({ours}); drop the entry"
    assert ours == spec, f"{name}: the spec says {spec}, we give {ours}"


def test_b3_multi_repeated_header_first_value_wins() -> None:
    """B3 "Multiple Headers": "When extracting state headers, the first value wins." (OpenTelemetry
    agrees.) A repeated X-B3-TraceId or X-B3-Sampled must not discard the context or the decision."""
    case = _extract_case(
        "b3multi",
        ("x-b3-traceid", TRACE),
        ("x-b3-traceid", TRACE),
        ("x-b3-spanid", SPAN),
        ("x-b3-sampled", "1"),
        ("x-b3-sampled", "0"),
    )
    expected = Got(TRACE, SPAN, 0x01, True, ())
    assert spec_extract(case) == otel_extract(case) == expected
    assert ours_extract(case) == expected, (
        f"propagation.b3.parse_multi treats a repeated X-B3 header as invalid, the B3 spec says the "
        f"first value wins: {case.headers} gave {ours_extract(case)}, expected {expected}"
    )
