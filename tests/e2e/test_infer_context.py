"""`--infer-context`: an application that forwards no trace headers still gives one trace.

    client --> [A: forgetful app :8080 | tracecar --infer-context] --> [B: back app :8080 | tracecar]

The application in A calls B without the `traceparent` it received. A's outbound request carries
no context, and exactly one inbound request is in flight in A, so A's sidecar takes it for that
request's child: SERVER(A) -> CLIENT(A) -> SERVER(B), one trace. A request that brings a context of
its own keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_two_pods import (
    INCOMING,
    KIND_CLIENT,
    KIND_SERVER,
    spans_of_trace,
    start_apps,
    start_receiver,
    start_sidecar,
    two_pods,
)
from tests.netns import Topology

pytestmark = pytest.mark.netns
FLAG_PARENT_IS_REMOTE = 0x300  # OTLP Span.flags: "is remote" known (0x100) and set (0x200)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    spans_file = tmp_path_factory.mktemp("otlp") / "spans.json"
    with Topology() as topology:
        client, a, b, collector, to_a, a_to_b, a_col, b_col = two_pods(topology)
        ports = start_receiver(collector, spans_file)
        back_url = f"http://{a_to_b.b.address(4)}:8080/inventory/sku-9"
        start_apps((b, ("back", "8080")), (a, ("forgetful", "8080", back_url)))
        endpoint_a = f"http://{a_col.b.address(4)}:{ports['http']}"
        endpoint_b = f"http://{b_col.b.address(4)}:{ports['http']}"
        sidecars = [
            start_sidecar(a, "front", endpoint_a, "http/protobuf", "--infer-context"),
            start_sidecar(b, "back", endpoint_b, "http/protobuf"),
        ]
        yield {"client": client, "a_address": to_a.b.address(4), "spans": spans_file, "sidecars": sidecars}


def test_the_application_forwards_nothing_and_the_trace_holds(shop: dict[str, Any]) -> None:
    result = shop["client"].run(
        "curl", "-sS", "-H", f"traceparent: {INCOMING}", f"http://{shop['a_address']}:8080/buy/3"
    )
    seen = json.loads(result.stdout)["seen"]["traceparent"]
    trace_id = INCOMING.split("-")[1]
    assert seen.split("-")[1] == trace_id  # B's application is in the caller's trace

    spans = {(s["service"], s["kind"]): s for s in spans_of_trace(shop, trace_id, 3)}
    server_a, client_a, server_b = (
        spans["front", KIND_SERVER],
        spans["front", KIND_CLIENT],
        spans["back", KIND_SERVER],
    )
    assert server_a["parent_span_id"] == INCOMING.split("-")[2]
    assert client_a["parent_span_id"] == server_a["span_id"]  # inferred: the one request in flight
    assert server_b["parent_span_id"] == client_a["span_id"]
    # The inferred parent is marked as what it is, a span of this very proxy, not a remote context.
    assert client_a["flags"] & FLAG_PARENT_IS_REMOTE == 0x100
    assert server_a["flags"] & FLAG_PARENT_IS_REMOTE == FLAG_PARENT_IS_REMOTE
