"""Secrets never leave the proxy: a real `tracecar proxy` exports spans to a real OTLP receiver, and no
secret a request or response carried appears anywhere in the exported bytes or in the proxy's log.

Credentials headers (Authorization, Cookie, Set-Cookie, Proxy-Authorization) are never recorded; the
values of the configured query keys are REDACTED in url.query; userinfo in an absolute-form target is
REDACTED:REDACTED."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.e2e.proxy_process import proxy_process
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, Wire, read_response

SECRETS = [b"s3cr3t-%d-value" % i for i in range(10)]


def sets_a_cookie(connection: Connection, head: Message) -> bool:
    connection.read_body(head)
    headers = [(b"Set-Cookie", b"session=" + SECRETS[7]), (b"Content-Length", b"2")]
    connection.send(respond(200, b"ok", headers))
    return True


def exchange(port: int, request: bytes) -> int:
    wire = Wire(socket.create_connection(("127.0.0.1", port), timeout=10))
    wire.send(request)
    status = read_response(wire).status
    wire.sock.close()
    return status


def test_no_secret_reaches_spans_or_logs(tmp_path: Path) -> None:
    s = SECRETS
    requests = [
        b"GET /a?token=%s&password=%s&Key=%s&session_id=%s&page=2 HTTP/1.1\r\n" % (s[0], s[1], s[2], s[3])
        + b"Host: app\r\nAuthorization: Bearer %s\r\nCookie: c=%s\r\n" % (s[4], s[5])
        + b"Proxy-Authorization: Basic %s\r\n\r\n" % s[6],
        b"GET http://user:%s@app/b HTTP/1.1\r\nHost: app\r\n\r\n" % s[8],
    ]
    bad = b"GET /x HTTP/1.1 extra\r\nHost: app\r\nAuthorization: Bearer %s\r\n\r\n" % s[9]
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    upstream = HttpServer(sets_a_cookie)
    with OtlpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.http_endpoint
        args = ("--redact-query-keys", "token,password,key,session_id", "--log-level", "debug")
        with proxy_process(upstream.port, tmp_path, *args, env=env) as proxy:
            assert [exchange(proxy.inbound, request) for request in requests] == [200, 200]
            assert exchange(proxy.inbound, bad) == 400
            spans = receiver.wait_for_spans(2)
            time.sleep(0.2)  # anything else the proxy would have exported or logged
            exported = b"".join(received.request.SerializeToString() for received in receiver.received)
        upstream.close()
        log = proxy.log.read_bytes()
    attributes = {a.key: a.value.string_value for span in spans for a in span.attributes}
    assert (
        attributes["url.query"] == "token=REDACTED&password=REDACTED&Key=REDACTED&session_id=REDACTED&page=2"
    )
    paths = sorted(a.value.string_value for span in spans for a in span.attributes if a.key == "url.path")
    assert paths == ["/a", "http://REDACTED:REDACTED@app/b"]
    for secret in SECRETS:
        assert secret not in exported
        assert secret not in log
    assert b"refused" in log  # the bad request was logged, without its headers
