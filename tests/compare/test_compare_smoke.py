"""The whole comparison for a few seconds, in network namespaces: it runs end to end and its report
and charts hold every configuration and scenario. No timing is asserted (the numbers are the point of
running it for real, not of this test).

mitmproxy is left out here: its first use installs it into loadtests/.venv-peers, which takes longer
than this smoke should.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests import compare
from loadtests.compare import NATIVE_PROFILE_SCENARIOS
from loadtests.goals import GOALS
from loadtests.scenarios import SCENARIOS

pytestmark = pytest.mark.netns
CONFIGS = ["direct", "tracecar-1", "tracecar-2", "nginx"]


def test_the_comparison_runs_and_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--duration", "1", "--warmup", "0", "--spans-duration", "1", "--configs", ",".join(CONFIGS)]
    assert compare.main([*argv, "--out", str(out)]) == 0

    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    rows = {(r["config"], r["scenario"]): r for r in results["rows"]}
    assert set(rows) == {(c, s.name) for c in CONFIGS for s in SCENARIOS}
    for scenario in SCENARIOS:
        section = report.split(f"### {scenario.name}: ")[1].split("###")[0]
        for config in CONFIGS:
            assert f"\n| {config} | " in section, (scenario.name, config)
    for goal, _, _ in GOALS:
        assert f"| {goal} |" in report
    for chart in ("throughput.png", "latency.png", "cpu.png"):
        assert (out / chart).read_bytes()[:4] == b"\x89PNG"
    # The parts that must work for the numbers to mean anything: real load went through every proxy
    # that supports HTTP/1.1, and the proxy accounting found the proxy processes.
    for config in CONFIGS:
        assert rows[config, "h1-1k"]["outcome"] == "ok", rows[config, "h1-1k"]
        assert rows[config, "h1-1k"]["requests"] > 0
    assert rows["tracecar-1", "h1-1k"]["proxy_cpu_s"] > 0
    assert rows["tracecar-2", "h1-1k"]["proxy_processes"] >= 2
    assert rows["nginx", "grpc-unary"]["outcome"] == "skipped"
    spans = rows["tracecar-1", "spans-5000"]
    assert spans["outcome"] == "ok" and spans["extra"]["spans_received"] > 0, spans


def test_repeated_rounds_report_medians_and_profiles(tmp_path: Path) -> None:
    out = tmp_path / "rounds"
    argv = [
        "--duration",
        "1",
        "--warmup",
        "0",
        "--scenarios",
        "h1-1k",
        "--configs",
        "direct,tracecar-1,nginx",
    ]
    assert compare.main([*argv, "--repeat", "2", "--profile", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["config"]: r for r in results["rows"]}
    assert set(rows) == {"direct", "tracecar-1", "nginx"}
    for row in rows.values():
        assert row["outcome"] == "ok" and row["extra"]["rounds"] == 2, row
    assert rows["tracecar-1"]["cpu_us_per_request"] > 0
    report = (out / "report.md").read_text()
    assert "median of rounds: 2" in report
    # perf opens up the compiled data path: its functions are named in the native profiles
    for scenario in NATIVE_PROFILE_SCENARIOS:
        section = report.split(f"## Native profile: `{scenario}`")[1].split("\n## ")[0]
        assert "| `forwarder.Downstream.data_received` |" in section, section
        # the C peer's profile names its system calls: the kernel's part of the same work
        peer = report.split(f"## Native profile: `{scenario}`, nginx")[1].split("\n## ")[0]
        assert "| `syscall epoll_wait` |" in peer, peer
    # Every round's stage exported its spans to its own collector (a stale port once broke round 2).
    for round_ in (1, 2):
        metrics = (out / "logs" / f"round-{round_}" / "tracecar-1-h1-1k-metrics.txt").read_text()
        exported = next(
            line for line in metrics.splitlines() if line.startswith("tracecar_spans_exported_total")
        )
        assert float(exported.split()[1]) > 0, (round_, exported)
