"""A bpftrace that exits is restarted with backoff; the fallback shows `failed` with bpftrace's own
error, logged once however often it retries."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from propagation.sampling import AlwaysOn
from proxy.ebpf.metrics import EbpfMetrics
from proxy.ebpf.policy import Policy
from proxy.ebpf.runner import Runner
from proxy.ebpf.tracker import Tracker
from proxy.metrics import Registry

pytestmark = pytest.mark.netns  # needs root to load a program


async def run_broken(registry: Registry) -> Runner:
    tracker = Tracker(Policy(), lambda span: None, AlwaysOn(), 0)
    runner = Runner("tracepoint:sock:inet_sock_set_state { nonsense( }", tracker, EbpfMetrics(registry))
    assert await runner.start()
    follow = asyncio.ensure_future(runner.follow())
    deadline = time.monotonic() + 30
    try:
        while registry_value(registry, "tracecar_ebpf_restarts_total") < 2:
            assert time.monotonic() < deadline, "bpftrace was not restarted"
            await asyncio.sleep(0.1)
    finally:
        follow.cancel()
        await runner.close()
    return runner


def registry_value(registry: Registry, name: str) -> float:
    for line in registry.render().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name}")


def test_a_failing_bpftrace_is_restarted_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    with caplog.at_level(logging.WARNING, logger="tracecar.ebpf"):
        runner = asyncio.run(run_broken(registry))
    assert runner.reason == "failed"
    assert '\ntracecar_ebpf_state{reason="failed"} 1\n' in registry.render()
    off = [record.getMessage() for record in caplog.records if "fallback off" in record.getMessage()]
    assert len(off) == 1 and "failed" in off[0] and "syntax error" in off[0], off
