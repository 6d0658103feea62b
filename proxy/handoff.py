"""The seam between accepting a connection and speaking its protocol.

`proxy.accept.Accepted` takes every new connection, learns where it was going and what it speaks,
then hands the transport to the protocol registered for that on its listener. A handler is a
factory `(listener, handoff) -> asyncio.Protocol`; the acceptor calls the new protocol's
`connection_made(transport)` and then `data_received(handoff.first)` if any bytes were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.early_upstream import EarlyUpstream


@dataclass(frozen=True, slots=True)
class Handoff:
    peer: tuple[str, int]  # the client
    destination: tuple[str, int]  # where the client meant to go (SO_ORIGINAL_DST or the override)
    first: bytes  # what the client sent while the acceptor was deciding; the protocol gets it next
    protocol: str = "http1"  # what `proxy.sniff.classify` (or a declared opaque port) decided
    # The upstream connection the acceptor opened while the client was silent (server-first protocols).
    upstream: EarlyUpstream | None = None
