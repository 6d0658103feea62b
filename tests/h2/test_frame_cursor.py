"""The relay's own DATA path: frame boundaries found across any split of the bytes, and h2's windows
and stream states kept as h2 itself would keep them."""

from __future__ import annotations

import itertools

import h2.events as ev
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PingFrame, SettingsFrame, WindowUpdateFrame
from hypothesis import given
from hypothesis import strategies as st

from proxy.h2.frame_cursor import CONTROL, DATA_HEAD, DONE, PAYLOAD, PREFACE_LENGTH, FrameCursor
from proxy.h2.streams import new_connection, send_data, start, take_data
from tests.h2.frames import GRPC_HEAD, PREFACE


def _data(stream_id: int, payload: bytes, flags: set[str]) -> Frame:
    frame = DataFrame(stream_id, payload)
    for flag in flags:
        frame.flags.add(flag)
    if "PADDED" in flags:
        frame.pad_length = 3
    return frame


frames = st.one_of(
    st.builds(
        _data,
        st.integers(1, 9),
        st.binary(max_size=40),
        st.sets(st.sampled_from(["END_STREAM", "PADDED"]), max_size=2),
    ),
    st.builds(
        lambda sid, block: HeadersFrame(sid, block, flags=["END_HEADERS"]), st.integers(1, 9), st.binary()
    ),
    st.builds(lambda: PingFrame(0, b"12345678")),
    st.builds(lambda: SettingsFrame(0, settings={4: 1 << 20})),
    st.builds(lambda sid: WindowUpdateFrame(sid, 100), st.integers(0, 9)),
)


def _plain(frame: Frame) -> bool:
    return (
        isinstance(frame, DataFrame) and bool(frame.data) and not {"END_STREAM", "PADDED"} & set(frame.flags)
    )


def _drive(
    cursor: FrameCursor, reads: list[bytes], take: list[bool]
) -> tuple[bytes, list[tuple[int, bytes]]]:
    """What h2 is given, and the payloads taken (stream, bytes), as the relay drives the cursor."""
    to_h2 = b""
    taken: list[tuple[int, bytes]] = []
    choices = iter(take)
    for read in reads:
        cursor.feed(read)
        while (kind := cursor.next()) != DONE:
            if kind == CONTROL:
                to_h2 += bytes(cursor.chunk)
            elif kind == DATA_HEAD:
                if next(choices, True):
                    cursor.take()
                    taken.append((cursor.stream_id, b""))
                else:
                    cursor.decline()
            else:
                assert kind == PAYLOAD
                assert taken[-1][0] == cursor.stream_id
                taken[-1] = (cursor.stream_id, taken[-1][1] + bytes(cursor.chunk))
    return to_h2, taken


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 10_000), max_size=8), st.lists(st.booleans()))
def test_every_split_gives_h2_exactly_the_frames_not_taken(
    sent: list[Frame], cuts: list[int], take: list[bool]
) -> None:
    wire = PREFACE + b"".join(f.serialize() for f in sent)
    to_h2, taken = _drive(FrameCursor(server=True), _split(wire, cuts), take)
    choices = iter(take)
    expected_h2, expected_taken = PREFACE, []
    for frame in sent:
        if isinstance(frame, DataFrame) and _plain(frame) and next(choices, True):
            expected_taken.append((frame.stream_id, frame.data))
        else:
            expected_h2 += frame.serialize()
    assert to_h2 == expected_h2
    assert taken == expected_taken


def test_the_preface_goes_to_h2_even_when_it_looks_like_a_frame_head() -> None:
    cursor = FrameCursor(server=True)
    cursor.feed(PREFACE[:5])
    assert cursor.next() == CONTROL
    assert cursor.chunk == PREFACE[:5]
    cursor.feed(PREFACE[5:] + DataFrame(1, b"abc").serialize())
    assert cursor.next() == CONTROL
    assert len(cursor.chunk) == PREFACE_LENGTH - 5
    assert cursor.next() == DATA_HEAD
    assert (cursor.stream_id, cursor.length) == (1, 3)


