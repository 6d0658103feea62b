"""`tracecar inject` end to end through the real CLI entry point: files, directories, stdin."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.cli import main
from tests.injector.helpers import FIXTURES, assert_schema_valid


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["inject", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_multi_document_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(FIXTURES / "workloads.yaml"))
    assert (code, err) == (0, "")
    before, after = docs((FIXTURES / "workloads.yaml").read_text()), docs(out)
    assert [d["kind"] for d in after] == [d["kind"] for d in before]
    for old, new in zip(before, after, strict=True):
        assert_schema_valid(new)
        if old["kind"] in ("Service", "ConfigMap"):
            assert new == old
        else:
            assert "tracecar-proxy" in out
            assert new != old


def test_unchanged_documents_keep_their_text(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(FIXTURES / "workloads.yaml"))
    # the ConfigMap's literal block (holding a `---` of its own) is copied byte for byte
    assert "  settings.yaml: |\n    ---\n    feature: on\n" in out
    _, out, _ = run(capsys, str(FIXTURES / "opt_outs.yaml"))
    assert out == (FIXTURES / "opt_outs.yaml").read_text()


def test_idempotent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, once, _ = run(capsys, str(FIXTURES / "pods.yaml"), str(FIXTURES / "workloads.yaml"))
    (tmp_path / "once.yaml").write_text(once)
    _, twice, _ = run(capsys, str(tmp_path / "once.yaml"))
    assert twice == once


def test_directory_and_stdin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(FIXTURES / "pods.yaml", tmp_path / "a.yaml")
    shutil.copy(FIXTURES / "workloads.yaml", tmp_path / "b.yml")
    (tmp_path / "notes.txt").write_text("not: yaml for us\n")
    _, from_dir, _ = run(capsys, str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO((FIXTURES / "pods.yaml").read_text()))
    _, from_stdin, _ = run(capsys)
    assert len(docs(from_dir)) == 3 + 8
    assert from_dir.startswith(from_stdin)


def test_list_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": docs((FIXTURES / "workloads.yaml").read_text())}
    (tmp_path / "list.json").write_text(yaml.safe_dump(listing))
    code, out, _ = run(capsys, str(tmp_path / "list.json"))
    assert code == 0
    (result,) = docs(out)
    assert out.count("name: tracecar-proxy") == 6
    assert_schema_valid(result["items"][0])


def test_flags_override_annotations_and_choose_native(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--native-sidecar",
        "--image", "registry.example/tracecar:dev",
        "--exclude-outbound-ports", "3306",
        "--service-name", "override",
        "--response-timeout", "90s",
        str(FIXTURES / "pods.yaml"),
    )  # fmt: skip
    assert code == 0
    for pod in docs(out):
        init = pod["spec"]["initContainers"]
        names = [c["name"] for c in init]
        assert names.index("tracecar-init") + 1 == names.index("tracecar-proxy")
        tracecar_init = init[names.index("tracecar-init")]
        assert tracecar_init["image"] == "registry.example/tracecar:dev"
        assert "3306" in ",".join(tracecar_init["command"])
        proxy_env = {e["name"]: e.get("value") for e in init[names.index("tracecar-proxy")]["env"]}
        assert proxy_env["OTEL_SERVICE_NAME"] == "override"
        command = init[names.index("tracecar-proxy")]["command"]
        assert command[command.index("--response-timeout") + 1] == "90"


def test_invalid_flag_and_annotation_rejected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--sampler-ratio", "2", str(FIXTURES / "pods.yaml"))
    assert (code, out) == (1, "")
    assert "tracecar.io/sampler-ratio: must be a ratio between 0 and 1" in err
    bad = (FIXTURES / "pods.yaml").read_text().replace('sampler-ratio: "0.25"', 'sampler-ratio: "often"')
    (tmp_path / "bad.yaml").write_text(bad)
    code, out, err = run(capsys, str(tmp_path / "bad.yaml"))
    assert code == 1
    assert "Pod/payments: annotation tracecar.io/sampler-ratio: not a number" in err


def test_broken_yaml_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: Pod\nmetadata: [\n")
    code, _, err = run(capsys, str(tmp_path / "broken.yaml"))
    assert code == 1
    assert err.startswith("tracecar inject: ")
