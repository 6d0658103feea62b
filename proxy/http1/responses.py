"""Responses the proxy writes itself: its errors (RFC 9110 section 15)."""

from __future__ import annotations

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}


def error_response(status: int, detail: str) -> bytes:
    """A complete response that also closes the connection: after an error the framing can't be trusted."""
    body = f"{status} {_REASONS.get(status, b'Error').decode()}: {detail}\n".encode("latin-1", "replace")
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
        % (
            status,
            _REASONS.get(status, b"Error"),
            len(body),
            body,
        )
    )
