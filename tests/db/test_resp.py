"""RESP2/RESP3 values, whole or split anywhere, and bounded whatever their size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.db.resp import MAX_KEPT_BYTES, MAX_KEPT_ITEMS, ProtocolError, Push, RespError, RespReader


def encode(value: object) -> bytes:
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None:
        return b"_\r\n"
    if isinstance(value, RespError):
        return b"-" + value.message.encode() + b"\r\n"
    assert isinstance(value, list)
    return b"*%d\r\n" % len(value) + b"".join(encode(item) for item in value)


values = st.recursive(
    st.binary(max_size=40)
    | st.integers(-(2**63), 2**63 - 1)
    | st.none()
    | st.builds(RespError, st.from_regex(r"[A-Z]{1,8} [a-z ]{0,20}", fullmatch=True)),
    lambda children: st.lists(children, max_size=6),
    max_leaves=20,
)


@given(st.lists(values, max_size=5), st.data())
def test_values_survive_any_split(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(encode(value) for value in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    reader, received = RespReader(), []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        received += reader.feed(wire[start:end])
    assert received == sent


def test_resp3_types() -> None:
    wire = (
        b"%1\r\n+a\r\n#t\r\n~1\r\n,1.5\r\n=7\r\ntxt:abc\r\n!5\r\nERR x\r\n"
        b">2\r\n+message\r\n+hi\r\n|1\r\n+k\r\n+v\r\n+after\r\n"
    )
    assert RespReader().feed(wire) == [
        [b"a", b"t"],
        [b"1.5"],
        b"abc",
        RespError("ERR x"),
        Push([b"message", b"hi"]),
        b"after",  # the attribute before it is not a value of its own
    ]


def test_large_values_are_cut_not_buffered() -> None:
    reader = RespReader()
    big = b"x" * 1_000_000
    assert reader.feed(b"*2\r\n$3\r\nSET\r\n$1000000\r\n" + big[:500_000]) == []
    assert reader.feed(big[500_000:] + b"\r\n") == [[b"SET", b"x" * MAX_KEPT_BYTES]]
    many = RespReader().feed(b"*100\r\n" + b":1\r\n" * 100)
    assert many == [[1] * MAX_KEPT_ITEMS]


@pytest.mark.parametrize("wire", [b"GET / HTTP/1.1\r\n", b"*x\r\n", b"\r\n", b"$" + b"9" * 70_000])
def test_not_resp_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        RespReader().feed(wire)
