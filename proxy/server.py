"""`tracecar proxy` at run time: listening sockets, the event loop, workers, and a graceful stop.

Each worker is a process with its own loop and its own sockets bound with SO_REUSEPORT, so the
kernel spreads connections across workers with no shared state.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import proxy.h2.relay
from propagation import Propagators, Sampler
from proxy.accept import Accepted
from proxy.exchange import Exchange
from proxy.forwarder import DETECT_TIMEOUT_S, Listener
from proxy.http_span import DEFAULT_REDACTED_QUERY_KEYS
from proxy.limits import DEFAULT_LIMITS, ClientLimits
from proxy.opaque import Relay
from proxy.opaque_ports import DEFAULT_OPAQUE_PORTS
from proxy.pool import Pool
from proxy.sniff import OPAQUE, TLS
from proxy.spans.record import SpanRecord
from proxy.tcp_span import TcpConnection

log = logging.getLogger("tracecar.server")

BACKLOG = 4096
DIRECTIONS = ("inbound", "outbound")


@dataclass(frozen=True)
class ProxyConfig:
    inbound_port: int = 15006
    outbound_port: int = 15001
    admin_port: int = 15000
    ipv6: bool = True
    upstream: tuple[str, int] | None = None  # without iptables: send everything here
    drain_grace_s: float = 20.0
    connect_timeout_s: float = 5.0
    header_timeout_s: float = 60.0  # from the last request byte to the response head
    upstream_idle_timeout_s: float = 60.0  # an idle pooled upstream connection is closed
    limits: ClientLimits = DEFAULT_LIMITS  # what each client connection may cost
    # Query keys whose values spans show as REDACTED (lower case).
    redact_query_keys: frozenset[str] = DEFAULT_REDACTED_QUERY_KEYS
    run_as: tuple[int, int] | None = None  # (uid, gid) to drop to once listening
    opaque_ports: frozenset[int] = DEFAULT_OPAQUE_PORTS  # relayed as opaque TCP without sniffing
    detect_timeout_s: float = DETECT_TIMEOUT_S  # a client silent this long is relayed as opaque TCP
    infer_context: bool = False  # context-less outbound requests join the one inbound request in flight


def listening_sockets(port: int, ipv6: bool) -> list[socket.socket]:
    """One IPv4 and (when the host has IPv6) one IPv6-only socket: SO_ORIGINAL_DST needs the real family."""
    sockets = [_listen(socket.AF_INET, "0.0.0.0", port)]
    if ipv6 and socket.has_ipv6:
        try:
            sockets.append(_listen(socket.AF_INET6, "::", port))
        except OSError as error:  # no IPv6 in this namespace
            log.info("no IPv6 listener on port %d: %s", port, error.strerror)
    return sockets


def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Proxy:
    """The listeners of one worker and what they share."""

    def __init__(
        self,
        config: ProxyConfig,
        propagators: Propagators,
        sampler: Sampler,
        finished: Callable[[Exchange], None],
        record: Callable[[SpanRecord], None] = lambda span: None,
        *,
        tcp_finished: Callable[[TcpConnection], None] = lambda connection: None,
        detected: Callable[[str], None] = lambda protocol: None,
    ) -> None:
        self.config = config
        # A pool per direction: its connections serve that listener's requests, and its numbers are
        # that direction's upstream metrics.
        self.pools = {
            direction: Pool(config.connect_timeout_s, config.header_timeout_s, config.upstream_idle_timeout_s)
            for direction in DIRECTIONS
        }
        self.listeners = {
            direction: Listener(
                direction,
                self.pools[direction],
                propagators,
                sampler,
                finished=finished,
                record=record,
                upstream_override=config.upstream,
                limits=config.limits,
                opaque_ports=config.opaque_ports,
                detect_timeout_s=config.detect_timeout_s,
                tcp_finished=tcp_finished,
                detected=detected,
                infer_context=config.infer_context,
            )
            for direction in DIRECTIONS
        }
        limits = config.limits
        shortest = min(
            limits.header_timeout_s, limits.idle_timeout_s, limits.linger_s, limits.tcp_idle_timeout_s
        )
        for listener in self.listeners.values():
            listener.pool.watch(listener.expire, shortest)
            listener.handlers.update({OPAQUE: Relay, TLS: Relay})
        self.servers: list[asyncio.AbstractServer] = []
        self.ready = False
        for listener in self.listeners.values():
            listener.handlers["h2"] = proxy.h2.relay.Relay

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ports = {"inbound": self.config.inbound_port, "outbound": self.config.outbound_port}
        for direction, port in ports.items():
            listener = self.listeners[direction]
            for sock in listening_sockets(port, self.config.ipv6):
                server = await loop.create_server(functools.partial(Accepted, listener), sock=sock)
                self.servers.append(server)
        for pool in self.pools.values():
            pool.start_sweeping()
        self.ready = True
        log.info("listening: inbound %d, outbound %d", self.config.inbound_port, self.config.outbound_port)

    def open_connections(self) -> int:
        return sum(len(listener.connections) for listener in self.listeners.values())

    async def drain(self) -> None:
        """Stop accepting, let exchanges in flight finish within the grace period, then close the rest."""
        log.info("draining: %d open connections", self.open_connections())
        self.ready = False
        for server in self.servers:
            server.close()
        for listener in self.listeners.values():
            listener.drain()
        deadline = asyncio.get_running_loop().time() + self.config.drain_grace_s
        while self.open_connections() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for listener in self.listeners.values():
            for connection in list(listener.connections):
                if connection.transport is not None:
                    connection.transport.abort()
        for pool in self.pools.values():
            pool.close()
