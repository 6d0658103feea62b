"""The shop as data: its services, ports and the command lines of each process, pure.

Each application gets its sidecar the way Docker network mode does: `tracecar sidecar` in the
application's network namespace, told its service name and collector by the OpenTelemetry variables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SERVICES = ("frontend", "checkout", "inventory", "redis")
APP_PORTS = {"frontend": 8080, "checkout": 50051, "inventory": 8080}
REDIS_PORT = 6379
ADMIN_PORT = 15000
ROUTES = {"frontend": ("/buy/{item}",), "checkout": ("/reserve/{item}",), "inventory": ("/reserve/{item}",)}
DRAIN_GRACE_S = "2"


def sidecar_options(service: str) -> list[str]:
    """`tracecar sidecar` options for `service`: the Docker-mode defaults (every port intercepted,
    Redis relayed with a span per command), with route templates for readable span names."""
    options = ["--no-ipv6", "--drain-grace", DRAIN_GRACE_S]
    return options + [option for route in ROUTES.get(service, ()) for option in ("--route", route)]


def sidecar_env(service: str, otlp_endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def app_command(service: str, ready: Path) -> list[str]:
    command = [sys.executable, "-m", "proxy.demo.apps", service, "--port", str(APP_PORTS[service])]
    command += [
        "--checkout", f"checkout:{APP_PORTS['checkout']}",
        "--inventory", f"inventory:{APP_PORTS['inventory']}",
        "--redis", f"redis:{REDIS_PORT}",
        "--ready", str(ready),
    ]  # fmt: skip
    return command


def redis_command(address: str) -> list[str]:
    return [
        "redis-server", "--bind", address, "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no",
        "--protected-mode", "no", "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
