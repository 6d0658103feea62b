"""`tracecar webhook` and `tracecar webhook certs` as real processes, and the latency benchmark."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import webhook_bench
from tests.webhook.reviews import POD_CREATE

ROOT = Path(__file__).resolve().parents[2]


def tracecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_certs_writes_the_files_and_prints_the_ca_bundle(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = tracecar(
        "webhook", "certs", "--service", "tracecar-webhook", "--namespace", "tracecar", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert base64.b64decode(result.stdout.strip(), validate=True) == (out / "ca.crt").read_bytes()
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(out / "ca.crt"), str(out / "tls.crt")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(out / "tls.crt")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:tracecar-webhook.tracecar.svc," in text
    assert "TLS Web Server Authentication" in text


def test_webhook_refuses_to_start_without_its_certificate(tmp_path: Path) -> None:
    result = tracecar("webhook", "--cert", str(tmp_path / "missing.crt"), "--key", str(tmp_path / "k"))
    assert result.returncode == 1
    assert "cannot load" in result.stderr
    assert "Traceback" not in result.stderr


def test_webhook_process_answers_reviews_and_stops_on_sigterm(tmp_path: Path) -> None:
    with webhook_bench.webhook_process(tmp_path) as port:
        timings = asyncio.run(webhook_bench.round_trips(port, tmp_path / "ca.crt", 3))
    assert len(timings) == 3


def test_review_latency_over_https(capsys: pytest.CaptureFixture[str]) -> None:
    """500 sequential reviews of a realistic pod over one keep-alive connection; p99 is printed
    (target under 10 ms), not asserted: timing depends on the machine."""
    assert POD_CREATE.exists()
    assert webhook_bench.main(["--reviews", "500"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"p50 \d+\.\d+ ms  p99 \d+\.\d+ ms", out), out
    with capsys.disabled():
        print("\n" + out.strip())


def test_certs_subcommand_explains_itself() -> None:
    result = tracecar("webhook", "certs", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: tracecar webhook certs" in result.stdout
    for option in ("--service", "--namespace", "--out", "--days"):
        assert option in result.stdout
