"""The `tracecar` console script: one parser, subcommands registered by `proxy.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import proxy.commands

# Every module in proxy.commands with a `register(subparsers)` is a subcommand. These come first in
# `tracecar --help`, in this order; any other follows alphabetically.
_FIRST = ("demo", "proxy", "init", "sidecar", "inject", "webhook")


def command_modules() -> list[str]:
    found = sorted(info.name for info in pkgutil.iter_modules(proxy.commands.__path__))
    ordered = [name for name in _FIRST if name in found] + [name for name in found if name not in _FIRST]
    return [f"proxy.commands.{name}" for name in ordered]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracecar",
        description="Sidecar tracing proxy: OpenTelemetry spans and trace-context propagation "
        "for every HTTP, HTTP/2 and gRPC hop, without changing application code.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        module = importlib.import_module(name)
        if hasattr(module, "register"):
            module.register(sub)
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
