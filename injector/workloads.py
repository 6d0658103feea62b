"""Find the pod templates in Kubernetes objects and inject each; other objects pass through."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from injector.patch import InjectOptions, Result, inject

# kind -> the keys leading from the object to its pod template ({"metadata", "spec"}).
TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (pod or template, the object that owns it) for a Pod, a workload, or every item of a List."""
    kind = obj.get("kind")
    if kind == "Pod":
        yield obj, obj
    elif kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in obj):
        for item in obj.get("items") or []:
            if isinstance(item, dict):
                yield from pod_templates(item)
    elif isinstance(kind, str) and kind in TEMPLATE_PATHS:
        template: Any = obj
        for key in TEMPLATE_PATHS[kind]:
            template = template.get(key) if isinstance(template, dict) else None
        if isinstance(template, dict):
            yield template, obj


def inject_object(obj: Mapping[str, Any], options: InjectOptions) -> tuple[dict[str, Any], list[Result]]:
    """Return a copy of `obj` with every pod template injected (as `tracecar inject` asks for it)."""
    result = copy.deepcopy(dict(obj))
    outcomes = []
    for template, owner in pod_templates(result):
        metadata = owner.get("metadata") or {}
        is_pod = template is owner
        outcome = inject(
            template,
            options,
            namespace=metadata.get("namespace"),
            owner_name=None if is_pod else metadata.get("name"),
            requested=True,
        )
        template.clear()
        template.update(outcome.pod)
        outcomes.append(outcome)
    return result, outcomes
