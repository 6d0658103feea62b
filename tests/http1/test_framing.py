"""Which body follows a head and whether the connection lives on: RFC 9112 sections 6.3 and 9."""

from __future__ import annotations

import pytest

from proxy.http1 import framing
from proxy.http1.body import BodyReader, ChunkedReader, LengthReader, UntilCloseReader
from proxy.http1.head import RequestHead, ResponseHead, head_end, parse_request, parse_response


def request(line: bytes = b"GET / HTTP/1.1", *fields: bytes) -> RequestHead:
    return parse_request(line + b"\r\nHost: a\r\n" + b"".join(field + b"\r\n" for field in fields) + b"\r\n")


def response(line: bytes = b"HTTP/1.1 200 OK", *fields: bytes) -> ResponseHead:
    return parse_response(line + b"\r\n" + b"".join(field + b"\r\n" for field in fields) + b"\r\n")


def kind(reader: BodyReader) -> str:
    """The reader's class, and for lengths the length: what the framing decision amounts to."""
    if isinstance(reader, LengthReader):
        return f"length {reader.remaining}"
    if type(reader) is BodyReader:
        assert reader.done
        return "none"
    return {ChunkedReader: "chunked", UntilCloseReader: "until close"}[type(reader)]


# -- request bodies (section 6.3 rules 3, 6, 7) ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((), "none"),  # rule 7: a request with neither field has no body
        ((b"Content-Length: 0",), "none"),
        ((b"Content-Length: 42",), "length 42"),  # rule 6
        ((b"Transfer-Encoding: chunked",), "chunked"),  # rule 3
        ((b"Transfer-Encoding: gzip, chunked",), "chunked"),
    ],
)
def test_request_body(fields: tuple[bytes, ...], expected: str) -> None:
    """RFC 9112 section 6.3: a request body is chunked, Content-Length long, or absent: never until close."""
    assert kind(framing.request_body(request(b"POST / HTTP/1.1", *fields))) == expected


def test_request_readers_are_fresh() -> None:
    """Each request gets its own reader state: two chunked requests do not share a ChunkedReader."""
    head = request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked")
    assert framing.request_body(head) is not framing.request_body(head)


# -- response bodies (section 6.3 rules 1, 2, 4, 5, 6, 8) --------------------------------------------

FRAMED = (b"Content-Length: 5",)
CHUNKED = (b"Transfer-Encoding: chunked",)


@pytest.mark.parametrize("fields", [(), FRAMED, CHUNKED])
@pytest.mark.parametrize(
    ("method", "status"),
    [
        (b"HEAD", 200),  # rule 1: a response to HEAD
        (b"HEAD", 404),
        (b"GET", 100),  # rule 1: 1xx
        (b"GET", 103),
        (b"GET", 204),  # rule 1: 204 No Content
        (b"GET", 304),  # rule 1: 304 Not Modified
        (b"CONNECT", 200),  # rule 2: 2xx to CONNECT becomes a tunnel
        (b"CONNECT", 204),
    ],
)
def test_responses_without_body(fields: tuple[bytes, ...], method: bytes, status: int) -> None:
    """RFC 9112 section 6.3 rules 1-2: no body whatever the framing fields say."""
    target = b"a:443" if method == b"CONNECT" else b"/"
    head = request(method + b" " + target + b" HTTP/1.1")
    assert kind(framing.response_body(head, response(b"HTTP/1.1 %d X" % status, *fields))) == "none"


@pytest.mark.parametrize(
    ("method", "fields", "expected"),
    [
        (b"GET", CHUNKED, "chunked"),  # rule 4
        (b"GET", (b"Transfer-Encoding: gzip, chunked",), "chunked"),
        (b"GET", (b"Transfer-Encoding: chunked, gzip",), "until close"),  # rule 4: chunked not final
        (b"GET", (b"Transfer-Encoding: gzip",), "until close"),
        (b"GET", FRAMED, "length 5"),  # rule 6
        (b"GET", (b"Content-Length: 0",), "none"),
        (b"GET", (), "until close"),  # rule 8
        (b"POST", (b"Connection: keep-alive",), "until close"),
        (b"CONNECT", FRAMED, "length 5"),  # a refused CONNECT is an ordinary response
    ],
)
def test_response_body(method: bytes, fields: tuple[bytes, ...], expected: str) -> None:
    """RFC 9112 section 6.3: chunked, then Content-Length, then read until the server closes."""
    target = b"a:443" if method == b"CONNECT" else b"/"
    status = b"407 Proxy Authentication Required" if method == b"CONNECT" else b"200 OK"
    head = request(method + b" " + target + b" HTTP/1.1")
    assert kind(framing.response_body(head, response(b"HTTP/1.1 " + status, *fields))) == expected


