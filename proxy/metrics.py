"""Prometheus metrics for the data path: a registry cheap enough to update on every request.

An update is an attribute add (a `bisect` for a histogram bucket): no locks and no label look-ups,
because every label set is fixed when its family is created and the data path keeps the series it
updates (`ProxyMetrics.inbound`, `.outbound`). Updates and scrapes run in the same event-loop thread.
`render()` writes the text exposition format 0.0.4:
https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("tracecar.metrics")

PREFIX = "tracecar_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Sidecar latencies: a local hop is well under a millisecond, a slow upstream takes seconds.
LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class _Value:
    __slots__ = ("function", "value")

    def __init__(self) -> None:
        self.value: float = 0
        self.function: Callable[[], float] | None = None

    def set_function(self, function: Callable[[], float]) -> None:
        """Read `function()` at scrape time instead of `value`: for a number kept elsewhere. It runs in
        the event loop, so it must be O(1); if it raises, the sample is left out of that scrape."""
        self.function = function

    def get(self) -> float:
        return self.value if self.function is None else self.function()


class Counter(_Value):
    """A value that only goes up."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Gauge(_Value):
    """A value that goes up and down."""

    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


class Histogram:
    """Counts per bucket (not cumulative: one add per observation) and their sum, in seconds."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (`le` is "less or equal").
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[int]:
        return list(itertools.accumulate(self.counts))


M = TypeVar("M", Counter, Gauge, Histogram)


class Family(Generic[M]):
    """One metric name: a series per combination of the label values declared at creation."""

    def __init__(
        self,
        name: str,
        help_text: str,
        kind: str,
        labels: Mapping[str, Sequence[str]],
        make: Callable[[], M],
    ) -> None:
        self.name = name
        self.help = help_text
        self.kind = kind
        self.label_names = tuple(labels)
        self.series: dict[tuple[str, ...], M] = {
            values: make() for values in itertools.product(*labels.values())
        }
        self._failed = False

    def labels(self, *values: str) -> M:
        """The series for these label values, in declaration order. Resolve once, keep, update often."""
        try:
            return self.series[values]
        except KeyError:
            raise ValueError(f"{self.name}{self.label_names}: no series {values!r}") from None

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}\n"
        yield f"# TYPE {self.name} {self.kind}\n"
        for values, series in self.series.items():
            pairs = [
                f'{name}="{escape_label(value)}"'
                for name, value in zip(self.label_names, values, strict=True)
            ]
            try:
                if isinstance(series, Histogram):
                    yield from self._render_histogram(series, pairs)
                else:
                    yield f"{self.name}{_braces(pairs)} {format_value(series.get())}\n"
            except Exception:  # a callback owned elsewhere failed: skip the sample, never the scrape
                if not self._failed:
                    log.exception("metric %s: reading the value failed; the sample is left out", self.name)
                self._failed = True

    def _render_histogram(self, series: Histogram, pairs: list[str]) -> Iterator[str]:
        cumulative = series.cumulative()
        for bound, count in zip((*series.bounds, math.inf), cumulative, strict=True):
            le = 'le="' + format_value(bound) + '"'
            yield f"{self.name}_bucket{_braces([*pairs, le])} {count}\n"
        yield f"{self.name}_sum{_braces(pairs)} {format_value(series.sum)}\n"
        yield f"{self.name}_count{_braces(pairs)} {cumulative[-1]}\n"


class Registry:
    """The metrics of one process, rendered in creation order. Names must start with `prefix`."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.families: list[Family[Counter] | Family[Gauge] | Family[Histogram]] = []
        self._names: set[str] = set()

    def counter(self, name: str, help_text: str) -> Counter:
        return self.counter_family(name, help_text, {}).labels()

    def counter_family(
        self, name: str, help_text: str, labels: Mapping[str, Sequence[str]]
    ) -> Family[Counter]:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name}: counter names end in _total")
        family = Family(self._claim(name, labels, ()), help_text, "counter", labels, Counter)
        self.families.append(family)
        return family

    def gauge(self, name: str, help_text: str) -> Gauge:
        return self.gauge_family(name, help_text, {}).labels()

    def gauge_family(self, name: str, help_text: str, labels: Mapping[str, Sequence[str]]) -> Family[Gauge]:
        family = Family(self._claim(name, labels, ()), help_text, "gauge", labels, Gauge)
        self.families.append(family)
        return family

    def histogram(self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS_S) -> Histogram:
        return self.histogram_family(name, help_text, {}, buckets).labels()

    def histogram_family(
        self,
        name: str,
        help_text: str,
        labels: Mapping[str, Sequence[str]],
        buckets: Sequence[float] = LATENCY_BUCKETS_S,
    ) -> Family[Histogram]:
        bounds = tuple(float(bound) for bound in buckets)
        if not bounds or list(bounds) != sorted(set(bounds)) or not math.isfinite(bounds[-1]):
            raise ValueError(f"histogram {name}: buckets must be finite, increasing and not empty")
        self._claim(name, labels, ("_bucket", "_sum", "_count"))
        family = Family(name, help_text, "histogram", labels, lambda: Histogram(bounds))
        self.families.append(family)
        return family

    def _claim(self, name: str, labels: Mapping[str, Sequence[str]], suffixes: tuple[str, ...]) -> str:
        if not name.startswith(self.prefix) or not _METRIC_NAME.match(name):
            raise ValueError(f"metric name {name!r}: must be a Prometheus name starting with {self.prefix}")
        for label in labels:
            if not _LABEL_NAME.match(label) or label.startswith("__") or (suffixes and label == "le"):
                raise ValueError(f"metric {name}: invalid label name {label!r}")
            if not labels[label] or len(set(labels[label])) != len(labels[label]):
                raise ValueError(f"metric {name}: label {label} needs distinct values")
        names = {name, *(name + suffix for suffix in suffixes)}
        if names & self._names:
            raise ValueError(f"metric {name} is already registered")
        self._names |= names
        return name

    def render(self) -> str:
        return "".join(line for family in self.families for line in family.render())


