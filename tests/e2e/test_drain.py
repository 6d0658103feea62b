"""SIGTERM under load: the proxy stops accepting, finishes what is in flight, and no request fails.

Clients keep sending on their keep-alive connections through the shutdown. A request is failed if it
was sent on an open connection and got no complete response; a client stops cleanly when a response
says `connection: close` (what a draining proxy answers) or a new connection is refused.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.test_w3c_through_sidecar import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 16


class Client(threading.Thread):
    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.completed = 0
        self.failures: list[str] = []
        self.closed_cleanly = False

    def run(self) -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.connect()
        except ConnectionRefusedError:
            self.closed_cleanly = True
            return
        while not self.stop.is_set():
            try:
                connection.request("GET", f"/work/{self.completed}")
                answer = connection.getresponse()
                body = answer.read()
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(f"request {self.completed}: {error!r}")
                return
            if answer.status != 200 or b'"service": "back"' not in body:
                self.failures.append(f"request {self.completed}: status {answer.status}")
                return
            self.completed += 1
            if answer.getheader("connection", "").lower() == "close":
                self.closed_cleanly = True
                return
        connection.close()


def test_sigterm_under_load_fails_no_request(tmp_path: Path) -> None:
    app_port, inbound, outbound, admin = (free_port() for _ in range(4))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none"}
    app = subprocess.Popen([sys.executable, "-m", "tests.e2e.apps", "slow", str(app_port), "0.02"], env=env)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "proxy", "--no-ipv6", "--upstream", f"127.0.0.1:{app_port}",
         "--inbound-port", str(inbound), "--outbound-port", str(outbound), "--admin-port", str(admin),
         "--drain-grace", "10"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stop = threading.Event()
    try:
        wait_listening(app_port)
        wait_listening(inbound)
        clients = [Client(inbound, stop) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        before = sum(c.completed for c in clients)
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(timeout=15) == 0, proxy.stderr.read() if proxy.stderr else ""
        for client in clients:
            client.join(timeout=15)
    finally:
        stop.set()
        for process in (proxy, app):
            if process.poll() is None:
                process.kill()
                process.wait()
    failures = [f for c in clients for f in c.failures]
    assert failures == [], (failures, proxy.stderr.read() if proxy.stderr else "")
    assert before > CLIENTS * 5  # real load was running when the signal came
    assert all(c.closed_cleanly for c in clients)  # every client was told to stop, none cut off
