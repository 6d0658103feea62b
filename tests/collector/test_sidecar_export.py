"""The tracecar proxy itself exporting to the embedded collector, and a collector that is slow or gone
never failing the application's requests (the proxy drops and counts spans instead).

    curl-like client --> tracecar proxy --upstream --> app
                              \\--- OTLP ---> collector (in this process)
"""

from __future__ import annotations

import http.client
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.collector.model import KIND_SERVER
from tests.collector.running import RunningCollector
from tests.e2e.test_w3c_through_sidecar import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]


class Sidecar:
    def __init__(self, endpoint: str, protocol: str) -> None:
        self.app_port, self.inbound, outbound, self.admin = (free_port() for _ in range(4))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        self.app = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.apps", "back", str(self.app_port)], env=env
        )
        self.proxy = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "proxy", "--no-ipv6",
             "--upstream", f"127.0.0.1:{self.app_port}", "--inbound-port", str(self.inbound),
             "--outbound-port", str(outbound), "--admin-port", str(self.admin)],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_listening(self.app_port)
        wait_listening(self.inbound)

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.inbound, timeout=10)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        return status

    def metric(self, name: str) -> float:
        connection = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
        found = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def close(self) -> None:
        for process in (self.proxy, self.app):
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def sidecar_and_collector(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Sidecar, RunningCollector]]:
    protocol: str = request.param
    with RunningCollector(tmp_path / "traces.db") as collector:
        endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
        sidecar = Sidecar(endpoint, protocol)
        try:
            yield sidecar, collector
        finally:
            sidecar.close()


@pytest.mark.parametrize("sidecar_and_collector", ["grpc", "http/protobuf"], indirect=True)
def test_proxy_spans_land_in_the_collector(sidecar_and_collector: tuple[Sidecar, RunningCollector]) -> None:
    sidecar, collector = sidecar_and_collector
    assert all(sidecar.get(f"/orders/{n}") == 200 for n in range(3))
    spans = collector.wait_for_spans(3)
    assert {span.service for span in spans} == {"shop"}
    assert {span.kind for span in spans} == {KIND_SERVER}
    assert len({span.trace_id for span in spans}) == 3  # no incoming context: a trace per request
    assert all(span.attributes.get("http.response.status_code") == 200 for span in spans)


@pytest.mark.parametrize("sidecar_and_collector", ["grpc"], indirect=True)
def test_a_slow_then_stopped_collector_never_fails_a_request(
    sidecar_and_collector: tuple[Sidecar, RunningCollector],
) -> None:
    sidecar, collector = sidecar_and_collector
    assert sidecar.get("/warm-up") == 200
    collector.wait_for_spans(1)
    # Slow: the collector's database is locked, its writer stalls, exports wait.
    blocker = sqlite3.connect(collector.config.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    statuses = [sidecar.get(f"/slow/{n}") for n in range(20)]
    blocker.execute("ROLLBACK")
    blocker.close()
    # Gone: the collector stops while requests keep coming.
    collector.stop()
    statuses += [sidecar.get(f"/down/{n}") for n in range(40)]
    assert statuses == [200] * 60
    deadline = time.monotonic() + 30
    while (
        sidecar.metric("tracecar_spans_export_failed_total") + sidecar.metric("tracecar_spans_dropped_total")
        == 0
    ):
        assert time.monotonic() < deadline, "the proxy never counted a span it could not deliver"
        time.sleep(0.2)
