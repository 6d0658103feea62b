"""Hypothesis strategies and spec-grammar checks shared by the property and differential tests.

The grammars here are written from the specs (W3C Trace Context Level 2 #key, #value, #list; W3C
Baggage #header-content; B3 README), not copied from `propagation`, so a test that uses them checks
the package against the spec rather than against itself.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

from propagation import SpanContext, TraceState
from propagation.baggage import Baggage
from propagation.context import RANDOM, SAMPLED
from propagation.headers import Header

HEX = "0123456789abcdef"

# W3C Trace Context Level 2 #key and #value.
LCALPHA_DIGIT = "abcdefghijklmnopqrstuvwxyz0123456789"
KEYCHARS = LCALPHA_DIGIT + "_-*/@"
NBLK_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ",=")
VALUE_CHARS = " " + NBLK_CHARS
L2_KEY = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")
L2_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
# W3C Trace Context Level 1 #key: what OpenTelemetry (and Level 1 implementations) accept.
L1_KEY = re.compile(r"[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}")
TRACESTATE_MAX_MEMBERS = 32
TRACESTATE_MAX_CHARS = 512

# W3C Baggage #header-content: key is an RFC 9110 token, value is baggage-octets.
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BAGGAGE_OCTETS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\')
BAGGAGE_MAX_MEMBERS = 64
BAGGAGE_MAX_BYTES = 8192

MANAGED_NAMES = (
    b"traceparent",
    b"tracestate",
    b"baggage",
    b"b3",
    b"x-b3-traceid",
    b"x-b3-spanid",
    b"x-b3-parentspanid",
    b"x-b3-sampled",
    b"x-b3-flags",
)
OTHER_NAMES = (b"host", b"content-type", b"x-request-id", b"trace-parent", b"b3-x", b"x-b3", b"cookie")
FORMATS = ("tracecontext", "baggage", "b3", "b3multi")
# The headers each format owns (W3C Trace Context #traceparent-header, #tracestate-header; W3C Baggage;
# B3 README "Single Header", "Multiple Headers").
NAMES_BY_FORMAT: dict[str, tuple[bytes, ...]] = {
    "tracecontext": (b"traceparent", b"tracestate"),
    "baggage": (b"baggage",),
    "b3": (b"b3",),
    "b3multi": (b"x-b3-traceid", b"x-b3-spanid", b"x-b3-parentspanid", b"x-b3-sampled", b"x-b3-flags"),
}


def hex_id(value: int, digits: int) -> bytes:
    return b"%0*x" % (digits, value)


# Trace ids with a zero upper half are common (64-bit B3 tracers), so draw them on purpose.
trace_ids = st.one_of(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1)).map(lambda v: hex_id(v, 32))
span_ids = st.integers(1, 2**64 - 1).map(lambda v: hex_id(v, 16))
known_flags = st.sampled_from([0, SAMPLED, RANDOM, SAMPLED | RANDOM])

tracestate_keys = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(LCALPHA_DIGIT),
    st.text(KEYCHARS, max_size=255),
)
tracestate_values = st.builds(
    lambda head, last: head + last,
    st.text(VALUE_CHARS, max_size=255),
    st.sampled_from(NBLK_CHARS),
)


def tracestate_pairs(max_size: int = TRACESTATE_MAX_MEMBERS) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Valid Level 2 tracestate lists: unique keys, at most `max_size` members, leftmost first."""
    lists = st.dictionaries(tracestate_keys, tracestate_values, max_size=max_size)
    return lists.map(lambda d: list(d.items()))


