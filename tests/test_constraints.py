"""Dependencies are pinned: constraints.txt (made by .ci/freeze-constraints) pins every package that
pyproject.toml asks for to a version it allows, and the environment under test holds exactly those
versions, so CI and the image (which installs with the same file) run what was tested."""

from __future__ import annotations

import importlib.metadata
import os
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    return [Requirement(text) for text in listed]


def test_every_requirement_is_pinned_to_a_version_it_allows() -> None:
    pins = pinned()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: run .ci/freeze-constraints"
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


@pytest.mark.skipif(os.environ.get("TRACECAR_UNPINNED") == "1", reason="installed unpinned on purpose")
def test_the_environment_holds_the_pinned_versions() -> None:
    installed = {
        str(canonicalize_name(dist.metadata["Name"])): dist.version
        for dist in importlib.metadata.distributions()
    }
    for name, version in pinned().items():
        if name in installed:  # a runtime-only install lacks the test tools
            assert installed[name] == version, f"{name} {installed[name]} installed, {version} pinned"
