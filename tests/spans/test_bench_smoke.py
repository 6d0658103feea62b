"""The span export benchmark keeps working: a tiny run, no timing asserted (speed is read from its output)."""

from __future__ import annotations

import re

import pytest

from loadtests import span_export_bench


def test_span_export_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--spans", "600", "--iterations", "500", "--repeat", "1"]
    assert span_export_bench.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"12 attributes \+ 2 clock reads \+ SpanRecord\s+\d+\.\d+ us", out), out
    assert re.search(r"SpanPipeline\.record \(queue has room\)\s+\d+\.\d+ us", out), out
    for transport in span_export_bench.TRANSPORTS:
        assert re.search(re.escape(transport) + r"\s+\d+\.\d+ us\s+\d+\.\d+ us\s+\d+\.\d+ us", out), out
    assert re.search(r"Encoder\.span \(OTLP prepare\), new path and port\s+\d+\.\d+ us", out), out
    assert re.search(r"opentelemetry-sdk start_span \+ end \(hot path\)\s+\d+\.\d+ us", out), out
