"""The scenarios: which load tool runs, against which port and path, and how its output is read.

Each scenario is data: `command(address, seconds)` gives the argv run in the client namespace, and
`parse` turns the tool's standard output into a `ToolResult`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.servers import APP_PORT, GRPC_PORT, H2_PORT, LARGE, SMALL
from loadtests.tool_output import ToolOutputError, ToolResult, parse_h2load, parse_hey, parse_wrk

FIXED_RATE = 1000  # requests/s of the latency scenario
SPANS_RATE = 5000  # spans/s of the span-export scenario: one SERVER span per inbound request
# hey's -q is per worker (the rate is workers x q) and a worker waits for its answer before taking
# the next tick of its ticker, so a tick is lost whenever one answer takes longer than the tick:
# many workers with long ticks keep the rate when latency varies. But the workers' tickers run in
# phase: every tick all workers send at the same instant. With 20 workers the latency measured was the
# time to serve a burst of 20 requests (+1.3 ms through tracecar, whose CPU per request is several
# times nginx's), not a sidecar hop at 1,000 req/s; with 4 a tick is 4 ms, far above an answer's time.
_HEY_PER_WORKER = 250


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    protocol: str  # "h1", "h2" or "grpc": a configuration may not proxy every protocol
    command: Callable[[str, float], list[str]]
    parse: Callable[[str], ToolResult]
    spans: bool = False  # the span-export scenario: tracecar only, --spans-duration long


def _url(address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}{path}"


def _wrk(connections: int, path: str, *extra: str) -> Callable[[str, float], list[str]]:
    def command(address: str, seconds: float) -> list[str]:
        duration = f"{max(1, round(seconds))}s"
        url = _url(address, APP_PORT, path)
        return ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", *extra, url]

    return command


def _hey(rate: int) -> Callable[[str, float], list[str]]:
    workers = max(1, rate // _HEY_PER_WORKER)

    def command(address: str, seconds: float) -> list[str]:
        per_worker = str(rate // workers)
        duration = f"{max(1, round(seconds))}s"
        return ["hey", "-z", duration, "-c", str(workers), "-q", per_worker, _url(address, APP_PORT, SMALL)]

    return command


def _h2load(address: str, seconds: float) -> list[str]:
    duration = str(max(1, round(seconds)))
    return ["h2load", "-t1", "-c32", "-m10", "-D", duration, _url(address, H2_PORT, SMALL)]


def _grpc(mode: str) -> Callable[[str, float], list[str]]:
    def command(address: str, seconds: float) -> list[str]:
        target = f"[{address}]:{GRPC_PORT}" if ":" in address else f"{address}:{GRPC_PORT}"
        return [sys.executable, "-m", "loadtests.grpc_load", mode, target, "--seconds", str(seconds)]

    return command


def parse_grpc_load(text: str) -> ToolResult:
    """The JSON line `loadtests.grpc_load` prints; a run where every call failed is an error."""
    try:
        data = json.loads(text.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise ToolOutputError(f"grpc_load: no JSON summary in its output: {text[-500:]!r}") from exc
    if data["calls"] == 0:
        raise ToolOutputError(f"grpc_load: no call succeeded; first error: {data.get('first_error')}")
    return ToolResult(
        requests=data["calls"],
        seconds=data["seconds"],
        rate=data["calls"] / data["seconds"],
        errors=data["errors"],
        bytes_per_s=data["bytes"] / data["seconds"],
        latency_ms=data["latency_ms"],
        successes=data["calls"],
    )


_KEEPALIVE = "HTTP/1.1 keep-alive, 1 KiB responses, wrk -c32 (saturation)"
_C256 = "the same with 256 connections (is cost flat as load grows?)"
_NEW_CONN = "a new connection per request (Connection: close), 1 KiB, wrk -c32"
_CLOSE = ("-H", "Connection: close")
# Ordered so that the scenarios leaving thousands of sockets in TIME-WAIT in the pod (many connections,
# a connection per request) come after those they would slow down; the report shows the count.
SCENARIOS = [
    Scenario("h1-1k", _KEEPALIVE, "h1", _wrk(32, SMALL), parse_wrk),
    Scenario(
        "rate-1000", f"fixed rate {FIXED_RATE} req/s, 1 KiB (hey; latency)", "h1", _hey(FIXED_RATE), parse_hey
    ),
    Scenario("h1-1m", "HTTP/1.1 keep-alive, 1 MiB responses, wrk -c8", "h1", _wrk(8, LARGE), parse_wrk),
    Scenario("h2-1k", "HTTP/2 (h2c), 1 KiB, h2load -c32 -m10 (saturation)", "h2", _h2load, parse_h2load),
    Scenario(
        "grpc-unary", "gRPC unary, 100-byte messages, 32 calls in flight", "grpc",
        _grpc("unary"), parse_grpc_load,
    ),
    Scenario(
        "grpc-stream-1m", "gRPC server streaming, 1 MiB messages, 4 streams", "grpc",
        _grpc("stream"), parse_grpc_load,
    ),
    Scenario("h1-1k-c256", _C256, "h1", _wrk(256, SMALL), parse_wrk),
    Scenario("h1-new-conn", _NEW_CONN, "h1", _wrk(32, SMALL, *_CLOSE), parse_wrk),
    Scenario(
        "spans-5000", f"span export: {SPANS_RATE} spans/s sustained, none may drop", "h1",
        _hey(SPANS_RATE), parse_hey, spans=True,
    ),
]  # fmt: skip
BY_NAME = {s.name: s for s in SCENARIOS}
