"""Differential test of the request parser against llhttp (Node.js's parser, through httptools).

Request smuggling lives in the gaps between two parsers' readings of the same bytes. For every request,
valid or mutated, the rules are:

* when we accept, llhttp reads the same method, target, version, header list, body and trailers, and
  ends the message at the same byte; and llhttp reads the bytes we forward upstream the same way again;
* when llhttp refuses, we refuse too.

We may be stricter than llhttp: each class of input we refuse and llhttp takes is listed in
DELIBERATE_DIFFERENCES with its justification, and a disagreement only passes when the input really is
in one of those classes. The few classes we accept and llhttp refuses are in ACCEPTED_WHERE_LLHTTP_REFUSES;
for those the forwarded bytes must still be read by llhttp exactly as we read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.http1 import framing
from proxy.http1.errors import HttpError
from proxy.http1.head import (
    MAX_EMPTY_LINES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    RequestHead,
    head_end,
    parse_request,
)

Fields = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Message:
    method: bytes
    target: bytes
    version: str
    headers: Fields
    body: bytes  # decoded content
    trailers: Fields
    keep_alive: bool
    length: int  # bytes of input the message took, from its first byte through its last


@dataclass(frozen=True)
class Refused:
    reason: str


INCOMPLETE = "incomplete"
Verdict = Message | Refused | str


# -- our reading -------------------------------------------------------------------------------------


def ours(data: bytes) -> tuple[Verdict, RequestHead | None]:
    """Our verdict on the first request in `data`, the way the forwarder frames it."""
    try:
        end = head_end(data)
        if end < 0:
            return INCOMPLETE, None
        head = parse_request(data[:end])
        reader = framing.request_body(head)
        stop = reader.feed(data, end)
    except HttpError as error:
        return Refused(f"{error.status} {error.reason}"), None
    if not reader.done:
        return INCOMPLETE, head
    raw_body = data[end:stop]
    body, trailers = decode_chunked(raw_body) if head.chunked else (raw_body, [])
    version = "1.0" if head.http10 else "1.1"
    message = Message(head.method, head.target, version, head.headers, body, trailers, head.keep_alive, stop)
    return message, head


def decode_chunked(raw: bytes) -> tuple[bytes, Fields]:
    """Decode a chunked body the ChunkedReader accepted (so the grammar is already known to be right)."""
    content, position = b"", 0
    while True:
        line_end = raw.index(b"\r\n", position)
        size = int(raw[position:line_end].split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            break
        content += raw[position : position + size]
        position += size + 2
    lines = raw[position:-2].split(b"\r\n")[:-1]  # each trailer line ends with CRLF, then one more
    trailers = [(name, value.strip(b" \t")) for name, _, value in (line.partition(b":") for line in lines)]
    return content, trailers


# -- llhttp's reading --------------------------------------------------------------------------------


@dataclass
class _Collector:
    parser: httptools.HttpRequestParser | None = None
    url: bytes = b""
    headers: Fields = field(default_factory=list)
    trailers: Fields = field(default_factory=list)
    body: bytes = b""
    head: tuple[bytes, str, bool] | None = None  # method, version, keep-alive
    complete: bool = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps trailing whitespace in values; RFC 9110 section 5.5 says it is not part of them.
        (self.trailers if self.head else self.headers).append((name, value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        assert parser is not None
        self.head = (parser.get_method(), parser.get_http_version(), parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def llhttp(data: bytes) -> Verdict:
    """llhttp's verdict on the first request in `data`. Fed byte by byte to learn where it ends."""
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    collector.parser = parser
    for index in range(len(data)):
        try:
            parser.feed_data(data[index : index + 1])
        except httptools.HttpParserUpgrade:
            pass  # CONNECT or Upgrade: the message ends with its head, tunnel bytes follow
        except httptools.HttpParserError as error:
            return Refused(f"{type(error).__name__}: {error}")
        if collector.complete:
            assert collector.head is not None
            method, version, keep_alive = collector.head
            body, trailers = collector.body, collector.trailers
            return Message(
                method, collector.url, version, collector.headers, body, trailers, keep_alive, index + 1
            )
    return INCOMPLETE


