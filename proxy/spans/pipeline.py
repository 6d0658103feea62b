"""From "the data path finished a request" to an exporter, without ever making the data path wait.

`SpanPipeline.record` hands the span to the exporter's `prepare` and appends the result to a deque:
when the queue holds `max_queue` spans it counts the span as dropped instead. A daemon thread wakes
every `interval_s`, or as soon as a full batch is waiting, and hands batches of at most `max_batch`
prepared spans to the exporter, which sends them (with its own bounded retries) on that thread. So a
slow or dead collector costs the data path nothing but dropped spans, and memory stays bounded by
`max_queue` prepared spans plus the batch in flight.

Why prepare on the data path: the OTLP exporters' `prepare` encodes the span to its wire bytes there
(about 2 us, compiled). Encoding on the export thread instead cost more than three times that: the
two threads handed the GIL back and forth every few spans, each hand-over a pair of futex calls and
context switches, and at saturation the proxy spent about 40 us per request on span export (measured
with the export thread's and the loop's own CPU ticks). Now the export thread holds the GIL only to
join a batch's bytes and read the answer; it sends without it.

Counters, plain ints readable from any thread (for /metrics): `exported` (spans the backend
accepted), `failed` (spans handed to the exporter and not accepted: errors after retries, a
malformed record, an exporter exception), `dropped` (spans never handed over: the queue was full,
the pipeline was shut down, or the process is a fork of the one that created it). Every recorded
span ends in exactly one of them, or is still queued or in flight.

Threads and processes: `record` is called from one thread, the event loop's; deque appends are
atomic, but two threads recording at once could lose a `dropped` increment. Create the pipeline after
forking the workers, one per process: a child forked from a process that has one gets a pipeline that
drops and counts every span (the export thread and the exporter's connections do not survive a fork,
and the spans queued in the parent are the parent's to export).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from proxy.spans.record import SpanRecord

logger = logging.getLogger("tracecar.spans")

DEFAULT_MAX_QUEUE = 2048
DEFAULT_MAX_BATCH = 512
DEFAULT_INTERVAL_S = 1.0
SHUTDOWN_ABORT_GRACE_S = 1.0  # after aborting the exporter, how long shutdown waits for the thread


Prepared = TypeVar("Prepared")


class Exporter(Protocol[Prepared]):
    def prepare(self, span: SpanRecord) -> Prepared:
        """What the span is kept as until exported (OTLP: its encoded bytes). Called on the data
        path, by one thread: cheap, and may raise ValueError for a record it cannot take."""

    def export(self, batch: Sequence[Prepared]) -> bool:
        """Send one batch; True when the backend accepted it. Called from the export thread only."""

    def shutdown(self) -> None:
        """Abort any retry wait or call in flight and release connections; later exports fail fast.
        May be called from another thread while `export` runs."""


class SpanPipeline(Generic[Prepared]):
    def __init__(
        self,
        exporter: Exporter[Prepared],
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_batch: int = DEFAULT_MAX_BATCH,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        if not 0 < max_batch <= max_queue:
            raise ValueError(f"need 0 < max_batch <= max_queue, got {max_batch} and {max_queue}")
        self.exported = 0
        self.failed = 0
        self.dropped = 0
        self._exporter = exporter
        self._prepare = exporter.prepare
        self._queue: deque[Prepared] = deque()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._lock = threading.Lock()  # guards _flushes and _stopping
        self._flushes: list[threading.Event] = []
        self._stopping = False
        self._failing = False
        self._unprepared_count = 0
        self._thread = threading.Thread(target=self._run, name="tracecar-span-export", daemon=True)
        self._thread.start()
        _PIPELINES.add(self)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def record(self, span: SpanRecord) -> None:
        """Queue one finished span; never blocks, never raises."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.dropped += 1
            return
        try:
            prepared = self._prepare(span)
        except Exception:  # a malformed record, or a bug: the request it describes is done already
            self._unprepared(span)
            return
        queue.append(prepared)
        if len(queue) >= self._max_batch and not self._wake.is_set():
            self._wake.set()

    def force_flush(self, timeout_s: float | None = None) -> bool:
        """Export everything queued before this call; True if that finished within the timeout."""
        done = threading.Event()
        with self._lock:
            if not self._thread.is_alive():
                return not self._queue
            self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_s)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Export what is queued within `timeout_s`, then stop the thread and the exporter.

        Spans recorded from now on are dropped. When the time is up the exporter is aborted, and
        what it had not sent is counted as failed. True if everything queued was exported or tried.
        """
        with self._lock:
            self._stopping = True
            self._max_queue = 0
        self._wake.set()
        self._thread.join(timeout_s)
        finished = not self._thread.is_alive()
        self._exporter.shutdown()
        if not finished:
            self._thread.join(SHUTDOWN_ABORT_GRACE_S)
        return finished

    def _run(self) -> None:
        while True:
            if len(self._queue) < self._max_batch:
                self._wake.wait(self._interval_s)
            self._wake.clear()
            with self._lock:
                flushes, self._flushes = self._flushes, []
                stopping = self._stopping
            self._export(len(self._queue))
            for done in flushes:
                done.set()
            if stopping:
                return

    def _export(self, count: int) -> None:
        """Export the `count` oldest spans, in batches."""
        queue, exporter = self._queue, self._exporter
        while count > 0 and queue:
            batch = [queue.popleft() for _ in range(min(count, self._max_batch, len(queue)))]
            count -= len(batch)
            try:
                accepted = exporter.export(batch)
            except Exception:
                logger.exception("span export raised; %d spans lost", len(batch))
                accepted = False
            if accepted:
                self.exported += len(batch)
            else:
                self.failed += len(batch)
            self._log_transition(accepted)

    def _unprepared(self, span: SpanRecord) -> None:
        """Counted as failed; logged with its cause the first time, then every 1,000th."""
        self.failed += 1
        self._unprepared_count += 1
        if self._unprepared_count % 1000 == 1:
            logger.error(
                "span %r could not be exported (%d so far)", span, self._unprepared_count, exc_info=True
            )

    def _log_transition(self, accepted: bool) -> None:
        """One line when export starts failing and one when it recovers, not one per batch."""
        if accepted == self._failing:
            self._failing = not accepted
            if accepted:
                logger.warning("span export recovered (%d spans failed so far)", self.failed)
            else:
                logger.warning("span export failing; spans are dropped until the backend answers")

    def _forked(self) -> None:
        """In a child process: the thread is gone; drop (and count) everything from now on."""
        self._lock = threading.Lock()
        self._stopping = True
        self._max_queue = 0
        self._queue.clear()
        self._exporter = _Discard()  # type: ignore[assignment]  # nothing reaches it: max_queue is 0


class _Discard:
    def prepare(self, span: SpanRecord) -> SpanRecord:
        return span

    def export(self, batch: Sequence[object]) -> bool:
        return False

    def shutdown(self) -> None:
        pass


_PIPELINES: weakref.WeakSet[SpanPipeline[Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pipeline in list(_PIPELINES):
        pipeline._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
