"""The span pipeline's mechanics: batching, waking, a bounded queue that drops and counts, flush, shutdown,
fork. The exporters here are small real ones that record, refuse, raise or hold batches on an Event;
the OTLP exporters are driven against a real receiver in test_export.py."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from proxy.spans.otlp import Encoder
from proxy.spans.pipeline import SpanPipeline
from proxy.spans.record import SpanRecord
from tests.spans.factory import numbered, server_span


class HoldingExporter:
    """Keeps every batch; when `gate` is clear, holds the export thread until it is set."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.batches: list[list[SpanRecord]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.shut_down = False

    def prepare(self, span: SpanRecord) -> SpanRecord:
        return span

    def export(self, batch: Sequence[SpanRecord]) -> bool:
        self.entered.set()
        self.gate.wait()
        self.batches.append(list(batch))
        return self.accept

    def shutdown(self) -> None:
        self.shut_down = True
        self.gate.set()

    @property
    def spans(self) -> list[SpanRecord]:
        return [span for batch in self.batches for span in batch]


@pytest.fixture
def exporter() -> HoldingExporter:
    return HoldingExporter()


@pytest.fixture
def pipelines() -> Iterator[list[SpanPipeline[Any]]]:
    made: list[SpanPipeline[Any]] = []
    yield made
    for pipeline in made:
        pipeline.shutdown(timeout_s=2)


def make(
    pipelines: list[SpanPipeline[Any]], exporter: HoldingExporter, **options: float
) -> SpanPipeline[Any]:
    pipeline = SpanPipeline(exporter, **options)  # type: ignore[arg-type]
    pipelines.append(pipeline)
    return pipeline


def test_exports_in_order_in_batches_of_at_most_max_batch(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=4, interval_s=60)
    spans = numbered(10)
    for span in spans:
        pipeline.record(span)
    assert pipeline.force_flush(timeout_s=5)
    assert exporter.spans == spans
    assert all(len(batch) <= 4 for batch in exporter.batches)
    assert (pipeline.exported, pipeline.dropped, pipeline.failed, pipeline.queued) == (10, 0, 0, 0)


def test_a_full_batch_wakes_the_thread_before_the_interval(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=5, interval_s=60)
    for span in numbered(4):
        pipeline.record(span)
    assert not exporter.entered.wait(0.3)  # four spans wait for the interval (a minute)
    pipeline.record(server_span())
    assert exporter.entered.wait(5)


def test_the_interval_exports_a_partial_batch(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=50, interval_s=0.05)
    pipeline.record(server_span())
    assert exporter.entered.wait(5)


