"""Fuzz the HTTP/2 side: whatever frames a client sends, the server-side state machine the relay runs
(`proxy.h2.streams.new_connection`, our windows and limits) answers with events or with the h2
ProtocolError the relay turns into GOAWAY; and any header list a stream opens with maps to a request."""

from __future__ import annotations

import struct

from h2.exceptions import ProtocolError
from hypothesis import given
from hypothesis import strategies as st

from proxy.h2.exchange import is_grpc, request_head
from proxy.h2.streams import new_connection
from tests.fuzz.budget import fuzz

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_TYPES = st.integers(min_value=0, max_value=12)  # DATA .. ORIGIN, and unknown types past them


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Frames with plausible headers (length, type, flags, stream id) and arbitrary payloads."""
    out = b""
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        payload = draw(st.binary(max_size=64))
        declared = draw(st.one_of(st.just(len(payload)), st.integers(min_value=0, max_value=(1 << 24) - 1)))
        header = struct.pack(">I", declared)[1:] + bytes([draw(FRAME_TYPES), draw(st.integers(0, 255))])
        out += header + struct.pack(">I", draw(st.sampled_from([0, 1, 3, 2, 0x7FFFFFFF, 0x80000001])))
        out += payload
    return out


@fuzz
@given(st.one_of(frames(), st.binary(max_size=200)), st.booleans())
def test_server_connection_gives_events_or_a_protocol_error(data: bytes, preface: bool) -> None:
    connection = new_connection(client_side=False)
    connection.initiate_connection()
    try:
        events = connection.receive_data((PREFACE if preface else b"") + data)
    except ProtocolError:
        return
    assert isinstance(events, list)
    assert isinstance(connection.data_to_send(), bytes)


headers = st.lists(
    st.tuples(
        st.sampled_from([b":method", b":path", b":authority", b":scheme", b"content-type", b"host", b"x"]),
        st.binary(max_size=20),
    ),
    max_size=10,
)


@fuzz
@given(headers)
def test_any_opening_header_list_maps_to_a_request(fields: list[tuple[bytes, bytes]]) -> None:
    head = request_head(fields)
    assert head.target.startswith(b"/") or head.target in {
        value for name, value in fields if name == b":path"
    }
    assert isinstance(is_grpc(fields), bool)
