"""A real grpcio server for the HTTP/2 tests: service `demo.Echo`, raw bytes in and out (no protoc).

    python -m tests.h2.grpc_app PORT [BACKEND]     prints "ready" once serving

Methods: Unary (echoes the request and the traceparent it saw, as JSON when the request is b"?"),
Status (request b"<code>": ends with that status), Sleep (request b"<seconds>"), ServerStream
(request b"<n>": n numbered replies), ClientStream (joins the requests), Bidi (echoes each),
Metadata (echoes invocation metadata as initial metadata and as trailers), Download (request
b"<n>": n messages of 1 MiB). With BACKEND
(host:port) it also serves `demo.Front/Call`, which calls the backend's Unary with the trace
headers it received, as an instrumented application would, and returns the answer.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

SERVICE = "demo.Echo"


def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request != b"?":
        return request
    seen = dict(context.invocation_metadata())
    return json.dumps({"traceparent": seen.get("traceparent")}).encode()


def status(request: bytes, context: grpc.ServicerContext) -> bytes:
    code = next(c for c in grpc.StatusCode if c.value[0] == int(request))
    if code != grpc.StatusCode.OK:
        context.abort(code, f"asked for {code.name}")
    return b"ok"


def sleep(request: bytes, context: grpc.ServicerContext) -> bytes:
    time.sleep(float(request))
    return b"slept"


def server_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for i in range(int(request)):
        yield b"%d" % i


def download(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    """`request` messages of 1 MiB; message i is filled with byte i % 251, so loss or reordering shows."""
    for i in range(int(request)):
        yield bytes((i % 251,)) * (1 << 20)


def client_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    return b"|".join(requests)


def bidi(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    yield from requests


def metadata(request: bytes, context: grpc.ServicerContext) -> bytes:
    pairs = tuple((k, v) for k, v in context.invocation_metadata() if k.startswith("x-"))
    context.send_initial_metadata(pairs)
    context.set_trailing_metadata(pairs)
    return request


def handlers() -> grpc.GenericRpcHandler:
    u, ss = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler
    cs, bd = grpc.stream_unary_rpc_method_handler, grpc.stream_stream_rpc_method_handler
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": u(unary),
            "Status": u(status),
            "Sleep": u(sleep),
            "Metadata": u(metadata),
            "ServerStream": ss(server_stream),
            "Download": ss(download),
            "ClientStream": cs(client_stream),
            "Bidi": bd(bidi),
        },
    )


def methods(channel: grpc.Channel) -> Methods:
    return Methods(channel)


class Methods:
    """The client side of `demo.Echo`, typed."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Unary")
        self.status: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Status")
        self.sleep: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Sleep")
        self.metadata: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Metadata")
        self.server_stream: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            "/demo.Echo/ServerStream"
        )
        self.client_stream: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(
            "/demo.Echo/ClientStream"
        )
        self.bidi: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream("/demo.Echo/Bidi")


OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


def front(backend: str) -> grpc.GenericRpcHandler:
    unary = methods(grpc.insecure_channel(backend)).unary

    def call(request: bytes, context: grpc.ServicerContext) -> bytes:
        trace = tuple((k, v) for k, v in context.invocation_metadata() if k in ("traceparent", "tracestate"))
        return unary(b"?", metadata=trace, timeout=10)

    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(call)
    return grpc.method_handlers_generic_handler("demo.Front", {"Call": handler})


def serve(address: str, workers: int = 32, backend: str = "") -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=OPTIONS)
    server.add_generic_rpc_handlers((handlers(), front(backend)) if backend else (handlers(),))
    server.add_insecure_port(address)
    server.start()
    return server


if __name__ == "__main__":
    running = serve(f"[::]:{sys.argv[1]}", backend=sys.argv[2] if len(sys.argv) > 2 else "")
    print("ready", flush=True)
    running.wait_for_termination()
