"""PostgreSQL simple and extended queries, errors and TLS upgrades, as database spans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.db.pgwire import MAX_KEPT, Framer
from proxy.observers import StreamObserver
from proxy.spans.record import STATUS_ERROR, STATUS_UNSET, SpanRecord
from tests.db import pg_messages as pg
from tests.db.streams import attributes, observe


def connected(database: str = "shop") -> tuple[StreamObserver, list[SpanRecord]]:
    observer, spans = observe(pg.ssl_request())
    observer.client_data(pg.ssl_request(), 1)
    observer.server_data(b"N", 2)  # no TLS: the startup message follows in clear
    observer.client_data(pg.startup("app", database), 3)
    observer.server_data(pg.AUTH_OK + pg.READY, 4)
    return observer, spans


def test_a_simple_query_is_one_span_until_ready_for_query() -> None:
    observer, spans = connected()
    observer.client_data(pg.query("SELECT name FROM users WHERE id = 42 AND email = 'a@b.c'"), 10)
    observer.server_data(pg.data_row(b"alice") + pg.complete("SELECT 1"), 20)
    assert spans == []
    observer.server_data(pg.READY, 30)
    [span] = spans
    assert (span.name, span.start_ns, span.end_ns, span.status) == ("SELECT shop", 10, 30, STATUS_UNSET)
    assert attributes(span) == {
        "db.system.name": "postgresql",
        "db.operation.name": "SELECT",
        "server.address": "10.0.0.9",
        "server.port": 6379,
        "db.namespace": "shop",
        "db.query.text": "SELECT name FROM users WHERE id = ? AND email = ?",
    }


def test_extended_queries_span_each_execute_and_an_error_ends_the_rest_of_the_batch() -> None:
    observer, spans = connected()
    batch = (
        pg.parse("", "INSERT INTO orders VALUES ($1, $2)") + pg.bind("", "") + pg.execute("")
        + pg.parse("s1", "UPDATE stock SET n = n - 1 WHERE id = $1") + pg.bind("", "s1") + pg.execute("")
        + pg.bind("", "s1") + pg.execute("") + pg.SYNC
    )  # fmt: skip
    observer.client_data(batch, 10)
    observer.server_data(pg.PARSE_COMPLETE + pg.BIND_COMPLETE + pg.complete("INSERT 0 1"), 20)
    observer.server_data(pg.PARSE_COMPLETE + pg.BIND_COMPLETE + pg.error("40P01", "deadlock detected"), 30)
    observer.server_data(pg.READY, 40)
    assert [(span.name, span.end_ns, span.status) for span in spans] == [
        ("INSERT shop", 20, STATUS_UNSET),
        ("UPDATE shop", 30, STATUS_ERROR),
        ("UPDATE shop", 40, STATUS_ERROR),  # skipped by the server after the error
    ]
    assert attributes(spans[1])["db.response.status_code"] == "40P01"
    assert spans[1].status_message == "deadlock detected"
    assert attributes(spans[0])["db.query.text"] == "INSERT INTO orders VALUES ($1, $2)"


def test_an_accepted_ssl_request_stops_the_observer() -> None:
    observer, spans = observe(pg.ssl_request())
    observer.client_data(pg.ssl_request(), 1)
    observer.server_data(b"S\x16\x03\x03", 2)
    observer.client_data(b"\x16\x03\x01\x02\x00" + b"\x01" * 600, 3)
    observer.closed(4)
    assert spans == []


def test_huge_messages_are_skipped_as_they_stream() -> None:
    observer, spans = connected()
    long_query = "SELECT '" + "x" * (MAX_KEPT * 2) + "'"
    wire = pg.query(long_query)
    for start in range(0, len(wire), 1000):
        observer.client_data(wire[start : start + 1000], 10)
    huge_row = pg.data_row(b"y" * 5_000_000)
    observer.server_data(huge_row[:2_000_000], 20)
    observer.server_data(huge_row[2_000_000:] + pg.complete("SELECT 1") + pg.READY, 30)
    [span] = spans
    assert attributes(span)["db.query.text"] == "SELECT ?"  # cut inside the literal: still no value
    assert len(observer.backend._buffer) == 0  # type: ignore[attr-defined]


@given(
    st.lists(st.tuples(st.sampled_from(b"QPBESDCZ"), st.binary(max_size=50)), max_size=8),
    st.lists(st.integers(1, 40), min_size=1, max_size=20),
)
def test_the_framer_returns_the_same_messages_however_the_bytes_arrive(
    sent: list[tuple[int, bytes]], sizes: list[int]
) -> None:
    wire = b"".join(pg.message(bytes([kind]), body) for kind, body in sent)
    framer, received, offset = Framer(untyped_first=False), [], 0
    while offset < len(wire):
        size = sizes[offset % len(sizes)]
        received += framer.feed(wire[offset : offset + size])
        offset += size
    assert [(message.type, message.body) for message in received] == sent
