"""Request and response heads: one test per rule of RFC 9112 / RFC 9110 that `proxy.http1.head` enforces.

Heads go through `head_end` first, as the forwarder does, so the boundary and the parse are both tested.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.http1.errors import HttpError
from proxy.http1.head import (
    _CODING_THEN_SPACE,
    _FIELDS,
    _HOSTS,
    _MAX_REMEMBERED,
    _STATUS_LINES,
    MAX_EMPTY_LINES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    RequestHead,
    ResponseHead,
    _apply_framing,
    _fields,
    head_end,
    parse_request,
    parse_response,
)
from proxy.http1.responses import error_response


def head(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> bytes:
    return line + b"\r\n" + b"".join(field + b"\r\n" for field in fields) + b"\r\n"


def request(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> RequestHead:
    """A request with `fields` (Host added when none given), parsed as the forwarder does."""
    if not any(field.lower().startswith(b"host:") for field in fields):
        fields = (b"Host: example.com", *fields)
    return parse(head(*fields, line=line))


def parse(raw: bytes) -> RequestHead:
    end = head_end(raw)
    assert end == len(raw), "the head ends at its blank line"
    return parse_request(raw[:end])


def response(*fields: bytes, line: bytes = b"HTTP/1.1 200 OK") -> ResponseHead:
    raw = head(*fields, line=line)
    assert head_end(raw) == len(raw)
    return parse_response(raw)


def refused(raw: bytes, status: int = 400) -> HttpError:
    """`raw` (a request head) is refused with `status`, by `head_end` or by `parse_request`."""
    with pytest.raises(HttpError) as caught:
        end = head_end(raw)
        parse_request(raw[:end] if end >= 0 else raw)
    assert caught.value.status == status, caught.value.reason
    return caught.value


def refused_fields(*fields: bytes, status: int = 400, line: bytes = b"GET / HTTP/1.1") -> HttpError:
    if not any(field.lower().startswith(b"host:") for field in fields):
        fields = (b"Host: example.com", *fields)
    return refused(head(*fields, line=line), status)


def refused_response(*fields: bytes, line: bytes = b"HTTP/1.1 200 OK") -> None:
    with pytest.raises(HttpError):
        parse_response(head(*fields, line=line))


# -- request line (RFC 9112 section 3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "method", [b"GET", b"POST", b"DELETE", b"PROPFIND", b"M-SEARCH", b"X_Y.Z~!#$%&'*+^`|"]
)
def test_method_is_any_token(method: bytes) -> None:
    """RFC 9112 section 3 / RFC 9110 section 9.1: method = token, case-sensitive, extensible."""
    parsed = request(line=method + b" /a HTTP/1.1")
    assert (parsed.method, parsed.target, parsed.http10) == (method, b"/a", False)


@pytest.mark.parametrize("method", [b"G(T", b"G\x80T", b"G\x00T", b"G@T", b"[GET]", b'G"T'])
def test_method_outside_token_is_refused(method: bytes) -> None:
    """RFC 9112 section 3: a request line that does not match the grammar is answered with 400."""
    refused_fields(line=method + b" / HTTP/1.1")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"GET", b"/"),
        (b"GET", b"/a/b?c=d&e=%20f"),
        (b"GET", b"//double"),
        (b"GET", b'/json?q={"a":[1]}|^`'),  # unescaped but printable: common in practice
        (b"GET", b"http://example.com/a?b"),
        (b"GET", b"HTTP://EXAMPLE.COM:8080"),
        (b"GET", b"http://[::1]:80/"),
        (b"OPTIONS", b"*"),
        (b"CONNECT", b"example.com:443"),
        (b"CONNECT", b"[2001:db8::1]:443"),
    ],
)
def test_request_target_forms(method: bytes, target: bytes) -> None:
    """RFC 9112 section 3.2: origin-form, absolute-form, asterisk-form (OPTIONS), authority-form (CONNECT)."""
    parsed = request(line=method + b" " + target + b" HTTP/1.1")
    assert parsed.target == target


def test_raw_high_bytes_in_the_target_pass_through() -> None:
    """RFC 3986 wants ASCII, but servers such as nginx accept raw UTF-8 paths and some clients send them.
    They cannot affect framing, so a transparent proxy forwards them unchanged rather than break traffic
    the application would accept."""
    raw = b"GET /caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: a\r\n\r\n"
    head = parse_request(raw)
    assert head.target == b"/caf\xc3\xa9?q=\xff"
    assert head.serialize(head.headers) == raw


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"GET", b"a"),  # no form at all
        (b"GET", b"?a"),
        (b"GET", b"urn:x"),  # absolute-URI without an authority: no HTTP parser takes it
        (b"GET", b"http://a<b/"),  # not an authority
        (b"GET", b"example.com:443"),  # authority-form is for CONNECT only (section 3.2.3)
        (b"GET", b"*"),  # asterisk-form is for OPTIONS only (section 3.2.4)
        (b"CONNECT", b"/"),
        (b"CONNECT", b"example.com"),  # port required
        (b"CONNECT", b"http://example.com:443"),
        (b"GET", b"/\x7f"),
        (b"GET", b"/a\tb"),
    ],
)
def test_invalid_request_target_is_refused(method: bytes, target: bytes) -> None:
    """RFC 9112 section 3.2: a request-target outside the four forms is a 400."""
    refused_fields(line=method + b" " + target + b" HTTP/1.1")


@pytest.mark.parametrize(
    ("version", "http10", "keep_alive"),
    [(b"HTTP/1.0", True, False), (b"HTTP/1.1", False, True), (b"HTTP/1.9", False, True)],
)
def test_http_1x_versions(version: bytes, http10: bool, keep_alive: bool) -> None:
    """RFC 9112 section 2.3, RFC 9110 section 2.5: a higher 1.x minor version is treated as 1.1."""
    parsed = request(line=b"GET / " + version)
    assert (parsed.http10, parsed.keep_alive) == (http10, keep_alive)
    assert parsed.serialize(parsed.headers).startswith(b"GET / HTTP/1.0" if http10 else b"GET / HTTP/1.1")


@pytest.mark.parametrize("version", [b"HTTP/0.9", b"HTTP/2.0", b"HTTP/3.0", b"HTTP/9.1"])
def test_other_major_versions_get_505(version: bytes) -> None:
    """RFC 9110 section 15.6.6: 505 for a major version the server does not support."""
    refused_fields(line=b"GET / " + version, status=505)


@pytest.mark.parametrize(
    "line",
    [
        b"GET / http/1.1",  # HTTP-name is case-sensitive (section 2.3)
        b"GET / HTTP/1",
        b"GET / HTTP/11",
        b"GET / HTTP/1.10",
        b"GET / HTTP/1.1 ",
        b"GET  / HTTP/1.1",  # exactly one SP between the parts (section 3)
        b"GET /  HTTP/1.1",
        b"GET\t/ HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET /",  # HTTP/0.9 simple request
        b"GET / HTTP/1.1\rX",
    ],
)
def test_malformed_request_line_is_refused(line: bytes) -> None:
    """RFC 9112 section 3: request-line = method SP request-target SP HTTP-version."""
    refused_fields(line=line)


# -- message boundaries (RFC 9112 section 2.2) ------------------------------------------------------


@pytest.mark.parametrize("empty_lines", [1, 2, MAX_EMPTY_LINES])
def test_empty_lines_before_the_request_line_are_ignored(empty_lines: int) -> None:
    """RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line."""
    raw = b"\r\n" * empty_lines + head(b"Host: a", line=b"POST /x HTTP/1.1")
    parsed = parse(raw)
    assert (parsed.method, parsed.target, parsed.host) == (b"POST", b"/x", b"a")
    assert parsed.serialize(parsed.headers) == head(b"Host: a", line=b"POST /x HTTP/1.1")


def test_empty_lines_alone_are_an_incomplete_head() -> None:
    """RFC 9112 section 2.2: the empty lines are skipped, so the head has not started yet."""
    assert head_end(b"\r\n\r\n") == -1
    assert head_end(b"\r\n\r\nGET / HTTP/1.1\r\n") == -1


def test_too_many_empty_lines_are_refused() -> None:
    """RFC 9112 section 2.2 asks for tolerance of "at least one": the tolerance is bounded."""
    refused(b"\r\n" * (MAX_EMPTY_LINES + 1) + head(b"Host: a"))
    with pytest.raises(HttpError):
        head_end(b"\r\n" * (MAX_EMPTY_LINES + 1))


@pytest.mark.parametrize(
    "raw",
    [
        b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n",  # incomplete, but can no longer become valid
    ],
)
def test_bare_lf_is_refused(raw: bytes) -> None:
    """RFC 9112 section 2.2: lines end with CRLF; we do not take the optional bare-LF leniency."""
    refused(raw)


@pytest.mark.parametrize(
    "raw",
    [b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"],
)
def test_bare_cr_is_refused(raw: bytes) -> None:
    """RFC 9112 section 2.2: a bare CR outside content is invalid; we reject rather than replace it."""
    refused(raw)


def test_head_end_is_the_first_blank_line() -> None:
    """RFC 9112 section 2.1: the field section ends at the first empty line; the rest is body or next."""
    first = head(b"Host: a", line=b"POST / HTTP/1.1")
    raw = first + b"\r\n\r\n" + head(b"Host: b")
    assert head_end(raw) == len(first)
    assert head_end(raw, len(first)) == len(raw)  # the two CRLFs after it are skippable empty lines
    assert head_end(first[:-1]) == -1


# -- field lines (RFC 9112 section 5, RFC 9110 section 5) --------------------------------------------


def test_fields_keep_names_values_order_and_case() -> None:
    """RFC 9110 section 5.3: order of same-name fields is significant; names are case-insensitive."""
    parsed = request(b"Host: a", b"X-One: 1", b"x-one: 2", b"Set-Cookie: a=b", b"X-ONE: 3")
    assert parsed.headers == [
        (b"Host", b"a"),
        (b"X-One", b"1"),
        (b"x-one", b"2"),
        (b"Set-Cookie", b"a=b"),
        (b"X-ONE", b"3"),
    ]


@pytest.mark.parametrize("name", [b"X", b"x-y_z", b"!#$%&'*+-.^_`|~09AZaz"])
def test_field_name_is_a_token(name: bytes) -> None:
    """RFC 9110 section 5.1: field-name = token."""
    assert request(name + b": v").headers[-1] == (name, b"v")


@pytest.mark.parametrize("name", [b"", b"a b", b"a(b)", b"[x]", b"a/b", b"a\x80", b"\x00a", b"a=b", b'"a"'])
def test_field_name_outside_token_is_refused(name: bytes) -> None:
    """RFC 9110 section 5.1: a name outside the token grammar makes the message invalid."""
    refused_fields(name + b": v")


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"X: a", b"a"),
        (b"X:a", b"a"),
        (b"X:   a", b"a"),
        (b"X: a   ", b"a"),
        (b"X:\ta\t", b"a"),
        (b"X: \t a b \t c \t ", b"a b \t c"),
        (b"X: \x80\xff obs-text", b"\x80\xff obs-text"),
        (b'X: "quoted, with; separators"', b'"quoted, with; separators"'),
    ],
)
def test_ows_around_values_is_stripped(line: bytes, value: bytes) -> None:
    """RFC 9112 section 5.1 / RFC 9110 section 5.5: OWS around the value is not part of it."""
    assert request(line).headers[-1] == (b"X", value)


@pytest.mark.parametrize("line", [b"X:", b"X: ", b"X:\t \t"])
def test_empty_values(line: bytes) -> None:
    """RFC 9110 section 5.5: field-value = *field-content, so it may be empty."""
    assert request(line).headers[-1] == (b"X", b"")


@pytest.mark.parametrize("fold", [b" folded", b"\tfolded", b"  "])
def test_obs_fold_is_refused(fold: bytes) -> None:
    """RFC 9112 section 5.2: a server that receives obs-fold in a request MUST reject it (400) or replace."""
    refused_fields(b"X: a", fold)


@pytest.mark.parametrize("line", [b"X : a", b"X\t: a", b"Host : a", b"Content-Length : 5"])
def test_whitespace_before_colon_is_refused(line: bytes) -> None:
    """RFC 9112 section 5.1: a server MUST reject whitespace between field name and colon with 400."""
    refused_fields(line)


@pytest.mark.parametrize("ctl", [*range(0x09), *range(0x0A, 0x20), 0x7F])
def test_control_characters_in_values_are_refused(ctl: int) -> None:
    """RFC 9110 section 5.5: field values are VCHAR, obs-text, SP and HTAB; NUL, CR and LF MUST be refused."""
    refused_fields(b"X: a" + bytes([ctl]) + b"b")


@pytest.mark.parametrize("ctl", [0x00, 0x09, 0x0B, 0x1F, 0x7F])
def test_control_characters_in_names_are_refused(ctl: int) -> None:
    """RFC 9110 section 5.1: field-name = token, which has no control characters."""
    refused_fields(b"X" + bytes([ctl]) + b": b")


def test_field_without_colon_is_refused() -> None:
    """RFC 9112 section 5: field-line = field-name ":" OWS field-value OWS."""
    refused_fields(b"no colon here")


def test_at_most_max_headers() -> None:
    """RFC 6585 section 5: too many fields gets 431 (Request Header Fields Too Large)."""
    fields = [b"X-%d: v" % i for i in range(MAX_HEADERS - 1)]
    assert len(request(*fields).headers) == MAX_HEADERS
    refused_fields(*fields, b"X-last: v", status=431)


def _head_of_size(size: int) -> bytes:
    raw = head(b"Host: a", b"X: ")
    return raw[:-4] + b"a" * (size - len(raw)) + b"\r\n\r\n"


def test_head_of_max_bytes_is_accepted() -> None:
    """RFC 9112 section 2.3 lets a server bound the head; the bound is MAX_HEAD_BYTES, inclusive."""
    raw = _head_of_size(MAX_HEAD_BYTES)
    assert len(raw) == MAX_HEAD_BYTES
    assert parse(raw).headers[-1][1] == b"a" * (MAX_HEAD_BYTES - len(head(b"Host: a", b"X: ")))


@pytest.mark.parametrize("received", [MAX_HEAD_BYTES, MAX_HEAD_BYTES + 1, MAX_HEAD_BYTES + 3, None])
def test_larger_head_is_refused_however_it_arrives(received: int | None) -> None:
    """RFC 6585 section 5: an oversized header section gets 431, whether complete or still arriving."""
    raw = _head_of_size(MAX_HEAD_BYTES + 1)
    refused(raw[:received], status=431)


def test_shorter_prefix_of_a_large_head_waits() -> None:
    """Below the bound nothing is decided yet: head_end asks for more bytes."""
    assert head_end(_head_of_size(MAX_HEAD_BYTES + 1)[: MAX_HEAD_BYTES - 1]) == -1


# -- Host (RFC 9112 section 3.2) ---------------------------------------------------------------------


def test_host_is_required_in_http11() -> None:
    """RFC 9112 section 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host."""
    refused(head(b"X: a"))


def test_host_is_optional_in_http10() -> None:
    """RFC 9112 section 3.2: the Host requirement is for HTTP/1.1 requests."""
    assert parse(head(line=b"GET / HTTP/1.0")).host == b""


@pytest.mark.parametrize(
    "fields",
    [
        (b"Host: a", b"Host: a"),
        (b"Host: a", b"host: b"),
        (b"Host:", b"Host: b"),  # the first being empty does not make the second the only one
        (b"Host: a", b"X: y", b"HOST: a"),
    ],
)
@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
def test_more_than_one_host_is_refused(fields: tuple[bytes, ...], version: bytes) -> None:
    """RFC 9112 section 3.2: 400 to any request message with more than one Host field line."""
    refused(head(*fields, line=b"GET / " + version))


@pytest.mark.parametrize(
    "value", [b"", b"example.com", b"example.com:8080", b"[::1]:80", b"a_b.c-d", b"1.2.3.4"]
)
def test_valid_host_values(value: bytes) -> None:
    """RFC 9112 section 3.2: Host = uri-host [ ":" port ]; empty when the target has no authority."""
    assert request(b"Host: " + value).host == value


@pytest.mark.parametrize("value", [b"a b", b"a/b", b"user@a", b"a:b", b"[::1", b"a?b", b"a#b", b"\xc3\xa9"])
def test_invalid_host_value_is_refused(value: bytes) -> None:
    """RFC 9112 section 3.2: 400 to a request with a Host field of invalid value."""
    refused_fields(b"Host: " + value)


# -- Content-Length (RFC 9110 section 8.6, RFC 9112 section 6.3) ------------------------------------


@pytest.mark.parametrize(
    ("value", "length"), [(b"0", 0), (b"5", 5), (b"  7  ", 7), (b"0005", 5), (b"9" * 18, 10**18 - 1)]
)
def test_content_length(value: bytes, length: int) -> None:
    """RFC 9110 section 8.6: Content-Length = 1*DIGIT."""
    parsed = request(b"Content-Length: " + value, line=b"POST / HTTP/1.1")
    assert (parsed.content_length, parsed.chunked) == (length, False)


def test_no_content_length() -> None:
    """RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding has no body."""
    assert request(line=b"POST / HTTP/1.1").content_length == -1


@pytest.mark.parametrize(
    "fields",
    [
        (b"Content-Length: 5, 5",),
        (b"Content-Length: 5,5,5",),
        (b"Content-Length: 5", b"content-length: 5"),
        (b"Content-Length: 5", b"X: y", b"Content-Length: 5, 5"),
    ],
)
def test_identical_repeated_content_length_becomes_one(fields: tuple[bytes, ...]) -> None:
    """RFC 9110 section 8.6: identical repeats MAY be replaced by one valid field before forwarding."""
    parsed = request(*fields, line=b"POST / HTTP/1.1")
    assert parsed.content_length == 5
    lengths = [field for field in parsed.headers if field[0].lower() == b"content-length"]
    assert lengths == [(fields[0].partition(b":")[0], b"5")]
    assert parsed.serialize(parsed.headers).lower().count(b"content-length") == 1
    assert (b"X", b"y") in parsed.headers or b"X: y" not in fields


@pytest.mark.parametrize(
    "fields",
    [
        (b"Content-Length: 5, 6",),
        (b"Content-Length: 5", b"Content-Length: 6"),
        (b"Content-Length: 5, 05",),  # not identical values
        (b"Content-Length: 5,",),  # an empty element is not a length
    ],
)
def test_conflicting_content_length_is_refused(fields: tuple[bytes, ...]) -> None:
    """RFC 9112 section 6.3 rule 5: differing lengths make the framing invalid: 400, close."""
    refused_fields(*fields, line=b"POST / HTTP/1.1")


@pytest.mark.parametrize(
    "value", [b"", b"abc", b"0x5", b"5.0", b"5 5", b"+5", b"-5", b"1e3", b"\xd9\xa5", b"9" * 19, b"1" * 40]
)
def test_content_length_must_be_bounded_digits(value: bytes) -> None:
    """RFC 9110 section 8.6 (1*DIGIT) and RFC 9112 section 6.3 rule 5: anything else is a 400; huge
    values are refused before they could overflow anything downstream."""
    refused_fields(b"Content-Length: " + value, line=b"POST / HTTP/1.1")


# -- Transfer-Encoding (RFC 9112 section 6.1) --------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        (b"Transfer-Encoding: chunked",),
        (b"Transfer-Encoding: Chunked",),
        (b"Transfer-Encoding: CHUNKED",),
        (b"Transfer-Encoding:  chunked  ",),
        (b"Transfer-Encoding: gzip, chunked",),
        (b"Transfer-Encoding: gzip,chunked",),
        (b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"),
    ],
)
def test_chunked_last_frames_the_request(fields: tuple[bytes, ...]) -> None:
    """RFC 9112 section 6.1: coding names are case-insensitive; chunked must be the final coding."""
    parsed = request(*fields, line=b"POST / HTTP/1.1")
    assert (parsed.chunked, parsed.content_length) == (True, -1)


@pytest.mark.parametrize(
    "fields",
    [
        (b"Transfer-Encoding: chunked, gzip",),
        (b"Transfer-Encoding: chunked, identity",),
        (b"Transfer-Encoding: chunked, chunked",),
        (b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"),
        (b"Transfer-Encoding: chunked,",),
        (b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"),
    ],
)
def test_chunked_not_last_is_refused(fields: tuple[bytes, ...]) -> None:
    """RFC 9112 section 6.3 rule 4: a request without chunked last has no determinable length: 400."""
    refused_fields(*fields, line=b"POST / HTTP/1.1")


@pytest.mark.parametrize(
    "value", [b"gzip", b"identity", b"x-custom", b"chunked;q=1", b"chunkedx", b"x chunked"]
)
def test_unknown_coding_gets_501(value: bytes) -> None:
    """RFC 9112 section 6.1: a server that receives a transfer coding it does not understand SHOULD 501."""
    refused_fields(b"Transfer-Encoding: " + value, line=b"POST / HTTP/1.1", status=501)


@pytest.mark.parametrize(
    "fields",
    [
        (b"Transfer-Encoding: chunked", b"Content-Length: 5"),
        (b"Content-Length: 5", b"Transfer-Encoding: chunked"),
        (b"Content-Length: 0", b"Transfer-Encoding: chunked"),
        (b"Content-Length: 5", b"Transfer-Encoding: gzip"),
    ],
)
def test_transfer_encoding_with_content_length_is_refused(fields: tuple[bytes, ...]) -> None:
    """RFC 9112 section 6.1: both fields may be a smuggling attempt; we reject instead of forwarding."""
    refused_fields(*fields, line=b"POST / HTTP/1.1")


@pytest.mark.parametrize(
    "fields",
    [
        (b"Transfer-Encoding:", b"Transfer-Encoding: chunked"),
        (b"Transfer-Encoding: chunked", b"Transfer-Encoding: \t"),
        (b"Transfer-Encoding:",),
    ],
)
def test_empty_transfer_encoding_field_is_refused(fields: tuple[bytes, ...]) -> None:
    """RFC 9112 section 6.1: Transfer-Encoding lists codings. An empty line is skipped by some parsers and
    ends the search for others (llhttp refuses it): refused rather than forwarded."""
    refused_fields(*fields, line=b"POST / HTTP/1.1")


def test_whitespace_after_the_final_coding_is_not_forwarded() -> None:
    """RFC 9110 section 5.5: trailing OWS is not part of the value; the forwarded head goes without it."""
    parsed = request(b"Transfer-Encoding: chunked\t", line=b"POST / HTTP/1.1")
    assert parsed.chunked
    assert b"Transfer-Encoding: chunked\r\n" in parsed.serialize(parsed.headers)


def test_transfer_encoding_in_http10_request_is_refused() -> None:
    """RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing."""
    refused(head(b"Transfer-Encoding: chunked", line=b"POST / HTTP/1.0"))


# -- Connection, Expect, Upgrade (RFC 9112 section 9, RFC 9110 sections 7.6.1, 7.8, 10.1.1) ---------


@pytest.mark.parametrize(
    ("version", "fields", "keep_alive"),
    [
        (b"HTTP/1.1", (), True),
        (b"HTTP/1.1", (b"Connection: close",), False),
        (b"HTTP/1.1", (b"Connection: Close",), False),
        (b"HTTP/1.1", (b"Connection: keep-alive, close",), False),
        (b"HTTP/1.1", (b"Connection: keep-alive", b"Connection: close"), False),
        (b"HTTP/1.1", (b"Connection: xclose",), True),
        (b"HTTP/1.0", (), False),
        (b"HTTP/1.0", (b"Connection: keep-alive",), True),
        (b"HTTP/1.0", (b"Connection: Keep-Alive",), True),
        (b"HTTP/1.0", (b"Connection: keep-alive, close",), False),
    ],
)
def test_connection_persistence(version: bytes, fields: tuple[bytes, ...], keep_alive: bool) -> None:
    """RFC 9112 section 9.3: 1.1 persists unless "close"; 1.0 persists only with "keep-alive"."""
    assert request(*fields, line=b"GET / " + version).keep_alive is keep_alive


def test_connection_options_are_lower_case_tokens() -> None:
    """RFC 9110 section 7.6.1: Connection = #connection-option, case-insensitive tokens."""
    parsed = request(b"Connection: Keep-Alive, Upgrade ,TE", b"Connection: X-Foo")
    assert parsed.connection == [b"keep-alive", b"upgrade", b"te", b"x-foo"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((b"Expect: 100-continue",), True),
        ((b"Expect: 100-Continue",), True),
        ((), False),
        ((b"Expect: something-else",), False),
    ],
)
def test_expect_100_continue(fields: tuple[bytes, ...], expected: bool) -> None:
    """RFC 9110 section 10.1.1: the 100-continue expectation is case-insensitive."""
    assert request(*fields, b"Content-Length: 3", line=b"PUT / HTTP/1.1").expect_continue is expected


