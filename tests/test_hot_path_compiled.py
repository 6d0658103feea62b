"""The hot path runs compiled: every module setup.py's HOT_PATH names is a mypyc extension built from
the current sources. (tests/propagation/test_compiled.py checks compiled and pure agree.)

TRACECAR_PURE=1 declares a pure install (no C compiler): then no extension may shadow the sources.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = os.environ.get("TRACECAR_PURE") == "1"
REBUILD = "run: bash .ci/setup --test"


def hot_path() -> list[str]:
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HOT_PATH":
            paths: list[str] = ast.literal_eval(node.value)
            return paths
    raise AssertionError("setup.py has no HOT_PATH")


def sources() -> list[Path]:
    found: list[Path] = []
    for entry in hot_path():
        path = ROOT / entry
        found += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return found


SOURCES = sources()


def module_name(source: Path) -> str:
    parts = source.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_hot_path_names_the_data_path() -> None:
    names = {module_name(source) for source in SOURCES}
    assert {"propagation.traceparent", "proxy.http1.head", "proxy.forwarder", "proxy.pool"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=module_name)
def test_module_is_loaded_from_its_compiled_extension(source: Path) -> None:
    loaded = importlib.import_module(module_name(source)).__file__ or ""
    if PURE:
        assert loaded.endswith(".py"), f"TRACECAR_PURE=1, yet {source} loads {loaded}: remove the stale *.so"
    else:
        assert loaded.endswith(".so"), f"{source} runs as plain Python ({loaded}), not compiled: {REBUILD}"


@pytest.mark.parametrize("source", SOURCES, ids=module_name)
def test_compiled_extension_is_not_older_than_its_source(source: Path) -> None:
    extensions = sorted(source.parent.glob(f"{source.stem}.*.so"))
    if PURE:
        assert extensions == [], f"TRACECAR_PURE=1, yet {extensions} would shadow {source.name}"
        return
    assert len(extensions) == 1, f"{source}: expected one compiled extension, found {extensions}; {REBUILD}"
    built, edited = extensions[0].stat().st_mtime, source.stat().st_mtime
    assert built >= edited, f"{extensions[0].name} is older than {source.name} (stale build): {REBUILD}"


def test_shared_mypyc_library_is_not_older_than_any_source() -> None:
    """The per-module extensions are shims; the code itself is in one shared library (group_name)."""
    importlib.import_module("propagation.propagators")
    library = sys.modules.get("tracecar_hotpath__mypyc")
    if PURE:
        assert library is None, f"TRACECAR_PURE=1, yet the compiled library {library} is loaded"
        return
    assert library is not None and library.__file__ is not None, f"no compiled library loaded: {REBUILD}"
    built = Path(library.__file__).stat().st_mtime
    newer = [str(p.relative_to(ROOT)) for p in SOURCES if p.stat().st_mtime > built]
    assert not newer, f"{Path(library.__file__).name} is older than {newer} (stale build): {REBUILD}"
