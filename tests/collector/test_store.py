"""The SQLite store: what goes in comes out, summaries, filters, duplicates, retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from proxy.collector.model import KIND_CLIENT, STATUS_ERROR
from proxy.collector.store import Retention, Store
from tests.collector.factory import BASE_NS, TRACE, span

OTHER = "0af7651916cd43dd8448eb211c80319c"
WEB = "frontend, the web tier"  # a comma in a service name


def test_spans_round_trip_and_trace_summary(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    root = span(WEB, "GET /", 0, 30)
    child = span(
        "checkout", "Buy", 5, 25, parent=root, kind=KIND_CLIENT, status=STATUS_ERROR,
        attempt=2, tags=["a", 1, True, 1.5, None], retry={"after": 0.5, "of": ["x"]},
    )  # fmt: skip
    store.insert([child])  # the child first: until the root arrives, the earliest span stands in
    assert store.recent_traces()[0].root_name == "Buy"
    store.insert([root, child])  # a retried export: stored once
    [summary] = store.recent_traces()
    assert (summary.trace_id, summary.root_service, summary.root_name) == (
        TRACE,
        "frontend, the web tier",
        "GET /",
    )
    assert (summary.span_count, summary.error_count, summary.duration_ns) == (2, 1, 30_000_000)
    assert summary.services == ("checkout", WEB)
    assert store.trace(TRACE) == [root, child]
    assert store.trace(TRACE[:8]) == [root, child]  # a unique prefix is enough
    assert store.trace("ffff") == []
    assert store.counts() == (1, 2)


def test_filters(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    store.insert([span("frontend", "fast", 0, 1)])
    store.insert([span("checkout", "slow", 100, 400, trace_id=OTHER, status=STATUS_ERROR)])
    assert [t.root_name for t in store.recent_traces()] == ["slow", "fast"]  # newest first
    assert [t.root_name for t in store.recent_traces(service="frontend")] == ["fast"]
    assert [t.root_name for t in store.recent_traces(min_duration_ns=100_000_000)] == ["slow"]
    assert [t.root_name for t in store.recent_traces(errors_only=True)] == ["slow"]
    assert [t.root_name for t in store.recent_traces(limit=1)] == ["slow"]
    assert store.services() == ["checkout", "frontend"]
    assert store.service_stats() == [("checkout", 1, 1), ("frontend", 1, 0)]


def test_wal_mode_and_readers_see_commits(tmp_path: Path) -> None:
    writer = Store(tmp_path / "t.db")
    reader = Store(tmp_path / "t.db", readonly=True)
    writer.insert([span("a", "x")])
    assert reader.counts() == (1, 1)
    mode = sqlite3.connect(tmp_path / "t.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_retention_by_age(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    store.insert([span("a", "old")], received_ns=BASE_NS)
    store.insert([span("a", "new", trace_id=OTHER)], received_ns=BASE_NS + 3600 * 10**9)
    deleted = store.apply_retention(Retention(max_age_s=60), now_ns=BASE_NS + 3600 * 10**9 + 1)
    assert deleted == 1
    assert [t.root_name for t in store.recent_traces()] == ["new"]
    assert store.trace(TRACE) == []


def test_retention_by_size_keeps_the_newest_and_shrinks_the_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    for batch in range(40):
        spans = [
            span("svc", f"op{index}", trace_id=f"{index + 1:032x}", payload="x" * 400)
            for index in range(batch * 10, batch * 10 + 10)
            for _ in range(5)
        ]
        store.insert(spans, received_ns=BASE_NS + batch)
    full = store.used_bytes()
    limit = full // 4
    store.apply_retention(Retention(max_bytes=limit))
    assert store.used_bytes() <= limit
    kept = store.recent_traces(limit=1000)
    assert 0 < len(kept) < 400
    assert "op399" in {trace.root_name for trace in kept}  # the newest stay
    assert (tmp_path / "t.db").stat().st_size < full  # incremental vacuum gave the pages back


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    try:
        Store(tmp_path / "absent.db", readonly=True)
    except FileNotFoundError as error:
        assert "absent.db" in str(error)
    else:
        raise AssertionError("opened a database that does not exist")
