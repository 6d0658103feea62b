"""`tracecar init`: install the nat rules that route a pod's TCP traffic through the proxy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from proxy.interception.errors import InterceptionError
from proxy.interception.plan import render_dry_run
from proxy.interception.rules import (
    DEFAULT_ADMIN_PORT,
    DEFAULT_INBOUND_PORT,
    DEFAULT_OUTBOUND_PORT,
    DEFAULT_PROXY_UID,
    MAX_ID,
    InterceptionConfig,
    RuleSet,
    build_rulesets,
    parse_cidrs,
    parse_include_cidrs,
    parse_ports,
)

_T = TypeVar("_T")

_DESCRIPTION = """\
Install nat rules in the current network namespace (run it in the pod's, as root): inbound TCP
is redirected to the proxy's inbound listener, outbound TCP to its outbound listener. Traffic of
the proxy's own uid, the application's loopback traffic and the proxy's ports are never
redirected. Rules live in the chains TRACECAR_INBOUND, TRACECAR_IN_REDIRECT, TRACECAR_OUTBOUND
and TRACECAR_REDIRECT, hooked from PREROUTING and OUTPUT; running init again replaces them.
Lists are comma-separated."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init",
        help="install the iptables rules that send a pod's traffic through the proxy",
        description=_DESCRIPTION,
    )
    add_interception_options(parser)
    _add_mode_options(parser)
    parser.set_defaults(run=run)


def add_interception_options(parser: argparse.ArgumentParser) -> None:
    """The options `tracecar sidecar` shares with `tracecar init`: ports, uid, exclusions, families."""
    _add_proxy_options(parser)
    _add_exclusion_options(parser)
    _add_family_options(parser)


def add_exclusion_options(parser: argparse.ArgumentParser) -> None:
    """What bypasses the proxy: `tracecar proxy --ebpf` and `tracecar ebpf` report exactly that."""
    _add_exclusion_options(parser)


def _add_proxy_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--proxy-uid",
        type=_uid,
        default=DEFAULT_PROXY_UID,
        metavar="UID",
        help="uid the proxy runs as; its connections are never redirected (default %(default)s)",
    )
    add(
        "--inbound-port",
        type=_port,
        default=DEFAULT_INBOUND_PORT,
        metavar="PORT",
        help="port of the proxy's inbound listener (default %(default)s)",
    )
    add(
        "--outbound-port",
        type=_port,
        default=DEFAULT_OUTBOUND_PORT,
        metavar="PORT",
        help="port of the proxy's outbound listener (default %(default)s)",
    )
    add(
        "--admin-port",
        type=_port,
        default=DEFAULT_ADMIN_PORT,
        metavar="PORT",
        help="port of the proxy's admin endpoint, never redirected (default %(default)s)",
    )


def _add_exclusion_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--exclude-inbound-ports",
        type=_argument_type(parse_ports),
        default=(),
        metavar="PORTS",
        help="inbound destination ports that reach the application directly",
    )
    add(
        "--exclude-outbound-ports",
        type=_argument_type(parse_ports),
        default=(),
        metavar="PORTS",
        help="outbound destination ports that bypass the proxy",
    )
    add(
        "--include-outbound-cidrs",
        type=_argument_type(parse_include_cidrs),
        default=None,
        metavar="CIDRS",
        help="only outbound traffic to these IPv4/IPv6 CIDRs is redirected; "
        "'*' (the default) means every destination, '' none",
    )
    add(
        "--exclude-outbound-cidrs",
        type=_argument_type(parse_cidrs),
        default=(),
        metavar="CIDRS",
        help="outbound destinations that bypass the proxy (checked before the includes)",
    )


def _add_family_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--ipv6",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also install the rules with ip6tables (default: on)",
    )
    add(
        "--backend",
        choices=("auto", "legacy", "nft"),
        default="auto",
        help="iptables backend: legacy drives libiptc through python-iptables, nft runs "
        "iptables-nft-restore; auto picks legacy if legacy tables already hold rules, "
        "else nft if installed (default %(default)s)",
    )


def _add_mode_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--dry-run",
        action="store_true",
        help="print the rules in iptables-save form (with --cleanup: the deletions) and change nothing",
    )
    add(
        "--cleanup",
        action="store_true",
        help="remove exactly what init installed: the hooks into tracecar's chains and the chains",
    )


def run(args: argparse.Namespace) -> int:
    try:
        rulesets = build_rulesets(interception_config(args))
    except ValueError as error:
        print(f"tracecar init: error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        sys.stdout.write(render_dry_run(rulesets, cleanup=args.cleanup))
        return 0
    return _apply(rulesets, args)


def interception_config(args: argparse.Namespace) -> InterceptionConfig:
    """The options of `add_interception_options` as the rules' configuration."""
    return InterceptionConfig(
        proxy_uid=args.proxy_uid,
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        admin_port=args.admin_port,
        exclude_inbound_ports=args.exclude_inbound_ports,
        exclude_outbound_ports=args.exclude_outbound_ports,
        include_outbound_cidrs=args.include_outbound_cidrs,
        exclude_outbound_cidrs=args.exclude_outbound_cidrs,
        ipv6=args.ipv6,
    )


def _apply(rulesets: tuple[RuleSet, ...], args: argparse.Namespace) -> int:
    # Imported here so that `tracecar --help` does not load multiprocessing and the backends.
    from proxy.interception import backend  # noqa: PLC0415

    try:
        used = backend.apply(rulesets, args.backend, cleanup=args.cleanup)
    except InterceptionError as exc:
        print(f"tracecar init: error: {exc}", file=sys.stderr)
        return 1
    families = ", ".join(ruleset.family.label for ruleset in rulesets)
    verb = "removed" if args.cleanup else "installed"
    print(f"tracecar init: nat rules {verb} for {families} ({used.value} backend)")
    return 0


def _port(text: str) -> int:
    ports = _argument_type(parse_ports)(text)
    if len(ports) != 1:
        raise argparse.ArgumentTypeError(f"not a single TCP port: {text!r}")
    return ports[0]


def _port_or_zero(text: str) -> int:
    """A TCP port, or 0 where the option gives it a meaning (any free port, or off)."""
    return 0 if text == "0" else _port(text)


def _uid(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        raise argparse.ArgumentTypeError(f"not a numeric uid (0 to {MAX_ID}): {text!r}")
    return int(text)


def _argument_type(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """Turn a parser's ValueError into the message argparse shows next to the option."""

    def wrapped(text: str) -> _T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return wrapped
