"""`injector.admission` as a pure function: AdmissionReview dicts in, AdmissionReview dicts out."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from injector import admission
from injector.admission import BadReview, ReviewOptions, parse, review
from injector.patch import InjectOptions
from tests.injector.helpers import assert_schema_valid, containers
from tests.webhook.reviews import apply, decode_patch, expected_pod, pod_annotations, pod_create


def answer(doc: dict[str, Any], options: ReviewOptions | None = None) -> admission.Reviewed:
    return review(parse(json.dumps(doc).encode()), options or ReviewOptions())


def test_pod_create_gets_a_patch_that_yields_the_injected_pod() -> None:
    doc = pod_create()
    result = answer(doc)
    assert result.outcome == "injected"
    assert result.review["apiVersion"] == "admission.k8s.io/v1"
    assert result.review["kind"] == "AdmissionReview"
    response = result.review["response"]
    assert response["uid"] == "0df28fbd-5f5f-11e8-bc74-36e6bb280816"
    assert response["allowed"] is True
    assert "warnings" not in response
    pod = apply(doc, response)
    assert pod == expected_pod(doc)
    assert containers(pod) == ["tracecar-proxy", "checkout"]
    assert containers(pod, "initContainers") == ["tracecar-init"]
    proxy_env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert proxy_env["OTEL_SERVICE_NAME"] == "checkout"  # the Deployment, not its ReplicaSet
    validated = dict(pod)
    validated["metadata"] = {k: v for k, v in pod["metadata"].items() if k != "creationTimestamp"}
    assert_schema_valid(validated)


def test_patch_is_minimal_it_never_rewrites_the_application() -> None:
    ops = decode_patch(answer(pod_create()).review["response"])
    assert {op["op"] for op in ops} == {"add"}
    paths = [op["path"] for op in ops]
    assert "/spec/containers/0" in paths
    assert "/spec/initContainers" in paths  # the pod had none: the whole list is added
    assert not any(p.startswith("/spec/containers/1") for p in paths)
    assert "/metadata/annotations/tracecar.io~1injected" in paths


def test_native_sidecar_option_is_honoured() -> None:
    doc = pod_create()
    options = ReviewOptions(inject=InjectOptions(native_sidecar=True))
    pod = apply(doc, answer(doc, options).review["response"])
    assert containers(pod, "initContainers") == ["tracecar-init", "tracecar-proxy"]
    assert pod == expected_pod(doc, InjectOptions(native_sidecar=True))


def test_an_injected_pod_is_not_injected_twice() -> None:
    doc = pod_create()
    doc["request"]["object"] = apply(doc, answer(doc).review["response"])
    result = answer(doc)
    assert result.outcome == "skipped"
    assert result.review["response"] == {"uid": doc["request"]["uid"], "allowed": True}


def test_pod_opt_out_is_honoured() -> None:
    doc = pod_create()
    pod_annotations(doc)["tracecar.io/inject"] = "false"
    result = answer(doc)
    assert result.outcome == "skipped"
    assert "patch" not in result.review["response"]


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "payments"])
def test_excluded_namespaces_are_never_injected(namespace: str) -> None:
    doc = pod_create(namespace=namespace)
    doc["request"]["object"]["metadata"]["namespace"] = namespace
    pod_annotations(doc)["tracecar.io/inject"] = "true"  # even a pod asking for it
    result = answer(doc, ReviewOptions(excluded_namespaces={"payments"}))
    assert result.outcome == "skipped"
    assert result.review["response"] == {"uid": doc["request"]["uid"], "allowed": True}


def test_namespace_from_the_request_when_the_pod_has_none() -> None:
    """Pods created by controllers often carry no metadata.namespace; request.namespace counts."""
    doc = pod_create(namespace="kube-system")
    del doc["request"]["object"]["metadata"]["namespace"]
    assert answer(doc).outcome == "skipped"


@pytest.mark.parametrize(
    "kind",
    [
        {"group": "apps", "version": "v1", "kind": "Deployment"},
        {"group": "", "version": "v1", "kind": "Service"},
        {"group": "example.com", "version": "v1", "kind": "Pod"},
    ],
)
def test_wrong_kind_is_allowed_unchanged_with_a_warning(kind: dict[str, str]) -> None:
    result = answer(pod_create(kind=kind))
    assert result.outcome == "ignored"
    response = result.review["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert kind["kind"] in response["warnings"][0]
    assert "Pod only" in response["warnings"][0]


@pytest.mark.parametrize(
    "change",
    [
        {"operation": "UPDATE", "oldObject": {}},
        {"operation": "DELETE", "object": None},
        {"operation": "CONNECT"},
        {"subResource": "ephemeralcontainers"},
    ],
)
def test_only_pod_creation_is_mutated(change: dict[str, Any]) -> None:
    doc = pod_create(**change)
    result = answer(doc)
    assert result.outcome == "ignored"
    assert result.review["response"] == {"uid": doc["request"]["uid"], "allowed": True}


def test_invalid_annotation_is_denied_naming_it() -> None:
    doc = pod_create()
    pod_annotations(doc)["tracecar.io/sampler-ratio"] = "1.5"
    result = answer(doc)
    assert result.outcome == "denied"
    response = result.review["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "tracecar.io/sampler-ratio" in response["status"]["message"]


def test_internal_error_admits_the_pod_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("spec")

    monkeypatch.setattr(admission, "inject", broken)
    doc = pod_create()
    with caplog.at_level(logging.ERROR, logger="tracecar.webhook"):
        result = answer(doc)
    assert result.outcome == "error"
    response = result.review["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert "injection failed" in response["warnings"][0]
    assert "without the sidecar" in response["warnings"][0]
    assert any(doc["request"]["uid"] in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}', "expected apiVersion"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}', "request.uid"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadReview, match=reason):
        parse(body)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("uid", 7, "request.uid"),
        ("kind", "Pod", "request.kind"),
        ("operation", None, "request.operation"),
        ("object", [], "request.object"),
    ],
)
def test_malformed_request_fields_are_refused(field: str, value: object, reason: str) -> None:
    with pytest.raises(BadReview, match=reason):
        parse(json.dumps(pod_create(**{field: value})).encode())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    metadata=_json,
    spec=_json,
    operation=st.sampled_from(["CREATE", "UPDATE"]),
)
def test_any_pod_shape_gets_an_answer_never_an_exception(metadata: Any, spec: Any, operation: str) -> None:
    """Whatever the object holds, the answer is an AdmissionReview for the same uid."""
    doc = pod_create(operation=operation)
    doc["request"]["object"]["metadata"] = metadata
    doc["request"]["object"]["spec"] = spec
    result = answer(doc)
    response = result.review["response"]
    assert response["uid"] == doc["request"]["uid"]
    assert result.outcome in admission.OUTCOMES
    assert response["allowed"] is (result.outcome != "denied")
