"""The worker's ExchangeRecorder: metrics at once, spans in batches, nothing lost at shutdown."""

from __future__ import annotations

import asyncio

from propagation import Extracted, SpanContext
from proxy.exchange import Exchange
from proxy.http1.head import parse_request
from proxy.metrics import ProxyMetrics
from proxy.routes import Routes
from proxy.spans.pipeline import SpanPipeline
from proxy.spans.record import SpanRecord
from proxy.worker import SPAN_BATCH_MAX, SPAN_BATCH_S, ExchangeRecorder
from tests.spans.test_pipeline import HoldingExporter

SAMPLED = SpanContext(b"1" * 32, b"2" * 16, 1)
UNSAMPLED = SpanContext(b"3" * 32, b"4" * 16, 0)
GET = b"GET /users/7 HTTP/1.1\r\nHost: shop:8080\r\n\r\n"


def ended(context: SpanContext = SAMPLED) -> Exchange:
    peers = {"peer": ("10.0.0.7", 41234), "destination": ("10.0.0.9", 8080)}
    exchange = Exchange("inbound", parse_request(GET), Extracted(), context, **peers)
    exchange.status = 200
    exchange.end_ns = exchange.start_ns + 1000
    return exchange


def recorder(
    exporter: HoldingExporter | None = None,
) -> tuple[ExchangeRecorder, SpanPipeline[SpanRecord], ProxyMetrics]:
    # An export interval far away: whatever the recorder handed over stays queued, to be counted.
    pipeline: SpanPipeline[SpanRecord] = SpanPipeline(
        exporter or HoldingExporter(), max_queue=1000, max_batch=1000, interval_s=600
    )
    metrics = ProxyMetrics()
    return ExchangeRecorder(pipeline, Routes(), metrics), pipeline, metrics


def requests_counted(metrics: ProxyMetrics) -> int:
    return sum(metrics.inbound.duration.counts)  # every finished request is one duration


def test_metrics_count_at_once_and_spans_follow_within_the_batch_interval() -> None:
    async def scenario() -> None:
        record, pipeline, metrics = recorder()
        record(ended())
        record(ended(UNSAMPLED))
        assert (requests_counted(metrics), pipeline.queued) == (2, 0)
        await asyncio.sleep(SPAN_BATCH_S * 4)
        assert pipeline.queued == 1  # the sampled one only
        record(ended())
        await asyncio.sleep(SPAN_BATCH_S * 4)
        assert pipeline.queued == 2
        pipeline.shutdown(timeout_s=5)

    asyncio.run(scenario())


def test_a_full_batch_goes_at_once_and_keeps_its_order() -> None:
    async def scenario() -> None:
        exporter = HoldingExporter()
        record, pipeline, _ = recorder(exporter)
        for number in range(SPAN_BATCH_MAX):
            exchange = ended()
            exchange.start_ns = number
            record(exchange)
            assert pipeline.queued == (0 if number < SPAN_BATCH_MAX - 1 else SPAN_BATCH_MAX)
        assert pipeline.force_flush(timeout_s=5)
        assert [span.start_ns for span in exporter.spans] == list(range(SPAN_BATCH_MAX))
        pipeline.shutdown(timeout_s=5)

    asyncio.run(scenario())


def test_stop_batching_hands_over_what_waits_and_then_every_span_at_once() -> None:
    async def scenario() -> None:
        record, pipeline, _ = recorder()
        record(ended())
        record.stop_batching()
        assert pipeline.queued == 1
        record(ended())  # an exchange that ends during shutdown
        assert pipeline.queued == 2
        pipeline.shutdown(timeout_s=5)

    asyncio.run(scenario())
