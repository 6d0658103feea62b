"""Message bodies (RFC 9112 sections 6.3 and 7.1): where each reader stops, and that it alters nothing.

Bodies are fed the way the forwarder feeds them: bytes accumulate in a buffer, the reader says how many
belong to the body, those are forwarded and dropped from the buffer.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.http1.body import (
    MAX_CHUNK_LINE,
    MAX_TRAILER_BYTES,
    BodyReader,
    ChunkedReader,
    LengthReader,
    UntilCloseReader,
)
from proxy.http1.errors import BadRequest, HttpError

NEXT = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"


def forward(reader: BodyReader, pieces: list[bytes]) -> tuple[bytes, bytes]:
    """Feed `pieces` as they arrive; return (forwarded body bytes, bytes left in the buffer)."""
    buffer = b""
    forwarded = b""
    for piece in pieces:
        buffer += piece
        if reader.done:
            continue
        end = reader.feed(buffer, 0)
        assert 0 <= end <= len(buffer)
        forwarded += buffer[:end]
        buffer = buffer[end:]
    return forwarded, buffer


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in itertools.pairwise(points)] or [b""]


def chunked_ok(body: bytes) -> None:
    """`body` is a complete chunked body: it is consumed exactly, whole or byte by byte."""
    for pieces in ([body + NEXT], [bytes([byte]) for byte in body + NEXT]):
        reader = ChunkedReader()
        assert forward(reader, pieces) == (body, NEXT)
        assert reader.done


def chunked_refused(body: bytes) -> None:
    """`body` is refused, whole or byte by byte."""
    for pieces in ([body], [bytes([byte]) for byte in body]):
        with pytest.raises(BadRequest):
            forward(ChunkedReader(), pieces)


# -- no body, Content-Length, until close (RFC 9112 section 6.3) -------------------------------------


def test_empty_body_takes_nothing() -> None:
    """RFC 9112 section 6.3 rules 1 and 7: no body; the next message's bytes stay where they are."""
    reader = BodyReader()
    assert reader.done
    assert reader.feed(NEXT, 0) == 0
    assert reader.feed(NEXT, 5) == 5


@pytest.mark.parametrize("length", [0, 1, 5, 1000])
def test_length_reader_stops_at_the_length(length: int) -> None:
    """RFC 9112 section 6.3 rule 6: Content-Length octets, then the next message."""
    body = bytes(range(256)) * 4
    reader = LengthReader(length)
    assert reader.done is (length == 0)
    assert forward(reader, [body[:length] + NEXT]) == (body[:length], NEXT)
    assert reader.done


def test_length_reader_counts_across_reads_and_offsets() -> None:
    """The remaining count carries from one read to the next; `start` is honoured."""
    reader = LengthReader(10)
    assert reader.feed(b"xxabc", 2) == 5
    assert (reader.remaining, reader.done) == (7, False)
    assert reader.feed(b"defghijNEXT", 0) == 7
    assert (reader.remaining, reader.done) == (0, True)
    assert reader.feed(b"more", 0) == 0


def test_length_reader_incomplete_body_is_not_done() -> None:
    """RFC 9112 section 8: fewer octets than Content-Length is an incomplete message, still waiting."""
    reader = LengthReader(6)
    assert forward(reader, [b"abc"]) == (b"abc", b"")
    assert not reader.done


def test_until_close_reader_takes_everything_until_closed() -> None:
    """RFC 9112 section 6.3 rule 8: a response without framing ends when the server closes."""
    reader = UntilCloseReader()
    assert forward(reader, [b"abc", b"0\r\n\r\n", NEXT]) == (b"abc0\r\n\r\n" + NEXT, b"")
    assert not reader.done
    reader.close()
    assert reader.done


# -- chunked (RFC 9112 section 7.1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
        b"000005\r\nhello\r\n00\r\n\r\n",
        b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n",  # CR and LF are ordinary data bytes
        b"3\r\n0\r\n\r\n0\r\n\r\n",  # data that looks like a last chunk
    ],
)
def test_chunked_sizes(body: bytes) -> None:
    """RFC 9112 section 7.1: chunk-size = 1*HEXDIG, case-insensitive; a 0-size chunk is the last."""
    chunked_ok(body)


def test_chunk_size_of_sixteen_hex_digits_streams() -> None:
    """RFC 9112 section 7.1: recipients must anticipate large sizes; 64 bits fit, the data just streams."""
    reader = ChunkedReader()
    assert reader.feed(b"FFFFFFFFFFFFFFFF\r\n" + b"x" * 1000, 0) == 18 + 1000
    assert not reader.done


