"""The proxy's metric set, read back through the real Prometheus text parser (prometheus_client)."""

from __future__ import annotations

import math

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics import ERROR_REASONS, LATENCY_BUCKETS_S, STATUS_CLASSES, ProxyMetrics, Registry

Labels = tuple[tuple[str, str], ...]


def parse(text: str) -> dict[str, Metric]:
    families = {family.name: family for family in text_string_to_metric_families(text)}
    # A sample the parser could not place in its family comes back as an untyped family of its own.
    assert all(family.type not in {"unknown", "untyped"} for family in families.values())
    return families


def samples(family: Metric, name: str | None = None) -> dict[Labels, float]:
    return {
        tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name
    }


def test_every_metric_is_prefixed_typed_and_documented() -> None:
    families = parse(ProxyMetrics().render())
    assert {name: family.type for name, family in families.items()} == {
        "tracecar_requests": "counter",
        "tracecar_request_errors": "counter",
        "tracecar_requests_refused": "counter",
        "tracecar_request_duration_seconds": "histogram",
        "tracecar_open_connections": "gauge",
        "tracecar_upstream_connections": "gauge",
        "tracecar_upstream_connections_opened": "counter",
        "tracecar_connections_detected": "counter",
        "tracecar_tcp_connections": "counter",
        "tracecar_tcp_connect_errors": "counter",
        "tracecar_tcp_bytes": "counter",
        "tracecar_spans_exported": "counter",
        "tracecar_spans_dropped": "counter",
        "tracecar_spans_export_failed": "counter",
        "tracecar_spans_queued": "gauge",
    }
    assert all(family.documentation for family in families.values())


