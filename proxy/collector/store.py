"""The collector's SQLite database: schema, batched inserts, retention and the queries views need.

WAL mode, so readers (the web page, `tracecar traces`) never block the writer and the writer never
blocks them; `synchronous=FULL`, so a committed batch survives a crash of the process and of the
machine: the writer acknowledges an export only after its commit (see `writer`).

`spans` holds every span once (a retried export is not stored twice: the key is the trace and span
id). `traces` holds one summary row per trace, recomputed from its spans whenever a batch touches it,
so the trace list is one indexed query. `resources` holds each distinct resource once.

A `Store` is one connection: use it from one thread (the writer owns one; each reader opens its own).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.collector.decode import span_from_otlp, to_otlp
from proxy.collector.model import STATUS_ERROR, Span, TraceSummary

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY,
    attributes TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    otlp BLOB NOT NULL,
    resource_id INTEGER NOT NULL REFERENCES resources(id),
    received_ns INTEGER NOT NULL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spans_by_service ON spans (service, trace_id);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    root_service TEXT NOT NULL,
    root_name TEXT NOT NULL,
    services TEXT NOT NULL,
    received_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns);
CREATE INDEX IF NOT EXISTS traces_by_received ON traces (received_ns);
"""

_INSERT_SPAN = """
INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# The root: the span without a parent, else the earliest (a trace whose root has not arrived yet).
_SUMMARISE = f"""
INSERT OR REPLACE INTO traces
SELECT s.trace_id, MIN(s.start_ns), MAX(s.end_ns), COUNT(*), SUM(s.status = {STATUS_ERROR}),
       root.service, root.name,
       (SELECT GROUP_CONCAT(service, char(31))
        FROM (SELECT DISTINCT service FROM spans WHERE trace_id = :trace)),
       MAX(s.received_ns)
FROM spans AS s,
     (SELECT service, name FROM spans WHERE trace_id = :trace
      ORDER BY parent_span_id IS NOT NULL, start_ns LIMIT 1) AS root
