"""Without privileges the proxy keeps serving and says once, on its log and /metrics, why the eBPF
fallback is off."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.netns import Topology

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]


def test_a_proxy_without_capabilities_serves_http_and_reports_the_fallback_off() -> None:
    env = [f"PYTHONPATH={ROOT}", f"PATH={os.environ['PATH']}", "OTEL_TRACES_EXPORTER=none"]
    with Topology() as topology:
        pod = topology.pod("noprivs")
        app = pod.spawn(sys.executable, "-m", "tests.e2e.apps", "back", "8080")
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        # Root without any capability (an empty bounding set), as a locked-down container runs.
        proxy = pod.spawn(
            "setpriv", "--bounding-set=-all", "--inh-caps=-all", "env", *env, sys.executable,
            "-m", "proxy.cli", "proxy", "--ebpf", "--upstream", "127.0.0.1:8080", "--no-ipv6",
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while "ready" not in pod.run("curl", "-s", "http://127.0.0.1:15000/ready", check=False).stdout:
            assert proxy.poll() is None and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        answer = pod.run("curl", "-sS", "http://127.0.0.1:15006/orders/1").stdout
        assert '"service": "back"' in answer
        metrics = pod.run("curl", "-sS", "http://127.0.0.1:15000/metrics").stdout
        assert 'tracecar_ebpf_state{reason="not_privileged"} 1' in metrics
        assert "\ntracecar_ebpf_enabled 0\n" in metrics
        proxy.terminate()
        _, err = proxy.communicate(timeout=20)
    assert proxy.returncode == 0, err
    off = [line for line in err.splitlines() if "ebpf fallback off" in line]
    assert len(off) == 1 and "not_privileged" in off[0] and "needs root" in off[0]
