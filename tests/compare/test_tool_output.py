"""The load tools' output, as they really print it (samples captured from wrk, hey and h2load here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.tool_output import ToolOutputError, parse_h2load, parse_hey, parse_prometheus, parse_wrk

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_wrk_summary() -> None:
    result = parse_wrk(sample("wrk.txt"))
    assert result.requests == 33749
    assert result.seconds == pytest.approx(1.0)
    assert result.rate == pytest.approx(33702.96)
    assert result.errors == 0
    assert result.bytes_per_s == pytest.approx(40.63 * 2**20)
    assert result.latency_ms == pytest.approx(
        {"p50": 0.148, "p75": 0.572, "p90": 2.14, "p99": 4.08, "max": 5.07}
    )


def test_wrk_counts_non_2xx_as_errors() -> None:
    result = parse_wrk(sample("wrk_404.txt"))
    assert result.errors == result.requests == 83649
    assert result.successes == 0


def test_wrk_with_connection_close() -> None:
    result = parse_wrk(sample("wrk_close.txt"))
    assert result.requests == 20818 and result.seconds == pytest.approx(1.1)
    assert result.latency_ms["p99"] == pytest.approx(0.427)


def test_wrk_without_latency_flag_is_an_error() -> None:
    text = "\n".join(line for line in sample("wrk.txt").splitlines() if "%  " not in line)
    with pytest.raises(ToolOutputError, match="--latency"):
        parse_wrk(text)


def test_hey_summary() -> None:
    result = parse_hey(sample("hey.txt"))
    assert result.requests == result.successes == 490
    assert result.errors == 0
    assert result.rate == pytest.approx(485.8959)
    assert result.latency_ms["p50"] == pytest.approx(0.2)
    assert result.latency_ms["p99"] == pytest.approx(0.4)
    assert result.latency_ms["max"] == pytest.approx(0.9)
    assert result.bytes_per_s == pytest.approx(501760 / 1.0084)


def test_hey_where_every_request_failed_says_why() -> None:
    with pytest.raises(ToolOutputError, match="connection refused"):
        parse_hey(sample("hey_refused.txt"))


def test_h2load_summary() -> None:
    result = parse_h2load(sample("h2load.txt"))
    assert result.requests == result.successes == 40719
    assert result.rate == pytest.approx(40719.0)
    assert result.errors == 0
    assert result.latency_ms == pytest.approx({"min": 0.044, "mean": 0.357, "max": 15.42})


def test_h2load_where_nothing_was_answered() -> None:
    result = parse_h2load(sample("h2load_refused.txt"))
    assert result.requests == 0 and result.successes == 0


def test_garbage_is_an_error_naming_the_tool() -> None:
    for parse, tool in ((parse_wrk, "wrk"), (parse_hey, "hey"), (parse_h2load, "h2load")):
        with pytest.raises(ToolOutputError, match=tool):
            parse("command not found\n")


def test_prometheus_series_and_sums_over_labels() -> None:
    text = (
        "# HELP tracecar_requests_total Requests.\n"
        "# TYPE tracecar_requests_total counter\n"
        'tracecar_requests_total{direction="inbound",status_class="2xx"} 10\n'
        'tracecar_requests_total{direction="outbound",status_class="2xx"} 5\n'
        "tracecar_spans_dropped_total 0\n"
        "tracecar_spans_exported_total 1.5e+04\n"
    )
    values = parse_prometheus(text)
    assert values["tracecar_requests_total"] == 15
    assert values['tracecar_requests_total{direction="inbound",status_class="2xx"}'] == 10
    assert values["tracecar_spans_exported_total"] == 15000
    assert values["tracecar_spans_dropped_total"] == 0
