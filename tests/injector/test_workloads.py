"""Pod templates of every workload kind: found, injected, schema-valid, idempotent."""

from __future__ import annotations

from typing import Any

import pytest

from injector.patch import InjectOptions
from injector.workloads import inject_object, pod_templates
from tests.injector.helpers import assert_schema_valid, by_name, containers, load

WORKLOADS = [doc for doc in load("workloads.yaml") if doc["kind"] not in ("Service", "ConfigMap")]


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
@pytest.mark.parametrize("doc", WORKLOADS, ids=lambda doc: doc["kind"])
def test_every_workload_template_injected_valid_and_idempotent(doc: dict[str, Any], native: bool) -> None:
    options = InjectOptions(native_sidecar=native)
    result, outcomes = inject_object(doc, options)
    assert [outcome.decision.inject for outcome in outcomes] == [True]
    ((template, _),) = pod_templates(result)
    names = containers(template, "initContainers") + containers(template)
    assert {"tracecar-init", "tracecar-proxy"} <= set(names)
    assert_schema_valid(result)
    again, outcomes = inject_object(result, options)
    assert again == result
    assert [outcome.decision.reason for outcome in outcomes] == ["already injected"]


def test_service_name_comes_from_the_workload_or_its_label() -> None:
    def service(doc: dict[str, Any]) -> str:
        ((template, _),) = pod_templates(inject_object(doc, InjectOptions())[0])
        (proxy,) = [
            c
            for key in ("initContainers", "containers")
            for c in template["spec"].get(key) or []
            if c["name"] == "tracecar-proxy"
        ]
        return str({e["name"]: e.get("value") for e in proxy["env"]}["OTEL_SERVICE_NAME"])

    assert service(by_name("frontend", "workloads.yaml")) == "frontend"
    assert service(by_name("cache", "workloads.yaml")) == "session-cache"
    assert service(by_name("nightly-cleanup", "workloads.yaml")) == "nightly-cleanup"


def test_cronjob_annotation_makes_job_complete_with_native_sidecar() -> None:
    result, _ = inject_object(by_name("nightly-cleanup", "workloads.yaml"), InjectOptions())
    template = result["spec"]["jobTemplate"]["spec"]["template"]
    assert containers(template) == ["cleanup"]
    assert containers(template, "initContainers") == ["tracecar-init", "tracecar-proxy"]


def test_list_items_injected_and_other_objects_untouched() -> None:
    docs = load("workloads.yaml")
    listing = {"apiVersion": "v1", "kind": "List", "items": docs}
    result, outcomes = inject_object(listing, InjectOptions())
    assert len(outcomes) == len(WORKLOADS)
    assert all(outcome.decision.inject for outcome in outcomes)
    for before, after in zip(docs, result["items"], strict=True):
        if before["kind"] in ("Service", "ConfigMap"):
            assert after == before
        else:
            assert after != before
    assert_schema_valid(result["items"][0])


def test_kube_system_workload_skipped() -> None:
    doc = by_name("frontend", "workloads.yaml")
    doc["metadata"]["namespace"] = "kube-system"
    result, outcomes = inject_object(doc, InjectOptions())
    assert result == doc
    assert not outcomes[0].decision.inject
