"""Fuzz the parsers of the non-HTTP paths: protocol sniffing, the TLS ClientHello reader, the RESP and
PostgreSQL framers, the database observers, and bpftrace's event lines. Each answers with its
documented result or its documented error, whatever the bytes and however they are split."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from propagation import sampling
from proxy.db import pgwire, resp
from proxy.ebpf import events
from proxy.observers import StreamInfo, observer_for
from proxy.sniff import H2, HTTP1, OPAQUE, TLS, UNDECIDED, classify
from proxy.spans.record import SpanRecord
from proxy.tls_hello import server_name
from tests.fuzz.budget import fuzz

RESP_PIECES = [
    b"*", b"$", b"+", b"-", b":", b"%", b"~", b">", b"_", b",", b"#", b"(", b"!", b"=", b"|",
    b"1", b"2", b"3", b"-1", b"0", b"99999999999999999999", b"\r\n", b"\n", b"SET", b"GET", b"k", b"OK",
]  # fmt: skip
resp_bytes = st.one_of(
    st.lists(st.sampled_from(RESP_PIECES), max_size=60).map(b"".join), st.binary(max_size=300)
)
PG_PIECES = [
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"\x00\x00\x00\x09\x00\x03\x00\x00", b"Q", b"P", b"B", b"E", b"S",
    b"\x00\x00\x00\x04", b"\x00\x00\x00\x05", b"\xff\xff\xff\xff", b"\x00", b"select 1", b"user\x00u\x00",
]  # fmt: skip
pg_bytes = st.one_of(st.lists(st.sampled_from(PG_PIECES), max_size=40).map(b"".join), st.binary(max_size=300))
splits = st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=20)


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes * (len(data) // max(1, sum(sizes)) + 1):
        if at >= len(data):
            break
        out.append(data[at : at + size])
        at += size
    return out


@fuzz
@given(st.binary(max_size=200))
def test_classify_names_a_protocol_or_waits(first: bytes) -> None:
    assert classify(first) in (HTTP1, H2, TLS, OPAQUE, UNDECIDED)


@fuzz
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"\x16\x03\x01" + b)))
def test_server_name_is_text_or_empty(data: bytes) -> None:
    assert isinstance(server_name(data), str)


@fuzz
@given(resp_bytes, splits)
def test_resp_reader_gives_values_or_a_protocol_error(data: bytes, sizes: list[int]) -> None:
    reader = resp.RespReader()
    try:
        for piece in pieces(data, sizes):
            assert isinstance(reader.feed(piece), list)
    except resp.ProtocolError:
        pass


@fuzz
@given(pg_bytes, splits, st.booleans())
def test_pg_framer_gives_messages_or_a_protocol_error(data: bytes, sizes: list[int], untyped: bool) -> None:
    framer = pgwire.Framer(untyped)
    try:
        for piece in pieces(data, sizes):
            assert all(isinstance(message, pgwire.Message) for message in framer.feed(piece))
    except pgwire.ProtocolError:
        pass


@fuzz
@given(st.one_of(resp_bytes, pg_bytes), st.one_of(resp_bytes, pg_bytes), splits)
def test_database_observers_take_any_stream(client: bytes, server: bytes, sizes: list[int]) -> None:
    """Observers answer bytes they cannot read with their parser's ProtocolError (the relay then drops
    the observer, never the connection), and anything else with spans."""
    finished: list[SpanRecord] = []
    server_address = ("10.0.0.2", 6379)
    info = StreamInfo("outbound", ("10.0.0.1", 40000), server_address, finished.append, sampling.AlwaysOn())
    observer = observer_for(client[:64], info)
    if observer is None:
        return
    theirs = pieces(server, sizes)
    try:
        for now, mine in enumerate(pieces(client, sizes)):
            observer.client_data(mine, now)
            if now < len(theirs):
                observer.server_data(theirs[now], now)
        observer.closed(10**9)
    except (resp.ProtocolError, pgwire.ProtocolError):
        return
    assert all(isinstance(span, SpanRecord) for span in finished)


@fuzz
@given(
    st.one_of(
        st.text(max_size=200),
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["printf", "lost_events", "exited", "attached_probes"]),
                "data": st.text(),
            }
        ).map(json.dumps),
    )
)
def test_event_lines_parse_or_raise_event_error(line: str) -> None:
    with contextlib.suppress(events.EventError):
        events.parse(line)