def _braces(pairs: list[str]) -> str:
    return "{" + ",".join(pairs) + "}" if pairs else ""


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers as integers, floats as Python's shortest repr (which Go's ParseFloat reads), and the
    spellings the format gives to infinities and NaN."""
    if type(value) is int:
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


# -- the proxy's metrics ----------------------------------------------------------------------------

DIRECTIONS = ("inbound", "outbound")
# "none": the exchange ended without a response (the client left first); "other": not 1xx-5xx.
STATUS_CLASSES = ("none", "1xx", "2xx", "3xx", "4xx", "5xx", "other")
_CLASS_OF_HUNDREDS = (0, 1, 2, 3, 4, 5, 6, 6, 6, 6)  # status // 100 -> index into STATUS_CLASSES
# The data path's `Exchange.error_type` values; `http_NNN` (a request the proxy refused itself) counts
# as request_rejected and anything unknown as other, so the label set stays fixed.
ERROR_REASONS = (
    "client_disconnected",
    "request_rejected",
    "upstream_connect_timeout",
    "upstream_refused",
    "upstream_unreachable",
    "upstream_reset",
    "upstream_protocol_error",
    "other",
)
UPSTREAM_STATES = ("connecting", "active", "idle")
# Statuses the proxy answers requests with itself (proxy.http1.errors), "other" for any new one.
REFUSAL_STATUSES = ("400", "408", "431", "501", "505", "other")
PROTOCOLS = ("http1", "h2", "tls", "opaque")  # what `proxy.sniff` tells apart
TCP_ENDS = ("close", "reset", "timeout")  # how an opaque connection ended (`proxy.tcp_span`)
TCP_SIDES = ("client", "server")  # who sent the bytes


class DirectionMetrics:
    """The series one listener updates, resolved once: a listener keeps this and calls it per request."""

    __slots__ = (
        "_errors",
        "_refused",
        "_status",
        "duration",
        "open_connections",
        "upstream_active",
        "upstream_connecting",
        "upstream_idle",
        "upstream_opened",
    )

    def __init__(self, metrics: ProxyMetrics, direction: str) -> None:
        self._status = tuple(
            metrics.requests.labels(direction, STATUS_CLASSES[index]) for index in _CLASS_OF_HUNDREDS
        )
        self._errors = {reason: metrics.request_errors.labels(direction, reason) for reason in ERROR_REASONS}
        refused = metrics.requests_refused
        self._refused = {status: refused.labels(direction, status) for status in REFUSAL_STATUSES}
        self.duration = metrics.request_duration.labels(direction)
        self.open_connections = metrics.open_connections.labels(direction)
        self.upstream_connecting = metrics.upstream_connections.labels(direction, "connecting")
        self.upstream_active = metrics.upstream_connections.labels(direction, "active")
        self.upstream_idle = metrics.upstream_connections.labels(direction, "idle")
        self.upstream_opened = metrics.upstream_connections_opened.labels(direction)

    def request_finished(self, status: int, seconds: float, error_type: str = "") -> None:
        """One exchange ended: `status` is the final response status (0 if none was sent),
        `seconds` from the request's first byte to the response's last, `error_type` as on its span."""
        self._status[status // 100 if 0 <= status < 1000 else 6].value += 1
        duration = self.duration  # Histogram.observe inlined: saves a call (~35 ns)
        duration.counts[bisect_left(duration.bounds, seconds)] += 1
        duration.sum += seconds
        if error_type:
            self.request_failed(error_type)

    def request_failed(self, error_type: str) -> None:
        counter = self._errors.get(error_type)
        if counter is None:
            rejected = error_type.startswith("http_") or error_type == "malformed_request"
            counter = self._errors["request_rejected" if rejected else "other"]
        counter.value += 1

    def request_refused(self, status: int) -> None:
        """The proxy answered a request itself and closed the connection (bad input or a slow head)."""
        counter = self._refused.get(str(status)) or self._refused["other"]
        counter.value += 1

    def connection_opened(self) -> None:
        self.open_connections.value += 1

    def connection_closed(self) -> None:
        self.open_connections.value -= 1


class ProxyMetrics:
    """Every metric the proxy exports, in one place. The data path updates them through `inbound` and
    `outbound`; the span pipeline binds its own counters with `set_function` (see `watch_spans`)."""

    def __init__(self, registry: Registry | None = None) -> None:
        r = self.registry = registry if registry is not None else Registry()
        direction = {"direction": DIRECTIONS}
        self.requests = r.counter_family(
            "tracecar_requests_total",
            "HTTP requests that went through the proxy, by final response status class "
            "(none: the client left before a response).",
            {**direction, "status_class": STATUS_CLASSES},
        )
        self.request_errors = r.counter_family(
            "tracecar_request_errors_total",
            "Requests that failed in the proxy or on its connections, by reason.",
            {**direction, "reason": ERROR_REASONS},
        )
        self.requests_refused = r.counter_family(
            "tracecar_requests_refused_total",
            "Requests the proxy answered itself, not forwarded (malformed, too large, too slow), by status.",
            {**direction, "status": REFUSAL_STATUSES},
        )
        self.request_duration = r.histogram_family(
            "tracecar_request_duration_seconds",
            "Time from a request's first byte to its response's last, as the proxy saw it.",
            direction,
        )
        self.open_connections = r.gauge_family(
            "tracecar_open_connections", "Client connections open on the proxy's listeners.", direction
        )
        self.upstream_connections = r.gauge_family(
            "tracecar_upstream_connections",
            "HTTP/1 connections from the proxy to upstreams: connecting, carrying a request, or idle "
            "in the pool.",
            {**direction, "state": UPSTREAM_STATES},
        )
        self.upstream_connections_opened = r.counter_family(
            "tracecar_upstream_connections_opened_total",
            "HTTP/1 connections the proxy opened to upstreams (each reuse of a pooled one is not counted).",
            direction,
        )
        self.connections_detected = r.counter_family(
            "tracecar_connections_detected_total",
            "New connections by the protocol their first bytes (or a declared opaque port) showed.",
            {"protocol": PROTOCOLS},
        )
        self.tcp_connections = r.counter_family(
            "tracecar_tcp_connections_total",
            "Connections relayed as opaque TCP (TLS included) that ended, by how they ended.",
            {**direction, "end": TCP_ENDS},
        )
        self.tcp_connect_errors = r.counter_family(
            "tracecar_tcp_connect_errors_total",
            "Opaque TCP connections whose upstream could not be reached (the client got a reset).",
            direction,
        )
        self.tcp_bytes = r.counter_family(
            "tracecar_tcp_bytes_total",
            "Bytes relayed on opaque TCP connections, by the side that sent them.",
            {**direction, "sender": TCP_SIDES},
        )
        self.spans_exported = r.counter("tracecar_spans_exported_total", "Spans the exporter delivered.")
        self.spans_dropped = r.counter(
            "tracecar_spans_dropped_total", "Spans dropped before export because the queue was full."
        )
        self.spans_failed = r.counter(
            "tracecar_spans_export_failed_total", "Spans whose export failed after retries."
        )
        self.spans_queued = r.gauge("tracecar_spans_queued", "Spans waiting in the export queue.")
        self.inbound = DirectionMetrics(self, "inbound")
        self.outbound = DirectionMetrics(self, "outbound")

    def protocol_detected(self, protocol: str) -> None:
        if protocol in PROTOCOLS:
            self.connections_detected.labels(protocol).value += 1

    def tcp_finished(
        self, direction: str, end: str, from_client: int, from_server: int, failed: bool
    ) -> None:
        """One opaque connection ended (a few per second at most: label look-ups are fine here)."""
        if direction not in DIRECTIONS or end not in TCP_ENDS:
            return
        self.tcp_connections.labels(direction, end).value += 1
        self.tcp_bytes.labels(direction, "client").value += from_client
        self.tcp_bytes.labels(direction, "server").value += from_server
        if failed:
            self.tcp_connect_errors.labels(direction).value += 1

    def direction(self, name: str) -> DirectionMetrics:
        if name not in DIRECTIONS:
            raise ValueError(f"unknown direction {name!r}; expected one of {DIRECTIONS}")
        return self.inbound if name == "inbound" else self.outbound

    def watch_spans(
        self,
        exported: Callable[[], float],
        dropped: Callable[[], float],
        failed: Callable[[], float],
        queued: Callable[[], float] | None = None,
    ) -> None:
        """Read the span pipeline's own counters at scrape time (they live in the exporter)."""
        self.spans_exported.set_function(exported)
        self.spans_dropped.set_function(dropped)
        self.spans_failed.set_function(failed)
        if queued is not None:
            self.spans_queued.set_function(queued)

    def render(self) -> str:
        return self.registry.render()
