"""Injection of realistic pods: what is added, where, schema validity, idempotence, the webhook patch."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from injector import pod_annotations as ann
from injector.patch import InjectOptions, inject, json_patch, service_name
from injector.pod_annotations import AnnotationError
from injector.sidecar import proxy_args, proxy_resources
from proxy.cli import build_parser
from proxy.opaque_ports import DEFAULT_OPAQUE_PORTS, parse_ports
from tests.injector.helpers import assert_schema_valid, by_name, containers, load

ENABLED = {"tracecar.io/inject": "enabled"}
CLASSIC = InjectOptions()
NATIVE = InjectOptions(native_sidecar=True)


def injected(pod: dict[str, Any], options: InjectOptions = CLASSIC) -> dict[str, Any]:
    result = inject(pod, options, namespace=pod["metadata"].get("namespace"), namespace_labels=ENABLED)
    assert result.decision.inject, result.decision.reason
    return result.pod


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for key in ("initContainers", "containers") for c in pod["spec"].get(key) or [] if c["name"] == name
    ]
    assert len(found) == 1
    return found[0]


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


@pytest.mark.parametrize("options", [CLASSIC, NATIVE], ids=["classic", "native"])
@pytest.mark.parametrize("pod", load("pods.yaml"), ids=lambda pod: pod["metadata"]["name"])
def test_injected_pod_is_schema_valid_idempotent_and_patchable(
    pod: dict[str, Any], options: InjectOptions
) -> None:
    original = copy.deepcopy(pod)
    result = injected(pod, options)
    assert pod == original, "the input must not be modified"
    assert_schema_valid(result)
    again = inject(result, options, namespace=pod["metadata"].get("namespace"), namespace_labels=ENABLED)
    assert again.pod == result
    assert not again.decision.inject
    assert json_patch(result, again.pod) == []
    patch = json_patch(original, result)
    assert jsonpatch.apply_patch(original, patch) == result


def test_reinvocation_after_another_webhook_changes_nothing() -> None:
    pod = injected(by_name("checkout-7d9f8b6c5d-x2x9k", "pods.yaml"))
    pod["spec"]["containers"].append({"name": "other-mesh-agent", "image": "registry.example/agent:1"})
    again = inject(pod, CLASSIC, namespace="shop", namespace_labels=ENABLED)
    assert again.pod == pod
    assert again.decision.reason == "already injected"


def test_classic_layout_keeps_app_containers_and_init_order() -> None:
    pod = injected(by_name("checkout-7d9f8b6c5d-x2x9k", "pods.yaml"))
    assert containers(pod, "initContainers") == ["migrate", "tracecar-init"]
    assert containers(pod) == ["tracecar-proxy", "app", "log-shipper"]
    proxy = container(pod, "tracecar-proxy")
    assert "postStart" in proxy["lifecycle"]
    assert "restartPolicy" not in proxy
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["config", "cache", "tracecar-tmp"]
    original = by_name("checkout-7d9f8b6c5d-x2x9k", "pods.yaml")
    assert container(pod, "app") == container(original, "app")
    assert pod["spec"]["securityContext"] == original["spec"]["securityContext"]


def test_native_layout_runs_iptables_then_proxy_before_everything() -> None:
    pod = injected(by_name("checkout-7d9f8b6c5d-x2x9k", "pods.yaml"), NATIVE)
    assert containers(pod, "initContainers") == ["tracecar-init", "tracecar-proxy", "migrate"]
    assert containers(pod) == ["app", "log-shipper"]
    proxy = container(pod, "tracecar-proxy")
    assert proxy["restartPolicy"] == "Always"
    assert proxy["startupProbe"]["httpGet"] == {"path": "/ready", "port": 15000}
    assert "postStart" not in proxy["lifecycle"]


def test_pod_annotation_chooses_the_mode_over_the_option() -> None:
    payments = by_name("payments", "pods.yaml")  # native-sidecar: "true"
    assert containers(injected(payments, CLASSIC), "initContainers") == ["tracecar-init", "tracecar-proxy"]
    payments["metadata"]["annotations"]["tracecar.io/native-sidecar"] = "false"
    assert containers(injected(payments, NATIVE)) == ["tracecar-proxy", "payments"]


def test_init_container_privileges_and_command() -> None:
    init = container(injected(by_name("debug", "pods.yaml")), "tracecar-init")
    assert init["command"] == ["tracecar", "init", "--proxy-uid", "1337"]
    security = init["securityContext"]
    assert security["capabilities"] == {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
    # runs as root even under a pod-level runAsNonRoot: true
    assert security["runAsUser"] == 0
    assert security["runAsNonRoot"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False


def test_proxy_container_hardening_probe_and_env() -> None:
    pod = injected(by_name("checkout-7d9f8b6c5d-x2x9k", "pods.yaml"))
    proxy = container(pod, "tracecar-proxy")
    assert proxy["command"] == ["tracecar", "proxy"]
    assert proxy["securityContext"]["runAsUser"] == 1337
    assert proxy["securityContext"]["runAsNonRoot"] is True
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert proxy["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert proxy["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 15000}
    prestop = proxy["lifecycle"]["preStop"]["exec"]["command"]
    assert prestop[:2] == ["python3", "-c"]
    assert "/quitquitquit" in prestop[2]
    compile(prestop[2], "preStop", "exec")
    compile(proxy["lifecycle"]["postStart"]["exec"]["command"][2], "postStart", "exec")
    assert env(proxy) == {
        "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "POD_UID": {"fieldRef": {"fieldPath": "metadata.uid"}},
        "NODE_NAME": {"fieldRef": {"fieldPath": "spec.nodeName"}},
        "OTEL_SERVICE_NAME": "checkout",
    }


def test_every_annotation_reaches_the_containers() -> None:
    pod = injected(by_name("payments", "pods.yaml"))
    init = container(pod, "tracecar-init")
    assert init["command"] == [
        "tracecar", "init", "--proxy-uid", "1337",
        "--exclude-inbound-ports", "8443,9090",
        "--exclude-outbound-ports", "5432",
        "--exclude-outbound-cidrs", "169.254.169.254/32,fd00::/8",
        "--include-outbound-cidrs", "10.0.0.0/8",
    ]  # fmt: skip
    proxy = container(pod, "tracecar-proxy")
    # opaque ports are relayed (and traced) by the proxy, not excluded from interception
    command = proxy["command"]
    assert command[command.index("--workers") + 1] == "2"
    opaque = command[command.index("--opaque-ports") + 1]
    assert set(parse_ports(opaque)) == DEFAULT_OPAQUE_PORTS | {6379}
    variables = env(proxy)
    assert variables["OTEL_SERVICE_NAME"] == "payments"
    assert variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert variables["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert variables["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    # a request above the default limit raises the limit with it; two workers, a larger memory limit
    assert proxy["resources"] == {
        "requests": {"cpu": "2500m", "memory": "128Mi"},
        "limits": {"cpu": "2500m", "memory": "384Mi"},
    }


@pytest.mark.parametrize(
    ("workers", "memory"),
    [(None, ("64Mi", "256Mi")), (1, ("64Mi", "256Mi")), (3, ("144Mi", "576Mi")), (16, ("768Mi", "3072Mi"))],
)
def test_memory_grows_with_the_workers_unless_annotated(workers: int | None, memory: tuple[str, str]) -> None:
    resources = proxy_resources(ann.PodConfig(proxy_workers=workers))
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == memory
    assert ("--workers" in proxy_args(ann.PodConfig(proxy_workers=workers))) == ((workers or 1) > 1)


@pytest.mark.parametrize("pod", load("pods.yaml"), ids=lambda pod: pod["metadata"]["name"])
def test_commands_are_accepted_by_the_real_cli(pod: dict[str, Any]) -> None:
    result = injected(pod)
    parser = build_parser()
    init = parser.parse_args(container(result, "tracecar-init")["command"][1:])
    assert init.command == "init"
    assert init.proxy_uid == container(result, "tracecar-proxy")["securityContext"]["runAsUser"]
    assert parser.parse_args(container(result, "tracecar-proxy")["command"][1:]).command == "proxy"


def test_timeout_and_limit_annotations_reach_the_proxy() -> None:
    """A pod whose requests run long raises its own response timeout, not the cluster's."""
    pod = by_name("debug", "pods.yaml")
    pod["metadata"].setdefault("annotations", {}).update(
        {"tracecar.io/response-timeout": "10m", "tracecar.io/max-header-bytes": "131072"}
    )
    args = build_parser().parse_args(container(injected(pod), "tracecar-proxy")["command"][1:])
    assert (args.response_timeout, args.max_header_bytes, args.infer_context) == (600.0, 131072, False)
    pod["metadata"]["annotations"]["tracecar.io/infer-context"] = "true"
    args = build_parser().parse_args(container(injected(pod), "tracecar-proxy")["command"][1:])
    assert args.infer_context
    assert args.connect_timeout == 5.0  # what no annotation names keeps the proxy's default


