"""The issue's goals, evaluated on one run's measurements: pure, rows in, verdicts out.

A goal whose inputs were not measured (a scenario not selected, or one that failed) has no verdict
(`passed` is None) and says which row is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loadtests.measurement import Measurement, find

SUBJECT = "tracecar-1"
THROUGHPUT = "HTTP/1.1 saturation throughput, 1 worker, spans on"
LATENCY = "added latency at 1,000 req/s over direct"
CPU = "proxy CPU at 1,000 req/s, export included"
CPU_BUDGET_US = 60.0


@dataclass(frozen=True)
class Verdict:
    goal: str
    target: str
    measured: str
    passed: bool | None  # None: not measured


class _Missing(Exception):
    pass


def _row(rows: list[Measurement], config: str, scenario: str) -> Measurement:
    found = find(rows, config, scenario)
    if found is None:
        raise _Missing(f"no successful {config} / {scenario} row")
    return found


def _value(value: float | None, what: str) -> float:
    if value is None:
        raise _Missing(f"{what} not measured")
    return value


def _throughput(rows: list[Measurement]) -> tuple[str, bool]:
    ours = _row(rows, SUBJECT, "h1-1k").rate
    nginx, mitm = _row(rows, "nginx", "h1-1k").rate, _row(rows, "mitmproxy", "h1-1k").rate
    text = f"{ours:,.0f} req/s = {ours / nginx:.0%} of nginx ({nginx:,.0f}), "
    text += f"{ours / mitm:.1f}x mitmproxy ({mitm:,.0f})"
    return text, ours >= 0.5 * nginx and ours >= 20 * mitm


def _latency(rows: list[Measurement]) -> tuple[str, bool]:
    ours, direct = _row(rows, SUBJECT, "rate-1000").latency_ms, _row(rows, "direct", "rate-1000").latency_ms
    p50, p99 = ours["p50"] - direct["p50"], ours["p99"] - direct["p99"]
    return f"+{p50:.2f} ms p50, +{p99:.2f} ms p99 (0.1 ms resolution)", p50 <= 0.2 and p99 <= 1.0


def _cpu(rows: list[Measurement]) -> tuple[str, bool]:
    row = _row(rows, SUBJECT, "rate-1000")
    vcpu = _value(row.vcpu_per_1k_rps, "proxy CPU")
    return (
        f"{vcpu:.3f} vCPU per 1,000 req/s ({_value(row.cpu_us_per_request, 'CPU'):.0f} us/request)",
        vcpu <= CPU_BUDGET_US / 1000,
    )


def _memory(rows: list[Measurement]) -> tuple[str, bool]:
    peaks = {SUBJECT: _value(_row(rows, SUBJECT, "rate-1000").proxy_peak_rss_mib, "peak RSS")}
    two = find(rows, "tracecar-2", "rate-1000")
    if two is not None and two.proxy_peak_rss_mib is not None:
        peaks["tracecar-2"] = two.proxy_peak_rss_mib
    text = ", ".join(f"{c}: {mib:.1f} MiB" for c, mib in peaks.items())
    return text, max(peaks.values()) <= 40


def _grpc(scenario: str) -> Callable[[list[Measurement]], tuple[str, bool]]:
    def check(rows: list[Measurement]) -> tuple[str, bool]:
        ours, direct = _row(rows, SUBJECT, scenario).rate, _row(rows, "direct", scenario).rate
        return f"{ours:,.0f}/s = {ours / direct:.0%} of direct ({direct:,.0f}/s)", ours >= 0.5 * direct

    return check


def _spans(rows: list[Measurement]) -> tuple[str, bool]:
    row = _row(rows, SUBJECT, "spans-5000")
    dropped, received = row.extra.get("spans_dropped", -1), row.extra.get("spans_received", 0)
    expected = row.extra.get("spans_expected", 0)
    text = f"offered 5,000/s, sustained {row.rate:,.0f}/s for {row.seconds:.0f} s: "
    text += f"{received:,.0f} of {expected:,.0f} spans received, {dropped:,.0f} dropped"
    return text, dropped == 0 and received >= expected > 0 and row.rate >= 0.95 * 5000


def _flat(rows: list[Measurement]) -> tuple[str, bool]:
    c32, c256 = _row(rows, SUBJECT, "h1-1k").rate, _row(rows, SUBJECT, "h1-1k-c256").rate
    ratio = c256 / c32
    return f"{c256:,.0f} vs {c32:,.0f} req/s ({ratio:.0%})", abs(ratio - 1) <= 0.2


GOALS: list[tuple[str, str, Callable[[list[Measurement]], tuple[str, bool]]]] = [
    (THROUGHPUT, ">= 50 % of nginx, >= 20x mitmproxy", _throughput),
    (LATENCY, "p50 <= 0.2 ms, p99 <= 1 ms", _latency),
    (CPU, "<= 0.06 vCPU per 1,000 req/s (60 us/request)", _cpu),
    ("peak RSS per worker at 1,000 req/s", "<= 40 MiB", _memory),
    ("gRPC unary rate at equal concurrency", ">= 50 % of direct", _grpc("grpc-unary")),
    ("gRPC streaming 1 MiB throughput", ">= 50 % of direct", _grpc("grpc-stream-1m")),
    ("spans at 5,000/s sustained, receiver up", "zero dropped, every span received", _spans),
    ("cost flat as load grows: 256 vs 32 connections", "throughput within 20 %", _flat),
]  # fmt: skip


def evaluate(rows: list[Measurement]) -> list[Verdict]:
    verdicts = []
    for goal, target, check in GOALS:
        try:
            measured, passed = check(rows)
        except _Missing as missing:
            verdicts.append(Verdict(goal, target, f"not measured: {missing}", None))
            continue
        except ZeroDivisionError:
            verdicts.append(Verdict(goal, target, "not measured: a reference rate was zero", None))
            continue
        verdicts.append(Verdict(goal, target, measured, passed))
    return verdicts
