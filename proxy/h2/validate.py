"""Is a client's HTTP/2 header section well formed (RFC 9113 sections 8.2 and 8.3)? Pure functions.

h2 can check this itself, but its checks are a chain of Python generators over every field and were
about a fifth of the proxy's CPU per gRPC call. Here one compiled pass looks at each field once.
A malformed request is a stream error (section 8.1.1): the relay resets that stream with
PROTOCOL_ERROR and the connection's other streams go on.
"""

from __future__ import annotations

import re

from propagation.headers import Header

# Section 8.2.1: no controls, SP, upper case, DEL or bytes over 0x7f in a name, and a colon only as the
# first byte of a pseudo-header; no NUL, CR or LF in a value, nor SP or HTAB at either end.
_NAME = re.compile(rb":?[^\x00-\x20A-Z:\x7f-\xff]+")
_VALUE = re.compile(rb"(?:[^\x00\n\r \t](?:[^\x00\n\r]*[^\x00\n\r \t])?)?")
# Section 8.2.2: fields that only make sense for one HTTP/1.1 connection.
_CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade")
)
_REQUEST_PSEUDO = frozenset((b":method", b":scheme", b":authority", b":path"))


def request_problem(headers: list[Header]) -> str:
    """Why this request head is malformed, or "" when it is not."""
    pseudo: dict[bytes, bytes] = {}
    host: bytes | None = None
    regular = False
    for name, value in headers:
        problem = _field_problem(name, value)
        if problem:
            return problem
        if name[:1] == b":":
            if regular:
                return f"pseudo-header {name[:40]!r} after a regular field"
            if name not in _REQUEST_PSEUDO or name in pseudo:
                return f"unknown or repeated pseudo-header {name[:40]!r}"
            pseudo[name] = value
        else:
            regular = True
            if name == b"host":
                host = value
    return _pseudo_problem(pseudo, host)


def trailers_problem(headers: list[Header]) -> str:
    """Why this trailer section is malformed, or "" when it is not (section 8.1: no pseudo-headers)."""
    for name, value in headers:
        problem = _field_problem(name, value)
        if problem:
            return problem
        if name[:1] == b":":
            return f"pseudo-header {name[:40]!r} in trailers"
    return ""


def _field_problem(name: bytes, value: bytes) -> str:
    if _NAME.fullmatch(name) is None:
        return f"invalid field name {name[:40]!r}"
    if _VALUE.fullmatch(value) is None:
        return f"invalid value for {name[:40]!r}"
    if name in _CONNECTION_SPECIFIC:
        return f"connection-specific field {name.decode()}"
    if name == b"te" and value.lower() != b"trailers":
        return "te other than trailers"
    return ""


def _pseudo_problem(pseudo: dict[bytes, bytes], host: bytes | None) -> str:
    """Section 8.3.1: which pseudo-headers a request needs, and Host agreeing with :authority."""
    method = pseudo.get(b":method")
    if method is None:
        return "no :method"
    if method == b"CONNECT":
        # Section 8.5: no :scheme or :path, and :authority required (extended CONNECT is not offered).
        if b":scheme" in pseudo or b":path" in pseudo or b":authority" not in pseudo:
            return "CONNECT needs :authority and no :scheme or :path"
    elif b":scheme" not in pseudo or not pseudo.get(b":path"):
        return "no :scheme or an empty or missing :path"
    authority = pseudo.get(b":authority")
    if authority is None and host is None:
        return "neither :authority nor host"
    if authority is not None and host is not None and authority != host:
        return "host differs from :authority"
    return ""
