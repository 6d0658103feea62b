"""The Markdown report and the charts: every configuration and scenario has its row, failures say why."""

from __future__ import annotations

from pathlib import Path

from loadtests import charts
from loadtests.goals import evaluate
from loadtests.measurement import FAILED, SKIPPED, Measurement
from loadtests.profiles import Hotspot, Profile
from loadtests.report import ReportInput, render

CONFIGS = ["direct", "tracecar-1", "nginx"]
SCENARIOS = ["h1-1k", "rate-1000", "grpc-unary"]


def rows() -> list[Measurement]:
    made = []
    for config in CONFIGS:
        for scenario in SCENARIOS:
            proxy = {} if config == "direct" else {"proxy_cpu_s": 0.4, "proxy_peak_rss_mib": 31.5}
            made.append(
                Measurement(
                    config, scenario, requests=10_000, seconds=10.0, rate=1000.0, mib_per_s=1.0,
                    latency_ms={"p50": 0.25, "p90": 0.5, "p99": 1.25, "max": 3.0}, **proxy,  # type: ignore[arg-type]
                )
            )  # fmt: skip
    made[5] = Measurement("tracecar-1", "grpc-unary", FAILED, "channel | not ready\nin 5 s")
    made[8] = Measurement("nginx", "grpc-unary", SKIPPED, "proxies HTTP/1.1 only")
    return made


def report_input(measured: list[Measurement]) -> ReportInput:
    spy = Profile(
        "py-spy of the worker",
        "Profile: py-spy",
        "profile.svg",
        1234,
        [Hotspot("send (asyncio/x.py)", 0.25, 0.5)],
    )
    perf = Profile(
        "perf of the worker", "Native profile: `rate-1000`", None, 99, [Hotspot("syscall write", 0, 0.2)]
    )
    return ReportInput(
        facts={"run": "2026-12-06 03:00 UTC", "numbers": "noisy"},
        configs=[(c, f"what {c} is", "1.00 s") for c in CONFIGS],
        scenarios=[(s, f"title of {s}") for s in SCENARIOS],
        rows=measured,
        verdicts=evaluate(measured),
        charts=["throughput.png"],
        profiles=[spy, perf],
    )


def test_every_row_and_goal_is_in_the_report() -> None:
    measured = rows()
    text = render(report_input(measured))
    for scenario in SCENARIOS:
        assert f"### {scenario}: title of {scenario}" in text
    for r in measured:
        assert f"| {r.config} | " in text
    assert "| tracecar-1 | 1,000 | 1.0 | 0.25 | 1.25 | 3.00 | 0 | 40.0 | 0.040 | 31.5 |" in text
    assert "| tracecar-1 | failed: channel \\| not ready in 5 s |" in text  # one table row, pipes escaped
    assert "| nginx | skipped: proxies HTTP/1.1 only |" in text
    assert "| peak RSS per worker at 1,000 req/s | <= 40 MiB | tracecar-1: 31.5 MiB | PASS |" in text
    assert "| gRPC unary rate at equal concurrency | >= 50 % of direct | not measured" in text
    assert "[profile.svg](profile.svg) (1,234 samples)" in text
    assert text.index("## Profile: py-spy") < text.index("## Native profile: `rate-1000`")
    assert "| `syscall write` | 0.0% | 20.0% |" in text
    assert "| `send (asyncio/x.py)` | 25.0% | 50.0% |" in text
    assert "![throughput.png](throughput.png)" in text
    assert "- numbers: noisy" in text


def test_charts_are_png_files(tmp_path: Path) -> None:
    names = charts.draw(rows(), CONFIGS, SCENARIOS, tmp_path)
    assert names == ["throughput.png", "latency.png", "cpu.png"]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_charts_of_a_run_where_nothing_succeeded(tmp_path: Path) -> None:
    failed = [Measurement(c, s, FAILED, "down") for c in CONFIGS for s in SCENARIOS]
    assert charts.draw(failed, CONFIGS, ["h1-1k"], tmp_path) == ["throughput.png", "latency.png", "cpu.png"]
    assert (tmp_path / "latency.png").exists()
