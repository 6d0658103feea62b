"""Request and response heads (RFC 9112 sections 2-5): parse strictly, keep names, values and order.

The whole field section is validated by one regular expression (one character class per value) and
split by another, so a head costs a few C-level passes instead of a Python loop per line. Anything the
grammar does not allow (bare LF, obs-fold, whitespace before the colon, control characters) is
refused: lenient parsing of framing is what request smuggling feeds on.
"""

from __future__ import annotations

import re

from proxy.http1.errors import (
    BadRequest,
    HeadersTooLarge,
    NotImplementedCoding,
    VersionNotSupported,
)

Header = tuple[bytes, bytes]

MAX_HEAD_BYTES = 64 * 1024  # request line or status line plus the field section, through the blank line
# (the default of `tracecar proxy --max-header-bytes`; nginx allows 32 KiB, Envoy 60 KiB by default)
MAX_HEADERS = 100
MAX_EMPTY_LINES = 8  # CRLFs tolerated before a request line (RFC 9112 section 2.2)

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]++"
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_VALUE = rb"(?:" + _VCHAR + rb"++(?:[ \t]++" + _VCHAR + rb"++)*+)?+"
_FIELD = rb"(" + TOKEN + rb"):[ \t]*+(" + _VALUE + rb")[ \t]*+"
_FIELDS = re.compile(_FIELD + rb"\r\n")
# What `_FIELDS` allows, for a whole section in one pass: each line a token, a colon, then only field
# bytes (RFC 9110 section 5.5: VCHAR, obs-text, SP, HTAB) up to its CRLF. One class repeated per value
# costs a third of the value grammar above, and the bound stands in for counting lines. `_PLAIN_SECTION`
# also wants no whitespace before each CRLF, so that `_PLAIN_FIELDS` can split such a section as
# `_FIELDS` would (the leading whitespace is outside its value group).
_FIELD_BYTES = rb"[\t\x20-\x7e\x80-\xff]*+"
_AT_MOST = b"{0,%d}+" % MAX_HEADERS
_SECTION = re.compile(rb"(?:" + TOKEN + rb":" + _FIELD_BYTES + rb"\r\n)" + _AT_MOST)
_PLAIN_SECTION = re.compile(rb"(?:" + TOKEN + rb":" + _FIELD_BYTES + rb"(?<![ \t])\r\n)" + _AT_MOST)
_PLAIN_FIELDS = re.compile(rb"([^:]++):[ \t]*+([^\r]*+)\r\n")
# Searched in a lower-cased copy of a checked section, where every line follows a LF.
_FRAMING_LINE = re.compile(rb"\n(content-length|transfer-encoding|connection):[ \t]*+([^\r]*+)")
FIELD_LINE = re.compile(_FIELD)  # one field line without its CRLF; trailer sections use it too
_REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e\x80-\xff]++) HTTP/([0-9])\.([0-9])")
# RFC 9110 section 15: valid status codes are 100-599. RFC 9112 section 4: the reason phrase may be empty.
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([1-5][0-9]{2})(?: ([\t \x21-\x7e\x80-\xff]*+))?+")
# RFC 3986 section 3.2.2 host: an IP literal or a reg-name (unreserved, pct-encoded, sub-delims).
_HOST = rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=%-]++\]|[0-9A-Za-z._~!$&'()*+,;=%-]*+)"
_HOST_VALUE = re.compile(_HOST + rb"(?::[0-9]*+)?+")  # RFC 9112 section 3.2: uri-host [ ":" port ]
_AUTHORITY_FORM = re.compile(_HOST + rb":[0-9]++")  # RFC 9112 section 3.2.3, CONNECT only
# RFC 9112 sections 3.2.1-3.2.2: origin-form, or absolute-form with an authority ("scheme://"). Raw
# bytes over 0x7f are tolerated in the path and query: servers such as nginx accept them, some clients
# send them, and they cannot affect framing; refusing them would break traffic the application takes.
_TARGET = re.compile(
    rb"/[\x21-\x7e\x80-\xff]*+|[A-Za-z]++://[0-9A-Za-z._~!$&'()*+,;=%:@\[\]-]*+(?:[/?][\x21-\x7e\x80-\xff]*+)?+"
)
_BARE_LF = re.compile(rb"(?<!\r)\n")
_CODING_THEN_SPACE = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*[ \t]\r\n", re.IGNORECASE)
# Status lines and Host values repeat (a service answers with a handful of statuses; a connection
# names one host): each distinct one is checked once. A full cache starts over, so hostile variety
# costs the check it would have cost anyway and a bounded amount of memory.
_MAX_REMEMBERED = 256
_STATUS_LINES: dict[bytes, tuple[int, bytes, bool]] = {}  # line -> (status, reason, HTTP/1.0)
_HOSTS: set[bytes] = set()

# Lower-case names whose values decide framing or connection handling.
CONTENT_LENGTH = b"content-length"
TRANSFER_ENCODING = b"transfer-encoding"
CONNECTION = b"connection"
USER_AGENT = b"user-agent"
H2C = b"h2c"
_H2C_OPTIONS = frozenset((b"upgrade", b"http2-settings"))  # the fields and options of an h2c upgrade
# Lower-case names a request's parse reads: framing, connection handling, and the span's user agent.
_REQUEST_READS = frozenset(
    (CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, b"upgrade", b"expect", b"host", USER_AGENT)
)


class Head:
    """What both directions share: the version, and what the fields say about framing."""

    __slots__ = ("chunked", "connection", "content_length", "http10", "keep_alive", "raw")

    def __init__(self, http10: bool, raw: bytes) -> None:
        self.http10 = http10
        self.raw = raw  # the head exactly as received, through the blank line
        self.content_length = -1  # -1: none given
        self.chunked = False
        self.connection: list[bytes] = []  # lower-case connection options
        self.keep_alive = not http10


class RequestHead(Head):
    __slots__ = ("expect_continue", "headers", "host", "method", "target", "upgrade", "user_agent")

    def __init__(self, method: bytes, target: bytes, headers: list[Header], http10: bool, raw: bytes) -> None:
        super().__init__(http10, raw)
        self.headers = headers
        self.method = method
        self.target = target
        self.host = b""
        self.expect_continue = False
        self.upgrade = b""  # the Upgrade header's value when Connection asks for an upgrade
        self.user_agent = b""  # the first User-Agent header's value

    def serialize(self, headers: list[Header]) -> bytes:
        """This request line with `headers` (the same fields, trace context replaced)."""
        version = b"HTTP/1.0" if self.http10 else b"HTTP/1.1"
        lines = [b" ".join((self.method, self.target, version))]
        # An empty value goes back as it came, "Name:" without the separating space.
        lines += [b": ".join(field) if field[1] else field[0] + b":" for field in headers]
        lines.append(b"\r\n")
        return b"\r\n".join(lines)


class ResponseHead(Head):
    """A response is forwarded as received: only its framing fields are split out when it is parsed
    (about a third of an HTTP/1 proxy's parsing time went into splitting fields nobody read)."""

    __slots__ = ("fields_start", "reason", "status")

    def __init__(self, status: int, reason: bytes, http10: bool, raw: bytes, fields_start: int) -> None:
        super().__init__(http10, raw)
        self.status = status
        self.reason = reason
        self.fields_start = fields_start

    @property
    def headers(self) -> list[Header]:
        """Every field, in order (split on demand)."""
        return _FIELDS.findall(self.raw, self.fields_start, len(self.raw) - 2)


def head_end(buffer: bytes | bytearray, start: int = 0, resume: int = 0, limit: int = MAX_HEAD_BYTES) -> int:
    """Index just past the blank line ending the head at `start`, or -1 while incomplete.

    `resume` is how far an earlier call for the same head got (the buffer's length then): only the
    bytes after it, and the three before that a terminator may straddle, are searched again, so a
    head that arrives a byte at a time costs linear, not quadratic, time.
    Empty lines before the head are part of it (`parse_request` skips them). Raises when the head
    can no longer be valid: over `limit` bytes, too many empty lines first, or lines ended by a bare LF.
    """
    first = _skip_empty_lines(buffer, start)
    end = buffer.find(b"\r\n\r\n", max(first, resume - 3), first + limit)
    if end >= 0:
        return end + 4
    if _BARE_LF.search(buffer, max(first, resume - 1), first + limit):
        raise BadRequest("line ended by a bare LF (RFC 9112 section 2.2)")
    if len(buffer) - first >= limit:
        raise HeadersTooLarge(f"header section over {limit} bytes")
    return -1


def _skip_empty_lines(buffer: bytes | bytearray, start: int) -> int:
    """RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line."""
    pos = start
    last = len(buffer) - 1
    while pos < last and buffer[pos] == 13 and buffer[pos + 1] == 10:  # CRLF (cheaper than startswith)
        pos += 2
        if pos - start > 2 * MAX_EMPTY_LINES:
            raise BadRequest(f"more than {MAX_EMPTY_LINES} empty lines before the request line")
    return pos


def parse_request(raw: bytes) -> RequestHead:
    """`raw` runs from the request line (after any empty lines) through the blank line (see `head_end`)."""
    start = _skip_empty_lines(raw, 0)
    line_end = raw.find(b"\r\n", start)
    match = _REQUEST_LINE.fullmatch(raw, start, line_end) if raw.endswith(b"\r\n\r\n") else None
    if match is None:
        # Only the line itself: the fields after it may hold credentials, and reasons are logged.
        raise BadRequest(f"malformed request line {raw[start : line_end if line_end >= 0 else None][:200]!r}")
    method, target, major, minor = match.groups()
    if major != b"1":
        raise VersionNotSupported(f"HTTP/{major.decode()}.{minor.decode()} is not HTTP/1.x")
    _check_target(method, target)
    head = RequestHead(method, target, _fields(raw, line_end + 2), minor == b"0", raw)
    _apply_request_fields(head)
    return head


def parse_response(raw: bytes) -> ResponseHead:
    line_end = raw.find(b"\r\n")
    if line_end < 0 or not raw.endswith(b"\r\n\r\n"):
        raise BadRequest(f"malformed status line {raw[: line_end if line_end >= 0 else None][:200]!r}")
    status, reason, http10 = _status_line(raw[:line_end])
    head = ResponseHead(status, reason, http10, raw, line_end + 2)
    _apply_framing(head, _framing_fields(raw, line_end + 2), is_request=False)
    if head.chunked and _CODING_THEN_SPACE.search(raw):
        # The head goes downstream as received, and llhttp takes "chunked<HTAB>" as not chunked.
        raise BadRequest("whitespace after the final transfer coding of a response")
    return head


def _status_line(line: bytes) -> tuple[int, bytes, bool]:
    known = _STATUS_LINES.get(line)
    if known is not None:
        return known
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise BadRequest(f"malformed status line {line[:200]!r}")
    major, minor, status, reason = match.groups()
    if major != b"1":
        raise BadRequest(f"HTTP/{major.decode()}.{minor.decode()} response on an HTTP/1 connection")
    if len(_STATUS_LINES) >= _MAX_REMEMBERED:
        _STATUS_LINES.clear()
    parsed = _STATUS_LINES[line] = (int(status), reason or b"", minor == b"0")
    return parsed


def _valid_host(host: bytes) -> bool:
    if host in _HOSTS:
        return True
    if _HOST_VALUE.fullmatch(host) is None:
        return False
    if len(_HOSTS) >= _MAX_REMEMBERED:
        _HOSTS.clear()
    _HOSTS.add(host)
    return True


def _check_target(method: bytes, target: bytes) -> None:
    """RFC 9112 section 3.2: authority-form is for CONNECT only, asterisk-form for OPTIONS only."""
    if method == b"CONNECT":
        valid = _AUTHORITY_FORM.fullmatch(target) is not None
    elif target == b"*":
        valid = method == b"OPTIONS"
    else:
        valid = _TARGET.fullmatch(target) is not None
    if not valid:
        raise BadRequest(f"invalid request target for {method[:20]!r}: {target[:200]!r}")


def _checked_section(raw: bytes, start: int, pattern: re.Pattern[bytes] = _SECTION) -> int:
    """The field section from `start` against the grammar and the field count; where it ends, or -1
    when only `pattern` refused it (a stricter one than `_SECTION`)."""
    end = len(raw) - 2  # the final CRLF
    if pattern.fullmatch(raw, start, end) is not None:
        return end
    if raw.count(b"\r\n", start, end) > MAX_HEADERS:  # each field line ends in one
        raise HeadersTooLarge(f"more than {MAX_HEADERS} header fields")
    if pattern is _SECTION or _SECTION.fullmatch(raw, start, end) is None:
        raise BadRequest(_diagnose(raw[start:end]))
    return -1


def _fields(raw: bytes, start: int) -> list[Header]:
    end = _checked_section(raw, start, _PLAIN_SECTION)
    if end < 0:  # some value ends in whitespace, which is not part of it (RFC 9110 section 5.5)
        fields: list[Header] = _FIELDS.findall(raw, start, len(raw) - 2)
        return fields
    plain: list[Header] = _PLAIN_FIELDS.findall(raw, start, end)
    return plain


def _framing_fields(raw: bytes, start: int) -> list[Header]:
    """The section checked as `_fields` does, but only the fields framing needs split out (names and
    values lower-cased, values with any trailing whitespace: `_apply_framing` strips them)."""
    end = _checked_section(raw, start)
    fields: list[Header] = _FRAMING_LINE.findall(raw.lower(), start - 1, end)
    return fields


def _diagnose(block: bytes) -> str:
    """Name the first problem in a field section the grammar refused (the slow, rare path)."""
    for number, line in enumerate(block.split(b"\r\n"), start=1):
        if line[:1] in (b" ", b"\t"):
            return f"obsolete line folding in header line {number} (RFC 9112 section 5.2)"
        name, colon, value = line.partition(b":")
        if not colon:
            return f"header line {number} has no colon"
        if name != name.rstrip(b" \t"):
            return f"whitespace before the colon in header line {number} (RFC 9112 section 5.1)"
        if re.fullmatch(TOKEN, name) is None:
            return f"invalid header name in line {number}: {name[:100]!r}"
        if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value):
            return f"control character in the value of {name[:100]!r} (RFC 9110 section 5.5)"
    return "malformed header section"


