"""HTTP/2 stream bookkeeping for the relay, sans-IO: what one stream holds in each direction, and
how its bytes move from one `H2Connection` to the other with honest flow control.

Data received on one side is acknowledged to its sender (opening its window again) only when it is
handed to the other side's connection, and that happens only while the other side's peer has
window for it and its transport is not over its write high-water mark. So a slow reader stops its
sender after one window: the proxy holds at most `CONNECTION_WINDOW` bytes per direction per
connection, plus what the transport buffers before it pauses.
"""

from __future__ import annotations

from collections import deque

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.settings import SettingCodes, Settings
from h2.stream import StreamState

from propagation.headers import Header
from proxy.h2 import frame_repr  # noqa: F401 - imported for its effect on h2, see the module
from proxy.h2.exchange import StreamExchange
from proxy.h2.frame_cursor import DATA_TYPE
from proxy.h2.header_block import HeaderBlockEncoder
from proxy.h2.header_decode import HeaderBlockDecoder

STREAM_WINDOW = 1 << 20  # what a peer may send on one stream before it hears back from us
CONNECTION_WINDOW = 4 << 20  # on all streams of one connection: the bound on bytes held per direction
MAX_FRAME = 1 << 16  # the largest frame we accept: fewer frames to parse for large messages
MAX_STREAMS = 1024  # concurrent streams a client may open on one connection
MAX_HEADER_LIST = 64 * 1024  # decoded header section, as for HTTP/1 (proxy.http1.head)
DEFAULT_WINDOW = 65_535  # RFC 9113 section 6.9.2
IDLE_TIMEOUT_S = 300.0  # a client connection with no stream open is closed (GOAWAY) after this
# Stream states in which a DATA frame changes nothing but windows (RFC 9113 section 5.1).
_RECEIVING = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_SENDING = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)
# What one connection may hold at once: each direction's unacknowledged window, plus what one read
# can add to a transport's write buffer before it reports being over its high-water mark.
MAX_HELD = 2 * CONNECTION_WINDOW + 2 * (256 << 10)


def new_connection(client_side: bool) -> H2Connection:
    """An HTTP/2 state machine with our windows and limits; headers stay bytes, as on the wire."""
    config = H2Configuration(
        client_side=client_side,
        header_encoding=None,
        # What clients send is checked by proxy.h2.validate, in one compiled pass instead of h2's chain
        # of generators; what the upstream answers is passed on as it is, as HTTP/1 responses are.
        validate_inbound_headers=False,
        normalize_inbound_headers=False,  # metadata passes byte for byte
        validate_outbound_headers=False,  # already validated when they came in
        normalize_outbound_headers=False,
    )
    connection = H2Connection(config)
    connection.encoder = HeaderBlockEncoder()  # type: ignore[assignment]  # the two methods h2 calls
    decoder = HeaderBlockDecoder()
    decoder.max_header_list_size = connection.decoder.max_header_list_size  # h2's, until our SETTINGS
    connection.decoder = decoder  # type: ignore[assignment]  # decode() and the limits h2 sets
    values = {
        SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        SettingCodes.MAX_FRAME_SIZE: MAX_FRAME,
        SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
    }
    if client_side:
        values[SettingCodes.ENABLE_PUSH] = 0  # the proxy never wants pushed streams
    else:
        values[SettingCodes.MAX_CONCURRENT_STREAMS] = MAX_STREAMS
    connection.local_settings = Settings(client=client_side, initial_values=values)
    # h2 applies a larger frame size only once the peer acknowledges it, and checks frames against the
    # size in force when a read began: a read holding the ACK and a large frame would be refused.
    connection.max_inbound_frame_size = MAX_FRAME
    return connection


def start(connection: H2Connection) -> None:
    """Send the preface and settings, and open the connection window to `CONNECTION_WINDOW`."""
    connection.initiate_connection()
    connection.increment_flow_control_window(CONNECTION_WINDOW - DEFAULT_WINDOW)


class Flow:
    """One direction of one stream: data not yet handed on, and how the direction ends."""

    __slots__ = ("ended", "finished", "queue", "trailers")

    def __init__(self, ended: bool = False) -> None:
        # (bytes, flow-controlled length to acknowledge to the sender once they are handed on)
        self.queue: deque[tuple[bytes | memoryview, int]] = deque()
        self.ended = ended  # the sender ended it: END_STREAM follows the queue
        self.trailers: list[Header] | None = None
        self.finished = False  # END_STREAM (or a reset) went to the receiver


