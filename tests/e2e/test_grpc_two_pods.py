"""gRPC and plain h2c through two sidecars behind real iptables, spans to a real OTLP receiver.

    client --> [A: front gRPC app :9090 | tracecar] --> [B: Echo gRPC :9090, h2c app :8081 | tracecar]

A gRPC call to A's front, which calls B, must give SERVER(A) -> CLIENT(A) -> SERVER(B) with the
RPC attributes; curl, nghttp and h2load run in A and speak plain h2c to B through both sidecars.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_two_pods import (
    KIND_CLIENT,
    KIND_SERVER,
    python,
    spans_of_trace,
    start_receiver,
    start_sidecars,
)
from tests.netns import Topology

pytestmark = pytest.mark.netns
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
INCOMING_H2C = "00-7d3efb1b173fecfa5a7d1d6e0b3ee5a1-2f9a1c0b8e7d6c5b-01"

CLIENT_SCRIPT = """
import asyncio, sys, grpc, grpc.aio
from tests.h2.grpc_app import methods
channel = grpc.insecure_channel(sys.argv[1])
call = channel.unary_unary("/demo.Front/Call")
print(call(b"", metadata=(("traceparent", sys.argv[2]),), timeout=10).decode())
echo = methods(channel)
try:
    echo.status(b"14", timeout=10)
except grpc.RpcError as error:
    print(error.code().name)

async def streams():
    async with grpc.aio.insecure_channel(sys.argv[1]) as aio:
        replies = [r async for r in aio.unary_stream("/demo.Echo/ServerStream")(b"3", timeout=10)]
        print(b",".join(replies).decode())
asyncio.run(streams())
"""


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with Topology() as topology:
        client, a, b, collector = (topology.pod(r) for r in ("gclient", "ga", "gb", "gcol"))
        links = [topology.link(*ends) for ends in ((client, a), (a, b), (a, collector), (b, collector))]
        to_a, a_to_b, a_col, b_col = links
        spans_file = tmp_path_factory.mktemp("otlp") / "spans.json"
        ports = start_receiver(collector, spans_file)
        apps = (
            (b, ("tests.h2.grpc_app", "9090")),
            (b, ("tests.h2.h2c_app", "8081")),
            (a, ("tests.h2.grpc_app", "9090", f"{a_to_b.b.address(4)}:9090")),
        )
        for pod, (module, *args) in apps:
            app = pod.spawn(*python("-m", module, *args))
            assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        sidecars = start_sidecars((a, a_col), (b, b_col), ports)
        yield {
            "client": client,
            "a": f"{to_a.b.address(4)}:9090",
            "a_pod": a,  # its outbound traffic to B passes both sidecars
            "b_h2c": f"{a_to_b.b.address(4)}:8081",
            "spans": spans_file,
            "sidecars": sidecars,
        }


def test_grpc_span_tree_across_two_pods(pods: dict[str, Any]) -> None:
    result = pods["client"].run(*python("-c", CLIENT_SCRIPT, pods["a"], INCOMING))
    answer, status, streamed = result.stdout.strip().splitlines()
    assert streamed == "0,1,2"  # grpc.aio, server streaming, through A's sidecar
    trace_id = INCOMING.split("-")[1]
    assert json.loads(answer)["traceparent"].split("-")[1] == trace_id
    assert status == "UNAVAILABLE"  # the status B's application chose, through both sidecars

    spans = spans_of_trace(pods, trace_id, 3)
    by_role = {(s["service"], s["kind"]): s for s in spans}
    server_a, client_a = by_role["front", KIND_SERVER], by_role["front", KIND_CLIENT]
    server_b = by_role["back", KIND_SERVER]
    assert server_a["parent_span_id"] == INCOMING.split("-")[2]
    assert client_a["parent_span_id"] == server_a["span_id"]
    assert server_b["parent_span_id"] == client_a["span_id"]
    assert json.loads(answer)["traceparent"].split("-")[2] == server_b["span_id"]
    assert (server_a["name"], client_a["name"]) == ("demo.Front/Call", "demo.Echo/Unary")
    for span in (server_a, client_a, server_b):
        attributes = span["attributes"]
        assert attributes["rpc.system"] == "grpc"
        assert attributes["rpc.grpc.status_code"] == 0
        assert attributes["server.port"] == 9090
    assert server_b["attributes"]["rpc.service"] == "demo.Echo"
    assert server_b["attributes"]["rpc.method"] == "Unary"


def test_curl_and_nghttp_speak_h2c_through_both_sidecars(pods: dict[str, Any]) -> None:
    url = f"http://{pods['b_h2c']}/plain/7"
    header = f"traceparent: {INCOMING_H2C}"
    curl = pods["a_pod"].run("curl", "-sS", "--http2-prior-knowledge", "-H", header, url)
    seen = json.loads(curl.stdout)["seen"]
    assert seen["path"] == "/plain/7"
    assert seen["traceparent"].split("-")[1] == INCOMING_H2C.split("-")[1]  # replaced, same trace
    assert seen["traceparent"] != INCOMING_H2C
    nghttp = pods["a_pod"].run("nghttp", "-n", "-s", url)  # -n: discard the body, -s: statistics
    assert nghttp.returncode == 0
    spans = spans_of_trace(pods, INCOMING_H2C.split("-")[1], 2)  # A's CLIENT span, B's SERVER span
    server = next(s for s in spans if s["service"] == "back" and s["kind"] == KIND_SERVER)
    client = next(s for s in spans if s["service"] == "front" and s["kind"] == KIND_CLIENT)
    assert server["parent_span_id"] == client["span_id"]
    assert server["name"] == "GET /plain/{id}"
    assert server["attributes"]["network.protocol.version"] == "2"
    assert server["attributes"]["http.response.status_code"] == 200


def test_h2load_many_concurrent_streams(pods: dict[str, Any]) -> None:
    url = f"http://{pods['b_h2c']}/load"
    result = pods["a_pod"].run("h2load", "-n", "2000", "-c", "4", "-m", "100", url, check=False)
    assert result.returncode == 0, result.stderr
    summary = r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed"
    done = re.search(summary, result.stdout)
    assert done is not None, result.stdout
    assert done.groups() == ("2000", "2000", "0"), result.stdout
    assert all(sidecar.poll() is None for sidecar in pods["sidecars"])