def _apply_request_fields(head: RequestHead) -> None:
    """Framing, Host, Expect, Upgrade and User-Agent, in one pass over the fields."""
    framing: list[Header] = []
    hosts = 0
    upgrade = b""
    for name, value in head.headers:
        key = name.lower()
        if key not in _REQUEST_READS:
            continue
        if key == b"host":
            hosts += 1
            head.host = value
        elif key == b"expect":
            head.expect_continue = head.expect_continue or value.lower() == b"100-continue"
        elif key == b"upgrade":
            upgrade = value
        elif key == USER_AGENT:
            head.user_agent = head.user_agent or value
        else:
            framing.append((key, value))
    _apply_framing(head, framing, is_request=True)
    if b"upgrade" in head.connection:
        _apply_upgrade(head, upgrade)
    # RFC 9112 section 3.2: 400 for a missing Host (HTTP/1.1), several Host lines, or an invalid value.
    if hosts > 1:
        raise BadRequest("more than one Host header (RFC 9112 section 3.2)")
    if not hosts and not head.http10:
        raise BadRequest("HTTP/1.1 request without Host (RFC 9112 section 3.2)")
    if not _valid_host(head.host):
        raise BadRequest(f"invalid Host {head.host[:100]!r} (RFC 9112 section 3.2)")
    _check_tunnel_content(head)


