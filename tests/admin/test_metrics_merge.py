"""Workers' metrics texts summed into one: counters, gauges and histograms add up sample by sample."""

from __future__ import annotations

from proxy.metrics import Registry
from proxy.metrics_merge import merge


def worker_text(requests: int, open_now: int, seconds: list[float], ebpf: bool = False) -> str:
    registry = Registry()
    registry.counter_family("tracecar_requests_total", "Requests.", {"direction": ("inbound",)}).labels(
        "inbound"
    ).inc(requests)
    registry.gauge("tracecar_open_connections", "Open.").set(open_now)
    duration = registry.histogram("tracecar_request_duration_seconds", "Duration.", (0.1, 1.0))
    for value in seconds:
        duration.observe(value)
    if ebpf:  # only the admin worker runs the eBPF fallback
        registry.gauge("tracecar_ebpf_enabled", "eBPF.").set(1)
    return registry.render()


def test_samples_add_up_and_the_first_text_gives_the_layout() -> None:
    first = worker_text(3, 2, [0.05, 0.5], ebpf=True)
    merged = merge([first, worker_text(4, 1, [2.0]), worker_text(0, 0, [])])
    lines = merged.splitlines()
    assert 'tracecar_requests_total{direction="inbound"} 7' in lines
    assert "tracecar_open_connections 3" in lines
    assert 'tracecar_request_duration_seconds_bucket{le="0.1"} 1' in lines
    assert 'tracecar_request_duration_seconds_bucket{le="1.0"} 2' in lines
    assert 'tracecar_request_duration_seconds_bucket{le="+Inf"} 3' in lines
    assert "tracecar_request_duration_seconds_sum 2.55" in lines
    assert "tracecar_request_duration_seconds_count 3" in lines
    assert "tracecar_ebpf_enabled 1" in lines
    # the same lines in the same order as the admin worker's own text, only the values summed
    assert [line.rpartition(" ")[0] for line in lines] == [
        line.rpartition(" ")[0] for line in first.splitlines()
    ]
    assert merged.count("# TYPE tracecar_requests_total counter") == 1


def test_a_sample_only_another_worker_has_is_added_and_junk_is_ignored() -> None:
    merged = merge(
        ["# HELP a_total A.\n# TYPE a_total counter\na_total 1\n", "a_total 2\nb 5\nnot a sample\n"]
    )
    assert merged == "# HELP a_total A.\n# TYPE a_total counter\na_total 3\nb 5\n"
    assert merge([]) == ""