@pytest.mark.parametrize(
    "size_line",
    [
        b"",
        b" 5",
        b"5 ",
        b"5\t",
        b"-5",
        b"+5",
        b"0x5",
        b"g",
        b"5\x00",
        b"1" + b"0" * 16,  # 17 digits: beyond 64 bits
        b"0" * 17 + b"5",  # leading zeros count too: the bound is on the line
        b"\xef\xbc\x95",  # a full-width digit
    ],
)
def test_invalid_chunk_size_is_refused(size_line: bytes) -> None:
    """RFC 9112 section 7.1: chunk-size = 1*HEXDIG; nothing else, and no overflow."""
    chunked_refused(size_line + b"\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "extension",
    [
        b";a",
        b";a=b",
        b";a=b;c=d",
        b";a;b;c",
        b';a="b c"',
        b';a=""',
        b';a="q\\"uote\\\\"',
        b';name="\tobs-text \x80\xff"',
        b";!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
    ],
)
def test_chunk_extensions_pass_through(extension: bytes) -> None:
    """RFC 9112 section 7.1.1: chunk-ext = *( ";" name [ "=" value ] ), forwarded as sent."""
    chunked_ok(b"5" + extension + b"\r\nhello\r\n0" + extension + b"\r\n\r\n")


@pytest.mark.parametrize(
    "extension",
    [
        b";",
        b";a=",
        b";=b",
        b" ;a",  # BWS: allowed by the RFC grammar, refused by llhttp; bytes pass as sent, so we refuse
        b"; a",
        b";a =b",
        b";a= b",
        b";a=b c",
        b";a=b=c",
        b';a="b',
        b';a="b"c',
        b';a="\x01"',
        b';a="\\\x01"',
        b";a=\x80",
        b";\x00",
        b";a\x7f",
        b";a\rb",
    ],
)
def test_invalid_chunk_extensions_are_refused(extension: bytes) -> None:
    """RFC 9112 section 7.1.1: names and unquoted values are tokens; quoted values are quoted-strings."""
    chunked_refused(b"5" + extension + b"\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "body",
    [
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nX: a\n\r\n",
    ],
)
def test_bare_lf_in_chunked_framing_is_refused(body: bytes) -> None:
    """RFC 9112 section 7.1: chunk lines, data ends and the trailer section all end with CRLF."""
    chunked_refused(body)


@pytest.mark.parametrize("after_data", [b"XX", b"\rX", b"X\n", b"\n\r", b"0\r\n"])
def test_chunk_data_must_be_followed_by_crlf(after_data: bytes) -> None:
    """RFC 9112 section 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF."""
    chunked_refused(b"5\r\nhello" + after_data + b"0\r\n\r\n")