def test_a_stalled_exporter_never_blocks_record_and_the_queue_stays_bounded(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    exporter.gate.clear()  # the export thread will hold its first batch until the gate opens
    pipeline = make(pipelines, exporter, max_queue=2048, max_batch=512, interval_s=0.01)
    pipeline.record(server_span())
    assert exporter.entered.wait(5)
    span, total = server_span(), 1_000_000

    def record_many() -> None:
        for _ in range(total - 1):
            pipeline.record(span)

    # If record() ever waited for the exporter, this thread would never finish: the gate is shut.
    recorder = threading.Thread(target=record_many, daemon=True)
    recorder.start()
    recorder.join(timeout=60)
    assert not recorder.is_alive()
    assert pipeline.queued == 2048
    assert pipeline.dropped == total - 2048 - 1  # one span is in the held batch
    exporter.gate.set()
    assert pipeline.force_flush(timeout_s=10)
    assert pipeline.exported == 2048 + 1
    assert pipeline.exported + pipeline.dropped == total


def test_memory_stays_bounded_while_the_exporter_is_stalled(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    exporter.gate.clear()
    pipeline = make(pipelines, exporter, max_queue=1000, max_batch=100, interval_s=0.01)
    pipeline.record(server_span())
    assert exporter.entered.wait(5)
    tracemalloc.start()
    try:
        for _ in range(3):  # fill the queue; then every new, distinct span is dropped and freed
            for i in range(20_000):
                pipeline.record(server_span(span_id=b"%016x" % i, attributes=[("i", i)]))
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pipeline.queued == 1000
    # 1000 queued records with their attribute lists: well under 2 MB, whatever else the loop made.
    assert current < 2_000_000, current
    exporter.gate.set()


def test_refused_and_raising_exports_count_as_failed_and_the_thread_goes_on(
    pipelines: list[SpanPipeline[Any]],
) -> None:
    class Flaky(HoldingExporter):
        def export(self, batch: Sequence[SpanRecord]) -> bool:
            calls = len(self.batches)
            super().export(batch)
            if calls == 1:
                raise RuntimeError("exporter bug")
            return calls != 0

    exporter = Flaky()
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=3, interval_s=60)
    for span in numbered(9):
        pipeline.record(span)
    assert pipeline.force_flush(timeout_s=5)
    assert len(exporter.batches) == 3
    assert (pipeline.failed, pipeline.exported) == (6, 3)


def test_force_flush_times_out_while_the_exporter_is_stalled(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    exporter.gate.clear()
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=10, interval_s=60)
    pipeline.record(server_span())
    started = time.monotonic()
    assert not pipeline.force_flush(timeout_s=0.2)
    assert time.monotonic() - started < 2
    exporter.gate.set()
    assert pipeline.force_flush(timeout_s=5)


def test_shutdown_flushes_what_is_queued_then_drops_new_spans(exporter: HoldingExporter) -> None:
    pipeline = SpanPipeline(exporter, max_queue=100, max_batch=10, interval_s=60)
    spans = numbered(25)
    for span in spans:
        pipeline.record(span)
    assert pipeline.shutdown(timeout_s=5)
    assert exporter.spans == spans
    assert exporter.shut_down
    pipeline.record(server_span())
    assert (pipeline.exported, pipeline.dropped, pipeline.queued) == (25, 1, 0)
    assert pipeline.shutdown(timeout_s=1)  # twice is harmless


def test_shutdown_gives_up_on_a_stalled_exporter_within_its_timeout(exporter: HoldingExporter) -> None:
    exporter.gate.clear()
    pipeline = SpanPipeline(exporter, max_queue=100, max_batch=10, interval_s=60)
    for span in numbered(30):
        pipeline.record(span)
    started = time.monotonic()
    assert not pipeline.shutdown(timeout_s=0.3)
    assert time.monotonic() - started < 3
    assert exporter.shut_down  # aborted: a real exporter stops retrying and fails fast


def test_batch_size_must_fit_the_queue() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        SpanPipeline(HoldingExporter(), max_queue=10, max_batch=20)


def test_a_forked_child_drops_and_counts_and_never_exports_the_parents_spans(
    exporter: HoldingExporter, pipelines: list[SpanPipeline[Any]]
) -> None:
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=50, interval_s=60)
    for span in numbered(5):
        pipeline.record(span)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        ok = pipeline.queued == 0 and pipeline.dropped == 0
        pipeline.record(server_span())
        ok = ok and pipeline.dropped == 1 and pipeline.force_flush(1) and not exporter.batches
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pipeline.force_flush(timeout_s=5)
    assert len(exporter.spans) == 5


def test_a_record_the_exporter_cannot_prepare_counts_as_failed_and_the_rest_go_on(
    pipelines: list[SpanPipeline[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    # The OTLP exporters encode on the data path: a malformed record must not reach the caller.
    encoder = Encoder([("service.name", "x")], "tracecar", "1")

    class Encoding(HoldingExporter):
        def prepare(self, span: SpanRecord) -> bytes:  # type: ignore[override]
            return encoder.span(span)

    exporter = Encoding()
    pipeline = make(pipelines, exporter, max_queue=100, max_batch=10, interval_s=60)
    pipeline.record(server_span(span_id=b"not hex at all!!"))
    pipeline.record(server_span())
    assert pipeline.force_flush(timeout_s=5)
    assert (pipeline.failed, pipeline.exported, pipeline.dropped) == (1, 1, 0)
    assert exporter.spans == [encoder.span(server_span())]  # type: ignore[comparison-overlap]
    assert "could not be exported" in caplog.text and "span_id" in caplog.text
