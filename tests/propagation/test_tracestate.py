"""W3C Trace Context Level 2, `tracestate` (https://www.w3.org/TR/trace-context-2/).

Each test names the spec anchor it checks; the malformed cases include every tracestate case of
the W3C conformance suite. Level 2 simplified the key grammar (#key: `@` anywhere after the first
character), so the suite's Level 1 "illegal vendor format" cases are valid keys here.
"""

from __future__ import annotations

import pytest

from propagation import tracestate
from propagation.tracestate import EMPTY, MAX_HEADER_CHARS, TraceState

KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")


def parse(*values: bytes) -> TraceState:
    return tracestate.parse(list(values))


def test_members_keep_their_order() -> None:
    """#list: an ordered list of key=value members."""
    state = parse(b"foo=1,bar=2")
    assert list(state) == [("foo", "1"), ("bar", "2")]
    assert state.get("bar") == "2"
    assert state.get("baz") is None


def test_repeated_headers_are_combined_in_order() -> None:
    """#combined-header-value: multiple tracestate headers are one list, in order (RFC 9110 5.3)."""
    state = parse(b"foo=1,bar=2", b"rojo=1,congo=2", b"baz=3")
    assert state.to_header() == b"foo=1,bar=2,rojo=1,congo=2,baz=3"


@pytest.mark.parametrize(
    "values",
    [[b""], [b"foo=1", b""], [b"", b"foo=1"], [b" , ,\t"], [b"foo=1,,bar=2"]],
)
def test_empty_members_are_allowed_and_not_sent(values: list[bytes]) -> None:
    """#list: empty and whitespace-only members are allowed; vendors should avoid sending them."""
    state = tracestate.parse(values)
    assert b",," not in state.to_header()
    assert not state.to_header().startswith(b",")
    assert [key for key, _ in state] == [k for k in ("foo", "bar") if k.encode() in b"".join(values)]


