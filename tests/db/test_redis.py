"""Redis commands paired with their replies (pipelining, errors, SELECT, pub/sub) as database spans."""

from __future__ import annotations

from propagation import SpanContext
from proxy.active_spans import ACTIVE
from proxy.db.redis import MAX_IN_FLIGHT
from proxy.spans.record import KIND_CLIENT, STATUS_ERROR, STATUS_UNSET
from tests.db.streams import SERVER, attributes, observe


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


def test_pipelined_commands_pair_with_their_replies_in_order() -> None:
    sent = (
        command(b"SET", b"user:7", b"alice") + command(b"GET", b"user:7") + command(b"LPUSH", b"user:7", b"x")
    )
    observer, spans = observe(sent)
    observer.client_data(sent, 100)
    observer.server_data(b"+OK\r\n$5\r\nal", 200)
    observer.server_data(
        b"ice\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 300
    )
    assert [(span.name, span.start_ns, span.end_ns, span.status) for span in spans] == [
        ("SET", 100, 200, STATUS_UNSET),
        ("GET", 100, 300, STATUS_UNSET),
        ("LPUSH", 100, 300, STATUS_ERROR),
    ]
    first = attributes(spans[0])
    assert first == {
        "db.system.name": "redis",
        "db.operation.name": "SET",
        "server.address": SERVER[0],
        "server.port": SERVER[1],
        "db.namespace": "0",
        "db.query.text": "SET user:7 ?",  # the value never appears
    }
    assert attributes(spans[2])["db.response.status_code"] == "WRONGTYPE"
    assert all(span.kind == KIND_CLIENT and span.parent_span_id is None for span in spans)


def test_select_changes_the_namespace_once_it_succeeds() -> None:
    observer, spans = observe(b"*2\r\n")
    observer.client_data(command(b"SELECT", b"9") + command(b"SELECT", b"99") + command(b"PING"), 1)
    observer.server_data(b"+OK\r\n-ERR DB index is out of range\r\n+PONG\r\n", 2)
    assert [attributes(span)["db.namespace"] for span in spans] == ["0", "9", "9"]  # where each ran


def test_secrets_and_pubsub() -> None:
    observer, spans = observe(b"*2\r\n")
    observer.client_data(command(b"AUTH", b"hunter2") + command(b"SUBSCRIBE", b"news"), 1)
    observer.server_data(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n", 2)
    observer.server_data(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n", 3)
    observer.client_data(command(b"PING"), 4)
    observer.closed(5)
    assert [(span.name, attributes(span)["db.query.text"]) for span in spans] == [
        ("AUTH", "AUTH ?"),
        ("SUBSCRIBE", "SUBSCRIBE news"),
    ]


def test_a_command_during_one_inbound_request_is_its_child() -> None:
    observer, spans = observe(b"*1\r\n")
    request = SpanContext(b"a" * 32, b"b" * 16, 1)
    ACTIVE.begin(request)
    try:
        observer.client_data(command(b"GET", b"k"), 1)
    finally:
        ACTIVE.end(request)
    observer.client_data(command(b"GET", b"k"), 2)
    observer.server_data(b"$-1\r\n$-1\r\n", 3)
    assert (spans[0].trace_id, spans[0].parent_span_id) == (b"a" * 32, b"b" * 16)
    assert spans[1].parent_span_id is None and spans[1].trace_id != b"a" * 32


def test_unanswered_commands_end_with_the_stream_and_the_queue_is_bounded() -> None:
    observer, spans = observe(b"*1\r\n")
    observer.client_data(command(b"BLPOP", b"q", b"0") * (MAX_IN_FLIGHT + 5), 1)
    observer.closed(9)
    assert len(spans) == MAX_IN_FLIGHT
    assert {span.end_ns for span in spans} == {9}
