"""Plain (non-gRPC) HTTP/2 through the relay: the h2c test application behind the real listener."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from proxy.http_span import describe
from proxy.routes import Routes
from tests.h2.frames import RawClient
from tests.h2.harness import RunningProxy, free_port, running_proxy


@pytest.fixture(scope="module")
def proxy() -> Iterator[RunningProxy]:
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.h2.h2c_app", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    with running_proxy(("127.0.0.1", port)) as running:
        yield running
    app.terminate()
    app.wait(5)


def test_curl_prior_knowledge_gets_an_http_span(proxy: RunningProxy) -> None:
    url = f"http://127.0.0.1:{proxy.port}/orders/12?x=1"
    answer = json.loads(
        subprocess.run(
            ["curl", "-sS", "--http2-prior-knowledge", url], capture_output=True, text=True, check=True
        ).stdout
    )
    assert answer["seen"]["path"] == "/orders/12?x=1"
    exchange = proxy.wait_for_exchanges(1)[-1]
    span = describe(exchange, Routes())
    attributes = dict(span.attributes)
    assert span.name == "GET /orders/{id}"
    assert attributes["network.protocol.version"] == "2"
    assert attributes["http.response.status_code"] == 200
    assert answer["seen"]["traceparent"].split("-")[2] == exchange.context.span_id.decode()


def test_an_upstream_reset_reaches_the_client_with_its_code(proxy: RunningProxy) -> None:
    client = RawClient(proxy.port)
    head = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/reset"), (b":authority", b"app")]
    client.send(client.headers(1, head, end_stream=True))
    assert client.ending() == ("rst", 0x2)
    client.close()
    exchange = proxy.wait_for_exchanges(2)[-1]
    assert exchange.error_type == "upstream_reset"
