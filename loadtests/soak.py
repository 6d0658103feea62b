"""Soak: a real `tracecar proxy` under mixed traffic for a long time; its memory and descriptors stay flat.

    .venv/bin/python -m loadtests.soak [--duration 600] [--clients 8] [--collector up|down]

The proxy runs as a process in front of a real application (`tests.e2e.apps back`), exporting spans
over OTLP/HTTP to a real receiver in its own process (or, with `--collector down`, to a port where
nothing listens, so every export fails for the whole run). Client threads mix keep-alive requests,
a new connection per request, malformed requests (400), and clients that leave mid-request.

Every `--sample` seconds it prints the proxy's RSS and open descriptors. After `--warmup` seconds and
again at the end the load pauses and the connections close, and the descriptors are counted at rest.
The run fails (exit 1) if RSS grew by more than `--max-rss-growth-mib` between the two, or any
descriptor was left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.span_export_bench import receiver_process

ROOT = Path(__file__).resolve().parent.parent
REST_S = 1.5  # a pause long enough for every connection the load opened to close


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Counts:
    ok: int = 0
    refused: int = 0  # malformed on purpose: 400 expected
    failed: list[str] = field(default_factory=list)  # anything else: each is a soak failure
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            if outcome == "ok":
                self.ok += 1
            elif outcome == "refused":
                self.refused += 1
            elif len(self.failed) < 20:
                self.failed.append(outcome)


class Load:
    """Client threads; `pause` stops them between requests with every connection closed."""

    def __init__(self, port: int, clients: int) -> None:
        self.port = port
        self.counts = Counts()
        self.running = threading.Event()
        self.running.set()
        self.stopped = False
        self.idle = threading.Semaphore(0)
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def pause(self) -> None:
        self.running.clear()
        for _ in self.threads:
            self.idle.acquire()
        time.sleep(REST_S)

    def resume(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.pause()
        self.stopped = True
        self.running.set()  # wakes the paused threads to see `stopped` and end

    def _client(self, index: int) -> None:
        n = 0
        while True:
            if not self.running.is_set():
                self.idle.release()
                self.running.wait()
                if self.stopped:
                    return
                continue
            n += 1
            try:
                self.counts.add(self._one(index, n))
            except (OSError, http.client.HTTPException) as error:
                self.counts.add(f"{type(error).__name__}: {error}")

    def _one(self, index: int, n: int) -> str:
        kind = n % 10
        if kind == 0:
            return self._raw(
                b"GET /bad HTTP/1.1\r\nHost: app\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            )
        if kind == 1:
            return self._leave_mid_request()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for i in range(1 if kind == 2 else 20):  # a connection per request, or keep-alive
                connection.request("GET", f"/soak/{index}/{n}/{i}?token=t")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    return f"status {response.status}"
                if not self.running.is_set():
                    break
        finally:
            connection.close()
        return "ok"

    def _raw(self, request: bytes) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            answer = sock.recv(4096)
        return "refused" if answer.startswith(b"HTTP/1.1 400 ") else f"bad answer {answer[:40]!r}"

    def _leave_mid_request(self) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\npartial")
        return "ok"


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)  # the proxy drains and flushes; the app just ends
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=15)
        if child.poll() is None:
            child.kill()
            child.wait()


@contextlib.contextmanager
def collector(mode: str) -> Iterator[str]:
    """The OTLP endpoint the proxy exports to."""
    if mode == "down":
        yield f"http://127.0.0.1:{free_port()}"
        return
    with receiver_process() as ports:
        yield f"http://127.0.0.1:{ports['http']}"


def run(args: argparse.Namespace) -> int:
    app_port, inbound, outbound, admin = (free_port() for _ in range(4))
    python = sys.executable
    with (
        collector(args.collector) as endpoint,
        process([python, "-m", "tests.e2e.apps", "back", str(app_port)]),
    ):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
        }
        ports = ["--inbound-port", str(inbound), "--outbound-port", str(outbound), "--admin-port", str(admin)]
        command = [
            python,
            "-m",
            "proxy.cli",
            "proxy",
            "--no-ipv6",
            "--upstream",
            f"127.0.0.1:{app_port}",
            *ports,
        ]
        with process(command, env) as proxy:
            wait_listening(app_port)
            wait_listening(admin)
            return _soak(proxy.pid, inbound, args)


def _soak(pid: int, port: int, args: argparse.Namespace) -> int:
    load = Load(port, args.clients)
    started = time.monotonic()
    load.start()
    print(f"{'seconds':>8} {'RSS MiB':>8} {'fds':>5} {'runs':>9}", flush=True)
    baseline: tuple[int, int] | None = None
    while (elapsed := time.monotonic() - started) < args.duration:
        time.sleep(min(args.sample, max(0.0, args.duration - elapsed)))
        elapsed = time.monotonic() - started
        if baseline is None and elapsed >= args.warmup:
            load.pause()
            baseline = (rss_kib(pid), descriptors(pid))
            print(f"{elapsed:8.0f} {baseline[0] / 1024:8.1f} {baseline[1]:5d}  baseline, at rest", flush=True)
            load.resume()
            continue
        print(
            f"{elapsed:8.0f} {rss_kib(pid) / 1024:8.1f} {descriptors(pid):5d} {load.counts.ok:9d}", flush=True
        )
    load.stop()
    end = (rss_kib(pid), descriptors(pid))
    assert baseline is not None, "--duration must exceed --warmup"
    return _verdict(baseline, end, load.counts, args.max_rss_growth_mib)


def _verdict(baseline: tuple[int, int], end: tuple[int, int], counts: Counts, max_growth_mib: float) -> int:
    growth_mib = (end[0] - baseline[0]) / 1024
    print(
        f"at rest: RSS {baseline[0] / 1024:.1f} -> {end[0] / 1024:.1f} MiB ({growth_mib:+.1f}), "
        f"descriptors {baseline[1]} -> {end[1]}; {counts.ok} client runs ok, {counts.refused} refused "
        f"as intended, {len(counts.failed)} failed"
    )
    problems = [f"request failed: {failure}" for failure in counts.failed]
    if growth_mib > max_growth_mib:
        problems.append(f"RSS grew {growth_mib:.1f} MiB (limit {max_growth_mib})")
    if end[1] > baseline[1]:
        problems.append(f"{end[1] - baseline[1]} descriptors left behind")
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline (default 60)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--collector", choices=("up", "down"), default="up", help="OTLP receiver up or down")
    parser.add_argument(
        "--max-rss-growth-mib", type=float, default=8.0, help="allowed RSS growth (default 8)"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
