"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decisions as a pure function.

https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/

Namespace opt-in is the MutatingWebhookConfiguration's `namespaceSelector` (the label
`tracecar.io/inject=enabled`): namespace labels are not part of an AdmissionReview, so a pod that
reaches the webhook counts as coming from an enabled namespace. The pod's own `tracecar.io/inject`
opt-out still applies, and excluded namespaces (the system ones and `excluded_namespaces`) are never
injected whatever the selector says.

Outcomes: a malformed review raises BadReview (the HTTP layer answers 400); a review the webhook
does not handle (another kind, a subresource, not CREATE) is allowed unchanged with a warning where
it points at a misconfiguration; an invalid `tracecar.io/*` annotation is denied with the
annotation's name, because the pod's author asked for something tracecar cannot do; any other
failure admits the pod without the sidecar and says so, so a broken injector never blocks a rollout.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from injector.patch import InjectOptions, inject, json_patch
from injector.pod_annotations import AnnotationError
from injector.policy import NAMESPACE_ENABLED, NAMESPACE_LABEL, SYSTEM_NAMESPACES

log = logging.getLogger("tracecar.webhook")

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
POD_KIND = {"group": "", "version": "v1", "kind": "Pod"}
OUTCOMES = ("injected", "skipped", "ignored", "denied", "error")


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 request: answered with HTTP 400 and this message."""

    status = 400


@dataclass(frozen=True)
class ReviewOptions:
    inject: InjectOptions = field(default_factory=InjectOptions)
    excluded_namespaces: Collection[str] = ()


@dataclass(frozen=True)
class Reviewed:
    """The AdmissionReview to send back, and one of OUTCOMES for metrics and the log."""

    review: dict[str, Any]
    outcome: str


def parse(body: bytes) -> dict[str, Any]:
    """The review's `request`, checked for what the webhook relies on; BadReview otherwise."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReview(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadReview("body is not a JSON object")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != KIND:
        raise BadReview(f"expected apiVersion {API_VERSION} kind {KIND}")
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadReview("request: missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("request.uid: missing or not a string")
    if not isinstance(request.get("kind"), dict):
        raise BadReview("request.kind: missing or not an object")
    operation = request.get("operation")
    if not isinstance(operation, str):
        raise BadReview("request.operation: missing or not a string")
    if operation == "CREATE" and not isinstance(request.get("object"), dict):
        raise BadReview("request.object: missing or not an object on CREATE")
    return request


def review(request: dict[str, Any], options: ReviewOptions) -> Reviewed:
    """Answer one parsed request (see `parse`). Never raises."""
    uid = request["uid"]
    ignored = _not_handled(request)
    if ignored is not None:
        reason, warn = ignored
        return Reviewed(_response(uid, warnings=[reason] if warn else None), "ignored")
    try:
        return _review_pod(request, options)
    except AnnotationError as exc:
        return Reviewed(_response(uid, allowed=False, status={"code": 400, "message": str(exc)}), "denied")
    except Exception as exc:
        log.exception("review %s: injection failed; admitting the pod without the sidecar", uid)
        warning = f"tracecar: injection failed ({type(exc).__name__}); pod admitted without the sidecar"
        return Reviewed(_response(uid, warnings=[warning]), "error")


def _not_handled(request: dict[str, Any]) -> tuple[str, bool] | None:
    """(reason, whether to warn) for requests passed through unchanged."""
    kind = request["kind"]
    if {key: kind.get(key) for key in POD_KIND} != POD_KIND:
        # The webhook configuration should send only pods: say so to whoever applied the object.
        name = "/".join(str(kind.get(key, "")) for key in ("group", "version", "kind"))
        return f"tracecar: webhook handles core/v1 Pod only, got {name}; not mutated", True
    if request.get("subResource"):
        return "subresource", False
    if request["operation"] != "CREATE":
        return "not CREATE", False
    return None


def _review_pod(request: dict[str, Any], options: ReviewOptions) -> Reviewed:
    pod = request["object"]
    namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace")
    if namespace in options.excluded_namespaces or namespace in SYSTEM_NAMESPACES:
        log.debug("review %s: namespace %s is excluded", request["uid"], namespace)
        return Reviewed(_response(request["uid"]), "skipped")
    result = inject(
        pod,
        options.inject,
        namespace=namespace,
        namespace_labels={NAMESPACE_LABEL: NAMESPACE_ENABLED},
    )
    if not result.decision.inject:
        log.debug("review %s: not injected: %s", request["uid"], result.decision.reason)
        return Reviewed(_response(request["uid"]), "skipped")
    patch = json_patch(pod, result.pod)
    return Reviewed(_response(request["uid"], patch=patch), "injected" if patch else "skipped")


def _response(
    uid: str,
    *,
    allowed: bool = True,
    patch: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    if warnings:
        response["warnings"] = warnings
    if status is not None:
        response["status"] = status
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}
