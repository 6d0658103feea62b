"""The loopback rule with a real remote: the admin listener in a pod, curl from another pod.

    pod (10.200.1.1, fd00:200:1::1)  <-veth->  client (10.200.1.2, fd00:200:1::2)

Health, readiness and metrics answer the client at the pod IP; drain and quit answer it 403 and
work only from 127.0.0.1 / ::1 inside the pod, after which the server drains and exits 0.
"""

from __future__ import annotations

import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.netns import Pod, Topology, remove_stale_namespaces

pytestmark = pytest.mark.netns

SERVE = str(Path(__file__).with_name("serve.py"))
PORT = 15000


@pytest.fixture
def topology() -> Iterator[Topology]:
    remove_stale_namespaces()
    with Topology() as topo:
        yield topo


def curl(pod: Pod, method: str, url: str) -> tuple[int, str, str]:
    """(status, body, content type) of one request made from inside `pod`."""
    proc = pod.run(
        "curl", "-sS", "--max-time", "5", "-X", method, "-o", "-",
        "-w", "\n%{http_code} %{content_type}", url,
    )  # fmt: skip
    body, _, tail = proc.stdout.rpartition("\n")
    status, _, content_type = tail.partition(" ")
    return int(status), body, content_type


def first_line(proc: subprocess.Popen[str], timeout: float = 10.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout} s")
    return proc.stdout.readline().strip()


def url(host: str, path: str) -> str:
    return f"http://[{host}]:{PORT}{path}" if ":" in host else f"http://{host}:{PORT}{path}"


def test_drain_and_quit_only_from_loopback_metrics_from_anywhere(topology: Topology) -> None:
    pod, client = topology.pod("pod"), topology.pod("client")
    link = topology.link(pod, client)
    server = pod.spawn(sys.executable, SERVE, "--drain-seconds", "0.3")
    assert first_line(server) == f"listening {PORT}"

    for family in (4, 6):
        pod_ip = link.a.address(family)
        assert curl(client, "GET", url(pod_ip, "/healthz"))[:2] == (200, "ok\n")
        assert curl(client, "GET", url(pod_ip, "/ready"))[:2] == (200, "ready\n")
        status, text, content_type = curl(client, "GET", url(pod_ip, "/metrics"))
        assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        requests = next(f for f in text_string_to_metric_families(text) if f.name == "tracecar_requests")
        inbound_2xx = {"direction": "inbound", "status_class": "2xx"}
        assert [s.value for s in requests.samples if s.labels == inbound_2xx] == [1]
        for path in ("/drain", "/quitquitquit", "/drain"):
            status, body, _ = curl(client, "POST", url(pod_ip, path))
            assert (status, body) == (403, f"{path} is only served to loopback clients (127.0.0.1, ::1)\n")
    # From inside the pod but to the pod IP, the peer is the pod IP: refused too.
    assert curl(pod, "POST", url(link.a.address(4), "/drain"))[0] == 403
    assert curl(client, "GET", url(link.a.address(4), "/ready"))[:2] == (200, "ready\n")
    assert server.poll() is None

    assert curl(pod, "POST", url("127.0.0.1", "/drain"))[:2] == (202, "draining\n")
    assert curl(client, "GET", url(link.a.address(6), "/ready"))[:2] == (503, "draining\n")
    assert curl(pod, "POST", url("::1", "/quitquitquit"))[:2] == (200, "drained; exiting\n")

    out, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert out.splitlines() == ["drain started", "drain finished", "exit"]
    # Seven refusals from three peers: one warning per peer, the repeats are debug lines.
    refused = [line for line in err.splitlines() if "refused POST" in line]
    assert sorted(line.split()[6] for line in refused) == sorted(
        [link.a.address(4), link.b.address(4), link.b.address(6)]
    )
    assert all(line.startswith("WARNING tracecar.admin refused POST /drain from") for line in refused)
