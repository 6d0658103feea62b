"""What the load tools print, turned into numbers: wrk, hey and h2load, as pure functions of their text.

Every parser returns a `ToolResult`; text that is not the tool's summary raises `ToolOutputError`
naming the tool and what was missing, so a broken run is reported with its cause, never as zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class ToolOutputError(ValueError):
    """The text is not a complete summary of the tool's run."""


@dataclass
class ToolResult:
    requests: int  # completed requests (any status)
    seconds: float  # how long the tool measured
    rate: float  # completed requests per second
    errors: int  # socket errors, timeouts and non-2xx/3xx answers
    bytes_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)  # "p50", "p99", "max", ...
    successes: int | None = None  # requests answered 2xx, where the tool says


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


def _bytes(value: str, unit: str) -> float:
    return float(value) * _SIZE_UNITS[unit]


def _search(pattern: str, text: str, tool: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise ToolOutputError(f"{tool}: no {what} in its output: {text[-500:]!r}")
    return found


def parse_wrk(text: str) -> ToolResult:
    """`wrk --latency` output."""
    done = _search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, "wrk", "request count")
    rate = _search(r"^Requests/sec:\s+([\d.]+)", text, "wrk", "Requests/sec")
    transfer = _search(r"^Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", text, "wrk", "Transfer/sec")
    latency = {
        f"p{int(p)}": _ms(v, u)
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    }
    if "p50" not in latency:
        raise ToolOutputError(f"wrk: no latency distribution (run it with --latency): {text[-500:]!r}")
    stats = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", text, re.MULTILINE)
    if stats is not None:
        latency["max"] = _ms(*stats.groups())
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket is not None:
        errors += sum(int(n) for n in socket.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx is not None:
        errors += int(non_2xx.group(1))
    requests = int(done.group(1))
    return ToolResult(
        requests=requests,
        seconds=_ms(done.group(2), done.group(3)) / 1e3,
        rate=float(rate.group(1)),
        errors=errors,
        bytes_per_s=_bytes(*transfer.groups()),
        latency_ms=latency,
        successes=requests - (int(non_2xx.group(1)) if non_2xx else 0),
    )


def parse_hey(text: str) -> ToolResult:
    """hey's default summary. Its times have 0.1 ms resolution (four decimals of a second)."""
    total = _search(r"^\s*Total:\s+([\d.]+) secs", text, "hey", "Total")
    rate = _search(r"^\s*Requests/sec:\s+([\d.]+)", text, "hey", "Requests/sec")
    latency = {
        f"p{p}": float(v) * 1e3 for p, v in re.findall(r"^\s+(\d+)%+ in ([\d.]+) secs", text, re.MULTILINE)
    }
    if "p50" not in latency:
        raise ToolOutputError(f"hey: no latency distribution in its output: {text[-500:]!r}")
    slowest = re.search(r"^\s*Slowest:\s+([\d.]+) secs", text, re.MULTILINE)
    if slowest is not None:
        latency["max"] = float(slowest.group(1)) * 1e3
    statuses = {int(code): int(n) for code, n in re.findall(r"^\s+\[(\d{3})\]\s+(\d+) responses", text, re.M)}
    failed = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+(?!\d+ responses)", text, re.MULTILINE))
    successes = sum(n for code, n in statuses.items() if 200 <= code < 400)
    requests = sum(statuses.values()) + failed
    data = re.search(r"^\s*Total data:\s+(\d+) bytes", text, re.MULTILINE)
    seconds = float(total.group(1))
    return ToolResult(
        requests=requests,
        seconds=seconds,
        rate=float(rate.group(1)),
        errors=requests - successes,
        bytes_per_s=int(data.group(1)) / seconds if data is not None and seconds > 0 else None,
        latency_ms=latency,
        successes=successes,
    )


def parse_h2load(text: str) -> ToolResult:
    """h2load's summary: rate, request counts and min/mean/max request time (no percentiles)."""
    finished = _search(
        r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s, ([\d.]+)(B|KB|MB|GB)/s", text, "h2load", "summary"
    )
    counts = _search(
        r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
        text,
        "h2load",
        "request counts",
    )
    times = re.search(
        r"^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text, re.MULTILINE
    )
    latency = {}
    if times is not None:
        low, high, mean = (_ms(times.group(i), times.group(i + 1)) for i in (1, 3, 5))
        latency = {"min": low, "mean": mean, "max": high}
    done, succeeded = int(counts.group(3)), int(counts.group(4))
    return ToolResult(
        requests=done,
        seconds=_ms(finished.group(1), finished.group(2)) / 1e3,
        rate=float(finished.group(3)),
        errors=int(counts.group(5)) + int(counts.group(6)) + (done - succeeded if done > succeeded else 0),
        bytes_per_s=_bytes(finished.group(4), finished.group(5)),
        latency_ms=latency,
        successes=succeeded,
    )


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition: `name{labels}` -> value, summing over the labels of a name too."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            continue
        series, raw = parts
        try:
            value = float(raw)
        except ValueError:
            continue
        values[series] = value
        name = series.split("{", 1)[0]
        if name != series:
            values[name] = values.get(name, 0.0) + value
    return values
