"""The `tracecar` console script: one parser, subcommands registered by `proxy.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order `tracecar --help` lists them in.
_COMMAND_MODULES = (
    "proxy.commands.demo",
    "proxy.commands.context",
    "proxy.commands.init",
    "proxy.commands.proxy",
    "proxy.commands.sidecar",
    "proxy.commands.inject",
    "proxy.commands.webhook",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracecar",
        description="Sidecar tracing proxy: OpenTelemetry spans and trace-context propagation "
        "for every HTTP, HTTP/2 and gRPC hop, without changing application code.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`tracecar ... | head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
