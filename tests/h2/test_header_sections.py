"""What the relay checks in a client's header section, and how it encodes the sections it sends."""

from __future__ import annotations

import pytest
from hpack import Decoder
from hpack.struct import NeverIndexedHeaderTuple
from hyperframe.frame import DataFrame

from proxy.h2 import frame_repr
from proxy.h2.header_block import HeaderBlockEncoder
from proxy.h2.validate import request_problem, trailers_problem
from tests.h2.frames import GRPC_HEAD


def test_a_client_library_request_is_well_formed() -> None:
    assert request_problem(GRPC_HEAD) == ""
    assert request_problem([*GRPC_HEAD, (b"host", b"app"), (b"x-empty", b""), (b"x-bin", b"a\tb")]) == ""
    assert request_problem([(b":method", b"CONNECT"), (b":authority", b"db:5432")]) == ""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ([(b"X-Upper", b"v")], "invalid field name"),
        ([(b"x y", b"v")], "invalid field name"),
        ([(b"x:y", b"v")], "invalid field name"),
        ([(b"", b"v")], "invalid field name"),
        ([(b"x", b" leading")], "invalid value"),
        ([(b"x", b"trailing\t")], "invalid value"),
        ([(b"x", b"a\x00b")], "invalid value"),
        ([(b"x", b"a\r\nb: c")], "invalid value"),
        ([(b"connection", b"keep-alive")], "connection-specific"),
        ([(b"transfer-encoding", b"chunked")], "connection-specific"),
        ([(b"upgrade", b"websocket")], "connection-specific"),
        ([(b"te", b"gzip")], "te other than trailers"),
        ([(b"x", b"v"), (b":status", b"200")], "after a regular field"),
        ([(b"host", b"elsewhere")], "host differs"),
    ],
)
def test_malformed_requests_are_named(change: list[tuple[bytes, bytes]], problem: str) -> None:
    assert problem in request_problem([*GRPC_HEAD, *change])


@pytest.mark.parametrize("extra", [(b":path", b"/again"), (b":protocol", b"websocket"), (b":status", b"200")])
def test_unknown_and_repeated_pseudo_headers(extra: tuple[bytes, bytes]) -> None:
    assert "unknown or repeated pseudo-header" in request_problem([extra, *GRPC_HEAD])


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        (b":method", "no :method"),
        (b":path", "no :scheme or"),
        (b":scheme", "no :scheme or"),
        (b":authority", "neither"),
    ],
)
def test_a_request_without_a_needed_pseudo_header(drop: bytes, problem: str) -> None:
    assert problem in request_problem([field for field in GRPC_HEAD if field[0] != drop])


def test_connect_and_an_empty_path() -> None:
    assert "CONNECT" in request_problem([(b":method", b"CONNECT"), (b":authority", b"a:1"), (b":path", b"/")])
    empty_path = [(n, b"" if n == b":path" else v) for n, v in GRPC_HEAD]
    assert "empty or missing :path" in request_problem(empty_path)


def test_trailers() -> None:
    assert trailers_problem([(b"x-checksum", b"abc")]) == ""
    assert "in trailers" in trailers_problem([(b":status", b"200")])
    assert "invalid field name" in trailers_problem([(b"Bad", b"v")])


def test_header_blocks_decode_to_the_same_fields_marks_included() -> None:
    encoder, decoder = HeaderBlockEncoder(), Decoder()
    fields = [
        (b":status", b"200"),  # a whole static-table field
        (b"content-type", b"application/grpc"),  # a static-table name
        (b"x-" + b"n" * 300, b"v" * 70_000),  # multi-byte integers for both lengths
        NeverIndexedHeaderTuple(b"authorization", b"Bearer secret"),
        (b"x-empty", b""),
    ]
    decoder.max_header_list_size = 1 << 20
    for _ in range(3):  # the name cache gives the same bytes as the first encoding
        decoded = decoder.decode(encoder.encode(fields), raw=True)
        assert decoded == fields
        assert [getattr(field, "indexable", True) for field in decoded] == [True, True, True, False, True]
    assert decoder.header_table.maxsize == 0  # the first block set the table to nothing


def test_a_table_size_update_follows_each_settings_change() -> None:
    encoder = HeaderBlockEncoder()
    first, second = encoder.encode([(b"a", b"b")]), encoder.encode([(b"a", b"b")])
    encoder.header_table_size = 8192
    third = encoder.encode([(b"a", b"b")])
    assert first[:1] == third[:1] == b"\x20" and second[:1] != b"\x20"
    assert encoder.header_table_size == 0


def test_frame_reprs_do_not_hex_encode_the_payload() -> None:
    assert frame_repr.brief is not None
    frame = DataFrame(1)
    frame.parse_body(memoryview(b"x" * 65536))
    assert repr(frame) == "DataFrame(stream_id=1, body_len=65536)"
