"""gRPC unary RPC rate through one tracecar sidecar, side by side with the same client going direct.

    .venv/bin/python -m loadtests.grpc_bench [--seconds S] [--concurrency C] [--rounds R]

Starts the demo gRPC server (tests/h2/grpc_app.py) and `tracecar proxy --upstream` in front of it,
each as its own process, then runs the same grpc.aio client (one channel, C RPCs in flight) against
the server directly and through the proxy, alternating R times, and reports RPC/s of each and the
ratio. Every span is recorded (always-on sampling) and handed to the `none` exporter. Goal: the
proxied rate is at least half the direct one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import grpc.aio

from loadtests.webhook_bench import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def process(argv: list[str], port: int) -> Iterator[None]:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if child.poll() is not None or time.monotonic() > deadline:
                output = child.stderr.read().decode() if child.stderr else ""
                raise RuntimeError(f"{argv[2]} did not start: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        child.terminate()
        child.wait(10)


async def rate(port: int, seconds: float, concurrency: int) -> float:
    """Unary RPCs per second over one channel with `concurrency` in flight, each answer checked."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Unary")
        await call(b"warm-up", timeout=10)
        done = 0
        stop = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                if await call(b"ping", timeout=10) != b"ping":
                    raise RuntimeError("wrong answer")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    app, inbound = free_port(), free_port()
    python = sys.executable
    server = [python, "-m", "tests.h2.grpc_app", str(app)]
    proxy = [python, "-m", "proxy.cli", "proxy", "--upstream", f"127.0.0.1:{app}", "--no-ipv6"]
    proxy += ["--inbound-port", str(inbound), "--outbound-port", str(free_port())]
    proxy += ["--admin-port", str(free_port()), "--log-level", "warning"]
    direct, proxied = [], []
    with process(server, app), process(proxy, inbound):
        for _ in range(args.rounds):
            direct.append(asyncio.run(rate(app, args.seconds, args.concurrency)))
            proxied.append(asyncio.run(rate(inbound, args.seconds, args.concurrency)))
    best_direct, best_proxied = max(direct), max(proxied)
    shape = f"one channel, {args.concurrency} in flight, best of {args.rounds} x {args.seconds:g} s"
    print(f"grpc unary, {shape}")
    print(f"direct          {best_direct:8.0f} RPC/s")
    print(f"through tracecar {best_proxied:7.0f} RPC/s  ({best_proxied / best_direct:.0%} of direct)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