# -- where we differ on purpose ----------------------------------------------------------------------


class Difference(NamedTuple):
    justification: str
    applies: Callable[[bytes], bool]


def _lenient(data: bytes) -> tuple[list[bytes], Fields, bytes]:
    """Split a request as loosely as possible: request-line words, (lower-case name, value) pairs, rest.

    Deliberately independent of the parser under test: it is how the classes below recognise inputs.
    """
    text = data.lstrip(b"\r\n")
    head, _, rest = text.partition(b"\r\n\r\n")
    lines = re.split(rb"\r\n|\n", head)
    pairs = [
        (name.strip(b" \t").lower(), value.strip(b" \t"))
        for name, _, value in (x.partition(b":") for x in lines[1:])
    ]
    return lines[0].split(b" "), pairs, rest


def _values(data: bytes, name: bytes) -> list[bytes]:
    return [value for key, value in _lenient(data)[1] if key == name]


def _words(data: bytes) -> list[bytes]:
    return _lenient(data)[0]


def _version_is(pattern: bytes) -> Callable[[bytes], bool]:
    return lambda data: re.fullmatch(pattern, _words(data)[-1]) is not None


def _leading_empty_lines(data: bytes) -> bool:
    lead = re.match(rb"[\r\n]*", data)
    assert lead is not None
    run = lead.group()
    return run.replace(b"\r\n", b"") != b"" or len(run) > 2 * MAX_EMPTY_LINES


def _request_line_spacing(data: bytes) -> bool:
    line = re.split(rb"\r\n|\n", data.lstrip(b"\r\n"), maxsplit=1)[0]
    return re.fullmatch(rb"[^ ]+ [^ ]+ [^ ]+", line) is None


def _target_form(data: bytes) -> bool:
    words = _words(data)
    method, target = words[0], words[1] if len(words) > 1 else b""
    if method == b"CONNECT":
        return re.fullmatch(rb"[^/?#@]+:[0-9]+", target) is None
    if target == b"*":
        return method != b"OPTIONS"
    return not target.startswith(b"/") and re.match(rb"[A-Za-z]+://", target) is None


def _host_field(data: bytes) -> bool:
    hosts = _values(data, b"host")
    http11 = not _words(data)[-1].endswith(b"/1.0")
    valid = all(
        re.fullmatch(rb"(?:\[[\w:.~!$&'()*+,;=%-]+\]|[\w.~!$&'()*+,;=%-]*)(?::[0-9]*)?", host)
        for host in hosts
    )
    return len(hosts) > 1 or (http11 and not hosts) or not valid


def _tunnel_with_content(data: bytes) -> bool:
    connection = b",".join(_values(data, b"connection")).lower()
    tunnel = _words(data)[0] == b"CONNECT" or (b"upgrade" in connection and bool(_values(data, b"upgrade")))
    lengths = [value for value in _values(data, b"content-length") if value.strip(b"0")]
    return tunnel and bool(lengths or _values(data, b"transfer-encoding"))


def _chunk_size_digits(data: bytes) -> bool:
    return re.search(rb"(?:\A|\n)[0-9A-Fa-f]{17}", _lenient(data)[2]) is not None


def _chunk_extension(data: bytes) -> bool:
    # ";=b" (no name), ";a=" (no value), ";;a" or a closing ";" (a name left out altogether)
    return re.search(rb";=|;[^\r\n;=]*=(?:\r|;)|;[ \t]*(?:;|\r)", _lenient(data)[2]) is not None


def _size(data: bytes) -> bool:
    _, pairs, _ = _lenient(data)
    return len(pairs) > MAX_HEADERS or data.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 2 * MAX_EMPTY_LINES) < 0


