"""A gRPC stream as an OpenTelemetry span: the RPC semantic conventions. Pure.

Name `package.Service/Method`, `rpc.system=grpc`, `rpc.service`, `rpc.method`,
`rpc.grpc.status_code`; status Error on a client span for every non-OK code, on a server span only
for the codes in `proxy.h2.grpc.SERVER_ERRORS`.
"""

from __future__ import annotations

from proxy.exchange import Exchange
from proxy.h2 import grpc
from proxy.h2.exchange import StreamExchange
from proxy.http_span import CLIENT, ERROR, SERVER, UNSET, HttpSpan
from proxy.http_span import _authority as authority  # the same server.address rules as HTTP
from proxy.spans.record import Attribute


def describe_rpc(exchange: Exchange) -> HttpSpan | None:
    """The RPC span of a gRPC stream; None for anything else (plain HTTP, described as such)."""
    if not isinstance(exchange, StreamExchange) or not exchange.grpc:
        return None
    request = exchange.request
    server = exchange.direction == "inbound"
    path = request.target.decode("latin-1").lstrip("/")
    service, _, method = path.rpartition("/")
    host, port = authority(request.host, exchange.destination)
    attributes: list[Attribute] = [
        ("rpc.system", "grpc"),
        ("rpc.service", service),
        ("rpc.method", method),
        ("server.address", host),
        ("server.port", port),
        ("network.protocol.name", "http"),
        ("network.protocol.version", "2"),
    ]
    if server:
        attributes += [("client.address", exchange.peer[0]), ("network.peer.address", exchange.peer[0])]
        attributes.append(("network.peer.port", exchange.peer[1]))
    else:
        attributes.append(("network.peer.address", exchange.destination[0]))
        attributes.append(("network.peer.port", exchange.destination[1]))
    code = exchange.grpc_status
    if code >= 0:
        attributes.append(("rpc.grpc.status_code", code))
    status, message = _status(exchange, server)
    if status == ERROR:  # a cancelled call is no error of the server's: no error.type either
        attributes.append(("error.type", exchange.error_type or _code_name(code)))
    return HttpSpan(path or "grpc", SERVER if server else CLIENT, attributes, status, message)


def _status(exchange: StreamExchange, server: bool) -> tuple[int, str]:
    code = exchange.grpc_status
    if code < 0:  # no gRPC status at all: the stream failed below gRPC
        return ERROR, exchange.error_type.replace("_", " ") or "no grpc-status"
    failed = code in grpc.SERVER_ERRORS if server else code != grpc.OK
    if not failed:
        return UNSET, ""
    return ERROR, exchange.grpc_message or _code_name(code)


def _code_name(code: int) -> str:
    return grpc.CODE_NAMES[code] if 0 <= code <= grpc.MAX_CODE else str(code)