def short_tracestate_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Lists that usually fit the 512 characters every vendor must propagate."""
    keys = st.builds(lambda a, b: a + b, st.sampled_from(LCALPHA_DIGIT), st.text(KEYCHARS, max_size=20))
    values = st.builds(lambda a, b: a + b, st.text(VALUE_CHARS, max_size=20), st.sampled_from(NBLK_CHARS))
    return st.dictionaries(keys, values, max_size=12).map(lambda d: list(d.items()))


def pairs_header(pairs: list[tuple[str, str]]) -> bytes:
    return ",".join(f"{key}={value}" for key, value in pairs).encode()


@st.composite
def span_contexts(
    draw: st.DrawFn,
    trace_states: st.SearchStrategy[list[tuple[str, str]]] | None = None,
    debug: st.SearchStrategy[bool] | None = None,
) -> SpanContext:
    """Valid span contexts: ids never all zero, flags only SAMPLED and RANDOM."""
    pairs = draw(trace_states) if trace_states is not None else []
    return SpanContext(
        draw(trace_ids),
        draw(span_ids),
        draw(known_flags),
        TraceState.from_pairs(pairs),
        draw(debug) if debug is not None else False,
    )


_baggage_ows = st.sampled_from(["", "", " ", "\t", " \t "])
_baggage_properties = st.lists(
    st.builds(
        lambda ows1, key, rest: f"{ows1};{ows1}{key}{rest}",
        _baggage_ows,
        st.text(TOKEN_CHARS, min_size=1, max_size=8),
        st.one_of(st.just(""), st.text(BAGGAGE_OCTETS, max_size=8).map(lambda v: "=" + v)),
    ),
    max_size=2,
)
baggage_members = st.builds(
    # trailing OWS is not part of a member (it is stripped on the way in), so none is generated
    lambda key, ows, value, props: f"{key}{ows}={ows}{value}{''.join(props)}".rstrip(" \t").encode(),
    st.text(TOKEN_CHARS, min_size=1, max_size=16),
    _baggage_ows,
    st.text(BAGGAGE_OCTETS, max_size=40),
    _baggage_properties,
)


def within_baggage_limits(members: list[bytes]) -> bool:
    return len(members) <= BAGGAGE_MAX_MEMBERS and len(b",".join(members)) <= BAGGAGE_MAX_BYTES


baggages = (
    st.lists(baggage_members, max_size=10)
    .filter(within_baggage_limits)
    .map(lambda members: Baggage(tuple(members)))
)


@st.composite
def random_case(draw: st.DrawFn, name: bytes) -> bytes:
    flips = draw(st.integers(0, 2 ** len(name) - 1))
    return bytes(c ^ 0x20 if flips >> i & 1 and chr(c).isalpha() else c for i, c in enumerate(name))


header_names = st.one_of(
    st.sampled_from(MANAGED_NAMES + OTHER_NAMES).flatmap(random_case),
    st.binary(max_size=12),
)

_NOISE = "0123456789abcdefABCDEF-=,; \t\n\x00\xff@zgd"


@st.composite
def mutated(draw: st.DrawFn, value: str) -> str:
    """`value` after a few edits of the kinds that break (or nearly break) parsers."""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["sub", "flip", "trunc", "ext", "ins", "del", "pad"]))
        at = draw(st.integers(0, len(value)))
        char = draw(st.sampled_from(_NOISE))
        if kind == "sub" and value:
            at = min(at, len(value) - 1)
            value = value[:at] + char + value[at + 1 :]
        elif kind == "flip" and value:
            at = min(at, len(value) - 1)
            flipped = value[at].swapcase() if value[at].isascii() else value[at]
            value = value[:at] + flipped + value[at + 1 :]
        elif kind == "trunc":
            value = value[:at]
        elif kind == "ext":
            value += draw(st.text(_NOISE, max_size=6))
        elif kind == "ins":
            value = value[:at] + draw(st.sampled_from([" ", "\t", "-", "0", "a"])) + value[at:]
        elif kind == "del" and value:
            at = min(at, len(value) - 1)
            value = value[:at] + value[at + 1 :]
        elif kind == "pad":
            value = draw(st.sampled_from(["", " ", "\t"])) + value + draw(st.sampled_from(["", " ", "\t"]))
    return value


def _render_traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id.decode()}-{context.span_id.decode()}-{context.flags:02x}"


def _render_b3(context: SpanContext) -> str:
    return f"{context.trace_id.decode()}-{context.span_id.decode()}-{'1' if context.sampled else '0'}"


_valid_values: st.SearchStrategy[str] = st.one_of(
    span_contexts().map(_render_traceparent),
    span_contexts().map(_render_b3),
    trace_ids.map(bytes.decode),
    span_ids.map(bytes.decode),
    short_tracestate_pairs().map(lambda p: pairs_header(p).decode()),
    st.lists(baggage_members, max_size=4).map(lambda m: b",".join(m).decode()),
    st.sampled_from(["0", "1", "d", "true", "false"]),
)
# Valid values with mutations, and plain arbitrary bytes.
header_values = st.one_of(
    _valid_values.flatmap(mutated).map(lambda v: v.encode("latin-1")),
    st.binary(max_size=120),
)
header_lists: st.SearchStrategy[list[Header]] = st.lists(st.tuples(header_names, header_values), max_size=12)


@st.composite
def request_headers(draw: st.DrawFn) -> list[Header]:
    """A request's headers: managed names in random case (repeated, stale, malformed) among others."""
    managed = st.tuples(st.sampled_from(MANAGED_NAMES).flatmap(random_case), header_values)
    headers = draw(st.lists(managed, max_size=10)) + draw(header_lists)
    draw(st.randoms(use_true_random=False)).shuffle(headers)
    return headers


