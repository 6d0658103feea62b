"""Two pods, each with its sidecar behind real iptables, and a real OTLP receiver in a third.

    client --> [A: front app :8080 | tracecar] --> [B: back app :8080 | tracecar]
                          \\______ spans (OTLP gRPC / HTTP) ______/--> [collector]

The front application forwards the trace headers it receives, nothing more; the sidecars do the
rest. One request must give SERVER(A) -> CLIENT(A) -> SERVER(B) in one trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netns import Link, Pod, Topology

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PROXY_UID = "1337"
KIND_SERVER, KIND_CLIENT = 2, 3
INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def python(*args: str) -> tuple[str, ...]:
    return (PYTHON, *args)


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_sidecar(
    pod: Pod, service: str, endpoint: str, protocol: str, *options: str
) -> subprocess.Popen[str]:
    pod.run(*python("-m", "proxy.cli", "init"), env=_env())
    env = {
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "POD_NAME": f"{service}-7d4b9c",
        "POD_NAMESPACE": "shop",
    }
    variables = [f"{k}={v}" for k, v in {**_env(), **env}.items()]
    proxy = pod.spawn("env", *variables, *python("-m", "proxy.cli", "proxy", "--run-as", PROXY_UID, *options))
    try:
        wait_for(lambda: ":15006 " in pod.run("ss", "-ltnH").stdout, 10, f"{service} sidecar listening")
    except AssertionError:
        proxy.kill()
        raise AssertionError(f"{service} sidecar did not start: {proxy.communicate()[1][-2000:]}") from None
    return proxy


def _env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/tmp"}


def start_receiver(collector: Pod, spans_file: Path) -> dict[str, int]:
    """The real OTLP receiver in `collector`, keeping `spans_file` up to date; its ports by protocol."""
    receiver = collector.spawn(*python("-m", "tests.e2e.receiver_serve", str(spans_file)))
    assert receiver.stdout is not None
    return dict(json.loads(receiver.stdout.readline()))


def start_sidecars(
    front: tuple[Pod, Link], back: tuple[Pod, Link], ports: dict[str, int]
) -> list[subprocess.Popen[str]]:
    """Sidecars for the "front" and "back" pods, exporting over OTLP gRPC and OTLP HTTP, each on
    its own link to the collector."""
    (a, a_col), (b, b_col) = front, back
    return [
        start_sidecar(a, "front", f"http://{a_col.b.address(4)}:{ports['grpc']}", "grpc"),
        start_sidecar(b, "back", f"http://{b_col.b.address(4)}:{ports['http']}", "http/protobuf"),
    ]


def two_pods(topology: Topology) -> tuple[Pod, Pod, Pod, Pod, Link, Link, Link, Link]:
    """client -> a -> b, and a collector linked to a and b: the pods, then the four links."""
    client, a, b, collector = (topology.pod(r) for r in ("client", "a", "b", "collector"))
    to_a, a_to_b = topology.link(client, a), topology.link(a, b)
    return client, a, b, collector, to_a, a_to_b, topology.link(a, collector), topology.link(b, collector)


def start_apps(*apps: tuple[Pod, tuple[str, ...]]) -> None:
    """`tests.e2e.apps` with these arguments in these pods, each ready to serve."""
    for pod, args in apps:
        app = pod.spawn(*python("-m", "tests.e2e.apps", *args))
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    spans_file = tmp_path_factory.mktemp("otlp") / "spans.json"
    with Topology() as topology:
        client, a, b, collector, to_a, a_to_b, a_col, b_col = two_pods(topology)
        ports = start_receiver(collector, spans_file)
        back_url = f"http://{a_to_b.b.address(4)}:8080/inventory/sku-9"
        back_url6 = f"http://[{a_to_b.b.address(6)}]:8080/inventory/sku-6"
        start_apps((b, ("back", "8080")), (a, ("front", "8080", back_url)), (a, ("front", "8086", back_url6)))
        sidecars = start_sidecars((a, a_col), (b, b_col), ports)
        yield {
            "client": client,
            "a_address": to_a.b.address(4),
            "a_address6": to_a.b.address(6),
            "b_address6": a_to_b.b.address(6),
            "spans": spans_file,
            "sidecars": sidecars,
        }


def spans_of_trace(shop: dict[str, Any], trace_id: str, count: int) -> list[dict[str, Any]]:
    spans_file: Path = shop["spans"]

    def received() -> list[dict[str, Any]]:
        return json.loads(spans_file.read_text()) if spans_file.exists() else []

    def ready() -> list[dict[str, Any]]:
        spans = [s for s in received() if s["trace_id"] == trace_id]
        return spans if len(spans) >= count else []

    try:
        return list(wait_for(ready, 15, f"{count} spans of trace {trace_id}"))
    except AssertionError:
        logs = []
        for sidecar in shop["sidecars"]:
            sidecar.terminate()
            logs.append(sidecar.communicate(timeout=10)[1][-1500:])
        summary = [(s["service"], s["kind"], s["trace_id"]) for s in received()]
        raise AssertionError(f"received {summary}; sidecar logs: {logs}") from None


def test_one_request_gives_one_trace_across_two_pods(shop: dict[str, Any]) -> None:
    url = f"http://{shop['a_address']}:8080/checkout/42?coupon=x"
    result = shop["client"].run("curl", "-sS", "-H", f"traceparent: {INCOMING}", url)
    answer = json.loads(result.stdout)
    assert answer["service"] == "back"
    trace_id = INCOMING.split("-")[1]
    assert answer["seen"]["traceparent"].split("-")[1] == trace_id  # the trace reached B's application

    spans = spans_of_trace(shop, trace_id, 3)
    by_role = {(s["service"], s["kind"]): s for s in spans}
    server_a, client_a, server_b = (
        by_role["front", KIND_SERVER],
        by_role["front", KIND_CLIENT],
        by_role["back", KIND_SERVER],
    )
    assert server_a["parent_span_id"] == INCOMING.split("-")[2]
    assert client_a["parent_span_id"] == server_a["span_id"]
    assert server_b["parent_span_id"] == client_a["span_id"]
    # B's application sees its own sidecar's SERVER span as parent, so its own spans would nest there.
    assert answer["seen"]["traceparent"].split("-")[2] == server_b["span_id"]

    assert server_a["name"] == "GET /checkout/{id}"
    assert server_a["attributes"]["url.path"] == "/checkout/42"
    assert server_a["attributes"]["url.query"] == "coupon=x"
    assert server_a["attributes"]["http.response.status_code"] == 200
    assert server_a["attributes"]["client.address"] == shop["client"].interfaces[0].address(4)
    assert client_a["name"] == "GET /inventory/sku-9"
    assert client_a["attributes"]["url.full"].endswith(":8080/inventory/sku-9")
    assert server_b["attributes"]["http.route"] == "/inventory/sku-9"
    assert server_a["resource"]["k8s.pod.name"] == "front-7d4b9c"
    assert server_b["resource"]["k8s.namespace.name"] == "shop"


def test_a_request_without_context_starts_a_trace_at_the_first_sidecar(shop: dict[str, Any]) -> None:
    result = shop["client"].run("curl", "-sS", f"http://{shop['a_address']}:8080/checkout/7")
    traceparent = json.loads(result.stdout)["seen"]["traceparent"]
    trace_id = traceparent.split("-")[1]
    spans = spans_of_trace(shop, trace_id, 3)
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [(r["service"], r["kind"]) for r in roots] == [("front", KIND_SERVER)]


def test_a_connection_straight_to_the_proxy_port_is_refused_not_looped(shop: dict[str, Any]) -> None:
    """Traffic that was not redirected (its destination is the proxy itself) is refused: no loop."""
    url = f"http://{shop['a_address']}:15006/loop"
    result = shop["client"].run("curl", "-sS", "--max-time", "5", url, check=False)
    assert result.returncode in (52, 56), result  # empty reply / connection reset: no response at all
    ok = shop["client"].run("curl", "-sS", f"http://{shop['a_address']}:8080/checkout/1")
    assert json.loads(ok.stdout)["service"] == "back"  # and the proxy keeps serving


def test_admin_answers_on_the_pod_ip(shop: dict[str, Any]) -> None:
    """/ready and /metrics are reachable from the pod IP (kubelet probes, Prometheus scrapes)."""
    base = f"http://{shop['a_address']}:15000"
    assert (
        shop["client"].run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"{base}/ready").stdout
        == "200"
    )
    metrics = shop["client"].run("curl", "-sS", f"{base}/metrics").stdout
    assert 'tracecar_requests_total{direction="inbound",status_class="2xx"}' in metrics
    drain = shop["client"].run(
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", f"{base}/drain"
    )
    assert drain.stdout == "403"  # state-changing endpoints answer loopback only


def test_ipv6_end_to_end(shop: dict[str, Any]) -> None:
    """IP6T_SO_ORIGINAL_DST on both listeners: client -> A over IPv6, A's app -> B over IPv6."""
    url = f"http://[{shop['a_address6']}]:8086/checkout/6"
    answer = json.loads(shop["client"].run("curl", "-sS", "-g", url).stdout)
    trace_id = answer["seen"]["traceparent"].split("-")[1]
    spans = spans_of_trace(shop, trace_id, 3)
    by_role = {(s["service"], s["kind"]): s for s in spans}
    server_a, client_a = by_role["front", KIND_SERVER], by_role["front", KIND_CLIENT]
    server_b = by_role["back", KIND_SERVER]
    assert client_a["parent_span_id"] == server_a["span_id"]
    assert server_b["parent_span_id"] == client_a["span_id"]
    assert server_a["attributes"]["client.address"] == shop["client"].interfaces[0].address(6)
    assert client_a["attributes"]["network.peer.address"] == shop["b_address6"]  # the original destination
    assert server_b["attributes"]["url.path"] == "/inventory/sku-6"
