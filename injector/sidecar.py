"""The containers tracecar adds to a pod: `tracecar init` (iptables) and `tracecar proxy`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from injector.pod_annotations import PodConfig, quantity_value
from injector.policy import INIT_CONTAINER, PROXY_CONTAINER
from proxy.interception.rules import DEFAULT_ADMIN_PORT, DEFAULT_PROXY_UID
from proxy.opaque_ports import DEFAULT_OPAQUE_PORTS

DEFAULT_IMAGE = "tracecar:0.1.0"
TMP_VOLUME = "tracecar-tmp"
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "64Mi"}
DEFAULT_LIMITS = {"cpu": "1", "memory": "256Mi"}
MEMORY_PER_WORKER_MI = 48  # a worker's peak RSS is 30-40 MiB (loadtests: 1,000 req/s, spans on)
INIT_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}

_ADMIN = f"http://127.0.0.1:{DEFAULT_ADMIN_PORT}"
# The image holds Python (tracecar is a Python program) but no curl; the hooks use the standard library.
# preStop: /quitquitquit drains and answers once requests in flight are done, so the kubelet's SIGTERM
# that follows finds an idle proxy.
PRESTOP_SCRIPT = (
    f"import urllib.request as u\nu.urlopen(u.Request('{_ADMIN}/quitquitquit', method='POST'), timeout=30)\n"
)
# postStart (classic sidecar only): the kubelet starts the next container only once this returns, so
# the application's first connection finds the proxy listening.
WAIT_READY_SCRIPT = (
    "import time, urllib.request as u\n"
    "for _ in range(1200):\n"
    "    try:\n"
    f"        u.urlopen('{_ADMIN}/ready', timeout=1)\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.1)\n"
)


@dataclass(frozen=True)
class SidecarSpec:
    """Everything the containers depend on, resolved from options, annotations and the workload."""

    image: str
    service_name: str
    native: bool
    config: PodConfig


def init_container(spec: SidecarSpec) -> dict[str, Any]:
    """`tracecar init` as root with NET_ADMIN and NET_RAW only (iptables needs both, nothing else)."""
    return {
        "name": INIT_CONTAINER,
        "image": spec.image,
        "command": ["tracecar", "init", *init_args(spec.config)],
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            # Overrides a pod-level runAsNonRoot: iptables needs root in the pod's network namespace.
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
        "resources": {key: dict(value) for key, value in INIT_RESOURCES.items()},
    }


def init_args(config: PodConfig) -> list[str]:
    args = ["--proxy-uid", str(DEFAULT_PROXY_UID)]
    # Opaque ports stay intercepted: the proxy relays them as TCP without detection, and traces them.
    inbound = _ports(config.exclude_inbound_ports)
    outbound = _ports(config.exclude_outbound_ports)
    if inbound:
        args += ["--exclude-inbound-ports", inbound]
    if outbound:
        args += ["--exclude-outbound-ports", outbound]
    if config.exclude_outbound_cidrs:
        args += ["--exclude-outbound-cidrs", ",".join(config.exclude_outbound_cidrs)]
    if config.include_outbound_cidrs is not None:
        args += ["--include-outbound-cidrs", ",".join(config.include_outbound_cidrs)]
    return args


def proxy_container(spec: SidecarSpec) -> dict[str, Any]:
    """`tracecar proxy` as uid 1337; as a native sidecar it is a restartable init container."""
    ready = {"httpGet": {"path": "/ready", "port": DEFAULT_ADMIN_PORT}}
    container: dict[str, Any] = {
        "name": PROXY_CONTAINER,
        "image": spec.image,
        "command": ["tracecar", "proxy", *proxy_args(spec.config)],
        "ports": [{"name": "tracecar-admin", "containerPort": DEFAULT_ADMIN_PORT, "protocol": "TCP"}],
        "env": proxy_env(spec),
        "resources": proxy_resources(spec.config),
        "securityContext": {
            "runAsUser": DEFAULT_PROXY_UID,
            "runAsGroup": DEFAULT_PROXY_UID,
            "runAsNonRoot": True,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "readinessProbe": {**ready, "periodSeconds": 2, "failureThreshold": 3},
        "lifecycle": {"preStop": _python_hook(PRESTOP_SCRIPT)},
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if spec.native:
        # A restartable init container: the kubelet starts the next init container (and so the
        # application) only once the startup probe passes, and does not wait for it to end (Jobs finish).
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {**ready, "periodSeconds": 1, "failureThreshold": 120}
    else:
        container["lifecycle"]["postStart"] = _python_hook(WAIT_READY_SCRIPT)
    return container


def proxy_args(config: PodConfig) -> list[str]:
    """The pod's opaque ports are added to the proxy's well-known ones, not put in their place."""
    args = []
    if config.proxy_workers is not None and config.proxy_workers > 1:
        args += ["--workers", str(config.proxy_workers)]
    if config.opaque_ports:
        args += ["--opaque-ports", _ports(tuple(DEFAULT_OPAQUE_PORTS) + config.opaque_ports)]
    if config.infer_context:
        args.append("--infer-context")
    for option, value in config.proxy_options:
        args += [option, value]
    return args


def tmp_volume() -> dict[str, Any]:
    """A small writable /tmp: the proxy's root filesystem is read-only."""
    return {"name": TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}


def proxy_env(spec: SidecarSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("POD_UID", "metadata.uid"),
        _field_env("NODE_NAME", "spec.nodeName"),
        {"name": "OTEL_SERVICE_NAME", "value": spec.service_name},
    ]
    config = spec.config
    if config.otlp_endpoint is not None:
        env.append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": config.otlp_endpoint})
    if config.sampler_ratio is not None:
        env.append({"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_traceidratio"})
        env.append({"name": "OTEL_TRACES_SAMPLER_ARG", "value": repr(config.sampler_ratio)})
    return env


def proxy_resources(config: PodConfig) -> dict[str, dict[str, str]]:
    """Requests from the annotations; a limit is raised to the request when the request exceeds it.
    Without a memory annotation, more workers get more memory: each process holds its own."""
    requests = dict(DEFAULT_REQUESTS)
    limits = dict(DEFAULT_LIMITS)
    workers = config.proxy_workers or 1
    if workers > 1:
        requests["memory"] = f"{MEMORY_PER_WORKER_MI * workers}Mi"
        limits["memory"] = f"{max(256, 4 * MEMORY_PER_WORKER_MI * workers)}Mi"
    for resource, value in (("cpu", config.proxy_cpu), ("memory", config.proxy_memory)):
        if value is None:
            continue
        requests[resource] = value
        if quantity_value(value) > quantity_value(limits[resource]):
            limits[resource] = value
    return {"requests": requests, "limits": limits}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _python_hook(script: str) -> dict[str, Any]:
    return {"exec": {"command": ["python3", "-c", script]}}


def _ports(ports: tuple[int, ...]) -> str:
    return ",".join(str(port) for port in sorted(set(ports)))
