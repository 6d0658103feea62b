"""The demo shop's applications, each run in its own network namespace next to its sidecar:

    python -m proxy.demo.apps frontend  --port 8080  --checkout checkout:50051  --ready FILE
    python -m proxy.demo.apps checkout  --port 50051 --inventory inventory:8080 --ready FILE
    python -m proxy.demo.apps inventory --port 8080  --redis redis:6379         --ready FILE

frontend: `GET /buy/<item>?qty=N` -> gRPC `shop.Checkout/PlaceOrder` (JSON bytes, no generated code)
-> checkout: `POST /reserve/<item>?qty=N` on inventory -> inventory: Redis `GET`/`DECRBY stock:<item>`.
An unknown item is 404 / NOT_FOUND; an item out of stock is 409 at inventory, FAILED_PRECONDITION at
checkout and 503 at the frontend.

Like any instrumented application, they copy the trace headers of the request they serve onto the
requests they make (as gRPC metadata over gRPC) so the sidecars can link the hops, all but checkout,
which forgets: its calls to inventory start traces of their own, the broken hop the demo shows.
No tracing code here: the sidecars make every span. `--ready FILE` is written once listening.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.parse
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc

from proxy.demo.resp import Redis

TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
SERVICE, METHOD = "shop.Checkout", "PlaceOrder"
CALL_TIMEOUT_S = 5.0
# How each gRPC status the frontend can get reaches its own client.
HTTP_STATUS = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.FAILED_PRECONDITION: 503}


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


class JsonHandler(BaseHTTPRequestHandler):
    """Answers JSON; quiet (the demo prints its own progress)."""

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def item_and_quantity(self, prefix: str) -> tuple[str, int] | None:
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith(prefix) or len(url.path) == len(prefix):
            return None
        quantity = urllib.parse.parse_qs(url.query).get("qty", ["1"])[0]
        return url.path[len(prefix) :], int(quantity) if quantity.isdigit() else 1


def frontend(args: argparse.Namespace) -> ThreadingHTTPServer:
    channel = grpc.insecure_channel(args.checkout)
    place_order: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/{METHOD}")

    class Frontend(JsonHandler):
        def do_GET(self) -> None:
            wanted = self.item_and_quantity("/buy/")
            if wanted is None:
                self.answer(404, {"error": "try /buy/<item>?qty=N"})
                return
            item, quantity = wanted
            metadata = tuple((name, str(self.headers[name])) for name in TRACE_HEADERS if self.headers[name])
            request = json.dumps({"item": item, "qty": quantity}).encode()
            try:
                reply = place_order(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as error:
                code = error.code()
                self.answer(HTTP_STATUS.get(code, 502), {"error": error.details()})
                return
            self.answer(200, json.loads(reply))

    return ThreadingHTTPServer(("0.0.0.0", args.port), Frontend)


def checkout(args: argparse.Namespace) -> grpc.Server:
    inventory = host_port(args.inventory)

    def place_order(request: bytes, context: grpc.ServicerContext) -> bytes:
        order = json.loads(request)
        item = urllib.parse.quote(str(order["item"]), safe="")
        # The broken hop: the trace headers in context.invocation_metadata() are not passed on.
        connection = http.client.HTTPConnection(*inventory, timeout=CALL_TIMEOUT_S)
        try:
            connection.request("POST", f"/reserve/{item}?qty={int(order['qty'])}")
            answer = connection.getresponse()
            body = json.loads(answer.read() or b"{}")
        finally:
            connection.close()
        if answer.status == 404:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such item: {order['item']}")
        if answer.status == 409:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"out of stock: {order['item']}")
        if answer.status != 200:
            context.abort(grpc.StatusCode.INTERNAL, f"inventory answered {answer.status}")
        return json.dumps({"item": order["item"], "left": body.get("left")}).encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(place_order)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})])
    server.add_insecure_port(f"0.0.0.0:{args.port}")
    return server


def inventory(args: argparse.Namespace) -> ThreadingHTTPServer:
    redis_at = host_port(args.redis)

    class Inventory(JsonHandler):
        def do_POST(self) -> None:
            wanted = self.item_and_quantity("/reserve/")
            if wanted is None:
                self.answer(404, {"error": "try POST /reserve/<item>?qty=N"})
                return
            item, quantity = wanted
            key = f"stock:{urllib.parse.unquote(item)}"
            with Redis(*redis_at) as redis:
                if redis.command("GET", key) is None:
                    self.answer(404, {"error": "no such item"})
                    return
                left = redis.command("DECRBY", key, quantity)
                if isinstance(left, int) and left < 0:
                    redis.command("INCRBY", key, quantity)
                    self.answer(409, {"error": "out of stock"})
                    return
            self.answer(200, {"left": left})

    return ThreadingHTTPServer(("0.0.0.0", args.port), Inventory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy.demo.apps", description=__doc__)
    parser.add_argument("service", choices=("frontend", "checkout", "inventory"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--checkout", default="checkout:50051")
    parser.add_argument("--inventory", default="inventory:8080")
    parser.add_argument("--redis", default="redis:6379")
    parser.add_argument("--ready", help="file to create once listening")
    args = parser.parse_args(argv)
    if args.service == "checkout":
        server = checkout(args)
        server.start()
        _ready(args.ready)
        server.wait_for_termination()
        return 0
    http_server = frontend(args) if args.service == "frontend" else inventory(args)
    _ready(args.ready)
    http_server.serve_forever()
    return 0


def _ready(path: str | None) -> None:
    if path:
        Path(path).write_text("ready\n")


if __name__ == "__main__":
    sys.exit(main())
