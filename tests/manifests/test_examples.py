"""manifests/examples/two-services.yaml is exactly `tracecar inject` of its source, and valid."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import yaml

from injector.policy import INIT_CONTAINER, PROXY_CONTAINER
from tests.manifests.helpers import MANIFESTS, ROOT, has_registry_host, validate

EXAMPLES = MANIFESTS / "examples"
SOURCE = EXAMPLES / "source" / "two-services.yaml"
INJECTED = EXAMPLES / "two-services.yaml"
# The command in manifests/examples/README.md.
OPTIONS = ("--otlp-endpoint", "http://otel-collector.observability.svc:4318")


def tracecar_inject(*args: str) -> str:
    """The real CLI in a process of its own, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "inject", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_example_is_what_inject_produces() -> None:
    expected = tracecar_inject(*OPTIONS, str(SOURCE.relative_to(ROOT)))
    assert INJECTED.read_text() == expected, (
        "manifests/examples/two-services.yaml is out of date: regenerate it with the command in "
        "manifests/examples/README.md"
    )


def test_example_injects_both_services_and_nothing_else() -> None:
    source, injected = documents(SOURCE.read_text()), documents(INJECTED.read_text())
    assert [d["kind"] for d in injected] == ["Namespace", "Deployment", "Service", "Deployment", "Service"]
    for before, after in zip(source, injected, strict=True):
        validate(before)
        validate(after)
        if after["kind"] != "Deployment":
            assert after == before
            continue
        pod = after["spec"]["template"]["spec"]
        app = before["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in pod["containers"]] == [PROXY_CONTAINER, *(c["name"] for c in app)]
        assert [c["name"] for c in pod["initContainers"]] == [INIT_CONTAINER]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["OTEL_SERVICE_NAME"] == after["metadata"]["name"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == OPTIONS[1]
        images = [c["image"] for c in [*pod["initContainers"], *pod["containers"]]]
        assert not [image for image in images if has_registry_host(image)]


def test_injecting_the_example_again_changes_nothing() -> None:
    text = INJECTED.read_text()
    assert tracecar_inject(*OPTIONS, str(INJECTED.relative_to(ROOT))) == text