@pytest.mark.parametrize(
    ("fields", "upgrade"),
    [
        ((b"Connection: upgrade", b"Upgrade: websocket"), b"websocket"),
        ((b"Upgrade: websocket", b"Connection: keep-alive, Upgrade"), b"websocket"),
        ((b"Upgrade: websocket",), b""),
        ((b"Connection: upgrade",), b""),
    ],
)
def test_upgrade_needs_connection_upgrade(fields: tuple[bytes, ...], upgrade: bytes) -> None:
    """RFC 9110 section 7.8: a sender of Upgrade MUST also send the "upgrade" connection option."""
    assert request(*fields).upgrade == upgrade


H2C_UPGRADE = (b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAAQAAP__")


@pytest.mark.parametrize(
    ("fields", "forwarded"),
    [
        (H2C_UPGRADE, [(b"Host", b"example.com")]),
        (
            (
                b"User-Agent: curl/8",
                b"connection: keep-alive, upgrade,http2-settings",
                b"upgrade: H2C ",
                b"Accept: */*",
            ),
            [
                (b"Host", b"example.com"),
                (b"User-Agent", b"curl/8"),
                (b"connection", b"keep-alive"),
                (b"Accept", b"*/*"),
            ],
        ),
        # Connection without "upgrade": not an upgrade request, so nothing to drop.
        (
            (b"Connection: keep-alive", b"Upgrade: h2c"),
            [(b"Host", b"example.com"), (b"Connection", b"keep-alive"), (b"Upgrade", b"h2c")],
        ),
    ],
)
def test_an_h2c_upgrade_goes_on_as_http1(
    fields: tuple[bytes, ...], forwarded: list[tuple[bytes, bytes]]
) -> None:
    """RFC 7540 section 3.2: followed, the upgrade would hide the connection's later requests in a tunnel."""
    parsed = request(*fields)
    assert parsed.headers == forwarded
    assert parsed.upgrade == b""
    assert b"upgrade" not in parsed.connection and b"http2-settings" not in parsed.connection
    assert parsed.keep_alive


def test_an_h2c_upgrade_may_carry_content() -> None:
    """Not a tunnel once the upgrade is dropped: its body is framed like any other."""
    parsed = request(*H2C_UPGRADE, b"Content-Length: 5", line=b"POST /form HTTP/1.1")
    assert (parsed.content_length, parsed.upgrade) == (5, b"")
    assert parse_request(parsed.serialize(parsed.headers)).headers == parsed.headers


@pytest.mark.parametrize("framing", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_upgrade_or_connect_with_content_is_refused(framing: bytes) -> None:
    """RFC 9110 section 9.3.6 (CONNECT has no content) and 7.8: where the new protocol starts is ambiguous."""
    refused_fields(b"Connection: upgrade", b"Upgrade: websocket", framing)
    refused_fields(framing, line=b"CONNECT example.com:443 HTTP/1.1")


def test_connect_with_zero_length_is_accepted() -> None:
    """RFC 9110 section 9.3.6: Content-Length: 0 announces no content, which is what CONNECT has."""
    assert request(b"Content-Length: 0", line=b"CONNECT example.com:443 HTTP/1.1").content_length == 0


# -- status line and response framing (RFC 9112 sections 4, 6) ---------------------------------------


@pytest.mark.parametrize(
    ("line", "status", "reason", "http10"),
    [
        (b"HTTP/1.1 200 OK", 200, b"OK", False),
        (b"HTTP/1.0 404 Not Found", 404, b"Not Found", True),
        (b"HTTP/1.1 204 ", 204, b"", False),
        (b"HTTP/1.1 204", 204, b"", False),
        (b"HTTP/1.1 599 a\treason \x80 with obs-text", 599, b"a\treason \x80 with obs-text", False),
        (b"HTTP/1.1 100 Continue", 100, b"Continue", False),
    ],
)
def test_status_line(line: bytes, status: int, reason: bytes, http10: bool) -> None:
    """RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]."""
    parsed = response(line=line)
    assert (parsed.status, parsed.reason, parsed.http10) == (status, reason, http10)


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",  # not "200" with reason "0 OK"
        b"HTTP/1.1 2000",
        b"HTTP/1.1 099 Low",  # RFC 9110 section 15: valid codes are 100-599
        b"HTTP/1.1 600 High",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 200 O\x01K",
        b"http/1.1 200 OK",
        b"HTTP/2.0 200 OK",
        b"HTTP/2 200 OK",
        b"\r\nHTTP/1.1 200 OK",
        b"",
    ],
)
def test_malformed_status_line_is_refused(line: bytes) -> None:
    """RFC 9112 section 4: status-code = 3DIGIT; RFC 9110 section 15: 100-599."""
    with pytest.raises(HttpError):
        parse_response(head(line=line))


