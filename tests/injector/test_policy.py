"""Who gets the sidecar: opt-in by namespace or pod, opt-out by pod, and pods never touched."""

from __future__ import annotations

from typing import Any

import pytest

from injector.pod_annotations import AnnotationError
from injector.policy import decide
from tests.injector.helpers import load

ENABLED = {"tracecar.io/inject": "enabled"}


def pod(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }


def test_enabled_namespace_injects() -> None:
    assert decide(pod(), "shop", ENABLED).inject


@pytest.mark.parametrize("labels", [{}, {"tracecar.io/inject": "disabled"}, {"other": "enabled"}])
def test_namespace_without_the_label_does_not(labels: dict[str, str]) -> None:
    assert not decide(pod(), "shop", labels).inject


def test_pod_annotation_or_label_opts_in() -> None:
    assert decide(pod(annotations={"tracecar.io/inject": "true"}), "shop", {}).inject
    assert decide(pod(labels={"tracecar.io/inject": "true"}), "shop", {}).inject


def test_annotation_wins_over_label() -> None:
    both = pod(labels={"tracecar.io/inject": "true"}, annotations={"tracecar.io/inject": "false"})
    assert not decide(both, "shop", ENABLED).inject


def test_requested_injects_without_namespace_label_but_respects_opt_out() -> None:
    assert decide(pod(), None, None, requested=True).inject
    assert not decide(pod(annotations={"tracecar.io/inject": "false"}), None, requested=True).inject


def test_invalid_inject_value_rejected() -> None:
    with pytest.raises(AnnotationError, match=r"tracecar.io/inject: must be \"true\" or \"false\""):
        decide(pod(annotations={"tracecar.io/inject": "yes"}), "shop", ENABLED)


@pytest.mark.parametrize("doc", load("opt_outs.yaml"), ids=lambda doc: doc["metadata"]["name"])
def test_every_opt_out_wins_over_enabled_namespace_and_request(doc: dict[str, Any]) -> None:
    namespace = doc["metadata"]["namespace"]
    decision = decide(doc, namespace, ENABLED, requested=True)
    assert not decision.inject, decision.reason


def test_reasons_say_why() -> None:
    assert "kube-system" in decide(pod(), "kube-system", ENABLED).reason
    host = pod()
    host["spec"]["hostNetwork"] = True
    assert "hostNetwork" in decide(host, "shop", ENABLED).reason
    injected = pod(annotations={"tracecar.io/injected": "{}"})
    assert decide(injected, "shop", ENABLED).reason == "already injected"