def test_requests_count_by_direction_and_status_class() -> None:
    metrics = ProxyMetrics()
    for status in (200, 204, 302, 404, 503, 0, 101, 799):
        metrics.inbound.request_finished(status, 0.001)
    metrics.outbound.request_finished(200, 0.001)
    got = samples(parse(metrics.render())["tracecar_requests"])
    inbound = {cls: got[(("direction", "inbound"), ("status_class", cls))] for cls in STATUS_CLASSES}
    assert inbound == {"none": 1, "1xx": 1, "2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1, "other": 1}
    assert got[(("direction", "outbound"), ("status_class", "2xx"))] == 1
    assert sum(got.values()) == 9


def test_errors_count_by_reason_with_a_fixed_label_set() -> None:
    metrics = ProxyMetrics()
    metrics.outbound.request_finished(502, 0.01, "upstream_refused")
    metrics.outbound.request_finished(504, 5.0, "upstream_connect_timeout")
    metrics.inbound.request_finished(431, 0.0, "http_431")  # refused by the proxy itself
    metrics.inbound.request_finished(0, 0.0, "malformed_request")  # an HTTP/2 stream refused
    metrics.inbound.request_failed("something_new")
    metrics.inbound.request_finished(200, 0.01)  # no error
    got = samples(parse(metrics.render())["tracecar_request_errors"])
    assert len(got) == 2 * len(ERROR_REASONS)
    nonzero = {labels: value for labels, value in got.items() if value}
    assert nonzero == {
        (("direction", "outbound"), ("reason", "upstream_refused")): 1,
        (("direction", "outbound"), ("reason", "upstream_connect_timeout")): 1,
        (("direction", "inbound"), ("reason", "request_rejected")): 2,
        (("direction", "inbound"), ("reason", "other")): 1,
    }


def test_duration_histogram_is_cumulative_with_inf_sum_and_count() -> None:
    metrics = ProxyMetrics()
    observed = [0.00005, 0.0001, 0.0003, 0.002, 0.002, 0.7, 12.0]
    for seconds in observed:
        metrics.inbound.request_finished(200, seconds)
    family = parse(metrics.render())["tracecar_request_duration_seconds"]
    inbound = (("direction", "inbound"),)
    buckets = {
        float(dict(labels)["le"]): value
        for labels, value in samples(family, "tracecar_request_duration_seconds_bucket").items()
        if dict(labels)["direction"] == "inbound"
    }
    assert list(buckets) == [*LATENCY_BUCKETS_S, math.inf]
    for bound, count in buckets.items():
        assert count == sum(1 for seconds in observed if seconds <= bound), bound
    assert samples(family, "tracecar_request_duration_seconds_count")[inbound] == len(observed)
    assert samples(family, "tracecar_request_duration_seconds_sum")[inbound] == pytest.approx(sum(observed))
    outbound = (("direction", "outbound"),)
    assert samples(family, "tracecar_request_duration_seconds_count")[outbound] == 0


def test_connection_gauges_go_up_and_down() -> None:
    metrics = ProxyMetrics()
    for _ in range(3):
        metrics.inbound.connection_opened()
    metrics.inbound.connection_closed()
    metrics.outbound.upstream_active.inc()
    metrics.outbound.upstream_idle.set(4)
    metrics.outbound.upstream_opened.inc()
    pool = {"connecting": 2}
    metrics.outbound.upstream_connecting.set_function(lambda: pool["connecting"])
    families = parse(metrics.render())
    assert samples(families["tracecar_open_connections"]) == {
        (("direction", "inbound"),): 2,
        (("direction", "outbound"),): 0,
    }
    upstream = samples(families["tracecar_upstream_connections"])
    assert upstream[(("direction", "outbound"), ("state", "active"))] == 1
    assert upstream[(("direction", "outbound"), ("state", "idle"))] == 4
    assert upstream[(("direction", "outbound"), ("state", "connecting"))] == 2
    opened = samples(families["tracecar_upstream_connections_opened"])
    assert opened[(("direction", "outbound"),)] == 1


def test_span_counters_are_read_from_the_pipeline_at_scrape_time() -> None:
    metrics = ProxyMetrics()
    pipeline = {"exported": 10, "dropped": 2, "failed": 1, "queued": 5}
    metrics.watch_spans(
        exported=lambda: pipeline["exported"],
        dropped=lambda: pipeline["dropped"],
        failed=lambda: pipeline["failed"],
        queued=lambda: pipeline["queued"],
    )
    before = parse(metrics.render())
    pipeline["exported"] += 90
    after = parse(metrics.render())
    assert samples(before["tracecar_spans_exported"]) == {(): 10}
    assert samples(after["tracecar_spans_exported"]) == {(): 100}
    assert samples(after["tracecar_spans_dropped"]) == {(): 2}
    assert samples(after["tracecar_spans_export_failed"]) == {(): 1}
    assert samples(after["tracecar_spans_queued"]) == {(): 5}


def test_escaped_label_values_round_trip_through_the_parser() -> None:
    registry = Registry()
    awkward = 'C:\\path "quoted"\nsecond line'
    registry.counter_family("tracecar_odd_total", "Odd\\help\nline two", {"value": (awkward,)}).labels(
        awkward
    ).inc(2)
    family = parse(registry.render())["tracecar_odd"]
    assert family.documentation == "Odd\\help\nline two"
    assert samples(family) == {(("value", awkward),): 2}


def test_direction_lookup() -> None:
    metrics = ProxyMetrics()
    assert metrics.direction("inbound") is metrics.inbound
    assert metrics.direction("outbound") is metrics.outbound
    with pytest.raises(ValueError, match="unknown direction"):
        metrics.direction("sideways")


def test_detected_protocols_and_relayed_connections() -> None:
    metrics = ProxyMetrics()
    metrics.protocol_detected("tls")
    metrics.protocol_detected("opaque")
    metrics.protocol_detected("opaque")
    metrics.tcp_finished("outbound", "reset", 10, 2000, failed=False)
    metrics.tcp_finished("outbound", "close", 0, 0, failed=True)
    families = parse(metrics.render())
    detected = samples(families["tracecar_connections_detected"], "tracecar_connections_detected_total")
    assert detected[(("protocol", "opaque"),)] == 2 and detected[(("protocol", "tls"),)] == 1
    ends = samples(families["tracecar_tcp_connections"], "tracecar_tcp_connections_total")
    assert ends[(("direction", "outbound"), ("end", "reset"))] == 1
    sent = samples(families["tracecar_tcp_bytes"], "tracecar_tcp_bytes_total")
    assert sent[(("direction", "outbound"), ("sender", "server"))] == 2000
    errors = samples(families["tracecar_tcp_connect_errors"], "tracecar_tcp_connect_errors_total")
    assert errors[(("direction", "outbound"),)] == 1
