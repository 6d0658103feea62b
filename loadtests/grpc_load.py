"""gRPC load for the comparison, with grpcio on both sides and no generated code (raw bytes messages).

    python -m loadtests.grpc_load serve PORT                 # the application's gRPC server
    python -m loadtests.grpc_load unary HOST:PORT --seconds S
    python -m loadtests.grpc_load stream HOST:PORT --seconds S

`unary` keeps UNARY_IN_FLIGHT calls of UNARY_SIZE bytes in flight; `stream` keeps STREAMS server
streams open, each asking for STREAM_MESSAGES messages of 1 MiB. The client prints one JSON line:
calls (messages for `stream`), seconds, bytes, errors, the first error, latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import grpc

SERVICE = "loadtests.Bench"
UNARY_SIZE = 100
UNARY_IN_FLIGHT = 32
STREAMS = 4
STREAM_MESSAGES = 16
MESSAGE_1M = 1024 * 1024
READY_TIMEOUT_S = 5.0  # on a veth pair, a channel that is not up by then never will be
_LIMITS = [
    ("grpc.max_receive_message_length", 8 * MESSAGE_1M),
    ("grpc.max_send_message_length", 8 * MESSAGE_1M),
]
_BLOCK = b"x" * MESSAGE_1M


def _identity(data: bytes) -> bytes:
    return data


async def _unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def _stream(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]):  # type: ignore[no-untyped-def]
    for _ in range(int(request.decode() or "1")):
        yield _BLOCK


async def serve(port: int) -> None:
    server = grpc.aio.server(options=_LIMITS)
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary, _identity, _identity),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream, _identity, _identity),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    server.add_insecure_port(f"[::]:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


class _Tally:
    def __init__(self) -> None:
        self.calls = 0
        self.bytes = 0
        self.errors = 0
        self.first_error: str | None = None
        self.latencies: list[float] = []

    def failed(self, error: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(error).__name__}: {error}"[:500]


async def _unary_loop(channel: grpc.aio.Channel, deadline: float, tally: _Tally) -> None:
    call = channel.unary_unary(f"/{SERVICE}/Unary", _identity, _identity)
    payload = b"u" * UNARY_SIZE
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            answer = await call(payload, timeout=10)
        except grpc.aio.AioRpcError as error:
            tally.failed(error)
            await asyncio.sleep(0.01)
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.calls += 1
        tally.bytes += len(answer)


async def _stream_loop(channel: grpc.aio.Channel, deadline: float, tally: _Tally) -> None:
    call = channel.unary_stream(f"/{SERVICE}/Stream", _identity, _identity)
    while time.monotonic() < deadline:
        try:
            async for message in call(str(STREAM_MESSAGES).encode(), timeout=30):
                tally.calls += 1
                tally.bytes += len(message)
        except grpc.aio.AioRpcError as error:
            tally.failed(error)
            await asyncio.sleep(0.01)


async def load(mode: str, target: str, seconds: float) -> dict[str, object]:
    tally = _Tally()
    ready_s = min(READY_TIMEOUT_S, max(2.0, seconds))
    async with grpc.aio.insecure_channel(target, options=_LIMITS) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout=ready_s)
        except TimeoutError:
            tally.failed(TimeoutError(f"channel to {target} not ready in {ready_s:.0f} s"))
            return _summary(tally, 0.0)
        started = time.monotonic()
        deadline = started + seconds
        loop, width = (_unary_loop, UNARY_IN_FLIGHT) if mode == "unary" else (_stream_loop, STREAMS)
        await asyncio.gather(*(loop(channel, deadline, tally) for _ in range(width)))
        return _summary(tally, time.monotonic() - started)


def _summary(tally: _Tally, seconds: float) -> dict[str, object]:
    ordered = sorted(tally.latencies)
    latency = {}
    if ordered:
        for p in (50, 90, 99):
            latency[f"p{p}"] = ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1e3
        latency["max"] = ordered[-1] * 1e3
    return {
        "calls": tally.calls,
        "seconds": seconds,
        "bytes": tally.bytes,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "latency_ms": latency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serve", "unary", "stream"))
    parser.add_argument("target", help="PORT for serve, HOST:PORT otherwise")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        asyncio.run(serve(int(args.target)))
        return 0
    print(json.dumps(asyncio.run(load(args.mode, args.target, args.seconds))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
