"""`tracecar demo`: a shop in network namespaces with real sidecars, traffic, and the traces it made."""

from __future__ import annotations

import argparse
import sys

from proxy.commands import init

HELP = "run a small shop in network namespaces with tracecar sidecars, and show the traces (root)"
_DESCRIPTION = """\
Builds a shop in network namespaces: frontend (HTTP) -> checkout (gRPC) -> inventory (HTTP) -> Redis,
each application with its own `tracecar sidecar` exporting to an embedded collector. Sends orders for
a few seconds (some fail), then prints a summary, a complete and a failed trace as waterfalls, and the
web page's address. Checkout does not forward the trace context, to show a broken hop. Needs root;
removes every namespace and process it created when it ends, also on Ctrl-C."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add("--duration", type=float, default=5.0, metavar="SECONDS", help="traffic time (default %(default)s)")
    add("--serve", action="store_true", help="keep the web page up until Ctrl-C")
    add(
        "--web-port",
        type=init._port_or_zero,
        default=16686,
        help="web page port; any free one if taken (default %(default)s)",
    )
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--db", metavar="PATH", help="keep the spans in this new SQLite file")
    db.add_argument(
        "--keep-db", action="store_true", help="keep the temporary SQLite file (its path is printed)"
    )
    add("--json", action="store_true", help="print the summary as JSON (progress goes to stderr)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from proxy.demo import run as demo  # noqa: PLC0415 - keep `tracecar --help` fast

    if not 0 < args.duration <= 3600 or not 0 <= args.web_port <= 65535:
        print(
            "tracecar demo: --duration must be within (0, 3600] and --web-port within 0..65535",
            file=sys.stderr,
        )
        return 2
    options = demo.Options(args.duration, args.serve, args.web_port, args.db, args.keep_db, args.json)
    return demo.run(options)
