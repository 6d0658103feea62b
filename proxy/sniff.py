"""What a new connection speaks, from its first bytes: pure, no I/O.

The proxy decides how to handle a connection before forwarding anything, so it looks at the
client's first bytes: the HTTP/2 connection preface (RFC 9113 section 3.4) means HTTP/2 with prior
knowledge, anything else is HTTP/1 for now (issue 5 adds TLS and opaque TCP).
"""

from __future__ import annotations

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

HTTP1, H2 = "http1", "h2"
UNDECIDED = ""


def classify(first: bytes) -> str:
    """The protocol `first` starts; UNDECIDED while it could still be more than one of them."""
    if first.startswith(H2_PREFACE):
        return H2
    if H2_PREFACE.startswith(first):  # includes b"": wait for more
        return UNDECIDED
    return HTTP1