DELIBERATE_DIFFERENCES: dict[str, Difference] = {
    "empty lines before the request line": Difference(
        "RFC 9112 section 2.2: a server SHOULD ignore at least one empty line (CRLF) before the request "
        "line. We ignore up to MAX_EMPTY_LINES CRLFs; llhttp also skips bare CR/LF and any number of them.",
        _leading_empty_lines,
    ),
    "HTTP major version other than 1": Difference(
        "RFC 9110 sections 2.5 and 15.6.6: HTTP/0.9 or HTTP/2.0 in an HTTP/1 request line gets 505; llhttp "
        "reports the version and parses on.",
        _version_is(rb"HTTP/[02-9]\.[0-9]"),
    ),
    "request line spacing": Difference(
        "RFC 9112 section 3: request-line = method SP request-target SP HTTP-version, one SP each; lenient "
        "splitting on whitespace runs is only a MAY, and a 400 is the safe answer.",
        _request_line_spacing,
    ),
    "request-target form": Difference(
        "RFC 9112 section 3.2: origin-form or absolute-form in general, asterisk-form only for OPTIONS "
        "(3.2.4), authority-form host:port for CONNECT and only for it (3.2.3); llhttp takes e.g. 'GET *a'.",
        _target_form,
    ),
    "Host missing, repeated or invalid": Difference(
        "RFC 9112 section 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host, to any request "
        "with more than one Host line, and to an invalid Host value; llhttp leaves Host to the application.",
        _host_field,
    ),
    "Transfer-Encoding in HTTP/1.0": Difference(
        "RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as having faulty "
        "framing; llhttp reads it as chunked.",
        lambda data: _version_is(rb"HTTP/1\.0")(data) and bool(_values(data, b"transfer-encoding")),
    ),
    "chunked applied twice": Difference(
        "RFC 9112 section 6.1: a sender MUST NOT apply chunked more than once. llhttp refuses a plain repeat "
        "but misses one hidden by a trailing HTAB ('chunked<HTAB>' then 'chunked'); we refuse every repeat.",
        lambda data: (
            sum(
                part.strip(b" \t").lower() == b"chunked"
                for value in _values(data, b"transfer-encoding")
                for part in value.split(b",")
            )
            > 1
        ),
    ),
    "content on CONNECT or Upgrade": Difference(
        "RFC 9110 section 9.3.6: CONNECT has no content; for an Upgrade, section 7.8 frames the content "
        "before the switch while llhttp takes the bytes after the head as the new protocol. Two readings "
        "of the same bytes is the smuggling gap, so we refuse both.",
        _tunnel_with_content,
    ),
    "Content-Length over 18 digits": Difference(
        "RFC 9110 section 8.6: recipients must avoid overflow when parsing Content-Length; we bound it at "
        "18 digits (under 2**63) where llhttp allows up to 2**64-1.",
        lambda data: any(
            len(part.strip()) > 18 for value in _values(data, b"content-length") for part in value.split(b",")
        ),
    ),
    "chunk size over 16 hex digits": Difference(
        "RFC 9112 section 7.1: recipients must anticipate large chunk sizes and prevent overflow; we bound "
        "the size at 16 digits, leading zeros included, where llhttp counts only the value.",
        _chunk_size_digits,
    ),
    "empty chunk extension name or value": Difference(
        "RFC 9112 section 7.1.1: chunk-ext-name is a token and chunk-ext-val a token or quoted-string, "
        "neither empty unquoted; llhttp takes ';=b', ';a=' and ';;a'.",
        _chunk_extension,
    ),
    "header section too large": Difference(
        "RFC 6585 section 5 (431) and RFC 9112 section 2.3: a server bounds the head; llhttp leaves the "
        "bound to its application.",
        _size,
    ),
}


def _extension_method(data: bytes) -> bool:
    method = _words(data)[0]
    return isinstance(llhttp(method + b" / HTTP/1.1\r\nHost: a\r\n\r\n"), Refused)


def _obs_text_target(data: bytes) -> bool:
    words = _words(data)
    return len(words) == 3 and re.search(rb"[\x80-\xff]", words[1]) is not None