# -- tunnels (RFC 9110 sections 7.8 and 9.3.6) -------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "status", "tunnel"),
    [
        (request(b"GET / HTTP/1.1", b"Connection: upgrade", b"Upgrade: websocket"), 101, True),
        (request(b"GET / HTTP/1.1", b"Upgrade: websocket"), 101, False),  # the client asked for no upgrade
        (request(b"GET / HTTP/1.1", b"Connection: upgrade", b"Upgrade: websocket"), 200, False),  # declined
        (request(b"GET / HTTP/1.1", b"Connection: upgrade", b"Upgrade: websocket"), 426, False),
        (request(b"CONNECT a:443 HTTP/1.1"), 200, True),
        (request(b"CONNECT a:443 HTTP/1.1"), 299, True),
        (request(b"CONNECT a:443 HTTP/1.1"), 407, False),
        (request(b"CONNECT a:443 HTTP/1.1"), 101, False),
        (request(b"GET / HTTP/1.1"), 200, False),
    ],
)
def test_becomes_tunnel(req: RequestHead, status: int, tunnel: bool) -> None:
    """RFC 9110 section 7.8 (101 to an Upgrade) and 9.3.6 (2xx to CONNECT): raw bytes both ways after."""
    assert framing.becomes_tunnel(req, response(b"HTTP/1.1 %d X" % status, b"Content-Length: 0")) is tunnel


# -- persistence (section 9.3) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "resp", "reusable"),
    [
        ((b"GET / HTTP/1.1",), (b"HTTP/1.1 200 OK", *FRAMED), True),
        ((b"GET / HTTP/1.1", b"Connection: close"), (b"HTTP/1.1 200 OK", *FRAMED), False),
        ((b"GET / HTTP/1.1",), (b"HTTP/1.1 200 OK", b"Connection: close", *FRAMED), False),
        ((b"GET / HTTP/1.1",), (b"HTTP/1.0 200 OK", *FRAMED), False),  # 1.0 closes by default
        ((b"GET / HTTP/1.1",), (b"HTTP/1.0 200 OK", b"Connection: keep-alive", *FRAMED), True),
        ((b"GET / HTTP/1.0",), (b"HTTP/1.1 200 OK", *FRAMED), False),
        ((b"GET / HTTP/1.0", b"Connection: keep-alive"), (b"HTTP/1.1 200 OK", *FRAMED), True),
        ((b"GET / HTTP/1.1",), (b"HTTP/1.1 200 OK", *CHUNKED), True),
        ((b"GET / HTTP/1.1",), (b"HTTP/1.1 200 OK",), False),  # delimited by close (section 6.3 rule 8)
        ((b"HEAD / HTTP/1.1",), (b"HTTP/1.1 200 OK",), True),  # no body, so no close needed
        ((b"GET / HTTP/1.1",), (b"HTTP/1.1 204 No Content",), True),
    ],
)
def test_reusable(req: tuple[bytes, ...], resp: tuple[bytes, ...], reusable: bool) -> None:
    """RFC 9112 section 9.3: a connection persists unless either side says "close", a 1.0 side did not say
    "keep-alive", or the response body was delimited by closing the connection."""
    request_head, response_head = request(*req), response(*resp)
    body = framing.response_body(request_head, response_head)
    assert framing.reusable(request_head, response_head, body) is reusable


def test_pipelined_requests_are_split_exactly() -> None:
    """RFC 9112 section 9.3.2: pipelined requests are framed one after another on the same bytes."""
    first = b"POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    second = b"PUT /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz"
    third = b"\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"  # an empty line first (section 2.2)
    buffer = first + second + third
    targets, position = [], 0
    while position < len(buffer):
        end = head_end(buffer, position)
        head = parse_request(buffer[position:end])
        body = framing.request_body(head)
        position = body.feed(buffer, end)
        assert body.done
        targets.append((head.target, buffer[end:position]))
    assert targets == [(b"/1", b"3\r\nabc\r\n0\r\n\r\n"), (b"/2", b"wxyz"), (b"/3", b"")]
