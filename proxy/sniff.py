"""What a new connection speaks, from its first bytes: pure, no I/O.

The proxy decides how to handle a connection before forwarding anything, so it looks at the
client's first bytes: the HTTP/2 connection preface (RFC 9113 section 3.4), an HTTP/1 request line
(RFC 9112 section 3: `method SP request-target SP HTTP/`), a TLS handshake record (RFC 8446 section
5.1: content type 22, legacy version 3.x), or anything else, which is relayed as opaque TCP.
A Redis inline command such as `SET a b` looks like a request line until its version is missing,
so HTTP/1 is only decided once `HTTP/` follows the target.
"""

from __future__ import annotations

import re

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

HTTP1, H2, TLS, OPAQUE = "http1", "h2", "tls", "opaque"
UNDECIDED = ""

MAX_METHOD = 20  # longer than any registered method (UPDATEREDIRECTREF is 17)
MAX_REQUEST_LINE = 8192  # still plausible past this: HTTP/1's parser answers what it cannot take
_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")  # methods are case-sensitive and upper-case in practice
_VERSION = b"HTTP/"
_HTTP_METHODS = frozenset((b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"PATCH"))
_WHOLE_REQUEST_LINE = re.compile(rb"[A-Z_-]{1,%d} [^\x00-\x20\x7f]+ HTTP/" % MAX_METHOD)


def classify(first: bytes) -> str:
    """The protocol `first` starts; UNDECIDED while it could still be more than one of them."""
    if first.startswith(H2_PREFACE):
        return H2
    if H2_PREFACE.startswith(first):  # includes b"": wait for more
        return UNDECIDED
    if first[0] == 0x16:
        if len(first) < 2:
            return UNDECIDED
        return TLS if first[1] == 0x03 else OPAQUE
    if _WHOLE_REQUEST_LINE.match(first):  # the usual case, in one regular-expression match
        return HTTP1
    return _request_line(first)


def _request_line(first: bytes) -> str:
    method_end = first.find(b" ", 0, MAX_METHOD + 1)
    if method_end < 0:
        plausible = len(first) <= MAX_METHOD and all(byte in _TOKEN for byte in first)
        return UNDECIDED if plausible else OPAQUE
    if method_end == 0 or not all(byte in _TOKEN for byte in first[:method_end]):
        return OPAQUE
    target_end = first.find(b" ", method_end + 1)
    target = first[method_end + 1 : target_end if target_end >= 0 else len(first)]
    if any(byte <= 0x20 or byte == 0x7F for byte in target) or target_end == method_end + 1:
        return _versioned_line(first, method_end)
    if target_end < 0:
        return UNDECIDED if len(first) < MAX_REQUEST_LINE else HTTP1
    version = first[target_end + 1 : target_end + 1 + len(_VERSION)]
    if version == _VERSION:
        return HTTP1
    return UNDECIDED if _VERSION.startswith(version) else OPAQUE


def _versioned_line(first: bytes, method_end: int) -> str:
    """A method and a bad target: a malformed HTTP/1 request if the line names an HTTP version, or
    if an HTTP method is followed by a path (HTTP/0.9's form). HTTP/1's parser answers those with 400
    (RFC 9112 section 3) rather than relaying them to the application to make of them what it will."""
    line_end = first.find(b"\n", method_end)
    line = first[method_end : line_end if line_end >= 0 else len(first)]
    if b" " + _VERSION in line or (first[:method_end] in _HTTP_METHODS and line.startswith(b" /")):
        return HTTP1
    return UNDECIDED if line_end < 0 and len(first) < MAX_REQUEST_LINE else OPAQUE


# RFC 9113 section 3.4: an HTTP/2 server opens with SETTINGS as soon as the connection is up, and
# servers such as grpcio add a connection WINDOW_UPDATE (and may PING); then they wait for requests.
_SETTINGS, _PING, _WINDOW_UPDATE = 0x4, 0x6, 0x8
_OPENING_FRAMES = frozenset((_SETTINGS, _PING, _WINDOW_UPDATE))
MAX_OPENING_SETTINGS = 64  # settings in the opening SETTINGS frame; there are seven kinds


def h2_server_opening(server_first: bytes) -> bool:
    """Whether a server's first bytes, sent before the client said anything, are only an HTTP/2
    server's opening (or its start): such a server waits for the client, it is not server-first."""
    pos = 0
    while pos < len(server_first):
        head = server_first[pos : pos + 9]
        if not _opening_frame_head(head, first=pos == 0):
            return False
        if len(head) < 9:
            return True  # the rest is still on its way
        pos += 9 + int.from_bytes(head[:3], "big")
    return True


def _opening_frame_head(head: bytes, first: bool) -> bool:
    """A frame head, or as much of it as arrived, that an HTTP/2 server's opening may hold: on
    stream 0, the first a SETTINGS frame (not an ACK) whose length is a whole number of settings."""
    known = len(head)
    if known >= 3:
        length = int.from_bytes(head[:3], "big")
        limit = MAX_OPENING_SETTINGS * 6 if first else 8  # WINDOW_UPDATE: 4 bytes, PING: 8
        if length > limit or (first and length % 6):
            return False
    elif head[:known] != b"\x00" * known:  # a length under 64 KiB starts with a zero byte
        return False
    if known >= 4 and (head[3] != _SETTINGS if first else head[3] not in _OPENING_FRAMES):
        return False
    if known >= 5 and first and head[4] & 0x1:  # ACK: answers our SETTINGS, which we never sent
        return False
    stream_id = head[5:9]
    return stream_id == b"\x00" * len(stream_id)
