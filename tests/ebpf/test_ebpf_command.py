"""`tracecar ebpf` on its own, node-level: it reports a pod's accepted IPv6 connection as a SERVER span
with bracketed addresses, a refused connect and a reset as failed spans, and serves its state on
/metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_two_pods import wait_for
from tests.e2e.test_w3c_through_sidecar import free_port
from tests.netns import Topology

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]
KIND_SERVER = "SERVER"
# Within the pod: a connect to a closed port, and a connection its client aborts (SO_LINGER 0: RST).
REFUSED = """
import socket
try:
    socket.create_connection(("127.0.0.1", 6390))
except ConnectionRefusedError:
    pass
"""
RESET = """
import socket, struct
connection = socket.create_connection(("127.0.0.1", 6379))
connection.sendall(b"PING\\r\\n")
assert connection.recv(100) == b"+PONG\\r\\n"
connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
connection.close()
"""


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text: str = answer.read().decode()
            return text
    except OSError:
        return ""


def test_the_standalone_fallback_reports_accepted_refused_and_reset_connections() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "db",
    }
    metrics_port = free_port()
    with Topology() as topology:
        client, db = topology.pod("client"), topology.pod("db")
        link = topology.link(client, db)
        db.spawn("redis-server", "--port", "6379", "--save", "", "--protected-mode", "no")
        agent = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "ebpf", "--netns", f"/run/netns/{db.name}",
             "--metrics-port", str(metrics_port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: "\ntracecar_ebpf_enabled 1\n" in scrape(metrics_port), 60, "the fallback")
            server = link.b.address(6)
            reply = client.run("redis-cli", "-h", server, "-p", "6379", "set", "k", "v").stdout
            assert reply.strip() == "OK"
            db.run(sys.executable, "-c", REFUSED)
            db.run(sys.executable, "-c", RESET)
            wait_for(lambda: '{outcome="reported"} 3\n' in scrape(metrics_port), 10, "the connections")
        finally:
            agent.send_signal(signal.SIGTERM)
            out, err = agent.communicate(timeout=30)
    assert agent.returncode == 0, err[-2000:]
    spans = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    # The payload went through the same Redis parser as the proxy's relay: one span per command.
    commands = [s for s in spans if "db.system.name" in s["attributes"]]
    assert [(c["attributes"]["db.system.name"], c["attributes"]["db.operation.name"]) for c in commands] == [
        ("redis", "SET")
    ]
    assert commands[0]["kind"] == KIND_SERVER  # this pod serves the database
    connections = [s for s in spans if "tracecar.tcp.end" in s["attributes"]]
    assert len(connections) + len(commands) == len(spans)
    by_end = {
        (c["attributes"]["tracecar.tcp.end"], c["attributes"].get("error.type")): c for c in connections
    }
    assert set(by_end) == {("close", None), ("close", "connection_refused"), ("reset", "reset")}
    span = by_end["close", None]
    attributes = span["attributes"]
    assert (span["name"], span["kind"]) == (f"TCP [{server}]:6379", KIND_SERVER)
    assert attributes["network.peer.address"] == attributes["client.address"] == link.a.address(6)
    assert attributes["tracecar.tcp.bytes_from_client"] == len(b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n")
    assert attributes["tracecar.tcp.bytes_from_server"] == len(b"+OK\r\n")