def test_response_fields_frame_the_body() -> None:
    """RFC 9112 section 6.3: a response's Content-Length and chunked coding are read as for requests."""
    assert response(b"Content-Length: 12").content_length == 12
    assert response(b"Transfer-Encoding: gzip, chunked").chunked
    assert response(b"Connection: close").keep_alive is False


def test_response_without_chunked_last_reads_until_close() -> None:
    """RFC 9112 section 6.3 rule 4: a response whose final coding is not chunked ends at close."""
    parsed = response(b"Transfer-Encoding: chunked, gzip")
    assert (parsed.chunked, parsed.content_length) == (False, -1)


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ((b"Transfer-Encoding: chunked", b"Content-Length: 5"), b"HTTP/1.1 200 OK"),
        ((b"Content-Length: 5", b"Transfer-Encoding: gzip"), b"HTTP/1.1 200 OK"),
        ((b"Transfer-Encoding: chunked",), b"HTTP/1.0 200 OK"),
        ((b"Transfer-Encoding: chunked, chunked",), b"HTTP/1.1 200 OK"),
        ((b"Content-Length: 5, 5",), b"HTTP/1.1 200 OK"),
        ((b"Content-Length: 5", b"Content-Length: 5"), b"HTTP/1.1 200 OK"),
        ((b"Content-Length: 5", b"Content-Length: 6"), b"HTTP/1.1 200 OK"),
        ((b"Transfer-Encoding:", b"Transfer-Encoding: chunked"), b"HTTP/1.1 200 OK"),
        ((b"Transfer-Encoding: chunked\t",), b"HTTP/1.1 200 OK"),  # llhttp: not chunked, read to close
        ((b"transfer-encoding: gzip, chunked ",), b"HTTP/1.1 200 OK"),
    ],
)
def test_ambiguous_response_framing_is_refused(fields: tuple[bytes, ...], line: bytes) -> None:
    """RFC 9112 sections 6.1 and 6.3, RFC 9110 section 8.6: the proxy forwards response heads verbatim, so
    it cannot remove Content-Length beside Transfer-Encoding, fold repeats or drop whitespace as an
    intermediary must; a head that parsers could read two ways is refused."""
    refused_response(*fields, line=line)


