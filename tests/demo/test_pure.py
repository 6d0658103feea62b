"""The demo's pure parts: the network plan, the sidecar options, RESP, the request mix, the findings."""

from __future__ import annotations

import pytest

from proxy.collector.model import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, Span
from proxy.demo import resp, topology
from proxy.demo.report import Result, render
from proxy.demo.services import sidecar_options
from proxy.demo.summary import findings
from proxy.demo.traffic import MIX, UNKNOWN_ITEM, Tally, orders, progress_line

SERVICES = ("frontend", "checkout", "inventory", "redis")


def test_plan_gives_each_service_a_namespace_and_an_address_on_the_subnet() -> None:
    network = topology.plan(SERVICES)
    assert [node.namespace for node in network.nodes] == [f"tcdemo-{s}" for s in SERVICES]
    addresses = [node.address for node in network.nodes]
    assert len(set(addresses)) == 4
    assert all(a in topology.SUBNET and a != topology.HOST_ADDRESS for a in addresses)
    assert all(len(node.hub_link) <= 15 for node in network.nodes)


def test_setup_commands_build_the_hub_first_and_attach_every_link_to_the_bridge() -> None:
    network = topology.plan(SERVICES)
    commands = topology.setup_commands(network)
    assert commands[0] == ["netns", "add", topology.HUB]
    attached = [c[4] for c in commands if c[:2] == ["-n", topology.HUB] and "master" in c]
    assert attached == [topology.HOST_PEER, *(node.hub_link for node in network.nodes)]
    added = [c[2] for c in commands if c[:2] == ["netns", "add"]]
    assert added == [topology.HUB, *(node.namespace for node in network.nodes)]
    assert ["addr", "add", f"{topology.HOST_ADDRESS}/24", "dev", topology.HOST_LINK] in commands


def test_hosts_file_names_every_service() -> None:
    text = topology.hosts_file(topology.plan(SERVICES))
    assert "10.177.0.11 checkout\n" in text
    assert text.startswith("127.0.0.1 localhost\n")


def test_sidecar_options_are_docker_modes_with_route_templates() -> None:
    assert sidecar_options("frontend") == ["--no-ipv6", "--drain-grace", "2", "--route", "/buy/{item}"]
    assert sidecar_options("redis") == ["--no-ipv6", "--drain-grace", "2"]
    assert not any(option.startswith("--exclude") for option in sidecar_options("inventory"))


def test_resp_encodes_commands_and_parses_every_reply_type() -> None:
    assert resp.encode("SET", "k", 5) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert resp.parse(b"+OK\r\n") == ("OK", 5)
    assert resp.parse(b":-3\r\n") == (-3, 5)
    assert resp.parse(b"$-1\r\n") == (None, 5)
    assert resp.parse(b"$2\r\nhi\r\n:1\r\n") == (b"hi", 8)
    assert resp.parse(b"*2\r\n$1\r\na\r\n:7\r\n") == ([b"a", 7], 15)
    error, _ = resp.parse(b"-ERR wrong\r\n")
    assert isinstance(error, resp.RedisError)
    assert str(error) == "ERR wrong"


@pytest.mark.parametrize("partial", [b"", b"+OK", b"$5\r\nab", b"*2\r\n:1\r\n"])
def test_resp_asks_for_more_bytes(partial: bytes) -> None:
    with pytest.raises(resp.Incomplete):
        resp.parse(partial)


def test_the_mix_has_successes_unknown_items_and_items_out_of_stock() -> None:
    paths = orders()
    first = [next(paths) for _ in range(len(MIX) * 2)]
    assert first[: len(MIX)] == first[len(MIX) :]
    assert f"/buy/{UNKNOWN_ITEM}?qty=1" in first
    assert "/buy/poster?qty=1" in first
    assert sum("book" in p for p in first) > len(first) // 5


def test_progress_line_and_tally() -> None:
    tally = Tally(sent=11)
    tally.statuses.update({200: 7, 404: 2, 0: 1})
    assert (tally.ok, tally.failed) == (7, 3)
    line = progress_line(1.5, 3.0, tally)
    assert line.startswith("[" + "#" * 15 + "." * 15 + "]")
    assert "11 requests, 3 failed" in line


def span(trace: str, span_id: str, parent: str | None, service: str, kind: int, **extra: object) -> Span:
    return Span(trace, span_id, parent, service, "op", kind, 0, 1, **extra)  # type: ignore[arg-type]


def test_findings_pick_the_traces_and_count_the_broken_hop_and_linked_commands() -> None:
    spans = [
        # complete: frontend server -> client -> checkout server
        span("t1", "a", None, "frontend", KIND_SERVER),
        span("t1", "b", "a", "frontend", KIND_CLIENT),
        span("t1", "c", "b", "checkout", KIND_SERVER),
        # failed
        span("t2", "d", None, "frontend", KIND_SERVER, status=STATUS_ERROR),
        # broken hop: checkout client -> inventory server -> redis command, and one unlinked command
        span("t3", "e", None, "checkout", KIND_CLIENT),
        span("t3", "f", "e", "inventory", KIND_SERVER),
        span("t3", "g", "f", "inventory", KIND_CLIENT, attributes={"db.system.name": "redis"}),
        span("t4", "h", None, "inventory", KIND_CLIENT, attributes={"db.system.name": "redis"}),
    ]
    found = findings(spans)
    assert (found.traces, found.spans, found.error_spans) == (4, 8, 1)
    assert found.per_service == {"checkout": 2, "frontend": 3, "inventory": 3}
    assert [s.span_id for s in found.complete] == ["a", "b", "c"]
    assert [s.span_id for s in found.failed] == ["d"]
    assert [s.span_id for s in found.broken] == ["e", "f", "g"]
    assert (found.broken_traces, found.db_spans, found.db_linked) == (1, 2, 1)
    assert found.as_json()["complete_trace"]["spans"][2]["kind"] == "SERVER"


def test_findings_of_nothing() -> None:
    found = findings([])
    assert found.traces == 0
    assert found.as_json()["complete_trace"] is None


def test_report_names_the_counts_the_broken_hop_and_the_linked_commands() -> None:
    spans = [
        span("t1", "a", None, "frontend", KIND_SERVER),
        span("t1", "b", "a", "frontend", KIND_CLIENT),
        span("t1", "c", "b", "checkout", KIND_SERVER),
        span("t3", "e", None, "checkout", KIND_CLIENT),
        span("t3", "f", "e", "inventory", KIND_SERVER),
        span("t3", "g", "f", "inventory", KIND_CLIENT, attributes={"db.system.name": "redis"}),
    ]
    tally = Tally(sent=3)
    tally.statuses.update({200: 2, 503: 1})
    result = Result(tally, findings(spans), "http://x/", "")
    text = render(result, width=100)
    assert "requests  3 sent, 2 ok, 1 failed (200: 2, 503: 1)" in text
    assert "traces    2, with 6 spans: checkout 2, frontend 2, inventory 2" in text
    assert "A complete trace" in text and "A failed order" not in text
    flat = " ".join(text.split())
    assert "each of its 1 call there started a trace of its own" in flat
    assert "Redis commands: 1 span, 1 of them linked" in flat
    assert text.endswith("Traces in your browser: http://x/\nThe service graph: http://x/dependencies")
    assert result.as_json()["requests"]["by_status"] == {"200": 2, "503": 1}