@pytest.mark.parametrize(
    "value",
    [
        b"foo=1 \t , \t bar=2, \t baz=3",
        b"foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ],
)
def test_whitespace_around_members_is_ignored(value: bytes) -> None:
    """#list: OWS around the comma separators is allowed (conformance suite OWS cases)."""
    assert parse(value).to_header() == b"foo=1,bar=2,baz=3"


@pytest.mark.parametrize("value", [b" foo=1", b"\tfoo=1", b"foo=1 ", b"foo=1\t", b"\t foo=1 \t"])
def test_whitespace_around_a_lone_member_is_ignored(value: bytes) -> None:
    """#list: leading and trailing OWS of the whole value is not part of it."""
    assert parse(value).to_header() == b"foo=1"


def test_leading_spaces_of_a_value_are_kept() -> None:
    """#value: chr includes space; only the last character must be non-blank."""
    assert parse(b"foo=  1").get("foo") == "  1"


def test_duplicated_keys_discard_the_header() -> None:
    """#list-members: a key appears at most once; otherwise the whole header is invalid."""
    for values in ([b"foo=1,foo=1"], [b"foo=1,foo=2"], [b"foo=1", b"foo=1"], [b"foo=1", b"foo=2"]):
        assert tracestate.parse(values) is EMPTY


def test_all_allowed_characters() -> None:
    """#key and #value: every allowed character, in keys with and without a vendor part."""
    for key in (KEY_CHARS, KEY_CHARS + "@a-z0-9_-*/"):
        state = parse(f"{key}={VALUE_CHARS}".encode())
        assert state.get(key) == VALUE_CHARS


@pytest.mark.parametrize("value", [b"foo =1", b"FOO=1", b"foo.bar=1", b"_foo=1", b"@foo=1"])
def test_illegal_keys_discard_the_header(value: bytes) -> None:
    """#key: lower-case letters, digits, `_ - * / @`, starting with a letter or digit."""
    assert parse(value) is EMPTY
    assert parse(value + b",bar=2") is EMPTY


@pytest.mark.parametrize("value", [b"foo@=1", b"foo@@bar=1", b"foo@bar@baz=1", b"1foo=1"])
def test_level2_simplified_key_grammar(value: bytes) -> None:
    """#key (Level 2): key = (lcalpha / DIGIT) 0*255(keychar), keychar includes "@". The Level 1
    conformance suite rejects the first three as bad multi-tenant keys; Level 2 accepts them."""
    state = parse(value + b",bar=2")
    assert state.get("bar") == "2"


def test_key_length_limit() -> None:
    """#key: at most 256 characters."""
    assert parse(b"k" * 256 + b"=1").get("k" * 256) == "1"
    assert parse(b"k" * 257 + b"=1") is EMPTY
    assert parse(b"ok=1," + b"k" * 257 + b"=1") is EMPTY


def test_value_length_limit() -> None:
    """#value: at most 256 characters."""
    assert parse(b"foo=" + b"v" * 256).get("foo") == "v" * 256
    assert parse(b"foo=" + b"v" * 257) is EMPTY
    assert parse(b"a=1,foo=" + b"v" * 257) is EMPTY


@pytest.mark.parametrize(
    "value",
    [b"foo=", b"foo=1\t2", b"foo=a,b", b"foo=a=b", b"foo=\x7f", b"foo=\xc3\xa9", b"foo", b"=1", b"foo= "],
)
def test_illegal_values_discard_the_header(value: bytes) -> None:
    """#value: 1 to 256 printable ASCII characters except "," and "=", not ending in a space."""
    assert parse(b"bar=2," + value) is EMPTY


def test_member_count_limit() -> None:
    """#list: at most 32 members; 33 makes the header invalid (conformance suite)."""
    members = [f"k{i}=v".encode() for i in range(33)]
    assert len(parse(b",".join(members[:32]))) == 32
    assert parse(b",".join(members)) is EMPTY
    assert tracestate.parse([b",".join(members[:16]), b",".join(members[16:])]) is EMPTY


def test_hostile_length_is_refused_cheaply() -> None:
    """#tracestate-limits: nothing longer than 32 maximal members can be valid; such input is dropped."""
    assert parse(b"a=" + b"x" * 100_000) is EMPTY
    assert parse(b" " * 100_000 + b"a=1") is EMPTY


def test_output_is_trimmed_to_512_characters_by_whole_entries() -> None:
    """#tracestate-limits: entries over 128 characters are removed first, then from the right."""
    long_entry = "big=" + "x" * 200
    short = [(f"k{i:02d}", "v" * 40) for i in range(12)]  # 12 x 44 characters
    state = TraceState.from_pairs([short[0], ("big", long_entry[4:]), *short[1:]])
    header = state.to_header()
    assert len(header) <= MAX_HEADER_CHARS
    assert b"big=" not in header  # the long entry went first
    kept = [key for key, _ in tracestate.parse([header])]
    assert kept == [key for key, _ in short][: len(kept)]  # then from the right
    assert len(kept) == 11  # 11 x 45 - 1 = 494 fits, 12 would not


def test_trimming_keeps_long_entries_when_dropping_them_is_not_needed() -> None:
    """#tracestate-limits: only as much as needed is removed."""
    state = TraceState.from_pairs([("big", "x" * 200), ("small", "1")])
    assert state.to_header() == b"big=" + b"x" * 200 + b",small=1"


def test_updated_entry_moves_to_the_left() -> None:
    """#mutating-the-tracestate-field: a modified or added key goes to the front."""
    state = parse(b"foo=1,bar=2,baz=3").with_entry("bar", "9")
    assert state.to_header() == b"bar=9,foo=1,baz=3"
    assert state.with_entry("new", "x").to_header() == b"new=x,bar=9,foo=1,baz=3"


def test_adding_a_33rd_member_drops_the_rightmost() -> None:
    """#mutating-the-tracestate-field: the list never exceeds 32 members."""
    state = parse(b",".join(f"k{i}=v".encode() for i in range(32))).with_entry("new", "1")
    assert len(state) == 32
    assert state.get("new") == "1"
    assert state.get("k31") is None


def test_delete_entry() -> None:
    """#mutating-the-tracestate-field: vendors may delete their own entry."""
    assert parse(b"foo=1,bar=2").without("foo").to_header() == b"bar=2"


def test_invalid_entries_are_refused_when_mutating() -> None:
    """#key, #value: a mutation cannot produce an invalid list."""
    with pytest.raises(ValueError, match="invalid tracestate entry"):
        EMPTY.with_entry("Foo", "1")
    with pytest.raises(ValueError, match="invalid tracestate entry"):
        EMPTY.with_entry("foo", "a,b")