def test_a_payload_spanning_reads_comes_in_views_of_each_read() -> None:
    cursor = FrameCursor(server=False)
    wire = DataFrame(3, b"x" * 1000).serialize()
    cursor.feed(wire[:400])
    assert cursor.next() == DATA_HEAD
    cursor.take()
    assert cursor.next() == PAYLOAD
    assert isinstance(cursor.chunk, memoryview)
    assert len(cursor.chunk) == 400 - 9
    assert cursor.next() == DONE
    cursor.feed(wire[400:])
    assert cursor.next() == PAYLOAD
    assert len(cursor.chunk) == 1000 - 391
    assert cursor.next() == DONE


def _pair() -> tuple[H2Connection, H2Connection]:
    """A real h2 client and the proxy's server-side connection, settled, with stream 1 open."""
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    proxy = new_connection(client_side=False)
    client.initiate_connection()
    start(proxy)
    proxy.receive_data(client.data_to_send())
    client.receive_data(proxy.data_to_send())
    proxy.receive_data(client.data_to_send())
    client.send_headers(1, GRPC_HEAD)
    proxy.receive_data(client.data_to_send())
    return client, proxy


def test_taking_data_counts_it_against_both_windows_as_h2_does() -> None:
    client, proxy = _pair()
    mirror_client, mirror = _pair()
    for sender in (client, mirror_client):
        sender.send_data(1, b"z" * 5000)
    assert take_data(proxy, 1, 5000)
    events = mirror.receive_data(mirror_client.data_to_send())
    assert [type(e) for e in events] == [ev.DataReceived]
    for conn in (proxy, mirror):
        conn.acknowledge_received_data(5000, 1)
    assert proxy.data_to_send() == mirror.data_to_send()  # the same WINDOW_UPDATEs
    assert proxy.inbound_flow_control_window == mirror.inbound_flow_control_window
    assert (
        proxy._get_stream_by_id(1).inbound_flow_control_window
        == mirror._get_stream_by_id(1).inbound_flow_control_window
    )


@pytest.mark.parametrize("case", ["unknown stream", "over the window", "content-length", "ended by the peer"])
def test_data_h2_must_judge_is_left_to_h2(case: str) -> None:
    client, proxy = _pair()
    stream_id, length = 1, 100
    if case == "unknown stream":
        stream_id = 3
    elif case == "over the window":
        length = proxy._get_stream_by_id(1).inbound_flow_control_window + 1
    elif case == "content-length":
        client.send_headers(3, [*GRPC_HEAD, (b"content-length", b"5")])
        proxy.receive_data(client.data_to_send())
        stream_id = 3
    else:
        client.end_stream(1)
        proxy.receive_data(client.data_to_send())
    before = proxy.inbound_flow_control_window
    assert not take_data(proxy, stream_id, length)
    assert proxy.inbound_flow_control_window == before


def test_sent_data_reaches_a_real_peer_and_spends_the_windows_as_h2s_would() -> None:
    client, proxy = _pair()
    _, mirror = _pair()
    proxy.send_headers(1, [(b":status", b"200")])
    mirror.send_headers(1, [(b":status", b"200")])
    send_data(proxy, 1, memoryview(b"abc" * 100), end_stream=False)
    mirror.send_data(1, b"abc" * 100)
    sent = proxy.data_to_send()
    assert sent == mirror.data_to_send()
    assert proxy.local_flow_control_window(1) == mirror.local_flow_control_window(1)
    send_data(proxy, 1, b"end", end_stream=True)  # ending changes state: h2's own path
    events = client.receive_data(sent + proxy.data_to_send())
    assert isinstance(events[0], ev.ResponseReceived)
    assert b"".join(e.data or b"" for e in events if isinstance(e, ev.DataReceived)) == b"abc" * 100 + b"end"
    assert isinstance(events[-1], ev.StreamEnded)
