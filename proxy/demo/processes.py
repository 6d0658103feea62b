"""The processes the demo starts in its namespaces, each logging to a file of its own."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path

STOP_TIMEOUT_S = 15.0


class DemoError(Exception):
    """The demo cannot go on; the message says why (and where the logs are)."""


class Processes:
    """Processes started in the demo's namespaces, each logging to a file of its own."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, namespace: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        with log:
            # A group of their own: Ctrl-C reaches the demo alone, which stops them in order.
            self.started[name] = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd="/", process_group=0,
            )  # fmt: skip

    def check_running(self, name: str) -> None:
        code = self.started[name].poll()
        if code is not None:
            raise DemoError(f"{name} exited with code {code} at start-up:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:])

    async def terminate(self, names: list[str]) -> None:
        """SIGTERM, then wait (the sidecars drain and flush their spans); SIGKILL past the timeout."""
        chosen = [self.started[name] for name in names if name in self.started]
        for proc in chosen:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(proc.poll() is None for proc in chosen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        for proc in self.started.values():
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