ACCEPTED_WHERE_LLHTTP_REFUSES: dict[str, Difference] = {
    "obs-text in the request target": Difference(
        "RFC 9112 section 3.2 wants ASCII, but servers such as nginx accept raw UTF-8 paths and some "
        "clients send them; refusing would break traffic the application accepts, and the bytes do not "
        "touch framing. Forwarded unchanged; the framing check swaps them for '_'.",
        _obs_text_target,
    ),
    "extension method": Difference(
        "RFC 9110 sections 9.1 and 16.1: the method set is extensible (any token); llhttp knows a fixed list "
        "and refuses others in the request line, before any framing is read. The forwarded request is "
        "checked with the method swapped for POST.",
        _extension_method,
    ),
    "HTTP/1.x with x > 1": Difference(
        "RFC 9110 section 2.5: a higher minor version SHOULD be processed as the highest one we implement, "
        "1.1; the request is forwarded as HTTP/1.1.",
        _version_is(rb"HTTP/1\.[2-9]"),
    ),
    "HTAB after the final transfer coding": Difference(
        "RFC 9110 section 5.5: whitespace around a field value is not part of it. llhttp keeps a trailing "
        "HTAB in Transfer-Encoding and then finds no final chunked; the forwarded head has no HTAB.",
        lambda data: re.search(rb"(?i)\ntransfer-encoding:[^\r\n]*\t[ \t]*\r?\n", data) is not None,
    ),
    "repeated identical Content-Length": Difference(
        "RFC 9110 section 8.6: identical repeats MAY be replaced by one field before forwarding; we forward "
        "exactly one Content-Length, which llhttp then reads.",
        lambda data: (
            len([part for value in _values(data, b"content-length") for part in value.split(b",")]) > 1
        ),
    ),
}


def classes(table: dict[str, Difference], data: bytes) -> list[str]:
    return [name for name, difference in table.items() if difference.applies(data)]


# -- the comparison ----------------------------------------------------------------------------------


def assert_same(mine: Message, theirs: Verdict, what: str) -> None:
    assert isinstance(theirs, Message), f"llhttp refuses {what}: {theirs}"
    assert (theirs.method, theirs.target, theirs.version) == (mine.method, mine.target, mine.version), what
    assert theirs.headers == mine.headers, what
    assert (theirs.body, theirs.trailers) == (mine.body, mine.trailers), what
    assert theirs.length == mine.length, (
        f"{what}: llhttp ends the message at {theirs.length}, we at {mine.length}"
    )
    assert theirs.keep_alive or not mine.keep_alive, f"{what}: we keep a connection llhttp would close"


def check_forwarded(mine: Message, head: RequestHead, data: bytes, accepted: list[str]) -> None:
    """What we send upstream is read by llhttp exactly as we read what we received."""
    forwarded = head.serialize(head.headers) + data[head_end(data) : mine.length]
    method, target = mine.method, mine.target
    if "extension method" in accepted:  # llhttp stops at the method: swap in one it knows
        method, forwarded = b"POST", b"POST" + forwarded[len(mine.method) :]
    if "obs-text in the request target" in accepted:  # likewise for the target's high bytes
        target = re.sub(rb"[\x80-\xff]", b"_", mine.target)
        forwarded = forwarded.replace(b" " + mine.target + b" ", b" " + target + b" ", 1)
    expected = Message(
        method,
        target,
        mine.version,
        mine.headers,
        mine.body,
        mine.trailers,
        mine.keep_alive,
        len(forwarded),
    )
    assert_same(expected, llhttp(forwarded + b"GET /next HTTP/1.1\r\n\r\n"), f"forwarded {forwarded!r}")


def compare(data: bytes) -> str:
    """Check the rules of the module docstring for `data`; return how the two parsers related."""
    mine, head = ours(data)
    theirs = llhttp(data)
    if isinstance(mine, Message):
        assert head is not None
        accepted = classes(ACCEPTED_WHERE_LLHTTP_REFUSES, data)
        if isinstance(theirs, Message):
            assert_same(mine, theirs, f"received {data!r}")
        else:
            assert accepted, f"we accept what llhttp does not ({theirs}): {data!r}"
        check_forwarded(mine, head, data, accepted)
        return "agree" if isinstance(theirs, Message) else "accepted: " + ", ".join(accepted)
    if isinstance(theirs, Message):
        assert isinstance(mine, Refused), f"llhttp completes a message we are still reading: {data!r}"
        refused = classes(DELIBERATE_DIFFERENCES, data)
        assert refused, f"we refuse ({mine.reason}) what llhttp accepts, outside the listed classes: {data!r}"
        return "refused: " + ", ".join(refused)
    if isinstance(mine, Refused):
        return "both refuse" if isinstance(theirs, Refused) else "we refuse, llhttp waits for more"
    return "incomplete"


