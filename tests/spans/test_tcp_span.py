"""A relayed TCP connection becomes one span with the network conventions and how it ended."""

from __future__ import annotations

from propagation import SpanContext
from proxy.spans.record import FLAGS_PARENT_LOCAL, KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_UNSET
from proxy.tcp_span import RESET, TcpConnection, connection_span

CONTEXT = SpanContext(b"a" * 32, b"b" * 16, 1)


def _connection(**fields: object) -> TcpConnection:
    connection = TcpConnection("outbound", ("10.0.0.1", 40000), ("10.0.0.2", 6379), CONTEXT, None, 10)
    for name, value in fields.items():
        setattr(connection, name, value)
    return connection


def test_an_outbound_connection_is_a_client_span_towards_the_server() -> None:
    span = connection_span(_connection(end_ns=30, bytes_from_client=5, bytes_from_server=7))
    attributes = dict(span.attributes)
    assert (span.kind, span.name, span.start_ns, span.end_ns) == (KIND_CLIENT, "TCP 10.0.0.2:6379", 10, 30)
    assert attributes["network.transport"] == "tcp"
    assert (attributes["network.peer.address"], attributes["network.peer.port"]) == ("10.0.0.2", 6379)
    assert attributes["tracecar.tcp.bytes_from_client"] == 5
    assert attributes["tracecar.tcp.bytes_from_server"] == 7
    assert span.status == STATUS_UNSET and "error.type" not in attributes
    assert span.parent_span_id is None and span.flags == 1 | FLAGS_PARENT_LOCAL


def test_an_inbound_reset_tls_connection_is_a_failed_server_span_named_for_its_sni() -> None:
    span = connection_span(
        _connection(direction="inbound", ended=RESET, server_name="db.example", parent_span_id=b"c" * 16)
    )
    attributes = dict(span.attributes)
    assert (span.kind, span.name, span.parent_span_id) == (KIND_SERVER, "TLS db.example", b"c" * 16)
    assert attributes["network.peer.address"] == "10.0.0.1"
    assert attributes["tls.client.server_name"] == "db.example"
    assert span.status == STATUS_ERROR
    assert attributes["error.type"] == attributes["tracecar.tcp.end"] == RESET
