"""`tracecar proxy`: run the sidecar's data path (inbound and outbound listeners) and export spans."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from propagation import ConfigError
from proxy.commands import ebpf, init
from proxy.interception.rules import check_listener_ports

if TYPE_CHECKING:
    from proxy.ebpf.runner import EbpfConfig
    from proxy.routes import Routes
    from proxy.server import ProxyConfig
    from proxy.spans.config import ExportConfig

# proxy.opaque_ports.DEFAULT_OPAQUE_PORTS, spelled out so `tracecar --help` imports no data path
OPAQUE_PORTS_DEFAULT = "22,25,389,465,587,636,3306,4222,5432,5672,6379,9092,11211,27017"
HELP = "run the sidecar proxy: trace every HTTP request in and out of the pod"
INFER_CONTEXT_HELP = (
    "an outbound HTTP request or gRPC call carrying no trace context, made while exactly one inbound "
    "request is in flight, continues that request's trace: for applications that do not forward "
    "trace headers (a guess, right when requests are served one at a time; default off)"
)
_DESCRIPTION = """\
Run the transparent proxy. Connections redirected by `tracecar init` arrive on the inbound and
outbound listeners; each request is forwarded to its original destination, with trace context
propagated and one span recorded (SERVER inbound, CLIENT outbound). Spans are exported as the
OTEL_* environment variables say (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_EXPORTER, OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS,
OTEL_TRACES_SAMPLER). Run it as the uid given to `tracecar init --proxy-uid` (1337 by default) so
its own connections are not redirected back to itself. SIGTERM drains: listeners close, requests in
flight finish within --drain-grace, spans are flushed, exit 0."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("proxy", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add(
        "--inbound-port",
        type=init._port,
        default=15006,
        help="listener for redirected inbound traffic (default 15006)",
    )
    add(
        "--outbound-port",
        type=init._port,
        default=15001,
        help="listener for redirected outbound traffic (default 15001)",
    )
    add(
        "--admin-port",
        type=init._port,
        default=15000,
        help="admin listener: /healthz /ready /metrics (default 15000)",
    )
    add("--workers", type=int, default=1, help="worker processes sharing the ports (default 1)")
    add("--no-ipv6", dest="ipv6", action="store_false", help="listen on IPv4 only")
    add(
        "--upstream",
        metavar="HOST:PORT",
        help="send every connection here instead of its original destination (use without iptables)",
    )
    add(
        "--route",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="a route template for span names, e.g. /users/{user}/orders/{order} (repeatable); "
        "other paths get numeric, UUID and long hex segments replaced by {id}",
    )
    add(
        "--run-as",
        metavar="UID[:GID]",
        help="when started as root, continue as this user once listening (use the --proxy-uid of init)",
    )
    add("--drain-grace", type=float, default=20.0, metavar="SECONDS", help="SIGTERM drain time (default 20)")
    add_limits(add)
    add(
        "--opaque-ports",
        default=OPAQUE_PORTS_DEFAULT,
        metavar="PORTS",
        help="destination ports relayed as opaque TCP without protocol detection: comma-separated "
        f"ports or LOW-HIGH ranges, or none (default {OPAQUE_PORTS_DEFAULT})",
    )
    add(
        "--detect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a client that sends nothing this long is relayed as opaque TCP (default 10); "
        "server-first protocols never wait for it",
    )
    add("--infer-context", action="store_true", help=INFER_CONTEXT_HELP)
    add("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default info")
    ebpf.add_proxy_options(parser)
    parser.set_defaults(run=run)


def add_limits(add_argument: Callable[..., argparse.Action]) -> list[argparse.Action]:
    """Timeouts and limits; returns the options added (`tracecar sidecar` takes them too and passes
    them on). Defaults are repeated from proxy.limits and proxy.pool, which `tracecar --help` does not
    import."""
    added: list[argparse.Action] = []

    def add(*flags: str, **options: Any) -> None:
        added.append(add_argument(*flags, **options))

    add("--connect-timeout", type=float, default=5.0, metavar="SECONDS", help="upstream connect (default 5)")
    add(
        "--response-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="from the end of a request to the response head; past it the client gets 504 (default 60)",
    )
    add(
        "--max-header-bytes",
        type=int,
        default=64 * 1024,
        metavar="BYTES",
        help="largest request head (request line and header fields); larger ones get 431 (default 65536)",
    )
    add(
        "--request-header-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="from a request's first byte to the end of its head; past it the client gets 408 (default 30)",
    )
    add(
        "--idle-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a keep-alive client connection with no request is closed after this (default 300)",
    )
    add(
        "--tcp-idle-timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="an opaque TCP connection with no bytes either way is closed after this (default 3600)",
    )
    add(
        "--redact-query-keys",
        default=_redact_default(),
        metavar="KEY,...",
        help="query parameters whose values spans show as REDACTED, any case "
        "(default token,password,key; env TRACECAR_REDACT_QUERY_KEYS)",
    )
    add(
        "--upstream-idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="an idle pooled upstream connection is closed after this (default 60)",
    )
    return added