# -- serialize ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        head(b"Host: a"),
        head(line=b"GET / HTTP/1.0"),
        head(b"Host: a", b"X-Empty:", b"x-a: 1", b"X-A: 2", b"x-a: 3", line=b"POST /p?q=1 HTTP/1.1"),
        head(b"Host: a", b"Content-Length: 5", b"Cookie: a=b; c=d", b"Cookie: e=f", line=b"PUT /x HTTP/1.1"),
        head(b"Host: [::1]:8080", b"Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ],
)
def test_serialize_round_trips_canonical_heads(raw: bytes) -> None:
    """The forwarded head equals the received one when it was already canonical ("Name: value")."""
    parsed = parse(raw)
    assert parsed.serialize(parsed.headers) == raw


def test_serialize_writes_the_given_fields_in_order() -> None:
    """Trace context is replaced by handing serialize() a new list: it writes exactly that list."""
    parsed = request(b"Host: a", b"traceparent: old", b"X: 1")
    fields = [(b"Host", b"a"), (b"X", b"1"), (b"traceparent", b"new"), (b"x", b"2")]
    assert parsed.serialize(fields) == head(b"Host: a", b"X: 1", b"traceparent: new", b"x: 2")


def test_serialize_normalizes_whitespace() -> None:
    """RFC 9112 section 5.1: OWS is not part of a value, so "Name:value" and "Name:  value " forward alike."""
    parsed = request(b"Host:a", b"X:\t b  ")
    assert parsed.serialize(parsed.headers) == head(b"Host: a", b"X: b")


