"""What gRPC makes of HTTP/2 events: status codes from trailers and resets, and the answers the proxy
writes itself. Pure.

The RST_STREAM mapping is gRPC's own (doc/PROTOCOL-HTTP2.md, "Errors"), so a span says what the
gRPC client saw.
"""

from __future__ import annotations

from urllib.parse import quote

from propagation.headers import Header

OK, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED = 0, 1, 2, 4
RESOURCE_EXHAUSTED, PERMISSION_DENIED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 8, 7, 12, 13, 14
DATA_LOSS, UNAUTHENTICATED = 15, 16
MAX_CODE = 16

# HTTP/2 error code (RFC 9113 section 7) -> gRPC status.
_RESET_STATUS = {
    0x7: UNAVAILABLE,  # REFUSED_STREAM: never processed, the client may retry
    0x8: CANCELLED,  # CANCEL
    0xB: RESOURCE_EXHAUSTED,  # ENHANCE_YOUR_CALM
    0xC: PERMISSION_DENIED,  # INADEQUATE_SECURITY
}

# OpenTelemetry RPC conventions: a server span is an error only for these codes.
SERVER_ERRORS = frozenset((UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS))

CODE_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)  # fmt: skip


def status_of_reset(error_code: int) -> int:
    """The gRPC status a client reports for a stream reset with `error_code`."""
    return _RESET_STATUS.get(error_code, INTERNAL)


def parse_status(value: bytes | None) -> int:
    """`grpc-status` as a code; a missing or malformed one is UNKNOWN, as gRPC clients read it."""
    if value is None or not value.isdigit() or len(value) > 3:
        return UNKNOWN
    return int(value)


def trailers_only(status: int, message: str) -> list[Header]:
    """A Trailers-Only response: HTTP 200, the gRPC status in the only HEADERS frame."""
    return [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", str(status).encode()),
        # grpc-message is percent-encoded (PROTOCOL-HTTP2.md, "Responses").
        (b"grpc-message", quote(message, safe=" ").encode()),
    ]


def status_of_http(status: int) -> int:
    """A gRPC response that ended without `grpc-status`: the code gRPC clients derive from HTTP."""
    if status == 200:
        return UNKNOWN
    return _HTTP_STATUS.get(status, UNKNOWN)


_HTTP_STATUS = {400: INTERNAL, 401: UNAUTHENTICATED, 403: PERMISSION_DENIED, 404: UNIMPLEMENTED}
_HTTP_STATUS.update(dict.fromkeys((429, 502, 503, 504), UNAVAILABLE))
