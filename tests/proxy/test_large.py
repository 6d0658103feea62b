"""Bodies far larger than any buffer stream through with the proxy's memory flat, and slow peers
are met with backpressure, not buffering. The proxy runs as its own process so its memory is its own."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.clients import curl, url
from tests.proxy.sidecar import LOOPS
from tests.proxy.upstream import Connection, HttpServer, respond
from tests.proxy.wire import Message, connect, read_head

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
BIG = 100 * MB
MAX_GROWTH = 20 * MB  # measured: about 1 MB; without backpressure, 35 MB to over 100 MB
BLOCK = 1 << 20


class Sidecar:
    """`python -m tests.proxy.sidecar` and its memory, sampled from /proc while it works."""

    def __init__(self, upstream_port: int, loop: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.proxy.sidecar", str(upstream_port), loop],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.peak_rss = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def memory(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak) in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} for the proxy")

    def sample(self) -> None:
        """Track the largest VmRSS seen until `growth()` (VmHWM alone would include start-up)."""
        self.baseline = self.memory("VmRSS")
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self._sampling.is_set():
            self.peak_rss = max(self.peak_rss, self.memory("VmRSS"))
            time.sleep(0.01)

    def growth(self) -> int:
        self._sampling.clear()
        assert self._sampler is not None
        self._sampler.join()
        return max(self.peak_rss, self.memory("VmRSS")) - self.baseline

    def exchanges(self) -> list[str]:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out.splitlines()


def streaming_echo(connection: Connection, head: Message) -> bool:
    """Sends the body back as it arrives (after a 100 when asked), never holding more than a read."""
    if head.header(b"expect") is not None:
        connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    remaining = head.content_length or 0
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % remaining)
    while remaining:
        data = connection.wire.read_some(min(remaining, BLOCK))
        remaining -= len(data)
        connection.send(data)
    return True


def download(connection: Connection, head: Message) -> bool:
    size = int(head.start[1].strip(b"/"))
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    block = b"d" * BLOCK
    for _ in range(size // BLOCK):
        connection.send(block)
    return True


def slow_upload(connection: Connection, head: Message) -> bool:
    time.sleep(1.0)  # the client keeps sending meanwhile
    received = 0
    while received < (head.content_length or 0):
        received += len(connection.wire.read_some())
    connection.send(respond(200, b"%d" % received))
    return True


@pytest.fixture(params=LOOPS)
def sidecar_process(request: pytest.FixtureRequest) -> Iterator[tuple[Sidecar, HttpServer]]:
    server = HttpServer(streaming_echo, record=False)
    sidecar = Sidecar(server.port, request.param)
    yield sidecar, server
    sidecar.process.kill()
    sidecar.process.wait()
    server.close()


def big_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(BIG // BLOCK):
            block = os.urandom(BLOCK)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def test_100_mb_round_trip_through_curl(sidecar_process: tuple[Sidecar, HttpServer], tmp_path: Path) -> None:
    sidecar, _ = sidecar_process
    path = tmp_path / "big"
    expected = big_file(path)
    # `-T` streams the file (with Content-Length, and curl's own Expect: 100-continue).
    warm = curl("--http1.1", "--data-binary", "warm", url(sidecar.port, "/warm"))
    assert warm.stdout == b"warm"  # the proxy's baseline memory includes one exchange
    sidecar.sample()
    client = subprocess.Popen(
        [
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "--http1.1",
            "-T",
            str(path),
            url(sidecar.port, "/big"),
        ],
        stdout=subprocess.PIPE,
    )
    assert client.stdout is not None
    digest, size = hashlib.sha256(), 0
    while block := client.stdout.read(BLOCK):
        digest.update(block)
        size += len(block)
    assert client.wait(timeout=30) == 0
    growth = sidecar.growth()
    assert (size, digest.hexdigest()) == (BIG, expected)
    assert growth < MAX_GROWTH, f"proxy grew by {growth / MB:.1f} MB"
    assert sidecar.exchanges() == ["200 -", "200 -"]


def test_slow_reader_is_met_with_backpressure(sidecar_process: tuple[Sidecar, HttpServer]) -> None:
    sidecar, server = sidecar_process
    server.handler = download
    sidecar.sample()
    wire = connect(sidecar.port)
    wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    wire.send(b"GET /%d HTTP/1.1\r\nHost: app\r\n\r\n" % BIG)
    head = read_head(wire)
    assert head is not None and head.status == 200
    time.sleep(1.0)  # a reader that does not read: the upstream must be paused, not buffered
    received = len(wire.buffer)
    while received < BIG:
        received += len(wire.read_some())
    growth = sidecar.growth()
    assert growth < MAX_GROWTH, f"proxy grew by {growth / MB:.1f} MB"


def test_slow_upstream_is_met_with_backpressure(sidecar_process: tuple[Sidecar, HttpServer]) -> None:
    sidecar, server = sidecar_process
    server.handler = slow_upload
    sidecar.sample()
    wire = connect(sidecar.port)
    wire.send(b"PUT /slow HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\n\r\n" % BIG)
    block = b"u" * BLOCK
    for _ in range(BIG // BLOCK):
        wire.send(block)
    growth = sidecar.growth()
    assert wire.read_until(b"\r\n\r\n") is not None
    assert growth < MAX_GROWTH, f"proxy grew by {growth / MB:.1f} MB"
