"""One proxy worker process: the listeners, the span pipeline, and the graceful stop that ties them.

Every sampled exchange becomes one span: SERVER for the inbound listener, CLIENT for the outbound.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

# Loaded here, before the worker drops privileges: `proxy.observers.observer_for` imports it lazily
# (it builds on that module), and the proxy's uid may not be able to read its own installation.
import proxy.db.observer  # noqa: F401
from propagation.context import SAMPLED
from proxy import worker_metrics
from proxy.admin import AdminServer, AdminState
from proxy.ebpf.runner import EbpfConfig, make_runner
from proxy.exchange import Exchange
from proxy.fd_limits import DescriptorWatch, raise_nofile_limit, throttle_accept_errors
from proxy.http_span import DEFAULT_REDACTED_QUERY_KEYS, SERVER, describe
from proxy.metrics import DirectionMetrics, ProxyMetrics
from proxy.pool import MAX_SWEEP_INTERVAL_S, Pool
from proxy.privileges import drop_to
from proxy.routes import Routes
from proxy.server import Proxy, ProxyConfig
from proxy.spans.config import ExportConfig
from proxy.spans.exporters import make_exporter
from proxy.spans.pipeline import SpanPipeline
from proxy.spans.record import FLAGS_PARENT_LOCAL, FLAGS_PARENT_REMOTE, KIND_CLIENT, KIND_SERVER, SpanRecord
from proxy.supervisor import DRAIN_SIGNAL, signal_all
from proxy.tasks import spawn
from proxy.tcp_span import TcpConnection

log = logging.getLogger("tracecar.worker")

SPAN_BATCH_S = 0.05  # longest a finished exchange waits for its span to be built (ExchangeRecorder)
SPAN_BATCH_MAX = 64
SPAN_FLUSH_S = 5.0  # at shutdown, after draining: how long queued spans may take to leave


class ExchangeRecorder:
    """What happens when an exchange ends: metrics at once, and its span, when the trace is
    sampled, with the next batch: within `SPAN_BATCH_S`, or as soon as `SPAN_BATCH_MAX` are waiting.

    Why in batches: at a moderate rate each request arrives after the proxy slept, with the span
    code and its caches (routes, encoded attributes) cold. Building and encoding the spans of
    several requests in a row cost about 4 us less per request at 1,000 req/s (loopback A/B, 49-52
    against 53-56 us of proxy CPU), and nothing at saturation. An exchange is not touched by the
    data path once it has ended, so holding it until then changes no span.
    """

    def __init__(
        self,
        pipeline: SpanPipeline[Any],
        routes: Routes,
        metrics: ProxyMetrics,
        redacted_keys: frozenset[str] = DEFAULT_REDACTED_QUERY_KEYS,
    ) -> None:
        self._pipeline = pipeline
        self._routes = routes
        self._metrics = metrics
        self._redacted_keys = redacted_keys
        self._pending: list[Exchange] = []
        self._batch_max = SPAN_BATCH_MAX

    def __call__(self, exchange: Exchange) -> None:
        seconds = (exchange.end_ns - exchange.start_ns) / 1e9
        self._metrics.direction(exchange.direction).request_finished(
            exchange.status, seconds, exchange.error_type
        )
        if not exchange.context.flags & SAMPLED:
            return
        pending = self._pending
        pending.append(exchange)
        if len(pending) >= self._batch_max:
            self.flush()
        elif len(pending) == 1:
            asyncio.get_running_loop().call_later(SPAN_BATCH_S, self.flush)

    def stop_batching(self) -> None:
        """At shutdown, before the pipeline's last flush: the waiting spans go to it now, and any
        exchange that still ends goes at once (counted as dropped by a pipeline already shut)."""
        self._batch_max = 1
        self.flush()

    def flush(self) -> None:
        """Hand the waiting spans to the pipeline."""
        batch, self._pending = self._pending, []
        for exchange in batch:
            try:
                self._record(exchange)
            except Exception:  # a bug in describing one exchange must not lose the others' spans
                log.exception("no span for a %s exchange: it could not be described", exchange.direction)

    def _record(self, exchange: Exchange) -> None:
        context = exchange.context
        span = describe(exchange, self._routes, self._redacted_keys)
        parent = exchange.extracted.parent
        inferred = exchange.extracted.inferred  # the parent is this pod's own server span
        self._pipeline.record(
            SpanRecord(
                context.trace_id,
                context.span_id,
                None if parent is None else parent.span_id,
                context.trace_state.to_header(),
                (context.flags & 0xFF)
                | (FLAGS_PARENT_REMOTE if parent is not None and not inferred else FLAGS_PARENT_LOCAL),
                KIND_SERVER if span.kind == SERVER else KIND_CLIENT,
                span.name,
                exchange.start_ns,
                exchange.end_ns,
                span.attributes,
                span.status,
                span.status_message,
            )
        )


def watch_descriptors(proxy: Proxy) -> None:
    """As many file descriptors as allowed, and a clear error line when they run out."""
    limit = raise_nofile_limit()
    throttle_accept_errors(asyncio.get_running_loop(), limit)
    descriptors = DescriptorWatch(limit)
    # The timeout given is the sweep's longest interval: this check never makes it run more often.
    # Any one pool's sweep will do: each runs at least this often.
    pool = proxy.listeners["inbound"].pool
    pool.watch(lambda now: descriptors.check(proxy.open_connections()), MAX_SWEEP_INTERVAL_S * 4)


def tcp_recorder(metrics: ProxyMetrics, connection: TcpConnection) -> None:
    """An opaque connection ended: metrics (the relay records its span itself when sampled)."""
    metrics.tcp_finished(
        connection.direction,
        connection.ended,
        connection.bytes_from_client,
        connection.bytes_from_server,
        failed=bool(connection.error),
    )


def every_worker(
    drain: Callable[[], Awaitable[None]], exit_: Callable[[], None], supervisor: int
) -> tuple[Callable[[], Awaitable[None]], Callable[[], None]]:
    """/drain and /quitquitquit reach the admin worker only: it has the `supervisor` (its parent's
    pid) pass them on (as DRAIN_SIGNAL and SIGTERM) to every worker, which then drains, or drains and
    exits, as it does; the supervisor restarts no worker once told to stop."""

    async def drain_all() -> None:
        _tell(supervisor, DRAIN_SIGNAL)
        await drain()

    def exit_all() -> None:
        exit_()
        _tell(supervisor, signal.SIGTERM)

    return drain_all, exit_all


def _tell(supervisor: int, signum: int) -> None:
    # Orphaned (the supervisor killed: the kernel's SIGTERM is why this worker is exiting), the
    # parent is now init or a container's first process, which must not get the signal.
    if os.getppid() == supervisor:
        signal_all([supervisor], signum)  # it may end between the check and the signal


def watch_pool(series: DirectionMetrics, pool: Pool) -> None:
    series.upstream_connecting.set_function(functools.partial(len, pool.connecting))
    series.upstream_idle.set_function(pool.idle_connections)
    series.upstream_active.set_function(lambda: pool.live - pool.idle_connections())
    series.upstream_opened.set_function(lambda: pool.opened)


def watch(metrics: ProxyMetrics, proxy: Proxy, pipeline: SpanPipeline[Any]) -> None:
    """Gauges read at scrape time, so the data path pays nothing for them."""
    for direction, listener in proxy.listeners.items():
        series = metrics.direction(direction)
        series.open_connections.set_function(functools.partial(len, listener.connections))
        watch_pool(series, listener.pool)
        listener.refused = series.request_refused
    metrics.watch_spans(
        exported=lambda: pipeline.exported,
        dropped=lambda: pipeline.dropped,
        failed=lambda: pipeline.failed,
        queued=lambda: pipeline.queued,
    )


# Each request allocates a few dozen containers, so at CPython's default threshold (700) a young
# collection ran every few requests: about 4 % of the proxy's CPU in a profile at saturation. Objects
# of the data path die young or live for a connection; start-up state never dies.
GC_YOUNG_THRESHOLD = 20_000


# The export thread asks for the GIL while the event loop holds it; CPython hands it over only after
# the switch interval (5 ms by default). With a busy loop that rationed the exporter to about 200 us
# of encoding per 5 ms: recording 10,000 spans/s from a busy main thread dropped 12 % of them at
# 5 ms, 3 % at 1 ms, none at 0.5 ms. The interval matters only while a second thread waits for the
# GIL, so a shorter one costs the loop nothing the rest of the time.
GIL_SWITCH_INTERVAL_S = 0.0005


def tune_gc() -> None:
    """Collect less often, and never walk what start-up built (it lives as long as the process)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def run(
    config: ProxyConfig,
    export: ExportConfig,
    routes: Routes,
    ebpf: EbpfConfig | None = None,
    *,
    index: int = 0,
    workers: int = 1,
) -> None:
    """Serve until SIGTERM, SIGINT or /quitquitquit; then drain connections, flush spans, return.

    `ebpf`: also run the eBPF fallback for the connections the proxy does not see.
    `index` of `workers`: the first serves the admin listener, the others serve their metrics to it
    (proxy.worker_metrics).
    """
    admin = index == 0
    pipeline = SpanPipeline(make_exporter(export), export.max_queue, export.max_batch, export.interval_s)
    metrics = ProxyMetrics()
    finished = ExchangeRecorder(pipeline, routes, metrics, config.redact_query_keys)
    proxy = Proxy(
        config,
        export.propagators,
        export.sampler,
        finished,
        pipeline.record,
        tcp_finished=functools.partial(tcp_recorder, metrics),
        detected=metrics.protocol_detected,
    )
    watch(metrics, proxy, pipeline)
    watch_descriptors(proxy)
    stop = asyncio.Event()
    on_drain: Callable[[], Awaitable[None]] = proxy.drain
    on_exit: Callable[[], None] = stop.set
    peers: list[str] | None = None
    if admin and workers > 1:
        on_drain, on_exit = every_worker(on_drain, on_exit, os.getppid())
        peers = worker_metrics.peer_names(config.admin_port, workers)
    state = AdminState(on_drain=on_drain, on_exit=on_exit)
    server = AdminServer(state, metrics.registry, port=config.admin_port, peers=peers) if admin else None
    metrics_server: asyncio.AbstractServer | None = None
    fallback = None if ebpf is None else make_runner(ebpf, pipeline.record, export.sampler, metrics.registry)
    try:
        await proxy.start()
        if server is not None:
            await server.start()
        if index > 0:
            metrics_server = await worker_metrics.serve(metrics.registry, config.admin_port, index)
        # Before dropping privileges: bpftrace needs root, and keeps it after the proxy lets go.
        if fallback is not None and await fallback.start():
            spawn(fallback.follow(), name="ebpf")
        state.ready = True
        tune_gc()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        if config.run_as is not None:
            drop_to(*config.run_as)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, state.quit)
        loop.add_signal_handler(DRAIN_SIGNAL, state.start_drain)  # from the supervisor (every_worker)
        await stop.wait()
    finally:
        if fallback is not None:
            fallback.stop()
        if server is not None:
            await server.stop()
        if metrics_server is not None:
            metrics_server.close()
        finished.stop_batching()
        flushed = await asyncio.to_thread(pipeline.shutdown, SPAN_FLUSH_S)
        log.info(
            "stopped: %d spans exported, %d dropped, %d failed%s",
            pipeline.exported,
            pipeline.dropped,
            pipeline.failed,
            "" if flushed else " (flush timed out)",
        )
