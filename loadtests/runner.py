"""Run one scenario on one stage and turn what happened into a `Measurement`, failures included.

The proxy's CPU and peak RSS are sampled around the measured run only (after the warm-up); a tool
that fails, output that does not parse, or a proxy that died become a FAILED row with the reason.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from loadtests.measurement import FAILED, SKIPPED, Measurement
from loadtests.scenarios import Scenario
from loadtests.stage import Stage, StageError
from loadtests.tool_output import ToolOutputError

TOOL_GRACE_S = 60.0  # beyond its duration, how long a tool may take before it is called hung
SPANS_SETTLE_S = 30.0  # after the load, how long queued spans may take to reach the receiver


def _run_tool(stage: Stage, scenario: Scenario, seconds: float) -> subprocess.CompletedProcess[str]:
    argv = scenario.command(stage.address, seconds)
    return stage.client.run(*argv, check=False, timeout=seconds + TOOL_GRACE_S)


def _settled_spans(stage: Stage, wanted: int, quiet_s: float) -> int:
    """The receiver's count once it reaches `wanted` or stops growing for `quiet_s`."""
    deadline = time.monotonic() + SPANS_SETTLE_S
    last, last_change = stage.spans_received(), time.monotonic()
    while last < wanted and time.monotonic() < deadline and time.monotonic() - last_change < quiet_s:
        time.sleep(0.1)
        now = stage.spans_received()
        if now != last:
            last, last_change = now, time.monotonic()
    return last


def measure(stage: Stage, scenario: Scenario, seconds: float, warmup: float) -> Measurement:
    row = Measurement(stage.config.name, scenario.name)
    config = stage.config
    if scenario.protocol not in config.protocols:
        row.outcome, row.error = SKIPPED, config.unsupported_reason
        return row
    if scenario.spans and not config.exports_spans:
        row.outcome, row.error = SKIPPED, "exports no spans"
        return row
    try:
        stage.ensure_proxy()
        if warmup > 0:
            _run_tool(stage, scenario, warmup)
        _measured_run(stage, scenario, seconds, row)
    except (StageError, ToolOutputError, subprocess.TimeoutExpired) as error:
        row.outcome, row.error = FAILED, f"{type(error).__name__}: {error}"[:1500]
    if row.outcome != FAILED and (gone := stage.proxy_exit()) is not None:
        row.outcome, row.error = FAILED, gone
    return row


def _measured_run(stage: Stage, scenario: Scenario, seconds: float, row: Measurement) -> None:
    processes = stage.processes if stage.config.start is not None else None
    spans_before = _settled_spans(stage, 1 << 62, 1.5) if scenario.spans else 0
    metrics_before = stage.metrics() if scenario.spans else {}
    row.extra["pod_time_wait_before"] = float(stage.time_wait_sockets())
    if processes is not None:
        processes.reset_peak_rss()
    before = processes.sample() if processes is not None else None
    done = _run_tool(stage, scenario, seconds)
    after = processes.sample() if processes is not None else None
    log = stage.logs / f"{stage.config.name}-{scenario.name}.txt"
    log.write_text(f"$ {' '.join(done.args)}\n{done.stdout}\n--- stderr\n{done.stderr}")
    tool = Path(scenario.command(stage.address, seconds)[0]).name
    if done.returncode != 0:
        raise ToolOutputError(f"{tool} exited {done.returncode}: {(done.stderr or done.stdout)[-800:]}")
    result = scenario.parse(done.stdout)
    row.requests, row.seconds, row.rate, row.errors = (
        result.requests,
        result.seconds,
        result.rate,
        result.errors,
    )
    row.latency_ms = result.latency_ms
    if stage.config.exports_spans:  # tracecar's own counters: errors by type, spans, connections
        metrics_log = stage.logs / f"{stage.config.name}-{scenario.name}-metrics.txt"
        metrics_log.write_text(stage.metrics_text())
    row.mib_per_s = None if result.bytes_per_s is None else result.bytes_per_s / 2**20
    if before is not None and after is not None:
        row.proxy_cpu_s = after.cpu_s - before.cpu_s
        row.proxy_peak_rss_mib = max(after.peak_rss_kib.values(), default=0) / 1024
        row.proxy_processes = len(after.peak_rss_kib)
    if scenario.spans:
        expected = result.successes or 0
        received = _settled_spans(stage, spans_before + expected, 5.0) - spans_before
        metrics = stage.metrics()
        row.extra |= {
            "spans_expected": expected,
            "spans_received": received,
            "spans_exported": _delta(metrics, metrics_before, "tracecar_spans_exported_total"),
            "spans_dropped": _delta(metrics, metrics_before, "tracecar_spans_dropped_total"),
        }
    if result.requests == 0 or result.successes == 0:
        raise ToolOutputError(f"no request succeeded ({result.requests} completed); see logs/{log.name}")


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)
