"""`tracecar init` argument handling, without root: help, validation and the dry run."""

from __future__ import annotations

import argparse
import re

import pytest

from proxy.cli import build_parser, main
from proxy.interception.plan import render_dry_run
from proxy.interception.rules import InterceptionConfig, build_rulesets, parse_cidrs

OPTIONS = (
    "--proxy-uid", "--inbound-port", "--outbound-port", "--admin-port",
    "--exclude-inbound-ports", "--exclude-outbound-ports",
    "--include-outbound-cidrs", "--exclude-outbound-cidrs",
    "--ipv6", "--no-ipv6", "--backend", "--dry-run", "--cleanup",
)  # fmt: skip


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["init", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in OPTIONS:
        entry = rf"^\s+(--[\w-]+, )?{re.escape(option)}\b"
        described = re.search(entry, help_text, re.MULTILINE)
        assert described, option
    assert "TRACECAR_INBOUND" in help_text


def test_every_option_has_a_help_text() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    init = commands.choices["init"]
    options = {option for action in init._actions for option in action.option_strings}
    assert options == {*OPTIONS, "-h", "--help"}
    assert all(action.help for action in init._actions)


def test_options_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["init", "--proxy-uid", "2000", "--exclude-inbound-ports", "22,80",
         "--include-outbound-cidrs", "10.0.0.0/8", "--no-ipv6", "--backend", "nft"]
    )  # fmt: skip
    assert args.proxy_uid == 2000
    assert args.exclude_inbound_ports == (22, 80)
    assert args.include_outbound_cidrs == parse_cidrs("10.0.0.0/8")
    assert args.exclude_outbound_cidrs == ()
    assert args.ipv6 is False
    assert args.backend == "nft"


def test_defaults_redirect_everything_over_both_families() -> None:
    args = build_parser().parse_args(["init"])
    assert (args.include_outbound_cidrs, args.ipv6, args.backend) == (None, True, "auto")
    assert (args.inbound_port, args.outbound_port, args.admin_port) == (15006, 15001, 15000)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--inbound-port", "70000"], "not a TCP port"),
        (["--outbound-port", "1,2"], "not a single TCP port"),
        (["--proxy-uid", "proxy"], "not a numeric uid"),
        (["--proxy-uid", "4294967295"], "not a numeric uid (0 to 4294967294)"),  # (uid_t) -1: "no change"
        (["--exclude-outbound-cidrs", "10.0.0.0/40"], "not an IPv4 or IPv6 CIDR"),
        (["--backend", "iptables"], "invalid choice"),
    ],
)
def test_bad_values_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["init", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "ports", [("--inbound-port", "15001"), ("--admin-port", "15006"), ("--outbound-port", "15000")]
)
def test_the_three_listeners_need_three_ports(
    ports: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """One port for two listeners: both would bind it (SO_REUSEPORT) and take each other's connections."""
    assert main(["init", "--dry-run", *ports]) == 2
    captured = capsys.readouterr()
    assert "must be three different ports" in captured.err and captured.out == ""


def test_dry_run_prints_the_rules_without_root(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["init", "--dry-run", "--exclude-outbound-cidrs", "10.96.0.0/12", "--no-ipv6"])
    config = InterceptionConfig(exclude_outbound_cidrs=parse_cidrs("10.96.0.0/12"), ipv6=False)
    assert code == 0
    assert capsys.readouterr().out == render_dry_run(build_rulesets(config))
