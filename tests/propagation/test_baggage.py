"""W3C Baggage (https://www.w3.org/TR/baggage/): parsed, bounded, passed through byte for byte."""

from __future__ import annotations

import pytest

from propagation import baggage
from propagation.baggage import MAX_BYTES, MAX_MEMBERS


def parse(*values: bytes) -> baggage.Baggage:
    return baggage.parse(list(values))


def test_members_pass_through_with_properties_and_encoding() -> None:
    """#header-content: key=value with optional ;properties; percent-encoding is kept as sent."""
    bag = parse(b"userId=alice%20b, serverNode = DF%2028 ;prop1;prop2=x,isProduction=false")
    assert bag.to_header() == b"userId=alice%20b,serverNode = DF%2028 ;prop1;prop2=x,isProduction=false"
    assert dict(bag) == {"userId": "alice b", "serverNode": "DF 28", "isProduction": "false"}


def test_repeated_headers_are_combined() -> None:
    """#header-name: multiple baggage headers are one list (RFC 9110 5.3)."""
    assert parse(b"a=1", b"b=2").to_header() == b"a=1,b=2"


@pytest.mark.parametrize(
    "member",
    [b"no-equals", b"=novalue", b"sp ace=1", b"k=v v", b'k="q"', b"k=a\\b", b"k=\xc3\xa9", b"k=1;;"],
)
def test_an_invalid_member_is_dropped_alone(member: bytes) -> None:
    """#definition: members must match the grammar; one bad member does not cost the others."""
    assert parse(b"a=1," + member + b",b=2").to_header() == b"a=1,b=2"


def test_at_most_64_members() -> None:
    """#limits: members beyond 64 are dropped whole."""
    bag = parse(b",".join(f"k{i}=v".encode() for i in range(70)))
    assert len(bag) == MAX_MEMBERS
    assert bag.get("k63") == "v"
    assert bag.get("k64") is None


def test_at_most_8192_bytes_never_a_partial_member() -> None:
    """#limits: the baggage-string stays within 8192 bytes; a member that does not fit is dropped whole."""
    members = [f"k{i}={'v' * 1000}".encode() for i in range(10)]
    header = parse(b",".join(members)).to_header()
    assert len(header) <= MAX_BYTES
    assert header.split(b",") == members[: len(header.split(b","))]
    assert len(header.split(b",")) == 8  # 8 x 1003 + 7 commas = 8031; a 9th would pass 8192


def test_empty_and_missing() -> None:
    """#definition: empty list members carry nothing and are not sent."""
    assert not parse()
    assert parse(b" , ,").to_header() == b""
