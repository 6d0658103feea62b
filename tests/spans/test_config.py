"""The environment in, an ExportConfig out: OTel SDK and OTLP exporter variables, tracecar's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from propagation import ConfigError
from propagation.sampling import ParentBased, TraceIdRatio
from proxy.spans.config import TRACECAR_VERSION, from_env, parse_resource_attributes, resource_from_env


def test_defaults() -> None:
    config = from_env({})
    assert config.exporters == ("otlp",)
    assert config.protocol == "http/protobuf"  # the OTLP exporter specification's recommended default
    assert config.endpoint == "http://localhost:4318/v1/traces"
    assert config.headers == ()
    assert config.timeout_s == 10.0
    assert config.compression == "none"
    assert not config.insecure
    assert (config.max_queue, config.max_batch, config.interval_s) == (2048, 512, 1.0)
    assert config.service_name == "unknown_service:tracecar"
    assert config.resource == (
        ("service.name", "unknown_service:tracecar"),
        ("telemetry.sdk.name", "tracecar"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.version", TRACECAR_VERSION),
    )
    assert config.propagators.formats == ("tracecontext", "baggage")


def test_grpc_default_endpoint() -> None:
    assert from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}).endpoint == "http://localhost:4317"


@pytest.mark.parametrize(
    ("generic", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://collector.example.com/mycollector/", "https://collector.example.com/mycollector/v1/traces"),
    ],
)
def test_http_generic_endpoint_gets_the_signal_path(generic: str, url: str) -> None:
    assert from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": generic}).endpoint == url


@pytest.mark.parametrize(
    ("traces", "url"),
    [
        ("http://collector:4318/custom/path", "http://collector:4318/custom/path"),
        ("http://collector:4318", "http://collector:4318/"),  # no path: the root, nothing appended
    ],
)
def test_http_traces_endpoint_is_used_as_is(traces: str, url: str) -> None:
    environ = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:1"}
    assert from_env(environ).endpoint == url


def test_grpc_endpoints_are_not_modified() -> None:
    environ = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317"}
    assert from_env(environ).endpoint == "https://collector:4317"
    environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "collector.observability:4317"
    environ["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
    config = from_env(environ)
    assert (config.endpoint, config.insecure) == ("collector.observability:4317", True)


def test_signal_specific_variables_override_generic_ones() -> None:
    config = from_env(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "3000",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        }
    )
    assert config.protocol == "grpc"
    assert config.headers == (("b", "2"),)
    assert config.timeout_s == 2.5
    assert config.compression == "gzip"


def test_headers_are_percent_decoded_and_lower_cased() -> None:
    config = from_env({"OTEL_EXPORTER_OTLP_HEADERS": " API-Key = secret%20value ,, x-tenant=a%3Db "})
    assert config.headers == (("api-key", "secret value"), ("x-tenant", "a=b"))


def test_bsp_export_timeout_caps_the_exporter_timeout() -> None:
    assert from_env({"OTEL_BSP_EXPORT_TIMEOUT": "4000"}).timeout_s == 4.0


def test_batching_variables() -> None:
    environ = {
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
        "OTEL_BSP_SCHEDULE_DELAY": "250",
    }
    config = from_env(environ)
    assert (config.max_queue, config.max_batch, config.interval_s) == (100, 10, 0.25)


@pytest.mark.parametrize(
    ("value", "exporters"),
    [("console", ("console",)), ("none", ()), ("otlp, console", ("otlp", "console")), ("OTLP", ("otlp",))],
)
def test_traces_exporter(value: str, exporters: tuple[str, ...]) -> None:
    assert from_env({"OTEL_TRACES_EXPORTER": value}).exporters == exporters


def test_sdk_disabled_means_no_exporter() -> None:
    assert from_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}).exporters == ()


def test_sampler_and_propagators_come_from_the_same_environment() -> None:
    config = from_env(
        {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_PROPAGATORS": "b3",
        }
    )
    assert isinstance(config.sampler, ParentBased)
    assert isinstance(config.sampler.root, TraceIdRatio)
    assert config.propagators.formats == ("b3",)


def test_certificate_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = from_env({"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": str(ca)})
    assert (config.certificate, config.client_key, config.client_certificate) == (str(ca), None, None)


# The resource: the application the sidecar serves.


def test_service_name_precedence() -> None:
    both = {"OTEL_SERVICE_NAME": "checkout", "OTEL_RESOURCE_ATTRIBUTES": "service.name=cart,team=shop"}
    assert dict(resource_from_env(both))["service.name"] == "checkout"
    assert resource_from_env({"OTEL_RESOURCE_ATTRIBUTES": "service.name=cart"})[0] == ("service.name", "cart")
    assert resource_from_env({"OTEL_SERVICE_NAME": "  "})[0] == ("service.name", "unknown_service:tracecar")
    assert [k for k, _ in resource_from_env(both)].count("service.name") == 1


def test_kubernetes_downward_api_variables() -> None:
    resource = dict(
        resource_from_env(
            {"POD_NAME": "checkout-7d9f", "POD_NAMESPACE": "shop", "NODE_NAME": "n1", "POD_UID": "u-1"}
        )
    )
    assert resource["k8s.pod.name"] == "checkout-7d9f"
    assert resource["k8s.namespace.name"] == "shop"
    assert resource["k8s.node.name"] == "n1"
    assert resource["k8s.pod.uid"] == "u-1"


def test_k8s_prefixed_variables_win_and_empty_ones_are_ignored() -> None:
    resource = dict(
        resource_from_env({"POD_NAME": "a", "K8S_POD_NAME": "b", "NODE_NAME": "", "K8S_NODE_NAME": " "})
    )
    assert resource["k8s.pod.name"] == "b"
    assert "k8s.node.name" not in resource


def test_resource_attributes_override_detected_ones() -> None:
    resource = dict(resource_from_env({"POD_NAME": "a", "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=override"}))
    assert resource["k8s.pod.name"] == "override"


def test_resource_attributes_are_percent_decoded() -> None:
    assert parse_resource_attributes("deployment.environment=prod%2Ceu, team = a%20b ,x=%C3%A9") == {
        "deployment.environment": "prod,eu",
        "team": "a b",
        "x": "é",
    }
    assert parse_resource_attributes("") == {}


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "=x"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=100%"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=%ff"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "bad header=1"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=%0D%0Ainjected: 1"}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "none,console"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:99999"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"),
        ({"OTEL_EXPORTER_OTLP_INSECURE": "yes"}, "OTEL_EXPORTER_OTLP_INSECURE"),
        ({"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, "OTEL_BSP_MAX_QUEUE_SIZE"),
        ({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4096"}, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
        ({"OTEL_BSP_SCHEDULE_DELAY": "²"}, "OTEL_BSP_SCHEDULE_DELAY"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_PROPAGATORS": "jaeger"}, "OTEL_PROPAGATORS"),
    ],
)
def test_invalid_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        from_env(environ)
