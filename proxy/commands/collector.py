"""`tracecar collector`: the embedded OTLP collector, keeping spans in SQLite and serving a web page."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from proxy.commands import init

if TYPE_CHECKING:
    from proxy.collector.server import Collector

HELP = "receive spans over OTLP (gRPC 4317, HTTP 4318), keep them in SQLite, serve a trace web page"
_DESCRIPTION = """\
An OTLP receiver for when a team has no tracing backend yet: sidecars (and any OpenTelemetry SDK)
export to it over gRPC or HTTP (protobuf or JSON, gzip accepted); spans are written to a SQLite file
in batches and an export is acknowledged only once its spans are committed. `tracecar traces` and the
web page read the same file. Ports may be 0 (any free port; the chosen ones are printed)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from proxy.collector.options import DB_VARIABLE, default_db  # noqa: PLC0415 - keep --help fast

    parser = sub.add_parser("collector", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add("--db", default=default_db(), help=f"SQLite file (default ${DB_VARIABLE}, else %(default)s)")
    add("--host", default="0.0.0.0", help="address to listen on (default %(default)s)")
    add("--grpc-port", type=init._port_or_zero, default=4317, help="OTLP/gRPC port (default %(default)s)")
    add(
        "--http-port",
        type=init._port_or_zero,
        default=4318,
        help="OTLP/HTTP port, POST /v1/traces (default %(default)s)",
    )
    add(
        "--web-port",
        type=init._port_or_zero,
        default=16686,
        help="web page and JSON API port; the OTLP/HTTP port serves both if equal (default %(default)s)",
    )
    add("--retention-age", metavar="DURATION", help="delete traces older than this (e.g. 24h, 7d)")
    add("--retention-bytes", metavar="SIZE", help="delete the oldest traces past this size (e.g. 500MB)")
    add("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from proxy.collector.options import parse_duration_s, parse_size  # noqa: PLC0415
    from proxy.collector.server import Collector, CollectorConfig  # noqa: PLC0415
    from proxy.collector.store import Retention  # noqa: PLC0415

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        retention = Retention(
            max_age_s=parse_duration_s(args.retention_age) if args.retention_age else None,
            max_bytes=parse_size(args.retention_bytes) if args.retention_bytes else None,
        )
    except ValueError as error:
        print(f"tracecar collector: {error}", file=sys.stderr)
        return 2
    config = CollectorConfig(
        db_path=args.db,
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        web_port=args.web_port,
        retention=retention,
    )
    return asyncio.run(_serve(Collector(config)))


async def _serve(collector: Collector) -> int:
    try:
        await collector.start()
    except OSError as error:
        print(f"tracecar collector: {error}", file=sys.stderr)
        return 1
    host = collector.config.host
    print(
        f"tracecar collector: OTLP/gRPC on {host}:{collector.grpc_port}, OTLP/HTTP on "
        f"{host}:{collector.http_port}, spans in {collector.config.db_path}\n"
        f"tracecar collector: traces at {collector.web_url}",
        flush=True,
    )
    await collector.serve()
    return 0
