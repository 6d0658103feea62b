"""`tracecar demo` run as a user runs it, headless: the trace tree it produced, nothing left behind,
a second run right after the first, and a clear refusal without root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from proxy.collector.model import KIND_CLIENT, KIND_SERVER, Span
from proxy.collector.store import Store
from proxy.demo import topology

DEMO_TIMEOUT_S = 90


def demo(*args: str, launch: tuple[str, ...] = ("-m", "proxy.cli")) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *launch, "demo", *args],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
        cwd="/",
        env={**os.environ, "NO_COLOR": "1"},
    )


def leftovers() -> list[str]:
    found = topology.leftovers()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    if topology.HOST_LINK + ":" in links or topology.HOST_LINK + "@" in links:
        found.append(topology.HOST_LINK)
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    found += [line for line in processes.splitlines() if "proxy.demo.apps" in line or "tcdemo" in line]
    return found


def trees(spans: list[Span]) -> dict[str, list[Span]]:
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    return by_trace


def check_complete_trace(spans: list[Span]) -> None:
    """frontend SERVER -> frontend CLIENT -> checkout SERVER (gRPC), one trace."""
    for trace in trees(spans).values():
        ids = {span.span_id: span for span in trace}
        for server in trace:
            client = ids.get(server.parent_span_id or "")
            if server.service == "checkout" and server.kind == KIND_SERVER and client is not None:
                root = ids.get(client.parent_span_id or "")
                assert (client.service, client.kind) == ("frontend", KIND_CLIENT)
                assert root is not None and (root.service, root.kind, root.parent_span_id) == (
                    "frontend",
                    KIND_SERVER,
                    None,
                )
                attributes = server.attributes
                assert attributes["rpc.system"] == "grpc"
                assert (attributes["rpc.service"], attributes["rpc.method"]) == (
                    "shop.Checkout",
                    "PlaceOrder",
                )
                return
    pytest.fail("no trace reached checkout's gRPC server span through the frontend")


def check_broken_hop(spans: list[Span], report: dict[str, Any]) -> None:
    """Inventory's requests are in traces of their own, started at checkout's CLIENT span."""
    inventory = [s for s in spans if s.service == "inventory" and s.kind == KIND_SERVER]
    assert inventory
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    for server in inventory:
        parent = by_id[(server.trace_id, server.parent_span_id or "")]
        assert (parent.service, parent.kind, parent.parent_span_id) == ("checkout", KIND_CLIENT, None)
    assert report["broken_hop"]["traces"] == len(inventory)
    redis = [s for s in spans if "db.system.name" in s.attributes or "db.system" in s.attributes]
    assert redis and report["db_commands"]["linked_to_request"] > len(redis) // 2
    linked = [s for s in redis if by_id.get((s.trace_id, s.parent_span_id or ""))]
    assert {by_id[(s.trace_id, s.parent_span_id or "")].kind for s in linked} == {KIND_SERVER}
    assert {s.service for s in redis} == {"inventory"}
    assert {s.name for s in redis} >= {"GET", "DECRBY", "INCRBY"}


@pytest.mark.netns
def test_demo_traces_the_shop_twice_and_leaves_nothing(tmp_path: Path) -> None:
    for run in (1, 2):
        db = tmp_path / f"run{run}.db"
        result = demo("--duration", "3", "--json", "--web-port", "0", "--db", str(db))
        assert result.returncode == 0, f"run {run}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        report = json.loads(result.stdout)
        assert leftovers() == [], f"run {run} left these behind"
        requests = report["requests"]
        assert requests["sent"] > 20 and requests["ok"] > 10
        assert {"404", "503"} <= set(requests["by_status"])
        assert report["failed_trace"] is not None and report["error_spans"] > 0
        assert set(report["spans_per_service"]) >= {"frontend", "checkout", "inventory"}
        spans = Store(db, readonly=True).recent_spans(1_000_000)
        assert len(spans) == report["spans"]
        check_complete_trace(spans)
        check_broken_hop(spans, report)
        failed = [s for s in spans if s.service == "frontend" and s.kind == KIND_SERVER and s.is_error]
        assert {s.attributes.get("http.response.status_code") for s in failed} == {503}


# The command runs as nobody, but is loaded and its arguments parsed as root first: the checkout,
# its virtualenv and the interpreter's own library need not be readable by nobody (a private
# temporary directory, an interpreter under /root).
AS_NOBODY = """
import os, pwd, sys
import proxy.cli, proxy.demo.run
args = proxy.cli.build_parser().parse_args(sys.argv[1:])
user = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
sys.exit(args.run(args))
"""


@pytest.mark.netns
def test_demo_without_root_says_so_and_exits_2() -> None:
    result = demo("--duration", "1", launch=("-c", AS_NOBODY))
    assert result.returncode == 2
    assert "needs root" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.netns
def test_demo_serve_keeps_the_page_up_until_ctrl_c_then_cleans_up() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "demo", "--duration", "1", "--serve", "--web-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    # Whatever happens, the demo is stopped in time: reading its output can then never hang.
    watchdog = threading.Timer(DEMO_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("serving the traces at "):
                url = line.split()[4]
                break
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
            assert "frontend" in page.read().decode()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=DEMO_TIMEOUT_S) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert leftovers() == []
