"""`tracecar collector` as a process on ephemeral ports: `with CollectorProcess(db) as c: c.http_port`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"OTLP/gRPC on [^ ]+:(\d+), OTLP/HTTP on [^ ]+:(\d+)")
_WEB = re.compile(r"traces at http://[^ ]+:(\d+)/")


class CollectorProcess:
    def __init__(self, db_path: Path, *options: str) -> None:
        self.argv = [
            sys.executable, "-m", "proxy.cli", "collector", "--db", str(db_path), "--host", "127.0.0.1",
            "--grpc-port", "0", "--http-port", "0", "--web-port", "0", *options,
        ]  # fmt: skip
        self.process: subprocess.Popen[str] | None = None
        self.grpc_port = self.http_port = self.web_port = 0

    def __enter__(self) -> CollectorProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(self.argv, env=env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first, second = self.process.stdout.readline(), self.process.stdout.readline()
        listening, web = _LISTENING.search(first), _WEB.search(second)
        if listening is None or web is None:
            self.process.kill()
            raise AssertionError(f"tracecar collector did not start: {first!r} {second!r}")
        self.grpc_port, self.http_port = int(listening.group(1)), int(listening.group(2))
        self.web_port = int(web.group(1))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
