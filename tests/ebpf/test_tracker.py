"""Events in, connection spans and ordered payload for the observers out."""

from __future__ import annotations

from propagation.sampling import AlwaysOff, AlwaysOn
from proxy.ebpf.events import Closed, Data, Failed, Lost, Opened
from proxy.ebpf.policy import Policy
from proxy.ebpf.program import CAPTURE_LIMIT, CHUNK_BYTES
from proxy.ebpf.tracker import Tracker
from proxy.interception.rules import InterceptionConfig
from proxy.spans.record import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, SpanRecord
from tests.ebpf.recording_observer import recording

KEY = (0xFFFF0001, 1_000)
OFFSET = 5_000_000  # wall clock minus kernel clock
POLICY = Policy(InterceptionConfig(exclude_outbound_ports=(6379,)), "iptables", netns=7)


def _opened(
    outbound: bool = True, remote: tuple[str, int] = ("10.2.0.9", 6379), capture: bool = True
) -> Opened:
    local = ("10.1.0.5", 40000) if outbound else ("10.1.0.5", 6379)
    return Opened(KEY, outbound, 1000, 7, local, remote, capture)


def _data(seq: int, sent: bool, payload: bytes, length: int | None = None, offset: int = 0) -> Data:
    return Data(KEY, seq, 2_000 + seq, sent, len(payload) if length is None else length, offset, payload)


def _tracker(sampled: bool = True) -> tuple[Tracker, list[SpanRecord]]:
    spans: list[SpanRecord] = []
    return Tracker(POLICY, spans.append, AlwaysOn() if sampled else AlwaysOff(), OFFSET), spans


def test_an_outbound_connection_becomes_a_client_span_with_bytes_and_wall_clock_times() -> None:
    tracker, spans = _tracker()
    tracker.handle(_opened())
    tracker.handle(Closed(KEY, 1, 9_000, sent=31, received=5, reset=0, errno=0))
    [span] = spans
    attributes = dict(span.attributes)
    assert (span.kind, span.name) == (KIND_CLIENT, "TCP 10.2.0.9:6379")
    assert (span.start_ns, span.end_ns) == (1_000 + OFFSET, 9_000 + OFFSET)
    assert attributes["tracecar.tcp.bytes_from_client"] == 31
    assert attributes["tracecar.tcp.bytes_from_server"] == 5
    assert attributes["client.address"] == "10.1.0.5" and attributes["tracecar.tcp.end"] == "close"
    assert len(tracker) == 0 and tracker.counts.reported == 1


def test_an_accepted_connection_is_a_server_span_and_a_reset_is_an_error() -> None:
    tracker, spans = _tracker()
    tracker.handle(_opened(outbound=False, remote=("10.3.0.1", 51000)))
    tracker.handle(Closed(KEY, 1, 9_000, sent=5, received=31, reset=1, errno=104))
    [span] = spans
    attributes = dict(span.attributes)
    assert (span.kind, span.status) == (KIND_SERVER, STATUS_ERROR)
    assert attributes["tracecar.tcp.bytes_from_client"] == 31 and attributes["tracecar.tcp.end"] == "reset"
    assert attributes["network.peer.address"] == "10.3.0.1"


def test_a_connection_that_timed_out_ended_in_timeout_though_it_was_aborted() -> None:
    tracker, spans = _tracker()
    tracker.handle(_opened())
    tracker.handle(Closed(KEY, 1, 9_000, sent=3, received=0, reset=3, errno=110))
    assert dict(spans[0].attributes)["tracecar.tcp.end"] == "timeout"


def test_a_refused_connect_is_a_failed_span() -> None:
    tracker, spans = _tracker()
    tracker.handle(Failed(_opened(), 3_000, 111))
    assert dict(spans[0].attributes)["error.type"] == "connection_refused"


def test_ipv6_servers_are_bracketed_in_span_names() -> None:
    tracker, spans = _tracker()
    tracker.handle(Failed(_opened(remote=("fd00::9", 6379)), 3_000, 111))
    assert spans[0].name == "TCP [fd00::9]:6379"


def test_unsampled_connections_are_counted_but_not_recorded() -> None:
    tracker, spans = _tracker(sampled=False)
    tracker.handle(_opened())
    tracker.handle(Closed(KEY, 1, 9_000, 0, 0, 0, 0))
    assert spans == [] and tracker.counts.reported == 1


def test_connections_the_proxy_sees_are_skipped_with_all_their_events() -> None:
    tracker, spans = _tracker()
    tracker.handle(_opened(remote=("10.2.0.9", 80)))  # redirected to the proxy
    tracker.handle(_data(1, True, b"GET / HTTP/1.1\r\n\r\n"))
    tracker.handle(Closed(KEY, 2, 9_000, 0, 0, 0, 0))
    assert spans == [] and tracker.counts.skipped == 1 and len(tracker) == 0


