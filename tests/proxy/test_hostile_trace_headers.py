"""Oversized or hostile trace headers and request fields never break the request and never reach a
span (attributes, name, tracestate) or the forwarded request unbounded."""

from __future__ import annotations

import pytest

from proxy.http_span import MAX_ATTRIBUTE_CHARS, describe
from proxy.routes import Routes
from tests.proxy.sidecar import ThreadSidecar
from tests.proxy.upstream import HttpServer
from tests.proxy.wire import connect, read_response

VALID = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NEAR_LIMIT = 60_000  # under the 64 KiB head limit with the rest of the head
HOSTILE = {
    "huge traceparent": [(b"traceparent", b"00-" + b"a" * NEAR_LIMIT)],
    "future version, huge": [(b"traceparent", b"cc-" + VALID[3:] + b"-" + b"x" * NEAR_LIMIT)],
    "huge tracestate": [(b"traceparent", VALID), (b"tracestate", b"k=" + b"v" * NEAR_LIMIT)],
    "many tracestate members": [
        (b"traceparent", VALID),
        (b"tracestate", b",".join(b"k%d=v" % i for i in range(NEAR_LIMIT // 8))),
    ],
    "huge baggage": [(b"baggage", b",".join(b"k%d=%s" % (i, b"v" * 100) for i in range(NEAR_LIMIT // 110)))],
    "huge b3": [(b"b3", b"a" * NEAR_LIMIT)],
    "obs-text and junk in tracestate": [(b"traceparent", VALID), (b"tracestate", b"k=\xff\xfe,=,,@@" * 1000)],
    "huge user agent": [(b"user-agent", b"u" * NEAR_LIMIT)],
    "many headers of each": [(b"traceparent", VALID)] * 40 + [(b"tracestate", b"a=b")] * 40,
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_headers_are_bounded(sidecar: ThreadSidecar, upstream: HttpServer, case: str) -> None:
    fields = b"".join(b"%s: %s\r\n" % field for field in HOSTILE[case])
    target = b"/" + b"p" * 2000 + b"?" + b"q" * 2000
    wire = connect(sidecar.port)
    wire.send(b"GET %s HTTP/1.1\r\nHost: app\r\n%s\r\n" % (target, fields))
    assert read_response(wire).status == 200
    forwarded = upstream.requests[0]
    assert len(b"".join(forwarded.header_all(b"tracestate"))) <= 512
    assert len(b"".join(forwarded.header_all(b"baggage"))) <= 8192
    assert len(forwarded.header_all(b"traceparent")) == 1
    exchange = sidecar.wait_exchanges(1)[0]
    assert len(exchange.context.trace_state.to_header()) <= 512
    span = describe(exchange, Routes())
    assert len(span.name) <= MAX_ATTRIBUTE_CHARS + 10
    for key, value in span.attributes:
        assert not isinstance(value, str) or len(value) <= MAX_ATTRIBUTE_CHARS, key
