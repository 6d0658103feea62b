"""--workers: processes sharing the listening ports, supervised."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.worker_metrics import socket_name
from tests.e2e.test_w3c_through_sidecar import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]
_PR_SET_CHILD_SUBREAPER = 36


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return sorted(int(line) for line in found.split())


INBOUND_2XX = 'tracecar_requests_total{direction="inbound",status_class="2xx"} '


def inbound_2xx(metrics_text: str) -> int:
    return sum(
        int(line.removeprefix(INBOUND_2XX))
        for line in metrics_text.splitlines()
        if line.startswith(INBOUND_2XX)
    )


def second_worker_metrics(started: TwoWorkers) -> str:
    """What worker 1 alone counted, from the socket the admin worker reads it on (proxy.worker_metrics)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as reader:
        reader.settimeout(10)
        reader.connect(socket_name(started.admin, 1, supervisor=started.proxy.pid))
        return b"".join(iter(lambda: reader.recv(65536), b"")).decode()


def admin_metrics(started: TwoWorkers) -> list[str]:
    connection = http.client.HTTPConnection("127.0.0.1", started.admin, timeout=10)
    connection.request("GET", "/metrics")
    return connection.getresponse().read().decode().splitlines()


def get(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/hello")
    status = connection.getresponse().status
    connection.close()
    return status


def wait_for_children(pid: int, count: int, not_in: list[int]) -> list[int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = children(pid)
        if len(found) == count and not set(found) & set(not_in):
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} new workers, have {children(pid)}")


@dataclass
class TwoWorkers:
    proxy: subprocess.Popen[bytes]
    workers: list[int]  # their pids
    inbound: int
    admin: int


@contextlib.contextmanager
def two_workers(*extra: str) -> Iterator[TwoWorkers]:
    """`tracecar proxy --workers 2` in front of a real application, both listening."""
    app_port, inbound, outbound, admin = (free_port() for _ in range(4))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none"}
    app = subprocess.Popen([sys.executable, "-m", "tests.e2e.apps", "back", str(app_port)], env=env)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "proxy", "--workers", "2", "--no-ipv6",
         "--upstream", f"127.0.0.1:{app_port}", "--inbound-port", str(inbound),
         "--outbound-port", str(outbound), "--admin-port", str(admin), *extra],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(app_port)
        workers = wait_for_children(proxy.pid, 2, [])
        wait_listening(inbound)
        wait_listening(admin)
        yield TwoWorkers(proxy, workers, inbound, admin)
    finally:
        for process in (proxy, app):
            if process.poll() is None:
                process.kill()
                process.wait()


def served_by_both(started: TwoWorkers, requests: int) -> None:
    """Fresh workers: each serves some of `requests`, each on a new connection (the kernel spreads them)."""
    assert all(get(started.inbound) == 200 for _ in range(requests))
    assert inbound_2xx("\n".join(admin_metrics(started))) == requests
    assert 0 < inbound_2xx(second_worker_metrics(started)) < requests


def test_workers_share_the_ports_and_are_restarted() -> None:
    with two_workers() as started:
        proxy, workers = started.proxy, started.workers
        served_by_both(started, 300)

        os.kill(workers[0], signal.SIGKILL)
        replaced = wait_for_children(proxy.pid, 2, [workers[0]])
        assert workers[1] in replaced
        wait_listening(started.inbound)
        assert all(get(started.inbound) == 200 for _ in range(20))

        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(timeout=30) == 0
        assert children(proxy.pid) == []


def test_metrics_count_the_requests_of_every_worker() -> None:
    with two_workers() as started:
        served_by_both(started, 200)
        lines = admin_metrics(started)
        assert 'tracecar_requests_total{direction="inbound",status_class="2xx"} 200' in lines
        assert 'tracecar_request_duration_seconds_count{direction="inbound"} 200' in lines
        assert lines.count("# TYPE tracecar_requests_total counter") == 1
        assert not [line for line in lines if "not included" in line]


def post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request("POST", path)
    status = connection.getresponse().status
    connection.close()
    return status


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # queued on a listener closing right then: ask again
        return False
    return False


def test_drain_reaches_every_worker_and_quitquitquit_ends_them_all() -> None:
    with two_workers() as started:
        served_by_both(started, 100)
        assert post(started.admin, "/drain") == 202
        # Both workers stopped accepting: with one still listening, SO_REUSEPORT would hand it some.
        deadline = time.monotonic() + 10
        while not all(refused(started.inbound) for _ in range(20)):
            assert time.monotonic() < deadline, "a worker still accepts after /drain"
            time.sleep(0.1)
        assert post(started.admin, "/quitquitquit") == 200
        assert started.proxy.wait(timeout=30) == 0  # no worker restarted: the whole sidecar ended
        assert children(started.proxy.pid) == []


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited; its new parent (init here) has not reaped it yet


@contextlib.contextmanager
def adopting_orphans() -> Iterator[list[int]]:
    """This process as a child subreaper (prctl(2)): orphaned workers become its children, as they
    would a container's first process, and a signal they send their parent lands here, recorded."""
    received: list[int] = []
    libc = ctypes.CDLL(None, use_errno=True)
    previous = {
        signum: signal.signal(signum, lambda got, frame: received.append(got))
        for signum in (signal.SIGTERM, signal.SIGUSR2)
    }
    assert libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield received
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("extra", [(), ("--run-as", "1337")], ids=["root", "dropped-privileges"])
def test_workers_end_when_the_supervisor_is_killed(extra: tuple[str, ...]) -> None:
    """SIGKILL leaves the supervisor no time to pass anything on: the kernel tells the workers (a
    worker that changed its credentials, which clears the request, asked again), they exit, and
    none signals the process that adopted it (the admin worker's /drain path signals its parent)."""
    with adopting_orphans() as received, two_workers(*extra) as started:
        assert get(started.inbound) == 200
        started.proxy.kill()
        started.proxy.wait()
        deadline = time.monotonic() + 15
        while not all(gone(pid) for pid in started.workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)
        for pid in started.workers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        assert refused(started.inbound)
        assert received == []