def test_injected_record_names_what_was_added() -> None:
    pod = injected(by_name("debug", "pods.yaml"), NATIVE)
    record = pod["metadata"]["annotations"]["tracecar.io/injected"]
    assert '"initContainers":["tracecar-init","tracecar-proxy"]' in record
    assert '"version":"0.1.0"' in record


@pytest.mark.parametrize(
    ("metadata", "owner", "expected"),
    [
        ({"labels": {"app.kubernetes.io/name": "cart"}, "name": "x"}, "deploy", "cart"),
        ({"labels": {}}, "frontend", "frontend"),
        (
            {
                "name": "checkout-7d9f8b6c5d-x2x9k",
                "labels": {"pod-template-hash": "7d9f8b6c5d"},
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": "checkout-7d9f8b6c5d", "controller": True}
                ],
            },
            None,
            "checkout",
        ),
        (
            {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db", "controller": True}]},
            None,
            "db",
        ),
        ({"name": "web-abcde", "generateName": "web-"}, None, "web"),
        ({"name": "debug"}, None, "debug"),
        ({}, None, "unknown_service:tracecar"),
    ],
)
def test_service_name(metadata: dict[str, Any], owner: str | None, expected: str) -> None:
    assert service_name(metadata, owner) == expected


@pytest.mark.parametrize("doc", load("opt_outs.yaml"), ids=lambda doc: doc["metadata"]["name"])
def test_opted_out_pods_are_returned_unchanged(doc: dict[str, Any]) -> None:
    result = inject(doc, CLASSIC, namespace=doc["metadata"]["namespace"], namespace_labels=ENABLED)
    assert result.pod == doc
    assert json_patch(doc, result.pod) == []


def test_invalid_annotation_stops_injection_with_its_name() -> None:
    pod = by_name("payments", "pods.yaml")
    pod["metadata"]["annotations"]["tracecar.io/proxy-memory"] = "lots"
    with pytest.raises(AnnotationError, match=r"tracecar\.io/proxy-memory: not a Kubernetes quantity"):
        inject(pod, CLASSIC, namespace="shop")


def test_schema_check_can_fail() -> None:
    pod = injected(by_name("debug", "pods.yaml"))
    container(pod, "tracecar-proxy")["restartPolicy"] = 1
    with pytest.raises(Exception, match="restartPolicy"):
        assert_schema_valid(pod)
