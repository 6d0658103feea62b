"""Small real TCP servers for opaque-relay tests, each on a thread and an ephemeral loopback port.

    python -m tests.proxy.tcp_servers banner|tls PORT [CERT_DIR]
serves one on all addresses (for pod tests), prints "ready", and runs until killed.

`Banner` speaks first (as SMTP or MySQL do), `Echo` answers what it reads and says goodbye after the
client's half-close, `Resetter` resets every connection, `TlsEcho` is `Echo` behind real TLS.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType


class TcpServer:
    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.listener = socket.create_server(address)
        self.port: int = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle_safely, args=(connection,), daemon=True).start()

    def _handle_safely(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self.handle(connection)

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.listener.close()


def read_all(connection: socket.socket) -> bytes:
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    return data


class Banner(TcpServer):
    greeting = b"220 banner.test ESMTP ready\r\n"

    def handle(self, connection: socket.socket) -> None:
        connection.sendall(self.greeting)
        self.received.append(read_all(connection))


class Refuser(TcpServer):
    """Greets and hangs up at once, as a busy SMTP server does ("421")."""

    greeting = b"421 too busy\r\n"

    def handle(self, connection: socket.socket) -> None:
        connection.sendall(self.greeting)


class Flood(TcpServer):
    """Sends `size` bytes as fast as the connection takes them; `done` is set once all were taken."""

    size = 64 * 1024 * 1024

    def __init__(self) -> None:
        self.done = threading.Event()
        super().__init__()

    def handle(self, connection: socket.socket) -> None:
        connection.recv(1)
        chunk = b"f" * 65536
        for _ in range(self.size // len(chunk)):
            connection.sendall(chunk)
        self.done.set()


class Echo(TcpServer):
    def handle(self, connection: socket.socket) -> None:
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
            connection.sendall(chunk)
        self.received.append(data)
        connection.sendall(b"bye")  # after the client's half-close: the other direction still works


class Resetter(TcpServer):
    def handle(self, connection: socket.socket) -> None:
        self.received.append(connection.recv(65536))
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class TlsEcho(Echo):
    def __init__(self, directory: Path, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.cert, self.key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "1",
             "-subj", "/CN=db.example.test", "-addext", "subjectAltName=DNS:db.example.test"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert, self.key)
        super().__init__(address)

    def handle(self, connection: socket.socket) -> None:
        with self.context.wrap_socket(connection, server_side=True) as tls:
            data = tls.recv(65536)
            self.received.append(data)
            tls.sendall(data)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def main(argv: list[str]) -> None:
    kind, address = argv[0], ("0.0.0.0", int(argv[1]))
    server = Banner(address) if kind == "banner" else TlsEcho(Path(argv[2]), address)
    print("ready", flush=True)
    server.thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
