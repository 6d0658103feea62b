"""Whether a pod gets the sidecar: namespace and pod opt-in, opt-outs, and pods never touched."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from injector.pod_annotations import INJECT, INJECTED, AnnotationError

PROXY_CONTAINER = "tracecar-proxy"
INIT_CONTAINER = "tracecar-init"
NAMESPACE_LABEL = INJECT
NAMESPACE_ENABLED = "enabled"
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


@dataclass(frozen=True)
class Decision:
    inject: bool
    reason: str


def decide(
    pod: Mapping[str, Any],
    namespace: str | None,
    namespace_labels: Mapping[str, str] | None = None,
    *,
    requested: bool = False,
) -> Decision:
    """Decide for one pod (or pod template). `requested` is an opt-in by the caller (`tracecar inject`).

    Exclusions win over every opt-in; then an explicit pod-level value; then the namespace label.
    """
    excluded = _exclusion(pod, namespace)
    if excluded is not None:
        return Decision(False, excluded)
    pod_choice = _pod_choice(pod.get("metadata") or {})
    if pod_choice is not None:
        return Decision(pod_choice, f"{INJECT}={str(pod_choice).lower()} on the pod")
    if requested:
        return Decision(True, "requested")
    if (namespace_labels or {}).get(NAMESPACE_LABEL) == NAMESPACE_ENABLED:
        return Decision(True, f"namespace label {NAMESPACE_LABEL}={NAMESPACE_ENABLED}")
    return Decision(False, "not enabled for the pod or its namespace")


def _exclusion(pod: Mapping[str, Any], namespace: str | None) -> str | None:
    if namespace in SYSTEM_NAMESPACES:
        return f"namespace {namespace} is never injected"
    if (pod.get("spec") or {}).get("hostNetwork") is True:
        return "hostNetwork pods share the node's network and are never injected"
    if already_injected(pod):
        return "already injected"
    return None


def already_injected(pod: Mapping[str, Any]) -> bool:
    metadata = pod.get("metadata") or {}
    if INJECTED in (metadata.get("annotations") or {}):
        return True
    spec = pod.get("spec") or {}
    names = {c.get("name") for key in ("containers", "initContainers") for c in spec.get(key) or ()}
    return PROXY_CONTAINER in names


def _pod_choice(metadata: Mapping[str, Any]) -> bool | None:
    """The pod's own `tracecar.io/inject`: the annotation wins over the label when both are set."""
    for source in ("annotations", "labels"):
        value = (metadata.get(source) or {}).get(INJECT)
        if value is None:
            continue
        if value not in ("true", "false"):
            raise AnnotationError(INJECT, f'must be "true" or "false", got {value!r}')
        return bool(value == "true")
    return None
