"""Which body follows a head, and whether a connection survives an exchange (RFC 9112 sections 6, 9)."""

from __future__ import annotations

from proxy.http1.body import BodyReader, ChunkedReader, LengthReader, UntilCloseReader
from proxy.http1.head import RequestHead, ResponseHead

_NO_BODY = BodyReader()


def request_body(head: RequestHead) -> BodyReader:
    if head.chunked:
        return ChunkedReader()
    if head.content_length > 0:
        return LengthReader(head.content_length)
    return _NO_BODY  # section 6.3: a request without framing has no body


def response_body(request: RequestHead, response: ResponseHead) -> BodyReader:
    """Section 6.3: HEAD, 1xx, 204 and 304 have no body whatever they say; a 2xx to CONNECT is a tunnel."""
    status = response.status
    if request.method == b"HEAD" or status < 200 or status in (204, 304):
        return _NO_BODY
    if request.method == b"CONNECT" and status < 300:
        return _NO_BODY  # the tunnel starts right after the head; its length fields are ignored
    if response.chunked:
        return ChunkedReader()
    if response.content_length >= 0:
        return LengthReader(response.content_length) if response.content_length else _NO_BODY
    return UntilCloseReader()


def becomes_tunnel(request: RequestHead, response: ResponseHead) -> bool:
    """After a 101 to an Upgrade, or a 2xx to CONNECT, both sides exchange raw bytes (sections 9.3, 9.5)."""
    if response.status == 101:
        return bool(request.upgrade)
    return request.method == b"CONNECT" and 200 <= response.status < 300


def reusable(request: RequestHead, response: ResponseHead, body: BodyReader) -> bool:
    """Both sides may keep the connection for another exchange (section 9.3)."""
    return request.keep_alive and response.keep_alive and not isinstance(body, UntilCloseReader)
