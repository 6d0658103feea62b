"""AdmissionReviews as the API server sends them, and what a correctly injected pod looks like."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch

from injector.patch import InjectOptions, inject

FIXTURES = Path(__file__).parent / "fixtures"
POD_CREATE = FIXTURES / "pod_create.json"


def pod_create(**request: Any) -> dict[str, Any]:
    """The captured pod CREATE review, with `request` fields replaced."""
    review: dict[str, Any] = json.loads(POD_CREATE.read_text())
    review["request"].update(request)
    return review


def pod_annotations(review: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = review["request"]["object"]["metadata"]["annotations"]
    return annotations


def expected_pod(review: dict[str, Any], options: InjectOptions | None = None) -> dict[str, Any]:
    """The pod `tracecar inject` logic makes of the review's object, namespace enabled."""
    request = review["request"]
    return inject(
        request["object"],
        options or InjectOptions(),
        namespace=request["namespace"],
        namespace_labels={"tracecar.io/inject": "enabled"},
    ).pod


def decode_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"], validate=True))
    return ops


def apply(review: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Apply the response's patch to the review's object with an independent RFC 6902 library."""
    original = copy.deepcopy(review["request"]["object"])
    patched: dict[str, Any] = jsonpatch.JsonPatch(decode_patch(response)).apply(original)
    return patched
