"""`tracecar ebpf`: the eBPF fallback on its own, and the options `tracecar proxy --ebpf` shares."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from propagation import ConfigError
from proxy.commands import init, logs
from proxy.interception.rules import parse_ports

if TYPE_CHECKING:
    from proxy.ebpf.runner import EbpfConfig

HELP = "report connections no proxy sees (node-level or hostNetwork), with bpftrace"
_DESCRIPTION = """\
Run the eBPF fallback without a proxy: every TCP connection in the chosen network namespaces
becomes a span (CLIENT when a local process connected, SERVER when it accepted), and connections
to or from the payload ports have their Redis and PostgreSQL commands traced. Sockets of the proxy
uid and on the proxy's ports are never reported. On nodes whose pods run tracecar sidecars, give
--redirection iptables and the pods' --exclude-* options, so connections their proxies report are
not reported twice. Needs root (CAP_SYS_ADMIN) and bpftrace. Spans are exported as the OTEL_*
environment variables say, exactly as `tracecar proxy` does."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("ebpf", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add(
        "--netns",
        default="all",
        metavar="PATH",
        help="only this network namespace (/proc/PID/ns/net, /run/netns/NAME); default: all",
    )
    add(
        "--redirection",
        choices=("iptables", "none"),
        default="none",
        help="iptables: connections the sidecars' rules redirect are left to their proxies (default none)",
    )
    add(
        "--metrics-port",
        type=init._port_or_zero,
        default=0,
        help="serve /metrics and /healthz on this port (default: off)",
    )
    add("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default info")
    init.add_interception_options(parser)
    add_fallback_options(parser)
    parser.set_defaults(run=run)


def add_proxy_options(parser: argparse.ArgumentParser) -> None:
    """`tracecar proxy --ebpf` and what it must know of the rules in front of the proxy."""
    group = parser.add_argument_group(
        "eBPF fallback", "spans for the pod's connections the proxy never sees (needs root and bpftrace)"
    )
    add = group.add_argument
    add("--ebpf", action="store_true", help="run the eBPF fallback (off, with the reason, where it cannot)")
    add(
        "--redirection",
        choices=("auto", "iptables", "none"),
        default="auto",
        help="what reaches the proxy: iptables (tracecar init's rules, with the --exclude-* options "
        "given here), or none; auto: none with --upstream, else iptables",
    )
    add(
        "--proxy-uid",
        type=init._uid,
        default=None,
        metavar="UID",
        help="the uid whose sockets are the proxy's (default: the --run-as uid, else 1337)",
    )
    init.add_exclusion_options(parser)
    add_fallback_options(parser)


def add_fallback_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ebpf-payload-ports",
        type=init._argument_type(parse_ports),
        default=(6379, 5432),
        metavar="PORTS",
        help="connections to or from these ports have their payload read for command spans "
        "(default 6379,5432: Redis, PostgreSQL; '' for none)",
    )


def fallback_config(args: argparse.Namespace, netns: int, redirection: str, proxy_uid: int) -> EbpfConfig:
    from proxy.ebpf.policy import Policy  # noqa: PLC0415 - keep `tracecar --help` light
    from proxy.ebpf.runner import EbpfConfig  # noqa: PLC0415

    interception = dataclasses.replace(init.interception_config(args), proxy_uid=proxy_uid)
    return EbpfConfig(Policy(interception, redirection, netns), tuple(args.ebpf_payload_ports))


def for_proxy(
    args: argparse.Namespace, upstream: tuple[str, int] | None, run_as: tuple[int, int] | None
) -> EbpfConfig:
    """The fallback of `tracecar proxy --ebpf`: this network namespace, the proxy's uid."""
    from proxy.ebpf.runner import current_netns  # noqa: PLC0415
    from proxy.interception.rules import DEFAULT_PROXY_UID  # noqa: PLC0415

    redirection = args.redirection
    if redirection == "auto":
        redirection = "none" if upstream else "iptables"
    uid = args.proxy_uid
    if uid is None:
        uid = run_as[0] if run_as else DEFAULT_PROXY_UID
    return fallback_config(args, current_netns(), redirection, uid)


def run(args: argparse.Namespace) -> int:
    logs.setup(args.log_level)
    from proxy.ebpf import agent  # noqa: PLC0415
    from proxy.spans.config import from_env  # noqa: PLC0415

    try:
        netns = 0 if args.netns == "all" else os.stat(args.netns).st_ino
        config = fallback_config(args, netns, args.redirection, args.proxy_uid)
        export = from_env(os.environ)
    except (ConfigError, ValueError, OSError) as error:
        print(f"tracecar ebpf: {error}", file=sys.stderr)
        return 2
    return agent.main(config, export, args.metrics_port)
