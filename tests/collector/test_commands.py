"""`tracecar collector` and `tracecar traces` as a user runs them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from proxy.collector.store import Store
from tests.collector.factory import span
from tests.collector.process import CollectorProcess
from tests.collector.running import RunningCollector
from tests.collector.test_receivers import emit_trace
from tests.collector.test_web_page import fetch
from tests.test_cli import tracecar


def test_collector_then_traces_list_waterfall_and_url(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    with CollectorProcess(db) as collector:
        trace_id = emit_trace(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.grpc_port}", insecure=True), "shop"
        )
        listing = tracecar("traces", "--db", str(db))
        assert listing.returncode == 0, listing.stderr
        assert trace_id in listing.stdout and "shop: GET /checkout" in listing.stdout
        waterfall = tracecar("traces", "--db", str(db), trace_id[:10], "--width", "100")
        lines = waterfall.stdout.splitlines()
        assert lines[2].startswith("shop GET /checkout [server]") and "█" in lines[2]
        assert "↳ shop SELECT stock [client]" in lines[3] and lines[3].endswith("ERROR no stock")
        assert "\x1b[" not in waterfall.stdout  # not a terminal: no colours
        url = f"http://127.0.0.1:{collector.web_port}"
        remote = tracecar("traces", "--url", url, trace_id, "--width", "100")
        assert remote.stdout == waterfall.stdout
        as_json = json.loads(tracecar("traces", "--url", url, "--errors", "--json").stdout)
        assert [t["trace_id"] for t in as_json] == [trace_id]
        assert json.loads(tracecar("traces", "--url", url, "--service", "nobody", "--json").stdout) == []
        slow = tracecar("traces", "--db", str(db), "--min-duration", "1h")
        assert "no traces" in slow.stdout
    assert collector.process is not None and collector.process.returncode == 0  # SIGTERM: a clean stop


def test_traces_says_what_is_wrong(tmp_path: Path) -> None:
    missing = tracecar("traces", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "no trace database" in missing.stderr
    (tmp_path / "notes.txt").write_text("not a database, but a file\n" * 100)
    alien = tracecar("traces", "--db", str(tmp_path / "notes.txt"))
    assert alien.returncode == 1 and "not a tracecar trace database" in alien.stderr
    Store(tmp_path / "t.db").insert([span("a", "b")])
    unknown = tracecar("traces", "--db", str(tmp_path / "t.db"), "ffffffff")
    assert unknown.returncode == 1 and "no trace ffffffff" in unknown.stderr
    bad = tracecar("traces", "--db", str(tmp_path / "t.db"), "--min-duration", "soon")
    assert bad.returncode == 1 and "not a duration" in bad.stderr
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = tracecar("traces", "--url", f"http://127.0.0.1:{port}")
    assert down.returncode == 1 and "cannot reach the collector" in down.stderr


def test_collector_refuses_bad_options(tmp_path: Path) -> None:
    bad = tracecar("collector", "--db", str(tmp_path / "t.db"), "--retention-bytes", "lots")
    assert bad.returncode == 2 and "not a size" in bad.stderr


@pytest.mark.parametrize("where", ["missing/dir/t.db", "not-sqlite.db"])
def test_collector_says_why_it_cannot_use_the_database(tmp_path: Path, where: str) -> None:
    (tmp_path / "not-sqlite.db").write_text("spans? no, a note\n")
    ports = ("--grpc-port", "0", "--http-port", "0", "--web-port", "0")
    result = tracecar("collector", "--db", str(tmp_path / where), "--host", "127.0.0.1", *ports)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"cannot use {tmp_path / where} as the trace database" in result.stderr
    assert (tmp_path / "not-sqlite.db").read_text() == "spans? no, a note\n"  # left as it was


@pytest.mark.parametrize("option", ["--grpc-port", "--http-port"])
def test_collector_refuses_a_taken_port(tmp_path: Path, option: str) -> None:
    ports = {"--grpc-port": "0", "--http-port": "0", "--web-port": "0"}
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # grpc would share it, were it let
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports[option] = str(taken.getsockname()[1])
        busy = tracecar("collector", "--db", str(tmp_path / "t.db"), "--host", "127.0.0.1",
                        *(item for pair in ports.items() for item in pair))  # fmt: skip
    assert busy.returncode == 1 and "tracecar collector:" in busy.stderr and "Traceback" not in busy.stderr


def test_web_page_can_share_the_otlp_http_port(tmp_path: Path) -> None:
    with RunningCollector(tmp_path / "t.db", web_port=None) as collector:
        assert collector.collector.web_port == collector.collector.http_port
        assert "Find traces" in fetch(collector.http_endpoint + "/")
        health = json.loads(fetch(collector.http_endpoint + "/healthz"))
        assert health == {"status": "ok", "stored_spans": 0, "pending_spans": 0, "refused_spans": 0}
