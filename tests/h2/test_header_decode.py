"""The compiled HPACK decoder against hpack's own: the same fields, the same refusals."""

from __future__ import annotations

import pytest
from hpack import Decoder, Encoder
from hpack.exceptions import (
    HPACKError,
    InvalidTableIndexError,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.struct import NeverIndexedHeaderTuple
from hypothesis import given
from hypothesis import strategies as st

from proxy.h2.header_decode import HeaderBlockDecoder, huffman_decode
from tests.fuzz.budget import fuzz

names = st.sampled_from(
    [b":method", b":path", b"content-type", b"te", b"traceparent", b"x-a", b"x-b-bin", b"cookie"]
)
fields = st.tuples(names | st.binary(min_size=1, max_size=30), st.binary(max_size=300))


@fuzz
@given(st.lists(st.tuples(st.lists(fields, max_size=12), st.booleans(), st.booleans()), max_size=6))
def test_blocks_decode_as_hpack_decodes_them(
    blocks: list[tuple[list[tuple[bytes, bytes]], bool, bool]],
) -> None:
    """A connection's worth of blocks, so the dynamic table fills, evicts and is referred to."""
    encoder, ours, theirs = Encoder(), HeaderBlockDecoder(), Decoder()
    ours.max_header_list_size = theirs.max_header_list_size = 1 << 20
    for headers, huffman, sensitive in blocks:
        marked = [NeverIndexedHeaderTuple(n, v) if sensitive else (n, v) for n, v in headers]
        block = encoder.encode(marked, huffman=huffman)
        decoded, expected = ours.decode(block), theirs.decode(block, raw=True)
        assert decoded == expected == headers
        assert [getattr(f, "indexable", True) for f in decoded] == [f.indexable for f in expected]


@fuzz
@given(st.binary(max_size=100))
def test_any_bytes_give_the_same_fields_or_an_hpack_error(block: bytes) -> None:
    ours, theirs = HeaderBlockDecoder(), Decoder()
    try:
        expected = theirs.decode(block, raw=True)
    except HPACKError:
        with pytest.raises(HPACKError):
            ours.decode(block)
        return
    assert ours.decode(block) == expected


@given(st.binary(max_size=200))
def test_huffman_strings_round_trip(text: bytes) -> None:
    assert huffman_decode(HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(text)) == text


def test_refusals() -> None:
    decoder = HeaderBlockDecoder()
    with pytest.raises(InvalidTableIndexError):
        decoder.decode(b"\xbe")  # index 62: the dynamic table is empty
    with pytest.raises(HPACKError, match="padding"):
        decoder.decode(b"\x00\x01a\x81\x00")  # a Huffman value ending in 0-bits
    with pytest.raises(HPACKError, match="EOS"):
        decoder.decode(b"\x00\x01a\x84\xff\xff\xff\xff")  # 30 1-bits: the end-of-string symbol
    with pytest.raises(HPACKError, match="after a field"):
        decoder.decode(b"\x82\x20")
    with pytest.raises(InvalidTableSizeError):
        decoder.decode(b"\x3f\xe2\x1f")  # a size update to 4,097 over the 4,096 allowed
    decoder.max_header_list_size = 100
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(b"\x00\x01a\x7f\x00" + b"v" * 127)


def test_size_updates_evict() -> None:
    decoder = HeaderBlockDecoder()
    assert decoder.decode(b"\x40\x01a\x01b") == [(b"a", b"b")]  # added to the table
    assert decoder.decode(b"\xbe") == [(b"a", b"b")]
    assert decoder.decode(b"\x20") == []  # table size 0 empties it
    with pytest.raises(InvalidTableIndexError):
        decoder.decode(b"\xbe")
