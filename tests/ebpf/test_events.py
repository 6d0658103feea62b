"""bpftrace's JSON lines, as captured from redis-cli talking to redis-server, become typed events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.ebpf.events import Closed, Data, EventError, Exited, Failed, Lost, Opened, Ready, parse

CAPTURED = Path(__file__).with_name("captured_redis.jsonl").read_text().splitlines()


def _printf(text: str) -> str:
    return json.dumps({"type": "printf", "data": text + "\n"})


def test_a_captured_session_parses_into_open_data_close_and_failed_events() -> None:
    events = [parse(line) for line in CAPTURED]
    assert events[0] is None  # attached_probes carries no event
    assert isinstance(events[1], Ready)
    opened = events[2]
    assert isinstance(opened, Opened) and opened.outbound and opened.capture
    assert opened.local[0] == opened.remote[0] == "127.0.0.1" and opened.remote[1] == 6390
    sent = events[4]
    assert isinstance(sent, Data) and sent.key == opened.key and sent.sent
    assert sent.payload == b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nhello\r\n"
    assert sent.length == len(sent.payload)
    closed = next(e for e in events if isinstance(e, Closed) and e.key == opened.key)
    assert (closed.sent, closed.received, closed.reset, closed.errno) == (31, 5, 0, 0)
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and failed[0].errno == 111 and failed[0].opened.remote[1] == 6391


def test_lost_events_and_the_wrappers_exit_are_events_too() -> None:
    assert parse('{"type": "lost_events", "data": {"events": 12}}') == Lost(12)
    assert parse('{"type":"exited","data":{"code":1}}') == Exited(1)


def test_an_ipv4_mapped_address_is_reported_as_ipv4() -> None:
    line = CAPTURED[2].replace("127.0.0.1", "::ffff:10.0.0.7")
    event = parse(line)
    assert isinstance(event, Opened) and event.remote[0] == event.local[0] == "10.0.0.7"


def test_payload_bytes_of_every_value_survive_the_escapes() -> None:
    escaped = "".join(f"\\x{byte:02x}" for byte in range(256))
    text = '{"e":"data","sk":1,"t":2,"seq":1,"at":3,"dir":"rx","len":256,"off":0} ' + escaped
    event = parse(_printf(text))
    assert isinstance(event, Data) and event.payload == bytes(range(256)) and not event.sent


@pytest.mark.parametrize(
    "line",
    [
        "Attaching 14 probes...",
        '{"type": "printf"}',
        _printf('{"e":"teleport","sk":1,"t":2}'),
        _printf('{"e":"data","sk":1,"t":2,"seq":1,"at":3,"dir":"rx","len":1,"off":0} \\x4'),
        _printf('{"e":"data","sk":1,"t":2,"seq":1,"at":3,"dir":"rx","len":1,"off":0} ab'),
        CAPTURED[2].replace("127.0.0.1", "nowhere"),
    ],
)
def test_anything_else_is_a_clear_error(line: str) -> None:
    with pytest.raises(EventError, match="not a bpftrace event line"):
        parse(line)