@pytest.mark.parametrize("pieces", [1, 7, MAX_CHUNK_LINE])
def test_oversized_chunk_line_is_refused_however_it_arrives(pieces: int) -> None:
    """A size line is bounded (MAX_CHUNK_LINE, with its CR) whether it arrives in one read or many."""
    line = b"5;" + b"a" * (MAX_CHUNK_LINE - 2) + b"\r"  # one byte over
    body = line + b"\nhello\r\n0\r\n\r\n"
    step = -(-len(body) // pieces)
    with pytest.raises(BadRequest):
        forward(ChunkedReader(), [body[i : i + step] for i in range(0, len(body), step)])


def test_chunk_line_at_the_bound_is_accepted() -> None:
    """The bound is inclusive: MAX_CHUNK_LINE bytes with the CR pass, whole or byte by byte."""
    chunked_ok(b"5;" + b"a" * (MAX_CHUNK_LINE - 3) + b"\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "trailers",
    [
        b"X: a\r\n",
        b"X:a\r\n",
        b"X:\r\n",
        b"X: a \t b \r\n",
        b"Server-Timing: db;dur=53\r\nx-checksum: abc\r\nX-Checksum: def\r\n",
        b"X: \x80\xff\r\n",
    ],
)
def test_trailers_pass_through(trailers: bytes) -> None:
    """RFC 9112 section 7.1.2: trailer-section = *( field-line CRLF ), then the final CRLF."""
    chunked_ok(b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n")


@pytest.mark.parametrize(
    "trailer",
    [
        b" X: a",  # obs-fold, or a line starting with whitespace
        b"\tX: a",
        b"X : a",
        b"X",
        b": a",
        b"X: a\x01",
        b"X: a\x00b",
        b"X: a\rb",
        b"X\x7f: a",
        b"Content-Length: 5",
        b"transfer-encoding: chunked",
    ],
)
def test_invalid_trailers_are_refused(trailer: bytes) -> None:
    """RFC 9112 section 7.1.2 (field-line grammar) and RFC 9110 section 6.5.1 (no framing fields)."""
    chunked_refused(b"5\r\nhello\r\n0\r\nX: ok\r\n" + trailer + b"\r\n\r\n")


def test_trailer_section_is_bounded() -> None:
    """The trailer section is bounded like a head (MAX_TRAILER_BYTES)."""
    line = b"X: " + b"a" * 1000 + b"\r\n"
    count = MAX_TRAILER_BYTES // len(line)
    chunked_ok(b"0\r\n" + line * count + b"\r\n")
    chunked_refused(b"0\r\n" + line * (count + 1) + b"\r\n")


def test_last_chunk_leaves_the_next_message_untouched() -> None:
    """RFC 9112 section 7.1: the body ends after the trailer section's CRLF; the rest is the next request."""
    reader = ChunkedReader()
    data = b"prefix" + b"5\r\nhello\r\n0\r\n\r\n" + NEXT
    end = reader.feed(data, len(b"prefix"))
    assert (end, reader.done) == (len(data) - len(NEXT), True)
    assert reader.feed(data, end) == end


# -- properties --------------------------------------------------------------------------------------

_token = st.from_regex(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,8}", fullmatch=True)
_quoted = st.from_regex(
    rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff]){0,8}"', fullmatch=True
)
_extension = st.lists(
    st.tuples(_token, st.none() | _token | _quoted).map(
        lambda ext: b";" + ext[0] + (b"=" + ext[1] if ext[1] else b"")
    ),
    max_size=3,
).map(b"".join)
_value = st.from_regex(
    rb"(?:[\x21-\x7e\x80-\xff](?:[\x21-\x7e\x80-\xff \t]{0,10}[\x21-\x7e\x80-\xff])?)?", fullmatch=True
)
_trailer = st.tuples(_token, _value).filter(
    lambda field: field[0].lower() not in (b"content-length", b"transfer-encoding")
)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A chunked body with random chunk sizes, hex spellings, extensions and trailers."""
    parts = []
    for data in draw(st.lists(st.binary(min_size=1, max_size=300), max_size=6)):
        size = b"%x" % len(data)
        size = draw(st.sampled_from([size, size.upper(), b"0" + size]))
        parts.append(size + draw(_extension) + b"\r\n" + data + b"\r\n")
    parts.append(b"0" + draw(_extension) + b"\r\n")
    parts.extend(
        b"%s:%s%s\r\n" % (name, draw(st.sampled_from([b"", b" ", b" \t"])), value)
        for name, value in draw(st.lists(_trailer, max_size=3))
    )
    return b"".join(parts) + b"\r\n"


_cuts = st.lists(st.integers(min_value=0), max_size=12)
_SETTINGS = settings(max_examples=150, deadline=None)


@_SETTINGS
@given(st.binary(max_size=2000), _cuts, st.binary(max_size=50))
def test_content_length_body_is_forwarded_exactly(body: bytes, cuts: list[int], after: bytes) -> None:
    """Property: however a Content-Length body is split, exactly its bytes are forwarded, in order."""
    reader = LengthReader(len(body))
    assert forward(reader, split(body + after, cuts)) == (body, after)
    assert reader.done


@_SETTINGS
@given(chunked_bodies(), _cuts, st.binary(max_size=50))
def test_chunked_body_is_forwarded_exactly(body: bytes, cuts: list[int], after: bytes) -> None:
    """Property: however a chunked body is split, it is forwarded byte for byte and the reader stops
    exactly at its end, leaving whatever follows untouched."""
    reader = ChunkedReader()
    assert forward(reader, split(body + after, cuts)) == (body, after)
    assert reader.done


@settings(max_examples=400, deadline=1000)
@given(
    st.lists(
        st.binary(max_size=40) | st.sampled_from([b"\r\n", b"0\r\n", b"5\r\n", b";", b"\r"]), max_size=12
    )
)
def test_arbitrary_bytes_refuse_or_progress(pieces: list[bytes]) -> None:
    """Property: on any input a ChunkedReader raises an HttpError or takes every byte it was given until
    the body ends: never another exception, never a stall (the deadline catches a loop)."""
    reader = ChunkedReader()
    with contextlib.suppress(HttpError):
        for piece in pieces:
            end = reader.feed(piece, 0)
            assert end == len(piece) or reader.done
            if reader.done:
                assert reader.feed(piece, end) == end
