"""Exchanges as spans: names, kinds, attributes and status per the stable HTTP semantic conventions."""

from __future__ import annotations

import pytest

from propagation import Extracted, SpanContext
from proxy.exchange import Exchange
from proxy.http1.head import parse_request
from proxy.http_span import CLIENT, ERROR, SERVER, UNSET, HttpSpan, describe
from proxy.routes import Routes

CONTEXT = SpanContext(b"1" * 32, b"2" * 16, 1)


def exchange(raw: bytes, direction: str = "inbound", status: int = 200, error_type: str = "") -> Exchange:
    head = parse_request(raw)
    done = Exchange(
        direction, head, Extracted(), CONTEXT, peer=("10.0.0.7", 41234), destination=("10.0.0.9", 8080)
    )
    done.status, done.error_type = status, error_type
    done.request_bytes, done.response_bytes = 3, 11
    return done


def span(raw: bytes, **kwargs: object) -> tuple[HttpSpan, dict[str, str | int | float | bool]]:
    result = describe(exchange(raw, **kwargs), Routes())  # type: ignore[arg-type]
    return result, dict(result.attributes)


GET = b"GET /users/8412/orders?limit=5 HTTP/1.1\r\nHost: shop:8080\r\nUser-Agent: curl/8.0\r\n\r\n"


def test_server_span() -> None:
    result, attributes = span(GET)
    assert (result.name, result.kind, result.status) == ("GET /users/{id}/orders", SERVER, UNSET)
    assert attributes == {
        "http.request.method": "GET",
        "server.address": "shop",
        "server.port": 8080,
        "url.scheme": "http",
        "url.path": "/users/8412/orders",
        "http.route": "/users/{id}/orders",
        "url.query": "limit=5",
        "client.address": "10.0.0.7",
        "network.peer.address": "10.0.0.7",
        "network.peer.port": 41234,
        "network.protocol.version": "1.1",
        "user_agent.original": "curl/8.0",
        "http.response.status_code": 200,
        "http.request.body.size": 3,
        "http.response.body.size": 11,
    }


def test_client_span() -> None:
    result, attributes = span(GET, direction="outbound")
    assert result.kind == CLIENT
    assert attributes["url.full"] == "http://shop:8080/users/8412/orders?limit=5"
    assert attributes["network.peer.address"] == "10.0.0.9"
    assert "url.path" not in attributes


@pytest.mark.parametrize(
    ("direction", "status", "error"),
    [("inbound", 404, False), ("inbound", 503, True), ("outbound", 404, True), ("outbound", 302, False)],
)
def test_status_thresholds(direction: str, status: int, error: bool) -> None:
    """Semconv: server spans are errors from 500, client spans from 400; error.type is the status code."""
    result, attributes = span(GET, direction=direction, status=status)
    assert (result.status == ERROR) is error
    assert (attributes.get("error.type") == str(status)) is error


def test_failures_are_errors_with_a_type() -> None:
    result, attributes = span(GET, status=502, error_type="upstream_refused")
    assert result.status == ERROR
    assert attributes["error.type"] == "upstream_refused"


def test_unknown_method_is_other() -> None:
    result, attributes = span(b"PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n")
    assert result.name == "HTTP /cache"
    assert attributes["http.request.method"] == "_OTHER"
    assert attributes["http.request.method_original"] == "PURGE"


def test_secret_query_values_are_redacted() -> None:
    _, attributes = span(b"GET /a?user=bob&token=s3cr3t&api_key=x&Password=p HTTP/1.1\r\nHost: a\r\n\r\n")
    query = str(attributes["url.query"])
    assert "s3cr3t" not in query
    assert "user=bob" in query
    assert "token=REDACTED" in query
    assert "Password=REDACTED" in query


def test_ipv6_host_header() -> None:
    _, attributes = span(b"GET / HTTP/1.1\r\nHost: [fd00::2]:9090\r\n\r\n")
    assert (attributes["server.address"], attributes["server.port"]) == ("fd00::2", 9090)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (b"/", "/"),
        (b"/users/42", "/users/{id}"),
        (b"/o/123e4567-e89b-12d3-a456-426614174000/items", "/o/{id}/items"),
        (b"/blob/9f86d081884c7d659a2feaa0c55ad015", "/blob/{id}"),
        (b"/v1/health", "/v1/health"),
        (b"/names/alice", "/names/alice"),
    ],
)
def test_routes_replace_ids(path: bytes, route: str) -> None:
    assert Routes().route(path) == route


def test_configured_templates_win() -> None:
    routes = Routes(["/names/{name}", "/users/{user}/orders/{order}"])
    assert routes.route(b"/names/alice") == "/names/{name}"
    assert routes.route(b"/users/a1/orders/b2") == "/users/{user}/orders/{order}"
    assert routes.route(b"/users/a1/orders") == "/users/a1/orders"


@pytest.mark.parametrize("template", ["users/{user}", "/users/{user", "/users/{}", "/a/{x/y}", "/a}"])
def test_a_template_that_could_never_match_is_refused(template: str) -> None:
    with pytest.raises(ValueError, match="a template is a path from its first slash"):
        Routes([template])


def test_a_resent_request_says_so_on_client_spans_only() -> None:
    """Semconv http.request.resend_count: client spans, present once a request went again."""
    for direction, expected in (("outbound", 1), ("inbound", None)):
        resent = exchange(GET, direction=direction)
        resent.resends = 1
        attributes = dict(describe(resent, Routes()).attributes)
        assert attributes.get("http.request.resend_count") == expected
    assert "http.request.resend_count" not in span(GET, direction="outbound")[1]
