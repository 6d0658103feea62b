"""The OTLP collector down, slow, or answering errors: the proxy's requests all succeed as fast as
before, its memory stays where it was, spans beyond the queue are dropped and counted, and export
resumes when the collector is back. Short exporter timeouts keep each phase to about a second; the
soak run (loadtests/soak.py --collector-down) holds such a fault for minutes."""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.proxy_process import ProxyProcess, proxy_process
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.upstream import HttpServer

QUEUE = 200
BURST = 800  # four queues' worth per fault


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def burst(port: int, count: int, path: str) -> list[float]:
    """`count` requests on one keep-alive connection; each one's latency. All must answer 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200
    connection.close()
    return latencies


def paths(receiver: OtlpReceiver) -> list[str]:
    return [a.value.string_value for s in receiver.spans() for a in s.attributes if a.key == "url.path"]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ProxyProcess, OtlpReceiver]]:
    upstream = HttpServer(record=False)
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "300",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE),
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "50",
        }
        with proxy_process(upstream.port, tmp_path, env=env) as proxy:
            yield proxy, receiver
    upstream.close()


def test_collector_faults_do_not_touch_the_data_path(setup: tuple[ProxyProcess, OtlpReceiver]) -> None:
    proxy, receiver = setup
    burst(proxy.inbound, BURST, "/warm-up")  # the allocator's and the queue's high-water marks
    receiver.wait_for_spans(QUEUE // 2)
    before = statistics.median(burst(proxy.inbound, BURST, "/before"))
    rss_before = rss_kib(proxy.process.pid)

    receiver.stop()  # down: connections refused
    down = burst(proxy.inbound, BURST, "/down")
    receiver.start()
    receiver.stall()  # slow: every export hangs past the exporter's timeout
    slow = burst(proxy.inbound, BURST, "/slow")
    receiver.release()
    receiver.fail_next(1000, http_status=503)  # answering errors (retryable ones, retried in vain)
    failing = burst(proxy.inbound, BURST, "/failing")
    rss_during = rss_kib(proxy.process.pid)
    dropped = proxy.metric("tracecar_spans_dropped_total")
    receiver.clear_failures()  # the collector is back
    deadline = time.monotonic() + 10
    while proxy.metric("tracecar_spans_queued") and time.monotonic() < deadline:
        time.sleep(0.05)  # what was queued during the faults leaves first

    burst(proxy.inbound, 20, "/recovered")
    while paths(receiver).count("/recovered") < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paths(receiver).count("/recovered") == 20
    assert dropped >= BURST  # whole bursts could not be queued, and were counted
    # The queue is bounded, so memory is too; generous for a shared, noisy machine.
    assert rss_during - rss_before < 16 * 1024, (rss_before, rss_during)
    for fault in (down, slow, failing):  # no request waited on the exporter
        assert statistics.median(fault) < max(before * 5, 0.02), (before, statistics.median(fault))
        assert max(fault) < 1.0
