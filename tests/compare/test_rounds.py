"""Rounds of the comparison made into one row each: medians, the largest peak, summed errors."""

from __future__ import annotations

import pytest

from loadtests.measurement import FAILED, Measurement
from loadtests.rounds import combine


def row(rate: float, cpu_us: float, rss: float, p50: float, **fields: object) -> Measurement:
    requests = int(rate * 10)
    return Measurement(
        "tracecar-1",
        "h1-1k",
        requests=requests,
        seconds=10.0,
        rate=rate,
        proxy_cpu_s=cpu_us * requests / 1e6,
        proxy_peak_rss_mib=rss,
        latency_ms={"p50": p50, "p99": p50 * 3},
        **fields,  # type: ignore[arg-type]
    )


def test_each_number_is_the_median_of_its_rounds() -> None:
    rounds = [
        [row(10_000, 80.0, 38.0, 2.0, errors=1, extra={"pod_time_wait_before": 5.0})],
        [row(14_000, 60.0, 39.5, 1.0, extra={"pod_time_wait_before": 7.0})],
        [row(12_000, 70.0, 37.0, 3.0, errors=2, extra={"pod_time_wait_before": 6.0})],
    ]
    (combined,) = combine(rounds)
    assert combined.rate == 12_000
    assert combined.cpu_us_per_request == pytest.approx(70.0)
    assert combined.latency_ms == {"p50": 2.0, "p99": 6.0}
    assert combined.proxy_peak_rss_mib == 39.5  # the largest: a peak is a peak
    assert combined.errors == 3
    assert combined.requests == 120_000 and combined.seconds == 10.0  # the median round's
    # The notes of the round with the median rate, and how many rounds made the row.
    assert combined.extra == {"pod_time_wait_before": 6.0, "rounds": 3.0}


def test_an_even_count_takes_the_middle_two_for_numbers_and_the_lower_round_for_notes() -> None:
    rounds = [
        [row(10_000, 80.0, 38.0, 2.0, extra={"spans_received": 1.0})],
        [row(20_000, 40.0, 38.0, 1.0, extra={"spans_received": 2.0})],
    ]
    (combined,) = combine(rounds)
    assert combined.rate == 15_000
    assert combined.cpu_us_per_request == pytest.approx(60.0)
    assert combined.extra["spans_received"] == 1.0


def test_failed_rounds_are_left_out_and_counted_and_a_row_that_never_ran_stays_a_failure() -> None:
    failed = Measurement("tracecar-1", "h1-1k", FAILED, "wrk crashed")
    other_failed = Measurement("nginx", "h1-1k", FAILED, "did not start")
    rounds = [
        [failed, other_failed],
        [row(12_000, 70.0, 37.0, 3.0), other_failed],
    ]
    tracecar, nginx = combine(rounds)
    assert tracecar.rate == 12_000 and tracecar.extra == {"rounds": 1.0, "rounds_failed": 1.0}
    assert nginx is other_failed


def test_rows_keep_the_order_of_the_first_round() -> None:
    direct = Measurement("direct", "h1-1k", rate=1.0, requests=1, seconds=1.0)
    nginx = Measurement("nginx", "h1-1k", rate=1.0, requests=1, seconds=1.0)
    assert [r.config for r in combine([[direct, nginx], [nginx, direct]])] == ["direct", "nginx"]
