"""The image's security posture, without the image: the proxy runs as uid 1337 with nothing writable.

In a mount namespace of its own, the root filesystem (which holds this repository and its virtualenv)
is remounted read-only, as with a container's `readOnlyRootFilesystem` (stricter: /tmp on the root
filesystem is read-only too); the proxy starts as root there, binds, drops to uid 1337 (`--run-as`),
and serves.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_w3c_through_sidecar import free_port, wait_listening
from tests.proxy.upstream import HttpServer

ROOT = Path(__file__).resolve().parents[2]
PROXY_UID = 1337
# In the new mount namespace only (unshare's default propagation is private): the host is untouched.
READ_ONLY = """
set -e
mount -o remount,bind,ro /
if touch "$ROOT/.read-only-probe" 2>/dev/null; then echo "root filesystem still writable" >&2; exit 3; fi
exec "$@"
"""


def status_ids(pid: int, field: str) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return [int(value) for value in line.split()[1:]]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.netns
def test_proxy_runs_as_1337_on_a_read_only_filesystem() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root for a mount namespace") if os.environ.get("CI") else pytest.skip("needs root")
    upstream = HttpServer()
    inbound, outbound, admin = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROOT": str(ROOT), "OTEL_TRACES_EXPORTER": "none",
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    command = [sys.executable, "-m", "proxy.cli", "proxy", "--no-ipv6", "--run-as", f"{PROXY_UID}",
               "--upstream", f"127.0.0.1:{upstream.port}", "--inbound-port", str(inbound),
               "--outbound-port", str(outbound), "--admin-port", str(admin)]  # fmt: skip
    proxy = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", READ_ONLY, "sh", *command], env=env, stderr=subprocess.PIPE
    )
    try:
        wait_listening(admin)
        connection = http.client.HTTPConnection("127.0.0.1", inbound, timeout=10)
        connection.request("GET", "/read-only")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"/read-only")
        assert status_ids(proxy.pid, "Uid") == [PROXY_UID] * 4
        assert status_ids(proxy.pid, "Gid") == [PROXY_UID] * 4
        assert status_ids(proxy.pid, "CapEff") == [0]
        mounts = Path(f"/proc/{proxy.pid}/mountinfo").read_text().splitlines()
        root = next(line.split() for line in mounts if line.split()[4] == "/")
        assert "ro" in root[5].split(","), root
        assert not (ROOT / ".read-only-probe").exists()
    finally:
        proxy.send_signal(signal.SIGTERM)
        _, stderr = proxy.communicate(timeout=15)
        upstream.close()
    assert proxy.returncode == 0, stderr.decode(errors="replace")[-2000:]
