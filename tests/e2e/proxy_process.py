"""`tracecar proxy --upstream` as a real process on ephemeral ports, for tests that need its whole
run time (span export, metrics, logs, limits) rather than the in-thread `Proxy` of tests/proxy."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.test_w3c_through_sidecar import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ProxyProcess:
    process: subprocess.Popen[bytes]
    inbound: int
    admin: int
    log: Path  # its standard error

    def metrics(self) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
        return text

    def metric(self, name: str) -> float:
        """The value of the sample whose line starts with `name` (with its labels, if any)."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no sample {name}")


@contextlib.contextmanager
def proxy_process(
    upstream_port: int,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    nofile: tuple[int, int] | None = None,
) -> Iterator[ProxyProcess]:
    """`nofile`: the (soft, hard) open-file limit the proxy starts with."""
    inbound, outbound, admin = free_port(), free_port(), free_port()
    log = tmp_path / f"proxy-{inbound}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none", **(env or {})}
    with log.open("wb") as stderr:
        limit = [] if nofile is None else ["prlimit", f"--nofile={nofile[0]}:{nofile[1]}"]
        ports = ["--inbound-port", str(inbound), "--outbound-port", str(outbound), "--admin-port", str(admin)]
        process = subprocess.Popen(
            [*limit, sys.executable, "-m", "proxy.cli", "proxy", "--no-ipv6", "--drain-grace", "1",
             "--upstream", f"127.0.0.1:{upstream_port}", *ports, *args],
            env=environment, stderr=stderr, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_listening(admin)
        yield ProxyProcess(process, inbound, admin, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
