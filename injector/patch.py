"""Inject one pod (or pod template) as a pure function, and the RFC 6902 patch the webhook returns."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from injector import pod_annotations as ann
from injector.policy import INIT_CONTAINER, PROXY_CONTAINER, Decision, decide
from injector.sidecar import (
    DEFAULT_IMAGE,
    TMP_VOLUME,
    SidecarSpec,
    init_container,
    proxy_container,
    tmp_volume,
)

NAME_LABEL = "app.kubernetes.io/name"
FALLBACK_SERVICE_NAME = "unknown_service:tracecar"


@dataclass(frozen=True)
class InjectOptions:
    """Cluster- or command-wide settings. `overrides` are annotations that win over the pod's own."""

    image: str = DEFAULT_IMAGE
    native_sidecar: bool = False
    overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    pod: dict[str, Any]
    decision: Decision


def inject(
    pod: Mapping[str, Any],
    options: InjectOptions,
    *,
    namespace: str | None = None,
    namespace_labels: Mapping[str, str] | None = None,
    owner_name: str | None = None,
    requested: bool = False,
) -> Result:
    """Return a copy of `pod` (`{"metadata": ..., "spec": ...}`) with the sidecar added if policy says so.

    `owner_name` names the workload when the pod does not carry ownerReferences (a template).
    Raises AnnotationError for an invalid `tracecar.io/*` annotation or override.
    """
    result = copy.deepcopy(dict(pod))
    decision = decide(result, namespace, namespace_labels, requested=requested)
    if not decision.inject:
        return Result(result, decision)
    metadata = result.setdefault("metadata", {})
    config = ann.parse({**(metadata.get("annotations") or {}), **options.overrides})
    native = options.native_sidecar if config.native_sidecar is None else config.native_sidecar
    spec = SidecarSpec(
        image=options.image,
        service_name=config.service_name or service_name(metadata, owner_name),
        native=native,
        config=config,
    )
    _add_containers(result.setdefault("spec", {}), spec)
    metadata.setdefault("annotations", {})[ann.INJECTED] = injected_record(native)
    return Result(result, decision)


def _add_containers(pod_spec: dict[str, Any], spec: SidecarSpec) -> None:
    init, proxy = init_container(spec), proxy_container(spec)
    existing_init = list(pod_spec.get("initContainers") or [])
    if spec.native:
        # iptables first, then the proxy; the application's own init containers run traced after it.
        pod_spec["initContainers"] = [init, proxy, *existing_init]
    else:
        # Without a running proxy, redirected traffic from earlier init containers would go nowhere:
        # the rules are installed last, just before the containers start.
        pod_spec["initContainers"] = [*existing_init, init]
        pod_spec["containers"] = [proxy, *(pod_spec.get("containers") or [])]
    pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), tmp_volume()]


def injected_record(native: bool) -> str:
    """The `tracecar.io/injected` value: version and the names added, so a second pass is a no-op."""
    record = {
        "version": _tracecar_version(),
        "initContainers": [INIT_CONTAINER, PROXY_CONTAINER] if native else [INIT_CONTAINER],
        "containers": [] if native else [PROXY_CONTAINER],
        "volumes": [TMP_VOLUME],
    }
    return json.dumps(record, separators=(",", ":"))


def service_name(metadata: Mapping[str, Any], owner_name: str | None = None) -> str:
    """OTEL_SERVICE_NAME: the app.kubernetes.io/name label, else the owning workload's name."""
    labels = metadata.get("labels") or {}
    if labels.get(NAME_LABEL):
        return str(labels[NAME_LABEL])
    if owner_name:
        return owner_name
    owner = _controller(metadata)
    if owner is not None:
        name = str(owner.get("name", ""))
        template_hash = labels.get("pod-template-hash")
        # A Deployment's pods are owned by `<deployment>-<pod-template-hash>`: name the Deployment.
        if owner.get("kind") == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            return name[: -len(template_hash) - 1]
        if name:
            return name
    generate = str(metadata.get("generateName") or "").rstrip("-")
    return generate or str(metadata.get("name") or FALLBACK_SERVICE_NAME)


def _controller(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    owners = metadata.get("ownerReferences") or []
    for owner in owners:
        if owner.get("controller"):
            return dict(owner)
    return dict(owners[0]) if owners else None


def json_patch(original: Any, patched: Any, path: str = "") -> list[dict[str, Any]]:
    """A minimal RFC 6902 patch turning `original` into `patched` (JSON values: dicts, lists, scalars).

    Lists that only gained elements get one `add` per element, so the webhook's patch never rewrites
    the application's own containers; other list changes recurse element-wise or replace the list.
    """
    if isinstance(original, dict) and isinstance(patched, dict):
        return _dict_patch(original, patched, path)
    if isinstance(original, list) and isinstance(patched, list):
        return _list_patch(original, patched, path)
    if _same(original, patched):
        return []
    return [{"op": "replace", "path": path, "value": copy.deepcopy(patched)}]


def _dict_patch(original: dict[str, Any], patched: dict[str, Any], path: str) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for key in original:
        if key not in patched:
            ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
    for key, value in patched.items():
        child = f"{path}/{_escape(key)}"
        if key in original:
            ops += json_patch(original[key], value, child)
        else:
            ops.append({"op": "add", "path": child, "value": copy.deepcopy(value)})
    return ops


def _list_patch(original: list[Any], patched: list[Any], path: str) -> list[dict[str, Any]]:
    if _same(original, patched):
        return []
    prefix = 0
    while prefix < min(len(original), len(patched)) and _same(original[prefix], patched[prefix]):
        prefix += 1
    suffix = 0
    limit = min(len(original), len(patched)) - prefix
    while suffix < limit and _same(original[-1 - suffix], patched[-1 - suffix]):
        suffix += 1
    if prefix + suffix == len(original):
        inserted = patched[prefix : len(patched) - suffix]
        return [
            {"op": "add", "path": f"{path}/{prefix + i}", "value": copy.deepcopy(value)}
            for i, value in enumerate(inserted)
        ]
    if len(original) == len(patched):
        ops: list[dict[str, Any]] = []
        for i, (old, new) in enumerate(zip(original, patched, strict=True)):
            ops += json_patch(old, new, f"{path}/{i}")
        return ops
    return [{"op": "replace", "path": path, "value": copy.deepcopy(patched)}]


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike `==`, `1` and `true` differ."""
    return a == b and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _escape(key: str) -> str:
    """RFC 6901 section 3: `~` is `~0` and `/` is `~1` in a reference token."""
    return key.replace("~", "~0").replace("/", "~1")


@functools.cache
def _tracecar_version() -> str:
    # Reading the installed metadata scans site-packages: uncached it was a fifth of a review (p50 1.5 ms).
    return version("tracecar")
