"""Bounded work per HTTP/2 connection: frames that cost the proxy work but carry no request. Pure.

PING and SETTINGS each make us queue an ACK, RST_STREAM right after HEADERS makes us open and
tear down an upstream stream ("rapid reset", CVE-2023-44487), empty DATA frames and PRIORITY cost
a parse each. A peer gets a burst of each for free and then a steady rate; past that the
connection is ended with GOAWAY ENHANCE_YOUR_CALM, as nghttp2 and Envoy do.
"""

from __future__ import annotations

PING, SETTINGS, RESET, EMPTY_DATA, PRIORITY = "ping", "settings", "reset", "empty_data", "priority"

BURST = 1000  # of each kind, at once
RATE_PER_S = 100.0  # of each kind, sustained


class FloodGuard:
    __slots__ = ("_last", "_tokens")

    def __init__(self, now: float) -> None:
        self._tokens = dict.fromkeys((PING, SETTINGS, RESET, EMPTY_DATA, PRIORITY), float(BURST))
        self._last = dict.fromkeys(self._tokens, now)

    def allow(self, kind: str, now: float) -> bool:
        """Count one frame of `kind`; False once the peer is over its budget for that kind."""
        tokens = min(float(BURST), self._tokens[kind] + (now - self._last[kind]) * RATE_PER_S)
        self._last[kind] = now
        if tokens < 1.0:
            self._tokens[kind] = tokens
            return False
        self._tokens[kind] = tokens - 1.0
        return True
