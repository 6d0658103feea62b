"""The lifecycle hook scripts run for real against an HTTP server standing in for the admin port."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from injector.sidecar import PRESTOP_SCRIPT, WAIT_READY_SCRIPT


class Admin(ThreadingHTTPServer):
    ready_after = 3
    requests: list[str]


class Handler(BaseHTTPRequestHandler):
    server: Admin

    def do_GET(self) -> None:
        self.server.requests.append(f"GET {self.path}")
        ready = sum(r == "GET /ready" for r in self.server.requests) >= self.server.ready_after
        self._answer(200 if ready else 503)

    def do_POST(self) -> None:
        self.server.requests.append(f"POST {self.path}")
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def admin() -> Iterator[Admin]:
    server = Admin(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def run_script(script: str, admin: Admin) -> None:
    script = script.replace("127.0.0.1:15000", f"127.0.0.1:{admin.server_address[1]}")
    assert script.count(f":{admin.server_address[1]}/") == 1
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)


def test_post_start_waits_until_ready(admin: Admin) -> None:
    run_script(WAIT_READY_SCRIPT, admin)
    assert admin.requests == ["GET /ready"] * 3


def test_pre_stop_posts_quitquitquit(admin: Admin) -> None:
    run_script(PRESTOP_SCRIPT, admin)
    assert admin.requests == ["POST /quitquitquit"]
