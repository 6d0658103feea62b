"""The `tracecar` console script, run as users run it: a real process, real arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proxy.cli import build_parser


def tracecar(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def subcommands() -> list[str]:
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    return sorted(actions[0].choices or {})


def test_every_subcommand_explains_itself() -> None:
    """`tracecar --help` lists every subcommand and `tracecar X --help` explains every option."""
    top = tracecar("--help")
    assert top.returncode == 0
    for name in subcommands():
        assert name in top.stdout
        sub = tracecar(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert f"usage: tracecar {name}" in sub.stdout


def test_context_decodes_and_forwards() -> None:
    result = tracecar(
        "context",
        "--json",
        "-H",
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "-H",
        "tracestate: congo=t61rcWkgMzE",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["incoming"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert report["incoming"]["tracestate"] == {"congo": "t61rcWkgMzE"}
    forwarded = dict(report["forwarded_headers"])
    assert forwarded["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert report["this_hop"]["span_id"] != "00f067aa0ba902b7"


def test_context_reads_stdin() -> None:
    result = tracecar("context", "--propagators", "b3", stdin="Host: x\nb3: 0\n")
    assert result.returncode == 0, result.stderr
    assert "no valid context" in result.stdout
    assert "sampled=False" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("context", "-H", "no colon here"), "not a header line"),
        (("context", "--propagators", "jaeger", "-H", "a: b"), "OTEL_PROPAGATORS"),
        (("demo", "--duration", "0"), "--duration must be"),
        (("proxy", "--max-header-bytes", "100"), "--max-header-bytes must be from 1024"),
        (("proxy", "--request-header-timeout", "0"), "--request-header-timeout must be above 0"),
        (("proxy", "--idle-timeout", "-1"), "--idle-timeout must be above 0"),
        (("proxy", "--upstream-idle-timeout", "0"), "--upstream-idle-timeout must be above 0"),
        # Once every request was answered 504 (or its connect given up at once); now it is refused.
        (("proxy", "--response-timeout", "0"), "--response-timeout must be above 0"),
        (("proxy", "--connect-timeout", "-5"), "--connect-timeout must be above 0"),
        (("proxy", "--connect-timeout", "nan"), "--connect-timeout must be above 0"),
        # A port over 65535 was bound modulo 65536, and 0 to whatever port the kernel chose.
        (("proxy", "--admin-port", "70000"), "not a TCP port (1-65535)"),
        (("proxy", "--inbound-port", "0"), "not a TCP port (1-65535)"),
        (("proxy", "--upstream", "127.0.0.1:70000"), "--upstream wants HOST:PORT"),
        (("proxy", "--drain-grace", "-1"), "--drain-grace must be 0 seconds or more"),
        (("proxy", "--drain-grace", "nan"), "--drain-grace must be 0 seconds or more"),
        (("collector", "--http-port", "70000"), "not a TCP port (1-65535)"),
        (("demo", "--web-port", "-1"), "not a TCP port (1-65535)"),
        (("ebpf", "--metrics-port", "65536"), "not a TCP port (1-65535)"),
        (("webhook", "--port", "0"), "not a TCP port (1-65535)"),
        (("proxy", "--route", "users/{user}"), "a template is a path from its first slash"),
        (("proxy", "--outbound-port", "15006"), "must be three different ports"),
        # Once an OverflowError traceback, after the listeners were up.
        (("proxy", "--run-as", "1337:99999999999"), "--run-as wants UID or UID:GID"),
    ],
)
def test_bad_input_is_a_clear_error(args: tuple[str, ...], message: str) -> None:
    result = tracecar(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
