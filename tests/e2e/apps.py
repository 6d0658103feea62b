"""Two tiny real applications for pod tests: `python -m tests.e2e.apps front|back PORT [NEXT_URL]`.

`front` calls NEXT_URL and forwards the trace headers it received, as an instrumented or
header-forwarding application does; `forgetful` calls it forwarding none, as an application nobody
instrumented; `back` answers with what it saw; `slow PORT SECONDS` is `back` taking that long per
request.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import sys
import time
import urllib.parse

TRACE_HEADERS = ("traceparent", "tracestate", "baggage")


class Back(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay_s = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        seen = {name: self.headers.get(name) for name in TRACE_HEADERS}
        self.reply(200, json.dumps({"service": "back", "path": self.path, "seen": seen}).encode())

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Front(Back):
    next_url = ""
    forwards = True

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.next_url)
        forwarded = {name: self.headers[name] for name in TRACE_HEADERS if self.headers.get(name)}
        if not self.forwards:
            forwarded = {}
        connection = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=10)  # [v6] too
        connection.request("GET", url.path, headers=forwarded)
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        self.reply(answer.status, body)


class DualStackServer(http.server.ThreadingHTTPServer):
    """Listens on IPv6 and IPv4 (mapped) alike, as pod applications usually do."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    handler: type[Back] = Back
    if role == "slow":  # back, answering after the given number of seconds
        Back.delay_s = float(sys.argv[3])
    elif role in ("front", "forgetful"):
        Front.next_url = sys.argv[3]
        Front.forwards = role == "front"
        handler = Front
    server = DualStackServer(("::", port), handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
