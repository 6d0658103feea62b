"""The metrics benchmark keeps working: a tiny run, no timing asserted (speed is read from its output)."""

from __future__ import annotations

import re

import pytest

from loadtests import metrics_bench


def test_metrics_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert metrics_bench.main(["--iterations", "1000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for case in metrics_bench.CASES:
        assert re.search(re.escape(case) + r"\s+\d+\.\d ns\n", out), out
    assert re.search(r"render /metrics \(whole registry\)\s+\d+\.\d us\n", out), out