# -- targeted cases ----------------------------------------------------------------------------------

POST = b"POST / HTTP/1.1\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"

SMUGGLING = [
    # Content-Length
    POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    POST + b"Content-Length: 5, 6\r\n\r\nhello!",
    POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    POST + b"Content-Length: 5, 5\r\n\r\nhello",
    POST + b"Content-Length: +5\r\n\r\nhello",
    POST + b"Content-Length: 0x5\r\n\r\nhello",
    POST + b"Content-Length: 5 5\r\n\r\nhello",
    POST + b"Content-Length:\r\n\r\n",
    POST + b"Content-Length: 00005\r\n\r\nhello",
    POST + b"Content-Length: 5 \r\n\r\nhello",
    POST + b"Content-Length: 18446744073709551615\r\n\r\nhello",
    POST + b"Content-Length: 99999999999999999999\r\n\r\n",
    POST + b"Content-Length: 0000000000000000005\r\n\r\nhello",
    POST + b"Content-Length : 5\r\n\r\nhello",
    POST + b"Content-Length\t: 5\r\n\r\nhello",
    POST + b" Content-Length: 5\r\n\r\nhello",
    POST + b"X: a\r\n Content-Length: 5\r\n\r\nhello",
    POST + b"Content-Length: 5\x00\r\n\r\nhello",
    POST + b"Content_Length: 5\r\n\r\nhello",
    # Content-Length with Transfer-Encoding
    POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    POST + b"Content-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc",
    # Transfer-Encoding variants
    *(
        POST + b"Transfer-Encoding:" + value + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        for value in [
            b" chunked",
            b"chunked",
            b"  chunked  ",
            b"\tchunked",
            b" Chunked",
            b" CHUNKED",
            b" chunked, identity",
            b" identity, chunked",
            b" gzip, chunked",
            b" chunked, chunked",
            b" chunked,",
            b" ,chunked",
            b" chunked;q=1",
            b" xchunked",
            b" chunkedx",
            b" x chunked",
            b" chunked\x0b",
            b" \x0bchunked",
            b" identity",
            b"",
        ]
    ),
    POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: gzip\t, chunked\r\n\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: chunked\t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    # chunked body grammar
    *(
        CHUNKED + body
        for body in [
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5;a=b\r\nhello\r\n0\r\n\r\n",
            b'5;a="b c"\r\nhello\r\n0\r\n\r\n',
            b"5 ;a=b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;;a\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"00000000000000005\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"5\r\nhello\r\n0\n\r\n",
            b"5\r\nhello\r\n0\r\nX: a\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX : a\r\n\r\n",
            b"5\r\nhello\r\n0\r\n X: a\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n",
            b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
            b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: \x00\r\n\r\n",
            b"3\r\n0\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        ]
    ),
    # heads
    POST + b"X: a\r\n b\r\n\r\n",
    POST + b"X: a\rb\r\n\r\n",
    POST + b"X: a\nContent-Length: 5\r\n\r\nhello",
    POST + b"X: a\x00\r\n\r\n",
    POST + b"X\x00: a\r\n\r\n",
    POST + b"X: a\x7f\r\n\r\n",
    POST + b"X: \x80\xff\r\n\r\n",
    POST + b"Host: b\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n" * (MAX_EMPTY_LINES + 1) + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET / HTTP/0.9\r\nHost: a\r\n\r\n",
    b"GET / http/1.1\r\nHost: a\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET a HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"FOO / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * MAX_HEADERS + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n",
    # tunnels
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\nhello",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"CONNECT /a HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: ws\r\nContent-Length: 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: ws\r\nContent-Length: 5\r\n\r\nhello",
]


@pytest.mark.parametrize("data", SMUGGLING)
def test_smuggling_vectors(data: bytes) -> None:
    """Each classic smuggling shape: the parsers agree, both refuse, or we differ for a listed reason."""
    compare(data)


def test_every_listed_difference_occurs() -> None:
    """The lists are not stale: each class is exhibited by a targeted case, and is the reason it differs."""
    outcomes = [compare(data) for data in SMUGGLING]
    for name in DELIBERATE_DIFFERENCES:
        assert any(outcome.startswith("refused") and name in outcome for outcome in outcomes), name
    for name in ACCEPTED_WHERE_LLHTTP_REFUSES:
        assert any(outcome.startswith("accepted") and name in outcome for outcome in outcomes), name


def test_the_differential_is_not_vacuous() -> None:
    """Both parsers agree on a good share of the targeted cases, and both refuse a good share."""
    outcomes = [compare(data) for data in SMUGGLING]
    assert outcomes.count("agree") >= 20
    assert outcomes.count("both refuse") >= 40


# -- generated requests ------------------------------------------------------------------------------

_token = st.from_regex(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,10}", fullmatch=True)
_value = st.from_regex(
    rb"(?:[\x21-\x7e\x80-\xff](?:[\x21-\x7e\x80-\xff \t]{0,12}[\x21-\x7e\x80-\xff])?)?", fullmatch=True
)
_ows = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t"])
_path = st.from_regex(
    rb"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,16}(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,10})?", fullmatch=True
)
_TE_VALUES = [
    b"chunked",
    b"Chunked",
    b"gzip, chunked",
    b"chunked, identity",
    b"chunked, chunked",
    b"identity",
    b"chunked,",
    b",chunked",
    b"chunked;q=1",
    b"x",
    b"",
    b"chunked ",
    b"chunked\t",
    b"gzip\t,chunked",
    b"chunked\x00",
]
_CL_VALUES = [b"5", b"5, 5", b"5,5", b"5, 6", b"05", b"+5", b"-5", b"0x5", b"", b"5 5", b"1" * 20]
_SIZE_LINES = [
    b"-5",
    b"0x5",
    b" 5",
    b"5 ",
    b"+5",
    b"0" * 17 + b"5",
    b"g",
    b"5;",
    b"5;=b",
    b"5;a=",
    b"5 ;a",
    b"5\x00",
]


@st.composite
def _chunked(draw: st.DrawFn) -> bytes:
    parts = []
    for data in draw(st.lists(st.binary(min_size=1, max_size=40), max_size=4)):
        size = draw(st.sampled_from([b"%x", b"%X", b"0%x"])) % len(data)
        extension = draw(st.sampled_from([b"", b";a", b";a=b", b';a="b c"', b";x=1;y"]))
        parts.append(size + extension + b"\r\n" + data + b"\r\n")
    trailers = draw(st.lists(st.tuples(_token, _value), max_size=2))
    trailers = [
        (name, value)
        for name, value in trailers
        if name.lower() not in (b"content-length", b"transfer-encoding")
    ]
    return b"".join(parts) + b"0\r\n" + b"".join(b"%s: %s\r\n" % pair for pair in trailers) + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """A valid request as (lines, body): lines[0] is the request line, the rest field lines."""
    method = draw(
        st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"PROPFIND", b"QUERY"])
    )
    target = draw(st.sampled_from([b"*"]) if method == b"OPTIONS" and draw(st.booleans()) else _path)
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    lines = [b"%s %s %s" % (method, target, version)]
    if version == b"HTTP/1.1" or draw(st.booleans()):
        lines.append(b"Host:" + draw(_ows) + draw(st.sampled_from([b"a", b"example.com:8080", b"[::1]"])))
    for name, value in draw(st.lists(st.tuples(_token, _value), max_size=5)):
        if name.lower() not in (b"host", b"content-length", b"transfer-encoding", b"connection", b"upgrade"):
            lines.append(name + b":" + draw(_ows) + value + draw(_ows))
    if draw(st.booleans()):
        lines.append(
            b"Connection: " + draw(st.sampled_from([b"close", b"keep-alive", b"Keep-Alive, x", b"te"]))
        )
    framing_kind = draw(
        st.sampled_from(["none", "length", "chunked"] if version == b"HTTP/1.1" else ["none", "length"])
    )
    body = b""
    if framing_kind == "length":
        body = draw(st.binary(max_size=60))
        lines.append(b"Content-Length: %d" % len(body))
    elif framing_kind == "chunked":
        body = draw(_chunked())
        lines.append(b"Transfer-Encoding: chunked")
    order = draw(st.permutations(range(1, len(lines))))
    return [lines[0], *(lines[i] for i in order)], body


