"""The benchmark harness keeps working: a tiny run, no timing asserted (speed is read from its output)."""

from __future__ import annotations

import re

import pytest

from loadtests import db_observer_bench, propagation_bench


def test_propagation_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert propagation_bench.main(["--iterations", "200", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for case in propagation_bench.CASES:
        assert re.search(re.escape(case) + r"\s+\d+\.\d+ us\s+\d+\.\d+ us", out), out
    assert "unique tracestate every request" in out


def test_db_observer_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert db_observer_bench.main(["--commands", "50", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"redis SET, sampled\s+\d+\.\d+ us/command", out), out
    assert re.search(r"postgres extended query, not sampled\s+\d+\.\d+ us/command", out), out