def _apply_upgrade(head: RequestHead, upgrade: bytes) -> None:
    """RFC 9110 section 7.8: Upgrade counts only with the "upgrade" option (the caller checks that)."""
    if upgrade.strip(b" \t").lower() == H2C:
        _drop_h2c_upgrade(head)
    else:
        head.upgrade = upgrade


def _drop_h2c_upgrade(head: RequestHead) -> None:
    """An upgrade to HTTP/2 over cleartext (RFC 7540 section 3.2) goes upstream as plain HTTP/1.1.

    Followed, the connection would become a tunnel of HTTP/2 the proxy cannot see into: every later
    request on it would be missing from the trace. Upgrade, HTTP2-Settings and their Connection
    options are hop-by-hop (RFC 9110 section 7.6.1), so a proxy may drop them, and a client must carry
    on with HTTP/1.1 when no 101 comes (RFC 9110 section 7.8); Envoy does the same. RFC 9113 deprecates
    this upgrade; clients that want HTTP/2 in cleartext send its preface, which the sidecar traces.
    """
    fields: list[Header] = []
    for name, value in head.headers:
        key = name.lower()
        if key == CONNECTION:
            options = [
                option for option in value.split(b",") if option.strip(b" \t").lower() not in _H2C_OPTIONS
            ]
            if options:
                fields.append((name, b",".join(options).strip(b" \t")))
        elif key not in _H2C_OPTIONS:
            fields.append((name, value))
    head.headers = fields
    head.connection = [option for option in head.connection if option not in _H2C_OPTIONS]


