"""Fixtures as data, and the checks every injected object must pass: schema-valid on three versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
# Three recent minor versions; 1.29 is the first where native sidecars are on by default.
KUBERNETES_VERSIONS = ("1.29", "1.33", "1.37")


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((FIXTURES / name).read_text()) if doc is not None]


def by_name(name: str, fixture: str) -> dict[str, Any]:
    """The first object of that name (a Deployment comes before its Service)."""
    return next(doc for doc in load(fixture) if doc["metadata"]["name"] == name)


def assert_schema_valid(obj: dict[str, Any]) -> None:
    """Validate against the strict (no unknown fields) OpenAPI schemas of each version."""
    for version in KUBERNETES_VERSIONS:
        used = kubernetes_validate.validate(obj, version, strict=True)
        assert used == version, f"schemas for {version} not shipped (got {used})"


def containers(pod: dict[str, Any], key: str = "containers") -> list[str]:
    return [c["name"] for c in pod["spec"].get(key) or []]
