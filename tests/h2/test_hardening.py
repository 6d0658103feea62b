"""Hostile and broken HTTP/2 peers (issue 9): each is answered with GOAWAY or RST_STREAM and the
right error code (RFC 9113 section 7), the work per connection stays bounded, and the proxy goes on
serving everyone else.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

from proxy.h2 import flood
from tests.h2.frames import GRPC_HEAD, RawClient
from tests.h2.grpc_app import methods
from tests.h2.harness import RunningProxy, proxied_app, wait_until

PROTOCOL_ERROR, FRAME_SIZE_ERROR, ENHANCE_YOUR_CALM = 0x1, 0x6, 0xB
FLOOD = flood.BURST + 200  # comfortably past the burst, sent faster than the sustained rate refills


def raw_frame(kind: int, stream_id: int, payload: bytes, flags: int = 0) -> bytes:
    """A frame header (RFC 9113 section 4.1) and payload, whatever they say."""
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


@pytest.fixture(scope="module")
def proxy() -> Iterator[RunningProxy]:
    with proxied_app() as running:
        yield running


@pytest.fixture
def client(proxy: RunningProxy) -> Iterator[RawClient]:
    raw = RawClient(proxy.port)
    yield raw
    raw.close()
    # Whatever that peer did, a well-behaved client is served next.
    with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        assert methods(channel).unary(b"still here", timeout=5) == b"still here"
    assert not [r for r in proxy.relays() if r.down.pairs and r.closed]  # nothing left half-done


def test_data_on_stream_zero_is_a_connection_error(client: RawClient) -> None:
    client.send(raw_frame(0x0, 0, b"x"))  # hyperframe itself refuses to build this one
    assert client.ending() == ("goaway", PROTOCOL_ERROR)


def test_a_frame_over_the_size_limit(client: RawClient) -> None:
    client.send(client.headers(1, GRPC_HEAD) + DataFrame(1, b"x" * (1 << 17)).serialize())
    assert client.ending() == ("goaway", FRAME_SIZE_ERROR)


def test_a_header_section_over_64_kib(client: RawClient) -> None:
    client.send(client.headers(1, [*GRPC_HEAD, (b"x-big", b"v" * (80 << 10))]))
    kind, code = client.ending()
    assert kind == "goaway" and code in (ENHANCE_YOUR_CALM, FRAME_SIZE_ERROR)


@pytest.mark.parametrize(
    "bad", [(b"X-Upper", b"v"), (b"connection", b"close"), (b"te", b"gzip"), (b"x-split", b"a\r\nb: c")]
)
def test_a_malformed_request_resets_its_stream_and_the_connection_goes_on(
    client: RawClient, bad: tuple[bytes, bytes]
) -> None:
    """RFC 9113 section 8.1.1: a malformed request is a stream error, not a connection error."""
    client.send(client.headers(1, [*GRPC_HEAD, bad], end_stream=True))
    unary = [(n, b"/demo.Echo/Unary" if n == b":path" else v) for n, v in GRPC_HEAD]
    client.send(client.headers(3, unary) + DataFrame(3, b"\0\0\0\0\2hi", flags=["END_STREAM"]).serialize())
    seen: list[tuple[str, int, object]] = []
    for frame in client.frames():
        if isinstance(frame, RstStreamFrame | GoAwayFrame):
            seen.append((type(frame).__name__, frame.stream_id, frame.error_code))
        elif isinstance(frame, DataFrame) and frame.data:
            seen.append(("data", frame.stream_id, frame.data))
        if isinstance(frame, HeadersFrame) and frame.stream_id == 3 and "END_STREAM" in frame.flags:
            break
    assert seen == [("RstStreamFrame", 1, PROTOCOL_ERROR), ("data", 3, b"\0\0\0\0\2hi")]


def test_ping_flood(client: RawClient) -> None:
    client.send(b"".join(PingFrame(0, b"12345678").serialize() for _ in range(FLOOD)))
    assert client.ending() == ("goaway", ENHANCE_YOUR_CALM)


def test_settings_flood(client: RawClient) -> None:
    client.send(b"".join(SettingsFrame(0).serialize() for _ in range(FLOOD)))
    assert client.ending() == ("goaway", ENHANCE_YOUR_CALM)


def test_rapid_reset(client: RawClient, proxy: RunningProxy) -> None:
    """CVE-2023-44487: open and cancel streams as fast as possible."""
    frames = []
    for i in range(FLOOD):
        stream_id = 2 * i + 1
        frames.append(client.headers(stream_id, GRPC_HEAD))
        frames.append(RstStreamFrame(stream_id, error_code=0x8).serialize())
    client.send(b"".join(frames))
    assert client.ending() == ("goaway", ENHANCE_YOUR_CALM)
    cancelled = [e for e in proxy.exchanges if e.error_type == "cancelled"]
    assert len(cancelled) < FLOOD - 100  # bounded: the streams past the budget were never forwarded


def test_empty_data_flood(client: RawClient) -> None:
    client.send(client.headers(1, GRPC_HEAD))
    client.send(b"".join(DataFrame(1, b"").serialize() for _ in range(FLOOD)))
    assert client.ending() == ("goaway", ENHANCE_YOUR_CALM)


def test_continuation_flood(client: RawClient) -> None:
    """CVE-2024-27316: a header block that never ends is not buffered without bound."""
    first = raw_frame(0x1, 1, client.encoder.encode(GRPC_HEAD))  # HEADERS without END_HEADERS
    filler = raw_frame(0x9, 1, client.encoder.encode([(b"x-more", b"v" * 1000)]))  # CONTINUATION
    client.send(first + filler * 200)
    kind, code = client.ending()
    assert kind == "goaway" and code in (PROTOCOL_ERROR, ENHANCE_YOUR_CALM), (kind, code)


def test_malformed_trailers_reset_the_stream_and_its_span_says_why(
    client: RawClient, proxy: RunningProxy
) -> None:
    unary = [(n, b"/demo.Echo/Unary" if n == b":path" else v) for n, v in GRPC_HEAD]
    # One write: the trailers (names must be lower case) reach the proxy before the server can answer
    # the message and end the stream itself (an RST_STREAM NO_ERROR after its response).
    client.send(
        client.headers(1, unary)
        + DataFrame(1, b"\0\0\0\0\2hi").serialize()
        + client.headers(1, [(b"X-Upper", b"v")], end_stream=True)
    )
    assert client.ending() == ("rst", PROTOCOL_ERROR)
    wait_until(
        lambda: [e for e in proxy.exchanges if e.error_type == "malformed_request"],
        "the stream's exchange to finish as malformed_request",
    )