def _check_tunnel_content(head: RequestHead) -> None:
    """Refuse content on a request that may turn the connection into a tunnel.

    RFC 9110 section 9.3.6: CONNECT has no content. An upgrade request's content is framed before the
    switch (RFC 9110 section 7.8), but parsers such as llhttp take the bytes after the head as the new
    protocol; forwarding both readings is how a smuggled request would slip past us.
    """
    has_content = head.chunked or head.content_length > 0
    if has_content and (head.method == b"CONNECT" or head.upgrade):
        raise BadRequest("content on a CONNECT or Upgrade request")


def _apply_framing(head: Head, fields: list[Header], is_request: bool) -> None:
    """Content-Length, Transfer-Encoding and Connection (by lower-case name; other fields are
    ignored), per RFC 9112 sections 6 and 9."""
    lengths: list[bytes] = []
    codings: list[bytes] = []
    for key, value in fields:
        if key == CONTENT_LENGTH:
            lengths += [part.strip(b" \t") for part in value.split(b",")]
        elif key == TRANSFER_ENCODING:
            if not value:  # one parser skips it, another stops at it: RFC 9112 section 6.1 wants a coding
                raise BadRequest("empty Transfer-Encoding field")
            codings += [part.strip(b" \t") for part in value.lower().split(b",")]
        elif key == CONNECTION:
            head.connection += [part.strip(b" \t") for part in value.lower().split(b",")]
    if codings:
        _apply_transfer_coding(head, codings, bool(lengths), is_request)
    elif lengths:
        head.content_length = _content_length(lengths)
        if len(lengths) > 1:
            if not isinstance(head, RequestHead):
                # A response head is forwarded as received: one that repeats its length is refused.
                raise BadRequest("repeated Content-Length in a response (RFC 9110 section 8.6)")
            _single_content_length(head)
    if b"close" in head.connection:
        head.keep_alive = False
    elif b"keep-alive" in head.connection:
        head.keep_alive = True


