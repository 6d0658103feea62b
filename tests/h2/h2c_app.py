"""A plain HTTP/2 (h2c, prior knowledge) application for curl, nghttp and h2load: every request is
answered 200 with JSON naming the path and the trace context it arrived with; `/reset` gets a
response head and then RST_STREAM(INTERNAL_ERROR).

    python -m tests.h2.h2c_app PORT        prints "ready" once serving
"""

from __future__ import annotations

import asyncio
import json
import sys

import h2.events as ev
from h2.config import H2Configuration
from h2.connection import H2Connection


class App(asyncio.Protocol):
    def __init__(self) -> None:
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, ev.RequestReceived):
                self.answer(event.stream_id, dict(event.headers or ()))
            elif isinstance(event, ev.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())

    def answer(self, stream_id: int, headers: dict[bytes, bytes]) -> None:
        if headers.get(b":path") == b"/reset":  # a response that breaks off: head, then RST_STREAM
            self.conn.send_headers(stream_id, [(b":status", b"200")])
            self.conn.reset_stream(stream_id, error_code=0x2)
            return
        seen = {
            "path": headers.get(b":path", b"").decode(),
            "traceparent": (headers.get(b"traceparent") or b"").decode() or None,
        }
        body = json.dumps({"service": "h2c", "seen": seen}).encode()
        length = b"%d" % len(body)
        head = [(b":status", b"200"), (b"content-type", b"application/json"), (b"content-length", length)]
        self.conn.send_headers(stream_id, head)
        self.conn.send_data(stream_id, body, end_stream=True)


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(App, None, port)  # every address, both families
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
