"""Fixtures for interception tests: a pod with the proxy's listeners, and peers to talk to.

    pod (10.200.1.1, fd00:200:1::1)  <-eth0->  client (10.200.1.2, fd00:200:1::2)
        (10.200.2.1, fd00:200:2::1)  <-eth1->  other  (10.200.2.2, fd00:200:2::2)

The pod listens on 15006 (inbound), 15001 (outbound), 15000 (admin) and 8080/8081 (app); client
and other listen on 9000/9001. Every listener answers with its name and the connection's original
destination, so a test sees where a connection was meant to go and where it landed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proxy.interception.backend import tool
from proxy.interception.rules import Family
from tests.netns import Pod, Topology, remove_stale_namespaces

PROBE = str(Path(__file__).with_name("tcpprobe.py"))
PYTHON = sys.executable
TRACECAR = (PYTHON, "-m", "proxy.cli")
POD_LISTENERS = ("15006=inbound", "15001=outbound", "15000=admin", "8080=app", "8081=app")


def start_probe_server(pod: Pod, *listeners: str) -> None:
    server = pod.spawn(PYTHON, PROBE, "serve", *listeners)
    assert server.stdout is not None
    if server.stdout.readline().strip() != "ready":
        server.kill()
        _, err = server.communicate()
        raise AssertionError(f"probe server in {pod.role} did not start: {err}")


def target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class InitPod:
    """A pod in which tests run `tracecar init` and read the nat table back."""

    pod: Pod

    def init(self, *options: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`tracecar init OPTIONS` inside the pod."""
        return self.pod.run(*TRACECAR, "init", *options, check=check)

    def nat(self, backend: str, family: Family) -> str:
        """The nat table through `backend`'s iptables-save, without comments and counters."""
        text = self.pod.run(tool(family, f"{backend}-save"), "-t", "nat").stdout
        lines = (line for line in text.splitlines() if not line.startswith("#"))
        return "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in lines)


@dataclass
class Mesh(InitPod):
    client: Pod
    other: Pod

    def ask(self, source: Pod, *targets: str, uid: int | None = None) -> list[dict[str, Any]]:
        """Connect from `source` to each target; the answers say who accepted and the original
        destination."""
        uid_args = ["--uid", str(uid)] if uid is not None else []
        out = source.run(PYTHON, PROBE, "connect", *uid_args, *targets).stdout
        answers: list[dict[str, Any]] = json.loads(out)
        return answers


@pytest.fixture(scope="session")
def _no_stale_namespaces() -> None:
    remove_stale_namespaces()


@pytest.fixture
def topology(_no_stale_namespaces: None) -> Iterator[Topology]:
    with Topology() as topo:
        yield topo


@pytest.fixture
def mesh(topology: Topology) -> Mesh:
    pod, client, other = topology.pod("pod"), topology.pod("client"), topology.pod("other")
    topology.link(pod, client)
    topology.link(pod, other)
    start_probe_server(pod, *POD_LISTENERS)
    start_probe_server(client, "9000=client", "9001=client")
    start_probe_server(other, "9000=other")
    return Mesh(pod, client, other)


@pytest.fixture
def init_pod(topology: Topology) -> InitPod:
    return InitPod(topology.pod("pod"))
