"""The shop as data: its services, ports and the command lines of each process, pure.

Each application gets its sidecar the way Docker network mode does: `tracecar sidecar` in the
application's network namespace, told its service name and collector by the OpenTelemetry variables.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("frontend", "checkout", "inventory", "redis")
APP_PORTS = {"frontend": 8080, "checkout": 50051, "inventory": 8080}
REDIS_PORT = 6379
ADMIN_PORT = 15000
ROUTES = {"frontend": ("/buy/{item}",), "checkout": ("/reserve/{item}",), "inventory": ("/reserve/{item}",)}
DRAIN_GRACE_S = "2"


@dataclass(frozen=True)
class Capabilities:
    """What this build of the proxy can trace; the demo routes around what it cannot."""

    grpc: bool  # HTTP/2 relay: gRPC through the sidecars
    db_linking: bool  # opaque relay with database command spans

    @staticmethod
    def detect() -> Capabilities:
        return Capabilities(
            grpc=importlib.util.find_spec("proxy.h2") is not None,
            db_linking=importlib.util.find_spec("proxy.db") is not None,
        )


def sidecar_options(service: str, capabilities: Capabilities) -> list[str]:
    """`tracecar sidecar` options for `service`: the Docker-mode defaults, with route templates for
    readable span names, and the ports its proxy cannot relay yet left out of the interception."""
    options = ["--no-ipv6", "--drain-grace", DRAIN_GRACE_S]
    options += [option for route in ROUTES.get(service, ()) for option in ("--route", route)]
    if not capabilities.grpc and service == "frontend":
        options += ["--exclude-outbound-ports", str(APP_PORTS["checkout"])]
    if not capabilities.grpc and service == "checkout":
        options += ["--exclude-inbound-ports", str(APP_PORTS["checkout"])]
    if not capabilities.db_linking and service == "inventory":
        options += ["--exclude-outbound-ports", str(REDIS_PORT)]
    return options


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