def is_valid_tracestate_header(header: bytes) -> bool:
    """Level 2 #list as a sender should write it: key=value members joined by ",", no OWS."""
    if header == b"":
        return True
    members = header.decode("ascii").split(",")
    keys = [member.partition("=")[0] for member in members]
    return (
        len(members) <= TRACESTATE_MAX_MEMBERS
        and len(set(keys)) == len(keys)
        and all(_valid_member(member) for member in members)
    )


def _valid_member(member: str) -> bool:
    key, equals, value = member.partition("=")
    return bool(equals) and L2_KEY.fullmatch(key) is not None and L2_VALUE.fullmatch(value) is not None


def trimmed(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """#tracestate-limits, independently: drop entries over 128 characters from the right, then any
    from the right, until the list fits in 512 characters."""
    entries = [f"{key}={value}" for key, value in pairs]

    def size() -> int:
        return len(",".join(entries))

    for index in reversed(range(len(entries))):
        if size() <= TRACESTATE_MAX_CHARS:
            break
        if len(entries[index]) > 128:
            del entries[index]
    while size() > TRACESTATE_MAX_CHARS:
        entries.pop()
    kept = set(entries)
    return [(key, value) for key, value in pairs if f"{key}={value}" in kept]


def short_trace_id(trace_id: bytes) -> bytes:
    """B3 allows 16 or 32 hex digits; a trace id whose upper half is zero goes out in 16, so a 64-bit
    tracer gets back what it sent (the choice documented in propagation/b3.py)."""
    return trace_id[16:] if trace_id.startswith(b"0" * 16) else trace_id


def spec_headers(combo: tuple[str, ...], context: SpanContext, bag: Baggage) -> dict[bytes, bytes]:
    """The managed headers a hop sends for `context`, rendered from the specs independently of the
    package: W3C #traceparent-header (version 00, unknown flags zero) and #tracestate-limits, Baggage,
    B3 single (`d` for debug) and multi (X-B3-Flags instead of X-B3-Sampled for debug)."""
    out: dict[bytes, bytes] = {}
    trace_id, span_id = context.trace_id, context.span_id
    if "tracecontext" in combo:
        out[b"traceparent"] = b"00-%s-%s-%02x" % (trace_id, span_id, context.flags & 0x03)
        state = pairs_header(trimmed(list(context.trace_state)))
        if state:
            out[b"tracestate"] = state
    if "baggage" in combo and bag:
        out[b"baggage"] = bag.to_header()
    state_char = b"d" if context.debug else b"1" if context.sampled else b"0"
    if "b3" in combo:
        out[b"b3"] = b"%s-%s-%s" % (short_trace_id(trace_id), span_id, state_char)
    if "b3multi" in combo:
        out[b"x-b3-traceid"] = short_trace_id(trace_id)
        out[b"x-b3-spanid"] = span_id
        if context.debug:
            out[b"x-b3-flags"] = b"1"
        else:
            out[b"x-b3-sampled"] = state_char
    return out
