"""manifests/base and its overlays: rendered by the real `kubectl kustomize`, every object schema-valid."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from injector.policy import NAMESPACE_ENABLED, NAMESPACE_LABEL, SYSTEM_NAMESPACES
from proxy.cli import build_parser
from proxy.commands import webhook
from tests.manifests.helpers import (
    CERT_MANAGER_SCHEMA,
    KUSTOMIZATIONS,
    MANIFESTS,
    find,
    has_registry_host,
    render,
    restricted_violations,
    schemastore,
    validate,
)

NAMESPACE = "tracecar-system"
WEBHOOK_PORT = 8443
CLUSTER_SCOPED = {"Namespace", "MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"}


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(str(request.param))


def pod_specs(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kustomization_files_validate_against_schemastore(kustomization: str) -> None:
    schema = schemastore("kustomization.yaml")
    validator = jsonschema.validators.validator_for(schema)(schema)
    document = yaml.safe_load((MANIFESTS / kustomization / "kustomization.yaml").read_text())
    assert [error.message for error in validator.iter_errors(document)] == []
    assert list(validator.iter_errors({**document, "resourcez": []}))


def test_every_rendered_object_validates(rendered: list[dict[str, Any]]) -> None:
    assert len(rendered) >= 6
    for obj in rendered:
        validate(obj)


def test_objects_are_in_the_namespace_and_images_name_no_registry(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        expected = None if obj["kind"] in CLUSTER_SCOPED else NAMESPACE
        assert obj["metadata"].get("namespace") == expected, obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tracecar"
    images = [
        c["image"]
        for spec in pod_specs(rendered)
        for c in [*spec.get("initContainers", []), *spec["containers"]]
    ]
    assert images
    assert not [image for image in images if has_registry_host(image)]


def test_pods_meet_the_restricted_profile(rendered: list[dict[str, Any]]) -> None:
    namespace = find(rendered, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for spec in pod_specs(rendered):
        assert restricted_violations(spec) == []


def test_tracecar_commands_parse_with_the_real_cli(rendered: list[dict[str, Any]]) -> None:
    """Every `tracecar ...` command in the manifests is one the CLI accepts, running what it should."""
    commands = [
        c["command"]
        for spec in pod_specs(rendered)
        for c in [*spec.get("initContainers", []), *spec["containers"]]
        if c["command"][0] == "tracecar"
    ]
    assert commands
    for command in commands:
        argv = [arg.replace("$(POD_NAMESPACE)", NAMESPACE) for arg in command[1:]]
        args = build_parser().parse_args(argv)
        assert args.run is (webhook.run_certs if argv[:2] == ["webhook", "certs"] else webhook.run), argv


def test_deployment_service_and_pdb_agree(rendered: list[dict[str, Any]]) -> None:
    deployment = find(rendered, "Deployment", "tracecar-webhook")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    pdb = find(rendered, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] == 1
    service = find(rendered, "Service", "tracecar-webhook")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert ports[service_port["targetPort"]] == WEBHOOK_PORT
    assert container["command"][:2] == ["tracecar", "webhook"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for flag in ("--cert", "--key"):
        path = container["command"][container["command"].index(flag) + 1]
        assert any(path.startswith(mount + "/") for mount in mounts.values()), path


def test_webhook_configuration(rendered: list[dict[str, Any]]) -> None:
    (webhook,) = find(rendered, "MutatingWebhookConfiguration")["webhooks"]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["sideEffects"] == "None"
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    assert 1 <= webhook["timeoutSeconds"] <= 10
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    expressions = {e["key"]: e for e in webhook["namespaceSelector"]["matchExpressions"]}
    assert expressions[NAMESPACE_LABEL] == {
        "key": NAMESPACE_LABEL,
        "operator": "In",
        "values": [NAMESPACE_ENABLED],
    }
    never = expressions["kubernetes.io/metadata.name"]
    assert never["operator"] == "NotIn"
    assert set(never["values"]) == {*SYSTEM_NAMESPACES, NAMESPACE}
    service = find(rendered, "Service", "tracecar-webhook")
    target = webhook["clientConfig"]["service"]
    assert target == {"name": "tracecar-webhook", "namespace": NAMESPACE, "path": "/mutate", "port": 443}
    assert service["spec"]["ports"][0]["port"] == target["port"]


def test_the_webhook_gets_no_api_access(rendered: list[dict[str, Any]]) -> None:
    account = find(rendered, "ServiceAccount", "tracecar-webhook")
    assert account["automountServiceAccountToken"] is False
    pod = find(rendered, "Deployment", "tracecar-webhook")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tracecar-webhook"
    assert pod["automountServiceAccountToken"] is False
    for binding in (o for o in rendered if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert "tracecar-webhook" not in {s["name"] for s in binding["subjects"]}


def test_base_leaves_the_certificate_to_an_overlay() -> None:
    objects = render("base")
    assert {o["kind"] for o in objects} == {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "MutatingWebhookConfiguration",
    }
    (webhook,) = find(objects, "MutatingWebhookConfiguration")["webhooks"]
    assert "caBundle" not in webhook["clientConfig"]


def _tls_secret_name(objects: list[dict[str, Any]]) -> str:
    volumes = find(objects, "Deployment", "tracecar-webhook")["spec"]["template"]["spec"]["volumes"]
    (secret,) = [v["secret"]["secretName"] for v in volumes if "secret" in v]
    return str(secret)


def test_cert_manager_overlay() -> None:
    objects = render("overlays/cert-manager")
    certificate = find(objects, "Certificate")
    spec = certificate["spec"]
    assert spec["secretName"] == _tls_secret_name(objects)
    assert spec["dnsNames"] == [
        f"tracecar-webhook.{NAMESPACE}.svc",
        f"tracecar-webhook.{NAMESPACE}.svc.cluster.local",
    ]
    issuer = find(objects, spec["issuerRef"]["kind"], spec["issuerRef"]["name"])
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    webhooks = find(objects, "MutatingWebhookConfiguration")
    annotation = webhooks["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert annotation == f"{certificate['metadata']['namespace']}/{certificate['metadata']['name']}"


def _job_script(objects: list[dict[str, Any]]) -> tuple[list[str], str]:
    pod = find(objects, "Job", "tracecar-certs")["spec"]["template"]["spec"]
    (generate,) = pod["initContainers"]
    (publish,) = pod["containers"]
    return generate["command"], publish["command"][-1]


def test_certs_job_generates_for_the_service_and_publishes_secret_and_ca_bundle() -> None:
    objects = render("overlays/certs-job")
    generate, script = _job_script(objects)
    service = find(objects, "Service", "tracecar-webhook")["metadata"]["name"]
    assert generate[:3] == ["tracecar", "webhook", "certs"]
    assert generate[generate.index("--service") + 1] == service
    assert generate[generate.index("--namespace") + 1] == "$(POD_NAMESPACE)"
    assert f"secret={_tls_secret_name(objects)}\n" in script
    webhook = find(objects, "MutatingWebhookConfiguration")["metadata"]["name"]
    assert f"kubectl patch mutatingwebhookconfiguration {webhook} " in script
    assert "/webhooks/0/clientConfig/caBundle" in script


def test_certs_job_rbac_grants_exactly_what_its_script_calls() -> None:
    objects = render("overlays/certs-job")
    _, script = _job_script(objects)
    secret = _tls_secret_name(objects)
    called = set(
        re.findall(r"kubectl (?:-n \S+ )?(get|create|patch) (secret|mutatingwebhookconfiguration)", script)
    )
    assert called == {("get", "secret"), ("create", "secret"), ("patch", "mutatingwebhookconfiguration")}
    role = find(objects, "Role", "tracecar-certs")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]},
    ]
    cluster_role = find(objects, "ClusterRole", "tracecar-certs")
    webhook = find(objects, "MutatingWebhookConfiguration")["metadata"]["name"]
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations"],
            "resourceNames": [webhook],
            "verbs": ["patch"],
        }
    ]
    account = find(objects, "Job")["spec"]["template"]["spec"]["serviceAccountName"]
    for kind, role_kind in (("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")):
        binding = find(objects, kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": "tracecar-certs",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    assert {o["kind"] for o in objects if "rbac" in o["apiVersion"]} == {
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }


def test_validation_catches_broken_objects() -> None:
    """The checks above can fail: a schema violation in each kind of object is reported."""
    objects = render("overlays/cert-manager")
    deployment = copy.deepcopy(find(objects, "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    webhooks = copy.deepcopy(find(objects, "MutatingWebhookConfiguration"))
    webhooks["webhooks"][0]["failurePolicy_"] = "Ignore"  # strict: unknown fields are refused
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(webhooks)
    certificate = copy.deepcopy(find(objects, "Certificate"))
    del certificate["spec"]["issuerRef"]
    with pytest.raises(jsonschema.ValidationError):
        validate(certificate)
    issuer = copy.deepcopy(find(objects, "Issuer"))
    issuer["spec"]["selfSigned"]["unknown"] = True
    with pytest.raises(jsonschema.ValidationError):
        validate(issuer)


def test_cert_manager_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(CERT_MANAGER_SCHEMA)


def test_restricted_check_and_registry_check_can_fail() -> None:
    context = {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}}
    root = {
        "containers": [{"name": "c", "securityContext": context}],
        "volumes": [{"name": "h", "hostPath": {}}],
    }
    assert len(restricted_violations(root)) == 7
    assert has_registry_host("example.org/tracecar:1")
    assert has_registry_host("localhost:5000/tracecar")
    assert not has_registry_host("tracecar:0.1.0")
    assert not has_registry_host("otel/opentelemetry-collector:0.115.0")
