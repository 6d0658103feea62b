"""Batched writes on one thread, and the promise behind every acknowledgement.

Receivers hand over the spans of one export request and await the returned future; the writer thread
takes everything queued (up to `max_batch` spans), stores it in one transaction, and resolves the
futures of those requests only once the transaction has committed. So a receiver answers "accepted"
only for spans already on disk, and a crash loses no acknowledged span.

The queue is bounded by spans waiting: past `max_pending` a submission raises `QueueFull` at once,
which receivers turn into gRPC RESOURCE_EXHAUSTED with RetryInfo or HTTP 503 with Retry-After (OTLP
#failures: both are retryable), so a flood is pushed back to the exporters instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proxy.collector.decode import span_count, spans_of
from proxy.collector.model import Span
from proxy.collector.store import Retention, Store

log = logging.getLogger(__name__)

MAX_PENDING_SPANS = 100_000
MAX_BATCH_SPANS = 5_000
RETENTION_INTERVAL_S = 30.0
RETRY_AFTER_S = 1.0  # what a client told "full" is asked to wait


class QueueFull(Exception):
    """The writer is behind: retry later."""


@dataclass
class _Request:
    spans: ExportTraceServiceRequest | Sequence[Span]
    count: int
    done: asyncio.Future[int]  # resolved with how many spans were rejected as invalid


class Writer:
    def __init__(
        self,
        db_path: str,
        retention: Retention,
        max_pending: int = MAX_PENDING_SPANS,
        max_batch: int = MAX_BATCH_SPANS,
        retention_interval_s: float = RETENTION_INTERVAL_S,
    ) -> None:
        self.db_path = db_path
        self.retention = retention
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.retention_interval_s = retention_interval_s
        self.pending = 0  # spans queued, not yet committed
        self.stored = 0  # spans committed since start (duplicates included)
        self.rejected_full = 0  # spans refused because the queue was full
        self.batches = 0
        self._queue: deque[_Request] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened = threading.Event()
        self._open_error: BaseException | None = None

    def start(self) -> None:
        """Open the database on the writer thread; raises what opening it raised."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def submit(self, spans: ExportTraceServiceRequest | Sequence[Span]) -> asyncio.Future[int]:
        """A future resolved once these spans are committed, with the number of invalid spans left
        out. Call from the event loop. An OTLP request is decoded on the writer thread, so that
        converting thousands of spans never holds up the event loop."""
        assert self._loop is not None, "Writer.start() first"
        done: asyncio.Future[int] = self._loop.create_future()
        count = span_count(spans) if isinstance(spans, ExportTraceServiceRequest) else len(spans)
        if not count:
            done.set_result(0)
            return done
        with self._wake:
            if self._stopping:
                raise QueueFull("the collector is stopping")
            if self.pending and self.pending + count > self.max_pending:
                self.rejected_full += count
                raise QueueFull(f"{self.pending} spans waiting to be written")
            self.pending += count
            self._queue.append(_Request(spans, count, done))
            self._wake.notify()
        return done

    async def stop(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            store = Store(self.db_path)
        except BaseException as error:
            self._open_error = error
            self._opened.set()
            return
        self._opened.set()
        try:
            self._loop_until_stopped(store)
        finally:
            store.close()

    def _loop_until_stopped(self, store: Store) -> None:
        next_retention = 0.0
        while True:
            if time.monotonic() >= next_retention:
                self._retain(store)
                next_retention = time.monotonic() + self.retention_interval_s
            batch = self._take(timeout_s=max(0.0, next_retention - time.monotonic()))
            if batch:
                self._write(store, batch)
            elif self._stopping:
                return

    def _take(self, timeout_s: float) -> list[_Request]:
        with self._wake:
            if not self._queue and not self._stopping:
                self._wake.wait(timeout_s)
            batch: list[_Request] = []
            count = 0
            while self._queue and (not batch or count + self._queue[0].count <= self.max_batch):
                request = self._queue.popleft()
                batch.append(request)
                count += request.count
            return batch

    def _write(self, store: Store, batch: list[_Request]) -> None:
        """Store a batch; every request in it is answered, whatever happens."""
        spans: list[Span] = []
        rejected = [0] * len(batch)
        error: BaseException | None = None
        try:
            spans, rejected = _decode(batch)
            store.insert(spans)
        except Exception as failure:  # disk full, database locked too long: the exporters retry
            log.error("collector: storing %d export requests failed: %s", len(batch), failure)
            error = failure
        with self._wake:
            self.pending -= sum(request.count for request in batch)
            if error is None:
                self.stored += len(spans)
                self.batches += 1
        for request, invalid in zip(batch, rejected, strict=True):
            self._resolve(request.done, invalid, error)

    def _resolve(self, done: asyncio.Future[int], rejected: int, error: BaseException | None) -> None:
        assert self._loop is not None
        # A closed loop (RuntimeError): nobody is waiting for the answer any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, done, rejected, error)

    def _retain(self, store: Store) -> None:
        if self.retention.max_age_s is None and self.retention.max_bytes is None:
            return
        try:
            deleted = store.apply_retention(self.retention)
        except Exception as failure:
            log.error("collector: retention failed: %s", failure)
            return
        if deleted:
            log.info("collector: retention deleted %d traces", deleted)


def _decode(batch: list[_Request]) -> tuple[list[Span], list[int]]:
    """The spans of a batch, and how many invalid spans each request had."""
    spans: list[Span] = []
    rejected: list[int] = []
    for request in batch:
        if isinstance(request.spans, ExportTraceServiceRequest):
            valid, invalid = spans_of(request.spans, details=False)
            spans += valid
            rejected.append(invalid)
        else:
            spans += request.spans
            rejected.append(0)
    return spans, rejected


def _settle(done: asyncio.Future[int], rejected: int, error: BaseException | None) -> None:
    if done.done():  # the receiver gave up waiting (client went away)
        return
    if error is None:
        done.set_result(rejected)
    else:
        done.set_exception(error)
