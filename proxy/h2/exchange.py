"""One HTTP/2 stream through the proxy, as an `Exchange`: what its span and metrics need.

A stream's request head comes as pseudo-headers (RFC 9113 section 8.3); they are mapped onto the
HTTP/1 `RequestHead` fields the span description already reads, so HTTP/2 streams share the HTTP
span conventions and gRPC streams add theirs on top.
"""

from __future__ import annotations

from propagation import Extracted, SpanContext
from propagation.headers import Header
from proxy.exchange import Exchange
from proxy.http1.head import RequestHead

NO_GRPC_STATUS = -1


class StreamExchange(Exchange):
    __slots__ = ("grpc", "grpc_message", "grpc_status")
    http2 = True

    # Built by `stream_exchange`: Exchange's own constructor, then the gRPC fields.
    grpc: bool
    grpc_status: int  # from the trailers (or a Trailers-Only response); NO_GRPC_STATUS until then
    grpc_message: str


def stream_exchange(
    direction: str,
    headers: list[Header],
    extracted: Extracted,
    context: SpanContext,
    *,
    peer: tuple[str, int],
    destination: tuple[str, int],
) -> StreamExchange:
    request = request_head(headers)
    exchange = StreamExchange(direction, request, extracted, context, peer=peer, destination=destination)
    exchange.grpc = is_grpc(request.headers)
    exchange.grpc_status = NO_GRPC_STATUS
    exchange.grpc_message = ""
    return exchange


def request_head(headers: list[Header]) -> RequestHead:
    """The HTTP/1-shaped view of an HTTP/2 request: method, path, authority as the Host."""
    method = path = authority = host = user_agent = b""
    regular: list[Header] = []
    for name, value in headers:
        if name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b":authority":
            authority = value
        elif not name.startswith(b":"):
            regular.append((name, value))
            if name == b"host" and not host:
                host = value
            elif name == b"user-agent" and not user_agent:
                user_agent = value
    head = RequestHead(method, path or b"/", regular, False, b"")
    head.host = authority or host
    head.user_agent = user_agent
    return head


def is_grpc(headers: list[Header]) -> bool:
    """gRPC over HTTP/2: `content-type: application/grpc` or one of its `+proto`/`+json` forms."""
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(b"application/grpc")
    return False


def header_value(headers: list[Header], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None
