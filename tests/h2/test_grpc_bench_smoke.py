"""The gRPC benchmark keeps working: a tiny run, no timing asserted (speed is read from its output)."""

from __future__ import annotations

import re

import pytest

from loadtests import grpc_bench


def test_grpc_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert grpc_bench.main(["--seconds", "0.3", "--rounds", "1", "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"direct\s+\d+ RPC/s", out), out
    assert re.search(r"through tracecar\s+\d+ RPC/s\s+\(\d+% of direct\)", out), out
