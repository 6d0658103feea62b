"""`tracecar sidecar`: the whole sidecar in one container sharing the application's network namespace.

Installs the iptables rules (`tracecar init`), runs `tracecar proxy` as a child that drops to the
proxy uid, passes SIGTERM/SIGINT on, and removes the rules once the proxy has drained and exited:
a sidecar that is gone must not leave the application's traffic redirected to a closed port. This
process stays root for that last step; only the proxy itself runs unprivileged.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType

from propagation import ConfigError
from proxy.commands import ebpf, init, proxy
from proxy.commands.proxy import INFER_CONTEXT_HELP, OPAQUE_PORTS_DEFAULT, add_limits

HELP = "init + proxy in one process tree, for Docker network mode (run as root with NET_ADMIN)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sidecar", help=HELP, description=__doc__)
    init.add_interception_options(parser)
    add = parser.add_argument
    add("--workers", default="1", help="proxy worker processes (default 1)")
    add(
        "--route",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="span-name route template (repeatable)",
    )
    add("--drain-grace", default="20", metavar="SECONDS", help="SIGTERM drain time (default 20)")
    add(
        "--opaque-ports",
        default=OPAQUE_PORTS_DEFAULT,
        metavar="PORTS",
        help="destination ports relayed as opaque TCP without protocol detection (see tracecar proxy)",
    )
    add(
        "--detect-timeout",
        default="10",
        metavar="SECONDS",
        help="silent clients go opaque after (default 10)",
    )
    add("--infer-context", action="store_true", help=INFER_CONTEXT_HELP)
    limits = [(action.option_strings[0], action.dest) for action in add_limits(add)]
    add("--ebpf", action="store_true", help="also run the eBPF fallback for traffic the rules exclude")
    ebpf.add_fallback_options(parser)
    parser.set_defaults(run=run, limits=limits)


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("tracecar sidecar: needs root (with NET_ADMIN) to install its iptables rules", file=sys.stderr)
        return 1
    problem = _proxy_problem(args)
    if problem:
        # Found before a rule exists: a proxy that would not start must not leave the application's
        # traffic redirected to a closed port, not even for the moment until the cleanup.
        print(f"tracecar sidecar: {problem}", file=sys.stderr)
        return 2
    stop = _Stop()  # before init: a signal at any point still ends in cleanup
    args.dry_run, args.cleanup = False, False
    code = init.run(args)
    if code:
        return code
    try:
        return 0 if stop.signal else stop.wait_for(subprocess.Popen(_proxy_command(args)))
    finally:
        args.cleanup = True
        init.run(args)


class _Stop:
    """SIGTERM/SIGINT: remembered, and passed on to the proxy once it runs."""

    def __init__(self) -> None:
        self.signal = 0
        self.child: subprocess.Popen[bytes] | None = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._received)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        if self.child is not None:
            self.child.send_signal(signum)

    def wait_for(self, child: subprocess.Popen[bytes]) -> int:
        self.child = child
        if self.signal:
            child.send_signal(self.signal)
        return child.wait()


def _proxy_problem(args: argparse.Namespace) -> str:
    """What the proxy would refuse in the options it will be given (empty when nothing)."""
    from proxy.cli import build_parser  # noqa: PLC0415 - the CLI imports this module

    command = _proxy_command(args)
    try:
        proxy.configure(build_parser().parse_args(command[command.index("proxy") :]))
    except (ConfigError, ValueError, OSError) as error:
        return str(error)
    return ""


def _proxy_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "proxy.cli", "proxy",
        "--run-as", str(args.proxy_uid),
        "--inbound-port", str(args.inbound_port),
        "--outbound-port", str(args.outbound_port),
        "--admin-port", str(args.admin_port),
        "--workers", args.workers,
        "--drain-grace", args.drain_grace,
        "--opaque-ports", args.opaque_ports,
        "--detect-timeout", args.detect_timeout,
        *[option for route in args.route for option in ("--route", route)],
        *(["--infer-context"] if args.infer_context else []),
        *_limit_options(args),
        *([] if args.ipv6 else ["--no-ipv6"]),
        *(_ebpf_options(args) if args.ebpf else []),
    ]  # fmt: skip


def _limit_options(args: argparse.Namespace) -> list[str]:
    """Every timeout and limit, as given or defaulted here (the same defaults as the proxy's)."""
    return [part for flag, dest in args.limits for part in (flag, str(getattr(args, dest)))]


def _ebpf_options(args: argparse.Namespace) -> list[str]:
    """The fallback reports what these very rules leave out: pass them on."""

    def joined(items: tuple[object, ...]) -> str:
        return ",".join(str(item) for item in items)

    options = [
        "--ebpf",
        "--proxy-uid", str(args.proxy_uid),
        "--ebpf-payload-ports", joined(args.ebpf_payload_ports),
        "--exclude-inbound-ports", joined(args.exclude_inbound_ports),
        "--exclude-outbound-ports", joined(args.exclude_outbound_ports),
        "--exclude-outbound-cidrs", joined(args.exclude_outbound_cidrs),
    ]  # fmt: skip
    if args.include_outbound_cidrs is not None:
        options += ["--include-outbound-cidrs", joined(args.include_outbound_cidrs)]
    return options
