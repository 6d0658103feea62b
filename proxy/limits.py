"""What a client connection may cost the proxy: head size and how long it may keep us waiting.

The timeouts are checked by the pool's periodic sweep (`proxy.pool.Pool`), not by a timer per
connection: they fire up to a second late, which no client can tell from a slow network.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.http1.head import MAX_HEAD_BYTES

REQUEST_HEADER_TIMEOUT_S = 30.0  # from a request's first byte to its blank line; then 408 (slowloris)
IDLE_TIMEOUT_S = 300.0  # a keep-alive client connection with no request in flight
# After an error response: how long unread request bytes are read and dropped before the close, so
# the kernel does not answer them with a reset that destroys the response on its way to the client
# (nginx's lingering_close, RFC 9112 section 9.6).
LINGER_S = 2.0
# An opaque TCP connection with no byte either way for this long is closed on both sides: a peer that
# vanished without a FIN (a NAT entry dropped, a host gone) would otherwise hold two descriptors
# forever. One hour, as Envoy's TCP proxy; long-lived quiet protocols set --tcp-idle-timeout higher.
TCP_IDLE_TIMEOUT_S = 3600.0
MAX_HEAD_BYTES_ALLOWED = 1024 * 1024  # the most --max-header-bytes may be set to


@dataclass(frozen=True)
class ClientLimits:
    max_head_bytes: int = MAX_HEAD_BYTES
    header_timeout_s: float = REQUEST_HEADER_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S
    linger_s: float = LINGER_S
    tcp_idle_timeout_s: float = TCP_IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 1024 <= self.max_head_bytes <= MAX_HEAD_BYTES_ALLOWED:
            raise ValueError(
                f"--max-header-bytes must be from 1024 to {MAX_HEAD_BYTES_ALLOWED}, got {self.max_head_bytes}"
            )
        timeouts = (
            ("request-header", self.header_timeout_s),
            ("idle", self.idle_timeout_s),
            ("tcp-idle", self.tcp_idle_timeout_s),
        )
        for name, value in timeouts:
            if not value > 0:
                raise ValueError(f"--{name}-timeout must be above 0 seconds, got {value:g}")


DEFAULT_LIMITS = ClientLimits()