_FRAMING_NAMES = {b"host", b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"expect"}
_names = st.from_regex(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}", fullmatch=True).filter(
    lambda name: name.lower() not in _FRAMING_NAMES
)
_values = st.from_regex(
    rb"(?:[\x21-\x7e\x80-\xff](?:[\x21-\x7e\x80-\xff \t]{0,20}[\x21-\x7e\x80-\xff])?)?", fullmatch=True
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=20))
def test_serialize_round_trips_any_canonical_field_list(fields: list[tuple[bytes, bytes]]) -> None:
    """Property: any field list in canonical form survives parse + serialize byte for byte."""
    raw = head(b"Host: h", *(b"%s: %s" % field for field in fields)).replace(b": \r\n", b":\r\n")
    parsed = parse(raw)
    assert parsed.headers == [(b"Host", b"h"), *fields]
    assert parsed.serialize(parsed.headers) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_http_errors(data: bytes) -> None:
    """Property: whatever arrives, the parsers answer with a head or an HttpError, nothing else."""
    for raw in (data, data + b"\r\n\r\n", b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n"):
        with contextlib.suppress(HttpError):
            end = head_end(raw)
            if end > 0:
                parse_request(raw[:end])
        with contextlib.suppress(HttpError):
            parse_response(b"HTTP/1.1 200 OK\r\n" + raw)


# -- errors on the wire (RFC 9110 section 15) ---------------------------------------------------------


@pytest.mark.parametrize("status", [400, 431, 501, 502, 505])
def test_error_responses_are_valid_closing_responses(status: int) -> None:
    """RFC 9110 section 15 / RFC 9112 section 9.6: the proxy's own errors are framed and close."""
    wire = error_response(status, "détail\r\nX-Injected: no")
    end = head_end(wire)
    parsed = parse_response(wire[:end])
    assert (parsed.status, parsed.keep_alive) == (status, False)
    assert parsed.content_length == len(wire) - end
    assert not any(name.lower() == b"x-injected" for name, _ in parsed.headers)


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from(
        [
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 300 + b"\r\n\r\nrest",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",  # a bare LF
            b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n",  # incomplete
        ]
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12),
)
def test_resumed_search_finds_what_one_search_finds(head: bytes, cuts: list[int]) -> None:
    """head_end(resume=...) searches only what is new, so a head sent a byte at a time costs linear
    time; the verdict (where the head ends, or the error the request gets) must be the one a single
    search of the whole buffer gives. A bare LF may be refused before the head is complete."""

    def verdict(buffer: bytes, scanned: int) -> int | type[HttpError]:
        try:
            end = head_end(buffer, 0, scanned)
            if end > 0:
                parse_request(buffer[:end])
        except HttpError as error:
            return type(error)
        return end

    expected = verdict(head, 0)
    buffer, scanned, got = b"", 0, verdict(b"", 0)
    for end in [*sorted({c for c in cuts if c < len(head)}), len(head)]:
        buffer = head[:end]
        got = verdict(buffer, scanned)
        if got != -1:
            break
        scanned = len(buffer)
    assert got == expected


