"""Real clients: curl (HTTP/1.x only, never a proxy from the environment) and small raw-socket helpers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

CURL_TIMEOUT_S = 20


def curl(*args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """`curl -sS --noproxy '*' ARGS`; stdout is the body (or what `-w` asks for)."""
    result = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", *args],
        input=stdin,
        capture_output=True,
        timeout=CURL_TIMEOUT_S,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"curl {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}")
    return result


def url(port: int, path: str = "/") -> str:
    return f"http://127.0.0.1:{port}{path}"


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