def _redact_default() -> str:
    return os.environ.get("TRACECAR_REDACT_QUERY_KEYS", "token,password,key")


def configure(args: argparse.Namespace) -> tuple[ProxyConfig, ExportConfig, Routes, EbpfConfig | None]:
    """Everything `run` starts from, checked. Raises ConfigError, ValueError or OSError saying what is
    wrong; `tracecar sidecar` calls it too, before it installs a rule."""
    from proxy.limits import ClientLimits  # noqa: PLC0415 - keep `tracecar --help` free of the data path
    from proxy.opaque_ports import parse_ports  # noqa: PLC0415 - keep `tracecar --help` free of the data path
    from proxy.privileges import parse_run_as  # noqa: PLC0415
    from proxy.routes import Routes  # noqa: PLC0415
    from proxy.server import ProxyConfig  # noqa: PLC0415
    from proxy.spans.config import from_env  # noqa: PLC0415

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    check_listener_ports(args.inbound_port, args.outbound_port, args.admin_port)
    config = ProxyConfig(
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        admin_port=args.admin_port,
        ipv6=args.ipv6,
        upstream=_host_port(args.upstream) if args.upstream else None,
        drain_grace_s=_not_negative("--drain-grace", args.drain_grace),
        connect_timeout_s=_positive("--connect-timeout", args.connect_timeout),
        header_timeout_s=_positive("--response-timeout", args.response_timeout),
        upstream_idle_timeout_s=_positive("--upstream-idle-timeout", args.upstream_idle_timeout),
        limits=ClientLimits(
            args.max_header_bytes,
            args.request_header_timeout,
            args.idle_timeout,
            tcp_idle_timeout_s=args.tcp_idle_timeout,
        ),
        redact_query_keys=_keys(args.redact_query_keys),
        run_as=parse_run_as(args.run_as) if args.run_as else None,
        opaque_ports=parse_ports(args.opaque_ports),
        detect_timeout_s=_positive("--detect-timeout", args.detect_timeout),
        infer_context=args.infer_context,
    )
    export = from_env(os.environ)
    routes = Routes(args.route)
    fallback = ebpf.for_proxy(args, config.upstream, config.run_as) if args.ebpf else None
    return config, export, routes, fallback


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config, export, routes, fallback = configure(args)
    except (ConfigError, ValueError, OSError) as error:
        print(f"tracecar proxy: {error}", file=sys.stderr)
        return 2

    def work(index: int) -> int:
        # One worker runs the fallback: the kernel reports each connection once, not per worker.
        fallback_here = fallback if index == 0 else None
        _run_loop(config, export, routes, fallback_here, index=index, workers=args.workers)
        return 0

    if args.workers == 1:
        return work(0)
    from proxy.supervisor import supervise  # noqa: PLC0415

    return supervise(args.workers, work)


def _run_loop(
    config: ProxyConfig,
    export: ExportConfig,
    routes: Routes,
    fallback: EbpfConfig | None,
    *,
    index: int,
    workers: int,
) -> None:
    import uvloop  # noqa: PLC0415

    from proxy import worker  # noqa: PLC0415

    uvloop.run(worker.run(config, export, routes, fallback, index=index, workers=workers))


def _keys(listed: str) -> frozenset[str]:
    return frozenset(key.strip().lower() for key in listed.split(",") if key.strip())


def _positive(flag: str, seconds: float) -> float:
    if not seconds > 0:
        raise ValueError(f"{flag} must be above 0 seconds, got {seconds:g}")
    return seconds


def _not_negative(flag: str, seconds: float) -> float:
    if not 0 <= seconds < float("inf"):  # nan too
        raise ValueError(f"{flag} must be 0 seconds or more, got {seconds:g}")
    return seconds


def _host_port(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--upstream wants HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)
