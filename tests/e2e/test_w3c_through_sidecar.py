"""The W3C Trace Context conformance cases, through a real sidecar in front of a real application.

For each case the application reports the trace headers it received; the sidecar must have
continued the trace (same trace id, its own new parent id) or restarted it, as the spec requires,
and passed tracestate on or dropped it.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE = "12345678901234567890123456789012"
PARENT = "1234567890123456"
VALID = f"00-{TRACE}-{PARENT}-01"
CONTINUE, RESTART = "continue", "restart"

TRACEPARENT_CASES = [
    ("valid", [("traceparent", VALID)], CONTINUE),
    ("name casing", [("TrAcEpArEnT", VALID)], CONTINUE),
    ("wrong name", [("trace-parent", VALID)], RESTART),
    ("duplicated", [("traceparent", VALID), ("traceparent", f"00-{TRACE[:-1]}1-{PARENT}-01")], RESTART),
    ("version 00 extra", [("traceparent", VALID + ".")], RESTART),
    ("version 00 future part", [("traceparent", VALID + "-what-the-future-will-be-like")], RESTART),
    ("version cc", [("traceparent", f"cc-{TRACE}-{PARENT}-01")], CONTINUE),
    (
        "version cc extended",
        [("traceparent", f"cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like")],
        CONTINUE,
    ),
    ("version cc bad extension", [("traceparent", f"cc-{TRACE}-{PARENT}-01.what-the-future")], RESTART),
    ("version ff", [("traceparent", f"ff-{TRACE}-{PARENT}-01")], RESTART),
    ("version illegal", [("traceparent", f".0-{TRACE}-{PARENT}-01")], RESTART),
    ("version too long", [("traceparent", f"000-{TRACE}-{PARENT}-01")], RESTART),
    ("version too short", [("traceparent", f"0-{TRACE}-{PARENT}-01")], RESTART),
    ("trace id zero", [("traceparent", f"00-{'0' * 32}-{PARENT}-01")], RESTART),
    ("trace id illegal", [("traceparent", f"00-.{TRACE[1:]}-{PARENT}-01")], RESTART),
    ("trace id too long", [("traceparent", f"00-{TRACE}3-{PARENT}-01")], RESTART),
    ("trace id too short", [("traceparent", f"00-{TRACE[1:]}-{PARENT}-01")], RESTART),
    ("trace id upper case", [("traceparent", f"00-{TRACE[:-1]}A-{PARENT}-01")], RESTART),
    ("parent id zero", [("traceparent", f"00-{TRACE}-{'0' * 16}-01")], RESTART),
    ("parent id illegal", [("traceparent", f"00-{TRACE}-.{PARENT[1:]}-01")], RESTART),
    ("parent id too long", [("traceparent", f"00-{TRACE}-{PARENT}7-01")], RESTART),
    ("parent id too short", [("traceparent", f"00-{TRACE}-{PARENT[1:]}-01")], RESTART),
    ("flags illegal", [("traceparent", f"00-{TRACE}-{PARENT}-.0")], RESTART),
    ("flags too long", [("traceparent", f"00-{TRACE}-{PARENT}-001")], RESTART),
    ("flags too short", [("traceparent", f"00-{TRACE}-{PARENT}-1")], RESTART),
    ("leading space", [("traceparent", " " + VALID)], CONTINUE),
    ("trailing tab", [("traceparent", VALID + "\t")], CONTINUE),
    ("missing", [], RESTART),
]

TRACESTATE_CASES = [
    ("inherited", ["foo=1,bar=2"], "foo=1,bar=2"),
    ("combined headers", ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"], "foo=1,bar=2,rojo=1,congo=2,baz=3"),
    ("empty header", [""], None),
    ("empty then value", ["", "foo=1"], "foo=1"),
    ("duplicated key", ["foo=1,foo=2"], None),
    ("duplicated across headers", ["foo=1", "foo=1"], None),
    ("ows", ["foo=1 \t , \t bar=2, \t baz=3"], "foo=1,bar=2,baz=3"),
    ("illegal key", ["foo =1"], None),
    ("upper-case key", ["FOO=1"], None),
    ("33 members", [",".join(f"k{i}=v" for i in range(33))], None),
    ("32 members", [",".join(f"k{i}=v" for i in range(32))], ",".join(f"k{i}=v" for i in range(32))),
]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port bindable now on every address, new to this test session, from below the kernel's
    ephemeral range. A port from bind(0) is in that range, where any outgoing connection may take
    it before the process under test binds it: seen on CI as a proxy that never came up."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(max(1024, low - 12_000), low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


@pytest.fixture(scope="module")
def sidecar() -> Iterator[int]:
    app_port, inbound, outbound, admin = (free_port() for _ in range(4))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none"}
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.apps", "back", str(app_port)], env=env, stdout=subprocess.PIPE
    )
    proxy = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "proxy", "--no-ipv6", "--upstream", f"127.0.0.1:{app_port}",
         "--inbound-port", str(inbound), "--outbound-port", str(outbound), "--admin-port", str(admin)],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(app_port)
        wait_listening(inbound)
        yield inbound
    finally:
        for process in (proxy, app):
            process.terminate()
            process.wait(timeout=30)


def seen(port: int, headers: list[tuple[str, str]]) -> dict[str, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", "/w3c")
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    answer = json.loads(connection.getresponse().read())
    connection.close()
    result: dict[str, str | None] = answer["seen"]
    return result


@pytest.mark.parametrize(
    ("case", "headers", "outcome"), TRACEPARENT_CASES, ids=[c[0] for c in TRACEPARENT_CASES]
)
def test_traceparent_cases(sidecar: int, case: str, headers: list[tuple[str, str]], outcome: str) -> None:
    traceparent = seen(sidecar, headers)["traceparent"]
    assert traceparent is not None
    version, trace_id, parent_id, _ = traceparent.split("-")
    assert version == "00"
    assert parent_id not in (PARENT, "0" * 16)  # the sidecar's own span is the new parent
    assert (trace_id == TRACE) is (outcome == CONTINUE)
    assert trace_id != "0" * 32


@pytest.mark.parametrize(
    ("case", "values", "expected"), TRACESTATE_CASES, ids=[c[0] for c in TRACESTATE_CASES]
)
def test_tracestate_cases(sidecar: int, case: str, values: list[str], expected: str | None) -> None:
    headers = [("traceparent", VALID), *[("tracestate", value) for value in values]]
    assert seen(sidecar, headers)["tracestate"] == expected


def test_tracestate_without_traceparent_is_dropped(sidecar: int) -> None:
    got = seen(sidecar, [("tracestate", "foo=1")])
    assert got["tracestate"] is None
    assert got["traceparent"] is not None
