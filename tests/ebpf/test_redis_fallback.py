"""Redis on a port the sidecar's rules exclude: the proxy never sees it, the eBPF fallback reports it.

    [app pod: redis-cli, back app :8080 | tracecar sidecar --ebpf]  <-->  [db pod: redis :6379,
                                                                           back :8081, OTLP receiver]

The same run checks that what the proxy does see (an inbound and an outbound HTTP request) is
reported once, by the proxy, and never again by the fallback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_two_pods import wait_for
from tests.netns import Pod, Topology

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]
KIND_SERVER, KIND_CLIENT = 2, 3
SET = b"*3\r\n$3\r\nset\r\n$12\r\ntracecar-key\r\n$5\r\nvalue\r\n"


def metrics(pod: Pod) -> str:
    return pod.run("curl", "-s", "http://127.0.0.1:15000/metrics", check=False).stdout


def exercise(app: Pod, db: Pod, app_ip: str, db_ip: str, spans_file: Path) -> str:
    """Wait for the fallback, make the traffic, wait for its spans; the metrics then, or "" on failure."""
    try:
        wait_for(lambda: "\ntracecar_ebpf_enabled 1\n" in metrics(app), 60, "the eBPF fallback")
    except AssertionError:
        return ""
    reply = app.run("redis-cli", "-h", db_ip, "-p", "6379", "set", "tracecar-key", "value").stdout
    assert reply.strip() == "OK"
    assert '"service": "back"' in db.run("curl", "-sS", f"http://{app_ip}:8080/orders/1").stdout
    assert '"service": "back"' in app.run("curl", "-sS", f"http://{db_ip}:8081/stock/2").stdout

    def received() -> list[dict[str, Any]]:
        spans = json.loads(spans_file.read_text()) if spans_file.exists() else []
        redis = [s for s in spans if s["attributes"].get("server.port") == 6379]
        return spans if len(redis) >= 2 else []  # the connection and its command

    wait_for(received, 15, "the connection and command spans")
    time.sleep(0.5)  # anything reported twice would have arrived by now, in the same batches
    return metrics(app)


def test_redis_on_an_excluded_port_is_reported_by_the_fallback_and_http_once_by_the_proxy(
    tmp_path: Path,
) -> None:
    spans_file = tmp_path / "spans.json"
    with Topology() as topology:
        app, db = topology.pod("app"), topology.pod("db")
        link = topology.link(app, db)
        app_ip, db_ip = link.a.address(4), link.b.address(4)
        receiver = db.spawn(sys.executable, "-m", "tests.e2e.receiver_serve", str(spans_file))
        assert receiver.stdout is not None
        ports = json.loads(receiver.stdout.readline())
        db.spawn("redis-server", "--port", "6379", "--save", "", "--protected-mode", "no")
        for pod, port in ((app, "8080"), (db, "8081")):
            server = pod.spawn(sys.executable, "-m", "tests.e2e.apps", "back", port)
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "HOME": "/tmp",
            "OTEL_SERVICE_NAME": "app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{db_ip}:{ports['http']}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        sidecar = app.spawn(
            "env", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m", "proxy.cli", "sidecar",
            "--ebpf", "--exclude-outbound-ports", "6379", "--drain-grace", "1",
        )  # fmt: skip
        try:
            reported = exercise(app, db, app_ip, db_ip, spans_file)
        finally:  # SIGTERM: the sidecar stops its proxy, which takes bpftrace with it
            sidecar.terminate()
            _, log = sidecar.communicate(timeout=30)
        assert reported, log[-3000:]
    spans = json.loads(spans_file.read_text())
    tcp = [s for s in spans if s["attributes"].get("network.transport") == "tcp"]
    assert len(tcp) == 1, [(s["name"], s["attributes"]) for s in tcp]
    [redis] = tcp
    attributes = redis["attributes"]
    assert (redis["name"], redis["kind"], redis["service"]) == (f"TCP {db_ip}:6379", KIND_CLIENT, "app")
    assert (attributes["client.address"], attributes["network.peer.address"]) == (app_ip, db_ip)
    assert attributes["tracecar.tcp.bytes_from_client"] == len(SET)
    assert attributes["tracecar.tcp.bytes_from_server"] == len(b"+OK\r\n")
    assert attributes["tracecar.tcp.end"] == "close" and redis["status"] == 0
    # The payload the fallback captured went through the same Redis parser as the proxy's relay.
    commands = [s for s in spans if "db.system.name" in s["attributes"]]
    assert [(c["kind"], c["service"], c["attributes"]["db.operation.name"]) for c in commands] == [
        (KIND_CLIENT, "app", "SET")
    ]
    assert commands[0]["attributes"]["db.system.name"] == "redis"
    http = sorted((s["kind"], s["name"]) for s in spans if "http.request.method" in s["attributes"])
    assert http == [(KIND_SERVER, "GET /orders/{id}"), (KIND_CLIENT, "GET /stock/{id}")], http
    assert '\ntracecar_ebpf_connections_total{outcome="reported"} 1\n' in reported
