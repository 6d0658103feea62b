"""The OTLP/HTTP exporter's HTTP/1.1 client: one POST at a time on one kept-alive connection.

Why not `http.client`: it runs a few hundred microseconds of interpreted Python per request
(header building, the `email` header parser), and on the export thread interpreted code takes the
GIL from the event loop: with it, a proxy at saturation handed the GIL back and forth about 60 times
per exported batch, and the export thread cost about 5 us of CPU per span. Here a request is one
`sendall` and the answer usually one `recv`; heads are parsed by `proxy.http1.head` (compiled, and as
strict as the proxy is with the traffic it carries).

Failures raise `OSError` (the connection: refused, reset, timed out, closed mid-answer) or
`HttpError` (an answer that is not valid HTTP/1.1); either way the connection is closed, and the
next `post` opens a new one.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from proxy.http1 import framing
from proxy.http1.body import UntilCloseReader
from proxy.http1.errors import BadRequest
from proxy.http1.head import Header, RequestHead, ResponseHead, head_end, parse_response

READ_SIZE = 64 * 1024
# A batch of 512 spans is about 250 KB. With the kernel's starting send buffer (16 KB, grown by
# autotuning) `sendall` went out in many partial writes, and each took the GIL back from the event
# loop: about 50 hand-overs per batch, measured. A buffer that holds a whole batch makes it one write.
SEND_BUFFER_BYTES = 1024 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024  # an OTLP answer is a few bytes; anything this big is not one
# What every answer answers, for the proxy's own framing rules (RFC 9112 sections 6.3 and 9.3).
_POST = RequestHead(b"POST", b"/", [], False, b"")


class Response:
    __slots__ = ("body", "headers", "reason", "status", "will_close")

    def __init__(self, head: ResponseHead, body: bytes, will_close: bool) -> None:
        self.status = head.status
        self.reason = head.reason.decode("latin-1")
        self.headers: list[Header] = head.headers
        self.body = body
        self.will_close = will_close

    def header(self, name: bytes) -> bytes | None:
        """The first value of a field, by lower-case name."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class HttpClient:
    """`post` from one thread at a time; `close` from any thread."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._sock: socket.socket | None = None

    def post(self, head: bytes, body: bytes, timeout_s: float) -> Response:
        """Send `head` (request line and fields through the blank line) and `body`; the answer.

        `timeout_s` bounds the connect and each send and receive."""
        sock = self._sock
        try:
            if sock is None:
                sock = self._sock = self._connect(timeout_s)
            else:
                sock.settimeout(timeout_s)
            _send(sock, head, body)
            response = _read_response(sock)
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes a `post` blocked on it in another thread
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _connect(self, timeout_s: float) -> socket.socket:
        sock = socket.create_connection((self._host, self._port), timeout=timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            if self._tls is not None:
                return self._tls.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return sock


def request_head(target: str, authority: str, fields: list[tuple[str, str]], length: int) -> bytes:
    """A POST head. Names and values were checked when configured (`proxy.spans.config`)."""
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{name}: {value}" for name, value in fields]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _send(sock: socket.socket, head: bytes, body: bytes) -> None:
    """Head and body in one system call, without copying the batch where the socket allows."""
    if isinstance(sock, ssl.SSLSocket):  # no sendmsg: TLS records are written from one buffer
        sock.sendall(head + body)
        return
    sent = sock.sendmsg([head, body])
    if sent < len(head) + len(body):
        sock.sendall(memoryview(head + body)[sent:])


def _read_response(sock: socket.socket) -> Response:
    """The final answer, after any 1xx interim ones (RFC 9110 section 15.2)."""
    buffer = b""
    while True:
        resume = 0
        while (end := head_end(buffer, 0, resume)) < 0:
            resume = len(buffer)
            buffer += _receive(sock)
        head = parse_response(buffer[:end])
        buffer = buffer[end:]
        if head.status >= 200:
            break
    reader = framing.response_body(_POST, head)
    body = [buffer[: reader.feed(buffer, 0)]]
    size = len(body[0])
    while not reader.done:
        data = sock.recv(READ_SIZE)
        if not data:
            if isinstance(reader, UntilCloseReader):
                break
            raise ConnectionError("the collector closed the connection in the middle of an answer")
        body.append(data[: reader.feed(data, 0)])
        size += len(body[-1])
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"answer body over {MAX_BODY_BYTES} bytes")
    raw = b"".join(body)
    will_close = not framing.reusable(_POST, head, reader)
    return Response(head, dechunk(raw) if head.chunked else raw, will_close)


def _receive(sock: socket.socket) -> bytes:
    data = sock.recv(READ_SIZE)
    if not data:
        raise ConnectionError("the collector closed the connection before answering")
    return data


def dechunk(raw: bytes) -> bytes:
    """The data of a chunked body `ChunkedReader` has already checked (RFC 9112 section 7.1)."""
    data: list[bytes] = []
    pos = 0
    while True:
        line_end = raw.index(b"\r\n", pos)
        size = int(raw[pos:line_end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(data)
        data.append(raw[line_end + 2 : line_end + 2 + size])
        pos = line_end + 2 + size + 2