def render(lines: list[bytes], body: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n" + body


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A generated request with zero to three smuggling-style mutations."""
    lines, body = draw(requests())
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(_MUTATIONS))
        at = draw(st.integers(1, len(lines)))
        if kind == "field":
            name = draw(
                st.sampled_from([b"Content-Length", b"Transfer-Encoding", b"content-length", b"Host"])
            )
            value = draw(
                st.sampled_from(
                    _CL_VALUES if b"ength" in name else _TE_VALUES if b"ncoding" in name else [b"b"]
                )
            )
            lines.insert(at, name + b":" + draw(_ows) + value)
        elif kind == "fold":
            lines.insert(
                at,
                draw(st.sampled_from([b" ", b"\t"]))
                + draw(st.sampled_from([b"chunked", b"x", b"Content-Length: 5"])),
            )
        elif kind == "space before colon" and at < len(lines):
            lines[at] = lines[at].replace(b":", draw(st.sampled_from([b" :", b"\t:"])), 1)
        elif kind == "request line":
            words = lines[0].split(b" ")
            index = draw(st.integers(0, 2))
            words[index] = draw(
                st.sampled_from(
                    [
                        [b"get", b"FOO", b"G T", b"CONNECT", b"HEAD"],
                        [b"*", b"a", b"/\x80", b"a:1", b"http://a/"],
                        [b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1"],
                    ][index]
                )
            )
            lines[0] = b" ".join(words)
        elif kind == "upgrade":
            lines[at:at] = [b"Connection: upgrade", b"Upgrade: websocket"]
        elif kind == "size line" and re.match(rb"[0-9A-Fa-f]+[;\r]", body):
            body = draw(st.sampled_from(_SIZE_LINES)) + body[body.index(b"\r\n") :]
        elif kind == "trailer" and body.endswith(b"0\r\n\r\n"):
            body = (
                body[:-2]
                + draw(st.sampled_from([b"X : a", b" X: a", b"Content-Length: 5", b"X: a\rb", b"X"]))
                + b"\r\n\r\n"
            )
        elif kind == "leading":
            lines[0] = draw(st.sampled_from([b"\r\n", b"\n", b"\r\n\r\n", b"\r"])) + lines[0]
    data = render(lines, body)
    for _ in range(draw(st.integers(0, 2) if draw(st.booleans()) else st.just(0))):
        position = draw(st.integers(0, len(data)))
        byte = draw(
            st.sampled_from([b"\x00", b"\r", b"\n", b" ", b"\t", b",", b";", b"\x7f", b"\x80", b"", b"0"])
        )
        data = data[:position] + byte + data[position + draw(st.integers(0, 1)) :]
    return data


_MUTATIONS = [
    "field",
    "fold",
    "space before colon",
    "request line",
    "upgrade",
    "size line",
    "trailer",
    "leading",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_valid_requests_agree(request: tuple[list[bytes], bytes]) -> None:
    """Property: for grammar-generated valid requests both parsers agree exactly (no listed class needed)."""
    data = render(*request) + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    assert compare(data) == "agree"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_generated_mutated_requests(data: bytes) -> None:
    """Property: on mutated requests the parsers agree, both refuse, or differ only in a listed class."""
    compare(data)
