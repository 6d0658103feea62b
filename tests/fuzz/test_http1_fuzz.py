"""Fuzz the HTTP/1 head and body parsers: any bytes give a head, a body boundary, or an HttpError
(which the proxy turns into 400/431/501/505); never another exception. A head that parses re-serializes
to something that parses the same, so the proxy never forwards what it would itself refuse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.http1 import framing
from proxy.http1.body import ChunkedReader
from proxy.http1.errors import HttpError
from proxy.http1.head import head_end, parse_request, parse_response
from tests.fuzz.budget import fuzz

PIECES = [
    b"GET", b"POST", b"CONNECT", b" ", b"/", b"/a?b=c", b"*", b"http://h/p", b"h:80", b"HTTP/1.1",
    b"HTTP/1.0", b"HTTP/2.0", b"\r\n", b"\n", b"\r", b"\x00", b"\t", b":", b"Host", b"Host: a",
    b"Content-Length: ",
    b"Transfer-Encoding: ", b"chunked", b"gzip", b",", b"0", b"5", b"-1", b"99999999999999999999",
    b"Connection: close", b"Upgrade: websocket", b"Connection: upgrade", b"Expect: 100-continue", b" x",
    b"\xff", b"HTTP/1.1 200 OK", b"HTTP/1.1 101 ", b"HTTP/1.1 204 No Content",
]  # fmt: skip
CHUNK_PIECES = [
    b"0",
    b"5",
    b"a",
    b"F",
    b"ffffffffffffffffff",
    b";x=y",
    b';x="q"',
    b" ",
    b"\r\n",
    b"\n",
    b"hello",
    b"X: y",
]
near_head = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
heads = st.one_of(near_head, st.binary(max_size=300), near_head.map(lambda h: h + b"\r\n\r\n"))
bodies = st.one_of(
    st.lists(st.sampled_from(CHUNK_PIECES), max_size=30).map(b"".join), st.binary(max_size=200)
)


def request_or_error(data: bytes) -> None:
    try:
        end = head_end(data, 0, 0, 4096)
        if end < 0:
            return
        head = parse_request(data[:end])
        framing.request_body(head)
    except HttpError:
        return
    again = parse_request(head.serialize(head.headers))
    assert (again.method, again.target, again.headers) == (head.method, head.target, head.headers)
    assert (again.content_length, again.chunked) == (head.content_length, head.chunked)


@fuzz
@given(heads)
def test_request_heads(data: bytes) -> None:
    request_or_error(data)


@fuzz
@given(heads)
def test_response_heads(data: bytes) -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    try:
        end = head_end(data)
        if end >= 0:
            framing.response_body(request, parse_response(data[:end]))
    except HttpError:
        pass


@fuzz
@given(bodies, st.integers(min_value=1, max_value=16))
def test_chunked_bodies_in_any_split(data: bytes, step: int) -> None:
    """Fed in pieces of any size, the reader consumes what belongs to the body and stops at its end."""
    reader = ChunkedReader()
    try:
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            end = reader.feed(piece, 0)
            assert 0 <= end <= len(piece)
            if reader.done:
                return
            assert end == len(piece)
    except HttpError:
        pass
