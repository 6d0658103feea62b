"""A relayed TCP connection as an OpenTelemetry span: pure, built when the connection ends.

The proxy (opaque relay) and the eBPF fallback both describe connections this way, so a
connection looks the same whichever path saw it.
"""

from __future__ import annotations

from dataclasses import dataclass

from propagation import SpanContext
from proxy.spans.record import (
    FLAGS_PARENT_LOCAL,
    KIND_CLIENT,
    KIND_SERVER,
    STATUS_ERROR,
    STATUS_UNSET,
    Attribute,
    SpanRecord,
)

CLOSE, RESET, TIMEOUT = "close", "reset", "timeout"  # how a connection ended


@dataclass(slots=True)
class TcpConnection:
    direction: str  # "inbound": this pod is the server (SERVER span); "outbound": the client
    client: tuple[str, int]
    server: tuple[str, int]
    context: SpanContext  # this connection's span
    parent_span_id: bytes | None  # None: the span starts its own trace
    start_ns: int
    end_ns: int = 0
    bytes_from_client: int = 0
    bytes_from_server: int = 0
    ended: str = CLOSE
    server_name: str = ""  # the TLS ClientHello's SNI, when there was one
    error: str = ""  # error.type when the connection failed (e.g. upstream refused)


def connection_span(connection: TcpConnection) -> SpanRecord:
    server = connection.direction == "inbound"
    host, port = connection.server
    attributes: list[Attribute] = [
        ("network.transport", "tcp"),
        ("server.address", host),
        ("server.port", port),
        ("client.address", connection.client[0]),
        ("client.port", connection.client[1]),
        ("network.peer.address", connection.client[0] if server else host),
        ("network.peer.port", connection.client[1] if server else port),
        ("tracecar.tcp.bytes_from_client", connection.bytes_from_client),
        ("tracecar.tcp.bytes_from_server", connection.bytes_from_server),
        ("tracecar.tcp.end", connection.ended),
    ]
    if connection.server_name:
        attributes.append(("tls.client.server_name", connection.server_name))
    failed = connection.error or (connection.ended != CLOSE and connection.ended)
    if failed:
        attributes.append(("error.type", failed))
    context = connection.context
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 bracketed (RFC 3986)
    name = f"TLS {connection.server_name}" if connection.server_name else f"TCP {where}"
    parent = connection.parent_span_id
    return SpanRecord(
        context.trace_id,
        context.span_id,
        parent,
        context.trace_state.to_header(),
        # The parent, if any, is a span of this same proxy (proxy.active_spans): never remote.
        (context.flags & 0xFF) | FLAGS_PARENT_LOCAL,
        KIND_SERVER if server else KIND_CLIENT,
        name,
        connection.start_ns,
        connection.end_ns,
        attributes,
        STATUS_ERROR if failed else STATUS_UNSET,
        failed or "",
    )
