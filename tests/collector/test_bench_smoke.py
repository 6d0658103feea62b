"""loadtests/collector_bench.py keeps working: a tiny run, no speed asserted (read it from the output)."""

from __future__ import annotations

import re

import pytest

from loadtests import collector_bench


def test_collector_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert collector_bench.main(["--seconds", "0.3", "--clients", "1", "--batch", "16"]) == 0
    out = capsys.readouterr().out
    for transport in ("http", "grpc"):
        assert re.search(rf"^{transport}\s+[\d,]+\s+[\d.]+us\s+\d+B$", out, re.MULTILINE), out