_RESPONSE_FRAMING_NAMES = st.sampled_from(
    [
        b"Content-Length",
        b"content-length",
        b"CONTENT-LENGTH",
        b"Transfer-Encoding",
        b"transfer-encoding",
        b"Connection",
        b"connection",
        b"X-Content-Length",
        b"Content-Lengths",
        b"Server",
    ]
)
_RESPONSE_FRAMING_VALUES = st.sampled_from(
    [
        b"0",
        b"12",
        b" 12 ",
        b"12, 12",
        b"12,13",
        b"chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"close",
        b"keep-alive",
        b"Keep-Alive, Upgrade",
        b"",
        b"x",
    ]
)


@settings(max_examples=300)
@given(st.lists(st.tuples(_RESPONSE_FRAMING_NAMES, _RESPONSE_FRAMING_VALUES), max_size=6))
def test_a_response_is_framed_as_if_every_field_were_split(fields: list[tuple[bytes, bytes]]) -> None:
    """Responses split out only their framing fields: the outcome must be that of the full split."""
    raw = head(*(name + b": " + value for name, value in fields), line=b"HTTP/1.1 200 OK")
    start = raw.index(b"\r\n") + 2
    expected: object
    try:
        reference = ResponseHead(200, b"OK", False, raw, start)
        lowered = [(name.lower(), value) for name, value in _fields(raw, start)]
        _apply_framing(reference, lowered, is_request=False)
        if reference.chunked and _CODING_THEN_SPACE.search(raw):  # parse_response's own check
            raise HttpError("whitespace after the final coding")
        expected = (reference.content_length, reference.chunked, reference.connection, reference.keep_alive)
    except HttpError:
        expected = HttpError
    got: object
    try:
        parsed = parse_response(raw)
        got = (parsed.content_length, parsed.chunked, parsed.connection, parsed.keep_alive)
        assert parsed.headers == _fields(raw, start)  # and every field is there on demand
    except HttpError:
        got = HttpError
    assert got == expected