def _apply_transfer_coding(head: Head, codings: list[bytes], has_length: bool, is_request: bool) -> None:
    if has_length:
        raise BadRequest("both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)")
    if head.http10:
        # Section 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty.
        raise BadRequest("Transfer-Encoding in an HTTP/1.0 message (RFC 9112 section 6.1)")
    chunked_at = [i for i, coding in enumerate(codings) if coding == b"chunked"]
    if len(chunked_at) > 1:
        # Some parsers take the first, some the last: a response splitter's favourite.
        raise BadRequest("chunked applied more than once (RFC 9112 section 6.1)")
    if chunked_at == [len(codings) - 1]:
        head.chunked = True
    elif is_request:
        # Without chunked last the request's length cannot be known (RFC 9112 section 6.3).
        if chunked_at:
            raise BadRequest("chunked is not the final transfer coding")
        raise NotImplementedCoding(f"transfer coding {b','.join(codings)[:100]!r} is not supported")
    # A response without chunked last is read until the connection closes (section 6.3).


def _content_length(values: list[bytes]) -> int:
    """RFC 9112 section 6.3: identical repeats are one value; anything else is invalid framing."""
    first = values[0]
    # bytes.isdigit() is ASCII digits only; 18 digits fit in an int64 whatever they are.
    if not first.isdigit() or len(first) > 18 or any(value != first for value in values):
        raise BadRequest(f"invalid or conflicting Content-Length {b', '.join(values)[:100]!r}")
    return int(first)


def _single_content_length(head: RequestHead) -> None:
    """RFC 9110 section 8.6: repeated identical lengths become one field before the message is forwarded
    (a request is forwarded re-serialized from `headers`, so the repeats are dropped there)."""
    value = b"%d" % head.content_length
    fields: list[Header] = []
    for name, field_value in head.headers:
        if name.lower() != CONTENT_LENGTH:
            fields.append((name, field_value))
        elif value:
            fields.append((name, value))
            value = b""
    head.headers = fields
