"""An exchange as an OpenTelemetry span: the stable HTTP semantic conventions (semconv 1.26+).

Pure: built off the hot path from the `Exchange` the data path filled in.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from proxy.exchange import Exchange
from proxy.routes import Routes
from proxy.spans.record import Attribute

SERVER, CLIENT = "server", "client"
UNSET, OK, ERROR = 0, 1, 2

KNOWN_METHODS = frozenset(
    (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH")
)
DEFAULT_REDACTED_QUERY_KEYS = frozenset(("token", "password", "key"))
REDACTED = "REDACTED"
# A client controls the target, method and User-Agent (up to the 64 KiB head): attributes built from
# them are cut to this many characters, so no request can make a span (or a backend's index) huge.
MAX_ATTRIBUTE_CHARS = 2048


class HttpSpan:
    __slots__ = ("attributes", "kind", "name", "status", "status_message")

    def __init__(self, name: str, kind: str, attributes: list[Attribute], status: int, message: str) -> None:
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.status = status
        self.status_message = message


def describe(
    exchange: Exchange,
    routes: Routes,
    redacted_keys: frozenset[str] = DEFAULT_REDACTED_QUERY_KEYS,
) -> HttpSpan:
    if exchange.http2:
        from proxy.rpc_span import describe_rpc  # noqa: PLC0415 (it builds on this module)

        rpc = describe_rpc(exchange)
        if rpc is not None:
            return rpc
    request = exchange.request
    server = exchange.direction == "inbound"
    method = request.method.decode("latin-1") if request.method in KNOWN_METHODS else "_OTHER"
    target = _without_userinfo(request.target[:MAX_ATTRIBUTE_CHARS])
    path, _, query = target.partition(b"?")
    route = routes.route(path) if request.method != b"CONNECT" else target.decode("latin-1")
    host, port = _authority(request.host[:MAX_ATTRIBUTE_CHARS], exchange.destination)
    attributes: list[Attribute] = [("http.request.method", method)]
    if method == "_OTHER":
        attributes.append(
            ("http.request.method_original", request.method[:MAX_ATTRIBUTE_CHARS].decode("latin-1"))
        )
    attributes += [("server.address", host), ("server.port", port)]
    query_text = _redact(query.decode("latin-1"), redacted_keys) if query else ""
    if server:
        attributes += _server_attributes(exchange, path, query_text, route)
    else:
        attributes += _client_attributes(exchange, host, port, path, query_text)
    attributes += _common_attributes(exchange)
    status, message, error_type = _status(exchange, server)
    if error_type:
        attributes.append(("error.type", error_type))
    name = f"{method if method != '_OTHER' else 'HTTP'} {route}"
    return HttpSpan(name, SERVER if server else CLIENT, attributes, status, message)


def _server_attributes(exchange: Exchange, path: bytes, query: str, route: str) -> list[Attribute]:
    attributes: list[Attribute] = [
        ("url.scheme", "http"),
        ("url.path", path.decode("latin-1")),
        ("http.route", route),
        ("client.address", exchange.peer[0]),
        ("network.peer.address", exchange.peer[0]),
        ("network.peer.port", exchange.peer[1]),
    ]
    if query:
        attributes.append(("url.query", query))
    return attributes


def _client_attributes(exchange: Exchange, host: str, port: int, path: bytes, query: str) -> list[Attribute]:
    authority = host if port == 80 else f"{host}:{port}"
    full = f"http://{authority}{path.decode('latin-1')}" + (f"?{query}" if query else "")
    attributes: list[Attribute] = [
        ("url.full", full),
        ("network.peer.address", exchange.destination[0]),
        ("network.peer.port", exchange.destination[1]),
    ]
    if exchange.resends:
        attributes.append(("http.request.resend_count", exchange.resends))
    return attributes


def _common_attributes(exchange: Exchange) -> list[Attribute]:
    request = exchange.request
    version = "2" if exchange.http2 else "1.0" if request.http10 else "1.1"
    attributes: list[Attribute] = [("network.protocol.version", version)]
    if request.user_agent:
        attributes.append(("user_agent.original", request.user_agent[:MAX_ATTRIBUTE_CHARS].decode("latin-1")))
    if exchange.status:
        attributes.append(("http.response.status_code", exchange.status))
    attributes.append(("http.request.body.size", exchange.request_bytes))
    attributes.append(("http.response.body.size", exchange.response_bytes))
    return attributes


def _status(exchange: Exchange, server: bool) -> tuple[int, str, str]:
    """Semconv: a server span is an error from 500 on, a client span from 400 on; failures always."""
    if exchange.error_type:
        return ERROR, exchange.error_type.replace("_", " "), exchange.error_type
    threshold = 500 if server else 400
    if exchange.status >= threshold:
        return ERROR, "", str(exchange.status)
    return UNSET, "", ""


def _authority(host_header: bytes, destination: tuple[str, int]) -> tuple[str, int]:
    """server.address/port: the Host header when there is one (what the client asked for)."""
    if not host_header:
        return destination
    host = host_header.decode("latin-1")
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        name, rest = host[1:end], host[end + 1 :]
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 80
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name, int(port)
    return host, 80


def _without_userinfo(target: bytes) -> bytes:
    """An absolute-form target (RFC 9112 section 3.2.2) may carry `user:password@`: semconv has
    url.full show it as REDACTED:REDACTED; url.path takes the same form here."""
    if target[:1] == b"/" or b"@" not in target:
        return target
    scheme, sep, rest = target.partition(b"://")
    authority_end = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
    at = rest.rfind(b"@", 0, authority_end)
    if not sep or at < 0:
        return target
    return scheme + sep + b"REDACTED:REDACTED" + rest[at:]


def _redact(query: str, keys: frozenset[str]) -> str:
    """Values of secret-looking keys never reach span attributes; the rest of the query is kept."""
    lowered = query.lower()
    if not any(key in lowered for key in keys):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if k.lower() in keys else v) for k, v in pairs], safe="{}/:@")
