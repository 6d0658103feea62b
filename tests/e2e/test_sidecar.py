"""`tracecar sidecar` in an application's network namespace, as in Docker network mode.

One root process installs the rules, runs the proxy unprivileged, and on SIGTERM drains it and
removes every rule it added.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.netns import Pod, Topology

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]


def nat_rules(pod: Pod) -> str:
    """The nat table of both iptables backends: the sidecar may have used either."""
    return "".join(
        pod.run(tool, "-t", "nat", check=False).stdout
        for tool in ("iptables-legacy-save", "iptables-nft-save")
    )


def test_sidecar_traces_then_cleans_up() -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/tmp"}
    with Topology() as topology:
        client, app = topology.pod("client"), topology.pod("app")
        link = topology.link(client, app)
        server = app.spawn(sys.executable, "-m", "tests.e2e.apps", "back", "8080")
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        variables = [f"{k}={v}" for k, v in {**env, "OTEL_TRACES_EXPORTER": "console"}.items()]
        sidecar = app.spawn(
            "env", *variables, sys.executable, "-m", "proxy.cli", "sidecar", "--drain-grace", "5",
            "--max-header-bytes", "4096",
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while ":15006 " not in app.run("ss", "-ltnH").stdout:
            assert time.monotonic() < deadline and sidecar.poll() is None, "sidecar did not start"
            time.sleep(0.05)
        assert "TRACECAR_INBOUND" in nat_rules(app)

        answer = json.loads(client.run("curl", "-sS", f"http://{link.b.address(4)}:8080/orders/7").stdout)
        traceparent = answer["seen"]["traceparent"]
        assert traceparent is not None  # the request went through the sidecar
        # The sidecar passes its limits on: a head over 4 KiB is refused (the proxy's default is 64 KiB).
        big = client.run(
            "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
            "-H", "X-Big: " + "x" * 8000,
            f"http://{link.b.address(4)}:8080/big",
        )  # fmt: skip
        assert big.stdout == "431"

        sidecar.send_signal(signal.SIGTERM)
        out, err = sidecar.communicate(timeout=30)
        assert sidecar.returncode == 0, err
        spans = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        server_spans = [s for s in spans if s["kind"] == "SERVER" and s["name"] == "GET /orders/{id}"]
        assert [s["span_id"] for s in server_spans] == [traceparent.split("-")[2]]
        assert "TRACECAR" not in nat_rules(app)  # nothing left redirecting the app's traffic
        direct = client.run("curl", "-sS", f"http://{link.b.address(4)}:8080/after")
        assert json.loads(direct.stdout)["seen"]["traceparent"] is None  # traffic flows directly again


def test_options_the_proxy_would_refuse_stop_the_sidecar_before_any_rule() -> None:
    """Checked first: a proxy that could not start would leave the application's traffic redirected
    to a closed port until the cleanup."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/tmp"}
    with Topology() as topology:
        app = topology.pod("app")
        variables = [f"{k}={v}" for k, v in env.items()]
        for bad in (["--route", "orders/{id}"], ["--response-timeout", "0"]):
            result = app.run(
                "env", *variables, sys.executable, "-m", "proxy.cli", "sidecar", *bad, check=False
            )
            assert result.returncode == 2, result.stderr
            assert result.stderr.startswith("tracecar sidecar: ") and "Traceback" not in result.stderr
            assert "nat rules" not in result.stdout  # init never ran: no rule, not even for a moment
            assert "TRACECAR" not in nat_rules(app)