WHERE s.trace_id = :trace
GROUP BY s.trace_id
"""
_SPAN_COLUMNS = "s.otlp, s.service, r.attributes"
SERVICE_SEPARATOR = "\x1f"  # ASCII unit separator: service names may hold commas
# Over the size limit, a step deletes this much more than the share of traces the excess suggests
# (indexes and page slack do not shrink in proportion), so a few steps suffice.
RETENTION_OVERSHOOT = 1.1


@dataclass(frozen=True)
class Retention:
    max_age_s: float | None = None  # traces whose last span arrived longer ago are deleted
    max_bytes: int | None = None  # the oldest traces are deleted until the data fits


class Store:
    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no trace database at {self.path}")
            self._db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=10)
        else:
            try:
                self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
                self._create()
            except sqlite3.DatabaseError as error:  # a missing directory, or a file that is not SQLite
                raise OSError(f"cannot use {self.path} as the trace database: {error}") from None
        self._resource_ids: dict[str, int] = {}

    def _create(self) -> None:
        # auto_vacuum must be chosen before the first table exists; incremental lets retention shrink
        # the file without a full VACUUM.
        self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise OSError(f"{self.path}: SQLite could not use WAL mode (got {mode})")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # Writing (the writer thread).

    def insert(self, spans: Sequence[Span], received_ns: int | None = None) -> None:
        """Store spans and refresh their traces' summaries, in one transaction."""
        received = time.time_ns() if received_ns is None else received_ns
        resources: dict[int, int] = {}  # id() of a resource dict -> its row: spans of a request share one
        with self._transaction():
            rows = [self._row(span, received, resources) for span in spans]
            self._db.executemany(_INSERT_SPAN, rows)
            traces = {span.trace_id for span in spans}
            self._db.executemany(_SUMMARISE, [{"trace": trace} for trace in traces])

    def _row(self, span: Span, received_ns: int, resources: dict[int, int]) -> tuple[Any, ...]:
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = self._resource_id(span.resource)
        return (
            span.trace_id, span.span_id, span.parent_span_id, span.service, span.name, span.kind,
            span.start_ns, span.end_ns, span.status, span.status_message, span.otlp or to_otlp(span),
            resource, received_ns,
        )  # fmt: skip

    def _resource_id(self, resource: dict[str, Any]) -> int:
        text = _json(resource)
        known = self._resource_ids.get(text)
        if known is None:
            self._db.execute("INSERT OR IGNORE INTO resources (attributes) VALUES (?)", (text,))
            known = self._db.execute("SELECT id FROM resources WHERE attributes = ?", (text,)).fetchone()[0]
            self._resource_ids[text] = known
        return known

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def apply_retention(self, retention: Retention, now_ns: int | None = None) -> int:
        """Delete what retention says must go; the number of traces deleted."""
        deleted = 0
        if retention.max_age_s is not None:
            now = time.time_ns() if now_ns is None else now_ns
            cutoff = now - int(retention.max_age_s * 1e9)
            deleted += self._delete_traces("SELECT trace_id FROM traces WHERE received_ns < ?", (cutoff,))
        if retention.max_bytes is not None:
            deleted += self._shrink_to(retention.max_bytes)
        if deleted:
            self._db.execute("PRAGMA incremental_vacuum")
            # In WAL mode the file itself shrinks only when the log is checkpointed.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._resource_ids.clear()
        return deleted

    def _shrink_to(self, max_bytes: int) -> int:
        """Delete the oldest traces until the data fits, in steps sized by how far over it is."""
        deleted = 0
        while (used := self.used_bytes()) > max_bytes:
            traces = self.counts()[0]
            step = max(1, math.ceil(traces * (used - max_bytes) / used * RETENTION_OVERSHOOT))
            removed = self._delete_traces("SELECT trace_id FROM traces ORDER BY received_ns LIMIT ?", (step,))
            if not removed:
                break
            deleted += removed
        return deleted

    def _delete_traces(self, select: str, parameters: tuple[Any, ...]) -> int:
        with self._transaction():
            doomed = [row[0] for row in self._db.execute(select, parameters)]
            self._db.executemany("DELETE FROM spans WHERE trace_id = ?", [(t,) for t in doomed])
            self._db.executemany("DELETE FROM traces WHERE trace_id = ?", [(t,) for t in doomed])
            if doomed:
                self._db.execute(
                    "DELETE FROM resources WHERE id NOT IN (SELECT DISTINCT resource_id FROM spans)"
                )
        return len(doomed)

    def used_bytes(self) -> int:
        """Bytes of the database in use (free pages excluded, the WAL not counted)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        size: int = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    # Reading.

    def recent_traces(
        self,
        limit: int = 50,
        service: str | None = None,
        min_duration_ns: int = 0,
        errors_only: bool = False,
    ) -> list[TraceSummary]:
        """The latest traces first, filtered: a service taking part, a minimum duration, errors."""
        where: list[str] = ["end_ns - start_ns >= ?"]
        parameters: list[Any] = [min_duration_ns]
        if service:
            where.append("trace_id IN (SELECT trace_id FROM spans WHERE service = ?)")
            parameters.append(service)
        if errors_only:
            where.append("error_count > 0")
        query = f"""
            SELECT trace_id, root_service, root_name, start_ns, end_ns, span_count, error_count, services
            FROM traces WHERE {" AND ".join(where)} ORDER BY start_ns DESC LIMIT ?
        """
        rows = self._db.execute(query, [*parameters, limit]).fetchall()
        return [_summary(row) for row in rows]

    def trace(self, trace_id: str) -> list[Span]:
        """The spans of one trace by start time; empty if unknown. A prefix of the id is enough."""
        trace_id = trace_id.strip().lower()
        if len(trace_id) < 32:
            row = self._db.execute(
                "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
                (trace_id, trace_id + "g"),
            ).fetchall()
            trace_id = row[0][0] if len(row) == 1 else trace_id
        query = f"""
            SELECT {_SPAN_COLUMNS} FROM spans AS s JOIN resources AS r ON r.id = s.resource_id
            WHERE s.trace_id = ? ORDER BY s.start_ns, s.span_id
        """
        return [_span(row) for row in self._db.execute(query, (trace_id,))]

    def recent_spans(self, limit: int = 20_000) -> list[Span]:
        """The latest spans, for the dependency graph."""
        query = f"""
            SELECT {_SPAN_COLUMNS} FROM spans AS s JOIN resources AS r ON r.id = s.resource_id
            ORDER BY s.start_ns DESC LIMIT ?
        """
        return [_span(row) for row in self._db.execute(query, (limit,))]

    def services(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT service FROM spans ORDER BY 1")]

    def service_stats(self) -> list[tuple[str, int, int]]:
        """(service, spans, error spans) for every service, by name."""
        query = f"SELECT service, COUNT(*), SUM(status = {STATUS_ERROR}) FROM spans GROUP BY 1 ORDER BY 1"
        return [(service, int(spans), int(errors)) for service, spans, errors in self._db.execute(query)]

    def counts(self) -> tuple[int, int]:
        """(traces, spans) stored."""
        traces = self._db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
        spans = self._db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
        return int(traces), int(spans)


class _Transaction:
    """BEGIN IMMEDIATE .. COMMIT, or ROLLBACK on an exception (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _span(row: Sequence[Any]) -> Span:
    otlp, service, resource = row
    return span_from_otlp(otlp, service, json.loads(resource))


def _summary(row: Sequence[Any]) -> TraceSummary:
    trace_id, service, name, start, end, spans, errors, services = row
    names = tuple(sorted(services.split(SERVICE_SEPARATOR)))
    return TraceSummary(trace_id, service, name, start, end, spans, errors, names)
