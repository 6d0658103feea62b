"""The metrics registry: update semantics, the exact text it renders, and what it refuses to register."""

from __future__ import annotations

import logging
import math

import pytest

from proxy.metrics import LATENCY_BUCKETS_S, Histogram, Registry, escape_help, escape_label, format_value


def test_exact_exposition_text_for_each_kind() -> None:
    registry = Registry()
    requests = registry.counter_family("tracecar_x_total", "Requests.", {"direction": ("in", "out")})
    requests.labels("in").inc()
    requests.labels("in").inc(2)
    gauge = registry.gauge("tracecar_open", "Open now.")
    gauge.inc(5)
    gauge.dec()
    latency = registry.histogram("tracecar_latency_seconds", "Latency.", buckets=(0.001, 0.5, 2))
    for value in (0.0005, 0.001, 0.3, 7.0):
        latency.observe(value)
    assert registry.render() == (
        "# HELP tracecar_x_total Requests.\n"
        "# TYPE tracecar_x_total counter\n"
        'tracecar_x_total{direction="in"} 3\n'
        'tracecar_x_total{direction="out"} 0\n'
        "# HELP tracecar_open Open now.\n"
        "# TYPE tracecar_open gauge\n"
        "tracecar_open 4\n"
        "# HELP tracecar_latency_seconds Latency.\n"
        "# TYPE tracecar_latency_seconds histogram\n"
        'tracecar_latency_seconds_bucket{le="0.001"} 2\n'
        'tracecar_latency_seconds_bucket{le="0.5"} 3\n'
        'tracecar_latency_seconds_bucket{le="2.0"} 3\n'
        'tracecar_latency_seconds_bucket{le="+Inf"} 4\n'
        "tracecar_latency_seconds_sum 7.3015\n"
        "tracecar_latency_seconds_count 4\n"
    )


def test_histogram_buckets_are_less_or_equal_and_cumulative() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.1, 0.1000001, 1.0, 1.5, 0.0):
        histogram.observe(value)
    assert histogram.counts == [2, 2, 1]
    assert histogram.cumulative() == [2, 4, 5]


def test_labelled_histogram_puts_le_after_the_declared_labels() -> None:
    registry = Registry()
    family = registry.histogram_family("tracecar_h_seconds", "h", {"direction": ("a",)}, buckets=(1,))
    family.labels("a").observe(0.5)
    lines = registry.render().splitlines()
    assert 'tracecar_h_seconds_bucket{direction="a",le="1.0"} 1' in lines
    assert 'tracecar_h_seconds_bucket{direction="a",le="+Inf"} 1' in lines
    assert 'tracecar_h_seconds_sum{direction="a"} 0.5' in lines
    assert 'tracecar_h_seconds_count{direction="a"} 1' in lines


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    registry.gauge_family("tracecar_g", 'Help with \\ and\nnewline and "quotes".', {"path": ('a\\b"c\nd',)})
    assert registry.render() == (
        '# HELP tracecar_g Help with \\\\ and\\nnewline and "quotes".\n'
        "# TYPE tracecar_g gauge\n"
        'tracecar_g{path="a\\\\b\\"c\\nd"} 0\n'
    )
    assert escape_label('"') == '\\"'
    assert escape_help('"') == '"'  # quotes are escaped in label values only


def test_series_are_the_cartesian_product_in_declaration_order() -> None:
    registry = Registry()
    family = registry.counter_family("tracecar_c_total", "c", {"a": ("1", "2"), "b": ("x", "y")})
    assert list(family.series) == [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
    family.labels("2", "x").inc()
    assert family.series[("2", "x")].value == 1
    with pytest.raises(ValueError, match=r"no series \('3', 'x'\)"):
        family.labels("3", "x")


def test_values_are_formatted_as_the_format_spells_them() -> None:
    assert format_value(3) == "3"
    assert format_value(0.25) == "0.25"
    assert format_value(1e-05) == "1e-05"
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"
    assert format_value(True) == "1.0"


def test_gauge_set_and_function_read_at_scrape_time() -> None:
    registry = Registry()
    gauge = registry.gauge("tracecar_queue", "q")
    gauge.set(7.5)
    assert "tracecar_queue 7.5\n" in registry.render()
    queue = [1, 2, 3]
    gauge.set_function(lambda: len(queue))
    assert "tracecar_queue 3\n" in registry.render()
    queue.append(4)
    assert "tracecar_queue 4\n" in registry.render()


def test_a_failing_callback_leaves_its_sample_out_logs_once_and_the_scrape_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry()

    def broken() -> float:
        raise RuntimeError("exporter gone")

    registry.counter("tracecar_broken_total", "b").set_function(broken)
    registry.counter("tracecar_fine_total", "f").inc()
    with caplog.at_level(logging.ERROR, logger="tracecar.metrics"):
        first, second = registry.render(), registry.render()
    assert first == second
    assert "# TYPE tracecar_broken_total counter\n" in first
    assert not [line for line in first.splitlines() if line.startswith("tracecar_broken_total")]
    assert "tracecar_fine_total 1\n" in first
    assert [r.getMessage() for r in caplog.records] == [
        "metric tracecar_broken_total: reading the value failed; the sample is left out"
    ]


@pytest.mark.parametrize(
    ("register", "message"),
    [
        (lambda r: r.counter("requests_total", "h"), "starting with tracecar_"),
        (lambda r: r.counter("tracecar_bad-name_total", "h"), "starting with tracecar_"),
        (lambda r: r.counter("tracecar_requests", "h"), "end in _total"),
        (lambda r: r.gauge_family("tracecar_g", "h", {"__x": ("a",)}), "invalid label name"),
        (lambda r: r.gauge_family("tracecar_g", "h", {"1x": ("a",)}), "invalid label name"),
        (lambda r: r.histogram_family("tracecar_h", "h", {"le": ("a",)}), "invalid label name"),
        (lambda r: r.gauge_family("tracecar_g", "h", {"x": ()}), "distinct values"),
        (lambda r: r.gauge_family("tracecar_g", "h", {"x": ("a", "a")}), "distinct values"),
        (lambda r: r.histogram("tracecar_h", "h", buckets=(1, 0.5)), "increasing"),
        (lambda r: r.histogram("tracecar_h", "h", buckets=(1, 1)), "increasing"),
        (lambda r: r.histogram("tracecar_h", "h", buckets=()), "increasing"),
        (lambda r: r.histogram("tracecar_h", "h", buckets=(1, math.inf)), "finite"),
    ],
)
def test_invalid_registrations_are_refused(register: object, message: str) -> None:
    assert callable(register)
    with pytest.raises(ValueError, match=message):
        register(Registry())


def test_names_are_registered_once_including_histogram_series() -> None:
    registry = Registry()
    registry.histogram("tracecar_latency_seconds", "h")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("tracecar_latency_seconds", "again")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("tracecar_latency_seconds_count", "collides with the histogram's _count")


def test_default_buckets_span_a_tenth_of_a_millisecond_to_ten_seconds() -> None:
    assert LATENCY_BUCKETS_S[0] == 0.0001
    assert LATENCY_BUCKETS_S[-1] == 10.0
    assert list(LATENCY_BUCKETS_S) == sorted(set(LATENCY_BUCKETS_S))