def test_payload_reaches_the_registered_observer_in_order_even_when_events_arrive_out_of_order() -> None:
    tracker, spans = _tracker()
    with recording(b"*") as made:
        # Per-CPU buffers interleave: the open and the reply arrive after later events.
        tracker.handle(_data(1, True, b"*1\r\n$4\r\nPING\r\n"))
        tracker.handle(_data(3, True, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
        tracker.handle(_opened())
        tracker.handle(Closed(KEY, 5, 9_000, 35, 12, 0, 0))
        tracker.handle(_data(2, False, b"+PONG\r\n"))
        tracker.handle(_data(4, False, b"$-1\r\n"))
    [observer] = made
    assert observer.first == b"*1\r\n$4\r\nPING\r\n"
    assert observer.seen == [
        ("client", b"*1\r\n$4\r\nPING\r\n"),
        ("server", b"+PONG\r\n"),
        ("client", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        ("server", b"$-1\r\n"),
    ]
    assert observer.closed_at == 9_000 + OFFSET
    stream = observer.stream
    assert stream.direction == "outbound"
    assert (stream.client, stream.server) == (("10.1.0.5", 40000), ("10.2.0.9", 6379))
    assert len(spans) == 1  # the connection span is still there


def test_for_an_accepted_connection_the_bytes_read_are_the_clients() -> None:
    tracker, _ = _tracker()
    with recording(b"Q") as made:
        tracker.handle(_opened(outbound=False, remote=("10.3.0.1", 51000)))
        tracker.handle(_data(1, False, b"Q\x00\x00\x00\x0dselect 1\x00"))
        tracker.handle(_data(2, True, b"T..."))
    assert made[0].side("client").startswith(b"Q") and made[0].side("server") == b"T..."
    assert made[0].stream.direction == "inbound"


def test_a_large_write_arrives_in_chunks_and_is_reassembled() -> None:
    tracker, _ = _tracker()
    payload = bytes(range(256)) * 2
    with recording(b"\x00") as made:
        tracker.handle(_opened())
        for offset in (CHUNK_BYTES * 3, 0, CHUNK_BYTES * 2, CHUNK_BYTES):
            chunk = payload[offset : offset + CHUNK_BYTES]
            tracker.handle(_data(1, True, chunk, length=len(payload), offset=offset))
        tracker.handle(_data(2, False, b"ok"))
    assert made[0].side("client") == payload and made[0].side("server") == b"ok"


def test_a_stream_with_a_hole_drops_its_observer_but_not_its_span() -> None:
    tracker, spans = _tracker()
    with recording(b"*") as made:
        tracker.handle(_opened())
        tracker.handle(_data(1, True, b"*" * CHUNK_BYTES, length=CAPTURE_LIMIT + 10))
        for offset in range(CHUNK_BYTES, CAPTURE_LIMIT, CHUNK_BYTES):
            tracker.handle(_data(1, True, b"x" * CHUNK_BYTES, length=CAPTURE_LIMIT + 10, offset=offset))
        tracker.handle(_data(2, False, b"+OK\r\n"))
        tracker.handle(Closed(KEY, 3, 9_000, CAPTURE_LIMIT + 10, 5, 0, 0))
    assert ("server", b"+OK\r\n") not in made[0].seen and made[0].closed_at == 0
    assert tracker.counts.observers_dropped == 1 and len(spans) == 1


def test_lost_events_end_the_wait_for_them() -> None:
    tracker, spans = _tracker()
    with recording(b"*") as made:
        tracker.handle(_opened())
        tracker.handle(_data(1, True, b"*1\r\n"))
        tracker.handle(Closed(KEY, 3, 9_000, 4, 5, 0, 0))  # seq 2 never comes
        assert spans == []
        tracker.handle(Lost(1))
    assert len(spans) == 1 and tracker.counts.lost == 1 and made[0].side("client") == b"*1\r\n"


def test_a_failing_observer_is_dropped_and_the_connection_still_reported() -> None:
    class Broken:
        def client_data(self, data: bytes, now_ns: int) -> None:
            raise RuntimeError("parser bug")

        def server_data(self, data: bytes, now_ns: int) -> None:
            pass

        def closed(self, now_ns: int) -> None:
            pass

    spans: list[SpanRecord] = []
    tracker = Tracker(POLICY, spans.append, AlwaysOn(), OFFSET, observe=lambda first, stream: Broken())
    tracker.handle(_opened())
    tracker.handle(_data(1, True, b"*1\r\n"))
    tracker.handle(Closed(KEY, 2, 9_000, 4, 0, 0, 0))
    assert len(spans) == 1 and tracker.counts.observers_dropped == 1


def test_no_observer_without_capture() -> None:
    tracker, _ = _tracker()
    with recording(b"") as made:
        tracker.handle(_opened(capture=False))
        tracker.handle(_data(1, True, b"*1\r\n"))
    assert made == []