class Pair:
    """One client stream and the upstream stream it became."""

    __slots__ = ("down_id", "exchange", "headers", "request", "responded", "response", "up_id")

    def __init__(self, exchange: StreamExchange, down_id: int, headers: list[Header], ended: bool) -> None:
        self.exchange = exchange
        self.down_id = down_id
        self.up_id = 0  # 0 until the upstream stream is opened
        self.headers = headers  # the request head to send upstream, trace context replaced
        self.request = Flow(ended)
        self.response = Flow()
        self.responded = False  # a response head went to the client


def pump(flow: Flow, source: H2Connection, source_id: int, target: H2Connection, target_id: int) -> None:
    """Hand `flow`'s queued data on as far as the target's windows allow, then its end.

    Each byte handed on is acknowledged to the source, which may then send more. A target stream
    already closed is left alone: h2 applies all the frames of a read before the relay sees their
    events, so a window update handled here may be followed by the reset that closed the stream.
    """
    if not _sendable(target, target_id):
        return
    queue = flow.queue
    while queue:
        room = min(target.local_flow_control_window(target_id), target.max_outbound_frame_size)
        if room <= 0:
            return
        data, acked = queue[0]
        if len(data) > room:
            send_data(target, target_id, data[:room], end_stream=False)
            queue[0] = (data[room:], acked - room)
            source.acknowledge_received_data(room, source_id)
            continue
        queue.popleft()
        # The last data of a direction ending without trailers carries END_STREAM itself: one frame
        # fewer for both sides than an empty DATA frame after it.
        last = not queue and flow.ended and flow.trailers is None
        send_data(target, target_id, data, end_stream=last)
        if acked:
            source.acknowledge_received_data(acked, source_id)
        if last:
            flow.finished = True
            return
    if flow.ended and not flow.finished:
        flow.finished = True
        if flow.trailers is not None:
            target.send_headers(target_id, flow.trailers, end_stream=True)
        else:
            target.end_stream(target_id)


def _sendable(conn: H2Connection, stream_id: int) -> bool:
    stream = conn.streams.get(stream_id)
    return stream is not None and stream.state_machine.state in _SENDING


def keep(flow: Flow) -> None:
    """Copy a payload the pump left queued out of the read it is a slice of (`proxy.h2.frame_cursor`):
    a small slice must not keep a whole read alive while its stream waits for window."""
    queue = flow.queue
    if queue:
        data, acked = queue[-1]
        if isinstance(data, memoryview):
            queue[-1] = (data.tobytes(), acked)


def take_data(conn: H2Connection, stream_id: int, length: int) -> bool:
    """Count a DATA frame the relay forwards itself against `conn`'s receive windows, as h2 would on
    receiving it; False (nothing counted) where h2 must see the frame: anything but a stream open
    for receiving, within its windows, outside a header block and without a content-length to check.
    """
    if conn.state_machine.state == ConnectionState.CLOSED or conn.incoming_buffer._headers_buffer:
        return False
    stream = conn.streams.get(stream_id)
    if stream is None or stream.state_machine.state not in _RECEIVING:
        return False
    connection_window = conn._inbound_flow_control_window_manager
    stream_window = stream._inbound_window_manager
    if (
        stream._expected_content_length is not None
        or length > conn.max_inbound_frame_size
        or length > connection_window.current_window_size
        or length > stream_window.current_window_size
    ):
        return False
    connection_window.window_consumed(length)
    stream_window.window_consumed(length)
    return True


def send_data(conn: H2Connection, stream_id: int, data: bytes | memoryview, end_stream: bool) -> None:
    """h2's `send_data` for a frame that changes no stream state, without its frame object and its
    copies: the frame goes straight into the connection's output. The caller keeps within the
    windows and the frame size, as it must for h2's."""
    stream = conn.streams.get(stream_id)
    if (
        end_stream
        or stream is None
        or conn.state_machine.state == ConnectionState.CLOSED
        or stream.state_machine.state not in _SENDING
    ):
        conn.send_data(stream_id, data, end_stream=end_stream)
        return
    size = len(data)
    output = conn._data_to_send
    output += size.to_bytes(3, "big") + bytes((DATA_TYPE, 0)) + stream_id.to_bytes(4, "big")
    output += data
    conn.outbound_flow_control_window -= size
    stream.outbound_flow_control_window -= size
