"""Latency of the admission webhook per AdmissionReview, as the API server sees it.

    .venv/bin/python -m loadtests.webhook_bench [--reviews N]

Starts `tracecar webhook` as its own process with a freshly generated certificate, then sends N
sequential reviews of a realistic pod CREATE (tests/webhook/fixtures/pod_create.json, a
Deployment's pod as the ReplicaSet controller creates it) over one keep-alive HTTPS connection, as
the API server does, and reports p50, p99 and max of the round trip. Target: p99 under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from injector import certs

ROOT = Path(__file__).resolve().parent.parent
REVIEW = ROOT / "tests" / "webhook" / "fixtures" / "pod_create.json"
SERVICE, NAMESPACE = "tracecar-webhook", "tracecar"
SERVER_NAME = f"{SERVICE}.{NAMESPACE}.svc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def webhook_process(directory: Path, *extra: str) -> Iterator[int]:
    """`tracecar webhook` on a free loopback port with a new certificate in `directory`; yields the port."""
    certs.write(certs.generate(SERVICE, NAMESPACE), directory)
    port = free_port()
    argv = [sys.executable, "-m", "proxy.cli", "webhook", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--cert", str(directory / "tls.crt"), "--key", str(directory / "tls.key"), *extra]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process)
        yield port
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.terminate()
    output = process.communicate(timeout=10)[0].decode()
    if process.returncode != 0:  # SIGTERM is a clean stop: anything else is a failure to report
        raise RuntimeError(f"tracecar webhook exited with {process.returncode} on SIGTERM: {output}")


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"tracecar webhook exited with {process.returncode}: {output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("tracecar webhook did not start listening within 20 s")


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


async def round_trips(port: int, ca: Path, reviews: int) -> list[float]:
    """Seconds per review, sequential, over one keep-alive connection; every answer must patch."""
    body = REVIEW.read_bytes()
    url = f"https://127.0.0.1:{port}/mutate"
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(ssl=client_context(ca), limit=1)
    timings = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(reviews):
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers, server_hostname=SERVER_NAME) as response:
                answer = await response.json()
            timings.append(time.perf_counter() - started)
            if response.status != 200 or "patch" not in answer["response"]:
                raise RuntimeError(f"unexpected answer {response.status}: {answer}")
    return timings


def percentile(timings: Sequence[float], q: int) -> float:
    return statistics.quantiles(timings, n=100, method="inclusive")[q - 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, webhook_process(Path(tmp)) as port:
        ca = Path(tmp) / "ca.crt"
        asyncio.run(round_trips(port, ca, args.warmup))
        timings = asyncio.run(round_trips(port, ca, args.reviews))
    ms = [t * 1000 for t in timings]
    print(f"webhook: {args.reviews} sequential reviews over one HTTPS keep-alive connection")
    print(f"p50 {percentile(ms, 50):.2f} ms  p99 {percentile(ms, 99):.2f} ms  max {max(ms):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
