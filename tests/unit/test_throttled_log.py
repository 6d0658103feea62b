"""Client-triggered log lines are throttled, and what was held back is counted."""

from __future__ import annotations

import logging

import pytest

from proxy.throttled_log import ThrottledLog


def test_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("proxy.throttled_log.time.monotonic", lambda: clock[0])
    log = ThrottledLog(logging.getLogger("test.throttle"), logging.WARNING, interval_s=10)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for _ in range(1000):
            log("refusing connection from %s", "10.0.0.1")
        clock[0] += 10
        log("refusing connection from %s", "10.0.0.2")
    assert [r.getMessage() for r in caplog.records] == [
        "refusing connection from 10.0.0.1",
        "refusing connection from 10.0.0.2 (999 more like it in the last 10 s)",
    ]
