"""One request/response exchange through the proxy: the few fields its span needs, filled in as it runs.

Kept deliberately small and cheap: the span itself is built off the hot path from this record.
"""

from __future__ import annotations

import time

from propagation import Extracted, SpanContext
from proxy.http1.head import RequestHead


class Exchange:
    __slots__ = (
        "context",
        "destination",
        "direction",
        "end_ns",
        "error_type",
        "extracted",
        "peer",
        "request",
        "request_bytes",
        "resends",
        "response_bytes",
        "start_ns",
        "status",
    )
    http2 = False  # proxy.h2.exchange.StreamExchange says True

    def __init__(
        self,
        direction: str,
        request: RequestHead,
        extracted: Extracted,
        context: SpanContext,
        *,
        peer: tuple[str, int],
        destination: tuple[str, int],
    ) -> None:
        self.direction = direction
        self.request = request
        self.extracted = extracted
        self.context = context  # this hop's span: its ids went out in the forwarded request
        self.peer = peer
        self.destination = destination
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.status = 0  # final response status; 0 while none arrived
        self.request_bytes = 0
        self.response_bytes = 0
        self.error_type = ""
        self.resends = 0  # times the request went again on a new upstream connection (forwarder.resend)
