"""Thin command-line shells, one module per `tracecar` subcommand.

Each module exposes `register(subparsers)`; the work itself lives in the package the command is about.
Modules here import only what argument parsing needs, so `tracecar --help` stays fast.
"""

from __future__ import annotations
