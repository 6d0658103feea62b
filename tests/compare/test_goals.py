"""The issue's goals, judged from rows: pass, fail, and 'not measured' when a row is missing."""

from __future__ import annotations

from loadtests.goals import GOALS, evaluate
from loadtests.measurement import FAILED, Measurement


def row(config: str, scenario: str, rate: float, **fields: object) -> Measurement:
    return Measurement(config, scenario, requests=int(rate * 10), seconds=10.0, rate=rate, **fields)  # type: ignore[arg-type]


SPANS = {"spans_expected": 49_900.0, "spans_received": 49_900.0, "spans_dropped": 0.0}


def meeting_every_goal() -> list[Measurement]:
    rows = [
        row("tracecar-1", "h1-1k", 12_000),
        row("tracecar-1", "h1-1k-c256", 11_000),
        row("nginx", "h1-1k", 20_000),
        row("mitmproxy", "h1-1k", 500),
        row("direct", "rate-1000", 1000, latency_ms={"p50": 0.3, "p99": 1.0}),
        row("tracecar-1", "rate-1000", 1000, latency_ms={"p50": 0.4, "p99": 1.5}, proxy_cpu_s=0.5),
        row("direct", "grpc-unary", 2000),
        row("tracecar-1", "grpc-unary", 1500),
        row("direct", "grpc-stream-1m", 1000),
        row("tracecar-1", "grpc-stream-1m", 600),
        row("tracecar-1", "spans-5000", 4990, extra=dict(SPANS)),
    ]
    rows[5].proxy_peak_rss_mib = 30.0
    return rows


def test_every_goal_passes_when_the_numbers_meet_it() -> None:
    verdicts = evaluate(meeting_every_goal())
    assert len(verdicts) == len(GOALS)
    assert [v.passed for v in verdicts] == [True] * len(GOALS), verdicts


def test_each_goal_fails_on_its_own_number() -> None:
    rows = meeting_every_goal()
    changes: dict[tuple[str, str], dict[str, object]] = {
        ("nginx", "h1-1k"): {"rate": 30_000.0},  # tracecar under half of nginx
        ("tracecar-1", "rate-1000"): {"latency_ms": {"p50": 0.6, "p99": 1.5}, "proxy_cpu_s": 0.7},
        ("tracecar-1", "grpc-unary"): {"rate": 900.0},
        ("tracecar-1", "h1-1k-c256"): {"rate": 9_000.0},
    }
    for r in rows:
        for key, value in changes.get((r.config, r.scenario), {}).items():
            setattr(r, key, value)
    passed = {v.goal: v.passed for v in evaluate(rows)}
    failing = {goal for goal, ok in passed.items() if not ok}
    assert failing == {
        "HTTP/1.1 saturation throughput, 1 worker, spans on",
        "added latency at 1,000 req/s over direct",
        "proxy CPU at 1,000 req/s, export included",
        "gRPC unary rate at equal concurrency",
        "cost flat as load grows: 256 vs 32 connections",
    }


def test_a_dropped_span_or_a_missed_rate_fails_the_span_goal() -> None:
    for extra, rate in (({"spans_dropped": 3}, 4990.0), ({}, 4000.0), ({"spans_received": 49_000}, 4990.0)):
        rows = meeting_every_goal()
        spans = rows[-1]
        spans.rate = rate
        spans.extra.update(extra)
        verdict = next(v for v in evaluate(rows) if v.goal.startswith("spans"))
        assert verdict.passed is False, (extra, rate)


def test_a_failed_or_missing_row_leaves_the_goal_unjudged() -> None:
    rows = [r for r in meeting_every_goal() if r.config != "mitmproxy"]
    for r in rows:
        if (r.config, r.scenario) == ("tracecar-1", "grpc-unary"):
            r.outcome, r.error = FAILED, "channel not ready"
    verdicts = {v.goal: v for v in evaluate(rows)}
    throughput = verdicts["HTTP/1.1 saturation throughput, 1 worker, spans on"]
    assert throughput.passed is None and "mitmproxy / h1-1k" in throughput.measured
    grpc = verdicts["gRPC unary rate at equal concurrency"]
    assert grpc.passed is None and "tracecar-1 / grpc-unary" in grpc.measured
    assert verdicts["gRPC streaming 1 MiB throughput"].passed is True
