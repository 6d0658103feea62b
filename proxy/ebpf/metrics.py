"""The eBPF fallback's Prometheus series, on the same registry as the proxy's (`/metrics`)."""

from __future__ import annotations

from proxy.ebpf.tracker import Counts
from proxy.metrics import Registry

# Why the fallback is (not) running: one series per reason, the current one at 1.
ON = "running"
STARTING = "starting"
NOT_PRIVILEGED = "not_privileged"
NO_BPFTRACE = "no_bpftrace"
NO_TRACEPOINTS = "no_tracepoints"
FAILED = "failed"  # bpftrace exited; it is restarted with backoff
REASONS = (ON, STARTING, NOT_PRIVILEGED, NO_BPFTRACE, NO_TRACEPOINTS, FAILED)


class EbpfMetrics:
    def __init__(self, registry: Registry) -> None:
        self.enabled = registry.gauge(
            "tracecar_ebpf_enabled", "1 while the eBPF fallback is attached and reporting, else 0."
        )
        self.state = registry.gauge_family(
            "tracecar_ebpf_state",
            "The eBPF fallback's state: the series of the current reason is 1, the others 0.",
            {"reason": REASONS},
        )
        self.events = registry.counter("tracecar_ebpf_events_total", "Events read from the kernel.")
        self.lost = registry.counter(
            "tracecar_ebpf_events_lost_total", "Events the kernel dropped because the reader fell behind."
        )
        self.invalid = registry.counter(
            "tracecar_ebpf_invalid_lines_total", "Lines from bpftrace that were not events (a bug: see log)."
        )
        self.connections = registry.counter_family(
            "tracecar_ebpf_connections_total",
            "Connections the eBPF fallback saw: reported, or skipped because the proxy sees them.",
            {"outcome": ("reported", "skipped")},
        )
        self.observers_dropped = registry.counter(
            "tracecar_ebpf_observers_dropped_total",
            "Payload observers given up because the captured stream had a hole (lost or truncated data).",
        )
        self.restarts = registry.counter(
            "tracecar_ebpf_restarts_total", "Times bpftrace exited and was restarted."
        )
        self.set_state(STARTING)

    def set_state(self, reason: str) -> None:
        for (value,), series in self.state.series.items():
            series.set(1 if value == reason else 0)
        self.enabled.set(1 if reason == ON else 0)

    def watch(self, counts: Counts) -> None:
        """The tracker's counters, read at scrape time."""
        self.events.set_function(lambda: counts.events)
        self.lost.set_function(lambda: counts.lost)
        self.connections.labels("reported").set_function(lambda: counts.reported)
        self.connections.labels("skipped").set_function(lambda: counts.skipped)
        self.observers_dropped.set_function(lambda: counts.observers_dropped)
