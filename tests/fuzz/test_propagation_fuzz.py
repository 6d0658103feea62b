"""Fuzz trace-context extraction and injection (traceparent, tracestate, baggage, b3 single and multi):
any header values give a context or "no context" and forwardable headers, never an exception, and
what goes out is bounded whatever came in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from propagation import Propagators
from propagation.sampling import AlwaysOn, ParentBased
from tests.fuzz.budget import fuzz

NAMES = [b"traceparent", b"tracestate", b"baggage", b"b3", b"x-b3-traceid", b"x-b3-spanid", b"x-b3-sampled",
         b"x-b3-flags", b"x-b3-parentspanid", b"TraceParent", b"B3"]  # fmt: skip
PIECES = [
    b"00", b"01", b"ff", b"cc", b"-", b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", b"0" * 32,
    b"0" * 16, b"a" * 600, b",", b"=", b";", b" ", b"\t", b"k", b"v", b"@", b"%", b"%zz", b"d", b"1", b"\xff",
    b"congo=t61rcWkgMzE", b"prop;p=1", b"\x80",
]  # fmt: skip
values = st.one_of(st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join), st.binary(max_size=200))
headers = st.lists(st.tuples(st.sampled_from(NAMES), values), max_size=12)
FORMATS = Propagators(["tracecontext", "baggage", "b3", "b3multi"])


@fuzz
@given(headers)
def test_hop_never_raises_and_bounds_what_it_forwards(fields: list[tuple[bytes, bytes]]) -> None:
    _, context, forwarded = FORMATS.hop(fields, ParentBased(AlwaysOn()))
    assert len(context.trace_id) == 32 and len(context.span_id) == 16
    assert len(context.trace_state.to_header()) <= 512
    for name, value in forwarded:
        lowered = name.lower()
        if lowered == b"tracestate":
            assert len(value) <= 512
        elif lowered == b"baggage":
            assert len(value) <= 8192
        elif lowered in (b"traceparent", b"b3"):
            assert len(value) <= 128