_NAMES = st.sampled_from([b"X-A", b"User-Agent", b"user-agent", b"Accept"])
_OWS = st.sampled_from([b"", b" ", b"\t", b" \t "])
_FIELD_VALUES = st.sampled_from([b"", b"v", b"a b", b"x\tY", b"\x80\xff", b"1"])


@settings(max_examples=300)
@given(st.lists(st.tuples(_NAMES, _OWS, _FIELD_VALUES, _OWS), max_size=6))
def test_request_fields_are_split_as_the_full_field_grammar_splits_them(
    fields: list[tuple[bytes, bytes, bytes, bytes]],
) -> None:
    """The section is checked and split by cheaper expressions when no value ends in whitespace, by
    the full grammar otherwise: either way the fields are those the full grammar finds."""
    raw = head(b"Host: a", *(name + b":" + lead + value + trail for name, lead, value, trail in fields))
    parsed = parse(raw)
    assert parsed.headers == _FIELDS.findall(raw, raw.index(b"\r\n") + 2, len(raw) - 2)
    agents = [value for name, _, value, _ in fields if name.lower() == b"user-agent" and value]
    assert parsed.user_agent == (agents[0] if agents else b"")


def test_remembered_status_lines_and_hosts_stay_bounded_and_answer_as_parsed() -> None:
    """Each distinct status line and Host value is checked once; hostile variety cannot grow the memory."""
    for number in range(2 * _MAX_REMEMBERED):
        parsed = response(b"Content-Length: 0", line=b"HTTP/1.1 200 R%d" % number)
        assert (parsed.status, parsed.reason) == (200, b"R%d" % number)
        assert request(b"Host: h%d.example" % number).host == b"h%d.example" % number
        assert len(_STATUS_LINES) <= _MAX_REMEMBERED and len(_HOSTS) <= _MAX_REMEMBERED
    again = response(b"Content-Length: 0", line=b"HTTP/1.0 404 Not Found")
    assert (again.status, again.reason, again.http10) == (404, b"Not Found", True)
    assert response(b"Content-Length: 0", line=b"HTTP/1.0 404 Not Found").http10
    for line in (b"HTTP/1.1 200 \x00", b"HTTP/2.0 200 OK", b"HTTP/1.1 99 Low"):
        with pytest.raises(HttpError):
            response(b"Content-Length: 0", line=line)
        assert line not in _STATUS_LINES
    refused(head(b"Host: bad host"))
    assert b"bad host" not in _HOSTS
