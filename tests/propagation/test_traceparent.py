"""W3C Trace Context Level 2, `traceparent` (https://www.w3.org/TR/trace-context-2/).

Each test names the spec anchor it checks. The malformed cases include every traceparent case of
the W3C conformance suite (test/test.py in w3c/trace-context).
"""

from __future__ import annotations

import pytest

from propagation import traceparent
from propagation.context import RANDOM, SAMPLED, SpanContext

TRACE = b"12345678901234567890123456789012"
SPAN = b"1234567890123456"
VALID = b"00-" + TRACE + b"-" + SPAN + b"-01"


def parse_one(value: bytes) -> SpanContext | None:
    return traceparent.parse([value])


def test_valid_version_00() -> None:
    """#traceparent-header-field-values: version-trace-id-parent-id-trace-flags, lower-case hex."""
    context = parse_one(VALID)
    assert context is not None
    assert (context.trace_id, context.span_id, context.flags) == (TRACE, SPAN, SAMPLED)
    assert context.sampled


@pytest.mark.parametrize(
    "value",
    [
        b"00-12345678901234567890123456789012-1234567890123456-01.",
        b"00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ],
)
def test_version_00_has_exactly_55_characters(value: bytes) -> None:
    """#versioning-of-traceparent: version 00 with anything after the flags is invalid."""
    assert parse_one(value) is None


@pytest.mark.parametrize(
    "value",
    [
        b"cc-12345678901234567890123456789012-1234567890123456-01",
        b"cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ],
)
def test_future_version_is_parsed_as_version_00(value: bytes) -> None:
    """#versioning-of-traceparent: a higher version is read with the 00 layout; more may follow a dash."""
    context = parse_one(value)
    assert context is not None
    assert context.trace_id == TRACE
    assert context.span_id == SPAN


def test_future_version_extension_must_start_with_dash() -> None:
    """#versioning-of-traceparent: after the flags comes the end of the value or a dash."""
    assert parse_one(b"cc-12345678901234567890123456789012-1234567890123456-01.what-the-future") is None


def test_future_version_shorter_than_55_is_invalid() -> None:
    """#versioning-of-traceparent: shorter than 55 characters is not parsed."""
    assert parse_one(b"cc-12345678901234567890123456789012-1234567890123456-1") is None


def test_version_ff_is_invalid() -> None:
    """#version: ff is forbidden."""
    assert parse_one(b"ff-12345678901234567890123456789012-1234567890123456-01") is None


@pytest.mark.parametrize(
    "value",
    [
        # version: illegal characters, too long, too short (conformance suite)
        b".0-12345678901234567890123456789012-1234567890123456-01",
        b"0.-12345678901234567890123456789012-1234567890123456-01",
        b"000-12345678901234567890123456789012-1234567890123456-01",
        b"0000-12345678901234567890123456789012-1234567890123456-01",
        b"0-12345678901234567890123456789012-1234567890123456-01",
        # trace-id: illegal characters, too long, too short
        b"00-.2345678901234567890123456789012-1234567890123456-01",
        b"00-1234567890123456789012345678901.-1234567890123456-01",
        b"00-123456789012345678901234567890123-1234567890123456-01",
        b"00-1234567890123456789012345678901-1234567890123456-01",
        # parent-id: illegal characters, too long, too short
        b"00-12345678901234567890123456789012-.234567890123456-01",
        b"00-12345678901234567890123456789012-123456789012345.-01",
        b"00-12345678901234567890123456789012-12345678901234567-01",
        b"00-12345678901234567890123456789012-123456789012345-01",
        # trace-flags: illegal characters, too long, too short
        b"00-12345678901234567890123456789012-1234567890123456-.0",
        b"00-12345678901234567890123456789012-1234567890123456-0.",
        b"00-12345678901234567890123456789012-1234567890123456-001",
        b"00-12345678901234567890123456789012-1234567890123456-1",
    ],
)
def test_malformed_fields_restart_the_trace(value: bytes) -> None:
    """#traceparent-header-field-values: any field of the wrong length or alphabet is invalid."""
    assert parse_one(value) is None


@pytest.mark.parametrize(
    "value",
    [
        b"00-ABCDEF78901234567890123456789012-1234567890123456-01",
        b"00-12345678901234567890123456789012-ABCDEF7890123456-01",
        b"00-12345678901234567890123456789012-1234567890123456-0A",
        b"0A-12345678901234567890123456789012-1234567890123456-01",
    ],
)
def test_upper_case_hex_is_invalid(value: bytes) -> None:
    """#traceparent-header-field-values: HEXDIGLC, lower-case hex only."""
    assert parse_one(value) is None


def test_all_zero_trace_id_is_invalid() -> None:
    """#trace-id: all bytes zero is an invalid value."""
    assert parse_one(b"00-00000000000000000000000000000000-1234567890123456-01") is None


def test_all_zero_parent_id_is_invalid() -> None:
    """#parent-id: all bytes zero is an invalid value."""
    assert parse_one(b"00-12345678901234567890123456789012-0000000000000000-01") is None


@pytest.mark.parametrize(
    "value",
    [b" " + VALID, b"\t" + VALID, VALID + b" ", VALID + b"\t", b"\t " + VALID + b" \t"],
)
def test_surrounding_whitespace_is_not_part_of_the_value(value: bytes) -> None:
    """RFC 9110 section 5.5 (and the conformance suite's OWS cases): leading and trailing OWS is stripped."""
    context = parse_one(value)
    assert context is not None
    assert context.trace_id == TRACE


@pytest.mark.parametrize(
    "value",
    [
        b"00 -12345678901234567890123456789012-1234567890123456-01",
        b"00-12345678901234567890123456789012 -1234567890123456-01",
        b"00-12345678901234567890123456789012-1234567890123456- 1",
        b"00-1234567890123456789012345678901\t-1234567890123456-01",
        b"\n" + VALID,
        VALID + b"\r",
    ],
)
def test_whitespace_inside_or_other_controls_are_invalid(value: bytes) -> None:
    """#traceparent-header-field-values: only the grammar's characters; OWS only around the value."""
    assert parse_one(value) is None


def test_dashes_only_where_the_grammar_puts_them() -> None:
    """#traceparent-header-field-values: the id fields are hex, so a dash inside one is illegal."""
    assert parse_one(b"00-1234567890123456-890123456789012-1234567890123456-01") is None


def test_duplicated_traceparent_restarts_the_trace() -> None:
    """#traceparent-header: more than one traceparent header is invalid (conformance suite
    test_traceparent_duplicated: a new trace id is expected)."""
    assert traceparent.parse([VALID, VALID]) is None
    assert traceparent.parse([]) is None


def test_unknown_flags_are_read_and_not_sent() -> None:
    """#trace-flags: bits other than sampled and random are unused in version 00 and sent as zero."""
    context = parse_one(b"00-12345678901234567890123456789012-1234567890123456-ff")
    assert context is not None
    assert context.sampled
    assert traceparent.render(context).endswith(b"-03")


def test_random_flag_is_kept() -> None:
    """#random-trace-id-flag: the random flag (0x02) is a known bit and round-trips."""
    context = parse_one(b"00-12345678901234567890123456789012-1234567890123456-02")
    assert context is not None
    assert context.flags == RANDOM
    assert not context.sampled
    assert traceparent.render(context) == b"00-12345678901234567890123456789012-1234567890123456-02"


def test_render_is_version_00() -> None:
    """#versioning-of-traceparent: we send the version we speak, also when a future one came in."""
    context = parse_one(b"cc-12345678901234567890123456789012-1234567890123456-01-future")
    assert context is not None
    assert traceparent.render(context) == VALID
